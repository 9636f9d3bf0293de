"""Every verb that takes a model refuses a checkpoint, a run folder or a missing folder with one line and exit 2.

Observed on an earlier version: `--init RUN/checkpoints/step-N` (an Accelerate checkpoint) trained a
default-shaped model, and `unify evaluate --model` on such a folder or a missing one gave a raw traceback.
"""

from pathlib import Path

import pytest
import yaml

from unify.build import build_dataset
from unify.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("built") / "coarse"
    build_dataset("synthetic_driving", folder, config="coarse", splits=(("train", 2),))
    return folder


def checkpoint(root: Path) -> Path:
    """`RUN/checkpoints/step-2` as `Accelerator.save_state` leaves it: weights and optimiser state, no config.json."""
    folder = root / "run" / "checkpoints" / "step-2"
    folder.mkdir(parents=True)
    for name in ("model.safetensors", "optimizer.bin", "scheduler.bin", "random_states_0.pkl"):
        (folder / name).write_bytes(b"\0" * 16)
    return folder


def run_folder(root: Path) -> Path:
    """A training run folder: config.yaml, provenance.json and model/, no config.json of its own."""
    folder = root / "runs" / "student"
    (folder / "model").mkdir(parents=True)
    (folder / "config.yaml").write_text("output_dir: .\n")
    (folder / "provenance.json").write_text("{}\n")
    return folder


def arguments(verb: str, model: Path, built: Path, tmp_path: Path) -> list[str]:
    if verb == "train":
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "output_dir": str(tmp_path / "out"),
                    "taxonomy": "synthetic_fine",
                    "model": "mit-pico",
                    "train_data": [{"path": str(built)}],
                    "steps": 2,
                    "warmup_steps": 0,
                    "crop_size": [32, 32],
                    "global_batch_size": 1,
                    "num_workers": 0,
                }
            )
        )
        return ["train", str(config), "--init", str(model)]
    if verb == "evaluate":
        return ["evaluate", "--model", str(model), "--dataset", str(built), "--output", str(tmp_path / "out")]
    return [
        "pseudo-label",
        "--teacher",
        str(model),
        "--dataset",
        str(built),
        "--taxonomy",
        "synthetic_fine",
        "--output",
        str(tmp_path / "out"),
    ]


@pytest.mark.parametrize("verb", ["train", "evaluate", "pseudo-label"])
@pytest.mark.parametrize("kind", ["checkpoint", "run", "missing"])
def test_a_checkpoint_a_run_or_a_missing_folder_is_one_line_and_exit_2(verb, kind, built, tmp_path, capsys):
    makers = {"checkpoint": checkpoint, "run": run_folder, "missing": lambda root: root / "runs" / "gone" / "model"}
    model = makers[kind](tmp_path)

    assert main(arguments(verb, model, built, tmp_path)) == 2

    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if "error" in line.lower()]
    assert line.startswith(f"unify {verb}: error: ")
    if kind == "checkpoint":
        assert f"{model} is a training checkpoint" in line and str(tmp_path / "run" / "model") in line
    elif kind == "run":
        assert line.endswith(f"{model} is a training run folder; use its model folder {model / 'model'}")
    else:
        assert f"model '{model}' is neither a size name" in line and "nor a folder that exists" in line
    assert not (tmp_path / "out" / "model").exists()

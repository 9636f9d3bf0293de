"""Training on two CPU processes (torchrun, gloo) is the training of one process with two accumulation steps.

Each run is a real launch in a subprocess with the worktree on PYTHONPATH: 4 optimiser steps of a
global batch of 4 images (2 per forward pass) of mit-pico on 32x48 crops, checkpoints at steps 2 and 4.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from unify.build import build_dataset
from unify.core.evaluator import evaluate_split
from unify.core.segmenter import Segmenter

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {
    "taxonomy": "synthetic_fine",
    "model": "mit-pico",
    "crop_size": [32, 48],
    "global_batch_size": 4,
    "per_device_batch_size": 2,
    "steps": 4,
    "warmup_steps": 1,
    "learning_rate": 3e-3,
    "checkpoint_every": 2,
    "log_every": 1,
    "num_workers": 0,
    "sync_batchnorm": True,
}


def launch(config: Path, processes: int, cwd: Path, *overrides: str) -> str:
    """Run `python -m train CONFIG` (1 process) or `torchrun --nproc_per_node N -m train CONFIG`; its stderr."""
    done = run_launcher(config, processes, cwd, *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def run_launcher(config: Path, processes: int, cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    """The finished launch of `launch`, whatever its exit status."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    runner = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        if processes > 1
        else [sys.executable]
    )
    command = [*runner, "-m", "train", str(config), *overrides]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def step_records(run: Path) -> dict[int, dict]:
    return {r["step"]: r for r in records(run) if "loss" in r}


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for name in first:  # parameters and BatchNorm buffers
        torch.testing.assert_close(first[name].double(), second[name].double(), rtol=1e-4, atol=1e-6, msg=name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"one": a 1-process run (2 accumulation steps), "two": a 2-process run, "log_two": its stderr}."""
    folder = tmp_path_factory.mktemp("processes")
    build_dataset("synthetic_driving", folder / "data", config="source", splits=(("train", 6), ("validation", 2)))
    build_dataset("synthetic_driving", folder / "single", config="source", splits=(("validation", 1),))
    evaluation = [
        {"path": "data", "split": "validation", "name": "val"},
        {"path": "single", "split": "validation"},
    ]  # one image: the second process evaluates none
    out = {}
    for name, processes in (("one", 1), ("two", 2)):
        config = folder / f"{name}.yaml"
        config.write_text(
            yaml.safe_dump(
                {**CONFIG, "output_dir": f"runs/{name}", "train_data": [{"path": "data"}], "eval_data": evaluation}
            )
        )
        out[f"log_{name}"] = launch(config, processes, cwd=folder)
        out[name] = folder / "runs" / name
    return out


def test_two_processes_make_the_optimiser_steps_of_the_config(runs):
    run = runs["two"]
    assert sorted(step_records(run)) == [1, 2, 3, 4]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    state = json.loads((run / "checkpoints" / "step-00000004" / "state.json").read_text())
    assert state == {
        "step": 4,
        "global_batch_size": 4,
        "per_device_batch_size": 2,
        "num_processes": 2,
        "accumulation_steps": 1,
    }
    provenance = json.loads((run / "provenance.json").read_text())
    assert (provenance["num_processes"], provenance["global_batch_size"], provenance["steps"]) == (2, 4, 4)
    assert 0 < json.loads((run / "metrics.json").read_text())["val"]["miou"] <= 1
    assert [r["step"] for r in records(run) if "val" in r and "single" in r] == [4]
    assert "SyncBatchNorm works only on CUDA" in runs["log_two"]


def test_two_processes_compute_what_one_process_computes_with_accumulation(runs):
    one, two = step_records(runs["one"]), step_records(runs["two"])
    for step in (1, 2, 3, 4):
        assert two[step]["loss"] == pytest.approx(one[step]["loss"], rel=1e-5)
        assert two[step]["lr"] == one[step]["lr"] > 0
    assert_same_weights(runs["one"], runs["two"])
    metrics = [json.loads((runs[name] / "metrics.json").read_text()) for name in ("one", "two")]
    assert metrics[1]["val"] == pytest.approx(metrics[0]["val"], rel=1e-6)


def test_the_evaluation_split_over_two_processes_equals_one_process(runs):
    segmenter = Segmenter.load(runs["two"] / "model", device="cpu")
    alone = evaluate_split(
        segmenter, runs["two"].parent.parent / "data", "validation", native=False, show_progress=False
    ).unified.scores
    split = json.loads((runs["two"] / "metrics.json").read_text())
    assert split["val"] == {"miou": alone.miou, "pixel_accuracy": alone.pixel_accuracy}
    assert split["single"] == json.loads((runs["one"] / "metrics.json").read_text())["single"]


def cut_back_to_step_2(source: Path, target: Path) -> None:
    """A copy of a run as it was after its checkpoint at step 2: later checkpoint, log lines and outputs gone."""
    shutil.copytree(source, target)
    shutil.rmtree(target / "checkpoints" / "step-00000004")
    shutil.rmtree(target / "model")
    (target / "metrics.json").unlink()
    kept = [json.dumps(r) for r in records(source) if r["step"] <= 2]
    (target / "log.jsonl").write_text("\n".join(kept) + "\n")


@pytest.mark.parametrize("original, processes", [("two", 1), ("one", 2)], ids=["2->1", "1->2"])
def test_resuming_with_another_number_of_processes_continues_exactly(runs, original, processes, tmp_path):
    run = runs[original].parent / f"{original}-resumed-by-{processes}"  # beside it: the data is where it was
    cut_back_to_step_2(runs[original], run)

    log = launch(Path(os.path.relpath(run / "config.yaml", tmp_path)), processes, cwd=tmp_path)

    assert f"trained on {3 - processes} processes, with {processes}" in log
    resumed, uninterrupted = step_records(run), step_records(runs["one"])
    assert sorted(resumed) == [1, 2, 3, 4]
    for step in (3, 4):
        assert resumed[step]["loss"] == pytest.approx(uninterrupted[step]["loss"], rel=1e-5)
        assert resumed[step]["lr"] == uninterrupted[step]["lr"]
    assert_same_weights(run, runs["one"])


@pytest.mark.slow
def test_a_batch_plan_that_does_not_fit_the_processes_is_refused_before_the_run_folder_is_written(tmp_path):
    build_dataset("synthetic_driving", tmp_path / "data", config="source", splits=(("train", 2),))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "output_dir": "runs/refused", "train_data": [{"path": "data"}]}))

    done = run_launcher(config, 2, tmp_path, "per_device_batch_size=4")  # 4 images = 4 x 2 processes x A: no A fits

    assert done.returncode != 0
    assert "is not per_device_batch_size=4 x 2 processes x a whole number of accumulation steps" in done.stderr
    assert not (tmp_path / "runs").exists()

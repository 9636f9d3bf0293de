"""A run resumes only under the settings it was trained with; speed, logging and checkpoint keys may change.

One 4-step mit-pico run (32x48 crops, 2 images a step, checkpoints at steps 2 and 4) is trained once; each
test works on a copy beside it, so the data stays at the same path relative to the run.
"""

import dataclasses
import json
import shutil

import pytest

from train.config import TrainConfig
from train.loop import train
from train.resume import FREE_KEYS
from unify.build import build_dataset
from unify.core.errors import UnifyError


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(data folder, the finished run folder, its config)."""
    folder = tmp_path_factory.mktemp("resume")
    build_dataset("synthetic_driving", folder / "data", config="source", splits=(("train", 4), ("validation", 1)))
    config = TrainConfig(
        output_dir=str(folder / "runs" / "finished"),
        taxonomy="synthetic_fine",
        model="mit-pico",
        train_data=[{"path": str(folder / "data")}],
        eval_data=[{"path": str(folder / "data"), "split": "validation", "name": "val"}],
        crop_size=(32, 48),
        global_batch_size=2,
        steps=4,
        learning_rate=3e-3,
        warmup_steps=1,
        checkpoint_every=2,
        log_every=1,
        num_workers=0,
    )
    train(config)
    return folder / "data", folder / "runs" / "finished", config


def copy_run(finished, name: str, interrupted: bool):
    """A copy of the finished run beside it and its config; `interrupted`: cut back to its step-2 checkpoint,
    as a launch killed during step 4 leaves it (log.jsonl still holds steps 3 and 4)."""
    _, source, config = finished
    run = source.parent / name
    shutil.copytree(source, run)
    if interrupted:
        shutil.rmtree(run / "checkpoints" / "step-00000004")
        shutil.rmtree(run / "model")
        (run / "metrics.json").unlink()
    return run, dataclasses.replace(config, output_dir=str(run))


def contents(run) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def step_records(run) -> dict[int, dict]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert len(steps) == len(set(steps)), f"steps written twice: {steps}"
    return {r["step"]: r for r in records if "loss" in r}


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"learning_rate": 1e-3}, ["learning_rate: 0.003 in the run, 0.001 now"]),
        (
            {"seed": 1, "crop_size": (32, 64), "augment": {"brightness": (1.0, 1.0)}},
            ["seed: 0 in the run, 1 now", "crop_size: [32, 48] in the run, [32, 64] now", "augment.brightness"],
        ),
        ({"model": "mit-nano"}, ['model: "mit-pico" in the run, "mit-nano" now']),
        ({"global_batch_size": 4}, ["global_batch_size: 2 in the run, 4 now"]),
        ({"eval_data": []}, ["eval_data: [{", "in the run, [] now", "unify evaluate"]),
    ],
    ids=["learning_rate", "several", "model", "global_batch_size", "eval_data"],
)
def test_resuming_with_other_settings_is_refused_before_anything_is_written(finished, changes, named):
    run, config = copy_run(finished, f"changed-{'-'.join(changes)}", interrupted=True)
    before = contents(run)
    with pytest.raises(UnifyError) as refused:
        train(dataclasses.replace(config, **changes))
    message = str(refused.value)
    assert f"{run} was trained to step 2 with other settings" in message
    for text in named:
        assert text in message
    assert f"delete {run} to start over" in message and "another output_dir" in message
    assert contents(run) == before  # config.yaml, provenance.json, log and checkpoints untouched


def test_another_training_source_is_refused_naming_the_entry_and_both_paths(finished):
    data, _, _ = finished
    other = data.parent / "other"
    shutil.copytree(data, other)  # the same images in another folder: still another source
    run, config = copy_run(finished, "other-source", interrupted=True)
    with pytest.raises(UnifyError, match=r'train_data\[0\].path: "../../data" in the run, "../../other" now'):
        train(dataclasses.replace(config, train_data=[{"path": str(other)}]))
    with pytest.raises(UnifyError, match=r"train_data\[0\].weight: 1.0 in the run, 0.5 now"):
        train(dataclasses.replace(config, train_data=[{"path": str(data), "weight": 0.5}]))
    with pytest.raises(UnifyError, match=r'train_data: \[\{"path": "../../data".*\] in the run, \[.*other.*\] now'):
        train(dataclasses.replace(config, train_data=[{"path": str(data)}, {"path": str(other)}]))


def test_free_keys_may_change_and_the_run_continues_exactly(finished):
    _, uninterrupted, _ = finished
    run, config = copy_run(finished, "more-workers", interrupted=True)
    train(dataclasses.replace(config, num_workers=1, checkpoint_every=1, eval_every=1))
    resumed, expected = step_records(run), step_records(uninterrupted)
    assert sorted(resumed) == [1, 2, 3, 4]  # steps 3 and 4 of the interrupted launch dropped, trained once again
    for step in (3, 4):
        assert resumed[step]["loss"] == pytest.approx(expected[step]["loss"], rel=1e-5)
        assert resumed[step]["lr"] == expected[step]["lr"]
    assert (run / "checkpoints" / "step-00000003" / "config.yaml").is_file()  # checkpoint_every=1 took effect


def test_a_finished_run_rerun_with_other_settings_is_refused(finished):
    run, config = copy_run(finished, "finished-rerun", interrupted=False)
    before = contents(run)
    with pytest.raises(UnifyError) as refused:
        train(dataclasses.replace(config, steps=8))
    message = str(refused.value)
    assert f"{run} was trained to step 4 with other settings" in message and "steps: 4 in the run, 8 now" in message
    assert f"model={run / 'model'} in another output_dir" in message  # how to train on from it
    with pytest.raises(UnifyError, match='fill_in: "teacher" in the run, "ignore" now'):
        train(dataclasses.replace(config, fill_in="ignore"))
    assert contents(run) == before
    assert train(config) == json.loads((run / "metrics.json").read_text())  # the same settings: accepted


def test_a_checkpoint_without_its_config_is_compared_with_the_runs(finished):
    run, config = copy_run(finished, "older-checkpoint", interrupted=True)
    (run / "checkpoints" / "step-00000002" / "config.yaml").unlink()  # as the trainer before this check wrote it
    with pytest.raises(UnifyError, match=f"learning_rate: 0.003 in the run, 0.001 now.*in {run / 'config.yaml'}"):
        train(dataclasses.replace(config, learning_rate=1e-3))
    (run / "config.yaml").unlink()
    with pytest.raises(UnifyError, match="nothing says what it was trained with"):
        train(config)


def test_free_keys_are_config_keys():
    assert set(FREE_KEYS) < {f.name for f in dataclasses.fields(TrainConfig)}

import contextlib
import dataclasses
import io
import json
import shutil

import datasets
import pytest
from PIL import Image

from train.config import TARGETS, load_config
from unify.cli import main
from unify.cli.demo import STUDENT_TARGETS
from unify.core.errors import UnifyError
from unify.demo import QUICK, DemoSettings, run_demo, student_folder


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    """A quick demo's folder and what it printed; copy it to change it."""
    folder = tmp_path_factory.mktemp("demo") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--quick", "--output", str(folder)]) == 0
    return folder, printed.getvalue()


def test_quick_demo_runs_the_whole_method_end_to_end(quick_demo):
    folder, out = quick_demo
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in (
        "teacher_miou",
        "student_miou",
        "teacher_miou_shifted",
        "student_miou_shifted",
        "pseudo_label_pixel_accuracy_constrained",
        "pseudo_label_pixel_accuracy_unconstrained",
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["seconds"] > 0 and set(metrics["stage_seconds"]) == {
        "build",
        "teacher",
        "pseudo_label",
        "student",
        "picture",
    }
    # the ground truth alone already fixes most pixels: constrained labels beat the teacher alone
    assert metrics["pseudo_label_pixel_accuracy_constrained"] > metrics["pseudo_label_pixel_accuracy_unconstrained"]
    unified = datasets.load_dataset(str(folder / "unified" / "shifted"), split="train")
    assert {"image", "label", "provenance", "image_id", "dataset"} <= set(unified.column_names)
    for run in ("teacher", "student"):
        assert (folder / run / "model" / "model.safetensors").is_file()
    grid = Image.open(folder / "comparison.png")
    assert grid.width > 5 * 200
    assert "mIoU, source validation" in out and "metrics.json" in out


def test_a_student_with_other_targets_reuses_the_teacher_and_sits_beside_the_first(quick_demo, tmp_path, capsys):
    shutil.copytree(quick_demo[0], tmp_path, dirs_exist_ok=True)
    teacher_log = (tmp_path / "teacher" / "log.jsonl").read_text()
    assert main(["demo", "--quick", "--output", str(tmp_path), "--student-targets", "hard"]) == 0
    assert (tmp_path / "teacher" / "log.jsonl").read_text() == teacher_log  # the teacher is not trained again
    assert load_config(tmp_path / "student" / "config.yaml").targets == "partial"  # the default
    assert load_config(tmp_path / "student-hard" / "config.yaml").targets == "hard"
    assert (tmp_path / "student-hard" / "model" / "model.safetensors").is_file()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["student_targets"] == "hard" and 0 <= metrics["student_miou_shifted"] <= 1
    assert "student targets: hard" in capsys.readouterr().out


def test_a_student_of_another_seed_reuses_the_teacher_and_trains_with_that_seed(quick_demo, tmp_path):
    shutil.copytree(quick_demo[0], tmp_path, dirs_exist_ok=True)
    teacher_log = (tmp_path / "teacher" / "log.jsonl").read_text()
    metrics = run_demo(tmp_path, dataclasses.replace(QUICK, student_targets="partial", student_seed=1))
    assert (tmp_path / "teacher" / "log.jsonl").read_text() == teacher_log
    assert load_config(tmp_path / "student-partial-seed1" / "config.yaml").seed == 1
    assert load_config(tmp_path / "student" / "config.yaml").seed == 0
    assert metrics["student_seed"] == 1


def test_the_demo_offers_every_kind_of_targets_and_refuses_others():
    assert STUDENT_TARGETS == TARGETS
    assert [student_folder(t) for t in TARGETS] == ["student-hard", "student", "student-both"]
    assert [student_folder(t, seed=2) for t in TARGETS] == [f"student-{t}-seed2" for t in TARGETS]
    with pytest.raises(UnifyError, match="student_seed must be >= 0, got -1"):
        DemoSettings(student_seed=-1)
    with pytest.raises(UnifyError, match="student_targets must be one of hard, partial, both, got 'soft'"):
        DemoSettings(student_targets="soft")


def test_steps_below_one_are_refused_before_anything_is_built(tmp_path, capsys):
    with pytest.raises(UnifyError, match="steps must be >= 1 .* got 0"):
        DemoSettings(steps=0)
    for steps in ("0", "-3"):
        assert main(["demo", "--quick", "--steps", steps, "--output", str(tmp_path / "out")]) == 2
        assert f"unify demo: error: steps must be >= 1 (training steps of teacher and student), got {steps}" in (
            capsys.readouterr().err
        )
    assert not (tmp_path / "out").exists()

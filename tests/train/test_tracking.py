"""Experiment tracking: a run with `log_with: [tensorboard]` writes its scalars and predictions as events."""

import pytest

from train.config import TrainConfig
from train.loop import train
from unify.build import build_dataset
from unify.core.errors import UnifyError


def test_tensorboard_events_hold_the_training_scalars_and_predictions(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    build_dataset("synthetic_driving", tmp_path / "data", config="source", splits=(("train", 2), ("validation", 1)))
    run = tmp_path / "run"
    metrics = train(
        TrainConfig(
            output_dir=str(run),
            taxonomy="synthetic_fine",
            model="mit-pico",
            train_data=[{"path": str(tmp_path / "data")}],
            eval_data=[{"path": str(tmp_path / "data"), "split": "validation", "name": "val"}],
            crop_size=(32, 48),
            global_batch_size=2,
            steps=2,
            warmup_steps=0,
            checkpoint_every=0,
            log_every=1,
            num_workers=0,
            log_with=["tensorboard"],
        )
    )

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0}).Reload()
    tags = events.Tags()
    assert {"loss", "lr", "images_per_second", "eval/val/miou", "eval/val/pixel_accuracy"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("loss")] == [1, 2]
    assert events.Scalars("eval/val/miou")[0].value == pytest.approx(metrics["val"]["miou"])
    image = events.Images("predictions/val")[0]
    assert image.step == 2 and image.width > 3 * image.height // 2  # image | ground truth | prediction, one row


def test_a_tracker_that_is_not_installed_is_an_error_that_says_how_to_install_it(tmp_path, monkeypatch):
    import accelerate.tracking

    monkeypatch.setattr(accelerate.tracking, "_available_trackers", [])
    config = TrainConfig(
        output_dir=str(tmp_path / "run"),
        taxonomy="synthetic_fine",
        model="mit-pico",
        train_data=[{"path": str(tmp_path)}],
        log_with=["tensorboard"],
    )
    with pytest.raises(
        UnifyError,
        match=r"log_with asks for \['tensorboard'\], which is not installed: "
        r"pip install 'unify-driving\[tensorboard\]'",
    ):
        train(config)

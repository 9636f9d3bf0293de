"""One evaluator: a run's metrics.json and `unify evaluate` give identical numbers for the same model and split."""

import json

import pytest

from train.config import TrainConfig
from train.loop import train
from unify.build import build_dataset
from unify.core.evaluator import evaluate_split
from unify.core.segmenter import Segmenter
from unify.evaluate import evaluate_model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-evaluator")
    build_dataset("synthetic_driving", root / "source", config="source", splits=(("train", 4), ("validation", 3)))
    config = TrainConfig(
        output_dir=str(root / "run"),
        taxonomy="synthetic_fine",
        model="mit-pico",
        train_data=[{"path": str(root / "source")}],
        eval_data=[{"path": str(root / "source"), "split": "validation", "name": "source"}],
        crop_size=(64, 64),
        steps=3,
        warmup_steps=0,
        learning_rate=3e-3,
        checkpoint_every=0,
        num_workers=0,
    )
    train(config)
    return root


def test_a_runs_metrics_equal_unify_evaluate_on_the_same_model_and_split(run, tmp_path):
    metrics = json.loads((run / "run" / "metrics.json").read_text())["source"]
    result = evaluate_model(run / "run" / "model", run / "source", tmp_path / "eval", split="validation")
    assert result["num_images"] == 3
    assert result["unified"]["miou"] == pytest.approx(metrics["miou"], abs=1e-6)  # json rounds to 6 places
    assert result["unified"]["pixel_accuracy"] == pytest.approx(metrics["pixel_accuracy"], abs=1e-6)
    assert 0 < metrics["miou"] < 1


def test_an_evaluation_split_across_processes_sums_to_the_whole(run):
    """Each process takes every N-th image; the matrices add up to a single process's (here without a process group)."""
    segmenter = Segmenter.load(run / "run" / "model")
    whole = evaluate_split(segmenter, run / "source", "validation", native=True)
    parts = [
        evaluate_split(segmenter, run / "source", "validation", native=True, process_index=p, num_processes=2)
        for p in range(2)
    ]
    assert [p.num_images for p in parts] == [2, 1]
    for space in ("unified", "native"):
        summed = sum(getattr(p, space).scores.matrix for p in parts)
        assert (summed == getattr(whole, space).scores.matrix).all()

import json
import logging
import shutil

import pytest
import torch

from train.config import TrainConfig, load_config
from train.data import MicroBatchSampler, global_batch
from train.loop import train
from train.parallel import BatchPlan
from train.transforms import TrainTransform
from unify.build import build_dataset
from unify.core.errors import UnifyError
from unify.core.segmenter import SEGFORMER_SIZES, Segmenter, processes_without_gpu
from unify.core.taxonomy import get_taxonomy


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "source"
    build_dataset("synthetic_driving", folder, config="source", splits=(("train", 6), ("validation", 2)))
    return folder


def config(source, output_dir, **overrides) -> TrainConfig:
    values = dict(
        output_dir=str(output_dir),
        taxonomy="synthetic_fine",
        model="mit-pico",
        train_data=[{"path": str(source)}],
        eval_data=[{"path": str(source), "split": "validation"}],
        crop_size=(64, 128),
        scale_range=(0.5, 1.0),
        global_batch_size=4,
        steps=30,
        learning_rate=3e-3,
        warmup_steps=2,
        checkpoint_every=0,
        log_every=1,
        num_workers=0,
    )
    values.update(overrides)
    return TrainConfig(**values)


def losses(run_dir) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_loss_falls_and_the_model_is_saved_with_unified_labels(source, tmp_path):
    metrics = train(config(source, tmp_path / "run", steps=40, learning_rate=5e-3))
    curve = losses(tmp_path / "run")
    first, last = sum(curve[s] for s in (1, 2, 3)) / 3, sum(curve[s] for s in (38, 39, 40)) / 3
    assert last < 0.7 * first
    assert 0.0 <= metrics["source"]["miou"] <= 1.0
    saved = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert saved["id2label"]["12"] == "car" and len(saved["id2label"]) == 15
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "model" / "preprocessor_config.json").is_file()
    assert load_config(tmp_path / "run" / "config.yaml").steps == 40


def test_resume_from_a_checkpoint_gives_the_same_next_step_loss(source, tmp_path):
    run = tmp_path / "run"
    cfg = config(source, run, steps=6, checkpoint_every=3, eval_data=[])
    train(cfg)
    uninterrupted = losses(run)
    # simulate a crash after step 3: drop the later checkpoint and the log, then start the same command again
    for folder in (run / "checkpoints").glob("step-*"):
        if folder.name != "step-00000003":
            shutil.rmtree(folder)
    (run / "log.jsonl").unlink()
    train(cfg)
    resumed = losses(run)
    assert sorted(resumed) == [4, 5, 6]
    for step in (4, 5, 6):
        assert resumed[step] == pytest.approx(uninterrupted[step], rel=1e-5)


def test_a_resumed_run_logs_its_checkpoint_not_random_weights(source, tmp_path, caplog):
    cfg = config(source, tmp_path / "run", steps=2, warmup_steps=0, checkpoint_every=1, eval_data=[])
    train(cfg)
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step-00000002")  # as if stopped after step 1
    caplog.clear()
    caplog.set_level(logging.INFO, logger="unify.core.segmenter")
    train(cfg)
    assert "model mit-pico: resuming from checkpoint step-00000001" in caplog.text
    assert "random weights" not in caplog.text


def test_global_batches_depend_only_on_seed_and_step():
    probabilities = torch.tensor([1 / 3] * 3 + [3 / 5] * 5, dtype=torch.double)
    assert global_batch(probabilities, 4, seed=1, step=5) == global_batch(probabilities, 4, seed=1, step=5)
    assert global_batch(probabilities, 4, seed=1, step=5) != global_batch(probabilities, 4, seed=1, step=6)
    many = [global_batch(probabilities, 50, seed=0, step=s) for s in range(1, 41)]
    share = sum(i >= 3 for batch in many for i, _ in batch) / (50 * 40)
    assert 0.7 < share < 0.8  # weights 1:3 -> 75% from the second source


def sampled(plan: BatchPlan, process: int, start: int = 0) -> list:
    return list(MicroBatchSampler([3, 5], [1.0, 3.0], plan, process, seed=1, start=start, steps=6))


def test_processes_share_each_global_batch_in_micro_batch_order():
    one = sampled(BatchPlan(8, 2, num_processes=1), 0)  # 4 accumulation steps
    two = [sampled(BatchPlan(8, 2, num_processes=2), p) for p in (0, 1)]  # 2 each
    probabilities = MicroBatchSampler([3, 5], [1.0, 3.0], BatchPlan(8, 2, 1), 0, 1, 0, 6).probabilities
    for step in range(1, 7):
        expected = global_batch(probabilities, 8, seed=1, step=step)
        mine = one[4 * (step - 1) : 4 * step]
        assert sum(mine, []) == expected
        assert two[0][2 * (step - 1) : 2 * step] == mine[:2] and two[1][2 * (step - 1) : 2 * step] == mine[2:]
    assert sampled(BatchPlan(8, 2, 2), 1, start=4) == two[1][8:]  # resuming after step 4: the same micro-batches


def test_batch_plan_errors_say_what_to_set():
    assert BatchPlan.for_processes(8, None, 2).accumulation_steps == 1
    assert BatchPlan.for_processes(8, 2, 2).accumulation_steps == 2
    assert list(BatchPlan.for_processes(8, 1, 2).micro_batches(1)) == [4, 5, 6, 7]
    with pytest.raises(
        UnifyError,
        match="global_batch_size=6 does not split over 4 processes; set global_batch_size to a multiple of 4",
    ):
        BatchPlan.for_processes(6, None, 4)
    with pytest.raises(
        UnifyError,
        match=r"per_device_batch_size=4 x 2 processes .* set per_device_batch_size to one "
        r"of \[6, 3, 2, 1\]",
    ):
        BatchPlan.for_processes(12, 4, 2)


def test_several_processes_without_a_gpu_are_joined_on_the_cpu(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert processes_without_gpu() == (not torch.cuda.is_available())
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not processes_without_gpu()


def test_train_transform_crops_pads_with_ignore_and_keeps_pairs_aligned():
    import numpy as np

    image = np.zeros((20, 30, 3), dtype=np.uint8)
    label = np.zeros((20, 30), dtype=np.uint8)
    image[:, 15:] = 255
    label[:, 15:] = 7
    pixels, target = TrainTransform((32, 48), (1.0, 1.0))(image, label, np.random.default_rng(0))
    assert pixels.shape == (3, 32, 48) and target.shape == (32, 48)
    assert (target[20:] == 255).all() and (target[:, 30:] == 255).all()
    bright = pixels[0, :20, :30] > 0
    assert torch.equal(bright, target[:20, :30] == 7)


def test_config_errors_name_the_field_and_value(source, tmp_path):
    with pytest.raises(UnifyError, match="global_batch_size must be > 0, got 0"):
        config(source, tmp_path, global_batch_size=0)
    with pytest.raises(
        UnifyError,
        match=r"per_device_batch_size must divide global_batch_size=4, got 3; set it to "
        r"one of \[4, 2, 1\] or null",
    ):
        config(source, tmp_path, per_device_batch_size=3)
    with pytest.raises(UnifyError, match=r"log_with names unknown trackers \['tensorbored'\]"):
        config(source, tmp_path, log_with=["tensorbored"])
    with pytest.raises(UnifyError, match=r"scale_range must be .* got \[2.0, 1.0\]"):
        config(source, tmp_path, scale_range=(2.0, 1.0))
    path = tmp_path / "c.yaml"
    path.write_text("output_dir: x\ntaxonomy: synthetic_fine\ntrain_data: [{path: x}]\nstepz: 3\n")
    with pytest.raises(UnifyError, match=r"unknown config keys \['stepz'\]"):
        load_config(path)
    path.write_text("output_dir: x\ntaxonomy: synthetic_fine\ntrain_data: [{path: x}]\n")
    assert load_config(path, ["steps=7", "warmup_steps=0", "crop_size=[8, 16]"]).crop_size == (8, 16)


def test_models_from_size_names_predict_the_taxonomy():
    taxonomy = get_taxonomy("cityscapes19")
    model = Segmenter.for_training("mit-pico", taxonomy).model
    assert model.config.num_labels == 19 and model.config.id2label[0] == "road"
    assert set(SEGFORMER_SIZES) >= {"mit-b0", "mit-b5"}
    with pytest.raises(UnifyError, match="without gaps"):
        Segmenter.for_training("mit-pico", get_taxonomy("cityscapes"))


def test_a_size_name_says_it_starts_from_random_weights(caplog):
    caplog.set_level(logging.INFO, logger="unify.core.segmenter")
    Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine"))
    assert "model mit-pico: random weights" in caplog.text


def test_rerunning_a_finished_run_writes_its_model_and_metrics_again(source, tmp_path):
    cfg = config(source, tmp_path / "run", steps=2, warmup_steps=0)
    first = train(cfg)
    assert first["source"]["miou"] > 0
    (tmp_path / "run" / "metrics.json").write_text("{}")  # what the old trainer wrote when it skipped the evaluation
    shutil.rmtree(tmp_path / "run" / "model")
    assert train(cfg) == first
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == first
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert train(cfg) == first  # metrics.json complete: read back, not evaluated again
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2]
    assert [r["step"] for r in records if "source" in r] == [2, 2]  # the run's evaluation and the missing one

import json

import pytest
import torch

from train.config import TrainConfig, load_config
from train.data import StepBatchSampler
from train.loop import train
from unify.core.segmenter import SEGFORMER_SIZES, Segmenter
from train.transforms import TrainTransform
from unify.build import build_dataset
from unify.core.errors import UnifyError
from unify.core.taxonomy import get_taxonomy


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "source"
    build_dataset("synthetic_driving", folder, config="source", splits=(("train", 6), ("validation", 2)))
    return folder


def config(source, output_dir, **overrides) -> TrainConfig:
    values = dict(output_dir=str(output_dir), taxonomy="synthetic_fine", model="mit-pico",
                  train_data=[{"path": str(source)}], eval_data=[{"path": str(source), "split": "validation"}],
                  crop_size=(64, 128), scale_range=(0.5, 1.0), batch_size=4, steps=30, learning_rate=3e-3,
                  warmup_steps=2, checkpoint_every=0, log_every=1, num_workers=0)
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
            import shutil
            shutil.rmtree(folder)
    (run / "log.jsonl").unlink()
    train(cfg)
    resumed = losses(run)
    assert sorted(resumed) == [4, 5, 6]
    for step in (4, 5, 6):
        assert resumed[step] == pytest.approx(uninterrupted[step], rel=1e-5)


def test_batches_depend_only_on_seed_and_step():
    full = list(StepBatchSampler([3, 5], [1.0, 3.0], batch_size=4, steps=6, seed=1))
    tail = list(StepBatchSampler([3, 5], [1.0, 3.0], batch_size=4, steps=6, seed=1, start=4))
    assert tail == full[4:]
    many = list(StepBatchSampler([10, 10], [1.0, 3.0], batch_size=50, steps=40, seed=0))
    share = sum(i >= 10 for batch in many for i, _ in batch) / (50 * 40)
    assert 0.7 < share < 0.8  # weights 1:3 -> 75% from the second source


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
    with pytest.raises(UnifyError, match="batch_size must be > 0, got 0"):
        config(source, tmp_path, batch_size=0)
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

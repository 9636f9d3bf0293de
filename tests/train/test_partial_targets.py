"""Partial targets end to end: native ids read beside the pseudo-labels, kept aligned, trained on."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from test_training import config as source_config
from test_training import losses

from train.config import AugmentConfig, DataSource, TrainConfig, load_config
from train.data import MixedDataset, source_targets
from train.loop import train
from train.loss import TargetTables
from train.transforms import OUTSIDE, TrainTransform
from unify.build import build_dataset
from unify.core.constants import IGNORE_INDEX
from unify.core.errors import BadSampleError, UnifyError
from unify.core.folder import FolderMetadata
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.pseudo_label_driver import LabellingOptions, pseudo_label_dataset

TAXONOMY = "synthetic_fine"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A built source, and the coarse and shifted extras pseudo-labelled by a random tiny teacher."""
    root = tmp_path_factory.mktemp("partial")
    build_dataset("synthetic_driving", root / "source", config="source", splits=(("train", 4), ("validation", 2)))
    torch.manual_seed(0)
    Segmenter.for_training("mit-pico", get_taxonomy(TAXONOMY)).save(root / "teacher")
    for extra in ("coarse", "shifted"):
        build_dataset("synthetic_driving", root / "built" / extra, config=extra, splits=(("train", 4),))
        pseudo_label_dataset(
            str(root / "teacher"), root / "built" / extra, root / extra, LabellingOptions(taxonomy=TAXONOMY, workers=0)
        )
    return root


def config(folders, output_dir, **overrides) -> TrainConfig:
    """test_training's small run, on the built source and both pseudo-labelled extras, evaluated nowhere."""
    values = dict(
        train_data=[{"path": str(folders / name)} for name in ("source", "coarse", "shifted")],
        eval_data=[],
        learning_rate=5e-3,
    )
    return source_config(folders / "source", output_dir, **{**values, **overrides})


def test_native_ids_stay_aligned_with_the_pseudo_labels_through_every_change(folders, tmp_path):
    cfg = config(folders, tmp_path, targets="partial", train_data=[{"path": str(folders / "coarse")}])
    targets = source_targets(cfg)
    transform = TrainTransform((64, 96), (0.4, 1.2), augment=AugmentConfig(shear_degrees=(8.0, 10.0)))
    dataset = MixedDataset(cfg.train_data, transform, get_taxonomy(TAXONOMY), targets)
    single = targets[0].mapping.tables.single  # native id -> the class its ground truth fixes, else 255
    checked = 0
    for index in range(len(dataset)):
        for seed in range(3):
            pixels, label, native, source = dataset[(index, seed)]
            assert native.dtype == torch.long and int(source) == 0
            assert ((native == OUTSIDE) <= (label == IGNORE_INDEX)).all()  # padding and shear: outside in both
            inside = native >= 0
            fixed = inside & (single[native.clamp(min=0)] != IGNORE_INDEX)
            assert torch.equal(label[fixed], single[native[fixed]])  # the pseudo-label copies the ground truth there
            checked += int(fixed.sum())
            alone = TrainTransform((64, 96), (0.4, 1.2), augment=AugmentConfig(shear_degrees=(8.0, 10.0)))
            hard = MixedDataset(cfg.train_data, alone, get_taxonomy(TAXONOMY))[(index, seed)]
            assert torch.equal(hard[0], pixels) and torch.equal(hard[1], label)  # the same crop as a hard run's
    assert checked > 10000


def test_settings_resolve_per_source_and_bad_values_name_the_field(folders, tmp_path):
    cfg = config(
        folders,
        tmp_path,
        targets="both",
        train_data=[
            {"path": str(folders / "source")},
            {"path": str(folders / "coarse"), "targets": "hard", "fill_in": "ignore"},
            {"path": str(folders / "shifted"), "fill_in": "ignore"},
        ],
    )
    assert [cfg.targets_of(s) for s in cfg.train_data] == [("both", "teacher"), ("hard", "ignore"), ("both", "ignore")]
    assert [t.needs_native for t in source_targets(cfg)] == [True, True, True]
    assert source_targets(config(folders, tmp_path)) is None  # all hard: the model's own loss, no native ids
    with pytest.raises(UnifyError, match="targets must be one of hard, partial, both, got 'soft'"):
        config(folders, tmp_path, targets="soft")
    with pytest.raises(UnifyError, match=r"fill_in must be one of teacher, ignore or null, got 'drop' for data source"):
        DataSource(path="x", fill_in="drop")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"output_dir": "run", "taxonomy": TAXONOMY, "train_data": [{"path": "x"}]}))
    assert load_config(path, ["targets=partial", "fill_in=ignore"]).targets_of(DataSource(path="x")) == (
        "partial",
        "ignore",
    )


def test_a_folder_without_native_ids_is_refused_for_partial_targets(folders, tmp_path):
    copy = tmp_path / "labels_only"
    shutil.copytree(folders / "coarse", copy)
    metadata = FolderMetadata.read(copy)
    metadata.columns = dataclasses.replace(metadata.columns, native=None)
    metadata.write(copy)
    cfg = config(folders, tmp_path, targets="partial", train_data=[{"path": str(copy)}])
    with pytest.raises(UnifyError, match=r"labels_only .* has no native label column .* train it with targets: hard"):
        MixedDataset(cfg.train_data, TrainTransform((32, 32), (1.0, 1.0)), get_taxonomy(TAXONOMY), source_targets(cfg))


def test_native_ids_outside_the_taxonomy_are_bad_samples(folders, tmp_path):
    cfg = config(folders, tmp_path, targets="partial", train_data=[{"path": str(folders / "coarse")}])
    tables = TargetTables.build(source_targets(cfg), get_taxonomy(TAXONOMY).num_labels)
    known = np.array([[1, 2], [3, 4]], dtype=np.uint16)
    tables.check_known(known, 0, "here")
    with pytest.raises(BadSampleError, match="here: native label ids 77, 999 are not in the folder's native taxonomy"):
        tables.check_known(np.array([[1, 77], [999, 77]], dtype=np.uint16), 0, "here")


def test_partial_targets_on_singletons_train_as_hard_ones(folders, tmp_path):
    source_only = [{"path": str(folders / "source")}]  # built with the identity mapping: one class per line
    hard = losses(train_run(folders, tmp_path / "hard", train_data=source_only, steps=3))
    partial = losses(train_run(folders, tmp_path / "partial", train_data=source_only, steps=3, targets="partial"))
    assert partial[1] == pytest.approx(hard[1], rel=1e-5)  # the same batch, the same loss
    assert [partial[s] for s in (2, 3)] == pytest.approx([hard[s] for s in (2, 3)], rel=1e-3)


def train_run(folders, run_dir, **overrides):
    train(config(folders, run_dir, **overrides))
    return run_dir


def test_loss_falls_with_partial_targets_and_the_run_records_them(folders, tmp_path):
    # the built source (one class per line: cross-entropy) and the coarse and shifted extras (unions) mixed
    run = train_run(
        folders,
        tmp_path / "run",
        steps=30,
        targets="partial",
        fill_in="ignore",
        eval_data=[{"path": str(folders / "source"), "split": "validation"}],
    )
    curve = losses(run)
    first, last = sum(curve[s] for s in (1, 2, 3)) / 3, sum(curve[s] for s in (28, 29, 30)) / 3
    assert last < 0.8 * first  # from about 2.5 (random, 15 classes) to about 1.8
    saved = load_config(run / "config.yaml")
    assert (saved.targets, saved.fill_in) == ("partial", "ignore")
    assert json.loads((run / "metrics.json").read_text())["source"]["miou"] > 0
    provenance = json.loads((run / "provenance.json").read_text())["sources"]
    taught = [(s["name"], s["targets"], s["fill_in"]) for s in provenance["train"]]
    assert taught == [(name, "partial", "ignore") for name in ("source", "coarse", "shifted")]
    assert all("targets" not in s and "fill_in" not in s for s in provenance["eval"])  # evaluation teaches nothing

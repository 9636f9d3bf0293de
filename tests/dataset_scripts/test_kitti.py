"""KITTI semantics 2015: training/{image_2,semantic}/ with Cityscapes label ids, testing/image_2/ unlabeled."""

from pathlib import Path

import numpy as np
import pytest

from dataset_scripts.kitti import Kitti
from raw_urban import (assert_bad_sample, build, expected_unified, load_rows, scene, truncate, write_id_png,
                       write_image)
from unify.mapping import mapping_path
from unify.taxonomy import get_taxonomy, resolve_alias

IDS = [0, 1, 7, 8, 11, 21, 23, 24, 26, 33]  # Cityscapes ids, void ones included
TRAIN = ["000000_10", "000001_10"]
TEST = ["000000_10"]
needs_cityscapes_mappings = pytest.mark.skipif(
    not all(mapping_path("cityscapes", u).is_file() for u in ("cityscapes19", "mapillary63")),
    reason="kitti shares the cityscapes mappings, which come with the cityscapes builder")


@pytest.fixture
def raw(tmp_path) -> Path:
    root = tmp_path / "kitti"
    for seed, stem in enumerate(TRAIN):
        write_image(root / "training" / "image_2" / f"{stem}.png", seed)
        write_id_png(root / "training" / "semantic" / f"{stem}.png", scene(IDS, seed))
    for seed, stem in enumerate(TEST, start=10):
        write_image(root / "testing" / "image_2" / f"{stem}.png", seed, size=(32, 48))
    return root


def test_taxonomy_is_cityscapes():
    assert resolve_alias("kitti") == "cityscapes"
    assert get_taxonomy("kitti").classes == get_taxonomy("cityscapes").classes


def test_samples_and_labels_without_a_build(raw, tmp_path):
    builder = Kitti(data_dir=str(raw), cache_dir=str(tmp_path / "cache"))
    samples = builder.list_samples(raw)
    assert {split: [s.image_id for s in items] for split, items in samples.items()} == {
        "train": [f"training_{stem}" for stem in TRAIN], "test": [f"testing_{stem}" for stem in TEST]}
    label, original = builder.read_label(samples["train"][1])
    assert np.array_equal(label, scene(IDS, 1))
    assert original == (raw / "training" / "semantic" / f"{TRAIN[1]}.png").read_bytes()
    label, original = builder.read_label(samples["test"][0])
    assert label.shape == (32, 48) and (label == get_taxonomy("kitti").by_name["unlabeled"].id).all()
    assert original is None


@needs_cityscapes_mappings
@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_build(raw, tmp_path, unified):
    report = build("kitti", raw, tmp_path / "out", unified_taxonomy=unified)
    assert report.num_examples == {"train": 2, "test": 1}
    train = load_rows(tmp_path / "out", "train", tmp_path / "cache")
    for seed, stem in enumerate(TRAIN):
        row = train[f"training_{stem}"]
        assert np.array_equal(row["label"], scene(IDS, seed))
        assert row["image"] == (raw / "training" / "image_2" / f"{stem}.png").read_bytes()
        assert np.array_equal(row["unified_label"], expected_unified(row["label"], "kitti", unified))
    sky = get_taxonomy(unified).by_name["sky" if unified == "cityscapes19" else "nature--sky"].id
    first = train[f"training_{TRAIN[0]}"]
    assert (first["unified_label"][first["label"] == 23] == sky).all()
    test = load_rows(tmp_path / "out", "test", tmp_path / "cache")[f"testing_{TEST[0]}"]
    assert (test["label"] == 0).all() and (test["unified_label"] == 255).all()


@needs_cityscapes_mappings
def test_id_outside_the_table(raw, tmp_path):
    bad = raw / "training" / "semantic" / f"{TRAIN[0]}.png"
    write_id_png(bad, scene([7, 34], 0))  # 34 is no Cityscapes id
    assert_bad_sample("kitti", raw, tmp_path, bad, f"training_{TRAIN[0]}", "label ids [34]", kept=2)


@needs_cityscapes_mappings
def test_missing_label(raw, tmp_path):
    label = raw / "training" / "semantic" / f"{TRAIN[1]}.png"
    label.unlink()
    assert_bad_sample("kitti", raw, tmp_path, raw / "training" / "image_2" / f"{TRAIN[1]}.png",
                      f"training_{TRAIN[1]}", f"no label file (expected {label})", kept=2)


@needs_cityscapes_mappings
def test_label_of_another_size(raw, tmp_path):
    bad = raw / "training" / "semantic" / f"{TRAIN[0]}.png"
    write_id_png(bad, scene(IDS, 0, size=(33, 64)))
    assert_bad_sample("kitti", raw, tmp_path, bad, f"training_{TRAIN[0]}", "label is 64x33", kept=2)


@needs_cityscapes_mappings
def test_truncated_test_image(raw, tmp_path):
    bad = raw / "testing" / "image_2" / f"{TEST[0]}.png"
    truncate(bad)
    assert_bad_sample("kitti", raw, tmp_path, bad, f"testing_{TEST[0]}", "truncated PNG", kept=2)

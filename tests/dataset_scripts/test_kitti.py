"""KITTI semantics 2015: training/{image_2,semantic}/ with Cityscapes label ids, testing/image_2/ unlabeled."""

from pathlib import Path

import numpy as np
import pytest

from dataset_scripts.kitti import Kitti
from fixtures import (
    assert_bad_sample,
    build,
    expected_unified,
    native_label,
    rows_by_id,
    scattered_ids,
    truncate,
    unified_label,
    write_image,
    write_label,
)
from unify.core.mapping import mapping_path
from unify.core.taxonomy import get_taxonomy, resolve_alias

IDS = [0, 1, 7, 8, 11, 21, 23, 24, 26, 33]  # Cityscapes ids, void ones included
TRAIN = ["000000_10", "000001_10"]
TEST = ["000000_10"]
needs_cityscapes_mappings = pytest.mark.skipif(
    not all(mapping_path("cityscapes", u).is_file() for u in ("cityscapes19", "mapillary63")),
    reason="kitti shares the cityscapes mappings, which come with the cityscapes builder",
)


@pytest.fixture
def raw(tmp_path) -> Path:
    root = tmp_path / "kitti"
    for seed, stem in enumerate(TRAIN):
        write_image(root / "training" / "image_2" / f"{stem}.png", seed)
        write_label(root / "training" / "semantic" / f"{stem}.png", scattered_ids(IDS, seed))
    for seed, stem in enumerate(TEST, start=10):
        write_image(root / "testing" / "image_2" / f"{stem}.png", seed, size=(32, 48))
    return root


def test_taxonomy_is_cityscapes():
    assert resolve_alias("kitti") == "cityscapes"
    # the KITTI semantics devkit's ids are Cityscapes' labels.py ids: e.g. 7 road, 23 sky, 26 car, 0 unlabeled
    kitti = get_taxonomy("kitti").by_id
    assert [(i, kitti[i].name) for i in (0, 7, 23, 26)] == [(0, "unlabeled"), (7, "road"), (23, "sky"), (26, "car")]


def test_samples_and_labels_without_a_build(raw, tmp_path):
    builder = Kitti(data_dir=str(raw), cache_dir=str(tmp_path / "cache"))
    samples = builder.list_samples(raw)
    assert {split: [s.image_id for s in items] for split, items in samples.items()} == {
        "train": [f"training_{stem}" for stem in TRAIN],
        "test": [f"testing_{stem}" for stem in TEST],
    }
    label, original = builder.read_label(samples["train"][1])
    assert np.array_equal(label, scattered_ids(IDS, 1))
    assert original == (raw / "training" / "semantic" / f"{TRAIN[1]}.png").read_bytes()
    label, original = builder.read_label(samples["test"][0])
    assert label.shape == (32, 48) and (label == get_taxonomy("kitti").by_name["unlabeled"].id).all()
    assert original is None


@needs_cityscapes_mappings
@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_build(raw, tmp_path, unified):
    report, loaded = build("kitti", raw, tmp_path / "out", unified_taxonomy=unified)
    assert report.num_examples == {"train": 2, "test": 1}
    train = rows_by_id(loaded["train"])
    for seed, stem in enumerate(TRAIN):
        row = train[f"training_{stem}"]
        assert np.array_equal(native_label(row), scattered_ids(IDS, seed))
        assert row["image"]["bytes"] == (raw / "training" / "image_2" / f"{stem}.png").read_bytes()
        assert np.array_equal(unified_label(row), expected_unified(native_label(row), "kitti", unified))
    sky = get_taxonomy(unified).by_name["sky" if unified == "cityscapes19" else "nature--sky"].id
    first = train[f"training_{TRAIN[0]}"]
    assert (unified_label(first)[native_label(first) == 23] == sky).all()
    test = rows_by_id(loaded["test"])[f"testing_{TEST[0]}"]
    assert (native_label(test) == 0).all() and (unified_label(test) == 255).all()


@needs_cityscapes_mappings
def test_id_outside_the_table(raw, tmp_path):
    bad = raw / "training" / "semantic" / f"{TRAIN[0]}.png"
    write_label(bad, scattered_ids([7, 34], 0))  # 34 is no Cityscapes id
    assert_bad_sample("kitti", raw, tmp_path, bad, f"training_{TRAIN[0]}", "label ids [34]", kept=2)


@needs_cityscapes_mappings
def test_missing_label(raw, tmp_path):
    label = raw / "training" / "semantic" / f"{TRAIN[1]}.png"
    label.unlink()
    assert_bad_sample(
        "kitti",
        raw,
        tmp_path,
        raw / "training" / "image_2" / f"{TRAIN[1]}.png",
        f"training_{TRAIN[1]}",
        f"no label file (expected {label})",
        kept=2,
    )


@needs_cityscapes_mappings
def test_label_of_another_size(raw, tmp_path):
    bad = raw / "training" / "semantic" / f"{TRAIN[0]}.png"
    write_label(bad, scattered_ids(IDS, 0, size=(33, 64)))
    assert_bad_sample("kitti", raw, tmp_path, bad, f"training_{TRAIN[0]}", "label is 64x33", kept=2)


@needs_cityscapes_mappings
def test_truncated_test_image(raw, tmp_path):
    bad = raw / "testing" / "image_2" / f"{TEST[0]}.png"
    truncate(bad)
    assert_bad_sample("kitti", raw, tmp_path, bad, f"testing_{TEST[0]}", "truncated PNG", kept=2)

"""TAS500 builder: <split>/ images with <split>_labels_ids/ grey id PNGs, 255 = undefined."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import (assert_bad_sample, build, native_label, rows_by_id, stripes, unified_id, unified_label,
                      write_image, write_label)
from unify.core.errors import UnifyError

ASPHALT, GRAVEL, FOREST, HIGH_GRASS, SKY, EGO, UNDEFINED = 0, 1, 5, 7, 16, 22, 255
FRAMES = {
    ("train", "1537962190_3000000"): [ASPHALT, FOREST, SKY],
    ("train", "1537962272_5000000"): [GRAVEL, HIGH_GRASS, EGO, UNDEFINED],
    ("val", "1543315040_1000000"): [ASPHALT, UNDEFINED],
}


def write_tas500(root):
    for seed, ((split, name), ids) in enumerate(sorted(FRAMES.items())):
        write_image(root / split / f"{name}.png", seed)
        write_label(root / f"{split}_labels_ids" / f"{name}.png", stripes(ids))
        write_label(root / f"{split}_labels_colors" / f"{name}.png", np.zeros((32, 64, 3), np.uint8))
    write_image(root / "test" / "1550000000_0000000.png", 9)  # unlabelled: left out
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tas500")
    return build("tas500", write_tas500(tmp / "raw"), tmp / "out")


def test_labelled_splits_only(built):
    report, dataset = built
    assert report.num_examples == {"train": 2, "validation": 1}
    assert dataset["validation"]["image_id"] == ["val_1543315040_1000000"]


def test_ids_round_trip_including_undefined(built):
    _, dataset = built
    for split in dataset:
        for image_id, row in rows_by_id(dataset[split]).items():
            folder, name = image_id.split("_", 1)
            np.testing.assert_array_equal(native_label(row), stripes(FRAMES[(folder, name)]))


def test_unified_view(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["train_1537962190_3000000"]
    assert unified_label(row)[0, [0, 30, 60]].tolist() == [
        255, unified_id("offroad34", "tree"), unified_id("offroad34", "sky")]  # asphalt or marking
    ego = rows_by_id(dataset["train"])["train_1537962272_5000000"]
    assert unified_label(ego)[0, [0, 40, 60]].tolist() == [unified_id("offroad34", "rough drivable ground"), 255, 255]


def test_a_colour_label_where_ids_are_expected_is_a_bad_sample(tmp_path):
    raw = write_tas500(tmp_path / "raw")
    bad = raw / "train_labels_ids" / "1537962272_5000000.png"
    write_label(bad, np.zeros((32, 64, 3), np.uint8))
    assert_bad_sample("tas500", raw, tmp_path, bad, "train_1537962272_5000000", "mode RGB", kept=2)


def test_unknown_layouts_are_refused(tmp_path):
    with pytest.raises(UnifyError, match="missing train, train_labels_ids"):
        build("tas500", tmp_path, tmp_path / "out")

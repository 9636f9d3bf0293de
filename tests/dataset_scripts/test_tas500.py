"""TAS500 builder: <split>/ images with <split>_labels_ids/ grey id PNGs, 255 = undefined."""

from __future__ import annotations

import numpy as np

from fixtures import (
    assert_bad_sample,
    assert_native_labels,
    assert_splits,
    built_once,
    rows_by_id,
    stripes,
    unified_at,
    unified_ids,
    write_image,
    write_label,
    write_pair,
)

ASPHALT, GRAVEL, FOREST, HIGH_GRASS, SKY, EGO, UNDEFINED = 0, 1, 5, 7, 16, 22, 255
FRAMES = {
    ("train", "1537962190_3000000"): [ASPHALT, FOREST, SKY],
    ("train", "1537962272_5000000"): [GRAVEL, HIGH_GRASS, EGO, UNDEFINED],
    ("val", "1543315040_1000000"): [ASPHALT, UNDEFINED],
}


def write_tas500(root):
    for seed, ((split, name), ids) in enumerate(sorted(FRAMES.items())):
        write_pair(root / split / f"{name}.png", root / f"{split}_labels_ids" / f"{name}.png", seed, stripes(ids))
        write_label(root / f"{split}_labels_colors" / f"{name}.png", np.zeros((32, 64, 3), np.uint8))
    write_image(root / "test" / "1550000000_0000000.png", 9)  # unlabelled: left out
    return root


built = built_once("tas500", write_tas500)


def test_labelled_splits_only(built):
    assert_splits(
        built,
        {"train": ["train_1537962190_3000000", "train_1537962272_5000000"], "validation": ["val_1543315040_1000000"]},
    )


def test_ids_round_trip_including_undefined(built):
    _, dataset = built
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[tuple(image_id.split("_", 1))]))


def test_unified_view(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["train_1537962190_3000000"]
    assert unified_at(row, [0, 30, 60]) == unified_ids("offroad34", None, "tree", "sky")  # asphalt or marking
    ego = rows_by_id(dataset["train"])["train_1537962272_5000000"]
    assert unified_at(ego, [0, 40, 60]) == unified_ids("offroad34", "rough drivable ground", None, None)


def test_a_colour_label_where_ids_are_expected_is_a_bad_sample(tmp_path):
    raw = write_tas500(tmp_path / "raw")
    bad = raw / "train_labels_ids" / "1537962272_5000000.png"
    write_label(bad, np.zeros((32, 64, 3), np.uint8))
    assert_bad_sample("tas500", raw, tmp_path, bad, "train_1537962272_5000000", "mode RGB", kept=2)

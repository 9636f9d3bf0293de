"""Freiburg Forest builder: rgb/ and GT_color/ paired by frame, unlisted colours are void."""

from __future__ import annotations

import numpy as np

from fixtures import (
    assert_native_labels,
    assert_splits,
    build,
    built_once,
    color_coded,
    native_label,
    rows_by_id,
    stripes,
    unified_at,
    unified_ids,
    write_label,
    write_pair,
)

VOID, ROAD, GRASS, VEGETATION, SKY, OBSTACLE, TREE = range(7)
FRAMES = {
    ("train", "b1-09517"): [ROAD, GRASS, TREE, SKY],
    ("train", "b12-1234"): [VEGETATION, OBSTACLE],
    ("test", "b275-311"): [TREE, ROAD, SKY],
}


def write_freiburg(root):
    for seed, ((split, frame), ids) in enumerate(sorted(FRAMES.items())):
        write_pair(
            root / split / "rgb" / f"{frame}_Clipped.jpg",
            root / split / "GT_color" / f"{frame}_mask.png",
            seed,
            color_coded(stripes(ids), "freiburg_forest"),
        )
        write_label(root / split / "nir_gray" / f"{frame}.png", np.zeros((32, 64), np.uint8))  # other modality: unread
    return root


built = built_once("freiburg_forest", write_freiburg)


def test_train_and_test_folders_are_the_splits(built):
    assert_splits(built, {"train": ["b1-09517", "b12-1234"], "test": ["b275-311"]})


def test_masks_pair_with_images_by_frame_and_decode(built):
    _, dataset = built
    assert_native_labels(dataset, lambda split, image_id: stripes(FRAMES[(split, image_id)]))


def test_tree_keeps_its_own_class(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["b1-09517"]
    assert native_label(row)[0, 40] == TREE
    assert unified_at(row, [0, 40, 60]) == unified_ids("offroad34", "rough drivable ground", "tree", "sky")


def test_colours_outside_the_table_are_void_as_the_readme_says(tmp_path):
    raw = write_freiburg(tmp_path / "raw")
    rgb = color_coded(stripes([ROAD, SKY]), "freiburg_forest")
    rgb[:, :4] = (255, 255, 255)
    rgb[:, 4:8] = (12, 34, 56)
    write_label(raw / "test/GT_color/b275-311_mask.png", rgb)
    _, dataset = build("freiburg_forest", raw, tmp_path / "out")
    label = native_label(dataset["test"][0])
    assert (label[:, :8] == VOID).all() and (label[:, 8:32] == ROAD).all()


def test_an_image_without_a_mask_is_a_bad_sample(tmp_path):
    raw = write_freiburg(tmp_path / "raw")
    (raw / "train/GT_color/b12-1234_mask.png").unlink()
    report, _ = build("freiburg_forest", raw, tmp_path / "out", skip_bad=True)
    assert [s.image_id for s in report.skipped] == ["b12-1234"]
    assert report.skipped[0].reason.startswith("no label file")

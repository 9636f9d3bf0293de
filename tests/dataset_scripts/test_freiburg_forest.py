"""Freiburg Forest builder: rgb/ and GT_color/ paired by frame, unlisted colours are void."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import (build, color_coded, native_label, rows_by_id, stripes, unified_id, unified_label, write_image,
                      write_label)
from unify.core.errors import UnifyError

VOID, ROAD, GRASS, VEGETATION, SKY, OBSTACLE, TREE = range(7)
FRAMES = {
    ("train", "b1-09517"): [ROAD, GRASS, TREE, SKY],
    ("train", "b12-1234"): [VEGETATION, OBSTACLE],
    ("test", "b275-311"): [TREE, ROAD, SKY],
}


def write_freiburg(root):
    for seed, ((split, frame), ids) in enumerate(sorted(FRAMES.items())):
        write_image(root / split / "rgb" / f"{frame}_Clipped.jpg", seed)
        write_label(root / split / "GT_color" / f"{frame}_mask.png", color_coded(stripes(ids), "freiburg_forest"))
        write_label(root / split / "nir_gray" / f"{frame}.png", np.zeros((32, 64), np.uint8))  # other modality: unread
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("freiburg")
    return build("freiburg_forest", write_freiburg(tmp / "raw"), tmp / "out")


def test_train_and_test_folders_are_the_splits(built):
    report, dataset = built
    assert report.num_examples == {"train": 2, "test": 1}
    assert sorted(dataset["train"]["image_id"]) == ["b1-09517", "b12-1234"]


def test_masks_pair_with_images_by_frame_and_decode(built):
    _, dataset = built
    for split, folder in (("train", "train"), ("test", "test")):
        for image_id, row in rows_by_id(dataset[split]).items():
            np.testing.assert_array_equal(native_label(row), stripes(FRAMES[(folder, image_id)]))


def test_tree_keeps_its_own_class(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["b1-09517"]
    assert native_label(row)[0, 40] == TREE
    expected = [unified_id("offroad34", name) for name in ("rough drivable ground", "tree", "sky")]
    assert unified_label(row)[0, [0, 40, 60]].tolist() == expected


def test_colours_outside_the_table_are_void_as_the_readme_says(tmp_path):
    raw = write_freiburg(tmp_path / "raw")
    rgb = color_coded(stripes([ROAD, SKY]), "freiburg_forest")
    rgb[:, :4] = (255, 255, 255)
    rgb[:, 4:8] = (12, 34, 56)
    write_label(raw / "test/GT_color/b275-311_mask.png", rgb)
    _, dataset = build("freiburg_forest", raw, tmp_path / "out")
    label = native_label(dataset["test"][0])
    assert (label[:, :8] == VOID).all() and (label[:, 8:32] == ROAD).all()


def test_an_image_without_a_mask_is_a_bad_sample_and_the_layout_is_checked(tmp_path):
    raw = write_freiburg(tmp_path / "raw")
    (raw / "train/GT_color/b12-1234_mask.png").unlink()
    report, _ = build("freiburg_forest", raw, tmp_path / "out", skip_bad=True)
    assert [s.image_id for s in report.skipped] == ["b12-1234"]
    assert report.skipped[0].reason.startswith("no label file")
    with pytest.raises(UnifyError, match="missing train/rgb, train/GT_color"):
        build("freiburg_forest", tmp_path, tmp_path / "out2")

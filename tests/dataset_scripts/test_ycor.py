"""YCOR builder: iid folders with rgb.jpg and labels.png (palette PNGs read by colour), train/valid splits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fixtures import (
    assert_native_labels,
    assert_splits,
    build,
    built_once,
    color_coded,
    native_label,
    rows_by_id,
    stripes,
    truncate,
    unified_at,
    unified_ids,
    write_image,
    write_label,
)
from unify.core.errors import BadSampleError, UnifyError
from unify.core.taxonomy import get_taxonomy

BACKGROUND, HIGH_VEG, GRASS, SMOOTH, OBSTACLE, SKY, ROUGH, PUDDLE, LOW_VEG = range(9)
FRAMES = {
    ("train", "iid000000"): [SMOOTH, SKY, HIGH_VEG],
    ("train", "iid000001"): [ROUGH, OBSTACLE, BACKGROUND],
    ("train", "iid000005"): [PUDDLE, GRASS],
    ("valid", "iid000003"): [LOW_VEG, SKY],
}


def write_ycor(root, rgb=False):
    """Palette masks, as released; their index order is not the ids' (reversed here). rgb: RGB masks instead."""
    order = list(reversed(range(len(get_taxonomy("ycor").classes))))
    palette = [value for class_id in order for value in get_taxonomy("ycor").by_id[class_id].color]
    for seed, ((split, iid), ids) in enumerate(sorted(FRAMES.items())):
        write_image(root / split / iid / "rgb.jpg", seed)
        label = stripes(ids)
        if rgb:
            write_label(root / split / iid / "labels.png", color_coded(label, "ycor"))
        else:
            write_label(
                root / split / iid / "labels.png", np.array(order, dtype=np.uint8).argsort()[label], palette=palette
            )
    return root


built = built_once("ycor", write_ycor)


def test_train_and_valid_folders_are_the_splits(built):
    assert_splits(
        built, {"train": ["train_iid000000", "train_iid000001", "train_iid000005"], "validation": ["valid_iid000003"]}
    )


def test_colours_decode_to_native_ids(built):
    _, dataset = built
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[tuple(image_id.split("_"))]))


def test_a_palette_mask_is_read_by_its_colours_not_its_indices(tmp_path):
    raw = write_ycor(tmp_path / "raw")
    ids = stripes(FRAMES[("train", "iid000000")])
    with Image.open(raw / "train/iid000000/labels.png") as mask:
        assert mask.mode == "P" and not np.array_equal(np.asarray(mask), ids)
    _, dataset = build("ycor", raw, tmp_path / "out")
    np.testing.assert_array_equal(native_label(rows_by_id(dataset["train"])["train_iid000000"]), ids)


def test_rgb_masks_decode_the_same(tmp_path, built):
    _, palette_built = built
    _, rgb_built = build("ycor", write_ycor(tmp_path / "raw", rgb=True), tmp_path / "out")
    for split in rgb_built:
        assert [native_label(r).tolist() for r in rgb_built[split]] == [
            native_label(r).tolist() for r in palette_built[split]
        ]


def test_unified_view(built):
    _, dataset = built
    rows = rows_by_id(dataset["train"])
    rough = unified_ids("offroad34", "rough drivable ground", None, None)  # obstacle: several classes; background: void
    assert unified_at(rows["train_iid000001"], [0, 30, 60]) == rough
    assert unified_at(rows["train_iid000000"], [30]) == unified_ids("offroad34", "sky")


def test_bad_masks_are_bad_samples(tmp_path):
    raw = write_ycor(tmp_path / "raw")
    truncate(raw / "train/iid000005/labels.png")
    rgb = color_coded(stripes([SKY]), "ycor")
    rgb[5:7, 5:7] = (250, 250, 250)  # not a YCOR colour
    write_label(raw / "train/iid000001/labels.png", rgb)
    with pytest.raises(BadSampleError, match="labels.png"):
        build("ycor", raw, tmp_path / "out")
    report, dataset = build("ycor", raw, tmp_path / "out", skip_bad=True)
    reasons = {s.image_id: s.reason for s in report.skipped}
    assert reasons["train_iid000001"] == "1 colour(s) not in the colour table: #fafafa (4 px)"
    assert "truncated" in reasons["train_iid000005"].lower()
    assert dataset["train"]["image_id"] == ["train_iid000000"]


def test_a_folder_that_is_no_sample_is_refused(tmp_path):
    raw = write_ycor(tmp_path / "raw")
    (raw / "valid" / "thumbnails").mkdir()
    with pytest.raises(UnifyError, match="thumbnails holds neither rgb.jpg nor labels.png"):
        build("ycor", raw, tmp_path / "out")

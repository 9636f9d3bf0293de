"""BDD100K builder: train-id masks (255 = the rest), train and val, test images left out; 2020 and 2018 releases."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from fixtures import (
    assert_rows,
    assert_splits,
    build,
    color_coded,
    native_label,
    rows_by_id,
    scattered_ids,
    unified_label,
    write_image,
    write_label,
)
from unify.core.errors import BadSampleError, UnifyError

IDS = [0, 1, 2, 8, 10, 13, 18, 255]
FRAMES = [("train", "0a0a0b1a-7c39d841"), ("train", "0a1c2d3e-00000001"), ("val", "7d2f7975-e0c1c5a7")]
SPLITS = {"train": ["0a0a0b1a-7c39d841", "0a1c2d3e-00000001"], "validation": ["7d2f7975-e0c1c5a7"]}
LAYOUTS = {  # release -> (image folder, mask folder, mask name), as the zips unpack
    "2020": ("images/10k", "labels/sem_seg/masks", "{name}.png"),
    "2018": ("seg/images", "seg/labels", "{name}_train_id.png"),
}


def write_bdd(root, release="2020"):
    """The frames in one release's layout; 2018 also has its colour masks and unlabelled test images."""
    images, masks, mask_name = LAYOUTS[release]
    written = {}
    for seed, (folder, name) in enumerate(FRAMES):
        image = write_image(root / images / folder / f"{name}.jpg", seed)
        label = scattered_ids(IDS, seed)
        data = write_label(root / masks / folder / mask_name.format(name=name), label)
        written[name] = (image, label, data)
        if release == "2018":
            write_label(
                root / "seg" / "color_labels" / folder / f"{name}_train_color.png", color_coded(label, "bdd100k")
            )
    write_image(root / images / "test" / "ffffffff-00000000.jpg", 9)
    return written


@pytest.fixture
def raw(tmp_path):
    return tmp_path / "raw", write_bdd(tmp_path / "raw")


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_round_trip(raw, tmp_path, unified):
    raw, written = raw
    built = build("bdd100k", raw, tmp_path / "out", unified_taxonomy=unified)
    assert_splits(built, SPLITS)  # no public test masks
    assert_rows(built[1], written, "bdd100k", unified)


def test_train_ids_are_cityscapes19_ids(raw, tmp_path):
    raw, written = raw
    _, loaded = build("bdd100k", raw, tmp_path / "out")
    row = rows_by_id(loaded["validation"])["7d2f7975-e0c1c5a7"]
    np.testing.assert_array_equal(unified_label(row), written["7d2f7975-e0c1c5a7"][1])


def test_bad_samples(raw, tmp_path):
    raw, _ = raw
    masks = raw / "labels" / "sem_seg" / "masks"
    write_label(masks / "train" / "0a0a0b1a-7c39d841.png", np.full((32, 64), 19))
    write_label(masks / "val" / "7d2f7975-e0c1c5a7.png", np.zeros((32, 65)))
    with pytest.raises(BadSampleError, match=r"label ids \[19\] are not in the bdd100k taxonomy"):
        build("bdd100k", raw, tmp_path / "out")
    report, _ = build("bdd100k", raw, tmp_path / "out", skip_bad=True)
    assert report.num_examples == {"train": 1}
    reasons = {s.image_id: s.reason for s in report.skipped}
    assert "label is 65x32" in reasons["7d2f7975-e0c1c5a7"] and "[19]" in reasons["0a0a0b1a-7c39d841"]


@pytest.mark.parametrize("folder", ["bdd100k", "bdd100k/seg"])  # the folder holding seg/, or seg/ itself
def test_the_2018_release_is_read_from_its_seg_folder(tmp_path, folder):
    written = write_bdd(tmp_path / "bdd100k", release="2018")
    built = build("bdd100k", tmp_path / folder, tmp_path / "out")
    assert_splits(built, SPLITS)  # ids are the frame names, as in the 2020 release; no public test masks either
    assert_rows(built[1], written, "bdd100k", "cityscapes19")


def test_a_folder_with_both_releases_is_built_from_the_2020_one(tmp_path, caplog):
    write_bdd(tmp_path / "bdd100k", release="2018")
    newer = write_bdd(tmp_path / "bdd100k", release="2020")
    write_label(tmp_path / "bdd100k/labels/sem_seg/masks/val/7d2f7975-e0c1c5a7.png", np.full((32, 64), 5))
    with caplog.at_level(logging.WARNING):
        _, loaded = build("bdd100k", tmp_path / "bdd100k", tmp_path / "out")
    assert (native_label(loaded["validation"][0]) == 5).all()
    assert rows_by_id(loaded["train"])["0a0a0b1a-7c39d841"]["label"]["bytes"] == newer["0a0a0b1a-7c39d841"][2]
    assert "holds both the 2020 release (images/10k/) and the 2018 one" in caplog.text


def test_an_unknown_layout_names_the_folder_what_it_holds_and_what_was_expected(tmp_path):
    raw = tmp_path / "downloads"
    write_image(raw / "bdd100k_images_100k" / "train" / "a.jpg", 0)  # the detection images, not segmentation
    (raw / "readme.txt").write_text("hi")
    with pytest.raises(UnifyError) as caught:
        build("bdd100k", raw, tmp_path / "out")
    message = str(caught.value)
    assert f"bdd100k: {raw} holds neither BDD100K segmentation release" in message
    assert "it holds bdd100k_images_100k/, readme.txt" in message
    assert "expected root containing images/10k/{train,val}/" in message and "seg/labels/{train,val}/" in message

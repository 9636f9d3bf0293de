"""BDD100K builder: train-id masks (255 = the rest), train and val, test images left out."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import (build, expected_unified, native_label, rows_by_id, scattered_ids, unified_label, write_image,
                      write_label)
from unify.core.errors import BadSampleError

IDS = [0, 1, 2, 8, 10, 13, 18, 255]


@pytest.fixture
def raw(tmp_path):
    raw = tmp_path / "raw"
    written = {}
    for seed, (folder, name) in enumerate([("train", "0a0a0b1a-7c39d841"), ("train", "0a1c2d3e-00000001"),
                                           ("val", "7d2f7975-e0c1c5a7")]):
        image = write_image(raw / "images" / "10k" / folder / f"{name}.jpg", seed)
        label = scattered_ids(IDS, seed)
        data = write_label(raw / "labels" / "sem_seg" / "masks" / folder / f"{name}.png", label)
        written[name] = (image, label, data)
    write_image(raw / "images" / "10k" / "test" / "ffffffff-00000000.jpg", 9)
    return raw, written


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_round_trip(raw, tmp_path, unified):
    raw, written = raw
    report, loaded = build("bdd100k", raw, tmp_path / "out", unified_taxonomy=unified)
    assert report.num_examples == {"train": 2, "validation": 1}  # no public test masks
    for split in loaded.values():
        for name, row in rows_by_id(split).items():
            image, label, data = written[name]
            assert row["image"]["bytes"] == image and row["label"]["bytes"] == data
            np.testing.assert_array_equal(native_label(row), label)
            np.testing.assert_array_equal(unified_label(row), expected_unified(label, "bdd100k", unified))


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

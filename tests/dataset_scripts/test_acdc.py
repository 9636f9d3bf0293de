"""ACDC builder: Cityscapes ids, invalid-region masks made void, unlabeled test frames, conditions."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import (
    assert_bad_sample,
    assert_rows,
    assert_splits,
    build,
    native_label,
    rows_by_id,
    scattered_ids,
    unified_label,
    write_image,
    write_label,
)
from unify.core.mapping import get_mapping

IDS = [0, 7, 8, 11, 21, 23, 26]
FRAMES = [
    ("fog", "train", "GOPR0475", "GOPR0475_frame_000041"),
    ("night", "train", "GP010376", "GP010376_frame_000009"),
    ("night", "val", "GOPR0594", "GOPR0594_frame_000137"),
]


@pytest.fixture
def raw(tmp_path):
    raw = tmp_path / "raw"
    written = {}
    for seed, (condition, folder, seq, frame) in enumerate(FRAMES):
        image = write_image(raw / "rgb_anon" / condition / folder / seq / f"{frame}_rgb_anon.png", seed)
        label = scattered_ids(IDS, seed)
        data = write_label(raw / "gt" / condition / folder / seq / f"{frame}_gt_labelIds.png", label)
        written[f"{condition}_{frame}"] = (image, label, data)
    invalid = np.zeros((32, 64), dtype=np.uint8)
    invalid[:8, :16] = 255
    write_label(raw / "gt" / "night" / "train" / "GP010376" / "GP010376_frame_000009_gt_invGray.png", invalid)
    write_label(raw / "gt" / "fog" / "train" / "GOPR0475" / "GOPR0475_frame_000041_gt_invGray.png", np.zeros((32, 64)))
    write_image(raw / "rgb_anon" / "snow" / "test" / "GOPR0122" / "GOPR0122_frame_000500_rgb_anon.png", 8)
    write_image(raw / "rgb_anon" / "fog" / "train_ref" / "GOPR0475" / "GOPR0475_frame_000041_rgb_ref_anon.png", 9)
    return raw, written, invalid != 0


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_round_trip_with_invalid_regions(raw, tmp_path, unified):
    raw, written, invalid = raw
    built = build("acdc", raw, tmp_path / "out", unified_taxonomy=unified)
    assert_splits(
        built,
        {
            "train": ["fog_GOPR0475_frame_000041", "night_GP010376_frame_000009"],
            "validation": ["night_GOPR0594_frame_000137"],
            "test": ["snow_GOPR0122_frame_000500"],
        },
    )
    expected = dict(written)  # no invalid pixel: the label file unchanged
    image, label, _ = written["night_GP010376_frame_000009"]
    expected["night_GP010376_frame_000009"] = (image, np.where(invalid, 255, label).astype(np.uint8), None)  # 'invalid'
    expected["snow_GOPR0122_frame_000500"] = (
        raw / "rgb_anon/snow/test/GOPR0122/GOPR0122_frame_000500_rgb_anon.png",
        np.zeros((32, 64), np.uint8),
        None,
    )  # no public label: 'unlabeled'
    assert_rows(built[1], expected, "acdc", unified)
    night = rows_by_id(built[1]["train"])["night_GP010376_frame_000009"]
    assert set(np.unique(unified_label(night)[invalid])) == {255}


def test_test_frames_are_unlabeled(raw, tmp_path):
    raw, *_ = raw
    _, loaded = build("acdc", raw, tmp_path / "out")
    row = rows_by_id(loaded["test"])["snow_GOPR0122_frame_000500"]
    assert set(np.unique(native_label(row))) == {0}
    assert get_mapping("acdc", "cityscapes19").kind(0) == 2  # the teacher fills it in


def test_condition_configuration(raw, tmp_path):
    raw, *_ = raw
    report, loaded = build("acdc", raw, tmp_path / "out", config="night")
    assert report.num_examples == {"train": 1, "validation": 1}
    assert all(i.startswith("night_") for split in loaded.values() for i in split["image_id"])


def test_invalid_mask_of_another_size(raw, tmp_path):
    raw, *_ = raw
    path = raw / "gt" / "night" / "val" / "GOPR0594" / "GOPR0594_frame_000137_gt_invGray.png"
    write_label(path, np.zeros((16, 16)))
    assert_bad_sample(
        "acdc", raw, tmp_path, path, "night_GOPR0594_frame_000137", "invalid mask is 16x16 but its label", kept=3
    )

"""Cityscapes builder: fine, coarse and sequence configurations on a tiny raw folder in the real layout."""

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
from unify.core.errors import BadSampleError

FINE_IDS = [0, 1, 3, 7, 8, 11, 17, 21, 23, 24, 26, 29]


def write_fine(raw, frames, suffix="gtFine", ids=FINE_IDS):
    """frames: (split folder, city, snippet, frame) -> {stem: (image bytes, label ids, label bytes)}."""
    written = {}
    for seed, (folder, city, snippet, frame) in enumerate(frames):
        stem = f"{city}_{snippet:06d}_{frame:06d}"
        image = write_image(raw / "leftImg8bit" / folder / city / f"{stem}_leftImg8bit.png", seed)
        label = scattered_ids(ids, seed)
        data = write_label(raw / suffix / folder / city / f"{stem}_{suffix}_labelIds.png", label)
        written[stem] = (image, label, data)
    return written


@pytest.fixture
def fine_raw(tmp_path):
    raw = tmp_path / "raw"
    frames = [
        ("train", "aachen", 0, 19),
        ("train", "aachen", 1, 19),
        ("val", "lindau", 0, 19),
        ("test", "berlin", 0, 19),
    ]
    return raw, write_fine(raw, frames)


@pytest.mark.parametrize("taxonomy", ["cityscapes19", "mapillary63"])
def test_fine_round_trip(fine_raw, tmp_path, taxonomy):
    raw, written = fine_raw
    built = build("cityscapes", raw, tmp_path / "out", config="fine", unified_taxonomy=taxonomy)
    assert_splits(
        built,
        {
            "train": ["aachen_000000_000019", "aachen_000001_000019"],
            "validation": ["lindau_000000_000019"],
            "test": ["berlin_000000_000019"],
        },
    )
    assert_rows(built[1], written, "cityscapes", taxonomy)  # the authors' label PNGs, unchanged
    assert {name for split in built[1].values() for name in split["dataset"]} == {"cityscapes"}


def test_fine_unified_view_follows_train_ids(fine_raw, tmp_path):
    raw, written = fine_raw
    _, loaded = build("cityscapes", raw, tmp_path / "out", config="fine")
    row = rows_by_id(loaded["train"])["aachen_000000_000019"]
    native, unified = native_label(row), unified_label(row)
    assert set(np.unique(unified[native == 7])) == {0}  # road -> train id 0
    assert set(np.unique(unified[native == 26])) == {13}  # car -> 13
    assert set(np.unique(unified[np.isin(native, [0, 1, 3, 29])])) == {255}  # unlabeled, ego, roi, caravan


def test_coarse_reads_train_extra(tmp_path):
    raw = tmp_path / "raw"
    written = write_fine(
        raw, [("train", "aachen", 0, 19), ("train_extra", "augsburg", 0, 19)], suffix="gtCoarse", ids=[0, 7, 21, 26]
    )
    report, loaded = build("cityscapes", raw, tmp_path / "out", config="coarse")
    assert report.num_examples == {"train": 1, "train_extra": 1}
    row = rows_by_id(loaded["train_extra"])["augsburg_000000_000019"]
    assert row["label"]["bytes"] == written["augsburg_000000_000019"][2]


def test_sequence_takes_camera_void_from_the_snippets_fine_frame(tmp_path):
    raw = tmp_path / "raw"
    fine = write_fine(raw, [("train", "aachen", 0, 19)])
    for seed, (snippet, frame) in enumerate([(0, 18), (0, 19), (5, 3)]):
        name = f"aachen_{snippet:06d}_{frame:06d}_leftImg8bit.png"
        write_image(raw / "leftImg8bit_sequence" / "train" / "aachen" / name, seed)
    report, loaded = build("cityscapes", raw, tmp_path / "out", config="sequence")
    assert report.num_examples == {"train": 3}
    rows = rows_by_id(loaded["train"])
    fine_label = fine["aachen_000000_000019"][1]
    camera_void = np.isin(fine_label, [1, 2, 3])
    for frame in ("aachen_000000_000018", "aachen_000000_000019"):
        label = native_label(rows[frame])
        np.testing.assert_array_equal(label[camera_void], fine_label[camera_void])
        assert set(np.unique(label[~camera_void])) == {0}  # unlabeled: the teacher fills it in
    assert set(np.unique(native_label(rows["aachen_000005_000003"]))) == {0}  # no fine frame in that snippet
    assert set(np.unique(unified_label(rows["aachen_000005_000003"]))) == {255}


def test_missing_label_names_the_file_and_skip_bad_lists_it(fine_raw, tmp_path):
    raw, _ = fine_raw
    missing = raw / "gtFine" / "train" / "aachen" / "aachen_000001_000019_gtFine_labelIds.png"
    missing.unlink()
    image = raw / "leftImg8bit" / "train" / "aachen" / "aachen_000001_000019_leftImg8bit.png"
    assert_bad_sample(
        "cityscapes",
        raw,
        tmp_path,
        image,
        "aachen_000001_000019",
        f"no label file (expected {missing})",
        kept=3,
        config="fine",
    )


def test_label_of_another_size(fine_raw, tmp_path):
    raw, _ = fine_raw
    path = raw / "gtFine" / "val" / "lindau" / "lindau_000000_000019_gtFine_labelIds.png"
    write_label(path, np.zeros((16, 64), dtype=np.uint8))
    with pytest.raises(BadSampleError, match="label is 64x16 but its image .* is 64x32") as caught:
        build("cityscapes", raw, tmp_path / "out", config="fine")
    assert caught.value.path == str(path)


def test_id_outside_the_table(fine_raw, tmp_path):
    raw, _ = fine_raw
    path = raw / "gtFine" / "train" / "aachen" / "aachen_000000_000019_gtFine_labelIds.png"
    label = np.full((32, 64), 7, dtype=np.uint8)
    label[0, :3] = [34, 99, 7]
    write_label(path, label)
    assert_bad_sample(
        "cityscapes",
        raw,
        tmp_path,
        path,
        "aachen_000000_000019",
        "label ids [34, 99] are not in the cityscapes taxonomy",
        kept=3,
        config="fine",
    )


@pytest.mark.parametrize("kind", ["image", "label"])
def test_truncated_file(fine_raw, tmp_path, kind):
    raw, _ = fine_raw
    stem = "lindau_000000_000019"
    path = (
        raw / "leftImg8bit" / "val" / "lindau" / f"{stem}_leftImg8bit.png"
        if kind == "image"
        else raw / "gtFine" / "val" / "lindau" / f"{stem}_gtFine_labelIds.png"
    )
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(BadSampleError) as caught:
        build("cityscapes", raw, tmp_path / "out", config="fine")
    assert caught.value.path == str(path)
    report, loaded = build("cityscapes", raw, tmp_path / "out", config="fine", skip_bad=True)
    assert "validation" not in report.num_examples and "validation" not in loaded
    assert report.skipped[0].file == path.relative_to(raw).as_posix()


def test_rgb_label_is_refused(fine_raw, tmp_path):
    raw, _ = fine_raw
    path = raw / "gtFine" / "train" / "aachen" / "aachen_000000_000019_gtFine_labelIds.png"
    write_label(path, np.zeros((32, 64, 3), np.uint8))
    with pytest.raises(BadSampleError, match="mode RGB"):
        build("cityscapes", raw, tmp_path / "out", config="fine")

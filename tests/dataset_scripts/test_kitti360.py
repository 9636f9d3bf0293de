"""KITTI-360: data_2d_raw/ images, data_2d_semantics/train/ id labels and the official split lists."""

from pathlib import Path

import pytest

from fixtures import (
    assert_bad_sample,
    assert_rows,
    assert_splits,
    build,
    native_label,
    numbered,
    rows_by_id,
    scattered_ids,
    truncate,
    unified_id,
    unified_label,
    write_image,
    write_label,
    write_pair,
)
from unify.core.errors import DataFileError, UnifyError
from unify.core.taxonomy import get_taxonomy

IDS = [0, 7, 11, 23, 26, 34, 38, 43]  # unlabeled, road, building, sky, car, garage, lamp, unknown vehicle
SPLITS = {
    "train": [
        ("2013_05_28_drive_0000_sync", "0000000250"),
        ("2013_05_28_drive_0000_sync", "0000000251"),
        ("2013_05_28_drive_0003_sync", "0000000012"),
    ],
    "validation": [("2013_05_28_drive_0010_sync", "0000000004")],
}
LISTS = {"train": "2013_05_28_drive_train_frames.txt", "validation": "2013_05_28_drive_val_frames.txt"}


def _image(seq, frame) -> str:
    return f"data_2d_raw/{seq}/image_00/data_rect/{frame}.png"


def _label(seq, frame) -> str:
    return f"data_2d_semantics/train/{seq}/image_00/semantic/{frame}.png"


def _write_list(root: Path, split: str, lines: list[str]) -> Path:
    path = root / "data_2d_semantics" / "train" / LISTS[split]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.fixture
def raw(tmp_path) -> Path:
    root = tmp_path / "kitti360"
    for seed, _, (seq, frame) in numbered(SPLITS):
        write_pair(root / _image(seq, frame), root / _label(seq, frame), seed, scattered_ids(IDS, seed))
    for split, frames in SPLITS.items():
        _write_list(root, split, [f"{_image(*f)} {_label(*f)}" for f in frames])
    write_image(root / _image("2013_05_28_drive_0000_sync", "0000000999"), 99)  # a raw frame in no split list
    return root


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_split_lists_decide_the_splits(raw, tmp_path, unified):
    built = build("kitti360", raw, tmp_path / "out", unified_taxonomy=unified)
    assert_splits(built, {split: [f"{seq}_{frame}" for seq, frame in frames] for split, frames in SPLITS.items()})
    written = {}  # the grey label files are stored verbatim
    for seed, _, (seq, frame) in numbered(SPLITS):
        label = (raw / _label(seq, frame)).read_bytes()
        written[f"{seq}_{frame}"] = (raw / _image(seq, frame), scattered_ids(IDS, seed), label)
    assert_rows(built[1], written, "kitti360", unified)


def test_unified_view_follows_the_official_train_ids(raw, tmp_path):
    _, loaded = build("kitti360", raw, tmp_path / "out")
    row = rows_by_id(loaded["validation"])["2013_05_28_drive_0010_sync_0000000004"]
    native, unified = native_label(row), unified_label(row)
    assert (unified[native == 34] == unified_id("cityscapes19", "building")).all()  # garage
    assert (unified[native == 26] == unified_id("cityscapes19", "car")).all()
    for void_or_several in (0, 38, 43):  # unlabeled (filled in), lamp (void), unknown vehicle (several)
        assert (unified[native == void_or_several] == 255).all()


def test_first_34_ids_are_cityscapes():
    kitti360, cityscapes = get_taxonomy("kitti360"), get_taxonomy("cityscapes")
    assert [(c.id, c.name, c.color) for c in kitti360.classes if c.id < 34] == [
        (c.id, c.name, c.color) for c in cityscapes.classes
    ]


def test_missing_split_list_is_named(raw, tmp_path):
    (raw / "data_2d_semantics" / "train" / LISTS["validation"]).unlink()
    with pytest.raises(UnifyError, match=LISTS["validation"]):
        build("kitti360", raw, tmp_path / "out")


def test_malformed_split_list_lines_are_listed(raw, tmp_path):
    frames = SPLITS["validation"]
    path = _write_list(
        raw,
        "validation",
        [
            f"{_image(*frames[0])} {_label(*frames[0])}",
            _image(*frames[0]),
            f"{_image(*frames[0])} {_label(*frames[0])}",
        ],
    )
    with pytest.raises(DataFileError) as caught:
        build("kitti360", raw, tmp_path / "out")
    assert caught.value.path == str(path)
    assert caught.value.problems[0].startswith("line 2: expected '<image path> <label path>'")
    assert caught.value.problems[1].startswith("line 3:") and "already listed on line 1" in caught.value.problems[1]


def test_missing_label(raw, tmp_path):
    seq, frame = SPLITS["train"][1]
    (raw / _label(seq, frame)).unlink()
    assert_bad_sample(
        "kitti360",
        raw,
        tmp_path,
        raw / _image(seq, frame),
        f"{seq}_{frame}",
        f"no label file (expected {raw / _label(seq, frame)})",
        kept=3,
    )


def test_label_of_another_size(raw, tmp_path):
    seq, frame = SPLITS["validation"][0]
    write_label(raw / _label(seq, frame), scattered_ids(IDS, 0, size=(32, 65)))
    assert_bad_sample("kitti360", raw, tmp_path, raw / _label(seq, frame), f"{seq}_{frame}", "label is 65x32", kept=3)


def test_id_outside_the_table(raw, tmp_path):
    seq, frame = SPLITS["train"][0]
    write_label(raw / _label(seq, frame), scattered_ids([7, 45, 200], 0))
    assert_bad_sample(
        "kitti360", raw, tmp_path, raw / _label(seq, frame), f"{seq}_{frame}", "label ids [45, 200]", kept=3
    )


def test_truncated_label(raw, tmp_path):
    seq, frame = SPLITS["train"][2]
    truncate(raw / _label(seq, frame))
    assert_bad_sample(
        "kitti360", raw, tmp_path, raw / _label(seq, frame), f"{seq}_{frame}", "unreadable label image", kept=3
    )

"""WildScenes builder: indexLabel PNGs listed by the official 2D split CSVs."""

from __future__ import annotations

import pytest

from fixtures import (
    assert_bad_sample,
    assert_native_labels,
    assert_splits,
    build,
    built_once,
    rows_by_id,
    stripes,
    unified_at,
    unified_ids,
    write_label,
    write_pair,
)
from unify.core.errors import DataFileError, UnifyError

UNLABELLED, DIRT, MUD, TRUNK, FOLIAGE, VEHICLE, SKY, GRASS = 0, 2, 3, 7, 8, 13, 17, 18
FRAMES = {  # id -> (sequence, split file, native ids)
    "1623370408-092005506": ("V-01", "train", [DIRT, TRUNK, SKY]),
    "1623370411-285008044": ("V-01", "train", [FOLIAGE, UNLABELLED]),
    "1624326169-277052847": ("K-01", "val", [MUD, GRASS]),
    "1624327460-042212792": ("K-01", "test", [VEHICLE, SKY]),
}


def write_wildscenes(root, top="WildScenes2d", splits_folder="opt2d"):
    lines = {"train": [], "val": [], "test": []}
    for seed, (frame, (sequence, split, ids)) in enumerate(sorted(FRAMES.items())):
        folder = root / top / sequence
        write_pair(folder / "image" / f"{frame}.png", folder / "indexLabel" / f"{frame}.png", seed, stripes(ids))
        lines[split].append(
            f"{frame},/WildScenes2d/{sequence}/image/{frame}.png,/WildScenes2d/{sequence}/indexLabel/{frame}.png"
        )
    for split, rows in lines.items():
        (root / splits_folder).mkdir(parents=True, exist_ok=True)
        (root / splits_folder / f"{split}.csv").write_text("\n".join(["id,im_path,label_path", *rows, ""]))
    return root


built = built_once("wildscenes", write_wildscenes)


SPLITS = {
    "train": ["1623370408-092005506", "1623370411-285008044"],
    "validation": ["1624326169-277052847"],
    "test": ["1624327460-042212792"],
}


def test_the_split_files_decide_the_splits(built):
    assert_splits(built, SPLITS)


def test_index_labels_round_trip(built):
    _, dataset = built
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[image_id][2]))


def test_unified_view(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["1623370408-092005506"]
    assert unified_at(row, [0, 30, 60]) == unified_ids("offroad34", "rough drivable ground", "tree", "sky")


def test_the_top_folders_case_may_differ_from_the_split_files(tmp_path):
    raw = write_wildscenes(tmp_path / "raw", top="Wildscenes2d", splits_folder=".")
    report, dataset = build("wildscenes", raw, tmp_path / "out")
    assert_splits((report, dataset), SPLITS)
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[image_id][2]))


def test_an_index_out_of_range_is_a_bad_sample(tmp_path):
    raw = write_wildscenes(tmp_path / "raw")
    bad = raw / "WildScenes2d/V-01/indexLabel/1623370411-285008044.png"
    write_label(bad, stripes([FOLIAGE, 19]))
    assert_bad_sample("wildscenes", raw, tmp_path, bad, "1623370411-285008044", "label ids [19]", kept=3)


def test_bad_split_files_and_layouts_are_refused(tmp_path):
    raw = write_wildscenes(tmp_path / "raw")
    (raw / "opt2d" / "val.csv").write_text("name,image\nx,y\n")
    with pytest.raises(DataFileError, match=r"(?s)val.csv.*expected the columns id,im_path,label_path"):
        build("wildscenes", raw, tmp_path / "out")
    empty = write_wildscenes(tmp_path / "nothing")
    (empty / "WildScenes2d").rename(empty / "elsewhere")
    with pytest.raises(UnifyError, match="has no WildScenes2d folder"):
        build("wildscenes", empty, tmp_path / "out")

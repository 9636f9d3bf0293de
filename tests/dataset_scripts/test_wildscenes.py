"""WildScenes builder: indexLabel PNGs listed by the official 2D split CSVs."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import (assert_bad_sample, build, native_label, rows_by_id, stripes, unified_id, unified_label,
                      write_image, write_label)
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
        write_image(root / top / sequence / "image" / f"{frame}.png", seed)
        write_label(root / top / sequence / "indexLabel" / f"{frame}.png", stripes(ids))
        lines[split].append(f"{frame},/WildScenes2d/{sequence}/image/{frame}.png,"
                            f"/WildScenes2d/{sequence}/indexLabel/{frame}.png")
    for split, rows in lines.items():
        (root / splits_folder).mkdir(parents=True, exist_ok=True)
        (root / splits_folder / f"{split}.csv").write_text("\n".join(["id,im_path,label_path", *rows, ""]))
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wildscenes")
    return build("wildscenes", write_wildscenes(tmp / "raw"), tmp / "out")


def test_the_split_files_decide_the_splits(built):
    report, dataset = built
    assert report.num_examples == {"train": 2, "validation": 1, "test": 1}
    assert dataset["test"]["image_id"] == ["1624327460-042212792"]


def test_index_labels_round_trip(built):
    _, dataset = built
    for split in dataset:
        for image_id, row in rows_by_id(dataset[split]).items():
            np.testing.assert_array_equal(native_label(row), stripes(FRAMES[image_id][2]))


def test_unified_view(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["1623370408-092005506"]
    expected = [unified_id("offroad34", name) for name in ("rough drivable ground", "tree", "sky")]
    assert unified_label(row)[0, [0, 30, 60]].tolist() == expected


def test_the_top_folders_case_may_differ_from_the_split_files(tmp_path):
    raw = write_wildscenes(tmp_path / "raw", top="Wildscenes2d", splits_folder=".")
    report, _ = build("wildscenes", raw, tmp_path / "out")
    assert report.num_examples == {"train": 2, "validation": 1, "test": 1}


def test_an_index_out_of_range_is_a_bad_sample(tmp_path):
    raw = write_wildscenes(tmp_path / "raw")
    bad = raw / "WildScenes2d/V-01/indexLabel/1623370411-285008044.png"
    write_label(bad, stripes([FOLIAGE, 19]))
    assert_bad_sample("wildscenes", raw, tmp_path, bad, "1623370411-285008044", "label ids [19]", kept=3)


def test_bad_split_files_and_layouts_are_refused(tmp_path):
    with pytest.raises(UnifyError, match="no split file train.csv"):
        build("wildscenes", tmp_path, tmp_path / "out")
    raw = write_wildscenes(tmp_path / "raw")
    (raw / "opt2d" / "val.csv").write_text("name,image\nx,y\n")
    with pytest.raises(DataFileError, match=r"(?s)val.csv.*expected the columns id,im_path,label_path"):
        build("wildscenes", raw, tmp_path / "out")
    empty = write_wildscenes(tmp_path / "nothing")
    (empty / "WildScenes2d").rename(empty / "elsewhere")
    with pytest.raises(UnifyError, match="has no WildScenes2d folder"):
        build("wildscenes", empty, tmp_path / "out")

"""RELLIS-3D builder: official split lists, non-contiguous label ids, bad ids and lines."""

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
from unify.core.errors import UnifyError
from unify.core.taxonomy import get_taxonomy

VOID, DIRT, GRASS, SKY, PERSON, CONCRETE, RUBBLE = 0, 1, 3, 7, 17, 23, 34
FRAMES = {  # (sequence, frame) -> (list, native ids)
    ("00000", "frame000000-1581624652_750"): ("train", [DIRT, SKY, PERSON, VOID]),
    ("00000", "frame000001-1581624652_850"): ("train", [GRASS, CONCRETE]),
    ("00001", "frame000104-1581797147_450"): ("val", [RUBBLE, SKY]),
    ("00002", "frame000010-1581791678_408"): ("test", [PERSON, GRASS]),
}


def write_rellis(root, lists_beside=True, with_label_column=True):
    """The sequences as the zips unpack (under Rellis-3D/) and the split lists of Rellis_3D_image_split."""
    lines = {"train": [], "val": [], "test": []}
    for seed, ((sequence, frame), (split, ids)) in enumerate(sorted(FRAMES.items())):
        image = f"{sequence}/pylon_camera_node/{frame}.jpg"
        label = f"{sequence}/pylon_camera_node_label_id/{frame}.png"
        write_pair(root / "Rellis-3D" / image, root / "Rellis-3D" / label, seed, stripes(ids))
        lines[split].append(f"{image} {label}" if with_label_column else image)
    for split, entries in lines.items():
        folder = root if lists_beside else root / "Rellis-3D"
        (folder / f"{split}.lst").write_text("\n".join(entries) + "\n")
    return root


built = built_once("rellis3d", write_rellis)


SPLITS = {
    "train": ["00000_frame000000-1581624652_750", "00000_frame000001-1581624652_850"],
    "validation": ["00001_frame000104-1581797147_450"],
    "test": ["00002_frame000010-1581791678_408"],
}


def test_the_split_lists_decide_the_splits(built):
    assert_splits(built, SPLITS)


def test_non_contiguous_ids_round_trip(built):
    _, dataset = built
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[tuple(image_id.split("_", 1))][1]))
    assert get_taxonomy("rellis3d").max_id == RUBBLE  # the highest id, beyond the 20 classes' count


def test_unified_view(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["00000_frame000000-1581624652_750"]
    assert unified_at(row, [0, 20, 40, 60]) == unified_ids("offroad34", "rough drivable ground", "sky", "person", None)
    rubble = rows_by_id(dataset["validation"])["00001_frame000104-1581797147_450"]
    assert unified_at(rubble, [0]) == [255]  # rock or rough ground: the teacher's choice


def test_lists_with_image_paths_only_and_inside_the_sequence_folder(tmp_path):
    raw = write_rellis(tmp_path / "raw", lists_beside=False, with_label_column=False)
    report, dataset = build("rellis3d", raw, tmp_path / "out")
    assert_splits((report, dataset), SPLITS)
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[tuple(image_id.split("_", 1))][1]))


def test_an_id_outside_the_ontology_is_a_bad_sample(tmp_path):
    raw = write_rellis(tmp_path / "raw")
    bad = raw / "Rellis-3D/00000/pylon_camera_node_label_id/frame000001-1581624652_850.png"
    write_label(bad, stripes([GRASS, 2]))  # 2 is one of the gaps in RELLIS ids
    assert_bad_sample("rellis3d", raw, tmp_path, bad, "00000_frame000001-1581624652_850", "label ids [2]", kept=3)


def test_foreign_lines_are_refused(tmp_path):
    raw = write_rellis(tmp_path / "raw")
    (raw / "val.lst").write_text("images/a.jpg labels/a.png\n")
    with pytest.raises(UnifyError, match="val.lst: 'images/a.jpg labels/a.png' is not a RELLIS-3D split line"):
        build("rellis3d", raw, tmp_path / "out")

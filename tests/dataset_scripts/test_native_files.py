"""What the builders share for a dataset's own files: split names, folders found one level up or down, class tables
checked against the built-in ones, colour-coded labels. A folder a builder cannot read is named with what it holds
and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_scripts import builder_registry, get_builder_class
from dataset_scripts.base import folder_contents
from dataset_scripts.native_files import (
    check_class_table,
    color_table,
    first_folder_with,
    read_color_coded,
    split_names,
)
from fixtures import write_label
from unify.build import build_dataset
from unify.core.errors import BadSampleError, DataFileError, UnifyError
from unify.core.taxonomy import ClassInfo, Taxonomy

ROAD, SKY, CAR = (
    ClassInfo(0, "road", (128, 64, 128), False),
    ClassInfo(7, "sky", (70, 130, 180), False),
    ClassInfo(9, "car", (0, 0, 142), False),
)
THREE = Taxonomy("three", (ROAD, SKY, CAR))
THREE_CSV = "unify/taxonomies/three.csv"


# -- split names ------------------------------------------------------------------------------------------
def test_split_names_follow_the_folders_in_their_order():
    assert list(split_names(("valid", "train", "testing")).items()) == [
        ("valid", "validation"),
        ("train", "train"),
        ("testing", "test"),
    ]
    assert split_names(("train", "train_extra"), {"train_extra": "train_extra"}) == {
        "train": "train",
        "train_extra": "train_extra",
    }


def test_an_unknown_split_folder_is_named():
    with pytest.raises(UnifyError, match=r"unknown split folder\(s\) 'train_extra', 'dev'; known: train, training"):
        split_names(("train", "train_extra", "dev"))


# -- folders found one level up or down ---------------------------------------------------------------------
def test_first_folder_with_every_name_wins(tmp_path):
    (tmp_path / "inner" / "images").mkdir(parents=True)
    (tmp_path / "inner" / "annotations").write_text("a file, not the folder")
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    (tmp_path / "train.lst").write_text("")
    assert first_folder_with((tmp_path / "inner", tmp_path), "images/", "annotations/") == tmp_path
    assert first_folder_with((tmp_path / "missing", tmp_path / "inner"), "images/") == tmp_path / "inner"
    assert first_folder_with((tmp_path / "missing", tmp_path)) == tmp_path
    assert first_folder_with((tmp_path / "inner", tmp_path), "images") is None  # a folder is no file
    assert first_folder_with((tmp_path,), "train.lst/") is None  # nor a file a folder


# -- class tables shipped with the data ----------------------------------------------------------------------
def test_a_class_table_that_agrees_passes():
    check_class_table("classes.csv", [(9, "car"), (0, "road"), (7, "sky")], THREE)
    check_class_table(
        "classes.json", [("#00008e", "car"), ("#804080", "road"), ("#4682b4", "sky")], THREE, by_color=True
    )


def test_every_difference_of_a_class_table_is_listed_at_once():
    with pytest.raises(DataFileError) as caught:
        check_class_table(
            "classes.csv",
            [(0, "road"), (0, "street"), (7, "heaven"), (11, "bus")],
            THREE,
            problems=["line 6: label_key must be an integer, got 'x'"],
        )
    assert caught.value.path == "classes.csv"
    assert caught.value.problems == [
        "line 6: label_key must be an integer, got 'x'",
        f"the file lists 4 classes, {THREE_CSV} has 3",
        "id 0 is listed 2 times",
        f"id 0 is 'street' in the file but 'road' in {THREE_CSV}",
        f"id 7 is 'heaven' in the file but 'sky' in {THREE_CSV}",
        f"id 9 ('car') of {THREE_CSV} is missing from the file",
        f"id 11 ('bus') is not in {THREE_CSV}",
        f"if the dataset changed its classes, {THREE_CSV} and the mappings from three need updating",
    ]


def test_a_colour_keyed_table_is_compared_colour_for_colour():
    with pytest.raises(DataFileError) as caught:
        check_class_table(
            "class_list.json", [("#804080", "road"), ("#4682b4", "car"), ("#123456", "sky")], THREE, by_color=True
        )
    assert caught.value.problems[:-1] == [
        f"#00008e ('car') of {THREE_CSV} is missing from the file",
        f"#123456 ('sky') is not in {THREE_CSV}",
        f"#4682b4 is 'car' in the file but 'sky' in {THREE_CSV}",
    ]


def test_colours_a_table_keyed_by_id_gives_are_compared():
    rows = [(0, "road"), (7, "sky"), (9, "car")]
    check_class_table("config.json", rows, THREE, colors={0: [128, 64, 128], 7: (70, 130, 180), 9: (0, 0, 142)})
    with pytest.raises(DataFileError) as caught:
        check_class_table("config.json", rows, THREE, colors={0: [128, 64, 128], 7: [1, 2, 3], 9: ()})
    assert caught.value.problems[:-1] == [
        f"id 7 ('sky') has the colour [1, 2, 3] in the file but [70, 130, 180] in {THREE_CSV}",
        f"id 9 ('car') has the colour [] in the file but [0, 0, 142] in {THREE_CSV}",
    ]


# -- colour-coded labels -------------------------------------------------------------------------------------
def test_colour_table_maps_each_colour_to_its_id():
    assert color_table(THREE) == {(128, 64, 128): 0, (70, 130, 180): 7, (0, 0, 142): 9}


def test_colour_coded_labels_decode_by_colour_whatever_the_file_mode(tmp_path):
    ids = np.array([[0, 7, 9], [9, 9, 0]], dtype=np.uint8)
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    for c in THREE.classes:
        rgb[ids == c.id] = c.color
    write_label(tmp_path / "rgb.png", rgb)
    palette = [v for c in (CAR, ROAD, SKY) for v in c.color]  # index 0 is car's colour, 1 road's, 2 sky's
    write_label(tmp_path / "palette.png", np.array([[1, 2, 0], [0, 0, 1]]), palette=palette)
    for name in ("rgb.png", "palette.png"):
        decoded = read_color_coded(tmp_path / name, color_table(THREE))
        assert decoded.dtype == np.uint8
        np.testing.assert_array_equal(decoded, ids)


def test_a_colour_outside_the_table_is_a_bad_sample_unless_there_is_a_default(tmp_path):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[:] = ROAD.color
    rgb[0, :2] = (1, 2, 3)
    write_label(tmp_path / "mask.png", rgb)
    with pytest.raises(BadSampleError) as caught:
        read_color_coded(tmp_path / "mask.png", color_table(THREE))
    assert caught.value.path == str(tmp_path / "mask.png")
    assert caught.value.reason == "1 colour(s) not in the colour table: #010203 (2 px)"
    np.testing.assert_array_equal(
        read_color_coded(tmp_path / "mask.png", color_table(THREE), default=7), [[7, 7, 0], [0, 0, 0]]
    )


def test_a_reused_colour_is_refused_by_name():
    classes = (
        ClassInfo(0, "road", (128, 64, 128), False),
        ClassInfo(1, "lane", (128, 64, 128), False),
        ClassInfo(2, "sky", (70, 130, 180), False),
    )
    with pytest.raises(UnifyError, match=r"taxonomy 'twins' reuses colours \(#804080\)"):
        color_table(Taxonomy("twins", classes))


# -- layout errors: the folder, what it holds, what was expected ----------------------------------------
NOTHING_FOUND = "holds no sample where this builder looks"
PROBLEM_WITH_A_FOLDER_OF_NOTHING = {
    "a2d2": NOTHING_FOUND,
    "acdc": NOTHING_FOUND,
    "apolloscape": NOTHING_FOUND,
    "bdd100k": "holds neither BDD100K segmentation release",
    "camvid": NOTHING_FOUND,
    "cityscapes": NOTHING_FOUND,
    "freiburg_forest": "is not a layout this builder recognises (missing train/rgb, train/GT_color)",
    "goose": "is not a layout this builder recognises (missing images, labels)",
    "idd": NOTHING_FOUND,
    "kitti": NOTHING_FOUND,
    "kitti360": "is not a layout this builder recognises (missing data_2d_semantics/train/2013_05_28_drive_train_"
    "frames.txt, data_2d_semantics/train/2013_05_28_drive_val_frames.txt)",
    "mapillary_vistas": NOTHING_FOUND,
    "rellis3d": "has no split list (train.lst, val.lst, test.lst; they come with Rellis_3D_image_split)",
    "rugd": "is not a layout this builder recognises (missing RUGD_frames-with-annotations, RUGD_annotations)",
    "tas500": "is not a layout this builder recognises (missing train, train_labels_ids)",
    "wilddash2": "is not a layout this builder recognises (missing images)",
    "wildscenes": "has no split file train.csv (looked in ., opt2d, data/splits/opt2d)",
    "ycor": "is not a layout this builder recognises (missing train, valid)",
}
"""What each builder says of a folder holding nothing it reads: the first thing it looks for, or that it found none."""


def test_every_builder_with_files_is_in_the_table():
    assert set(PROBLEM_WITH_A_FOLDER_OF_NOTHING) == set(builder_registry()) - {"synthetic_driving"}


@pytest.mark.parametrize("name", sorted(PROBLEM_WITH_A_FOLDER_OF_NOTHING))
def test_every_builder_names_the_folder_what_it_holds_and_what_it_expects(name, tmp_path):
    raw = tmp_path / "raw"
    (raw / "misc").mkdir(parents=True)
    (raw / "notes.txt").write_text("not a dataset")
    builder = get_builder_class(name)
    with pytest.raises(UnifyError) as caught:
        build_dataset(name, tmp_path / "out", data_dir=raw)
    assert str(caught.value) == (
        f"{name}: {raw} {PROBLEM_WITH_A_FOLDER_OF_NOTHING[name]}; it holds misc/, notes.txt; "
        f"expected {builder.LAYOUT_HELP}. Download it from {builder.HOMEPAGE}"
    )


def test_a_data_dir_that_is_no_folder_is_named(tmp_path):
    with pytest.raises(UnifyError, match=f"cityscapes: {tmp_path / 'nowhere'} is not a folder; it does not exist"):
        build_dataset("cityscapes", tmp_path / "out", data_dir=tmp_path / "nowhere")


def test_folder_contents_lists_the_first_entries(tmp_path):
    assert folder_contents(tmp_path) == "it is empty"
    for i in range(14):
        (tmp_path / f"f{i:02d}").write_text("")
    (tmp_path / "a").mkdir()
    assert folder_contents(tmp_path, most=3) == "it holds a/, f00, f01 and 12 more"

"""IDD builder: level-3 PNGs from the preparation script, or polygons drawn as that script does; IDD-Lite's
level-1 PNGs as the `lite` configuration, with mappings that follow the level-3 ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures import (
    assert_rows,
    assert_splits,
    build,
    native_label,
    rows_by_id,
    scattered_ids,
    write_image,
    write_label,
)
from unify.core.errors import BadSampleError, UnifyError
from unify.core.mapping import get_mapping
from unify.core.taxonomy import get_taxonomy

POLYGONS = [  # in file order: later ones cover earlier ones
    {"label": "road", "polygon": [[0, 16], [63, 16], [63, 31], [0, 31]], "deleted": 0},
    {"label": "sky", "polygon": [[0, 0], [63, 0], [63, 15], [0, 15]], "deleted": 0},
    {"label": "cargroup", "polygon": [[10, 18], [30, 18], [30, 28], [10, 28]], "deleted": 0},
    {"label": "license plate", "polygon": [[18, 25], [22, 25], [22, 27], [18, 27]], "deleted": 0},
    {"label": "animal", "polygon": [[40, 20], [44, 20], [44, 24], [40, 24]], "deleted": 0},
    {"label": "bus", "polygon": [[0, 0], [63, 0], [63, 31], [0, 31]], "deleted": 1},
]


def write_polygons(path, objects, width=64, height=32):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"imgHeight": height, "imgWidth": width, "objects": objects}))


@pytest.fixture
def raw(tmp_path):
    raw = tmp_path / "raw"
    images = {}
    for seed, (folder, seq, frame) in enumerate(
        [("train", "0", "000123"), ("train", "201", "000123"), ("val", "3", "000045")]
    ):
        image = raw / "leftImg8bit" / folder / seq / f"{frame}_leftImg8bit.png"
        images[f"{folder}_{seq}_{frame}"] = write_image(image, seed)
        write_polygons(raw / "gtFine" / folder / seq / f"{frame}_gtFine_polygons.json", POLYGONS)
    # one frame already converted by the preparation script
    prepared = scattered_ids([0, 4, 9, 20, 25, 255], 7)
    data = write_label(raw / "gtFine" / "train" / "201" / "000123_gtFine_labellevel3Ids.png", prepared)
    return raw, images, prepared, data


def drawn_level3():
    expected = np.full((32, 64), 255, dtype=np.uint8)
    expected[16:32, :] = 0  # road
    expected[0:16, :] = 25  # sky
    expected[18:29, 10:31] = 9  # cargroup -> car
    expected[25:28, 18:23] = 255  # license plate: level-3 void, drawn over the car
    expected[20:25, 40:45] = 4  # animal -> level-3 'person'
    return expected


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_round_trip(raw, tmp_path, unified):
    raw, images, prepared, data = raw
    built = build("idd", raw, tmp_path / "out", unified_taxonomy=unified)
    # sequence folders keep equal frame names apart
    assert_splits(built, {"train": ["train_0_000123", "train_201_000123"], "validation": ["val_3_000045"]})
    assert_rows(
        built[1],
        {
            "train_0_000123": (images["train_0_000123"], drawn_level3(), None),
            "train_201_000123": (images["train_201_000123"], prepared, data),  # the prepared PNG
            "val_3_000045": (images["val_3_000045"], drawn_level3(), None),
        },
        "idd",
        unified,
    )


def test_polygons_match_pil_drawing_order(raw, tmp_path):
    raw, *_ = raw
    _, loaded = build("idd", raw, tmp_path / "out")
    label = native_label(rows_by_id(loaded["validation"])["val_3_000045"])
    np.testing.assert_array_equal(label, drawn_level3())
    assert not (label == 11).any()  # the deleted bus is not drawn


def test_unknown_polygon_label_is_named(raw, tmp_path):
    raw, *_ = raw
    path = raw / "gtFine" / "val" / "3" / "000045_gtFine_polygons.json"
    write_polygons(path, POLYGONS[:2] + [{"label": "spaceship", "polygon": [[0, 0], [5, 0], [5, 5]]}])
    with pytest.raises(BadSampleError, match="object 2 has label 'spaceship'") as caught:
        build("idd", raw, tmp_path / "out")
    assert caught.value.path == str(path)


def test_bad_samples_are_skipped(raw, tmp_path):
    raw, *_ = raw
    (raw / "gtFine" / "val" / "3" / "000045_gtFine_polygons.json").write_text('{"imgHeight": 32, "objec')
    write_polygons(raw / "gtFine" / "train" / "0" / "000123_gtFine_polygons.json", POLYGONS, height=40)
    report, loaded = build("idd", raw, tmp_path / "out", skip_bad=True)
    assert report.num_examples == {"train": 1}
    reasons = {s.image_id: s.reason for s in report.skipped}
    assert "unreadable polygon file" in reasons["val_3_000045"]
    assert "label is 64x40" in reasons["train_0_000123"]


# -- IDD-Lite ------------------------------------------------------------------------------------------
LITE_FRAMES = [("train", "0", "024541"), ("train", "1", "000017"), ("val", "119", "000353")]
LEVEL1_OF_LEVEL3 = {
    0: 0,
    1: 0,
    2: 1,
    3: 1,
    4: 2,
    5: 2,
    6: 3,
    7: 3,
    8: 3,
    9: 3,
    10: 3,
    11: 3,
    12: 3,
    13: 4,
    14: 4,
    15: 4,
    16: 4,
    17: 4,
    18: 4,
    19: 4,
    20: 4,
    21: 4,
    22: 5,
    23: 5,
    24: 5,
    25: 6,
    255: 255,
}
"""Level-3 id -> level-1 id: each IDD label's level3Id and level1Id columns in AutoNUE's helpers/anue_labels.py."""


@pytest.fixture
def lite(tmp_path):
    """An idd20k_lite folder: JPEG frames, level-1 label PNGs, instance PNGs beside them, unlabelled test frames."""
    raw = tmp_path / "idd20k_lite"
    written = {}
    for seed, (folder, seq, frame) in enumerate(LITE_FRAMES):
        image = write_image(raw / "leftImg8bit" / folder / seq / f"{frame}_image.jpg", seed)
        label = scattered_ids([0, 1, 2, 3, 4, 5, 6, 255], seed)
        data = write_label(raw / "gtFine" / folder / seq / f"{frame}_label.png", label)
        write_label(raw / "gtFine" / folder / seq / f"{frame}_inst_label.png", np.full((32, 64), 200))
        written[f"{folder}_{seq}_{frame}"] = (image, label, data)
    write_image(raw / "leftImg8bit" / "test" / "7" / "000001_image.jpg", 9)
    return raw, written


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_lite_round_trip(lite, tmp_path, unified):
    raw, written = lite
    built = build("idd", raw, tmp_path / "out", config="lite", unified_taxonomy=unified)
    # the test frames have no labels
    assert_splits(built, {"train": ["train_0_024541", "train_1_000017"], "validation": ["val_119_000353"]})
    assert_rows(built[1], written, "idd_lite", unified)


def test_lite_classes_are_the_level1_classes_of_the_evaluation_script():
    taxonomy = get_taxonomy("idd_lite")
    assert [(c.id, c.name, c.ignore) for c in taxonomy.classes] == [
        (0, "drivable", False),
        (1, "non-drivable", False),
        (2, "living-things", False),
        (3, "vehicles", False),
        (4, "road-side-objs", False),
        (5, "far-objects", False),
        (6, "sky", False),
        (255, "misc", True),
    ]


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_each_lite_class_allows_what_its_level3_classes_allow(unified):
    lite, level3 = get_mapping("idd_lite", unified), get_mapping("idd", unified)
    for level1 in lite.allowed:
        merged = set().union(*(level3.allowed[i] for i, j in LEVEL1_OF_LEVEL3.items() if j == level1))
        assert set(lite.allowed[level1]) == merged, lite.native.by_id[level1].name


def test_each_configuration_names_the_other_for_its_folder(lite, raw, tmp_path):
    lite_dir, _ = lite
    with pytest.raises(
        UnifyError,
        match=r"holds IDD-Lite \(idd20k_lite\), e\.g\. leftImg8bit/test/7/000001_image\.jpg,"
        r" not what the 'level3' configuration reads: build it with --config lite",
    ):
        build("idd", lite_dir, tmp_path / "out")
    full_dir, *_ = raw
    with pytest.raises(UnifyError, match="holds the full IDD, .* build it with --config level3"):
        build("idd", full_dir, tmp_path / "out", config="lite")

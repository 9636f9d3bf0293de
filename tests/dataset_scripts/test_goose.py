"""GOOSE builder: the documented 2D layout, grey label-id PNGs, the shipped class table, bad files."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from fixtures import (
    assert_bad_sample,
    assert_splits,
    build,
    native_label,
    rows_by_id,
    stripes,
    truncate,
    unified_id,
    unified_label,
    write_image,
    write_label,
)
from unify import read_metadata
from unify.core.errors import DataFileError, UnifyError
from unify.core.taxonomy import get_taxonomy, hex_color

ASPHALT, SKY, SCENERY, UNDEFINED, CAR = 23, 53, 52, 0, 12
FRAMES = {  # image id -> (split folder, scenario, native ids)
    "2022-07-22_flight__0071_1658494234334310308_windshield_vis": (
        "train",
        "2022-07-22_flight",
        [ASPHALT, SKY, SCENERY, UNDEFINED],
    ),
    "2022-07-22_flight__0072_1658494235988100385_windshield_vis": ("train", "2022-07-22_flight", [CAR, SKY]),
    "2023-01-20_aying__0005_1674212400123456789_windshield_vis": ("train", "2023-01-20_aying", [ASPHALT, CAR]),
    "2022-09-21_garching__0001_1663760000111111111_windshield_vis": ("val", "2022-09-21_garching", [SKY, SCENERY, CAR]),
}


def write_goose(root, frames=FRAMES, mapping_rows=None):
    for seed, (image_id, (split, scenario, ids)) in enumerate(sorted(frames.items())):
        frame = image_id.removesuffix("_windshield_vis")
        write_image(root / "images" / split / scenario / f"{image_id}.png", seed)
        write_label(root / "labels" / split / scenario / f"{frame}_labelids.png", stripes(ids))
        write_label(root / "labels" / split / scenario / f"{frame}_color.png", np.zeros((32, 64, 3), np.uint8))
    test_image = "2022-10-01_test__0001_1664600000000000000_windshield_vis.png"
    write_image(root / "images" / "test" / "2022-10-01_test" / test_image, 99)  # no labels: must not be read
    rows = mapping_rows or [(c.name, c.id, hex_color(c.color)) for c in get_taxonomy("goose").classes]
    with (root / "goose_label_mapping.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class_name", "label_key", "has_instance", "hex"])
        writer.writerows((name, key, 0, hex_color) for name, key, hex_color in rows)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build with two worker processes: every sample must come out exactly once."""
    tmp = tmp_path_factory.mktemp("goose")
    return build("goose", write_goose(tmp / "raw"), tmp / "out", num_proc=2)


def test_splits_follow_the_folders_and_the_test_split_is_left_out(built):
    assert_splits(
        built,
        {
            "train": [k for k, v in FRAMES.items() if v[0] == "train"],
            "validation": [k for k, v in FRAMES.items() if v[0] == "val"],
        },
    )


def test_labels_round_trip_with_their_native_ids(built):
    _, dataset = built
    for split in ("train", "validation"):
        for image_id, row in rows_by_id(dataset[split]).items():
            np.testing.assert_array_equal(native_label(row), stripes(FRAMES[image_id][2]))
            assert row["dataset"] == "goose"


def test_unified_view_maps_goose_classes_into_offroad34(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["2022-07-22_flight__0071_1658494234334310308_windshield_vis"]
    bands = unified_label(row)[0, [0, 20, 40, 60]]  # one column in each of the four bands
    # the third band, scenery, is the teacher's choice
    assert bands.tolist() == [unified_id("offroad34", "asphalt"), unified_id("offroad34", "sky"), 255, 255]


def test_metadata_names_the_taxonomies(built):
    report, _ = built
    metadata = read_metadata(report.output_dir)
    assert (metadata.native_taxonomy.name, metadata.unified_taxonomy.name) == ("goose", "offroad34")
    assert len(metadata.native_taxonomy.classes) == 64


def test_goose_ex_is_a_configuration_of_the_same_reader(tmp_path):
    report, _ = build("goose", write_goose(tmp_path / "raw"), tmp_path / "out", config="goose_ex")
    assert report.config == "goose_ex"
    assert report.num_examples == {"train": 3, "validation": 1}


def test_a_shipped_class_table_that_disagrees_is_refused_with_the_rows(tmp_path):
    rows = [(c.name, c.id, "#000000") for c in get_taxonomy("goose").classes]
    rows[23] = ("tarmac", 23, "#000000")
    raw = write_goose(tmp_path / "raw", mapping_rows=rows[:-1])
    with pytest.raises(DataFileError) as error:
        build("goose", raw, tmp_path / "out")
    assert "goose_label_mapping.csv" in str(error.value)
    assert error.value.problems == [
        "the file lists 63 classes, unify/taxonomies/goose.csv has 64",
        "id 23 is 'tarmac' in the file but 'asphalt' in unify/taxonomies/goose.csv",
        "id 63 ('military_vehicle') of unify/taxonomies/goose.csv is missing from the file",
        "if the dataset changed its classes, unify/taxonomies/goose.csv and the mappings from goose need updating",
    ]


def test_a_truncated_label_stops_the_build_or_is_listed_when_skipping(tmp_path):
    raw = write_goose(tmp_path / "raw")
    bad = raw / "labels/train/2022-07-22_flight/2022-07-22_flight__0072_1658494235988100385_labelids.png"
    truncate(bad)
    assert_bad_sample(
        "goose", raw, tmp_path, bad, "2022-07-22_flight__0072_1658494235988100385_windshield_vis", "truncated", kept=3
    )


def test_an_image_without_its_label_is_a_bad_sample(tmp_path):
    raw = write_goose(tmp_path / "raw")
    (raw / "labels/train/2023-01-20_aying/2023-01-20_aying__0005_1674212400123456789_labelids.png").unlink()
    report, _ = build("goose", raw, tmp_path / "out", skip_bad=True)
    assert [s.reason for s in report.skipped] == [
        f"no label file (expected {raw}/labels/train/2023-01-20_aying/"
        f"2023-01-20_aying__0005_1674212400123456789_labelids.png)"
    ]
    assert report.num_examples == {"train": 2, "validation": 1}


def test_images_named_otherwise_are_refused_clearly(tmp_path):
    raw = write_goose(tmp_path / "raw")
    write_image(raw / "images/train/2022-07-22_flight/snapshot.png", 5)
    with pytest.raises(UnifyError, match="snapshot.png is not named like a GOOSE image"):
        build("goose", raw, tmp_path / "out")

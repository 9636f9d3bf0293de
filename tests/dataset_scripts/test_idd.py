"""IDD builder: level-3 PNGs from the preparation script, or polygons drawn as that script does."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures import (build, expected_unified, native_label, rows_by_id, scattered_ids, unified_label, write_image,
                      write_label)
from unify.core.errors import BadSampleError

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
    for seed, (folder, seq, frame) in enumerate([("train", "0", "000123"), ("train", "201", "000123"),
                                                 ("val", "3", "000045")]):
        images[f"{folder}_{seq}_{frame}"] = write_image(raw / "leftImg8bit" / folder / seq / f"{frame}_leftImg8bit.png", seed)
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
    report, loaded = build("idd", raw, tmp_path / "out", unified_taxonomy=unified)
    assert report.num_examples == {"train": 2, "validation": 1}
    rows = {**rows_by_id(loaded["train"]), **rows_by_id(loaded["validation"])}
    assert set(rows) == set(images)  # sequence folders keep equal frame names apart
    for image_id, row in rows.items():
        assert row["image"]["bytes"] == images[image_id]
        label = native_label(row)
        np.testing.assert_array_equal(unified_label(row), expected_unified(label, "idd", unified))
    assert rows["train_201_000123"]["label"]["bytes"] == data
    np.testing.assert_array_equal(native_label(rows["train_0_000123"]), drawn_level3())


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

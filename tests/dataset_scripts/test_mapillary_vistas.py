"""Mapillary Vistas builder: palette label PNGs decoded by index, v1.2 and v2.0, config file check."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from fixtures import assert_rows, assert_splits, build, native_label, scattered_ids, write_image, write_label
from unify.core.errors import BadSampleError, DataFileError
from unify.core.taxonomy import get_taxonomy

WHITE = [255, 255, 255] * 256  # every index one colour: decoding by colour could not tell them apart


KEYS = (
    ("training", "aaaaaaaaaaaaaaaaaaaaa1"),
    ("training", "aaaaaaaaaaaaaaaaaaaaa2"),
    ("validation", "bbbbbbbbbbbbbbbbbbbbb1"),
)


def write_vistas(raw, version, ids, keys=KEYS):
    written = {}
    for seed, (folder, key) in enumerate(keys):
        image = write_image(raw / folder / "images" / f"{key}.jpg", seed)
        label = scattered_ids(ids, seed)
        written[key] = (image, label, write_label(raw / folder / version / "labels" / f"{key}.png", label, WHITE))
    return written


def write_config(raw, version, taxonomy):
    labels = [
        {"name": c.name, "color": list(c.color), "readable": c.name, "instances": False, "evaluate": True}
        for c in sorted(get_taxonomy(taxonomy).classes, key=lambda c: c.id)
    ]
    path = raw / f"config_{version}.json"
    path.write_text(json.dumps({"labels": labels, "version": version}))
    return path, labels


@pytest.mark.parametrize(
    ("config", "taxonomy", "ids"),
    [
        ("v1.2", "mapillary_vistas", [0, 13, 24, 27, 55, 63, 65]),
        ("v2.0", "mapillary_vistas_v2", [21, 35, 36, 45, 90, 95, 115, 123]),  # 35/36 and 90..95 share colours
    ],
)
@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_round_trip(tmp_path, config, taxonomy, ids, unified):
    raw = tmp_path / "raw"
    written = write_vistas(raw, config, ids)
    write_config(raw, config, taxonomy)
    built = build("mapillary_vistas", raw, tmp_path / "out", config=config, unified_taxonomy=unified)
    assert_splits(
        built, {"train": ["aaaaaaaaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaaaaaaaa2"], "validation": ["bbbbbbbbbbbbbbbbbbbbb1"]}
    )
    assert_rows(built[1], {key: (image, label, None) for key, (image, label, _) in written.items()}, taxonomy, unified)
    for split in built[1].values():
        for cell in split["label"]:
            with Image.open(io.BytesIO(cell["bytes"])) as stored:
                assert stored.mode == "L"  # indices as grey values: no reader can take them for colours


def test_v2_shared_colours_stay_distinct(tmp_path):
    raw = tmp_path / "raw"
    write_vistas(raw, "v2.0", [35, 36])  # dashed and solid lane markings, both white in v2.0
    _, loaded = build("mapillary_vistas", raw, tmp_path / "out", config="v2.0")
    assert set(np.unique(native_label(loaded["train"][0]))) == {35, 36}


def test_config_file_that_disagrees_is_named_with_its_entries(tmp_path):
    raw = tmp_path / "raw"
    write_vistas(raw, "v1.2", [13])
    path, labels = write_config(raw, "v1.2", "mapillary_vistas")
    labels[13]["name"], labels[27]["color"] = "construction--flat--street", [1, 2, 3]
    path.write_text(json.dumps({"labels": labels}))
    with pytest.raises(DataFileError) as caught:
        build("mapillary_vistas", raw, tmp_path / "out", config="v1.2")
    assert caught.value.path == str(path)
    assert caught.value.problems[:2] == [
        "id 13 is 'construction--flat--street' in the file but 'construction--flat--road' in "
        "unify/taxonomies/mapillary_vistas.csv",
        "id 27 ('nature--sky') has the colour [1, 2, 3] in the file but [70, 130, 180] in "
        "unify/taxonomies/mapillary_vistas.csv",
    ]
    assert len(caught.value.problems) == 3  # and what to update


def test_v2_config_against_v1_table_is_refused(tmp_path):
    raw = tmp_path / "raw"
    write_vistas(raw, "v1.2", [13])
    path, _ = write_config(raw, "v1.2", "mapillary_vistas_v2")  # a v2.0 list under the v1.2 name
    with pytest.raises(DataFileError, match="the file lists 124 classes, unify/taxonomies/mapillary_vistas.csv has 66"):
        build("mapillary_vistas", raw, tmp_path / "out", config="v1.2")


def test_index_outside_the_table_and_missing_label(tmp_path):
    raw = tmp_path / "raw"
    write_vistas(raw, "v1.2", [13])
    bad = raw / "training" / "v1.2" / "labels" / "aaaaaaaaaaaaaaaaaaaaa1.png"
    write_label(bad, np.full((32, 64), 66), WHITE)
    (raw / "validation" / "v1.2" / "labels" / "bbbbbbbbbbbbbbbbbbbbb1.png").unlink()
    with pytest.raises(BadSampleError, match=r"label ids \[66\] are not in the mapillary_vistas taxonomy"):
        build("mapillary_vistas", raw, tmp_path / "out", config="v1.2")
    report, loaded = build("mapillary_vistas", raw, tmp_path / "out", config="v1.2", skip_bad=True)
    assert report.num_examples == {"train": 1}
    assert {s.image_id: s.file for s in report.skipped} == {
        "aaaaaaaaaaaaaaaaaaaaa1": bad.relative_to(raw).as_posix(),
        "bbbbbbbbbbbbbbbbbbbbb1": "validation/images/bbbbbbbbbbbbbbbbbbbbb1.jpg",
    }

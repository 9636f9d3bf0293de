"""A2D2: camera_lidar_semantic/<scene>/{camera,label}/cam_*/ with RGB colour-coded labels and class_list.json."""

import json
from pathlib import Path

import numpy as np
import pytest

from fixtures import (
    assert_bad_sample,
    assert_rows,
    assert_splits,
    build,
    color_coded,
    native_label,
    rows_by_id,
    scattered_ids,
    truncate,
    unified_id,
    unified_label,
    write_label,
    write_pair,
)
from unify.core.errors import DataFileError
from unify.core.taxonomy import get_taxonomy

ROOT = "camera_lidar_semantic"
FRAMES = [
    ("20180807_145028", "cam_front_center", "20180807145028", "frontcenter", "000000091"),
    ("20180807_145028", "cam_side_left", "20180807145028", "sideleft", "000000091"),
    ("20181108_084007", "cam_front_center", "20181108084007", "frontcenter", "000001617"),
]
NAMES = ["Car 1", "Car 2", "Bicycle 3", "RD normal street", "Sky", "Ego car", "Nature object", "Obstacles / trash"]


def _ids() -> list[int]:
    return [get_taxonomy("a2d2").by_name[n].id for n in NAMES]


def _image(root, scene_dir, camera, stamp, short, number) -> Path:
    return root / ROOT / scene_dir / "camera" / camera / f"{stamp}_camera_{short}_{number}.png"


def _label(root, scene_dir, camera, stamp, short, number) -> Path:
    return root / ROOT / scene_dir / "label" / camera / f"{stamp}_label_{short}_{number}.png"


def _image_id(_scene, _camera, stamp, short, number) -> str:
    return f"{stamp}_camera_{short}_{number}"


def write_class_list(root: Path, edit=None) -> Path:
    """class_list.json as A2D2 ships it ('#rrggbb': name), written from the built-in table."""
    entries = {"#{:02x}{:02x}{:02x}".format(*c.color): c.name for c in get_taxonomy("a2d2").classes}
    if edit:
        edit(entries)
    path = root / ROOT / "class_list.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=4))
    return path


@pytest.fixture
def raw(tmp_path) -> Path:
    root = tmp_path / "a2d2"
    write_class_list(root)
    for seed, frame in enumerate(FRAMES):
        write_pair(_image(root, *frame), _label(root, *frame), seed, color_coded(scattered_ids(_ids(), seed), "a2d2"))
        (_image(root, *frame).with_suffix(".json")).write_text("{}")  # the frame's camera info, not an image
    return root


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_colours_decode_to_native_ids(raw, tmp_path, unified):
    built = build("a2d2", raw, tmp_path / "out", unified_taxonomy=unified)
    assert_splits(built, {"train": [_image_id(*f) for f in FRAMES]})
    written = {_image_id(*f): (_image(raw, *f), scattered_ids(_ids(), seed), None) for seed, f in enumerate(FRAMES)}
    assert_rows(built[1], written, "a2d2", unified)


def test_unified_view_follows_the_class_definitions(raw, tmp_path):
    _, loaded = build("a2d2", raw, tmp_path / "out")
    row = rows_by_id(loaded["train"])[_image_id(*FRAMES[2])]
    by_name = get_taxonomy("a2d2").by_name
    native, unified = native_label(row), unified_label(row)
    assert (
        unified[(native == by_name["Car 1"].id) | (native == by_name["Car 2"].id)] == unified_id("cityscapes19", "car")
    ).all()
    assert (unified[native == by_name["RD normal street"].id] == unified_id("cityscapes19", "road")).all()
    for name in ("Bicycle 3", "Ego car", "Nature object", "Obstacles / trash"):  # several, or void
        assert (unified[native == by_name[name].id] == 255).all()


def test_without_class_list_the_builtin_table_decodes(raw, tmp_path):
    (raw / ROOT / "class_list.json").unlink()
    _, loaded = build("a2d2", raw, tmp_path / "out")
    rows = rows_by_id(loaded["train"])
    assert np.array_equal(native_label(rows[_image_id(*FRAMES[1])]), scattered_ids(_ids(), 1))


def test_class_list_that_disagrees_is_refused(raw, tmp_path):
    def edit(entries):
        entries["#ff0000"] = "Car 9"  # renamed
        del entries["#87ceff"]  # Sky dropped
        entries["#123456"] = "Hovercraft"  # unknown colour

    path = write_class_list(raw, edit)
    with pytest.raises(DataFileError) as caught:
        build("a2d2", raw, tmp_path / "out")
    assert caught.value.path == str(path)
    assert caught.value.problems == [
        "#123456 ('Hovercraft') is not in unify/taxonomies/a2d2.csv",
        "#87ceff ('Sky') of unify/taxonomies/a2d2.csv is missing from the file",
        "#ff0000 is 'Car 9' in the file but 'Car 1' in unify/taxonomies/a2d2.csv",
        "if the dataset changed its classes, unify/taxonomies/a2d2.csv and the mappings from a2d2 need updating",
    ]


def test_colour_not_in_the_colormap(raw, tmp_path):
    bad = _label(raw, *FRAMES[0])
    rgb = color_coded(scattered_ids(_ids(), 0), "a2d2")
    rgb[:3, :5] = (1, 2, 3)  # 15 pixels of a colour A2D2 does not have
    write_label(bad, rgb)
    assert_bad_sample("a2d2", raw, tmp_path, bad, _image_id(*FRAMES[0]), "#010203 (15 px)", kept=2)


def test_missing_label(raw, tmp_path):
    _label(raw, *FRAMES[1]).unlink()
    assert_bad_sample(
        "a2d2",
        raw,
        tmp_path,
        _image(raw, *FRAMES[1]),
        _image_id(*FRAMES[1]),
        f"no label file (expected {_label(raw, *FRAMES[1])})",
        kept=2,
    )


def test_label_of_another_size(raw, tmp_path):
    bad = _label(raw, *FRAMES[2])
    write_label(bad, color_coded(scattered_ids(_ids(), 2, size=(32, 48)), "a2d2"))
    assert_bad_sample("a2d2", raw, tmp_path, bad, _image_id(*FRAMES[2]), "label is 48x32", kept=2)


def test_truncated_label(raw, tmp_path):
    bad = _label(raw, *FRAMES[0])
    truncate(bad)
    assert_bad_sample("a2d2", raw, tmp_path, bad, _image_id(*FRAMES[0]), "unreadable label image", kept=2)

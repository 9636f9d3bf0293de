"""ApolloScape: road0X_{seg,ins}/{ColorImage,Label}/Record*/Camera N/ with grey *_bin.png class-id labels."""

from pathlib import Path

import numpy as np
import pytest

from fixtures import (assert_bad_sample, build, expected_unified, native_label, rows_by_id, scattered_ids, truncate,
                      unified_id, unified_label, write_image, write_label)
from unify.core.errors import UnifyError

# ids with gaps, a group class, a class allowing several unified classes, void and unlabeled (255)
IDS = [0, 17, 37, 49, 113, 161, 168, 255]
FRAMES = [("road02_seg", "Record001", "Camera 5", "170927_063811892_Camera_5"),
          ("road02_seg", "Record001", "Camera 6", "170927_063811892_Camera_6"),
          ("road01_ins", "Record012", "Camera 5", "171206_030617006_Camera_5")]


def _image_id(road, record, _camera, stem):
    return f"{road}_{record}_{stem}"


@pytest.fixture
def raw(tmp_path) -> Path:
    root = tmp_path / "apolloscape"
    for seed, (road, record, camera, stem) in enumerate(FRAMES):
        write_image(root / road / "ColorImage" / record / camera / f"{stem}.jpg", seed)
        write_label(root / road / "Label" / record / camera / f"{stem}_bin.png", scattered_ids(IDS, seed))
    return root


def _label_path(root, road, record, camera, stem) -> Path:
    return root / road / "Label" / record / camera / f"{stem}_bin.png"


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_build_keeps_ids_images_and_maps_them(raw, tmp_path, unified):
    report, loaded = build("apolloscape", raw, tmp_path / "out", unified_taxonomy=unified)
    assert report.num_examples == {"train": 3}
    rows = rows_by_id(loaded["train"])
    assert sorted(rows) == sorted(_image_id(*frame) for frame in FRAMES)
    for seed, frame in enumerate(FRAMES):
        road, record, camera, stem = frame
        row = rows[_image_id(*frame)]
        assert np.array_equal(native_label(row), scattered_ids(IDS, seed))
        assert row["image"]["bytes"] == (raw / road / "ColorImage" / record / camera / f"{stem}.jpg").read_bytes()
        assert row["dataset"] == "apolloscape"
        assert np.array_equal(unified_label(row), expected_unified(native_label(row), "apolloscape", unified))


def test_label_files_are_stored_verbatim(raw, tmp_path):
    _, loaded = build("apolloscape", raw, tmp_path / "out")
    stored = {image_id: row["label"]["bytes"] for image_id, row in rows_by_id(loaded["train"]).items()}
    for frame in FRAMES:
        assert stored[_image_id(*frame)] == _label_path(raw, *frame).read_bytes()


def test_unified_view_follows_the_class_definitions(raw, tmp_path):
    _, loaded = build("apolloscape", raw, tmp_path / "out")
    row = rows_by_id(loaded["train"])[_image_id(*FRAMES[0])]
    native, unified = native_label(row), unified_label(row)
    assert (unified[native == 49] == unified_id("cityscapes19", "road")).all()
    assert (unified[native == 161] == unified_id("cityscapes19", "car")).all()  # car_groups
    assert (unified[native == 17] == unified_id("cityscapes19", "sky")).all()
    for several_or_none in (0, 37, 113, 168, 255):  # others, rider, vegatation, tricycle_group, unlabeled
        assert (unified[native == several_or_none] == 255).all()


def test_missing_label(raw, tmp_path):
    road, record, camera, stem = FRAMES[1]
    label = _label_path(raw, *FRAMES[1])
    label.unlink()
    image = raw / road / "ColorImage" / record / camera / f"{stem}.jpg"
    assert_bad_sample("apolloscape", raw, tmp_path, image, _image_id(*FRAMES[1]), f"no label file (expected {label})",
                      kept=2)


def test_label_of_another_size(raw, tmp_path):
    bad = _label_path(raw, *FRAMES[2])
    write_label(bad, scattered_ids(IDS, 2, size=(16, 64)))
    assert_bad_sample("apolloscape", raw, tmp_path, bad, _image_id(*FRAMES[2]), "label is 64x16", kept=2)


def test_id_outside_the_table(raw, tmp_path):
    bad = _label_path(raw, *FRAMES[0])
    write_label(bad, scattered_ids([49, 50, 200], 0))
    assert_bad_sample("apolloscape", raw, tmp_path, bad, _image_id(*FRAMES[0]), "label ids [200]", kept=2)


def test_truncated_label(raw, tmp_path):
    bad = _label_path(raw, *FRAMES[0])
    truncate(bad)
    assert_bad_sample("apolloscape", raw, tmp_path, bad, _image_id(*FRAMES[0]), "unreadable label image", kept=2)


def test_truncated_image(raw, tmp_path):
    road, record, camera, stem = FRAMES[1]
    bad = raw / road / "ColorImage" / record / camera / f"{stem}.jpg"
    truncate(bad)
    assert_bad_sample("apolloscape", raw, tmp_path, bad, _image_id(*FRAMES[1]), "truncated JPEG", kept=2)


def test_empty_folder_says_what_layout_is_expected(tmp_path):
    with pytest.raises(UnifyError, match="road0X_seg"):
        build("apolloscape", tmp_path, tmp_path / "out")

"""ApolloScape: road0X_{seg,ins}/{ColorImage,Label}/Record*/Camera N/ with grey *_bin.png class-id labels."""

from pathlib import Path

import datasets
import numpy as np
import pytest

from raw_urban import (assert_bad_sample, build, expected_unified, load_rows, scene, truncate, unified_id,
                       write_id_png, write_image)
from unify.errors import UnifyError

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
        write_id_png(root / road / "Label" / record / camera / f"{stem}_bin.png", scene(IDS, seed))
    return root


def _label_path(root, road, record, camera, stem) -> Path:
    return root / road / "Label" / record / camera / f"{stem}_bin.png"


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_build_keeps_ids_images_and_maps_them(raw, tmp_path, unified):
    report = build("apolloscape", raw, tmp_path / "out", unified_taxonomy=unified)
    assert report.num_examples == {"train": 3}
    rows = load_rows(tmp_path / "out", "train", tmp_path / "cache")
    assert sorted(rows) == sorted(_image_id(*frame) for frame in FRAMES)
    for seed, frame in enumerate(FRAMES):
        road, record, camera, stem = frame
        row = rows[_image_id(*frame)]
        assert np.array_equal(row["label"], scene(IDS, seed))
        assert row["image"] == (raw / road / "ColorImage" / record / camera / f"{stem}.jpg").read_bytes()
        assert row["dataset"] == "apolloscape"
        assert np.array_equal(row["unified_label"], expected_unified(row["label"], "apolloscape", unified))


def test_label_files_are_stored_verbatim(raw, tmp_path):
    build("apolloscape", raw, tmp_path / "out")
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train", cache_dir=str(tmp_path / "cache"))
    ds = ds.cast_column("label", datasets.Image(decode=False))
    stored = {row["image_id"]: row["label"]["bytes"] for row in ds}
    for frame in FRAMES:
        assert stored[_image_id(*frame)] == _label_path(raw, *frame).read_bytes()


def test_unified_view_follows_the_class_definitions(raw, tmp_path):
    build("apolloscape", raw, tmp_path / "out")
    row = load_rows(tmp_path / "out", "train", tmp_path / "cache")[_image_id(*FRAMES[0])]
    native, unified = row["label"], row["unified_label"]
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
    write_id_png(bad, scene(IDS, 2, size=(16, 64)))
    assert_bad_sample("apolloscape", raw, tmp_path, bad, _image_id(*FRAMES[2]), "label is 64x16", kept=2)


def test_id_outside_the_table(raw, tmp_path):
    bad = _label_path(raw, *FRAMES[0])
    write_id_png(bad, scene([49, 50, 200], 0))
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

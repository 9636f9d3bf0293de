"""ApolloScape: road0X_{seg,ins}/{ColorImage,Label}/Record*/Camera N/ with grey *_bin.png class-id labels."""

from pathlib import Path

import pytest

from fixtures import (
    assert_bad_sample,
    assert_rows,
    assert_splits,
    build,
    native_label,
    rows_by_id,
    scattered_ids,
    truncate,
    unified_id,
    unified_label,
    write_label,
    write_pair,
)
from unify.core.errors import UnifyError

# ids with gaps, a group class, a class allowing several unified classes, void and unlabeled (255)
IDS = [0, 17, 37, 49, 113, 161, 168, 255]
FRAMES = [
    ("road02_seg", "Record001", "Camera 5", "170927_063811892_Camera_5"),
    ("road02_seg", "Record001", "Camera 6", "170927_063811892_Camera_6"),
    ("road01_ins", "Record012", "Camera 5", "171206_030617006_Camera_5"),
]


def _image_id(road, record, _camera, stem):
    return f"{road}_{record}_{stem}"


@pytest.fixture
def raw(tmp_path) -> Path:
    root = tmp_path / "apolloscape"
    for seed, frame in enumerate(FRAMES):
        write_pair(_image_path(root, *frame), _label_path(root, *frame), seed, scattered_ids(IDS, seed))
    return root


def _image_path(root, road, record, camera, stem) -> Path:
    return root / road / "ColorImage" / record / camera / f"{stem}.jpg"


def _label_path(root, road, record, camera, stem) -> Path:
    return root / road / "Label" / record / camera / f"{stem}_bin.png"


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_build_keeps_ids_images_and_maps_them(raw, tmp_path, unified):
    built = build("apolloscape", raw, tmp_path / "out", unified_taxonomy=unified)
    assert_splits(built, {"train": [_image_id(*frame) for frame in FRAMES]})
    written = {
        _image_id(*f): (_image_path(raw, *f), scattered_ids(IDS, seed), _label_path(raw, *f).read_bytes())
        for seed, f in enumerate(FRAMES)
    }  # the grey label files are stored verbatim
    assert_rows(built[1], written, "apolloscape", unified)
    assert set(built[1]["train"]["dataset"]) == {"apolloscape"}


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
    label = _label_path(raw, *FRAMES[1])
    label.unlink()
    assert_bad_sample(
        "apolloscape",
        raw,
        tmp_path,
        _image_path(raw, *FRAMES[1]),
        _image_id(*FRAMES[1]),
        f"no label file (expected {label})",
        kept=2,
    )


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
    bad = _image_path(raw, *FRAMES[1])
    truncate(bad)
    assert_bad_sample("apolloscape", raw, tmp_path, bad, _image_id(*FRAMES[1]), "truncated JPEG", kept=2)


def test_empty_folder_says_what_layout_is_expected(tmp_path):
    with pytest.raises(UnifyError, match="road0X_seg"):
        build("apolloscape", tmp_path, tmp_path / "out")

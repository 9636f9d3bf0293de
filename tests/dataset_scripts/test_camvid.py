"""CamVid (Kaggle layout): {train,val,test}/ images, {split}_labels/*_L.png colour labels, class_dict.csv."""

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
    numbered,
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

NAMES = ["Road", "LaneMkgsDriv", "Sky", "Bicyclist", "Car", "SUVPickupTruck", "Void", "Wall"]
FRAMES = {"train": ["0001TP_006690", "0006R0_f02910"], "validation": ["0016E5_07959"], "test": ["Seq05VD_f00000"]}
FOLDERS = {"train": "train", "validation": "val", "test": "test"}


def _ids() -> list[int]:
    return [get_taxonomy("camvid").by_name[n].id for n in NAMES]


def _image(root, split, stem) -> Path:
    return root / FOLDERS[split] / f"{stem}.png"


def _label(root, split, stem) -> Path:
    return root / f"{FOLDERS[split]}_labels" / f"{stem}_L.png"


def write_class_dict(root: Path, rows=None) -> Path:
    """class_dict.csv as the archive ships it (name,r,g,b), written from the built-in table."""
    rows = rows if rows is not None else [(c.name, *c.color) for c in get_taxonomy("camvid").classes]
    path = root / "class_dict.csv"
    path.write_text("name,r,g,b\n" + "".join(f"{name},{r},{g},{b}\n" for name, r, g, b in rows))
    return path


@pytest.fixture
def raw(tmp_path) -> Path:
    root = tmp_path / "camvid"
    for seed, split, stem in numbered(FRAMES):
        write_pair(
            _image(root, split, stem),
            _label(root, split, stem),
            seed,
            color_coded(scattered_ids(_ids(), seed), "camvid"),
        )
    write_class_dict(root)
    return root


def _native(seed: int, config: str) -> np.ndarray:
    """The written labels in the configuration's ids: camvid-11 keeps 11 classes by name, the rest unlabeled."""
    full = scattered_ids(_ids(), seed)
    if config == "32":
        return full
    camvid, camvid11 = get_taxonomy("camvid"), get_taxonomy("camvid11")
    out = np.full(full.shape, camvid11.by_name["unlabeled"].id, dtype=np.uint8)
    for c in camvid.classes:
        if c.name in camvid11.by_name:
            out[full == c.id] = camvid11.by_name[c.name].id
    return out


@pytest.mark.parametrize("config,native", [("32", "camvid"), ("11", "camvid11")])
@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_build_each_configuration(raw, tmp_path, config, native, unified):
    report, loaded = build("camvid", raw, tmp_path / "out", config=config, unified_taxonomy=unified)
    assert report.config == config
    assert_splits((report, loaded), FRAMES)
    written = {stem: (_image(raw, split, stem), _native(seed, config), None) for seed, split, stem in numbered(FRAMES)}
    assert_rows(loaded, written, native, unified)


def test_eleven_classes_group_by_name(raw, tmp_path):
    _, loaded = build("camvid", raw, tmp_path / "out", config="11")
    row = rows_by_id(loaded["train"])[FRAMES["train"][0]]
    full = scattered_ids(_ids(), 0)
    camvid = get_taxonomy("camvid").by_name
    assert (native_label(row)[full == camvid["Road"].id] == 5).all()  # camvid-11 'Road'
    for dropped in ("LaneMkgsDriv", "SUVPickupTruck", "Wall", "Void"):
        assert (native_label(row)[full == camvid[dropped].id] == 255).all()
    assert (unified_label(row)[full == camvid["Sky"].id] == unified_id("cityscapes19", "sky")).all()
    assert (unified_label(row)[full == camvid["LaneMkgsDriv"].id] == 255).all()  # unlabeled: filled in


def test_class_dict_that_disagrees_is_refused(raw, tmp_path):
    rows = [(c.name, *c.color) for c in get_taxonomy("camvid").classes]
    rows[0] = ("Animals", *rows[0][1:])  # renamed
    path = write_class_dict(raw, rows)
    with pytest.raises(DataFileError) as caught:
        build("camvid", raw, tmp_path / "out")
    assert caught.value.path == str(path)
    assert caught.value.problems[0] == "#408040 is 'Animals' in the file but 'Animal' in unify/taxonomies/camvid.csv"
    assert len(caught.value.problems) == 2  # and what to update


def test_colour_not_in_the_colormap(raw, tmp_path):
    stem = FRAMES["validation"][0]
    bad = _label(raw, "validation", stem)
    rgb = color_coded(scattered_ids(_ids(), 2), "camvid")
    rgb[-1, :] = (128, 64, 127)  # one off Road's colour, as JPEG-damaged labels are
    write_label(bad, rgb)
    assert_bad_sample("camvid", raw, tmp_path, bad, stem, "#80407f (64 px)", kept=3)


def test_missing_label(raw, tmp_path):
    stem = FRAMES["test"][0]
    _label(raw, "test", stem).unlink()
    assert_bad_sample(
        "camvid",
        raw,
        tmp_path,
        _image(raw, "test", stem),
        stem,
        f"no label file (expected {_label(raw, 'test', stem)})",
        kept=3,
    )


def test_label_of_another_size(raw, tmp_path):
    stem = FRAMES["train"][1]
    write_label(_label(raw, "train", stem), color_coded(scattered_ids(_ids(), 1, size=(64, 32)), "camvid"))
    assert_bad_sample("camvid", raw, tmp_path, _label(raw, "train", stem), stem, "label is 32x64", kept=3)


def test_truncated_image(raw, tmp_path):
    stem = FRAMES["train"][0]
    truncate(_image(raw, "train", stem))
    assert_bad_sample("camvid", raw, tmp_path, _image(raw, "train", stem), stem, "truncated PNG", kept=3)

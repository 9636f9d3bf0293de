"""RUGD builder: colour-coded annotations decoded through the shipped colour map, the video split."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import (build, color_coded, native_label, rows_by_id, stripes, unified_id, unified_label, write_image,
                      write_label)
from unify.core.errors import BadSampleError, DataFileError, UnifyError
from unify.core.taxonomy import get_taxonomy

VOID, DIRT, GRASS, TREE, SKY, ASPHALT, ROCK = 0, 1, 3, 4, 7, 10, 21
FRAMES = {  # image id -> native ids; the scene is the name's prefix
    "trail-3_00001": [DIRT, TREE, SKY],
    "trail-3_00006": [GRASS, ROCK, VOID],
    "park-8_00101": [ASPHALT, SKY],
    "creek_00021": [ROCK, TREE],
}


def write_colormap(path, rows):
    path.write_text("".join(f"{i} {name} {r} {g} {b}\n" for i, name, (r, g, b) in rows))


def default_rows():
    return [(c.id, c.name, c.color) for c in get_taxonomy("rugd").classes]


def write_rugd(root, colormap_rows=None):
    rows = colormap_rows or default_rows()
    palette = np.zeros((256, 3), dtype=np.uint8)
    for class_id, _, color in rows:
        palette[class_id] = color
    for seed, (image_id, ids) in enumerate(sorted(FRAMES.items())):
        scene = image_id.rsplit("_", 1)[0]
        write_image(root / "RUGD_frames-with-annotations" / scene / f"{image_id}.png", seed)
        write_label(root / "RUGD_annotations" / scene / f"{image_id}.png", palette[stripes(ids)])
    write_colormap(root / "RUGD_annotations" / "RUGD_annotation-colormap.txt", rows)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rugd")
    return build("rugd", write_rugd(tmp / "raw"), tmp / "out")


def test_scenes_follow_the_papers_video_split(built):
    report, dataset = built
    assert report.num_examples == {"train": 2, "validation": 1, "test": 1}
    assert dataset["test"]["image_id"] == ["creek_00021"]


def test_colours_decode_to_native_ids(built):
    _, dataset = built
    for split in dataset:
        for image_id, row in rows_by_id(dataset[split]).items():
            np.testing.assert_array_equal(native_label(row), stripes(FRAMES[image_id]))


def test_unified_view(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["trail-3_00001"]
    expected = [unified_id("offroad34", name) for name in ("rough drivable ground", "tree", "sky")]
    assert unified_label(row)[0, [0, 30, 60]].tolist() == expected


def test_the_shipped_colour_map_decides_the_colours(tmp_path):
    rows = default_rows()
    rows[DIRT] = (DIRT, "dirt", (1, 2, 3))  # a release with another dirt colour
    _, dataset = build("rugd", write_rugd(tmp_path / "raw", colormap_rows=rows), tmp_path / "out")
    row = rows_by_id(dataset["train"])["trail-3_00001"]
    np.testing.assert_array_equal(native_label(row), stripes(FRAMES["trail-3_00001"]))


def test_without_a_colour_map_the_built_in_colours_are_used(tmp_path):
    raw = write_rugd(tmp_path / "raw")
    (raw / "RUGD_annotations" / "RUGD_annotation-colormap.txt").unlink()
    report, _ = build("rugd", raw, tmp_path / "out")
    assert report.num_examples == {"train": 2, "validation": 1, "test": 1}


def test_a_colour_map_with_other_classes_is_refused(tmp_path):
    rows = default_rows()
    rows[9] = (9, "object", rows[9][2])
    raw = write_rugd(tmp_path / "raw", colormap_rows=rows)
    with pytest.raises(DataFileError, match="id 9 is 'object' in the file but 'container/generic-object' built in"):
        build("rugd", raw, tmp_path / "out")
    (raw / "RUGD_annotations" / "RUGD_annotation-colormap.txt").write_text("0 void 0 0\n")
    with pytest.raises(DataFileError, match=r"line 1: expected '<id> <name> <R> <G> <B>'"):
        build("rugd", raw, tmp_path / "out")


def test_a_colour_outside_the_map_is_a_bad_sample(tmp_path):
    raw = write_rugd(tmp_path / "raw")
    bad = raw / "RUGD_annotations/trail-3/trail-3_00006.png"
    rgb = color_coded(stripes(FRAMES["trail-3_00006"]), "rugd")
    rgb[0, 0] = (7, 7, 7)  # an anti-aliased or foreign pixel
    write_label(bad, rgb)
    with pytest.raises(BadSampleError) as error:
        build("rugd", raw, tmp_path / "out")
    sample_error = error.value
    assert sample_error.path == str(bad)
    assert sample_error.reason == "1 colour(s) not in the colour table: #070707 (1 px)"
    report, _ = build("rugd", raw, tmp_path / "out", skip_bad=True)
    assert [s.image_id for s in report.skipped] == ["trail-3_00006"]


def test_unknown_scenes_and_layouts_are_refused(tmp_path):
    with pytest.raises(UnifyError, match="missing RUGD_frames-with-annotations, RUGD_annotations"):
        build("rugd", tmp_path, tmp_path / "out")
    raw = write_rugd(tmp_path / "raw")
    write_image(raw / "RUGD_frames-with-annotations/meadow/meadow_00001.png", 1)
    with pytest.raises(UnifyError, match="unknown scene folder .*meadow"):
        build("rugd", raw, tmp_path / "out")


def write_sample_download(root, colormap_rows=None, colormap_beside=False):
    """The authors' sample: flat images/ and annotations/ in RUGD_sample-data/, the colour map inside or beside it."""
    rows = colormap_rows or default_rows()
    palette = np.zeros((256, 3), dtype=np.uint8)
    for class_id, _, color in rows:
        palette[class_id] = color
    folder = root / "RUGD_sample-data"
    for seed, (image_id, ids) in enumerate(sorted(FRAMES.items())):
        write_image(folder / "images" / f"{image_id}.png", seed)
        write_label(folder / "annotations" / f"{image_id}.png", palette[stripes(ids)])
    write_colormap((root if colormap_beside else folder) / "RUGD_annotation-colormap.txt", rows)
    return root


@pytest.mark.parametrize("folder", ["downloads", "downloads/RUGD_sample-data"])
def test_the_sample_download_splits_its_frames_as_the_full_release_does(tmp_path, folder):
    write_sample_download(tmp_path / "downloads")
    report, dataset = build("rugd", tmp_path / folder, tmp_path / "out")
    _, full = build("rugd", write_rugd(tmp_path / "full"), tmp_path / "out-full")
    assert report.num_examples == {"train": 2, "validation": 1, "test": 1}
    for split in full:  # same frames, same ids, same splits, same labels
        assert dataset[split]["image_id"] == full[split]["image_id"]
        for image_id, row in rows_by_id(dataset[split]).items():
            np.testing.assert_array_equal(native_label(row), stripes(FRAMES[image_id]))


def test_the_sample_download_reads_the_colour_map_beside_its_folder(tmp_path):
    rows = default_rows()
    rows[DIRT] = (DIRT, "dirt", (1, 2, 3))
    raw = write_sample_download(tmp_path / "raw", colormap_rows=rows, colormap_beside=True)
    _, dataset = build("rugd", raw, tmp_path / "out")
    row = rows_by_id(dataset["train"])["trail-3_00001"]
    np.testing.assert_array_equal(native_label(row), stripes(FRAMES["trail-3_00001"]))


def test_a_sample_frame_of_no_known_scene_is_named(tmp_path):
    raw = write_sample_download(tmp_path / "raw")
    write_image(raw / "RUGD_sample-data/images/meadow_00001.png", 1)
    with pytest.raises(UnifyError, match=r"RUGD_sample-data/images has meadow_00001.png, whose name starts with no "
                                         r"RUGD scene \(the video split knows creek, park-1"):
        build("rugd", raw, tmp_path / "out")

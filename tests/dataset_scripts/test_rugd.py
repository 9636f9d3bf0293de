"""RUGD builder: colour-coded annotations decoded through the shipped colour map, the video split."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import (
    assert_native_labels,
    assert_splits,
    build,
    built_once,
    color_coded,
    native_label,
    rows_by_id,
    stripes,
    unified_at,
    unified_ids,
    write_image,
    write_label,
    write_pair,
)
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


def write_frames(images, annotations, rows):
    """Each frame of FRAMES as a photo and an annotation coloured by `rows`; the folders are given the scene."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for class_id, _, color in rows:
        palette[class_id] = color
    for seed, (image_id, ids) in enumerate(sorted(FRAMES.items())):
        scene = image_id.rsplit("_", 1)[0]
        write_pair(
            images(scene) / f"{image_id}.png", annotations(scene) / f"{image_id}.png", seed, palette[stripes(ids)]
        )


def write_rugd(root, colormap_rows=None):
    """The full release: a folder per scene in the frames and annotations folders, the colour map beside them."""
    rows = colormap_rows or default_rows()
    write_frames(
        lambda scene: root / "RUGD_frames-with-annotations" / scene,
        lambda scene: root / "RUGD_annotations" / scene,
        rows,
    )
    write_colormap(root / "RUGD_annotations" / "RUGD_annotation-colormap.txt", rows)
    return root


built = built_once("rugd", write_rugd)


SPLITS = {"train": ["trail-3_00001", "trail-3_00006"], "validation": ["park-8_00101"], "test": ["creek_00021"]}
"""The frames' splits by their scene, as the RUGD paper splits the videos."""


def test_scenes_follow_the_papers_video_split(built):
    assert_splits(built, SPLITS)


def test_colours_decode_to_native_ids(built):
    _, dataset = built
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[image_id]))


def test_unified_view(built):
    _, dataset = built
    row = rows_by_id(dataset["train"])["trail-3_00001"]
    assert unified_at(row, [0, 30, 60]) == unified_ids("offroad34", "rough drivable ground", "tree", "sky")


def test_the_shipped_colour_map_decides_the_colours(tmp_path):
    rows = default_rows()
    rows[DIRT] = (DIRT, "dirt", (1, 2, 3))  # a release with another dirt colour
    _, dataset = build("rugd", write_rugd(tmp_path / "raw", colormap_rows=rows), tmp_path / "out")
    row = rows_by_id(dataset["train"])["trail-3_00001"]
    np.testing.assert_array_equal(native_label(row), stripes(FRAMES["trail-3_00001"]))


def test_without_a_colour_map_the_built_in_colours_are_used(tmp_path):
    raw = write_rugd(tmp_path / "raw")
    (raw / "RUGD_annotations" / "RUGD_annotation-colormap.txt").unlink()
    report, dataset = build("rugd", raw, tmp_path / "out")
    assert_splits((report, dataset), SPLITS)
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[image_id]))


def test_a_colour_map_with_other_classes_is_refused(tmp_path):
    rows = default_rows()
    rows[9] = (9, "object", rows[9][2])
    raw = write_rugd(tmp_path / "raw", colormap_rows=rows)
    with pytest.raises(
        DataFileError, match="id 9 is 'object' in the file but 'container/generic-object' in unify/taxonomies/rugd.csv"
    ):
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


def test_unknown_scenes_are_refused(tmp_path):
    raw = write_rugd(tmp_path / "raw")
    write_image(raw / "RUGD_frames-with-annotations/meadow/meadow_00001.png", 1)
    with pytest.raises(UnifyError, match="unknown scene folder .*meadow"):
        build("rugd", raw, tmp_path / "out")


def write_sample_download(root, colormap_rows=None, colormap_beside=False):
    """The authors' sample: flat images/ and annotations/ in RUGD_sample-data/, the colour map inside or beside it."""
    rows = colormap_rows or default_rows()
    folder = root / "RUGD_sample-data"
    write_frames(lambda _: folder / "images", lambda _: folder / "annotations", rows)
    write_colormap((root if colormap_beside else folder) / "RUGD_annotation-colormap.txt", rows)
    return root


@pytest.mark.parametrize("folder", ["downloads", "downloads/RUGD_sample-data"])
def test_the_sample_download_splits_its_frames_as_the_full_release_does(tmp_path, folder):
    write_sample_download(tmp_path / "downloads")
    report, dataset = build("rugd", tmp_path / folder, tmp_path / "out")
    assert_splits((report, dataset), SPLITS)  # the splits the full release has, under the same ids
    assert_native_labels(dataset, lambda _, image_id: stripes(FRAMES[image_id]))


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
    with pytest.raises(
        UnifyError,
        match=r"RUGD_sample-data/images has meadow_00001.png, whose name starts with no "
        r"RUGD scene \(the video split knows creek, park-1",
    ):
        build("rugd", raw, tmp_path / "out")

"""WildDash 2 builder: one evaluation split, semantic id PNGs or the released COCO panoptic format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures import (
    assert_rows,
    assert_splits,
    build,
    expected_unified,
    native_label,
    scattered_ids,
    unified_label,
    write_image,
    write_label,
)
from unify.core.errors import BadSampleError, DataFileError

IDS = [0, 1, 7, 26, 34, 38, 58, 80]


@pytest.mark.parametrize("unified", ["cityscapes19", "mapillary63"])
def test_semantic_labels(tmp_path, unified):
    raw = tmp_path / "raw"
    written = {}
    for seed, (name, suffix) in enumerate([("at0000_100000", ".png"), ("cn0001_100044", "_labelIds.png")]):
        image = write_image(raw / "images" / f"{name}.jpg", seed)
        label = scattered_ids(IDS, seed)
        written[name] = (image, label, write_label(raw / "labels" / f"{name}{suffix}", label))
    built = build("wilddash2", raw, tmp_path / "out", unified_taxonomy=unified)
    assert_splits(built, {"validation": list(written)})
    assert_rows(built[1], written, "wilddash2", unified)


def write_panoptic(raw, categories=None):
    """Two segments of one image in COCO panoptic encoding, and a pixel of no listed segment."""
    segment = np.zeros((32, 64), dtype=np.int64)
    segment[:16] = 5 + 256 * 3  # sky
    segment[16:] = 70000  # road: needs all three channels
    segment[0, 0] = 999  # not in segments_info
    rgb = np.stack([segment % 256, segment // 256 % 256, segment // 65536], axis=-1).astype(np.uint8)
    write_label(raw / "panoptic" / "at0000_100000.png", rgb)
    write_image(raw / "images" / "at0000_100000.jpg", 0)
    panoptic = {
        "images": [{"id": "at0000_100000", "file_name": "at0000_100000.jpg"}],
        "annotations": [
            {
                "image_id": "at0000_100000",
                "file_name": "at0000_100000.png",
                "segments_info": [{"id": 5 + 256 * 3, "category_id": 23}, {"id": 70000, "category_id": 7}],
            }
        ],
        "categories": categories or [{"id": 7, "name": "road"}, {"id": 23, "name": "sky"}],
    }
    (raw / "panoptic.json").write_text(json.dumps(panoptic))


def test_panoptic_ground_truth(tmp_path):
    raw = tmp_path / "raw"
    write_panoptic(raw)
    _, loaded = build("wilddash2", raw, tmp_path / "out")
    label = native_label(loaded["validation"][0])
    expected = np.full((32, 64), 7, dtype=np.uint8)
    expected[:16] = 23
    expected[0, 0] = 0  # unlabeled, as pano2sem.py leaves it
    np.testing.assert_array_equal(label, expected)
    np.testing.assert_array_equal(
        unified_label(loaded["validation"][0]), expected_unified(expected, "wilddash2", "cityscapes19")
    )


def test_panoptic_category_outside_the_table(tmp_path):
    raw = tmp_path / "raw"
    write_panoptic(raw, categories=[{"id": 7, "name": "road"}, {"id": 81, "name": "hovercraft"}])
    with pytest.raises(DataFileError, match="category 81 .'hovercraft'. is not in the built-in wilddash2 table"):
        build("wilddash2", raw, tmp_path / "out")


def test_missing_and_truncated(tmp_path):
    raw = tmp_path / "raw"
    for seed, name in enumerate(["a", "b", "c"]):
        write_image(raw / "images" / f"{name}.jpg", seed)
        write_label(raw / "labels" / f"{name}.png", scattered_ids(IDS, seed))
    (raw / "labels" / "b.png").unlink()
    truncated = raw / "images" / "c.jpg"
    truncated.write_bytes(truncated.read_bytes()[:-200])
    with pytest.raises(BadSampleError, match="no label file"):
        build("wilddash2", raw, tmp_path / "out")
    report, _ = build("wilddash2", raw, tmp_path / "out", skip_bad=True)
    assert report.num_examples == {"validation": 1}
    assert {s.image_id: s.file for s in report.skipped} == {
        "b": "images/b.jpg",
        "c": truncated.relative_to(raw).as_posix(),
    }

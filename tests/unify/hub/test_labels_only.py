"""Labels-only pushes and `unify attach-images`: the images come back from the user's copy, checked one by one."""

import hashlib
import io
import json

import datasets
import pyarrow.parquet as pq
import pytest

from hub_fixtures import IMAGES, KITTI_TRAIN, rows, same_rows, write_kitti, write_photo
from unify.build import build_dataset
from unify.cli import main
from unify.core.errors import UnifyError
from unify.core.folder import FolderMetadata
from unify.hub import attach_images, push_dataset


def test_labels_only_round_trip_through_attach_images(hub, pseudo, tmp_path):
    push_dataset(pseudo, "tester/coarse-labels", labels_only=True)

    pushed = hub.files("tester/coarse-labels")
    shard = pq.read_table(io.BytesIO(pushed["data/train-00000-of-00001.parquet"]))
    # no images, no native labels; a checksum of each image that was labelled
    assert shard.column_names == ["label", "provenance", "image_id", "dataset", "image_sha256"]
    assert shard.column("image_sha256").to_pylist() == [
        hashlib.sha256(row["image"]["bytes"]).hexdigest() for row in rows(pseudo)
    ]
    metadata = json.loads(pushed["unify.json"])
    assert metadata["columns"] == {"native": None, "unified": "label", "provenance": "provenance"}
    assert json.loads(pushed["id2label.json"]) == json.loads((pseudo / "id2label.json").read_text())
    card = pushed["README.md"].decode()
    assert "unify attach-images tester/coarse-labels" in card and "none (labels only)" in card

    report = attach_images("tester/coarse-labels", None, tmp_path / "full", splits=IMAGES)

    assert report.counts == {"train": 4} and report.skipped == []
    same_rows(rows(tmp_path / "full"), rows(pseudo))
    restored = FolderMetadata.read(tmp_path / "full")
    assert restored.labels_only is None and restored.kind == "pseudo_labelled" and restored.images_attached
    assert restored.columns == FolderMetadata.read(pseudo).columns
    assert (
        datasets.load_dataset(str(tmp_path / "full"), split="train", streaming=True).features.keys()
        == rows(pseudo).features.keys()
    )


def test_attach_images_names_the_images_missing_from_the_raw_copy(hub, built, tmp_path):
    push_dataset(built, "tester/coarse-labels", labels_only=True)
    with pytest.raises(UnifyError, match=r"2 of 4 images of the raw copy are missing .*\n  coarse_1000002: not in"):
        attach_images("tester/coarse-labels", None, tmp_path / "full", splits=(("train", 2),))
    assert not (tmp_path / "full").exists()


@pytest.fixture
def kitti_labels(hub, tmp_path):
    """A raw KITTI copy, its build, and the build pushed labels-only as tester/kitti-labels."""
    raw = write_kitti(tmp_path / "kitti")
    build_dataset("kitti", tmp_path / "built", data_dir=raw)
    push_dataset(tmp_path / "built", "tester/kitti-labels", labels_only=True)
    return raw


def test_another_photo_under_the_same_name_is_refused_or_left_out_and_listed(kitti_labels, tmp_path, capsys):
    """Observed: after a labels-only push, attach-images paired rows by image_id only and took another photo."""
    write_photo(kitti_labels / "training" / "image_2" / f"{KITTI_TRAIN[1]}.png", seed=99)  # same size, same name

    argv = ["attach-images", "tester/kitti-labels", "--data-dir", str(kitti_labels), "--output", str(tmp_path / "full")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "1 of 2 images of the raw copy are missing or are not the ones that were labelled" in error
    assert f"training_{KITTI_TRAIN[1]} ({KITTI_TRAIN[1]}.png): the raw copy's image" in error
    assert "--skip-bad" in error and not (tmp_path / "full").exists()

    assert main([*argv, "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert f"left out training_{KITTI_TRAIN[1]} ({KITTI_TRAIN[1]}.png)" in out
    attached = FolderMetadata.read(tmp_path / "full")
    assert attached.splits == {"train": 1, "test": 1}
    assert rows(tmp_path / "full")["image_id"] == [f"training_{KITTI_TRAIN[0]}"]
    assert [(s.image_id, s.file) for s in attached.skipped] == [(f"training_{KITTI_TRAIN[1]}", f"{KITTI_TRAIN[1]}.png")]
    assert "is not the one that was labelled" in attached.skipped[0].reason


def test_a_labels_only_dataset_without_image_checksums_is_refused(built, tmp_path):
    labels = tmp_path / "labels"
    metadata = FolderMetadata.read(built)
    metadata.labels_only = {
        "columns": ["image", "label"],
        "kept": ["label"],
        "restore_from_build": {"image": "image"},
        "unified_column": "unified_label",
    }  # what earlier versions recorded
    (labels / "data").mkdir(parents=True)
    for shard in (built / "data").iterdir():
        (labels / "data" / shard.name).write_bytes(shard.read_bytes())
    metadata.write(labels)
    with pytest.raises(UnifyError, match="pushed without image checksums"):
        attach_images(labels, None, tmp_path / "full", splits=IMAGES)

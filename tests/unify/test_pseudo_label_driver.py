import dataclasses
import json
import shutil

import numpy as np
import pytest

from unify.core.segmenter import Segmenter
from unify.build import build_dataset
from unify.core.folder import FolderMetadata, load_split
from unify.core.constants import IGNORE_INDEX, REPORT_FILE, TEACHER_VOIDED
from unify.core.errors import UnifyError
from unify.pseudo_label_driver import LabellingOptions, pseudo_label_dataset
from unify.core.mapping import LabelMapping, get_mapping
from unify.core.taxonomy import get_taxonomy


@pytest.fixture(scope="module")
def coarse_and_teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelling")
    build_dataset("synthetic_driving", root / "coarse", config="coarse", splits=(("train", 5),))
    Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine")).save(root / "teacher")
    return root / "coarse", root / "teacher"


def test_pseudo_labels_follow_the_ground_truth_and_the_report_counts_every_pixel(coarse_and_teacher, tmp_path):
    data, teacher = coarse_and_teacher
    report = pseudo_label_dataset(str(teacher), data, tmp_path / "out",
                                  LabellingOptions(taxonomy="synthetic_fine", shard_size=2))
    rows = load_split(tmp_path / "out", "train")
    assert len(rows) == 5 and len(list((tmp_path / "out" / "data").glob("train-*.parquet"))) == 3
    tables = get_mapping("synthetic_coarse", "synthetic_fine").tables
    for row in rows:
        native, label = np.asarray(row["native_label"]), np.asarray(row["label"])
        allowed = tables.allowed.numpy()[native]  # (H, W, C)
        void = native == 0
        assert (label[void] == IGNORE_INDEX).all()
        assert allowed[~void, label[~void]].all()  # every pixel within its native class's allowed set
    pixels = sum(np.asarray(r["label"]).size for r in rows)
    assert sum(report["pixels_by_provenance"].values()) == pixels
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["taxonomy"] == "synthetic_fine"
    assert report["pixel_accuracy_vs_fine_truth"]["constrained"] > report["pixel_accuracy_vs_fine_truth"]["unconstrained"]


def test_an_interrupted_run_redoes_only_the_missing_shards(coarse_and_teacher, tmp_path):
    data, teacher = coarse_and_teacher
    options = LabellingOptions(taxonomy="synthetic_fine", shard_size=2)
    pseudo_label_dataset(str(teacher), data, tmp_path / "out", options)
    shards = sorted((tmp_path / "out" / "data").glob("train-*.parquet"))
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shards}
    shards[-1].unlink()  # as if the run had stopped before its last shard
    pseudo_label_dataset(str(teacher), data, tmp_path / "out", options)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((tmp_path / "out" / "data").glob("*.parquet"))}
    assert set(after) == set(before)
    assert all(after[name] == before[name] for name in list(before)[:-1])  # finished shards untouched
    assert after[shards[-1].name][0] != before[shards[-1].name][0]
    assert len(load_split(tmp_path / "out", "train")) == 5


def test_a_teacher_of_another_taxonomy_is_refused(coarse_and_teacher, tmp_path):
    data, _ = coarse_and_teacher
    Segmenter.for_training("mit-pico", get_taxonomy("cityscapes19")).save(tmp_path / "city")
    with pytest.raises(UnifyError, match="not the 15 classes of synthetic_fine"):
        pseudo_label_dataset(str(tmp_path / "city"), data, tmp_path / "out", LabellingOptions(taxonomy="synthetic_fine"))


def test_the_report_counts_the_pixels_the_teacher_voided(coarse_and_teacher, tmp_path, monkeypatch):
    data, teacher = coarse_and_teacher
    plain = get_mapping("synthetic_coarse", "synthetic_fine")
    maybe_void = {plain.native.by_name[name].id for name in ("sidewalk", "vehicle")}  # one class and void, several
    mapping = LabelMapping(plain.native, plain.unified, plain.allowed, plain.comments,
                           void_allowed=frozenset(maybe_void))
    shutil.copytree(data, tmp_path / "in")  # a folder built with that mapping, which the package's file says too
    dataclasses.replace(FolderMetadata.read(tmp_path / "in"), mapping=mapping).write(tmp_path / "in")
    monkeypatch.setattr("unify.pseudo_label_driver.get_mapping", lambda native, unified: mapping)
    report = pseudo_label_dataset(str(teacher), tmp_path / "in", tmp_path / "out",
                                  LabellingOptions(taxonomy="synthetic_fine"))
    rows = load_split(tmp_path / "out", "train")
    native, label, provenance = (np.concatenate([np.asarray(r[column]).ravel() for r in rows])
                                 for column in ("native_label", "label", "provenance"))
    voided = provenance == TEACHER_VOIDED
    assert report["pixels_by_provenance"]["teacher_voided"] == int(voided.sum()) > 0
    assert report["pixels_by_provenance_and_class"]["teacher_voided"] == {"void": int(voided.sum())}
    assert sum(report["pixels_by_provenance"].values()) == label.size
    assert (label[voided] == IGNORE_INDEX).all() and np.isin(native[voided], sorted(maybe_void)).all()
    assert FolderMetadata.read(tmp_path / "out").mapping.void_allowed == maybe_void

"""Teachers other than SegFormer, through the commands: a Mask2Former pseudo-labels, an UperNet drafts a mapping."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from tiny_teachers import save_teacher
from unify.build import build_dataset
from unify.cli import main
from unify.core.constants import IGNORE_INDEX, TEACHER_CHOSE, TEACHER_FILLED, TEACHER_VOIDED
from unify.core.folder import FolderMetadata, load_split
from unify.core.mapping import LabelMapping, get_mapping, parse_mapping
from unify.core.pseudo_label_kernel import constrained_pseudo_labels, reference_constrained_pseudo_labels
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.pseudo_label_driver import LabellingOptions, pseudo_label_dataset

FINE = get_taxonomy("synthetic_fine")
NAMES = [c.name for c in FINE.trainable]


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teachers") / "coarse"
    build_dataset("synthetic_driving", folder, config="coarse", splits=(("train", 3),))
    return folder


def test_a_mask2former_teacher_pseudo_labels_a_built_dataset(coarse, tmp_path, capsys):
    teacher = save_teacher("mask2former", NAMES, tmp_path / "m2f")
    out = tmp_path / "out"
    assert (
        main(
            [
                "pseudo-label",
                "--teacher",
                str(teacher),
                "--dataset",
                str(coarse),
                "--taxonomy",
                "synthetic_fine",
                "--output",
                str(out),
                "--batch-size",
                "1",
            ]
        )
        == 0
    )
    assert '"output"' in capsys.readouterr().out
    assert FolderMetadata.read(out).teacher["name"] == "m2f"
    segmenter = Segmenter.load(teacher, device="cpu")
    tables = get_mapping("synthetic_coarse", "synthetic_fine").tables
    rows = load_split(out, "train")
    assert len(rows) == 3
    decided = 0
    for row in rows:
        native = torch.from_numpy(np.asarray(row["native_label"]).astype(np.int64))[None]
        image = torch.from_numpy(np.array(row["image"].convert("RGB"))).permute(2, 0, 1)[None]
        with torch.inference_mode():
            expected = reference_constrained_pseudo_labels(
                segmenter.probabilities(segmenter.preprocess(image)), native, tables
            )
        label, provenance = np.asarray(row["label"]), np.asarray(row["provenance"])
        assert np.array_equal(label, expected.label[0].numpy())  # the Mask2Former's scores decided
        assert np.array_equal(provenance, expected.provenance[0].numpy())
        assert ((label < FINE.num_labels) | (label == IGNORE_INDEX)).all()
        decided += int(np.isin(provenance, [TEACHER_CHOSE, TEACHER_FILLED]).sum())
    assert decided > 0


@pytest.mark.parametrize("family", ["upernet-convnext", "dpt"])  # DPT: square inputs only, the images are not
def test_an_upernet_or_dpt_teacher_drafts_a_mapping(family, tmp_path, capsys):
    teacher = save_teacher(family, NAMES, tmp_path / family)
    output = tmp_path / "draft.txt"
    assert (
        main(
            [
                "mappings",
                "suggest",
                "synthetic_driving",
                "synthetic_fine",
                "--teacher",
                str(teacher),
                "--config",
                "coarse",
                "--samples",
                "2",
                "--output",
                str(output),
            ]
        )
        == 0
    )
    assert f"wrote {output}" in capsys.readouterr().out
    parse_mapping(output, get_taxonomy("synthetic_coarse"), FINE)


def test_a_mask2former_no_object_score_voids_pixels_where_void_stands_beside_classes(coarse, tmp_path, monkeypatch):
    """End to end: the driver hands the no-object channel to the kernel for a mapping with `a, b, void` lines."""
    plain = get_mapping("synthetic_coarse", "synthetic_fine")
    maybe_void = frozenset(plain.native.by_name[name].id for name in ("construction", "nature", "vehicle"))
    mapping = LabelMapping(plain.native, plain.unified, plain.allowed, plain.comments, void_allowed=maybe_void)
    shutil.copytree(coarse, tmp_path / "in")  # as if built with that mapping, which the package's file says too
    dataclasses.replace(FolderMetadata.read(tmp_path / "in"), mapping=mapping).write(tmp_path / "in")
    monkeypatch.setattr("unify.pseudo_label_driver.run.get_mapping", lambda native, unified: mapping)
    teacher = save_teacher("mask2former", NAMES, tmp_path / "m2f")
    report = pseudo_label_dataset(str(teacher), tmp_path / "in", tmp_path / "out", LabellingOptions(batch_size=1))
    segmenter = Segmenter.load(teacher, device="cpu")
    voided = differs_without_no_object = 0
    for row in load_split(tmp_path / "out", "train"):
        native = torch.from_numpy(np.array(row["native_label"]))[None]
        pixels = segmenter.preprocess(torch.from_numpy(np.array(row["image"].convert("RGB"))).permute(2, 0, 1)[None])
        with torch.inference_mode():
            scores = segmenter.probabilities(pixels, with_no_object=True)
            expected = constrained_pseudo_labels(scores, native, mapping.tables, no_object=True)
            without = constrained_pseudo_labels(scores[:, :-1], native, mapping.tables)
        label, provenance = np.asarray(row["label"]), np.asarray(row["provenance"])
        assert np.array_equal(label, expected.label[0].numpy()) and np.array_equal(
            provenance, expected.provenance[0].numpy()
        )
        assert np.isin(np.asarray(row["native_label"])[provenance == TEACHER_VOIDED], sorted(maybe_void)).all()
        voided += int((provenance == TEACHER_VOIDED).sum())
        differs_without_no_object += int((without.label[0].numpy() != label).sum())
    assert report["pixels_by_provenance"]["teacher_voided"] == voided > 0
    assert differs_without_no_object > 0  # the no-object rule decided, not the best unlisted class
    audited = report["mapping_audit"]["classes"]
    assert sum(entry["pixels"] for entry in audited.values()) > 0
    assert {p["class"] for entry in audited.values() for p in entry["preferred"]} <= set(NAMES)  # C classes only

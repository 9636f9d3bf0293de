"""Teachers other than SegFormer, through the commands: a Mask2Former pseudo-labels, an UperNet drafts a mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_teachers import save_teacher

from unify.build import build_dataset
from unify.cli import main
from unify.core.constants import IGNORE_INDEX, TEACHER_CHOSE, TEACHER_FILLED
from unify.core.folder import FolderMetadata, load_split
from unify.core.mapping import get_mapping, parse_mapping
from unify.core.pseudo_label_kernel import reference_constrained_pseudo_labels
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy

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
    assert main(["pseudo-label", "--teacher", str(teacher), "--dataset", str(coarse), "--taxonomy", "synthetic_fine",
                 "--output", str(out), "--batch-size", "1"]) == 0
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
            expected = reference_constrained_pseudo_labels(segmenter.probabilities(segmenter.preprocess(image)),
                                                           native, tables)
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
    assert main(["mappings", "suggest", "synthetic_driving", "synthetic_fine", "--teacher", str(teacher),
                 "--config", "coarse", "--samples", "2", "--output", str(output)]) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    parse_mapping(output, get_taxonomy("synthetic_coarse"), FINE)

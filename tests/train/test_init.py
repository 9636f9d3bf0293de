"""Fine-tuning a published student: `unify train CONFIG --init NS/NAME` through the loopback Hub."""

import logging

import pytest
import torch
import yaml
from transformers import SegformerConfig, SegformerForSemanticSegmentation

from unify.build import build_dataset
from unify.cli import main
from unify.core.segmenter import SEGFORMER_SIZES, Segmenter
from unify.core.taxonomy import ClassInfo, Taxonomy, get_taxonomy

FINE = get_taxonomy("synthetic_fine")


@pytest.fixture
def student(hub, tmp_path):
    """A tiny synthetic_fine SegFormer published as tester/student; returns its weights."""
    from huggingface_hub import HfApi

    torch.manual_seed(0)
    model = SegformerForSemanticSegmentation(
        SegformerConfig(
            **SEGFORMER_SIZES["mit-pico"],
            num_labels=FINE.num_labels,
            id2label=FINE.id2label(),
            label2id=FINE.label2id(),
        )
    )
    model.save_pretrained(tmp_path / "student")
    HfApi().create_repo("tester/student")
    HfApi().upload_folder(repo_id="tester/student", folder_path=tmp_path / "student")
    return model.state_dict()


def test_the_same_classes_keep_every_weight(student, caplog):
    caplog.set_level(logging.INFO, logger="unify.core.segmenter")
    model = Segmenter.for_training("tester/student", FINE).model
    assert all(torch.equal(tensor, model.state_dict()[name]) for name, tensor in student.items())
    total = len(model.state_dict())
    assert f"{total} of {total} tensors loaded, 0 new (none)" in caplog.text


def test_a_resumed_run_names_its_checkpoint_instead_of_the_starting_weights(student, caplog):
    caplog.set_level(logging.INFO, logger="unify.core.segmenter")
    Segmenter.for_training("tester/student", FINE, resume_from="step-00000003")
    assert "model tester/student: resuming from checkpoint step-00000003" in caplog.text
    assert "initialised from" not in caplog.text


def test_other_classes_keep_the_backbone_and_reinitialise_the_classifier(student, caplog):
    caplog.set_level(logging.INFO, logger="unify.core.segmenter")
    cityscapes = get_taxonomy("cityscapes19")
    model = Segmenter.for_training("tester/student", cityscapes).model
    weights = model.state_dict()
    kept = [name for name in student if not name.startswith("decode_head.classifier")]
    assert all(torch.equal(student[name], weights[name]) for name in kept)
    assert weights["decode_head.classifier.weight"].shape[0] == 19
    assert model.config.id2label == cityscapes.id2label()
    total = len(weights)
    assert (
        f"{total - 2} of {total} tensors loaded, 2 new (decode_head.classifier) for the 19 classes of cityscapes19"
        in caplog.text
    )


def test_a_same_sized_head_for_other_classes_is_reinitialised_too(student, caplog):
    caplog.set_level(logging.INFO, logger="unify.core.segmenter")
    reversed_names = [c.name for c in reversed(FINE.trainable)]
    shuffled = Taxonomy(
        "reversed", tuple(ClassInfo(i, name, (0, 0, 0), False) for i, name in enumerate(reversed_names))
    )
    model = Segmenter.for_training("tester/student", shuffled).model
    weights = model.state_dict()
    assert not torch.equal(weights["decode_head.classifier.weight"], student["decode_head.classifier.weight"])
    assert torch.equal(weights["decode_head.linear_fuse.weight"], student["decode_head.linear_fuse.weight"])
    assert [model.config.id2label[i] for i in range(15)] == reversed_names
    assert "122 of 124 tensors loaded, 2 new (decode_head.classifier) for the 15 classes of reversed" in caplog.text


def test_unify_train_init_fine_tunes_the_published_student(student, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="unify.core.segmenter")
    build_dataset("synthetic_driving", tmp_path / "data", config="source", splits=(("train", 4),))
    config = tmp_path / "finetune.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output_dir": str(tmp_path / "run"),
                "taxonomy": "synthetic_fine",
                "model": "mit-b0",
                "train_data": [{"path": str(tmp_path / "data")}],
                "crop_size": [64, 64],
                "global_batch_size": 2,
                "steps": 2,
                "warmup_steps": 0,
                "checkpoint_every": 0,
                "num_workers": 0,
            }
        )
    )

    assert main(["train", str(config), "--init", "tester/student"]) == 0

    assert "initialised from tester/student@" in caplog.text and " 0 new (none)" in caplog.text
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["model"] == "tester/student"
    trained = SegformerForSemanticSegmentation.from_pretrained(tmp_path / "run" / "model", use_safetensors=True)
    assert trained.config.hidden_sizes == SEGFORMER_SIZES["mit-pico"]["hidden_sizes"]  # the student's, not mit-b0's

"""The segmenter loads every family of segmentation model and gives per-pixel class scores from each.

Each family is a tiny random model built from its config and saved as on the Hub (`tiny_teachers`); the
mask-classification score is checked against the formula written out query by query.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from tiny_teachers import MASK_FAMILIES, MEAN, save_teacher, task_tokenizer
from unify.core.errors import UnifyError
from unify.core.segmenter import (
    ONEFORMER_TASK,
    ModelSourceError,
    Segmenter,
    TaxonomyMismatchError,
    describe_architecture,
)
from unify.core.taxonomy import get_taxonomy

FINE = get_taxonomy("synthetic_fine")
NAMES = [c.name for c in FINE.trainable]
MODEL_CLASSES = {
    "segformer": "SegformerForSemanticSegmentation",
    "upernet-convnext": "UperNetForSemanticSegmentation",
    "upernet-swin": "UperNetForSemanticSegmentation",
    "dpt": "DPTForSemanticSegmentation",
    "beit": "BeitForSemanticSegmentation",
    "mask2former": "Mask2FormerForUniversalSegmentation",
    "oneformer": "OneFormerForUniversalSegmentation",
}
OUTPUT_SIZES = {
    "segformer": (16, 24),
    "upernet-convnext": (64, 96),
    "upernet-swin": (64, 96),
    "dpt": (64, 64),
    "beit": (16, 24),
    "mask2former": (16, 24),
    "oneformer": (16, 24),
}  # for a 64 x 96 input


@pytest.fixture(scope="module", params=list(MODEL_CLASSES))
def family(request, tmp_path_factory):
    """(family name, its saved folder, the segmenter loaded from that folder)."""
    folder = save_teacher(request.param, NAMES, tmp_path_factory.mktemp(request.param))
    return request.param, folder, Segmenter.load(folder, device="cpu")


@pytest.fixture(scope="module")
def pixels():
    return torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1)) * 4 - 2


def test_each_family_loads_as_its_own_model_class_with_its_own_normalisation(family):
    name, _, segmenter = family
    assert type(segmenter.model).__name__ == MODEL_CLASSES[name]
    assert segmenter.mean == pytest.approx(MEAN)
    assert segmenter.has_no_object == (name in MASK_FAMILIES)
    assert not segmenter.model.training


def test_scores_come_at_the_output_size_and_probabilities_sum_to_one(family, pixels):
    name, _, segmenter = family
    with torch.inference_mode():
        scores = segmenter.scores(pixels)
        probabilities = segmenter.probabilities(pixels, scales=(1.0, 0.75))
        logits = segmenter.logits(pixels)
        upsampled = segmenter.logits(pixels, size=(64, 96))
    assert scores.shape == (2, len(NAMES), *OUTPUT_SIZES[name]) and scores.dtype == torch.float32
    assert probabilities.shape == scores.shape and upsampled.shape == (2, len(NAMES), 64, 96)
    assert (probabilities >= 0).all()
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2, *OUTPUT_SIZES[name]))
    assert torch.equal(logits.argmax(1), scores.argmax(1))


def test_the_teacher_is_checked_against_its_own_id2label(family):
    _, _, segmenter = family
    segmenter.check_predicts(FINE)
    assert segmenter.taxonomy().name == "synthetic_fine"
    with pytest.raises(TaxonomyMismatchError, match="15 classes"):
        segmenter.check_predicts(get_taxonomy("cityscapes19"), role="the teacher")


def test_only_mask_classification_models_have_a_no_object_channel(family, pixels):
    name, _, segmenter = family
    if name not in MASK_FAMILIES:
        with pytest.raises(UnifyError, match="no no-object class"):
            segmenter.scores(pixels, with_no_object=True)
        return
    with torch.inference_mode():
        scores, with_no_object = segmenter.scores(pixels), segmenter.scores(pixels, with_no_object=True)
        probabilities = segmenter.probabilities(pixels, with_no_object=True)
    assert with_no_object.shape == (2, len(NAMES) + 1, 16, 24)
    torch.testing.assert_close(with_no_object[:, :-1], scores)
    torch.testing.assert_close(probabilities, with_no_object / with_no_object.sum(1, keepdim=True))


@pytest.mark.parametrize("name", MASK_FAMILIES)
def test_mask_classification_scores_are_the_sum_over_queries_of_class_probability_times_mask(name, pixels, tmp_path):
    segmenter = Segmenter.load(save_teacher(name, NAMES, tmp_path), device="cpu")
    with torch.inference_mode():
        inputs = {"task_inputs": segmenter.task_inputs.expand(2, -1)} if name == "oneformer" else {}
        raw = segmenter.model(pixel_values=pixels, **inputs)
        scores = segmenter.scores(pixels, with_no_object=True)
        logits = segmenter.logits(pixels)
    expected = torch.zeros(2, len(NAMES) + 1, *raw.masks_queries_logits.shape[-2:])
    for query in range(raw.class_queries_logits.shape[1]):  # written out, one query at a time
        classes = torch.softmax(raw.class_queries_logits[:, query], dim=-1)  # (B, C + 1), no-object last
        mask = torch.sigmoid(raw.masks_queries_logits[:, query])  # (B, h, w)
        expected += classes[:, :, None, None] * mask[:, None]
    torch.testing.assert_close(scores, expected)
    real = expected[:, :-1]
    torch.testing.assert_close(logits.softmax(1), real / real.sum(1, keepdim=True))


def test_a_segformer_runs_exactly_as_before_at_any_size(tmp_path):
    segmenter = Segmenter.load(save_teacher("segformer", NAMES, tmp_path), device="cpu")
    pixels = torch.randn(1, 3, 61, 93)
    assert segmenter.input_size(61, 93) == (61, 93)
    with torch.inference_mode():
        assert torch.equal(segmenter.logits(pixels), segmenter.model(pixel_values=pixels).logits)


@pytest.mark.parametrize(
    "name, size",
    [
        ("upernet-swin", (32, 96)),
        ("mask2former", (32, 96)),
        ("beit", (48, 96)),
        ("dpt", (64, 64)),
        ("segformer", (40, 100)),
    ],
)
def test_other_models_run_at_a_size_their_architecture_covers_whole(name, size, tmp_path):
    segmenter = Segmenter.load(save_teacher(name, NAMES, tmp_path), device="cpu")
    seen = []
    segmenter.model.register_forward_pre_hook(
        lambda _, args, kwargs: seen.append(kwargs["pixel_values"].shape[-2:]), with_kwargs=True
    )
    assert segmenter.input_size(40, 100) == size
    with torch.inference_mode():
        assert segmenter.logits(torch.randn(1, 3, 40, 100), size=(40, 100)).shape == (1, len(NAMES), 40, 100)
    assert seen == [size]


def test_oneformer_is_told_the_semantic_task_as_its_processor_would(tmp_path):
    segmenter = Segmenter.load(save_teacher("oneformer", NAMES, tmp_path), device="cpu")
    processor = transformers.OneFormerProcessor(
        image_processor=transformers.OneFormerImageProcessorPil(), tokenizer=task_tokenizer(), task_seq_length=12
    )
    expected = processor(images=[np.zeros((32, 32, 3), np.uint8)], task_inputs=["semantic"])["task_inputs"]
    assert ONEFORMER_TASK == "the task is semantic"
    assert segmenter.task_inputs.shape == (1, 12) and torch.equal(segmenter.task_inputs, expected.float())
    tokens = task_tokenizer()(ONEFORMER_TASK)["input_ids"]  # start, the four words, end
    assert segmenter.task_inputs[0].tolist() == [*tokens, *[0] * (12 - len(tokens))]


def test_a_oneformer_without_its_tokenizer_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ModelSourceError, match="no tokenizer"):
        Segmenter.load(save_teacher("oneformer", NAMES, tmp_path, tokenizer=False), device="cpu")


def test_a_model_without_per_pixel_class_scores_is_refused(tmp_path):
    config = transformers.ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], num_labels=3)
    transformers.ConvNextForImageClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ModelSourceError, match="convnext model, which gives no per-pixel class scores.*mask2former"):
        Segmenter.load(tmp_path, device="cpu")


def test_students_stay_segformers(tmp_path):
    folder = save_teacher("mask2former", NAMES, tmp_path)
    with pytest.raises(ModelSourceError, match="mask2former model; students are SegFormers"):
        Segmenter.for_training(str(folder), FINE)


def test_the_architecture_names_the_backbone(tmp_path):
    segmenter = Segmenter.load(save_teacher("upernet-convnext", NAMES, tmp_path), device="cpu")
    assert describe_architecture(segmenter.model.config) == "upernet (convnext)"


def test_only_segformers_are_saved_with_a_segformer_image_processor(tmp_path):
    segmenter = Segmenter.load(save_teacher("beit", NAMES, tmp_path / "beit"), device="cpu")
    with pytest.raises(UnifyError, match="beit model; only SegFormers are saved"):
        segmenter.save(tmp_path / "copy")


def test_a_config_with_a_field_of_the_wrong_type_is_one_clear_error(tmp_path):
    folder = save_teacher("segformer", NAMES, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_attention_heads": 2}))
    with pytest.raises(ModelSourceError, match=f"cannot load {folder.name} as a segmentation model"):
        Segmenter.load(folder, device="cpu")


def test_a_run_folder_is_not_a_model_and_the_error_names_its_model_folder(tmp_path):
    run = tmp_path / "runs" / "teacher"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("output_dir: .\n")  # an older run: no provenance.json, no model/ yet
    with pytest.raises(ModelSourceError) as refused:
        Segmenter.load(run)
    assert str(refused.value) == (
        f"{run} is a training run folder; use its model folder {run / 'model'} (written when its training finishes)"
    )


SAVE_AND_LOAD = """
import sys
from transformers import AutoImageProcessor, pipeline
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy

Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine")).save(sys.argv[1])
Segmenter.load(sys.argv[1])
print(type(AutoImageProcessor.from_pretrained(sys.argv[1])).__name__)
pipeline("image-segmentation", model=sys.argv[1])
"""


def test_saving_and_loading_a_segmenter_needs_no_torchvision_and_says_nothing_about_it(tmp_path):
    """transformers warns once per process, so a fresh interpreter: the warning may not be hidden by an earlier test."""
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", SAVE_AND_LOAD, str(tmp_path / "model")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "torchvision" not in done.stderr
    assert done.stdout.split()[-1].startswith("SegformerImageProcessor")
    saved = json.loads((tmp_path / "model" / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "SegformerImageProcessor"  # what transformers 4 and 5 both load
    assert saved["do_resize"] is False  # numbers unchanged: the same normalisation, no resizing
    assert (saved["image_mean"], saved["image_std"]) == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert saved["rescale_factor"] == pytest.approx(1 / 255)

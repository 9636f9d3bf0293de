"""SegFormer models built from a size name, a local folder or a Hub id, labelled with a unified taxonomy."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import SegformerConfig, SegformerForSemanticSegmentation

from unify.core.constants import IGNORE_INDEX
from unify.core.errors import UnifyError
from unify.core.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

_B2_TO_B5 = dict(hidden_sizes=[64, 128, 320, 512], decoder_hidden_size=768, num_attention_heads=[1, 2, 5, 8])
SEGFORMER_SIZES: dict[str, dict] = {
    # Deliberately tiny shapes: the demo and the tests train these on a CPU in minutes.
    "mit-pico": dict(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], decoder_hidden_size=32,
                     num_attention_heads=[1, 1, 1, 2]),
    "mit-nano": dict(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], decoder_hidden_size=128,
                     num_attention_heads=[1, 1, 2, 4]),
    # The published MiT encoder shapes (Xie et al., SegFormer).
    "mit-b0": dict(hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2], decoder_hidden_size=256,
                   num_attention_heads=[1, 2, 5, 8]),
    "mit-b1": dict(hidden_sizes=[64, 128, 320, 512], depths=[2, 2, 2, 2], decoder_hidden_size=256,
                   num_attention_heads=[1, 2, 5, 8]),
    "mit-b2": dict(depths=[3, 4, 6, 3], **_B2_TO_B5),
    "mit-b3": dict(depths=[3, 4, 18, 3], **_B2_TO_B5),
    "mit-b4": dict(depths=[3, 8, 27, 3], **_B2_TO_B5),
    "mit-b5": dict(depths=[3, 6, 40, 3], **_B2_TO_B5),
}


def build_model(name_or_path: str, taxonomy: Taxonomy) -> SegformerForSemanticSegmentation:
    """A SegFormer predicting `taxonomy`: random weights for a size name, else loaded (safetensors only)."""
    taxonomy.require_unified()
    labels = dict(id2label=taxonomy.id2label(), label2id=taxonomy.label2id(), num_labels=taxonomy.num_labels,
                  semantic_loss_ignore_index=IGNORE_INDEX)
    if name_or_path in SEGFORMER_SIZES:
        return SegformerForSemanticSegmentation(SegformerConfig(**SEGFORMER_SIZES[name_or_path], **labels))
    return _from_pretrained(name_or_path, taxonomy, labels)


def _from_pretrained(name_or_path: str, taxonomy: Taxonomy, labels: dict) -> SegformerForSemanticSegmentation:
    """Fine-tune saved or published weights: the encoder and decode head carry over to any taxonomy, the
    classifier only when it already predicts `taxonomy`'s classes in order (a same-shaped head for other
    classes would silently keep the wrong meaning, so it is re-initialised too)."""
    where = "local folder" if Path(name_or_path).is_dir() else "Hub"
    source = SegformerConfig.from_pretrained(name_or_path)
    source_names = [source.id2label[i] for i in range(source.num_labels)]
    model = SegformerForSemanticSegmentation.from_pretrained(
        name_or_path, use_safetensors=True, ignore_mismatched_sizes=True, **labels)
    if source_names == [c.name for c in taxonomy.trainable]:
        logger.info("initialised from %s (%s): every weight kept, it already predicts the %d classes of %s",
                    name_or_path, where, taxonomy.num_labels, taxonomy.name)
        return model
    classifier = model.decode_head.classifier
    if source.num_labels == taxonomy.num_labels:  # same shape, other classes: from_pretrained kept the old head
        torch.nn.init.normal_(classifier.weight, std=model.config.initializer_range)
        torch.nn.init.zeros_(classifier.bias)
    shown = ", ".join(source_names[:5]) + (", ..." if len(source_names) > 5 else "")
    logger.info("initialised from %s (%s): encoder and decode head kept, classifier re-initialised for the %d "
                "classes of %s (it predicted %d other classes: %s)", name_or_path, where, taxonomy.num_labels,
                taxonomy.name, source.num_labels, shown)
    return model


def load_model(path: str) -> SegformerForSemanticSegmentation:
    """A saved model as it is, with its own labels (safetensors only, never remote code)."""
    return SegformerForSemanticSegmentation.from_pretrained(path, use_safetensors=True)


def check_teacher(model, unified: Taxonomy, teacher: str) -> None:
    """A teacher must predict exactly the unified taxonomy's classes, in its id order."""
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    expected = [c.name for c in unified.trainable]
    if names != expected:
        raise UnifyError(f"teacher {teacher} predicts {len(names)} classes {names[:5]}..., not the {unified.name} "
                         f"taxonomy ({len(expected)} classes {expected[:5]}...); pass the teacher's --taxonomy")

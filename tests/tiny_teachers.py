"""Tiny teachers of every family the segmenter accepts, built from configs (no download), saved as on the Hub.

Each builder returns a random-weight model with a few thousand to a hundred thousand parameters whose
id2label is the given class names; `save_teacher` writes it with `save_pretrained` and its family's image
processor (with a mean and std that are not ImageNet's, so a test can see they were read), plus, for
OneFormer, a CLIP tokenizer whose vocabulary covers the task text.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers as T

from unify.core.segmenter import SEGFORMER_SIZES

MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
SWIN = dict(
    embed_dim=8,
    depths=[1, 1, 1, 1],
    num_heads=[1, 1, 1, 1],
    window_size=4,
    out_features=["stage1", "stage2", "stage3", "stage4"],
)
VIT = dict(  # the plain-ViT shape of DPT and BEiT
    hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=64, patch_size=16
)
MASK_HEAD = dict(
    encoder_feedforward_dim=32,
    dim_feedforward=32,
    encoder_layers=1,
    decoder_layers=2,
    num_attention_heads=2,
    num_queries=6,
    use_pretrained_backbone=False,
)  # widths: GroupNorm needs 32


def _labels(names: list[str]) -> dict:
    return dict(num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})


def segformer(names):
    config = T.SegformerConfig(**SEGFORMER_SIZES["mit-pico"], **_labels(names))
    return T.SegformerForSemanticSegmentation(config), T.SegformerImageProcessorPil


def upernet_convnext(names):
    backbone = T.ConvNextConfig(
        hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], out_features=["stage1", "stage2", "stage3", "stage4"]
    )
    config = T.UperNetConfig(
        backbone_config=backbone, hidden_size=16, auxiliary_channels=8, use_pretrained_backbone=False, **_labels(names)
    )
    return T.UperNetForSemanticSegmentation(config), T.SegformerImageProcessorPil


def upernet_swin(names):
    config = T.UperNetConfig(
        backbone_config=T.SwinConfig(**SWIN),
        hidden_size=16,
        auxiliary_channels=8,
        use_pretrained_backbone=False,
        **_labels(names),
    )
    return T.UperNetForSemanticSegmentation(config), T.SegformerImageProcessorPil


def dpt(names):
    config = T.DPTConfig(
        **VIT,
        neck_hidden_sizes=[8, 16, 16, 16],
        fusion_hidden_size=16,
        backbone_out_indices=[0, 1, 2, 3],
        reassemble_factors=[4, 2, 1, 0.5],
        **_labels(names),
    )
    return T.DPTForSemanticSegmentation(config), T.DPTImageProcessorPil


def beit(names):
    config = T.BeitConfig(
        **VIT,
        out_indices=[0, 1, 2, 3],
        use_relative_position_bias=True,
        use_absolute_position_embeddings=True,
        pool_scales=[1, 2],
        auxiliary_channels=8,
        **_labels(names),
    )
    return T.BeitForSemanticSegmentation(config), T.BeitImageProcessorPil


def mask2former(names):
    config = T.Mask2FormerConfig(
        backbone_config=T.SwinConfig(**SWIN),
        feature_size=32,
        mask_feature_size=32,
        hidden_dim=32,
        **MASK_HEAD,
        **_labels(names),
    )
    return T.Mask2FormerForUniversalSegmentation(config), T.Mask2FormerImageProcessorPil


def oneformer(names):
    config = T.OneFormerConfig(
        backbone_config=T.SwinConfig(**SWIN),
        conv_dim=32,
        mask_dim=32,
        hidden_dim=32,
        text_encoder_width=16,
        text_encoder_num_layers=1,
        task_seq_len=12,
        **MASK_HEAD,
        **_labels(names),
    )
    return T.OneFormerForUniversalSegmentation(config), T.OneFormerImageProcessorPil


FAMILIES = {
    "segformer": segformer,
    "upernet-convnext": upernet_convnext,
    "upernet-swin": upernet_swin,
    "dpt": dpt,
    "beit": beit,
    "mask2former": mask2former,
    "oneformer": oneformer,
}
MASK_FAMILIES = ("mask2former", "oneformer")


def task_tokenizer() -> T.CLIPTokenizer:
    """A CLIP tokenizer that knows exactly the words of OneFormer's task texts, as whole-word merges."""
    words = ["the", "task", "is", "semantic", "instance", "panoptic"]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in sorted(set("".join(words))):
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    merges = []
    for word in words:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            merges.append((parts[0], parts[1]))
            vocab.setdefault(parts[0] + parts[1], len(vocab))
            parts = [parts[0] + parts[1], *parts[2:]]
    return T.CLIPTokenizer(vocab=vocab, merges=merges)


def save_teacher(family: str, names: list[str], folder: Path, seed: int = 0, tokenizer: bool = True) -> Path:
    """`folder` with a random tiny `family` model predicting `names`, its image processor (and tokenizer)."""
    torch.manual_seed(seed)
    model, processor = FAMILIES[family](names)
    model.save_pretrained(folder, safe_serialization=True)
    processor(image_mean=MEAN, image_std=STD).save_pretrained(folder)
    if family == "oneformer" and tokenizer:
        task_tokenizer().save_pretrained(folder)
    return folder

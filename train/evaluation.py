"""Evaluation during and after training: whole images, logits upsampled to the label, streaming mIoU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from train.config import DataSource
from train.data import decode_pair, open_source
from train.transforms import EvalTransform
from unify.core.metrics import ConfusionMatrix, SegmentationScores


@torch.inference_mode()
def predict_logits(model, pixel_values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) logits upsampled to `size`."""
    logits = model(pixel_values=pixel_values).logits
    return F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)


def evaluate_source(model, source: DataSource, num_labels: int, process_index: int = 0, num_processes: int = 1,
                    show_progress: bool = True) -> SegmentationScores:
    """mIoU of `model` on one source; each process takes every num_processes-th image, then they sum."""
    table, column = open_source(source)
    transform = EvalTransform()
    device = next(model.parameters()).device
    matrix = ConfusionMatrix(num_labels)
    was_training = model.training
    model.eval()
    rows = range(process_index, len(table), num_processes)
    for index in tqdm(rows, desc=f"evaluate {source.name}", disable=not show_progress, leave=False):
        pixels, target = transform(*decode_pair(table[index], column))
        logits = predict_logits(model, pixels[None].to(device), tuple(target.shape))
        matrix.update(logits.argmax(1)[0], target.to(device))
    model.train(was_training)
    matrix.reduce()
    return matrix.compute()

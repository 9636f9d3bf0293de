"""Streaming segmentation metrics: one confusion matrix, updated with `torch.bincount`.

Memory is one C x C int64 matrix whatever the number of images, and it sums across processes,
so the same object serves one CPU and many GPUs. The design is that of torchvision's segmentation
reference (`references/segmentation/utils.py`, `ConfusionMatrix`); IoU = TP / (TP + FP + FN) per class,
as PASCAL VOC (Everingham et al., 2015) and Cityscapes define it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SegmentationScores:
    """What `ConfusionMatrix.compute` gives: fractions in [0, 1], nan where a class never occurred."""

    iou: list[float]  # per class; nan for a class absent from both prediction and truth
    class_accuracy: list[float]  # per class recall; nan for a class absent from the truth
    miou: float  # mean of the non-nan IoUs
    pixel_accuracy: float
    matrix: torch.Tensor  # (C, C) int64, rows = truth, columns = prediction


def json_number(value: float) -> float | None:
    """A score as JSON has it: rounded, and None where the class never occurred (nan)."""
    return None if math.isnan(value) else round(value, 6)


class ConfusionMatrix:
    """Pixel counts of (truth, prediction) pairs over C classes, accumulated one batch at a time.

    Target values outside 0..C-1 are not counted: `IGNORE_INDEX` (255, never a class id of a unified taxonomy,
    whose ignored classes sit there) and any other; predictions outside are clamped.
    """

    def __init__(self, num_classes: int, device: torch.device | str | None = None):
        """`num_classes` C; `device`: where the (C, C) int64 matrix lives; None: created on the first update's device.

        Give it when the matrix is summed across processes: a process that sees no image must still take part.
        """
        self.num_classes = num_classes
        self.matrix: torch.Tensor | None = None
        if device is not None:
            self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Count the (truth, prediction) pairs of two integer tensors of one shape (any shape, any device).

        Target pixels outside 0..C-1 (`IGNORE_INDEX` among them) are skipped; a prediction outside 0..C-1 counts
        as the nearest class. Raises `ValueError` when the shapes differ.
        """
        if prediction.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(prediction.shape)} != target shape {tuple(target.shape)}")
        n = self.num_classes
        if self.matrix is None:
            self.matrix = torch.zeros(n, n, dtype=torch.int64, device=target.device)
        target = target.reshape(-1).long()
        prediction = prediction.reshape(-1).long()
        skipped = (target < 0) | (target >= n)
        # Skipped pixels go to one extra bin that is dropped: cheaper than gathering the kept ones.
        pairs = (target * n + prediction.clamp(0, n - 1)).masked_fill_(skipped, n * n)
        self.matrix += torch.bincount(pairs, minlength=n * n + 1)[: n * n].reshape(n, n)

    def reduce(self) -> None:
        """Sum the matrices of every process (a no-op without torch.distributed)."""
        if self.matrix is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.matrix)

    def compute(self) -> SegmentationScores:
        """IoU and recall per class, their mean IoU and the pixel accuracy, on the CPU (float64 arithmetic)."""
        n = self.num_classes
        matrix = self.matrix if self.matrix is not None else torch.zeros(n, n, dtype=torch.int64)
        m = matrix.double().cpu()
        tp = m.diag()
        truth, predicted = m.sum(1), m.sum(0)
        union = truth + predicted - tp
        iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))
        recall = torch.where(truth > 0, tp / truth.clamp(min=1), torch.full_like(tp, math.nan))
        valid = ~iou.isnan()
        total = m.sum()
        return SegmentationScores(
            iou=iou.tolist(),
            class_accuracy=recall.tolist(),
            miou=iou[valid].mean().item() if valid.any() else math.nan,
            pixel_accuracy=(tp.sum() / total).item() if total > 0 else math.nan,
            matrix=matrix.cpu(),
        )

import math

import numpy as np
import pytest
import torch

from unify.core.metrics import ConfusionMatrix, json_number


def _reference_iou(pred: np.ndarray, target: np.ndarray, num_classes: int) -> list[float]:
    ious = []
    valid = target < num_classes
    for c in range(num_classes):
        inter = np.sum((pred == c) & (target == c) & valid)
        union = np.sum(((pred == c) | (target == c)) & valid)
        ious.append(inter / union if union else math.nan)
    return ious


def test_streaming_matches_per_pixel_reference_and_skips_the_ignore_index():
    rng = np.random.default_rng(0)
    preds = [rng.integers(0, 5, (7, 9)) for _ in range(4)]
    targets = [np.where(rng.random((7, 9)) < 0.2, 255, rng.integers(0, 4, (7, 9))) for _ in range(4)]
    cm = ConfusionMatrix(5)
    for p, t in zip(preds, targets, strict=True):
        cm.update(torch.from_numpy(p), torch.from_numpy(t))
    scores = cm.compute()
    expected = _reference_iou(np.stack(preds), np.stack(targets), 5)
    assert np.allclose(scores.iou, expected, equal_nan=True)
    valid = np.stack(targets) != 255
    assert scores.pixel_accuracy == pytest.approx((np.stack(preds) == np.stack(targets))[valid].mean())
    assert scores.miou == pytest.approx(np.nanmean(expected))
    assert int(scores.matrix.sum()) == int(valid.sum())


def test_absent_class_is_nan_and_not_averaged():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 0, 1]), torch.tensor([0, 0, 1]))
    scores = cm.compute()
    assert scores.iou[:2] == [1.0, 1.0] and math.isnan(scores.iou[2])
    assert scores.miou == 1.0
    assert json_number(scores.iou[2]) is None and json_number(scores.iou[0]) == 1.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        ConfusionMatrix(2).update(torch.zeros(2, 3), torch.zeros(3, 2))

"""A plain numpy statement of what `evaluate`'s Hub metric `mean_iou` computes, the oracle for the local metric.

The Hub metric cannot be loaded offline (the `evaluate` wheel ships no metric scripts), so this restates its
documented semantics (card and script at github.com/huggingface/evaluate, metrics/mean_iou), one class at a
time so that it can be checked by eye:
- `label_map` rewrites reference values, every entry from the original values; then `reduce_labels` turns
  reference 0 into 255 and every other v into v - 1, a result of 254 becoming 255 (so 255 stays 255);
- reference pixels equal to `ignore_index` are dropped together with their predictions;
- per class c: reference pixels of c, predicted pixels of c, pixels where both are c; values outside
  0..num_labels-1 belong to no class (such a reference pixel is in no class's count, its prediction still is);
- IoU = both / (reference + predicted - both), accuracy = both / reference, overall accuracy =
  sum(both) / sum(reference), means with np.nanmean, and `nan_to_num` applied to every entry.
It is also the baseline of bench/bench_metrics.py.
"""

from __future__ import annotations

import warnings

import numpy as np


def reference_mean_iou(
    predictions,
    references,
    num_labels: int,
    ignore_index: int,
    nan_to_num: float | None = None,
    label_map: dict[int, int] | None = None,
    reduce_labels: bool = False,
) -> dict:
    both = np.zeros(num_labels, dtype=np.int64)
    in_reference = np.zeros(num_labels, dtype=np.int64)
    in_prediction = np.zeros(num_labels, dtype=np.int64)
    for prediction, reference in zip(predictions, references, strict=True):
        predicted = np.asarray(prediction).astype(np.int64).ravel()
        truth = np.asarray(reference).astype(np.int64).ravel()
        if label_map:
            original = truth.copy()
            for old, new in label_map.items():
                truth[original == old] = new
        if reduce_labels:
            truth = np.where(truth == 0, 255, truth - 1)
            truth[truth == 254] = 255
        kept = truth != ignore_index
        predicted, truth = predicted[kept], truth[kept]
        for c in range(num_labels):
            is_truth, is_predicted = truth == c, predicted == c
            in_reference[c] += is_truth.sum()
            in_prediction[c] += is_predicted.sum()
            both[c] += (is_truth & is_predicted).sum()
    union = in_reference + in_prediction - both
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        iou = both / union.astype(np.float64)
        accuracy = both / in_reference.astype(np.float64)
        scores = {
            "mean_iou": np.nanmean(iou),
            "mean_accuracy": np.nanmean(accuracy),
            "overall_accuracy": both.sum() / np.float64(in_reference.sum()),
            "per_category_iou": iou,
            "per_category_accuracy": accuracy,
        }
    if nan_to_num is not None:
        scores = {key: np.nan_to_num(value, nan=nan_to_num) for key, value in scores.items()}
    return scores

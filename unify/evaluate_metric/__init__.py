"""Mean IoU, per-class IoU and pixel accuracy as a local `evaluate` metric, counted by the package's confusion matrix.

`evaluate.load(unify.evaluate_metric.path())` loads the metric script beside this file from disk, with no Hub
access, and gives the same keys and the same numbers as `evaluate`'s Hub metric `mean_iou` (its documented
arguments `num_labels`, `ignore_index`, `nan_to_num`, `label_map` and `reduce_labels`, read in its card and
script at github.com/huggingface/evaluate, metrics/mean_iou). `unified_mean_iou` is the computation itself,
usable without `evaluate` installed: the metric script only hands it the stored label maps.

Where `mean_iou` would silently leave pixels out, this raises instead: a reference pixel that is neither
`ignore_index` nor a class id 0..num_labels-1 (after `label_map` and `reduce_labels`) is a `BadSampleError`,
as are maps of different shapes, maps that are not 2-D and maps that do not hold integers. A predicted value
outside 0..num_labels-1 is a wrong prediction, as in `mean_iou`: it counts against the reference class and
towards no predicted class.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from unify.core.constants import IGNORE_INDEX
from unify.core.errors import BadSampleError, UnifyError
from unify.core.metrics import ConfusionMatrix

METRIC_NAME = "unified_miou"
"""Name of the metric script (and so of the metric, as `evaluate` names it from the file)."""
_REDUCED_BACKGROUND = 255
"""What `reduce_labels` turns class 0 (background) into, whatever `ignore_index` is, as `mean_iou` does."""
_SHOWN_VALUES = 10


def path() -> str:
    """Path of the metric script, for `evaluate.load(path())`; it needs no network."""
    return str(Path(__file__).with_name(f"{METRIC_NAME}.py"))


def unified_mean_iou(
    predictions: Iterable,
    references: Iterable,
    num_labels: int,
    ignore_index: int = IGNORE_INDEX,
    nan_to_num: float | None = None,
    label_map: Mapping[int, int] | None = None,
    reduce_labels: bool = False,
) -> dict[str, np.float64 | np.ndarray]:
    """Scores of predicted label maps against reference label maps, as `evaluate`'s `mean_iou` gives them.

    predictions, references: iterables of equal length of 2-D integer maps, one (H, W) pair per image (numpy
        arrays, PIL images, torch tensors; sizes may differ between images). They are read one pair at a time.
    num_labels: number of classes C; class ids are 0..C-1.
    ignore_index: reference value whose pixels are not scored.
    nan_to_num: if given, replaces every nan in the result (classes absent from both maps).
    label_map: old reference id -> new reference id, every entry applied to the original values at once;
        applied to references only, before `reduce_labels`.
    reduce_labels: references only: 0 becomes 255 and every other value v becomes v - 1, except that 255 stays 255.

    Returns float64 numbers: `mean_iou` and `mean_accuracy` (nan-ignoring means over the classes),
    `overall_accuracy` (correct / scored pixels), `per_category_iou` and `per_category_accuracy` ((C,) arrays,
    nan for a class absent from the references (accuracy) or from both maps (IoU)).

    Raises `UnifyError` for bad arguments and `BadSampleError` naming the image (`references[i]`) and the
    offending values for a map that cannot be scored (see the module docstring).
    """
    num_labels = _check_arguments(num_labels, ignore_index, label_map)
    lookup = _label_lookup(label_map) if label_map else None
    # One extra column collects predictions outside 0..C-1: they stay in the reference class's counts.
    matrix = ConfusionMatrix(num_labels + 1)
    references = iter(references)
    for index, prediction in enumerate(predictions):
        reference = next(references, None)
        if reference is None:
            raise UnifyError(f"{index + 1} or more predictions but only {index} references")
        predicted, truth = _pair(prediction, reference, index)
        if lookup is not None:
            truth = _map_labels(truth, *lookup)
        if reduce_labels:
            truth = _reduce_labels(truth)
        ignored = truth == ignore_index
        _check_classes(truth, ignored, num_labels, ignore_index, index)
        # -1 is outside the matrix, so the update skips ignored pixels without gathering the others.
        matrix.update(
            predicted.masked_fill((predicted < 0) | (predicted >= num_labels), num_labels),
            truth.masked_fill(ignored, -1),
        )
    if next(references, None) is not None:
        raise UnifyError("more references than predictions")
    return _scores(matrix, num_labels, nan_to_num)


def _check_arguments(num_labels, ignore_index, label_map) -> int:
    if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
        raise UnifyError(f"num_labels must be a positive integer, got {num_labels!r}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise UnifyError(f"ignore_index must be an integer, got {ignore_index!r}")
    if label_map is not None:
        if not isinstance(label_map, Mapping):
            raise UnifyError(f"label_map must be a dict of old id -> new id, got {type(label_map).__name__}")
        bad = [
            f"{k!r}: {v!r}"
            for k, v in label_map.items()
            if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in (k, v))
        ]
        if bad:
            raise UnifyError(f"label_map must map integers to integers; bad entries: {', '.join(bad)}")
    return int(num_labels)


def _pair(prediction, reference, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The index-th (prediction, reference) pair as int64 tensors of one 2-D shape."""
    maps = []
    for name, value in (("predictions", prediction), ("references", reference)):
        array = value.numpy(force=True) if isinstance(value, torch.Tensor) else np.asarray(value)
        if array.dtype.kind not in "biu":
            raise BadSampleError(f"{name}[{index}]", f"holds {array.dtype} values; label maps hold integer class ids")
        if array.ndim != 2:
            raise BadSampleError(f"{name}[{index}]", f"has shape {array.shape}; label maps are 2-D (height, width)")
        array = array.astype(np.int64, copy=not array.flags.writeable)  # torch warns on read-only arrays
        maps.append(torch.from_numpy(array))
    if maps[0].shape != maps[1].shape:
        raise BadSampleError(
            f"references[{index}]", f"has shape {tuple(maps[1].shape)} but its prediction has {tuple(maps[0].shape)}"
        )
    return maps[0], maps[1]


def _label_lookup(label_map: Mapping[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted old ids and the new id of each, for `_map_labels`."""
    old = sorted(int(k) for k in label_map)
    new = [int(label_map[k]) for k in old]
    return torch.tensor(old, dtype=torch.int64), torch.tensor(new, dtype=torch.int64)


def _map_labels(labels: torch.Tensor, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """Every value equal to an old id replaced by its new id, all from the original values (no chains)."""
    position = torch.searchsorted(old, labels).clamp(max=len(old) - 1)
    return torch.where(old[position] == labels, new[position], labels)


def _reduce_labels(labels: torch.Tensor) -> torch.Tensor:
    """`mean_iou`'s reduce_labels: 0 -> 255, v -> v - 1, and a result of 254 (from 0 or 255) -> 255."""
    reduced = (labels - 1).masked_fill_(labels == 0, _REDUCED_BACKGROUND)
    return reduced.masked_fill_(reduced == _REDUCED_BACKGROUND - 1, _REDUCED_BACKGROUND)


def _check_classes(truth: torch.Tensor, ignored: torch.Tensor, num_labels: int, ignore_index: int, index: int) -> None:
    """Scored reference pixels must hold class ids: anything else means a wrong num_labels or ignore_index."""
    outside = ((truth < 0) | (truth >= num_labels)) & ~ignored
    if outside.any():
        values = torch.unique(truth[outside]).tolist()
        shown = ", ".join(map(str, values[:_SHOWN_VALUES])) + (", ..." if len(values) > _SHOWN_VALUES else "")
        raise BadSampleError(
            f"references[{index}]",
            f"{int(outside.sum())} pixels hold values outside the classes "
            f"0..{num_labels - 1} that are not ignore_index {ignore_index}: "
            f"{shown} (check num_labels, ignore_index, label_map, "
            f"reduce_labels)",
        )


def _scores(matrix: ConfusionMatrix, num_labels: int, nan_to_num: float | None) -> dict[str, np.float64 | np.ndarray]:
    counted = matrix.compute()  # over num_labels + 1 classes; the last is the column of out-of-range predictions
    iou = np.array(counted.iou[:num_labels], dtype=np.float64)
    accuracy = np.array(counted.class_accuracy[:num_labels], dtype=np.float64)
    with warnings.catch_warnings():  # a mean over no class at all is nan, which is the answer, not a problem
        warnings.simplefilter("ignore", RuntimeWarning)
        # np.nanmean, not the matrix's own mean: the same summation as mean_iou, so the same last bit
        scores = {
            "mean_iou": np.nanmean(iou),
            "mean_accuracy": np.nanmean(accuracy),
            "overall_accuracy": np.float64(counted.pixel_accuracy),
            "per_category_iou": iou,
            "per_category_accuracy": accuracy,
        }
    if nan_to_num is not None:
        scores = {key: np.nan_to_num(value, nan=nan_to_num) for key, value in scores.items()}
    return scores

"""`evaluate` metric script: mean IoU, per-class IoU and pixel accuracy, a local drop-in for the Hub's `mean_iou`.

Load it by path, which reads this file and nothing from the Hub:

    metric = evaluate.load(unify.evaluate_metric.path())
    metric.compute(predictions=[...], references=[...], num_labels=19)

`evaluate` copies this file into its module cache and imports it from there, so it imports the package
absolutely. Batches given to `add_batch` are stored by `evaluate` as images in Arrow, as `mean_iou` stores them;
`compute` then feeds them one pair at a time to the package's confusion matrix (`unify.evaluate_metric`).
"""

import datasets
import evaluate

from unify.core.constants import IGNORE_INDEX
from unify.evaluate_metric import unified_mean_iou

_DESCRIPTION = """\
Intersection over union (IoU) of each class, summed over all images: pixels where prediction and reference agree
on the class, over pixels where either says the class. The mean IoU averages the classes that occur; the per-class
accuracy is the share of a class's reference pixels predicted as that class; the overall accuracy is the share of
all scored pixels predicted correctly. Same arguments, keys and numbers as `mean_iou`, counted with one streaming
confusion matrix; unlike it, a reference value that is neither a class id nor ignore_index raises an error
instead of being left out.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of 2-D integer arrays or images): predicted class id per pixel, one (height, width) map per
        image; sizes may differ between images. Values outside 0..num_labels-1 count as wrong.
    references (list of 2-D integer arrays or images): reference class id per pixel, same shapes as predictions.
    num_labels (int): number of classes; ids are 0..num_labels-1.
    ignore_index (int, default 255): reference value whose pixels are not scored.
    nan_to_num (float, optional): replaces every nan in the result (a class absent from prediction and reference).
    label_map (dict, optional): old reference id -> new reference id, every entry applied to the original values.
    reduce_labels (bool, default False): references only: 0 becomes 255, every other id v becomes v - 1
        (255 stays 255), for datasets whose class 0 is an unscored background.

Returns:
    mean_iou (float): mean of the per-class IoUs, nan classes left out.
    mean_accuracy (float): mean of the per-class accuracies, nan classes left out.
    overall_accuracy (float): correctly predicted pixels over scored pixels.
    per_category_iou (ndarray of shape (num_labels,)): IoU of each class; nan where the class is in neither map.
    per_category_accuracy (ndarray of shape (num_labels,)): accuracy of each class; nan where it is not in the
        references.

Example:
    >>> import numpy as np, evaluate, unify.evaluate_metric
    >>> metric = evaluate.load(unify.evaluate_metric.path())
    >>> prediction, reference = np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 255]])
    >>> scores = metric.compute(predictions=[prediction], references=[reference], num_labels=2)
    >>> float(scores["mean_iou"]), float(scores["overall_accuracy"])
    (0.5, 0.6666666666666666)
"""

_CITATION = """\
@article{everingham2015pascal,
  title   = {The Pascal Visual Object Classes Challenge: A Retrospective},
  author  = {Everingham, Mark and Eslami, S. M. Ali and Van Gool, Luc and Williams, Christopher K. I. and
             Winn, John and Zisserman, Andrew},
  journal = {International Journal of Computer Vision},
  volume  = {111},
  number  = {1},
  pages   = {98--136},
  year    = {2015}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UnifiedMiou(evaluate.Metric):
    """Mean IoU as `mean_iou` defines it, computed by `unify.evaluate_metric.unified_mean_iou`."""

    def _info(self) -> evaluate.MetricInfo:
        # Stored as images, as mean_iou stores them: the same inputs are accepted and the cache stays small.
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Image(), "references": datasets.Image()}),
            reference_urls=["https://github.com/huggingface/evaluate/tree/main/metrics/mean_iou"],
        )

    def _compute(
        self,
        predictions,
        references,
        num_labels: int,
        ignore_index: int = IGNORE_INDEX,
        nan_to_num: float | None = None,
        label_map: dict[int, int] | None = None,
        reduce_labels: bool = False,
    ) -> dict:
        return unified_mean_iou(
            predictions,
            references,
            num_labels,
            ignore_index=ignore_index,
            nan_to_num=nan_to_num,
            label_map=label_map,
            reduce_labels=reduce_labels,
        )

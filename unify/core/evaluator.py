"""The one evaluator: a segmenter scored on a split of a dataset folder, in the unified and the native taxonomy.

Training's periodic evaluation, a run's `metrics.json` and `unify evaluate` all call `evaluate_split`, so
they give identical numbers for the same model and split. Images are decoded one batch at a time, each at
its own size; logits are upsampled to the label's size (bilinear, align_corners=False) and two streaming
confusion matrices are kept, so memory does not grow with the number of images. Under several processes
each process takes every `num_processes`-th image and the matrices are summed.

The unified scores compare the argmax with the folder's unified labels (or another unified label column,
such as the synthetic world's hidden fine truth). The native scores need no native head: the unified class
probabilities are collapsed through the mapping, a native class scoring the summed probability of the
unified classes it allows. Void native classes (which allow nothing) and fill-in classes (`unlabeled`, which
allow everything and would always win) are neither predicted nor scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from unify.core.constants import IGNORE_INDEX
from unify.core.errors import UnifyError
from unify.core.folder import FolderMetadata, load_split
from unify.core.images import batches_of_equal_size
from unify.core.mapping import LabelMapping, get_mapping
from unify.core.metrics import ConfusionMatrix, SegmentationScores
from unify.core.segmenter import Segmenter, TaxonomyMismatchError


@dataclass(frozen=True)
class NativeCollapse:
    """Native-class scores from unified probabilities, for the K native classes that are scored."""

    weights: torch.Tensor  # (K, C) float: 1 where native class k allows unified class c
    lookup: torch.Tensor  # (L,) long: native id -> k, or IGNORE_INDEX for classes that are not scored
    names: list[str]  # of the K scored native classes, in order
    ids: list[int]  # their native ids

    @classmethod
    def from_allowed(cls, allowed: dict[int, list[int]], names: dict[int, str], num_unified: int) -> NativeCollapse:
        """`allowed`: native id -> unified ids it may become (empty for `void`); `names`: native id -> name.

        A native class is scored when it allows some but not all of the `num_unified` classes. Raises `UnifyError`
        when none is.
        """
        scored = [native for native in sorted(allowed) if 0 < len(allowed[native]) < num_unified]
        if not scored:
            raise UnifyError("the mapping leaves no native class to score (every class is void or fill-in)")
        weights = torch.zeros(len(scored), num_unified)
        lookup = torch.full((max(max(allowed) + 1, IGNORE_INDEX + 1),), IGNORE_INDEX, dtype=torch.long)
        for k, native in enumerate(scored):
            weights[k, list(allowed[native])] = 1.0
            lookup[native] = k
        return cls(weights, lookup, [names[n] for n in scored], scored)

    @classmethod
    def from_mapping(cls, mapping: LabelMapping) -> NativeCollapse:
        """The collapse of a mapping's allowed sets; `UnifyError` when it leaves no native class to score."""
        return cls.from_allowed(
            {n: list(ids) for n, ids in mapping.allowed.items()},
            {c.id: c.name for c in mapping.native.classes},
            mapping.unified.num_labels,
        )

    def predict(self, probabilities: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) unified probabilities (not logits: they are summed) -> (B, H, W) long index k of the
        scored native class whose allowed classes sum highest; ties go to the first."""
        scores = torch.einsum("kc,bchw->bkhw", self.weights.to(probabilities), probabilities)
        return scores.argmax(1)

    def target(self, native: torch.Tensor) -> torch.Tensor:
        """(B, H, W) integer native ids -> (B, H, W) long index k of the scored class, IGNORE_INDEX for the others."""
        return self.lookup.to(native.device)[native.long()]


@dataclass
class TaxonomyScores:
    """Scores in one taxonomy, with the class names their per-class lists follow."""

    taxonomy: str
    names: list[str]
    scores: SegmentationScores


@dataclass
class SplitEvaluation:
    """What `evaluate_split` measured on one split."""

    split: str
    num_images: int  # over all processes
    unified: TaxonomyScores | None  # None when the model predicts another taxonomy than the folder's
    native: TaxonomyScores | None  # None when native scores were not asked for


def evaluate_split(
    segmenter: Segmenter,
    folder: Path | str,
    split: str,
    *,
    label_column: str | None = None,
    native: bool = True,
    batch_size: int = 1,
    process_index: int = 0,
    num_processes: int = 1,
    show_progress: bool = True,
    description: str | None = None,
) -> SplitEvaluation:
    """Score `segmenter` on `split` of `folder`.

    `label_column` overrides the folder's unified label column (it must hold ids of the same unified
    taxonomy). Unified scores are computed when the model predicts the folder's unified taxonomy; native
    scores (when `native`) through the folder's recorded mapping, or through the registered mapping from the
    folder's native taxonomy to the model's taxonomy when the model predicts another one. Raises
    `UnifyError` for a split or column the folder does not have, `TaxonomyMismatchError` when nothing can be
    scored, `BadSampleError` for an image whose labels have another size.
    """
    if batch_size < 1:
        raise UnifyError(f"batch_size must be >= 1, got {batch_size}")
    metadata = FolderMetadata.read(folder)
    unified_column, collapse = _plan(segmenter, metadata, label_column, native, folder)
    table = load_split(folder, split, decode=False)
    columns = [c for c in (unified_column, metadata.columns.native if collapse else None) if c]
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UnifyError(f"{folder}: split {split!r} has no column(s) {missing}; it has {table.column_names}")
    table = table.select_columns(["image", "image_id", *columns])
    rows = range(process_index, len(table), num_processes)
    device = segmenter.device  # every process sums its matrices, also one that was given no image
    unified_matrix = ConfusionMatrix(segmenter.num_labels, device=device) if unified_column else None
    native_matrix = ConfusionMatrix(len(collapse.names), device=device) if collapse else None
    count = 0
    was_training = segmenter.model.training
    segmenter.model.eval()
    with (
        torch.inference_mode(),
        tqdm(
            total=len(rows), desc=description or f"evaluate {split}", disable=not show_progress, leave=False
        ) as progress,
    ):
        for batch in batches_of_equal_size((table[i] for i in rows), columns, batch_size):
            images = torch.from_numpy(batch.images).permute(0, 3, 1, 2).to(segmenter.device)
            logits = segmenter.logits(segmenter.preprocess(images), size=batch.images.shape[1:3])
            if unified_matrix is not None:
                unified_matrix.update(logits.argmax(1), _labels(batch, unified_column, segmenter.device))
            if native_matrix is not None:
                native_matrix.update(
                    collapse.predict(logits.softmax(1)),
                    collapse.target(_labels(batch, metadata.columns.native, segmenter.device)),
                )
            count += len(batch.images)
            progress.update(len(batch.images))
    segmenter.model.train(was_training)
    for matrix in (unified_matrix, native_matrix):
        if matrix is not None:
            matrix.reduce()
    count = _sum_over_processes(count, segmenter.device)
    unified = (
        TaxonomyScores(metadata.unified_taxonomy.name, segmenter.class_names(), unified_matrix.compute())
        if unified_matrix
        else None
    )
    native_scores = (
        TaxonomyScores(metadata.native_taxonomy.name, collapse.names, native_matrix.compute())
        if native_matrix
        else None
    )
    return SplitEvaluation(split=split, num_images=count, unified=unified, native=native_scores)


def _plan(
    segmenter: Segmenter, metadata: FolderMetadata, label_column: str | None, native: bool, folder
) -> tuple[str | None, NativeCollapse | None]:
    """The unified label column to score against (None: the model predicts another taxonomy) and the collapse."""
    predicts_folder = segmenter.class_names() == [c.name for c in metadata.unified_taxonomy.trainable]
    if not predicts_folder and label_column is not None:
        segmenter.check_predicts(metadata.unified_taxonomy, role=f"the model scored against {folder}:{label_column}")
    unified_column = (label_column or metadata.columns.unified) if predicts_folder else None
    if not native:
        if unified_column is None:
            segmenter.check_predicts(metadata.unified_taxonomy, role=f"the model evaluated on {folder}")
        return unified_column, None
    if metadata.columns.native is None:
        if unified_column is None:
            raise TaxonomyMismatchError(
                f"{folder} has no native labels and the model does not predict its "
                f"{metadata.unified_taxonomy.name} taxonomy: nothing to score"
            )
        return unified_column, None
    mapping = (
        metadata.mapping if predicts_folder else get_mapping(metadata.native_taxonomy.name, segmenter.taxonomy().name)
    )
    return unified_column, NativeCollapse.from_mapping(mapping)


def _labels(batch, column: str, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(batch.labels[column]).to(device=device, dtype=torch.long)


def _sum_over_processes(count: int, device: torch.device) -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        total = torch.tensor([count], device=device)
        torch.distributed.all_reduce(total)
        return int(total.item())
    return count

"""Training data from the Parquet folders the package writes.

The global batch of optimiser step s is a pure function of (seed, s, global batch size): which samples,
and the seed each is augmented with. Each process loads only its own micro-batches of it
(`train.parallel.BatchPlan`), so a run resumed from a checkpoint at step k, with any number of
processes, sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import datasets
import numpy as np
import torch

from train.config import DataSource, TrainConfig
from train.decode import open_pair
from train.loss import SourceTargets, TargetTables
from train.parallel import BatchPlan
from unify.core.constants import IMAGE
from unify.core.errors import UnifyError
from unify.core.folder import FolderMetadata, load_split
from unify.core.images import decode_label, decode_rgb
from unify.core.taxonomy import Taxonomy

logger = logging.getLogger(__name__)


class OpenSource(NamedTuple):
    """A training or evaluation source's split, opened with images left as bytes."""

    table: datasets.Dataset  # the image column, the label column and, where asked for, the native one
    column: str  # the column of unified ids
    native_column: str | None  # the column of native ids, when asked for


def open_source(source: DataSource, taxonomy: Taxonomy, native: bool = False) -> OpenSource:
    """The split of a dataset folder with images left as bytes, the column of its unified ids and, with `native`,
    the column of its native ids (`FolderMetadata.columns.native`).

    The folder's recorded unified taxonomy must be the run's `taxonomy`, class for class: a source built for
    another label space would teach its ids as the run's classes. Raises `UnifyError` naming the source, its
    taxonomy and the run's, or a missing folder, split or column.
    """
    if not Path(source.path).is_dir():
        raise UnifyError(
            f"data source {source.path} does not exist; write it with `unify build` or `unify pseudo-label`"
        )
    metadata = FolderMetadata.read(source.path)
    recorded = metadata.unified_taxonomy
    if [c.to_json() for c in recorded.trainable] != [c.to_json() for c in taxonomy.trainable]:
        raise UnifyError(
            f"data source {source.name} ({source.path}) holds labels in the {recorded.name} taxonomy "
            f"({recorded.num_labels} classes) but the run trains {taxonomy.name} "
            f"({taxonomy.num_labels} classes); build or pseudo-label it for {taxonomy.name}"
        )
    table = load_split(source.path, source.split, decode=False)
    column = source.label_column or metadata.columns.unified
    if column not in table.column_names:
        raise UnifyError(
            f"data source {source.name} ({source.path}): no column {column!r}; columns are {table.column_names}"
        )
    if not native:
        return OpenSource(table.select_columns([IMAGE, column]), column, None)
    native_column = metadata.columns.native
    if native_column is None or native_column not in table.column_names:
        raise UnifyError(
            f"data source {source.name} ({source.path}) has no native label column (declared: "
            f"{native_column!r}; columns are {table.column_names}), which its targets and fill_in "
            f"need; train it with targets: hard and fill_in: teacher, or rebuild the folder"
        )
    return OpenSource(table.select_columns([IMAGE, column, native_column]), column, native_column)


def source_targets(config: TrainConfig) -> list[SourceTargets] | None:
    """Each training source's `targets`, `fill_in` and recorded mapping, in order; None when every source is
    `hard` with `fill_in: teacher` (the model's own loss, no native ids read)."""
    settings = [config.targets_of(source) for source in config.train_data]
    if all(targets == "hard" and fill_in == "teacher" for targets, fill_in in settings):
        return None
    return [
        SourceTargets(targets, fill_in, FolderMetadata.read(source.path).mapping)
        for source, (targets, fill_in) in zip(config.train_data, settings, strict=True)
    ]


def decode_pair(row: dict, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image and (H, W) label ids of one row whose columns are `{"bytes": ...}` records."""
    return decode_rgb(row[IMAGE]["bytes"], "image"), decode_label(row[column]["bytes"], source=column)


class MixedDataset(torch.utils.data.Dataset):
    """Several sources behind one index space; items are (index, augmentation seed) pairs.

    Without `targets` an item is (pixels, label) of the transform. With each source's targets (a run with
    partial targets, `source_targets`, `train.loss`) it is (pixels, label, native, source): the native ids
    transformed with the label (long, `OUTSIDE` where padded; all 0 for a source that needs none, whose
    table rows ignore the id) and the source's index (0-dim long). Native ids outside the source's taxonomy
    raise `BadSampleError`.
    """

    def __init__(
        self, sources: list[DataSource], transform, taxonomy: Taxonomy, targets: list[SourceTargets] | None = None
    ):
        native = [t.needs_native for t in targets] if targets is not None else [False] * len(sources)
        self.sources = sources
        self.parts = [open_source(s, taxonomy, needed) for s, needed in zip(sources, native, strict=True)]
        self.offsets = np.cumsum([0] + [len(part.table) for part in self.parts])
        self.transform = transform
        self.tables = None if targets is None else TargetTables.build(targets, taxonomy.num_labels)
        for source, part in zip(sources, self.parts, strict=True):
            logger.info(
                "train source %s: %d images, weight %s, labels from %r%s",
                source.name,
                len(part.table),
                source.weight,
                part.column,
                f", native ids from {part.native_column!r}" if part.native_column else "",
            )

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, item: tuple[int, int]):
        index, seed = item
        part = int(np.searchsorted(self.offsets, index, side="right") - 1)
        table, column, native_column = self.parts[part]
        row = table[int(index - self.offsets[part])]
        image, label = open_pair(row, column)
        rng = np.random.default_rng(seed)
        if self.tables is None:
            return self.transform(image, label, rng)
        source = torch.tensor(part)
        if native_column is None:
            pixels, target = self.transform(image, label, rng)
            return pixels, target, torch.zeros_like(target), source
        native = decode_label(row[native_column]["bytes"], source=native_column)
        self.tables.check_known(
            native,
            part,
            f"{self.sources[part].path} ({self.sources[part].split} row "
            f"{int(index - self.offsets[part])}, column {native_column})",
        )
        return (*self.transform(image, label, rng, native), source)


def step_seed(seed: int, step: int, *more: int) -> int:
    """A 63-bit seed drawn from (seed, step, *more) by NumPy's SeedSequence: distinct tuples, unrelated seeds."""
    return int(np.random.SeedSequence([seed, step, *more]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def global_batch(probabilities: torch.Tensor, size: int, seed: int, step: int) -> list[tuple[int, int]]:
    """The `size` (sample index, augmentation seed) pairs of optimiser step `step` (1-based).

    `probabilities` (float64, one per sample of the mixed index space) weighs the draw, with replacement.
    """
    generator = torch.Generator().manual_seed(step_seed(seed, step))
    indices = torch.multinomial(probabilities, size, replacement=True, generator=generator)
    seeds = torch.randint(0, 2**31 - 1, (size,), generator=generator)
    return list(zip(indices.tolist(), seeds.tolist(), strict=True))


class MicroBatchSampler(torch.utils.data.Sampler):
    """One process's micro-batches of steps start+1..steps, in the order the training loop runs them."""

    def __init__(
        self,
        sizes: list[int],
        weights: list[float],
        plan: BatchPlan,
        process_index: int,
        seed: int,
        start: int,
        steps: int,
    ):
        per_sample = [w / n for w, n in zip(weights, sizes, strict=True) for _ in range(n)]
        self.probabilities = torch.tensor(per_sample, dtype=torch.double)
        self.plan, self.process_index = plan, process_index
        self.seed, self.start, self.steps = seed, start, steps

    def __len__(self) -> int:
        return (self.steps - self.start) * self.plan.accumulation_steps

    def __iter__(self):
        size = self.plan.per_device_batch_size
        for step in range(self.start + 1, self.steps + 1):
            batch = global_batch(self.probabilities, self.plan.global_batch_size, self.seed, step)
            for micro_batch in self.plan.micro_batches(self.process_index):
                yield batch[micro_batch * size : (micro_batch + 1) * size]


def train_loader(
    sources: list[DataSource],
    transform,
    taxonomy: Taxonomy,
    plan: BatchPlan,
    process_index: int,
    seed: int,
    start: int,
    steps: int,
    num_workers: int,
    prefetch_factor: int = 2,
    targets: list[SourceTargets] | None = None,
) -> torch.utils.data.DataLoader:
    """This process's micro-batches of (pixels, labels), decoded and augmented by `num_workers` processes.

    With each source's `targets` (`source_targets`), micro-batches of (pixels, labels, native, source) as
    `MixedDataset` describes. Memory is pinned when CUDA is available,
    so that copies to the GPU can be asynchronous; workers persist for the whole run. Raises `UnifyError`
    for a source without images.
    """
    dataset = MixedDataset(sources, transform, taxonomy, targets)
    sizes = [int(b - a) for a, b in zip(dataset.offsets[:-1], dataset.offsets[1:], strict=True)]
    empty = [s.path for s, n in zip(sources, sizes, strict=True) if n == 0]
    if empty:
        raise UnifyError(f"training sources without images: {empty}")
    sampler = MicroBatchSampler(sizes, [s.weight for s in sources], plan, process_index, seed, start, steps)
    workers = dict(persistent_workers=True, prefetch_factor=prefetch_factor) if num_workers > 0 else {}
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=num_workers, pin_memory=torch.cuda.is_available(), **workers
    )

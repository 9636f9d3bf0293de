"""Training and evaluation data from the Parquet folders the package writes.

Batches are a pure function of (seed, step): which samples, and how each is augmented. So a
run resumed from a checkpoint at step k sees exactly the batches it would have seen.
"""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import numpy as np
import torch
from train.config import DataSource
from train.decode import open_pair
from unify.core.constants import IMAGE
from unify.core.errors import UnifyError
from unify.core.folder import FolderMetadata, load_split
from unify.core.images import decode_label, decode_rgb
from unify.core.taxonomy import Taxonomy

logger = logging.getLogger(__name__)


def open_source(source: DataSource, taxonomy: Taxonomy) -> tuple[datasets.Dataset, str]:
    """The split of a dataset folder with images left as bytes, and the column that holds its unified ids.

    The folder's recorded unified taxonomy must be the run's `taxonomy`, class for class: a source built for
    another label space would teach its ids as the run's classes. Raises `UnifyError` naming the source, its
    taxonomy and the run's, or a missing folder, split or column.
    """
    if not Path(source.path).is_dir():
        raise UnifyError(f"data source {source.path} does not exist; write it with `unify build` or `unify pseudo-label`")
    metadata = FolderMetadata.read(source.path)
    recorded = metadata.unified_taxonomy
    if [c.to_json() for c in recorded.trainable] != [c.to_json() for c in taxonomy.trainable]:
        raise UnifyError(f"data source {source.name} ({source.path}) holds labels in the {recorded.name} taxonomy "
                         f"({recorded.num_labels} classes) but the run trains {taxonomy.name} "
                         f"({taxonomy.num_labels} classes); build or pseudo-label it for {taxonomy.name}")
    table = load_split(source.path, source.split, decode=False)
    column = source.label_column or metadata.columns.unified
    if column not in table.column_names:
        raise UnifyError(f"data source {source.name} ({source.path}): no column {column!r}; columns are "
                         f"{table.column_names}")
    return table.select_columns([IMAGE, column]), column


def decode_pair(row: dict, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image and (H, W) label ids of one row whose columns are `{"bytes": ...}` records."""
    return decode_rgb(row[IMAGE]["bytes"], "image"), decode_label(row[column]["bytes"], source=column)


class MixedDataset(torch.utils.data.Dataset):
    """Several sources behind one index space; items are (index, augmentation seed) pairs."""

    def __init__(self, sources: list[DataSource], transform, taxonomy: Taxonomy):
        self.parts = [open_source(s, taxonomy) for s in sources]
        self.offsets = np.cumsum([0] + [len(t) for t, _ in self.parts])
        self.transform = transform
        for source, (table, column) in zip(sources, self.parts):
            logger.info("train source %s: %d images, weight %s, labels from %r", source.name, len(table),
                        source.weight, column)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, item: tuple[int, int]):
        index, seed = item
        part = int(np.searchsorted(self.offsets, index, side="right") - 1)
        table, column = self.parts[part]
        image, label = open_pair(table[int(index - self.offsets[part])], column)
        return self.transform(image, label, np.random.default_rng(seed))


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches for steps start..steps-1, drawn with replacement by source weight, seeded per step."""

    def __init__(self, sizes: list[int], weights: list[float], batch_size: int, steps: int, seed: int, start: int = 0):
        per_sample = [w / n for w, n in zip(weights, sizes) for _ in range(n)]
        self.probabilities = torch.tensor(per_sample, dtype=torch.double)
        self.batch_size, self.steps, self.seed, self.start = batch_size, steps, seed, start

    def __len__(self) -> int:
        return self.steps - self.start

    def __iter__(self):
        for step in range(self.start, self.steps):
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
            indices = torch.multinomial(self.probabilities, self.batch_size, replacement=True, generator=generator)
            seeds = torch.randint(0, 2**31 - 1, (self.batch_size,), generator=generator)
            yield list(zip(indices.tolist(), seeds.tolist()))


def train_loader(sources: list[DataSource], transform, taxonomy: Taxonomy, batch_size: int, steps: int, seed: int,
                 start: int, num_workers: int) -> torch.utils.data.DataLoader:
    dataset = MixedDataset(sources, transform, taxonomy)
    sizes = [int(b - a) for a, b in zip(dataset.offsets[:-1], dataset.offsets[1:])]
    empty = [s.path for s, n in zip(sources, sizes) if n == 0]
    if empty:
        raise UnifyError(f"training sources without images: {empty}")
    sampler = StepBatchSampler(sizes, [s.weight for s in sources], batch_size, steps, seed, start)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                                       persistent_workers=False, pin_memory=torch.cuda.is_available())

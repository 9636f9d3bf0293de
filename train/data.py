"""Training and evaluation data from the Parquet folders the package writes.

Batches are a pure function of (seed, step): which samples, and how each is augmented. So a
run resumed from a checkpoint at step k sees exactly the batches it would have seen.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import datasets
import numpy as np
import torch
from PIL import Image

from train.config import DataSource
from train.decode import open_pair
from unify.build import load_split
from unify.columns import LabelColumns
from unify.core.constants import IMAGE
from unify.core.errors import UnifyError

logger = logging.getLogger(__name__)


def open_source(source: DataSource) -> tuple[datasets.Dataset, str]:
    """The split of a built folder with images left as bytes, and the column that holds unified ids."""
    if not Path(source.path).is_dir():
        raise UnifyError(f"data source {source.path} does not exist; write it with `unify build` or `unify pseudo-label`")
    table = load_split(source.path, source.split)
    column = source.label_column or LabelColumns.of(table.column_names).unified
    if column not in table.column_names:
        raise UnifyError(f"{source.path}: no column {column!r}; columns are {table.column_names}")
    table = table.select_columns([IMAGE, column])
    table = table.cast_column(IMAGE, datasets.Image(decode=False)).cast_column(column, datasets.Image(decode=False))
    return table, column


def decode_pair(row: dict, column: str) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(Image.open(io.BytesIO(row[IMAGE]["bytes"])).convert("RGB"))
    label = np.asarray(Image.open(io.BytesIO(row[column]["bytes"])))
    return image, label


class MixedDataset(torch.utils.data.Dataset):
    """Several sources behind one index space; items are (index, augmentation seed) pairs."""

    def __init__(self, sources: list[DataSource], transform):
        self.parts = [open_source(s) for s in sources]
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


def train_loader(sources: list[DataSource], transform, batch_size: int, steps: int, seed: int, start: int,
                 num_workers: int) -> torch.utils.data.DataLoader:
    dataset = MixedDataset(sources, transform)
    sizes = [int(b - a) for a, b in zip(dataset.offsets[:-1], dataset.offsets[1:])]
    empty = [s.path for s, n in zip(sources, sizes) if n == 0]
    if empty:
        raise UnifyError(f"training sources without images: {empty}")
    sampler = StepBatchSampler(sizes, [s.weight for s in sources], batch_size, steps, seed, start)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                                       persistent_workers=False, pin_memory=torch.cuda.is_available())

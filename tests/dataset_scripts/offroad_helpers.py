"""Fixture helpers for the off-road builder tests: tiny files in the datasets' own encodings, and one build."""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from unify.build import BuildReport, build_dataset
from unify.constants import IMAGE_ID, LABEL, UNIFIED_LABEL
from unify.taxonomy import get_taxonomy

HEIGHT, WIDTH = 32, 64


def photo(seed: int, suffix: str = ".png") -> bytes:
    """A small random RGB picture encoded as the dataset ships its images."""
    rgb = np.random.default_rng(seed).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG" if suffix in (".jpg", ".jpeg") else "PNG")
    return buffer.getvalue()


def stripes(ids: list[int]) -> np.ndarray:
    """A (HEIGHT, WIDTH) label map with one vertical band per id, so every id is present."""
    bands = np.array_split(np.arange(WIDTH), len(ids))
    label = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    for band, class_id in zip(bands, ids):
        label[:, band] = class_id
    return label


def colorize(label: np.ndarray, taxonomy: str) -> np.ndarray:
    palette = np.zeros((256, 3), dtype=np.uint8)
    for c in get_taxonomy(taxonomy).classes:
        palette[c.id] = c.color
    return palette[label]


def write(path: Path, data: bytes | np.ndarray) -> Path:
    """Write bytes as they are, or an array as PNG (grey for 2-D ids, RGB for colours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, np.ndarray):
        buffer = io.BytesIO()
        Image.fromarray(data).save(buffer, format="PNG")
        data = buffer.getvalue()
    path.write_bytes(data)
    return path


def truncate(path: Path) -> None:
    """Cut a file in half, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def build(name: str, data_dir: Path, output: Path, **kwargs) -> tuple[BuildReport, datasets.DatasetDict]:
    """Build and read back with plain `load_dataset`, through a cache of the test's own.

    The shared datasets cache keys a local folder by its base name and data-file patterns, so two
    builds into folders of the same name can read each other's cached copy.
    """
    report = build_dataset(name, output, data_dir=data_dir, **kwargs)
    return report, datasets.load_dataset(str(output), cache_dir=str(output.parent / f"{output.name}-hf-cache"))


def rows_by_id(dataset: datasets.Dataset) -> dict[str, dict]:
    return {row[IMAGE_ID]: row for row in dataset}


def native(row: dict) -> np.ndarray:
    return np.asarray(row[LABEL])


def unified(row: dict) -> np.ndarray:
    return np.asarray(row[UNIFIED_LABEL])


def unified_id(name: str) -> int:
    return get_taxonomy("offroad34").by_name[name].id

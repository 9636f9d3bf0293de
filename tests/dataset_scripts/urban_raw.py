"""Helpers for the urban builder tests: tiny raw datasets in the authors' encodings, and what to check.

Fixtures write 32x64 frames; every check reads the built Parquet folder back with plain
`datasets.load_dataset`, so the whole path (builder -> Parquet -> reader) is exercised.
"""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from unify.build import build_dataset
from unify.mapping import get_mapping

HEIGHT, WIDTH = 32, 64


def write_image(path: Path, seed: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> bytes:
    """A random RGB frame, as PNG or JPEG after the suffix; returns the file's bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, format="JPEG" if path.suffix == ".jpg" else "PNG")
    return path.read_bytes()


def write_ids(path: Path, ids: np.ndarray, palette: list[int] | None = None) -> bytes:
    """An id map as an 8-bit grey PNG, or a palette PNG whose indices are the ids."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(ids.astype(np.uint8))
    if palette is not None:
        image = image.convert("P")  # keeps the values as indices
        image.putpalette(palette)
    image.save(path, format="PNG")
    return path.read_bytes()


def random_ids(seed: int, choices, size: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.asarray(choices), size=size).astype(np.uint8)


def build(name: str, raw: Path, out: Path, **kwargs):
    """Build into `out` and read it back: (report, DatasetDict with undecoded images)."""
    report = build_dataset(name, out, data_dir=raw, **kwargs)
    loaded = datasets.load_dataset(str(out), cache_dir=str(out.parent / f"{out.name}-hf-cache"))  # never a stale cache
    for split in loaded:
        for column in ("image", "label", "unified_label"):
            loaded[split] = loaded[split].cast_column(column, datasets.Image(decode=False))
    return report, loaded


def rows_by_id(split: datasets.Dataset) -> dict[str, dict]:
    return {row["image_id"]: row for row in split}


def ids_of(cell: dict) -> np.ndarray:
    """The id map stored in an undecoded label cell."""
    with Image.open(io.BytesIO(cell["bytes"])) as im:
        return np.asarray(im)


def expected_unified(native: np.ndarray, native_taxonomy: str, unified_taxonomy: str) -> np.ndarray:
    """What the unified view must hold: the one allowed class, or 255 where there are none or several."""
    mapping = get_mapping(native_taxonomy, unified_taxonomy)
    out = np.full(native.shape, 255, dtype=np.uint8)
    for native_id, allowed in mapping.allowed.items():
        if len(allowed) == 1:
            out[native == native_id] = allowed[0]
    return out

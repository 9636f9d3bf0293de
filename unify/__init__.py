"""Unify driving segmentation datasets into one label space by constrained knowledge distillation."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__version__ = "0.1.0"


def load_dataset(name_or_dir: str | Path, split: str | None = None, data_dir: str | Path | None = None,
                 config: str | None = None, taxonomy: str | None = None, cache_dir: str | Path | None = None):
    """A dataset written by this package, or a builder run on a raw folder (built once, then cached).

    `name_or_dir` is a folder written by `unify build` / `unify pseudo-label`, or a builder name as
    `unify datasets` lists it (then `data_dir` is the raw dataset). Returns a `datasets.Dataset` for
    one split, else a `datasets.DatasetDict`. The taxonomies travel in `unify.read_metadata(folder)`.
    """
    import datasets

    from unify.build import build_dataset, load_split, read_metadata

    folder = Path(name_or_dir)
    if not (folder / "unify.json").is_file():
        key = hashlib.sha1(f"{Path(data_dir).resolve() if data_dir else ''}|{config}|{taxonomy}".encode()).hexdigest()[:12]
        root = Path(cache_dir or os.environ.get("UNIFY_CACHE", Path.home() / ".cache" / "unify"))
        folder = root / str(name_or_dir) / key
        if not (folder / "unify.json").is_file():
            build_dataset(str(name_or_dir), folder, data_dir=data_dir, config=config, unified_taxonomy=taxonomy)
    if split is not None:
        return load_split(folder, split)
    return datasets.DatasetDict({s: load_split(folder, s) for s in read_metadata(folder)["splits"]})


def read_metadata(folder: str | Path) -> dict:
    """Taxonomies, mapping, splits and provenance of a folder written by this package."""
    from unify.build import read_metadata as _read

    return _read(folder)

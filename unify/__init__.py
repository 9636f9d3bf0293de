"""Unify driving segmentation datasets into one label space by constrained knowledge distillation.

The user-facing entry points: `load_dataset` (a folder written by this package, or a builder run on a raw
folder, built once and cached) and `read_metadata` (what such a folder holds). The package's layers:
`unify.core` (taxonomies, mappings, the pseudo-label kernel, images, metrics, the dataset-folder contract,
the segmenter, the evaluator), then `dataset_scripts` (builders) and `train` (Accelerate training) on top of
it, then the application modules of `unify` (build, pseudo-labelling driver, evaluate, suggest, demo, hub,
cli). This module imports the application lazily, so importing `unify.core` stays light.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

__version__ = "0.2.0"
logger = logging.getLogger(__name__)


def load_dataset(
    name_or_dir: str | Path,
    split: str | None = None,
    data_dir: str | Path | None = None,
    config: str | None = None,
    taxonomy: str | None = None,
    cache_dir: str | Path | None = None,
):
    """A dataset written by this package, or a builder run on a raw folder (built once, then cached).

    `name_or_dir` is a folder written by `unify build` / `unify pseudo-label`, or a builder name as
    `unify datasets` lists it (then `data_dir` is the raw dataset). A cached build is keyed on the raw
    folder's path, the configuration, the taxonomy and a fingerprint of the raw files (names, sizes,
    modification times): adding, removing or editing a file rebuilds it. The cache lives in `cache_dir`,
    else `$UNIFY_CACHE`, else `~/.cache/unify`. Returns a `datasets.Dataset` for one split, else a
    `datasets.DatasetDict`. Raises `UnifyError` for an unknown name, layout or split.
    """
    import datasets

    from unify.build import build_dataset, raw_fingerprint
    from unify.core.folder import FolderMetadata, load_split

    folder = Path(name_or_dir)
    if not (folder / "unify.json").is_file():
        fingerprint = raw_fingerprint(data_dir) if data_dir else ""
        source = f"{Path(data_dir).resolve() if data_dir else ''}|{config}|{taxonomy}"
        root = Path(cache_dir or os.environ.get("UNIFY_CACHE", Path.home() / ".cache" / "unify"))
        folder = root / str(name_or_dir) / hashlib.sha1(source.encode()).hexdigest()[:12]
        if not _is_current(folder, fingerprint or None):
            build_dataset(str(name_or_dir), folder, data_dir=data_dir, config=config, unified_taxonomy=taxonomy)
    if split is not None:
        return load_split(folder, split)
    return datasets.DatasetDict({s: load_split(folder, s) for s in FolderMetadata.read(folder).splits})


def _is_current(folder: Path, fingerprint: str | None) -> bool:
    """Whether a cached build exists, is in this package's format and was built from these raw files."""
    from unify.core.errors import UnifyError
    from unify.core.folder import FolderMetadata

    if not (folder / "unify.json").is_file():
        return False
    try:
        recorded = FolderMetadata.read(folder).raw_fingerprint
    except UnifyError as exc:
        logger.info("rebuilding the cached %s: %s", folder, exc)
        return False
    if recorded != fingerprint:
        logger.info("the raw files changed since %s was built: rebuilding it", folder)
        return False
    return True


def read_metadata(folder: str | Path):
    """The `unify.core.folder.FolderMetadata` of a folder written by this package (taxonomies, mapping, splits).

    Raises `UnifyError` when the folder has no unify.json, holds another data-format version or a malformed one.
    """
    from unify.core.folder import FolderMetadata

    return FolderMetadata.read(folder)

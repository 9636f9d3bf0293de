"""What the Hub tests share: tiny models, run folders as training leaves them, reading pushed rows and cards."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import datasets
import numpy as np
import torch
import yaml
from PIL import Image

from unify.core.folder import FolderMetadata, load_split
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import Taxonomy, get_taxonomy

FINE = get_taxonomy("synthetic_fine")
IMAGES = (("train", 4),)


def save_segformer(folder: Path, taxonomy: Taxonomy = FINE, size: str = "mit-pico", seed: int = 0) -> Path:
    """A random SegFormer of `size` predicting `taxonomy`, saved as training saves its model."""
    torch.manual_seed(seed)
    Segmenter.for_training(size, taxonomy).save(folder)
    return folder


def source_record(folder: Path, run: Path, name: str, weight: float = 1.0, split: str = "train") -> dict:
    """One SOURCE of provenance.json as training writes it: from the folder's metadata, path relative to the run."""
    metadata = FolderMetadata.read(folder)
    return {
        "name": name,
        "path": os.path.relpath(folder, run),
        "split": split,
        "weight": weight,
        "label_column": metadata.columns.unified,
        "dataset": metadata.dataset,
        "config": metadata.config,
        "kind": metadata.kind,
        "teacher": metadata.teacher,
        "images": metadata.splits[split],
        "unified_taxonomy": metadata.unified_taxonomy.name,
    }


def write_run(
    run: Path,
    model: Path,
    train: list[dict],
    *,
    start: dict | None = None,
    eval_sources: list[dict] = (),
    config_model: str = "mit-pico",
    metrics: dict | None = None,
    taxonomy: str = "synthetic_fine",
) -> Path:
    """A training run folder: model/, config.yaml (paths relative to the run), provenance.json, metrics.json."""
    run.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model, run / "model", dirs_exist_ok=True)
    (run / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "output_dir": ".",
                "root": ".",
                "taxonomy": taxonomy,
                "model": config_model,
                "train_data": [{k: s[k] for k in ("path", "split", "weight", "name")} for s in train],
                "eval_data": [{k: s[k] for k in ("path", "split", "name")} for s in eval_sources],
            }
        )
    )
    (run / "provenance.json").write_text(
        json.dumps(
            {
                "format_version": "2",
                "taxonomy": taxonomy,
                "model": start or {"name": config_model, "sha256": None, "revision": None},
                "global_batch_size": 2,
                "steps": 10,
                "num_processes": 1,
                "sources": {"train": train, "eval": list(eval_sources)},
            },
            indent=2,
        )
    )
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def rows(folder: Path, split: str = "train") -> datasets.Dataset:
    """A split of a local folder with undecoded image cells, so that stored bytes can be compared."""
    return load_split(folder, split).cast_column("image", datasets.Image(decode=False))


def same_rows(a: datasets.Dataset, b: datasets.Dataset) -> None:
    assert a.column_names == b.column_names and len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        for column in a.column_names:
            if column == "image":
                assert left[column]["bytes"] == right[column]["bytes"]
            elif isinstance(left[column], Image.Image):
                assert np.array_equal(np.asarray(left[column]), np.asarray(right[column])), column
            else:
                assert left[column] == right[column], column


def front_matter(card: str) -> dict:
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---", card, re.S).group(1))


KITTI_IDS = [0, 7, 8, 11, 21, 23, 24, 26]  # Cityscapes label ids, void ones included
KITTI_TRAIN = ["000000_10", "000001_10"]


def write_photo(path: Path, seed: int, size: tuple[int, int] = (32, 64)) -> None:
    """A random RGB photo of (height, width) `size`, as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


def write_kitti(root: Path) -> Path:
    """A raw KITTI semantics folder as data_semantics.zip unpacks: two labelled training frames, one test frame."""
    for seed, stem in enumerate(KITTI_TRAIN):
        write_photo(root / "training" / "image_2" / f"{stem}.png", seed)
        label = np.random.default_rng(seed).choice(KITTI_IDS, size=(32, 64)).astype(np.uint8)
        (root / "training" / "semantic").mkdir(parents=True, exist_ok=True)
        Image.fromarray(label).save(root / "training" / "semantic" / f"{stem}.png")
    write_photo(root / "testing" / "image_2" / "000000_10.png", 10)
    return root


def flat(text: str) -> str:
    """`text` with every run of whitespace as one space: card sentences wrap where the template wraps them."""
    return " ".join(text.split())

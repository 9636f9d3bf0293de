"""Writing tiny raw datasets in their authors' encodings, and reading back what a build wrote."""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from unify.build import BuildReport, build_dataset
from unify.constants import IGNORE_INDEX
from unify.errors import BadSampleError
from unify.mapping import get_mapping
from unify.taxonomy import get_taxonomy

HEIGHT, WIDTH = 32, 64


def write_image(path: Path, seed: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> bytes:
    """A noise photo, saved in the format its suffix names; returns the file's bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path.read_bytes()


def scene(ids: list[int], seed: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    """A label map in which every id of `ids` occurs, scattered by the seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.permutation(np.repeat(ids, -(-size[0] * size[1] // len(ids))))[: size[0] * size[1]]
    return pixels.reshape(size).astype(np.uint8)


def write_id_png(path: Path, ids: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids.astype(np.uint8)).save(path)


def write_color_png(path: Path, ids: np.ndarray, taxonomy: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(get_taxonomy(taxonomy).palette()[ids]).save(path)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def build(name: str, raw: Path, out: Path, **kwargs) -> BuildReport:
    return build_dataset(name, out, data_dir=raw, **kwargs)


def load_rows(out: Path, split: str, cache: Path) -> dict[str, dict]:
    """image_id -> row of the built Parquet dataset, labels as arrays and the image as its stored bytes."""
    ds = datasets.load_dataset(str(out), split=split, cache_dir=str(cache))
    ds = ds.cast_column("image", datasets.Image(decode=False))
    rows = {}
    for row in ds:
        rows[row["image_id"]] = {"image": row["image"]["bytes"], "label": np.asarray(row["label"]),
                                 "unified_label": np.asarray(row["unified_label"]), "dataset": row["dataset"]}
    return rows


def expected_unified(native: np.ndarray, native_taxonomy: str, unified_taxonomy: str) -> np.ndarray:
    """What the mapping file says each pixel's ground truth is: its one allowed class, else void."""
    mapping = get_mapping(native_taxonomy, unified_taxonomy)
    out = np.full(native.shape, IGNORE_INDEX, dtype=np.uint8)
    for native_id, allowed in mapping.allowed.items():
        if len(allowed) == 1:
            out[native == native_id] = allowed[0]
    return out


def unified_id(taxonomy: str, name: str) -> int:
    return get_taxonomy(taxonomy).by_name[name].id


def assert_bad_sample(name: str, raw: Path, tmp_path: Path, bad_file: Path, image_id: str, reason: str,
                      kept: int, **kwargs) -> None:
    """The build stops with an error naming the file and the reason; with skip_bad it lists the sample."""
    with pytest.raises(BadSampleError) as caught:
        build(name, raw, tmp_path / "strict", **kwargs)
    assert caught.value.path == str(bad_file)
    assert reason in caught.value.reason
    report = build(name, raw, tmp_path / "lenient", skip_bad=True, **kwargs)
    assert [(s["image_id"], s["file"]) for s in report.skipped] == [(image_id, str(bad_file))]
    assert reason in report.skipped[0]["reason"]
    assert sum(report.num_examples.values()) == kept


def png_mode(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as im:
        return im.mode

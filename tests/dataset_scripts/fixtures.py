"""What every builder test shares: tiny files in the datasets' own encodings, one build read back, one bad-sample check.

Each dataset's test file lays out its own folders with these; every check reads the built Parquet folder
back with plain `datasets.load_dataset`, so the whole path (builder -> Parquet -> reader) is exercised.
"""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from unify.build import BuildReport, build_dataset
from unify.core.constants import IGNORE_INDEX, IMAGE, IMAGE_ID, LABEL, UNIFIED_LABEL
from unify.core.errors import BadSampleError
from unify.core.images import colorize
from unify.core.mapping import get_mapping
from unify.core.taxonomy import get_taxonomy

HEIGHT, WIDTH = 32, 64


# -- files in the datasets' encodings ----------------------------------------------------------------
def write_image(path: Path, seed: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> bytes:
    """A random RGB photo, saved as JPEG or PNG after the suffix; returns the file's bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path.read_bytes()


def write_label(path: Path, label: np.ndarray, palette: list[int] | None = None) -> bytes:
    """A label PNG: (H, W) ids as 8-bit grey, or as palette indices when `palette` is given; (H, W, 3) as RGB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(label.astype(np.uint8))
    if palette is not None:
        image = image.convert("P")  # keeps the values as indices
        image.putpalette(palette)
    image.save(path, format="PNG")
    return path.read_bytes()


def color_coded(ids: np.ndarray, taxonomy: str) -> np.ndarray:
    """The (H, W, 3) colours a colour-coded dataset stores for these ids, after the built-in table."""
    return colorize(ids, get_taxonomy(taxonomy).palette())


def scattered_ids(ids: list[int], seed: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    """A label map in which every id of `ids` occurs, scattered by the seed."""
    pixels = np.random.default_rng(seed).permutation(np.repeat(ids, -(-size[0] * size[1] // len(ids))))
    return pixels[: size[0] * size[1]].reshape(size).astype(np.uint8)


def stripes(ids: list[int]) -> np.ndarray:
    """A label map with one vertical band per id, so that a test can read a class at a known column."""
    label = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    for band, class_id in zip(np.array_split(np.arange(WIDTH), len(ids)), ids):
        label[:, band] = class_id
    return label


def truncate(path: Path) -> None:
    """Cut a file in half, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# -- building and reading back ---------------------------------------------------------------------
def build(name: str, raw: Path, out: Path, **kwargs) -> tuple[BuildReport, datasets.DatasetDict]:
    """Build into `out` and read it back with undecoded image cells, so stored bytes can be compared.

    The read-back uses a cache of its own beside `out`: the shared datasets cache keys a local folder by
    its base name and data-file patterns, so two builds into folders of the same name could read each
    other's cached copy.
    """
    report = build_dataset(name, out, data_dir=raw, **kwargs)
    loaded = datasets.load_dataset(str(out), cache_dir=str(out.parent / f"{out.name}-hf-cache"))
    for column in (IMAGE, LABEL, UNIFIED_LABEL):
        loaded = loaded.cast_column(column, datasets.Image(decode=False))
    return report, loaded


def rows_by_id(split: datasets.Dataset) -> dict[str, dict]:
    return {row[IMAGE_ID]: row for row in split}


def native_label(row: dict) -> np.ndarray:
    return _ids_of(row[LABEL])


def unified_label(row: dict) -> np.ndarray:
    return _ids_of(row[UNIFIED_LABEL])


def _ids_of(cell: dict) -> np.ndarray:
    with Image.open(io.BytesIO(cell["bytes"])) as im:
        return np.asarray(im)


# -- what to expect ----------------------------------------------------------------------------------
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
        build_dataset(name, tmp_path / "strict", data_dir=raw, **kwargs)
    assert caught.value.path == str(bad_file)
    assert reason in caught.value.reason
    report = build_dataset(name, tmp_path / "lenient", data_dir=raw, skip_bad=True, **kwargs)
    # the file is recorded relative to the raw folder: the record means something on another machine
    assert [(s.image_id, s.file) for s in report.skipped] == [(image_id, bad_file.relative_to(raw).as_posix())]
    assert reason in report.skipped[0].reason
    assert sum(report.num_examples.values()) == kept

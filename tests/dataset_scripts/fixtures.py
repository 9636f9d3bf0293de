"""What every builder test shares: tiny files in the datasets' own encodings, one build read back, the checks
of a built row and one bad-sample check.

Each dataset's test file lays out its own folders with these; every check reads the built Parquet folder
back with plain `datasets.load_dataset`, so the whole path (builder -> Parquet -> reader) is exercised.
"""

from __future__ import annotations

import io
from collections.abc import Callable
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


def write_pair(
    image: Path,
    label: Path,
    seed: int,
    ids: np.ndarray,
    palette: list[int] | None = None,
) -> tuple[bytes, bytes]:
    """A photo (`write_image` with `seed`) and its label file (`write_label` of `ids`); returns both files' bytes."""
    return write_image(image, seed), write_label(label, ids, palette)


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
    for band, class_id in zip(np.array_split(np.arange(WIDTH), len(ids)), ids, strict=True):
        label[:, band] = class_id
    return label


def numbered(by_split: dict[str, list]) -> list[tuple[int, str, object]]:
    """(seed, split, item) for every item of every split, in that order, the seed counting up from 0."""
    return [
        (seed, split, item)
        for seed, (split, item) in enumerate((split, item) for split, items in by_split.items() for item in items)
    ]


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


def built_once(name: str, write: Callable[[Path], Path], **kwargs):
    """A module-scoped fixture: `write(raw)` lays out a raw folder (and returns it), built once for the module."""

    @pytest.fixture(scope="module")
    def built(tmp_path_factory) -> tuple[BuildReport, datasets.DatasetDict]:
        tmp = tmp_path_factory.mktemp(name)
        return build(name, write(tmp / "raw"), tmp / "out", **kwargs)

    return built


def rows_by_id(split: datasets.Dataset) -> dict[str, dict]:
    return {row[IMAGE_ID]: row for row in split}


def native_label(row: dict) -> np.ndarray:
    return _ids_of(row[LABEL])


def unified_label(row: dict) -> np.ndarray:
    return _ids_of(row[UNIFIED_LABEL])


def _ids_of(cell: dict) -> np.ndarray:
    with Image.open(io.BytesIO(cell["bytes"])) as im:
        return np.asarray(im)


def assert_rows(
    dataset: datasets.DatasetDict,
    written: dict[str, tuple[bytes | Path, np.ndarray, bytes | None]],
    native_taxonomy: str,
    unified_taxonomy: str,
) -> None:
    """The build holds one row per written image id, whatever its split, each as `assert_row` expects.

    `written`: image id -> (image file or its bytes, native ids, label file bytes expected verbatim or None).
    """
    rows = {image_id: row for split in dataset.values() for image_id, row in rows_by_id(split).items()}
    assert sorted(rows) == sorted(written)
    for image_id, (image, native, label) in written.items():
        assert_row(rows[image_id], image, native, native_taxonomy, unified_taxonomy, label)


# -- what to expect ----------------------------------------------------------------------------------
def expected_unified(native: np.ndarray, native_taxonomy: str, unified_taxonomy: str) -> np.ndarray:
    """What the mapping file says each pixel's ground truth is: its one allowed class (without void beside), else
    void."""
    mapping = get_mapping(native_taxonomy, unified_taxonomy)
    out = np.full(native.shape, IGNORE_INDEX, dtype=np.uint8)
    for native_id, allowed in mapping.allowed.items():
        if len(allowed) == 1 and native_id not in mapping.void_allowed:
            out[native == native_id] = allowed[0]
    return out


def unified_id(taxonomy: str, name: str) -> int:
    return get_taxonomy(taxonomy).by_name[name].id


def unified_ids(taxonomy: str, *names: str | None) -> list[int]:
    """The ids of these classes of `taxonomy`; None stands for void (255), a pixel left to the teacher."""
    return [IGNORE_INDEX if name is None else unified_id(taxonomy, name) for name in names]


def unified_at(row: dict, columns: list[int]) -> list[int]:
    """The unified ids in the first row of the label at these columns (one column per band of `stripes`)."""
    return unified_label(row)[0, columns].tolist()


def assert_splits(built: tuple[BuildReport, datasets.DatasetDict], expected: dict[str, list[str]]) -> None:
    """The build wrote exactly these splits with these image ids (in any order), and its report counts them."""
    report, dataset = built
    assert report.num_examples == {split: len(image_ids) for split, image_ids in expected.items()}
    assert {split: sorted(dataset[split][IMAGE_ID]) for split in dataset} == {
        split: sorted(image_ids) for split, image_ids in expected.items()
    }


def assert_native_labels(dataset: datasets.DatasetDict, expected: Callable[[str, str], np.ndarray]) -> None:
    """Every row of every split holds `expected(split, image_id)` as its native label, id for id."""
    assert sum(len(split) for split in dataset.values()) > 0
    for split in dataset:
        for image_id, row in rows_by_id(dataset[split]).items():
            np.testing.assert_array_equal(native_label(row), expected(split, image_id), err_msg=image_id)


def assert_row(
    row: dict,
    image: bytes | Path,
    native: np.ndarray,
    native_taxonomy: str,
    unified_taxonomy: str,
    label: bytes | None = None,
) -> None:
    """A built row: the image file unchanged, `native` as its label (the file's bytes too, when `label` is
    given) and, as unified label, what the mapping file allows (`expected_unified`)."""
    assert row[IMAGE]["bytes"] == (image if isinstance(image, bytes) else Path(image).read_bytes())
    if label is not None:
        assert row[LABEL]["bytes"] == label
    np.testing.assert_array_equal(native_label(row), native)
    np.testing.assert_array_equal(unified_label(row), expected_unified(native, native_taxonomy, unified_taxonomy))


def assert_bad_sample(
    name: str, raw: Path, tmp_path: Path, bad_file: Path, image_id: str, reason: str, kept: int, **kwargs
) -> None:
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

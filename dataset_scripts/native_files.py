"""What the builders share for reading a dataset's own files: its folder layout, its split names, its colour-coded
labels and the class tables it ships.

Not a builder itself; the registry skips modules without a builder class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from dataset_scripts.base import RawSample
from unify.core.errors import BadSampleError, DataFileError, UnifyError
from unify.core.images import decode_label, rgb_to_ids
from unify.core.taxonomy import Taxonomy, hex_color, resolve_alias

SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
    "testing": "test",
}
"""Split folder or list names as the datasets spell them -> the split names this package writes.

The spellings are the authors' own: train/val/test (Cityscapes, BDD100K, GOOSE, ...), training/validation
(Mapillary Vistas), training/testing (KITTI), valid (YCOR). A dataset with a split of its own passes it to
`split_names` as data (Cityscapes' train_extra)."""

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def split_names(folders: Iterable[str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Folder (or list) name -> split name for each of `folders`, in their order, through `SPLIT_NAMES` and `extra`.

    `extra` holds a dataset's own splits (name as the dataset spells it -> split name written). A name in
    neither table raises UnifyError naming it and the known ones: it would otherwise be built under a name
    no reader expects.
    """
    folders = tuple(folders)
    table = {**SPLIT_NAMES, **(extra or {})}
    unknown = [folder for folder in folders if folder not in table]
    if unknown:
        raise UnifyError(f"unknown split folder(s) {', '.join(map(repr, unknown))}; known: {', '.join(table)}")
    return {folder: table[folder] for folder in folders}


def first_folder_with(folders: Iterable[Path], *names: str) -> Path | None:
    """The first of `folders` that is a folder holding every one of `names`; None if none is.

    A name ending in '/' must be a folder, any other a file. For layouts that may be unpacked one level
    up or down ("the folder holding X/, or X/ itself"), or whose list files may sit in one of several places.
    """
    for folder in folders:
        if folder.is_dir() and all(
            (folder / name).is_dir() if name.endswith("/") else (folder / name).is_file() for name in names
        ):
            return folder
    return None


def require_layout(builder, data_dir: Path, *relative: str) -> None:
    """Stop early, with the expected layout, when `data_dir` lacks a folder or file the builder reads.

    `relative` are paths under `data_dir`; the missing ones are named in the builder's `layout_error` (UnifyError).
    """
    missing = [name for name in relative if not (data_dir / name).exists()]
    if missing:
        raise builder.layout_error(data_dir, f"is not a layout this builder recognises (missing {', '.join(missing)})")


def image_files(folder: Path) -> list[Path]:
    """The photos of a folder (.jpg, .jpeg, .png, whatever case the suffix is written in), sorted by path."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def pair_by_stem(
    images: Iterable[Path],
    label_dir: Path | None,
    label_name: str = "{stem}.png",
    id_prefix: str = "",
    extra: dict | None = None,
) -> list[RawSample]:
    """One sample per image, sorted, its label `label_dir / label_name` by the image's stem; None: no labels.

    The image id is the stem after `id_prefix`. The label path is where the layout puts it, whether or
    not it exists: a missing label is reported when the sample is read, so that --skip-bad can skip it.
    """
    return [
        RawSample(
            image_id=f"{id_prefix}{image.stem}",
            image_path=image,
            label_path=None if label_dir is None else label_dir / label_name.format(stem=image.stem),
            extra=dict(extra or {}),
        )
        for image in sorted(images)
    ]


def scan_pairs(
    image_dir: Path, image_suffix: str, label_dir: Path | None, label_suffix: str | None
) -> list[tuple[str, str, Path, Path | None]]:
    """(group, stem, image, expected label) for every `<group>/<stem><image_suffix>` under image_dir, sorted.

    The label path is where the authors' layout puts it, whether or not it exists: a missing label
    is reported when the sample is read, so that --skip-bad can skip it.
    """
    pairs = []
    for image in sorted(image_dir.glob(f"*/*{image_suffix}")):
        group, stem = image.parent.name, image.name[: -len(image_suffix)]
        label = label_dir / group / f"{stem}{label_suffix}" if label_dir is not None else None
        pairs.append((group, stem, image, label))
    return pairs


def image_shape(path: Path | str) -> tuple[int, int]:
    """(height, width) in pixels of an image from its header, for labels made up to fit it.

    Raises BadSampleError naming the file when PIL cannot open it.
    """
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise BadSampleError(path, f"unreadable image ({exc})") from exc
    return height, width


def check_class_table(
    path: Path | str,
    rows: Sequence[tuple[int | str, str]],
    taxonomy: Taxonomy,
    by_color: bool = False,
    colors: Mapping[int, Sequence[int]] | None = None,
    problems: Iterable[str] = (),
) -> None:
    """A class table shipped with the data must say what the built-in one says; every difference is reported at once.

    `rows` are the file's (key, class name) pairs in file order: a key is a class id (int), or with `by_color`
    the class's colour as an '#rrggbb' string (lower case, `hex_color`). `colors` (id -> (R, G, B) as the file
    gives it) is compared too, for files that fix both. `problems` are those the caller met while reading the
    file. The built-in table is the taxonomy's file in unify/taxonomies/, whose names the mappings use: a class
    missing, added, renamed or listed twice, or a colour changed, raises one DataFileError naming `path` and
    listing them all, then what to update.
    """
    table = f"unify/taxonomies/{resolve_alias(taxonomy.name)}.csv"
    built_in = {(hex_color(c.color) if by_color else c.id): c.name for c in taxonomy.classes}
    found = dict(rows)
    problems = list(problems)
    if len(rows) != len(built_in):
        problems.append(f"the file lists {len(rows)} classes, {table} has {len(built_in)}")
    problems += [f"{_key(key)} is listed {n} times" for key, n in Counter(key for key, _ in rows).items() if n > 1]
    for key in sorted(set(found) | set(built_in)):
        if key not in found:
            problems.append(f"{_key(key)} ({built_in[key]!r}) of {table} is missing from the file")
        elif key not in built_in:
            problems.append(f"{_key(key)} ({found[key]!r}) is not in {table}")
        elif found[key] != built_in[key]:
            problems.append(f"{_key(key)} is {found[key]!r} in the file but {built_in[key]!r} in {table}")
    for class_id, color in (colors or {}).items():
        known = taxonomy.by_id.get(class_id)
        if known is not None and tuple(color) != known.color:
            problems.append(
                f"id {class_id} ({known.name!r}) has the colour {list(color)} in the file but "
                f"{list(known.color)} in {table}"
            )
    if problems:
        problems.append(
            f"if the dataset changed its classes, {table} and the mappings from {taxonomy.name} need updating"
        )
        raise DataFileError(path, problems)


def read_color_coded(
    path: Path | str,
    colors: Mapping[tuple[int, int, int], int],
    default: int | None = None,
) -> np.ndarray:
    """(H, W) class ids of a colour-coded label file (any mode PIL reads, palette PNGs through their palette).

    `colors` maps (R, G, B) to a class id. The file is decoded to (H, W, 3) uint8 RGB by
    `unify.core.images.decode_label` (BadSampleError naming the file if it cannot be read) and the colours
    looked up by `unify.core.images.rgb_to_ids`: a colour outside `colors` is a BadSampleError naming the file
    and the colours, unless `default` is given. The result is uint8 (uint16 for an id above 255).
    """
    return rgb_to_ids(decode_label(path, mode="rgb"), colors, path, default=default)


def color_table(taxonomy: Taxonomy) -> dict[tuple[int, int, int], int]:
    """(R, G, B) -> class id of a colour-coded dataset's class table (the `color` column of its taxonomy file).

    A colour used by two classes could not be told apart: UnifyError naming the taxonomy and the colours.
    """
    table = {c.color: c.id for c in taxonomy.classes}
    if len(table) != len(taxonomy.classes):
        reused = sorted(hex_color(color) for color, n in Counter(c.color for c in taxonomy.classes).items() if n > 1)
        raise UnifyError(
            f"taxonomy {taxonomy.name!r} reuses colours ({', '.join(reused)}); its labels cannot be decoded by colour"
        )
    return table


def _key(key: int | str) -> str:
    return f"id {key}" if isinstance(key, int) else key

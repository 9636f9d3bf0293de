"""What the builders share for reading a dataset's own files: its folder layout and the class tables it ships.

Not a builder itself; the registry skips modules without a builder class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from dataset_scripts.base import RawSample
from unify.core.errors import BadSampleError, DataFileError, UnifyError
from unify.core.taxonomy import Taxonomy

SPLIT_NAMES = {"train": "train", "val": "validation", "valid": "validation", "test": "test"}
"""Split folder or list names as datasets spell them -> the split names this package writes."""

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def require_layout(builder, data_dir: Path, *relative: str) -> None:
    """Stop early, with the expected layout, when `data_dir` lacks a folder or file the builder reads."""
    missing = [name for name in relative if not (data_dir / name).exists()]
    if missing:
        raise builder.layout_error(data_dir, f"is not a layout this builder recognises (missing {', '.join(missing)})")


def image_files(folder: Path) -> list[Path]:
    """The photos of a folder, sorted, whatever case their suffix is written in."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def pair_by_stem(images: Iterable[Path], label_dir: Path | None, label_name: str = "{stem}.png",
                 id_prefix: str = "", extra: dict | None = None) -> list[RawSample]:
    """One sample per image, sorted, its label `label_dir / label_name` by the image's stem; None: no labels.

    The image id is the stem after `id_prefix`. The label path is where the layout puts it, whether or
    not it exists: a missing label is reported when the sample is read, so that --skip-bad can skip it.
    """
    return [RawSample(image_id=f"{id_prefix}{image.stem}", image_path=image,
                      label_path=None if label_dir is None else label_dir / label_name.format(stem=image.stem),
                      extra=dict(extra or {}))
            for image in sorted(images)]


def scan_pairs(image_dir: Path, image_suffix: str, label_dir: Path | None,
               label_suffix: str | None) -> list[tuple[str, str, Path, Path | None]]:
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
    """(height, width) of an image from its header, for labels made up to fit it."""
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise BadSampleError(path, f"unreadable image ({exc})") from exc
    return height, width


def check_class_table(path: Path, rows: dict[int, str], taxonomy: Taxonomy) -> None:
    """A class table shipped with the data must agree with the built-in one, whose names the mappings use."""
    built_in = {c.id: c.name for c in taxonomy.classes}
    problems = []
    for class_id in sorted(set(rows) | set(built_in)):
        if class_id not in rows:
            problems.append(f"id {class_id} ({built_in[class_id]!r}) is missing from the file")
        elif class_id not in built_in:
            problems.append(f"id {class_id} ({rows[class_id]!r}) is not in the built-in table")
        elif rows[class_id] != built_in[class_id]:
            problems.append(f"id {class_id} is {rows[class_id]!r} in the file but {built_in[class_id]!r} built in")
    if problems:
        problems.append(f"the built-in table is unify/taxonomies/{taxonomy.name}.csv; if the dataset changed its "
                        f"classes, that table and the mappings from {taxonomy.name} need updating")
        raise DataFileError(path, problems)


def compare_color_table(path: Path | str, entries: list[tuple[str, str]], taxonomy: Taxonomy) -> None:
    """A dataset's own colour table ('#rrggbb', name) must match the built-in one, or nothing is decoded."""
    expected = {_hex(c.color): c.name for c in taxonomy.classes}
    found = dict(entries)
    problems = [f"{color} is listed {n} times" for color, n in Counter(c for c, _ in entries).items() if n > 1]
    problems += [f"{color}: {name!r} here, {expected[color]!r} in the {taxonomy.name} table"
                 for color, name in found.items() if color in expected and expected[color] != name]
    problems += [f"{color} ({name!r}) is not in the {taxonomy.name} table"
                 for color, name in found.items() if color not in expected]
    problems += [f"{color} ({name!r}) of the {taxonomy.name} table is missing"
                 for color, name in expected.items() if color not in found]
    if problems:
        raise DataFileError(path, problems)


def color_table(taxonomy: Taxonomy) -> dict[tuple[int, int, int], int]:
    """Colour -> id of a colour-coded dataset's class table; a colour used twice could not be told apart."""
    table = {c.color: c.id for c in taxonomy.classes}
    if len(table) != len(taxonomy.classes):
        reused = sorted(_hex(color) for color, n in Counter(c.color for c in taxonomy.classes).items() if n > 1)
        raise UnifyError(f"taxonomy {taxonomy.name!r} reuses colours ({', '.join(reused)}); its labels cannot be "
                         f"decoded by colour")
    return table


def _hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)

"""Readers for the two label encodings that driving datasets ship: id PNGs and colour-coded PNGs."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from unify.errors import BadSampleError, DataFileError, UnifyError
from unify.images import decode_label
from unify.taxonomy import Taxonomy


def read_id_png(path: Path | str) -> tuple[np.ndarray, bytes | None]:
    """Ids of a grey id PNG, with the file's own bytes when they can be stored as they are.

    Only 8-bit grey files are kept verbatim: a palette or 16-bit file decodes to the same ids, but
    readers that convert colours would see something else, so those are re-encoded.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadSampleError(path, f"cannot read label ({exc})") from exc
    label = decode_label(data, path)
    with Image.open(io.BytesIO(data)) as im:
        verbatim = im.format == "PNG" and im.mode == "L"
    return label, data if verbatim else None


def color_lookup(taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """(sorted packed 0xRRGGBB colours, the id of each) for decoding a colour-coded taxonomy."""
    packed = np.array([(r << 16) | (g << 8) | b for r, g, b in (c.color for c in taxonomy.classes)], dtype=np.int64)
    ids = np.array([c.id for c in taxonomy.classes], dtype=np.int64)
    if len(np.unique(packed)) != len(packed):
        raise UnifyError(f"taxonomy {taxonomy.name!r} reuses colours; its labels cannot be decoded by colour")
    order = np.argsort(packed)
    return packed[order], ids[order]


def read_color_png(path: Path | str, lookup: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Native ids of a colour-coded label; a colour outside the table is an error that lists it."""
    rgb = decode_label(Path(path), path, mode="rgb").astype(np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    colors, ids = lookup
    index = np.minimum(np.searchsorted(colors, packed), len(colors) - 1)
    known = colors[index] == packed
    if not known.all():
        values, counts = np.unique(packed[~known], return_counts=True)
        listed = ", ".join(f"#{v:06x} ({n} px)" for v, n in zip(values[:10].tolist(), counts[:10].tolist()))
        more = f" and {len(values) - 10} more" if len(values) > 10 else ""
        raise BadSampleError(path, f"{len(values)} colour(s) not in the colour table: {listed}{more}")
    label = ids[index]
    return label.astype(np.uint8 if label.max(initial=0) < 256 else np.uint16)


def compare_color_table(path: Path | str, entries: list[tuple[str, str]], taxonomy: Taxonomy) -> None:
    """A dataset's own colour table ('#rrggbb', name) must match the built-in one, or nothing is decoded."""
    expected = {"#{:02x}{:02x}{:02x}".format(*c.color): c.name for c in taxonomy.classes}
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


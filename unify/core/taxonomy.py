"""Class tables (taxonomies) read from the CSV files shipped in `unify/taxonomies/`.

One file per taxonomy is the single source of truth for its ids, names, colours and `ignore` flags;
every lookup is derived from it. Native dataset taxonomies and unified taxonomies live in the
same registry, under the file's stem. A file is CSV with the header `id,name,color,ignore`, one class
per row (`7,road,#804080,false`), `#` comment lines; the leading comments are its description, and name
where its table comes from (the dataset's official definition, or the paper authors' tables).
"""

from __future__ import annotations

import csv
import difflib
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unify.core.constants import IGNORE_INDEX
from unify.core.errors import DataFileError, UnifyError

TAXONOMY_DIR = Path(__file__).parent.parent / "taxonomies"
_COLUMNS = ["id", "name", "color", "ignore"]
_BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}


@dataclass(frozen=True)
class ClassInfo:
    """One row of a class table."""

    id: int  # the value stored in label maps, 0..65535
    name: str  # unique within its taxonomy
    color: tuple[int, int, int]  # RGB, 0..255 each: for drawing, and for decoding colour-coded labels
    ignore: bool  # the file's `ignore` flag: never trained on or scored (255 in a unified taxonomy)

    def to_json(self) -> dict:
        """`{"id", "name", "color": [r, g, b], "ignore"}`, as unify.json and `unify taxonomies show --json` hold it."""
        return {"id": self.id, "name": self.name, "color": list(self.color), "ignore": self.ignore}


@dataclass(frozen=True)
class Taxonomy:
    """A class table (one file of `unify/taxonomies/`, or a record in unify.json) and the lookups derived from it.

    Build one with `get_taxonomy(name)`, `parse_taxonomy(path)` or `Taxonomy.from_json`, which check it.
    """

    name: str  # registry name, the file's stem
    classes: tuple[ClassInfo, ...]  # in file order
    description: str = ""  # the file's leading comment lines

    @functools.cached_property
    def by_name(self) -> dict[str, ClassInfo]:
        """Class name -> its row."""
        return {c.name: c for c in self.classes}

    @functools.cached_property
    def by_id(self) -> dict[int, ClassInfo]:
        """Label id -> its row."""
        return {c.id: c for c in self.classes}

    @property
    def max_id(self) -> int:
        """The largest label id of the table (sizes lookup tables indexed by id)."""
        return max(c.id for c in self.classes)

    @functools.cached_property
    def trainable(self) -> tuple[ClassInfo, ...]:
        """The classes a model predicts (those without the `ignore` flag), in id order."""
        return tuple(sorted((c for c in self.classes if not c.ignore), key=lambda c: c.id))

    @property
    def num_labels(self) -> int:
        """C, the number of trainable classes: a model of this taxonomy has C output channels."""
        return len(self.trainable)

    def id2label(self) -> dict[int, str]:
        """{id: name} of the trainable classes, as a transformers config's `id2label`."""
        return {c.id: c.name for c in self.trainable}

    def label2id(self) -> dict[str, int]:
        """{name: id} of the trainable classes, as a transformers config's `label2id`."""
        return {c.name: c.id for c in self.trainable}

    def palette(self) -> np.ndarray:
        """(max(256, max_id + 1), 3) uint8 RGB colours indexed by label id; ids without a class are black."""
        palette = np.zeros((max(256, self.max_id + 1), 3), dtype=np.uint8)
        for c in self.classes:
            palette[c.id] = c.color
        return palette

    def require_unified(self) -> None:
        """Check that a model can predict this taxonomy: trainable ids 0..C-1 without gaps, ignored classes at 255.

        Raises `UnifyError` naming the taxonomy and the offending ids.
        """
        ids = [c.id for c in self.trainable]
        if ids != list(range(len(ids))):
            raise UnifyError(
                f"taxonomy {self.name!r} cannot be a unified label space: its non-void ids must be "
                f"0..{len(ids) - 1} without gaps, got {ids}"
            )
        misplaced = [c.id for c in self.classes if c.ignore and c.id != IGNORE_INDEX]
        if misplaced:
            raise UnifyError(
                f"taxonomy {self.name!r}: ignored classes of a unified taxonomy must use the ignore index "
                f"{IGNORE_INDEX}, got {misplaced}"
            )

    def to_json(self) -> list[dict]:
        """One `{"id", "name", "color": [r, g, b], "ignore"}` record per class, in file order."""
        return [c.to_json() for c in self.classes]

    @classmethod
    def from_json(cls, name: str, rows: list[dict]) -> Taxonomy:
        """The taxonomy recorded as `to_json` wrote it; `UnifyError` on duplicate ids or names."""
        classes = tuple(
            ClassInfo(int(r["id"]), str(r["name"]), tuple(int(v) for v in r["color"]), bool(r["ignore"])) for r in rows
        )
        problems: list[str] = []
        _check_unique(list(classes), problems)
        if problems:
            raise UnifyError(f"recorded taxonomy {name!r}: {'; '.join(problems)}")
        return cls(name=name, classes=classes)


def parse_taxonomy(path: Path | str, name: str | None = None) -> Taxonomy:
    """Read one taxonomy file (format in the module docstring); `name` defaults to the file's stem.

    Raises `DataFileError` naming the file and listing every problem at once: bad header, a row without 4
    columns, an id outside 0..65535, an empty name, a colour that is not `#rrggbb`, an `ignore` other than
    true/false/yes/no, duplicate ids or names, no classes.
    """
    path = Path(path)
    problems: list[str] = []
    classes: list[ClassInfo] = []
    comments: list[str] = []
    header_seen = False
    with path.open(newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f, skipinitialspace=True), start=1):
            if not row or not "".join(row).strip():
                continue
            if row[0].lstrip().startswith("#"):
                if not header_seen:
                    comments.append(",".join(row).lstrip("# ").rstrip())
                continue
            row = [cell.strip() for cell in row]
            if not header_seen:
                header_seen = True
                if row != _COLUMNS:
                    problems.append(f"line {line_no}: header must be {','.join(_COLUMNS)}, got {','.join(row)}")
                continue
            parsed = _parse_class_row(row, line_no, problems)
            if parsed is not None:
                classes.append(parsed)
    if not header_seen:
        problems.append(f"no header line {','.join(_COLUMNS)}")
    _check_unique(classes, problems)
    if header_seen and not classes and not problems:
        problems.append("no classes")
    if problems:
        raise DataFileError(path, problems)
    return Taxonomy(name=name or path.stem, classes=tuple(classes), description="\n".join(comments))


def _parse_class_row(row: list[str], line_no: int, problems: list[str]) -> ClassInfo | None:
    if len(row) != len(_COLUMNS):
        problems.append(f"line {line_no}: expected {len(_COLUMNS)} columns ({','.join(_COLUMNS)}), got {len(row)}")
        return None
    raw_id, name, raw_color, raw_ignore = row
    before = len(problems)
    if not raw_id.isdigit() or int(raw_id) > 65535:
        problems.append(f"line {line_no}: id must be an integer in 0..65535, got {raw_id!r}")
    if not name:
        problems.append(f"line {line_no}: empty class name")
    color = _parse_color(raw_color)
    if color is None:
        problems.append(f"line {line_no}: color must be #rrggbb, got {raw_color!r}")
    if raw_ignore.lower() not in _BOOLEANS:
        problems.append(f"line {line_no}: ignore must be true or false, got {raw_ignore!r}")
    if len(problems) > before:
        return None
    return ClassInfo(int(raw_id), name, color, _BOOLEANS[raw_ignore.lower()])


def hex_color(color: tuple[int, int, int] | list[int]) -> str:
    """`#rrggbb` (lower case) of an RGB colour of 0..255 values: the `color` format of the class files."""
    return "#" + "".join(f"{int(v):02x}" for v in color)


def _parse_color(text: str) -> tuple[int, int, int] | None:
    if len(text) != 7 or not text.startswith("#"):
        return None
    try:
        value = int(text[1:], 16)
    except ValueError:
        return None
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _check_unique(classes: list[ClassInfo], problems: list[str]) -> None:
    for field in ("id", "name"):
        seen: dict = {}
        for c in classes:
            key = getattr(c, field)
            if key in seen:
                problems.append(f"duplicate {field} {key!r} ({seen[key]!r} and {c.name!r})")
            else:
                seen[key] = c.name


ALIAS_FILE = TAXONOMY_DIR / "aliases.txt"


@functools.cache
def taxonomy_aliases() -> dict[str, str]:
    """Datasets whose labels use another dataset's ids exactly (`kitti = cityscapes`): name -> that dataset.

    Read from `unify/taxonomies/aliases.txt`; raises `DataFileError` listing every bad line (no `=`, a target
    without a .csv file, a name that already is a taxonomy or an alias).
    """
    aliases: dict[str, str] = {}
    problems: list[str] = []
    if not ALIAS_FILE.is_file():
        return aliases
    for line_no, raw in enumerate(ALIAS_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.partition("#")[0].strip()
        if not text:
            continue
        name, sep, target = (part.strip() for part in text.partition("="))
        if not sep or not name or not (TAXONOMY_DIR / f"{target}.csv").is_file():
            problems.append(f"line {line_no}: expected '<name> = <taxonomy with a .csv file>', got {raw.strip()!r}")
        elif name in aliases or (TAXONOMY_DIR / f"{name}.csv").is_file():
            problems.append(f"line {line_no}: {name!r} is already a taxonomy or an alias")
        else:
            aliases[name] = target
    if problems:
        raise DataFileError(ALIAS_FILE, problems)
    return aliases


def resolve_alias(name: str) -> str:
    """The taxonomy whose file `name` uses (`aliases.txt`), or `name` itself; `DataFileError` for a bad alias file."""
    return taxonomy_aliases().get(name, name)


def list_taxonomies() -> list[str]:
    """Every registered taxonomy name, aliases included, sorted."""
    return sorted([p.stem for p in TAXONOMY_DIR.glob("*.csv")] + list(taxonomy_aliases()))


@functools.cache
def get_taxonomy(name: str) -> Taxonomy:
    """The registered taxonomy called `name` (the stem of its file in `unify/taxonomies/`, or an alias).

    Raises `UnifyError` for an unknown name (with the close ones and the known ones), `DataFileError` for a bad file.
    """
    path = TAXONOMY_DIR / f"{resolve_alias(name)}.csv"
    if not path.is_file():
        known = list_taxonomies()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "."
        raise UnifyError(f"unknown taxonomy {name!r}{hint} Known taxonomies: {', '.join(known)}")
    return parse_taxonomy(path, name=name)


def taxonomy_json(taxonomy: Taxonomy) -> str:
    """`Taxonomy.to_json` as indented JSON text (what `unify taxonomies show --json` prints)."""
    return json.dumps(taxonomy.to_json(), indent=2)

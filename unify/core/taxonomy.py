"""Class tables (taxonomies) read from the CSV files shipped in `unify/taxonomies/`.

One file per taxonomy is the single source of truth for its ids, names, colours and void flags;
every lookup is derived from it. Native dataset taxonomies and unified taxonomies live in the
same registry, under the file's stem.
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
    id: int  # the value stored in label maps
    name: str  # unique within its taxonomy
    color: tuple[int, int, int]  # RGB colour used for drawing (and decoding colour-coded labels)
    ignore: bool  # void: never trained on or evaluated

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "color": list(self.color), "ignore": self.ignore}


@dataclass(frozen=True)
class Taxonomy:
    name: str  # registry name, the file's stem
    classes: tuple[ClassInfo, ...]  # in file order
    description: str = ""  # the file's leading comment lines

    @functools.cached_property
    def by_name(self) -> dict[str, ClassInfo]:
        return {c.name: c for c in self.classes}

    @functools.cached_property
    def by_id(self) -> dict[int, ClassInfo]:
        return {c.id: c for c in self.classes}

    @property
    def max_id(self) -> int:
        return max(c.id for c in self.classes)

    @functools.cached_property
    def trainable(self) -> tuple[ClassInfo, ...]:
        """The classes a model predicts, in id order."""
        return tuple(sorted((c for c in self.classes if not c.ignore), key=lambda c: c.id))

    @property
    def num_labels(self) -> int:
        return len(self.trainable)

    def id2label(self) -> dict[int, str]:
        return {c.id: c.name for c in self.trainable}

    def label2id(self) -> dict[str, int]:
        return {c.name: c.id for c in self.trainable}

    def palette(self) -> np.ndarray:
        """(256, 3) uint8 colours indexed by label id; unknown ids are black, 255 stays black."""
        palette = np.zeros((max(256, self.max_id + 1), 3), dtype=np.uint8)
        for c in self.classes:
            palette[c.id] = c.color
        return palette

    def require_unified(self) -> None:
        """A unified taxonomy is predicted by a model: its classes must be ids 0..C-1."""
        ids = [c.id for c in self.trainable]
        if ids != list(range(len(ids))):
            raise UnifyError(
                f"taxonomy {self.name!r} cannot be a unified label space: its non-void ids must be "
                f"0..{len(ids) - 1} without gaps, got {ids}"
            )
        bad_void = [c.id for c in self.classes if c.ignore and c.id != IGNORE_INDEX]
        if bad_void:
            raise UnifyError(
                f"taxonomy {self.name!r}: void classes of a unified taxonomy must use id {IGNORE_INDEX}, got {bad_void}"
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
    """Read one taxonomy file; every problem in it is reported in one `DataFileError`."""
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
    """Datasets whose labels use another dataset's ids exactly (`acdc = cityscapes`): name -> that dataset."""
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
    return taxonomy_aliases().get(name, name)


def list_taxonomies() -> list[str]:
    return sorted([p.stem for p in TAXONOMY_DIR.glob("*.csv")] + list(taxonomy_aliases()))


@functools.cache
def get_taxonomy(name: str) -> Taxonomy:
    """The registered taxonomy called `name` (the stem of its file in `unify/taxonomies/`, or an alias)."""
    path = TAXONOMY_DIR / f"{resolve_alias(name)}.csv"
    if not path.is_file():
        known = list_taxonomies()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnifyError(f"unknown taxonomy {name!r}{hint} Known taxonomies: {', '.join(known)}")
    return parse_taxonomy(path, name=name)


def taxonomy_json(taxonomy: Taxonomy) -> str:
    return json.dumps(taxonomy.to_json(), indent=2)

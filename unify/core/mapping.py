"""Many-to-many label mappings from a dataset's native taxonomy to a unified taxonomy.

A mapping file (`unify/mappings/<native>/<unified>.txt`) has one line per native class:

    road            : road                      # one allowed class: copied from the ground truth
    vehicle         : car, truck, bus           # several: the teacher chooses among them
    unlabeled       : *                         # every class: the teacher fills it in
    ego vehicle     : void                      # none: ignored (id 255)
    buildings       : building, wall, void      # classes or void: the teacher chooses among them, and
                                                # the pixel is void where it sees none of them

Every native class must appear exactly once. `void` beside classes (`a, void` and `*, void` too)
means the native class may hold things none of its classes covers, as the paper authors' tables put
it (their last row, `255,void,...`, lists such classes beside their class rows): the teacher chooses
among the listed classes, and a pixel becomes void (255, provenance TEACHER_VOIDED) where the teacher's
best class over the whole unified taxonomy is not listed, or, for a teacher with a no-object score, where
no-object beats every listed class (`unify.core.pseudo_label_kernel` has the exact rule). The mapping
compiles into lookup tables indexed by native id, so that a whole batch of label maps is converted with
one gather.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from unify.core.constants import (
    FROM_GROUND_TRUTH,
    IGNORE_INDEX,
    IGNORED,
    PROVENANCE_NAMES,
    TEACHER_CHOSE,
    TEACHER_FILLED,
)
from unify.core.errors import DataFileError, UnifyError
from unify.core.taxonomy import Taxonomy, get_taxonomy, resolve_alias, taxonomy_aliases

MAPPING_DIR = Path(__file__).parent.parent / "mappings"
ALL = "*"
"""The mapping-file keyword for "every unified class" (the teacher fills the native class in)."""
VOID = "void"
"""The mapping-file keyword for `IGNORE_INDEX`: alone, the native class allows no unified class; beside classes,
the teacher may also leave the pixel at the ignore index. Users write it; code says `IGNORE_INDEX`."""
UNKNOWN_NATIVE_ID = 254
"""Provenance-table entry for ids that are not in the native taxonomy (an error when met)."""


@dataclass(frozen=True)
class MappingTables:
    """Lookup tables indexed by native id, on one device; L = max(native max id + 1, 256), C unified classes."""

    allowed: torch.Tensor  # (L, C) bool: native id -> unified classes it allows
    single: torch.Tensor  # (L,) long: unified id copied from the ground truth (FROM_GROUND_TRUTH), else IGNORE_INDEX
    provenance: torch.Tensor  # (L,) uint8: what happens to a pixel of that native id (TEACHER_VOIDED never)
    known: torch.Tensor  # (L,) bool: the id exists in the native taxonomy
    void_allowed: torch.Tensor  # (L,) bool: the id's line lists void beside its classes

    def to(self, device: torch.device | str) -> MappingTables:
        """The same tables on `device`."""
        return MappingTables(
            *(t.to(device) for t in (self.allowed, self.single, self.provenance, self.known, self.void_allowed))
        )


@dataclass(frozen=True)
class LabelMapping:
    """A parsed mapping file: what each native class may become in the unified taxonomy.

    Build one with `get_mapping`, `parse_mapping` or `LabelMapping.from_json`. Raises `UnifyError` when
    `void_allowed` names a native id that allows no class (that line is plain `void`).
    """

    native: Taxonomy
    unified: Taxonomy
    allowed: dict[int, tuple[int, ...]]  # native id -> sorted allowed unified ids (empty: void)
    comments: dict[int, str]  # native id -> the reason written beside its line, if any
    void_allowed: frozenset[int] = frozenset()  # native ids whose line lists void beside classes

    def __post_init__(self):
        bad = sorted(i for i in self.void_allowed if not self.allowed.get(i))
        if bad:
            raise UnifyError(
                f"native ids {bad} of {self.native.name} are marked 'void beside classes' but allow "
                f"no class; a void native class is written '<name> : void'"
            )

    def kind(self, native_id: int) -> int:
        """The provenance code (`unify.core.constants`) of the line of `native_id`; `KeyError` for an id not in it.

        No class: IGNORED. One class is copied from the ground truth unless void stands beside it (then the
        teacher decides); every class is a fill-in, with or without void beside it; otherwise the teacher chooses.
        TEACHER_VOIDED is decided per pixel, never here.
        """
        n = len(self.allowed[native_id])
        if n == 0:
            return IGNORED
        if n == 1 and native_id not in self.void_allowed:
            return FROM_GROUND_TRUTH
        return TEACHER_FILLED if n == self.unified.num_labels else TEACHER_CHOSE

    @functools.cached_property
    def tables(self) -> MappingTables:
        """The mapping compiled into `MappingTables` on the CPU (computed once; `.to(device)` moves them)."""
        size = max(self.native.max_id + 1, 256)
        num_labels = self.unified.num_labels
        allowed = torch.zeros(size, num_labels, dtype=torch.bool)
        single = torch.full((size,), IGNORE_INDEX, dtype=torch.long)
        provenance = torch.full((size,), UNKNOWN_NATIVE_ID, dtype=torch.uint8)
        known = torch.zeros(size, dtype=torch.bool)
        void_allowed = torch.zeros(size, dtype=torch.bool)
        for native_id, ids in self.allowed.items():
            allowed[native_id, list(ids)] = True
            kind = self.kind(native_id)
            provenance[native_id] = kind
            if kind == FROM_GROUND_TRUTH:
                single[native_id] = ids[0]
            known[native_id] = True
            void_allowed[native_id] = native_id in self.void_allowed
        return MappingTables(allowed, single, provenance, known, void_allowed)

    def coverage(self) -> dict[str, list[str]]:
        """Native class names grouped by what the mapping does with them; each class in one group.

        `maybe_void` holds the lines with void beside classes, whatever their number of classes.
        """
        groups = {"one_to_one": [], "one_to_many": [], "fill_in": [], "maybe_void": [], "void": []}
        kind_to_group = {
            FROM_GROUND_TRUTH: "one_to_one",
            TEACHER_CHOSE: "one_to_many",
            TEACHER_FILLED: "fill_in",
            IGNORED: "void",
        }
        for c in self.native.classes:
            group = "maybe_void" if c.id in self.void_allowed else kind_to_group[self.kind(c.id)]
            groups[group].append(c.name)
        return groups

    def to_json(self) -> list[dict]:
        """One record per native class: its id and name, the unified ids it allows, its provenance name, and
        `void_allowed`, true where void stands beside the allowed classes."""
        return [
            {
                "native_id": c.id,
                "native_name": c.name,
                "allowed": list(self.allowed[c.id]),
                "provenance": PROVENANCE_NAMES[self.kind(c.id)],
                "void_allowed": c.id in self.void_allowed,
            }
            for c in self.native.classes
        ]

    @classmethod
    def from_json(cls, records: list[dict], native: Taxonomy, unified: Taxonomy) -> LabelMapping:
        """The mapping recorded with a dataset (`to_json`'s records); `UnifyError` when a record does not fit.

        Records written before void could stand beside classes have no `void_allowed`: it is false for them.
        """
        allowed = {int(r["native_id"]): tuple(sorted(int(i) for i in r["allowed"])) for r in records}
        void_allowed = frozenset(int(r["native_id"]) for r in records if r.get("void_allowed", False))
        unknown = sorted(set(allowed) - set(native.by_id))
        missing = sorted(set(native.by_id) - set(allowed))
        outside = sorted({i for ids in allowed.values() for i in ids} - {c.id for c in unified.trainable})
        if unknown or missing or outside:
            raise UnifyError(
                f"recorded mapping {native.name} -> {unified.name} does not fit its taxonomies: "
                f"native ids not in the table {unknown}, native ids without a record {missing}, "
                f"unified ids outside the taxonomy {outside}"
            )
        return cls(native=native, unified=unified, allowed=allowed, comments={}, void_allowed=void_allowed)

    def differences(self, other: LabelMapping) -> list[str]:
        """Native classes whose lines differ between this mapping and `other` (allowed sets or void beside them),
        one line each."""

        def line(mapping: LabelMapping, i: int) -> tuple[tuple[int, ...], bool]:
            return mapping.allowed.get(i, ()), i in mapping.void_allowed

        def names(ids: tuple[int, ...], maybe_void: bool) -> str:
            return ", ".join([*(self.unified.by_id[i].name for i in ids), *(["void"] if maybe_void else [])]) or "void"

        return [
            f"{self.native.by_id[i].name!r}: {names(*line(self, i))} here, {names(*line(other, i))} there"
            for i in sorted(self.allowed)
            if line(self, i) != line(other, i)
        ]


def parse_mapping(path: Path | str, native: Taxonomy, unified: Taxonomy) -> LabelMapping:
    """Read one mapping file (format in the module docstring) from `native` to the unified taxonomy `unified`.

    Raises `UnifyError` when `unified` cannot be a unified taxonomy (`Taxonomy.require_unified`), and one
    `DataFileError` naming the file that lists every problem with its line: no `:`, an unknown or repeated native
    class, an unknown or repeated unified class, `*` beside a class, native classes not mapped at all.
    """
    path = Path(path)
    unified.require_unified()
    problems: list[str] = []
    allowed: dict[int, tuple[int, ...]] = {}
    void_allowed: set[int] = set()
    comments: dict[int, str] = {}
    first_line: dict[int, int] = {}
    for line_no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text, _, comment = raw.partition("#")
        if not text.strip():
            continue
        left, sep, right = text.partition(":")
        native_name = left.strip()
        if not sep:
            problems.append(
                f"line {line_no}: expected '<native class> : <unified classes | *>[, void]' or "
                f"'<native class> : void', got {raw.strip()!r}"
            )
            continue
        native_class = native.by_name.get(native_name)
        if native_class is None:
            problems.append(
                f"line {line_no}: unknown {native.name} class {native_name!r}"
                f"{_did_you_mean(native_name, native.by_name)}"
            )
            continue
        if native_class.id in first_line:
            problems.append(f"line {line_no}: {native_name!r} is already mapped on line {first_line[native_class.id]}")
            continue
        first_line[native_class.id] = line_no
        targets = _parse_targets(right, line_no, unified, problems)
        if targets is not None:
            allowed[native_class.id], maybe_void = targets
            if maybe_void:
                void_allowed.add(native_class.id)
            if comment.strip():
                comments[native_class.id] = comment.strip()
    missing = [c.name for c in native.classes if c.id not in first_line]
    if missing:
        problems.append(
            f"native classes neither mapped nor declared void: {', '.join(missing)} "
            f"(add '<name> : void' to ignore them on purpose)"
        )
    if problems:
        raise DataFileError(path, problems)
    return LabelMapping(
        native=native, unified=unified, allowed=allowed, comments=comments, void_allowed=frozenset(void_allowed)
    )


def _parse_targets(
    text: str, line_no: int, unified: Taxonomy, problems: list[str]
) -> tuple[tuple[int, ...], bool] | None:
    """(sorted allowed unified ids, whether void stands beside them), or None after adding to `problems`."""
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        problems.append(f"line {line_no}: empty unified class name in {text.strip()!r}")
        return None
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"line {line_no}: {repeated[0]!r} is listed twice")
        return None
    maybe_void = VOID in names
    names = [n for n in names if n != VOID]
    if not names:
        return (), False
    if ALL in names:
        if len(names) > 1:
            problems.append(
                f"line {line_no}: '{ALL}' already allows every class: only '{VOID}' may stand beside "
                f"it, got {text.strip()!r}"
            )
            return None
        return tuple(c.id for c in unified.trainable), maybe_void
    ids = []
    for name in names:
        target = unified.by_name.get(name)
        if target is None or target.ignore:
            problems.append(
                f"line {line_no}: unknown {unified.name} class {name!r}{_did_you_mean(name, unified.label2id())}"
            )
        else:
            ids.append(target.id)
    return (tuple(sorted(ids)), maybe_void) if len(ids) == len(names) else None


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def mapping_path(native: str, unified: str) -> Path:
    """Where the mapping file from `native` to `unified` lives: `unify/mappings/<native>/<unified>.txt`."""
    return MAPPING_DIR / native / f"{unified}.txt"


def list_mappings() -> list[tuple[str, str]]:
    """(native, unified) pairs, aliases included: an alias shares its target's mappings."""
    pairs = [(p.parent.name, p.stem) for p in MAPPING_DIR.glob("*/*.txt")]
    pairs += [(alias, unified) for alias, target in taxonomy_aliases().items() for n, unified in pairs if n == target]
    return sorted(pairs)


@functools.cache
def get_mapping(native: str, unified: str) -> LabelMapping:
    """The registered mapping from taxonomy `native` to taxonomy `unified` (the identity when they are one).

    Raises `UnifyError` when there is no such file (naming what `native` maps to), and as `get_taxonomy` and
    `parse_mapping` do.
    """
    if native == unified:
        return identity_mapping(get_taxonomy(native))
    path = mapping_path(resolve_alias(native), unified)
    if not path.is_file():
        targets = [u for n, u in list_mappings() if n == native]
        raise UnifyError(
            f"no mapping from {native!r} to {unified!r} (expected {path}); "
            f"{native!r} maps to: {', '.join(targets) or 'nothing yet'}"
        )
    return parse_mapping(path, get_taxonomy(native), get_taxonomy(unified))


def identity_mapping(taxonomy: Taxonomy) -> LabelMapping:
    """A unified taxonomy mapped onto itself: every class is its own ground truth, ignored classes are `void`.

    Raises `UnifyError` when `taxonomy` cannot be a unified taxonomy.
    """
    taxonomy.require_unified()
    allowed = {c.id: (() if c.ignore else (c.id,)) for c in taxonomy.classes}
    return LabelMapping(native=taxonomy, unified=taxonomy, allowed=allowed, comments={})

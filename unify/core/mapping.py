"""Many-to-many label mappings from a dataset's native taxonomy to a unified taxonomy.

A mapping file (`unify/mappings/<native>/<unified>.txt`) has one line per native class:

    road            : road                      # one allowed class: copied from the ground truth
    vehicle         : car, truck, bus           # several: the teacher chooses among them
    unlabeled       : *                         # every class: the teacher fills it in
    ego vehicle     : void                      # none: ignored (id 255)

Every native class must appear exactly once. The mapping compiles into lookup tables indexed by
native id, so that a whole batch of label maps is converted with one gather.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from unify.core.constants import (FROM_GROUND_TRUTH, IGNORE_INDEX, IGNORED, PROVENANCE_NAMES, TEACHER_CHOSE,
                             TEACHER_FILLED)
from unify.core.errors import DataFileError, UnifyError
from unify.core.taxonomy import Taxonomy, get_taxonomy, resolve_alias, taxonomy_aliases

MAPPING_DIR = Path(__file__).parent.parent / "mappings"
ALL = "*"
VOID = "void"
UNKNOWN_NATIVE_ID = 254
"""Provenance-table entry for ids that are not in the native taxonomy (an error when met)."""


@dataclass(frozen=True)
class MappingTables:
    """Lookup tables indexed by native id, on one device."""

    allowed: torch.Tensor  # (L, C) bool: native id -> unified classes it allows
    single: torch.Tensor  # (L,) long: the unified id when exactly one is allowed, else 255
    provenance: torch.Tensor  # (L,) uint8: what happens to a pixel of that native id
    known: torch.Tensor  # (L,) bool: the id exists in the native taxonomy

    def to(self, device: torch.device | str) -> "MappingTables":
        return MappingTables(*(t.to(device) for t in (self.allowed, self.single, self.provenance, self.known)))


@dataclass(frozen=True)
class LabelMapping:
    native: Taxonomy
    unified: Taxonomy
    allowed: dict[int, tuple[int, ...]]  # native id -> sorted allowed unified ids (empty: void)
    comments: dict[int, str]  # native id -> the reason written beside its line, if any

    def kind(self, native_id: int) -> int:
        n = len(self.allowed[native_id])
        if n == 0:
            return IGNORED
        if n == 1:
            return FROM_GROUND_TRUTH
        return TEACHER_FILLED if n == self.unified.num_labels else TEACHER_CHOSE

    @functools.cached_property
    def tables(self) -> MappingTables:
        size = max(self.native.max_id + 1, 256)
        num_labels = self.unified.num_labels
        allowed = torch.zeros(size, num_labels, dtype=torch.bool)
        single = torch.full((size,), IGNORE_INDEX, dtype=torch.long)
        provenance = torch.full((size,), UNKNOWN_NATIVE_ID, dtype=torch.uint8)
        known = torch.zeros(size, dtype=torch.bool)
        for native_id, ids in self.allowed.items():
            allowed[native_id, list(ids)] = True
            if len(ids) == 1:
                single[native_id] = ids[0]
            provenance[native_id] = self.kind(native_id)
            known[native_id] = True
        return MappingTables(allowed, single, provenance, known)

    def coverage(self) -> dict[str, list[str]]:
        """Native class names grouped by what the mapping does with them."""
        groups = {"one_to_one": [], "one_to_many": [], "fill_in": [], "void": []}
        kind_to_group = {FROM_GROUND_TRUTH: "one_to_one", TEACHER_CHOSE: "one_to_many",
                         TEACHER_FILLED: "fill_in", IGNORED: "void"}
        for c in self.native.classes:
            groups[kind_to_group[self.kind(c.id)]].append(c.name)
        return groups

    def to_json(self) -> list[dict]:
        """One record per native class: its id and name, the unified ids it allows, and its provenance name."""
        return [{"native_id": c.id, "native_name": c.name, "allowed": list(self.allowed[c.id]),
                 "provenance": PROVENANCE_NAMES[self.kind(c.id)]} for c in self.native.classes]

    @classmethod
    def from_json(cls, records: list[dict], native: Taxonomy, unified: Taxonomy) -> LabelMapping:
        """The mapping recorded with a dataset (`to_json`'s records); `UnifyError` when a record does not fit."""
        allowed = {int(r["native_id"]): tuple(sorted(int(i) for i in r["allowed"])) for r in records}
        unknown = sorted(set(allowed) - set(native.by_id))
        missing = sorted(set(native.by_id) - set(allowed))
        outside = sorted({i for ids in allowed.values() for i in ids} - {c.id for c in unified.trainable})
        if unknown or missing or outside:
            raise UnifyError(f"recorded mapping {native.name} -> {unified.name} does not fit its taxonomies: "
                             f"native ids not in the table {unknown}, native ids without a record {missing}, "
                             f"unified ids outside the taxonomy {outside}")
        return cls(native=native, unified=unified, allowed=allowed, comments={})

    def differences(self, other: LabelMapping) -> list[str]:
        """Native classes whose allowed sets differ between this mapping and `other`, one line each."""
        def names(ids: tuple[int, ...]) -> str:
            return ", ".join(self.unified.by_id[i].name for i in ids) or "void"

        return [f"{self.native.by_id[i].name!r}: {names(self.allowed[i])} here, {names(other.allowed.get(i, ()))} "
                f"there" for i in sorted(self.allowed) if self.allowed[i] != other.allowed.get(i, ())]


def parse_mapping(path: Path | str, native: Taxonomy, unified: Taxonomy) -> LabelMapping:
    """Read one mapping file; every problem in it is reported in one `DataFileError`."""
    path = Path(path)
    unified.require_unified()
    problems: list[str] = []
    allowed: dict[int, tuple[int, ...]] = {}
    comments: dict[int, str] = {}
    first_line: dict[int, int] = {}
    for line_no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text, _, comment = raw.partition("#")
        if not text.strip():
            continue
        left, sep, right = text.partition(":")
        native_name = left.strip()
        if not sep:
            problems.append(f"line {line_no}: expected '<native class> : <unified classes | * | void>', got {raw.strip()!r}")
            continue
        native_class = native.by_name.get(native_name)
        if native_class is None:
            problems.append(f"line {line_no}: unknown {native.name} class {native_name!r}"
                            f"{_did_you_mean(native_name, native.by_name)}")
            continue
        if native_class.id in first_line:
            problems.append(f"line {line_no}: {native_name!r} is already mapped on line {first_line[native_class.id]}")
            continue
        first_line[native_class.id] = line_no
        ids = _parse_targets(right, line_no, unified, problems)
        if ids is not None:
            allowed[native_class.id] = ids
            if comment.strip():
                comments[native_class.id] = comment.strip()
    missing = [c.name for c in native.classes if c.id not in first_line]
    if missing:
        problems.append(f"native classes neither mapped nor declared void: {', '.join(missing)} "
                        f"(add '<name> : void' to ignore them on purpose)")
    if problems:
        raise DataFileError(path, problems)
    return LabelMapping(native=native, unified=unified, allowed=allowed, comments=comments)


def _parse_targets(text: str, line_no: int, unified: Taxonomy, problems: list[str]) -> tuple[int, ...] | None:
    names = [n.strip() for n in text.split(",")]
    if names == [ALL]:
        return tuple(c.id for c in unified.trainable)
    if names == [VOID]:
        return ()
    if any(not n for n in names):
        problems.append(f"line {line_no}: empty unified class name in {text.strip()!r}")
        return None
    if ALL in names or VOID in names:
        problems.append(f"line {line_no}: '{ALL}' and '{VOID}' must stand alone, got {text.strip()!r}")
        return None
    ids = []
    for name in names:
        target = unified.by_name.get(name)
        if target is None or target.ignore:
            problems.append(f"line {line_no}: unknown {unified.name} class {name!r}"
                            f"{_did_you_mean(name, unified.label2id())}")
        elif target.id in ids:
            problems.append(f"line {line_no}: {name!r} is listed twice")
        else:
            ids.append(target.id)
    return tuple(sorted(ids)) if len(ids) == len(names) else None


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def mapping_path(native: str, unified: str) -> Path:
    return MAPPING_DIR / native / f"{unified}.txt"


def list_mappings() -> list[tuple[str, str]]:
    """(native, unified) pairs, aliases included: an alias shares its target's mappings."""
    pairs = [(p.parent.name, p.stem) for p in MAPPING_DIR.glob("*/*.txt")]
    pairs += [(alias, unified) for alias, target in taxonomy_aliases().items() for n, unified in pairs if n == target]
    return sorted(pairs)


@functools.cache
def get_mapping(native: str, unified: str) -> LabelMapping:
    """The registered mapping from taxonomy `native` to taxonomy `unified`."""
    if native == unified:
        return identity_mapping(get_taxonomy(native))
    path = mapping_path(resolve_alias(native), unified)
    if not path.is_file():
        targets = [u for n, u in list_mappings() if n == native]
        raise UnifyError(f"no mapping from {native!r} to {unified!r} (expected {path}); "
                         f"{native!r} maps to: {', '.join(targets) or 'nothing yet'}")
    return parse_mapping(path, get_taxonomy(native), get_taxonomy(unified))


def identity_mapping(taxonomy: Taxonomy) -> LabelMapping:
    """A unified taxonomy mapped onto itself: every class is its own ground truth."""
    taxonomy.require_unified()
    allowed = {c.id: (() if c.ignore else (c.id,)) for c in taxonomy.classes}
    return LabelMapping(native=taxonomy, unified=taxonomy, allowed=allowed, comments={})

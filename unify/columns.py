"""Which column of a unified dataset holds what.

A built dataset keeps native ids in `label` and the unified ground-truth view in `unified_label`;
a pseudo-labelled one keeps its unified pseudo-labels in `label`, native ids in `native_label` and
the per-pixel `provenance`. Readers ask here instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

from unify.core.constants import LABEL, NATIVE_LABEL, PROVENANCE, UNIFIED_LABEL
from unify.core.errors import UnifyError


@dataclass(frozen=True)
class LabelColumns:
    unified: str  # unified ids (ground-truth view or pseudo-labels)
    native: str | None  # native ids, when present
    provenance: str | None  # where each unified pixel came from, when present

    @classmethod
    def of(cls, columns: list[str]) -> "LabelColumns":
        provenance = PROVENANCE if PROVENANCE in columns else None
        if UNIFIED_LABEL in columns:
            return cls(UNIFIED_LABEL, LABEL if LABEL in columns else None, provenance)
        if NATIVE_LABEL in columns or provenance:
            return cls(LABEL, NATIVE_LABEL if NATIVE_LABEL in columns else None, provenance)
        raise UnifyError(f"no unified label column among {columns} (expected {UNIFIED_LABEL!r}, or {LABEL!r} "
                         f"beside {PROVENANCE!r})")

"""What the builders share for reading a dataset's own files: its folder layout and the class tables it ships.

Not a builder itself; the registry skips modules without a builder class.
"""

from __future__ import annotations

from pathlib import Path

from unify.errors import DataFileError, UnifyError
from unify.taxonomy import Taxonomy

SPLIT_NAMES = {"train": "train", "val": "validation", "valid": "validation", "test": "test"}
"""Split folder or list names as datasets spell them -> the split names this package writes."""


def require_layout(builder, data_dir: Path, *relative: str) -> None:
    """Stop early, with the expected layout, when `data_dir` lacks a folder or file the builder reads."""
    missing = [name for name in relative if not (data_dir / name).exists()]
    if missing:
        raise UnifyError(f"{builder.NAME}: {data_dir} is not a layout this builder recognises (missing "
                         f"{', '.join(missing)}); expected {builder.LAYOUT_HELP}. Download it from {builder.HOMEPAGE}")


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


def color_table(taxonomy: Taxonomy) -> dict[tuple[int, int, int], int]:
    """Colour -> id of a colour-coded dataset's class table (its colours are unique by construction)."""
    return {c.color: c.id for c in taxonomy.classes}

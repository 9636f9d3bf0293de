"""Markdown tables for cards and reports, with every cell escaped so that names are shown as written.

Class names come from user files (`lane *marking*`, `<b>building</b>`, `` `pole` ``): a table cell shows
them literally, never as emphasis, HTML or code. Characters with a meaning in CommonMark or HTML are
backslash-escaped or written as HTML entities (CommonMark spec, "Backslash escapes" and "Entity references").
"""

from __future__ import annotations

import html
import re

# Inline markup characters; an underscore inside a word (`snake_case`) is no emphasis in CommonMark, so it stays.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|~]|(?<!\w)_|_(?!\w))")


def escape(text: object) -> str:
    """`text` as a literal in Markdown: HTML characters as entities, Markdown punctuation backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False)).replace("\n", " ")


def code(text: object) -> str:
    """`text` as inline code; backticks inside are kept literal by a longer fence, as CommonMark allows."""
    text = str(text).replace("\n", " ")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_table(header: list[str], rows: list[list], raw_columns: tuple[int, ...] = ()) -> str:
    """A Markdown table; every cell is escaped except in `raw_columns`, which hold markup built by the caller."""

    def cell(value: object, column: int) -> str:
        return str(value).replace("|", "\\|") if column in raw_columns else escape(value)

    lines = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v, i) for i, v in enumerate(row)) + " |" for row in rows]
    return "\n".join(lines)

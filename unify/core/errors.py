"""Errors that tell the user which file and which value is wrong."""

from __future__ import annotations

from pathlib import Path


class UnifyError(Exception):
    """Base class of every error this package raises on bad input."""


class DataFileError(UnifyError, ValueError):
    """A taxonomy or mapping file has problems; all of them are listed at once.

    The message is `<path>: N problem(s):` and one line per problem; `.path` (str) and `.problems` keep them.
    """

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        listed = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{self.path}: {len(self.problems)} problem(s):\n{listed}")


class BadSampleError(UnifyError, ValueError):
    """One sample of a dataset cannot be used (unreadable, wrong size, unknown label values).

    The message is `<path>: <reason>`; `path` may name a file or a row (`references[3]`, an image id).
    """

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

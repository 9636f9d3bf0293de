"""The `unify` command: one verb per module in this package."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from unify.core.errors import UnifyError

VERBS = [
    "demo",
    "datasets",
    "build",
    "taxonomies",
    "mappings",
    "pseudo_label",
    "train",
    "evaluate",
    "push",
    "attach_images",
]


def build_parser() -> argparse.ArgumentParser:
    """The `unify` argument parser: each module of `VERBS` adds its verb (`pseudo_label` as `pseudo-label`)."""
    parser = argparse.ArgumentParser(
        prog="unify",
        description="Unify driving segmentation datasets into one label space: build datasets from their raw "
        "folders, map their taxonomies, pseudo-label them with a teacher constrained by their own "
        "ground truth, and train students on the compound.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(
        dest="verb", metavar="VERB", required=True, help="what to do; `unify VERB --help` explains each"
    )
    for verb in VERBS:
        module = importlib.import_module(f"unify.cli.{verb}")
        module.add_parser(subparsers)
    return parser


PIPE_CLOSED_STATUS = 141
"""Exit status when standard output's reader has closed the pipe: 128 + SIGPIPE (13), what POSIX shells report
for a process that SIGPIPE ended (Python ignores SIGPIPE, so its write raises `BrokenPipeError` instead)."""


def main(argv: list[str] | None = None) -> int:
    """Run `unify` on `argv` (default: the command line) with logging set up; returns the exit status.

    0 on success; 2 for a `UnifyError`, printed as one line `unify VERB: error: ...` on stderr (no traceback).
    argparse exits with 2 by itself for unknown options. `PIPE_CLOSED_STATUS` (141), quietly, when the reader
    of standard output has gone (`unify datasets | head -1`).
    """
    try:
        status = _run(argv)  # argparse's --help and usage errors ignore a closed pipe themselves
        sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe is caught below
    except BrokenPipeError:
        _discard_stdout()
        return PIPE_CLOSED_STATUS
    return status


def _discard_stdout() -> None:
    """Point file descriptor 1 at the null device, so the flush at interpreter exit does not fail again.

    See the note on SIGPIPE in the Python documentation of the `signal` module.
    """
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a stream without a descriptor (tests)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not args.verbose:
        for noisy in ("accelerate", "datasets", "transformers", "httpx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.run(args) or 0
    except UnifyError as exc:
        print(f"unify {args.verb}: error: {exc}", file=sys.stderr)
        return 2

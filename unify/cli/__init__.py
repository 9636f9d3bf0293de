"""The `unify` command: one verb per module in this package."""

from __future__ import annotations

import argparse
import importlib
import logging
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


def main(argv: list[str] | None = None) -> int:
    """Run `unify` on `argv` (default: the command line) with logging set up; returns the exit status.

    0 on success; 2 for a `UnifyError`, printed as one line `unify VERB: error: ...` on stderr (no traceback).
    argparse exits with 2 by itself for unknown options.
    """
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

"""Entry point of `accelerate launch -m train CONFIG [key=value ...]` and `python -m train`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from unify.core.errors import UnifyError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the training arguments to `parser`: the config path, `KEY=VALUE` overrides and `--init MODEL`.

    Shared by `python -m train` / `accelerate launch -m train` (`main`) and `unify train` (`unify.cli.train`).
    """
    parser.add_argument("config", help="YAML training config (see configs in the README)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="override config keys, values parsed as YAML (e.g. steps=200 model=mit-b0)",
    )
    parser.add_argument(
        "--init",
        metavar="MODEL",
        help="start from these weights (folder or Hub id): the same as the override model=MODEL",
    )


def run(args: argparse.Namespace) -> int:
    """Train as `args` (from `add_arguments`) say; returns the exit status 0.

    `--init MODEL` is applied as the last override, `model=MODEL`. The main process prints the final mIoU of
    each evaluation source, {name: mIoU as a fraction in [0, 1], 4 decimals}. Bad configs and sources raise
    `UnifyError` (from `load_config` and `train`), which the callers print as one line.
    """
    from train.config import load_config
    from train.loop import train

    overrides = list(args.overrides) + ([f"model={args.init}"] if args.init else [])
    metrics = train(load_config(args.config, overrides))
    if _main_process():
        print({name: round(values["miou"], 4) for name, values in metrics.items()})
    return 0


def _main_process() -> bool:
    """Whether this is the first of the processes a launcher started (or the only one)."""
    return os.environ.get("RANK", "0") == "0"


def main(argv: list[str] | None = None) -> int:
    """`python -m train CONFIG [KEY=VALUE ...]` on `argv` (default: the command line); returns the exit status.

    Logs at INFO on the main process, WARNING on the others (one copy of each progress line). 0 on success; 2
    for a `UnifyError`, printed as one line `train: error: ...` on stderr without a traceback (argparse exits
    with 2 by itself for bad arguments).
    """
    parser = argparse.ArgumentParser(prog="python -m train", description="Train a SegFormer teacher or student.")
    add_arguments(parser)
    level = logging.INFO if _main_process() else logging.WARNING  # one copy of each progress line
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(parser.parse_args(argv))
    except UnifyError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

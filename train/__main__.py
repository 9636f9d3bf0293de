"""Entry point of `accelerate launch -m train CONFIG [key=value ...]` and `python -m train`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from unify.core.errors import UnifyError


def add_arguments(parser: argparse.ArgumentParser) -> None:
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

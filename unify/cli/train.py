"""`unify train`: the same entry point as `accelerate launch -m train`, for one process."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    from train.__main__ import add_arguments

    parser = subparsers.add_parser(
        "train", help="train a SegFormer teacher or student",
        description="Train a SegFormer on built or pseudo-labelled datasets, mixed by per-source weights, "
                    "with checkpoints, exact resume from the run folder, and periodic evaluation. For several "
                    "GPUs or nodes run the same config with `accelerate launch -m train CONFIG`.")
    add_arguments(parser)
    parser.set_defaults(run=_run)


def _run(args) -> int:
    from train.__main__ import run

    return run(args)

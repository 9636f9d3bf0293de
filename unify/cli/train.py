"""`unify train`: the same entry point as `accelerate launch -m train`, for one process."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    """Register `unify train` and its options on the `unify` command's subparsers."""
    from train.__main__ import add_arguments

    parser = subparsers.add_parser(
        "train",
        help="train a SegFormer teacher or student",
        description="Train a SegFormer on built or pseudo-labelled datasets, mixed by per-source weights, "
        "with checkpoints, exact resume from the run folder, and periodic evaluation. For several "
        "GPUs or nodes run the same config with `accelerate launch --multi_gpu --num_processes N -m "
        "train CONFIG` (several CPU processes: `torchrun --nproc_per_node N -m train CONFIG`); steps "
        "and global_batch_size mean the same for any number of processes.",
    )
    add_arguments(parser)
    parser.set_defaults(run=_run)


def _run(args) -> int:
    from train.__main__ import run

    return run(args)

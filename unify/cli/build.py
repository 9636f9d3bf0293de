"""`unify build`: run a dataset builder on a raw folder and write Parquet."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    """Register `unify build` and its options on the `unify` command's subparsers."""
    parser = subparsers.add_parser(
        "build",
        help="build a dataset from its raw folder into Parquet",
        description="Read a driving dataset in its authors' own folder layout and write it as Parquet "
        "(image bytes embedded as they are, native label ids, the unified ground-truth view, "
        "and the taxonomies as metadata). `datasets.load_dataset(OUTPUT)` reads the result.",
    )
    parser.add_argument("name", help="builder name, as `unify datasets` lists it")
    parser.add_argument("--data-dir", type=Path, help="root of the raw dataset (not needed for synthetic_driving)")
    parser.add_argument("--output", type=Path, required=True, help="folder to write (replaced when the build succeeds)")
    parser.add_argument("--config", help="builder configuration (default: the builder's first)")
    parser.add_argument("--taxonomy", help="unified taxonomy of the `unified_label` column (default: the builder's)")
    parser.add_argument("--num-proc", type=int, default=None, help="worker processes (default: 1)")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unusable samples and list them in OUTPUT/unify.json instead of stopping",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Build the dataset and print a JSON summary, then one line per skipped sample; returns the exit status 0.

    Bad input raises `UnifyError`, which `main` prints.
    """
    from unify.build import build_dataset

    report = build_dataset(
        args.name,
        args.output,
        data_dir=args.data_dir,
        config=args.config,
        unified_taxonomy=args.taxonomy,
        num_proc=args.num_proc,
        skip_bad=args.skip_bad,
    )
    print(
        json.dumps(
            {
                "output": str(report.output_dir),
                "config": report.config,
                "examples": report.num_examples,
                "skipped": len(report.skipped),
            }
        )
    )
    for skip in report.skipped:
        print(f"skipped {skip.image_id}: {skip.file}: {skip.reason}")
    return 0

"""`unify evaluate`: score a model on one or several datasets in the unified taxonomy and in each one's own."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="per-class IoU of a model on datasets, unified and native",
        description="Score a SegFormer on datasets: in the unified taxonomy against their unified labels (when the "
                    "model predicts that taxonomy), and in each dataset's own taxonomy by summing the unified class "
                    "probabilities of each native class. One dataset: evaluation.json, evaluation.md and "
                    "confusion-matrix PNGs in OUTPUT. Several: those in OUTPUT/NAME/ for each, and summary.json and "
                    "summary.md in OUTPUT, one row per dataset (wilddash2 first).")
    parser.add_argument("--model", required=True, help="model folder (save_pretrained) or Hub id")
    parser.add_argument("--dataset", required=True, action="append", metavar="DATASET",
                        help="folder written by `unify build` or `unify pseudo-label`, a dataset name built from "
                             "--data-dir, or NAME=RAW (dataset NAME built from its raw folder RAW); repeatable")
    parser.add_argument("--data-dir", type=Path, help="raw dataset root, when a single --dataset is a name")
    parser.add_argument("--split", action="append", default=[], metavar="SPLIT",
                        help="split to score: SPLIT for every dataset, or NAME=SPLIT for the dataset whose folder "
                             "(or dataset name) is NAME; repeatable (default: validation, val or test, whichever "
                             "exists)")
    parser.add_argument("--output", type=Path, required=True, help="folder for the tables and images")
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass (default: 1)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from unify.evaluate import dataset_specs, evaluate_datasets, evaluate_model

    specs = dataset_specs(args.dataset, args.split, args.data_dir)
    if len(specs) == 1:
        [spec] = specs
        result = evaluate_model(args.model, spec.dataset, args.output, data_dir=spec.data_dir, split=spec.split,
                                batch_size=args.batch_size)
        print(json.dumps({"output": str(args.output), "images": result["num_images"],
                          **{space: result[space]["miou"] for space in ("unified", "native") if result[space]}}))
        return 0
    summary = evaluate_datasets(args.model, specs, args.output, batch_size=args.batch_size)
    print(json.dumps({"output": str(args.output), "datasets": [
        {"folder": row["folder"], "images": row["num_images"],
         **{space: row[space]["miou"] for space in ("unified", "native") if row[space]}}
        for row in summary["datasets"]]}))
    return 0

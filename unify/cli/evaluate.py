"""`unify evaluate`: score a model on a dataset in the unified taxonomy and in the dataset's own."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="per-class IoU of a model on a dataset, unified and native",
        description="Score a SegFormer on a dataset: in the unified taxonomy against its unified labels (when the "
                    "model predicts that taxonomy), and in the dataset's own taxonomy by summing the unified class "
                    "probabilities of each native class. Writes evaluation.json, evaluation.md and confusion-matrix "
                    "PNGs into OUTPUT.")
    parser.add_argument("--model", required=True, help="model folder (save_pretrained) or Hub id")
    parser.add_argument("--dataset", required=True,
                        help="folder written by `unify build` or `unify pseudo-label`, or a dataset name to build "
                             "from --data-dir")
    parser.add_argument("--data-dir", type=Path, help="raw dataset root, when --dataset is a name")
    parser.add_argument("--split", help="split to score (default: validation, val or test, whichever exists)")
    parser.add_argument("--output", type=Path, required=True, help="folder for the tables and images")
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass (default: 1)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from unify.evaluate import evaluate_model

    result = evaluate_model(args.model, args.dataset, args.output, data_dir=args.data_dir, split=args.split,
                            batch_size=args.batch_size)
    print(json.dumps({"output": str(args.output), "images": result["num_images"],
                      **{space: result[space]["miou"] for space in ("unified", "native") if result[space]}}))
    return 0

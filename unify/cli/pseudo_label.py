"""`unify pseudo-label`: a teacher labels a built dataset in the unified taxonomy, constrained by its ground truth."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pseudo-label", help="pseudo-label a built dataset with a teacher",
        description="Run a teacher over a dataset written by `unify build` and write the unified dataset: each "
                    "pixel whose native class allows one unified class keeps its ground truth, several allowed "
                    "classes are decided by the teacher among them only, 'unlabeled' is filled in by the teacher, "
                    "void stays 255. Writes Parquet (image, label, provenance, native_label, image_id, dataset) "
                    "and pseudo_label_report.json. Interrupted runs resume; `accelerate launch` splits the work.")
    parser.add_argument("--teacher", required=True,
                        help="teacher model folder (save_pretrained) or Hub id: any transformers semantic-"
                             "segmentation or mask-classification model (SegFormer, UperNet, DPT, BEiT, Mask2Former, "
                             "OneFormer, ...) whose id2label is the unified taxonomy")
    parser.add_argument("--dataset", type=Path, required=True, help="folder written by `unify build`")
    parser.add_argument("--taxonomy", required=True, help="unified taxonomy (the teacher's label space)")
    parser.add_argument("--output", type=Path, required=True, help="folder of the unified dataset")
    parser.add_argument("--tta", action="store_true", help="test-time augmentation: flip and scales 0.75, 1, 1.25")
    parser.add_argument("--scales", type=float, nargs="+", help="test-time scales (implies --tta's averaging)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward pass (default: 4)")
    parser.add_argument("--splits", nargs="+", help="splits to label (default: all)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from unify.pseudo_label_driver import LabellingOptions, pseudo_label_dataset

    scales = tuple(args.scales) if args.scales else ((0.75, 1.0, 1.25) if args.tta else (1.0,))
    options = LabellingOptions(taxonomy=args.taxonomy, scales=scales, flip=args.tta, batch_size=args.batch_size,
                               splits=tuple(args.splits) if args.splits else None)
    report = pseudo_label_dataset(args.teacher, args.dataset, args.output, options)
    print(json.dumps({"output": str(args.output), "share_by_provenance": report["share_by_provenance"]}))
    return 0

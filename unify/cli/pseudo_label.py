"""`unify pseudo-label`: a teacher labels a built dataset in the unified taxonomy, constrained by its ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RERUNS = """\
interrupting and rerunning:
  Work is cut into shards of --shard-size images. Each shard is written whole (under a temporary name,
  renamed when complete), so a run stopped at any moment, even by kill -9, loses only the shards in
  progress: the same command again reuses the finished shards and writes output byte-identical to an
  uninterrupted run. Under `accelerate launch` or `torchrun`, process p of N labels shards p, p+N, ...;
  any number of processes gives the same output (on CPUs, with the same number of torch threads per
  process: the thread count can change the last bits of the teacher's scores, hence exact near-ties).

  A finished shard is reused only when it was made from the same input rows (their image and label
  bytes), the same teacher weights (sha256 of the weight files) and input normalisation, the same
  unified taxonomy and mapping, the same test-time augmentation (--tta, --scales), the same precision
  (--dtype) and the same data-format version. A shard whose input rows changed, or whose rows moved
  (another --shard-size), is labelled again with a log line saying why. Any other difference is
  refused before anything is written, with an error naming what differs: rerun with the earlier
  settings to resume, pass --overwrite to replace the earlier labels, or choose another --output.
  --overwrite never replaces a folder of another kind (a built dataset).

  --splits names the splits this run labels; the folder keeps the others it holds: a split not named
  whose shards are all there and were made from the input's current rows with this run's settings
  stays in data/, in unify.json and in the report, whose statistics always sum every split the folder
  holds. So `--splits train` after a run over all splits changes nothing for test, and a run over all
  splits after `--splits train` labels test and reuses train: either way the folder is byte-identical
  to one run over all splits (splits are listed in the input's order, whatever the order of --splits).
  A split not named that is out of date (its input rows changed, a stopped run left it unfinished, or
  the input no longer has it) is refused before any work, naming the split and why: name it in
  --splits to label it again, or pass --overwrite to remove it (with a warning)."""


def add_parser(subparsers) -> None:
    """Register `unify pseudo-label` and its options on the `unify` command's subparsers."""
    parser = subparsers.add_parser(
        "pseudo-label",
        help="pseudo-label a built dataset with a teacher",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=RERUNS,
        description="Run a teacher over a dataset written by `unify build` and write the unified dataset: each "
        "pixel whose native class allows one unified class keeps its ground truth, several allowed "
        "classes are decided by the teacher among them only, 'unlabeled' is filled in by the teacher, "
        "void stays 255. Writes Parquet (image, label, provenance, native_label, image_id, dataset) "
        "and pseudo_label_report.json, whose mapping audit `unify mappings audit OUTPUT` prints: the "
        "native classes whose pixels the teacher, on its own, puts outside their mapping line.",
    )
    parser.add_argument(
        "--teacher",
        required=True,
        help="teacher model folder (save_pretrained) or Hub id: any transformers semantic-"
        "segmentation or mask-classification model (SegFormer, UperNet, DPT, BEiT, Mask2Former, "
        "OneFormer, ...) whose id2label is the unified taxonomy",
    )
    parser.add_argument("--dataset", type=Path, required=True, help="folder written by `unify build`")
    parser.add_argument(
        "--taxonomy",
        help="unified taxonomy (the teacher's label space); default: the one the "
        "dataset was built for, which it must equal when given",
    )
    parser.add_argument("--output", type=Path, required=True, help="folder of the unified dataset")
    parser.add_argument("--tta", action="store_true", help="test-time augmentation: flip and scales 0.75, 1, 1.25")
    parser.add_argument("--scales", type=float, nargs="+", help="test-time scales (implies --tta's averaging)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=4,
        help="images of one size per forward pass, twice as many views with --tta (default: 4)",
    )
    parser.add_argument(
        "--shard-size",
        type=int,
        default=256,
        help="images per output shard, the unit of resuming and of sharing work (default: 256)",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16"],
        help="teacher precision (default: bfloat16 autocast on CUDA GPUs, float32 elsewhere)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="background threads that read, decode, encode and write beside the teacher; 0 does "
        "it all in order in one thread (default: 2)",
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        help="splits to label (default: all). Splits --output holds already and this list leaves out are kept "
        "when up to date (they stay in unify.json and the report), refused when out of date: see below",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace pseudo-labels that --output holds from a run with other settings, and remove out-of-date "
        "splits that --splits leaves out (default: refuse)",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Pseudo-label the dataset as `args` say (`pseudo_label_dataset`); returns the exit status 0.

    `--tta` without `--scales` uses the scales 0.75, 1 and 1.25 with flips; `--scales` alone averages those
    scales without flips. The main process then prints one JSON line: the output folder, the share of pixels
    by provenance, and the mapping line with the highest conflict share (null when none conflicts). Bad input
    raises `UnifyError` from the driver, which `main` prints.
    """
    from accelerate import PartialState

    from unify.pseudo_label_driver import LabellingOptions, audit_rows, pseudo_label_dataset

    scales = tuple(args.scales) if args.scales else ((0.75, 1.0, 1.25) if args.tta else (1.0,))
    options = LabellingOptions(
        taxonomy=args.taxonomy,
        scales=scales,
        flip=args.tta,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        splits=tuple(args.splits) if args.splits else None,
        overwrite=args.overwrite,
        dtype=args.dtype,
        workers=args.workers,
    )
    report = pseudo_label_dataset(args.teacher, args.dataset, args.output, options)
    if PartialState().is_main_process:  # one line, not one per process
        top = audit_rows(report)[0]
        highest = {k: top[k] for k in ("native", "line", "conflict_share")} if top["conflict_share"] else None
        print(
            json.dumps(
                {
                    "output": str(args.output),
                    "share_by_provenance": report["share_by_provenance"],
                    "highest_mapping_conflict": highest,
                }
            )
        )
    return 0

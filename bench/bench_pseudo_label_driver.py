"""End-to-end throughput of `unify pseudo-label` against the teacher's forward pass alone, in the same run.

Builds a synthetic driving folder (the `coarse` extra, drawn at --height x --width) and saves a SegFormer
teacher with random weights (mit-b0 shape by default), then measures on the same images:

  forward      the teacher's forward pass alone on decoded, normalised batches (no upsampling, no labels):
               the ceiling the driver is held to;
  driver       `pseudo_label_dataset` into a fresh folder: reading, hashing, decoding, the teacher, the
               constraint, PNG encoding and Parquet writing, with background threads (--workers) and
               without (workers=0, everything in order in one thread);

with test-time augmentation off, and once with flip and --tta-scales. Driver figures are given end to end
and without the fixed cost of a run (loading the teacher, hashing its weights, reading the input's metadata,
writing the folder's files), measured as a rerun on the finished folder, which reuses every shard. The share
of time in the teacher is the time spent in `Segmenter.logits` over the driver's wall time (CPU: exact;
CUDA: synchronised around each call, which costs a little overlap). Rounds are interleaved so that load from
elsewhere on the machine hits every variant alike; medians are reported, minimums beside them.

    python bench/bench_pseudo_label_driver.py --images 8 --output bench_pseudo_label_driver.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import datasets
import torch

from dataset_scripts.synthetic_scenes import Camera
from unify.build import build_dataset
from unify.core.constants import FINE_LABEL
from unify.core.folder import load_split, split_shards
from unify.core.images import batches_of_equal_size
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.pseudo_label_driver import LabellingOptions, pseudo_label_dataset


class TeacherClock:
    """Accumulates the wall time spent inside `Segmenter.logits` while installed (bench-only instrumentation)."""

    def __init__(self):
        self.seconds = 0.0
        self.original = Segmenter.logits

    def __enter__(self) -> TeacherClock:
        clock = self

        def timed_logits(segmenter, *args, **kwargs):
            synchronise(segmenter.device)
            start = time.perf_counter()
            logits = clock.original(segmenter, *args, **kwargs)
            synchronise(segmenter.device)
            clock.seconds += time.perf_counter() - start
            return logits

        Segmenter.logits = timed_logits
        return self

    def __exit__(self, *exc) -> None:
        Segmenter.logits = self.original


def drop_hidden_truth(folder: Path) -> None:
    """Remove the synthetic world's `fine_label` column: real datasets have none, and the driver scores
    pseudo-labels against it (an extra dense upsample per batch) whenever it is there."""
    for path in split_shards(folder)["train"]:
        table = datasets.Dataset.from_parquet(str(path)).remove_columns([FINE_LABEL])
        table.to_parquet(str(path.with_name(path.name + ".tmp")))
        path.with_name(path.name + ".tmp").replace(path)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_only(teacher: Path, folder: Path, batch_size: int, device: str) -> float:
    """Seconds of the teacher's forward passes alone over every image of the folder, decoded beforehand."""
    segmenter = Segmenter.load(teacher, device=device)
    rows = load_split(folder, "train", decode=False)
    batches = [segmenter.preprocess(torch.from_numpy(b.images).permute(0, 3, 1, 2).to(segmenter.device))
               for b in batches_of_equal_size(iter(rows), ["label"], batch_size)]
    with torch.inference_mode():
        segmenter.logits(batches[0][:1])  # warm-up
        synchronise(segmenter.device)
        start = time.perf_counter()
        for pixels in batches:
            segmenter.logits(pixels)
        synchronise(segmenter.device)
    return time.perf_counter() - start


def driver(teacher: Path, folder: Path, scratch: Path, options: LabellingOptions) -> dict:
    """Seconds of one run into a fresh folder, of a rerun that reuses every shard, and inside the teacher."""
    out = scratch / "out"
    shutil.rmtree(out, ignore_errors=True)
    with TeacherClock() as clock:
        start = time.perf_counter()
        pseudo_label_dataset(str(teacher), folder, out, options)
        total = time.perf_counter() - start
    start = time.perf_counter()
    pseudo_label_dataset(str(teacher), folder, out, options)
    fixed = time.perf_counter() - start
    return {"total_s": total, "fixed_s": fixed, "teacher_s": clock.seconds}


def summarise(images: int, forward: list[float], runs: list[dict]) -> dict:
    total = statistics.median(r["total_s"] for r in runs)
    labelling = statistics.median(r["total_s"] - r["fixed_s"] for r in runs)
    row = {"images_per_s": images / total, "images_per_s_without_fixed_cost": images / labelling,
           "fixed_cost_s": statistics.median(r["fixed_s"] for r in runs),
           "teacher_share_of_time": statistics.median(r["teacher_s"] / r["total_s"] for r in runs),
           "teacher_share_without_fixed_cost": statistics.median(r["teacher_s"] / (r["total_s"] - r["fixed_s"])
                                                                 for r in runs),
           "min_total_s": min(r["total_s"] for r in runs)}
    if forward:
        ceiling = images / statistics.median(forward)
        row["ratio_to_forward"] = row["images_per_s"] / ceiling
        row["ratio_to_forward_without_fixed_cost"] = row["images_per_s_without_fixed_cost"] / ceiling
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--model", default="mit-b0", help="size name of the random teacher")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds with TTA off (medians reported; 0: skip them)")
    parser.add_argument("--tta-scales", type=float, nargs="*", default=[0.75, 1.0, 1.25],
                        help="scales of the flip + scales run (empty: skip it)")
    parser.add_argument("--tta-images", type=int, default=4, help="images of the flip + scales run")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", help="write the results as JSON to this file")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="bench-pseudo-label-") as tmp:
        scratch = Path(tmp)
        camera = Camera(height=args.height, width=args.width, hood=True)
        for name, count in (("input", args.images), ("tta_input", args.tta_images)):
            build_dataset("synthetic_driving", scratch / name, config="coarse", splits=(("train", count),),
                          camera=camera)
            drop_hidden_truth(scratch / name)
        Segmenter.for_training(args.model, get_taxonomy("synthetic_fine")).save(scratch / "teacher")
        teacher = scratch / "teacher"
        base = dict(batch_size=args.batch_size, shard_size=args.shard_size)
        forward, threaded, sequential = [], [], []
        for _ in range(args.rounds):
            forward.append(forward_only(teacher, scratch / "input", args.batch_size, args.device))
            threaded.append(driver(teacher, scratch / "input", scratch, LabellingOptions(**base,
                                                                                         workers=args.workers)))
            sequential.append(driver(teacher, scratch / "input", scratch, LabellingOptions(**base, workers=0)))
        results = {"model": f"{args.model} (random weights), 15 classes", "size": [args.height, args.width],
                   "images": args.images, "batch_size": args.batch_size, "shard_size": args.shard_size,
                   "threads": args.threads, "device": args.device, "torch": torch.__version__,
                   "machine": platform.processor() or platform.machine()}
        if args.rounds:
            results["forward_only_images_per_s"] = args.images / statistics.median(forward)
            results["driver"] = {f"workers={args.workers}": summarise(args.images, forward, threaded),
                                 "workers=0": summarise(args.images, forward, sequential)}
        if args.tta_scales:
            options = LabellingOptions(**base, flip=True, scales=tuple(args.tta_scales), workers=args.workers)
            run = driver(teacher, scratch / "tta_input", scratch, options)
            results["tta"] = {"scales": args.tta_scales, "flip": True, "images": args.tta_images,
                              **summarise(args.tta_images, [], [run])}
    print(json.dumps(results, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

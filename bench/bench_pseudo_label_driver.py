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

The forward pass alone runs as the driver runs the teacher: in its precision (bfloat16 autocast on CUDA,
`LabellingOptions.precision`) and, on CUDA, with channels-last memory. `measure_driver` is what
`bench/gpu_suite.py` calls.
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
from timing import synchronise

from dataset_scripts.synthetic_scenes import Camera
from unify.build import build_dataset
from unify.core.constants import FINE_LABEL
from unify.core.folder import load_split, split_shards
from unify.core.images import batches_of_equal_size
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.pseudo_label_driver import PRECISIONS, LabellingOptions, pseudo_label_dataset


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


def forward_only(teacher: Path, folder: Path, options: LabellingOptions, device: str) -> float:
    """Seconds of the teacher's forward passes alone over every image of the folder, decoded and normalised on
    the device beforehand, in batches of `options.batch_size`, in the precision and memory format the driver
    gives the teacher."""
    segmenter = Segmenter.load(teacher, device=device)
    precision = PRECISIONS[options.precision(segmenter.device)]
    memory_format = torch.channels_last if segmenter.device.type == "cuda" else torch.contiguous_format
    segmenter.model.to(memory_format=memory_format)
    rows = load_split(folder, "train", decode=False)
    batches = [
        segmenter.preprocess(torch.from_numpy(b.images).permute(0, 3, 1, 2).to(segmenter.device)).contiguous(
            memory_format=memory_format
        )
        for b in batches_of_equal_size(iter(rows), ["label"], options.batch_size)
    ]
    with (
        torch.inference_mode(),
        torch.autocast(segmenter.device.type, dtype=precision, enabled=precision != torch.float32),
    ):
        segmenter.logits(batches[0])  # warm-up, at the batch's shape
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
    row = {
        "images_per_s": images / total,
        "images_per_s_without_fixed_cost": images / labelling,
        "fixed_cost_s": statistics.median(r["fixed_s"] for r in runs),
        "teacher_share_of_time": statistics.median(r["teacher_s"] / r["total_s"] for r in runs),
        "teacher_share_without_fixed_cost": statistics.median(
            r["teacher_s"] / (r["total_s"] - r["fixed_s"]) for r in runs
        ),
        "min_total_s": min(r["total_s"] for r in runs),
    }
    if forward:
        ceiling = images / statistics.median(forward)
        row["ratio_to_forward"] = row["images_per_s"] / ceiling
        row["ratio_to_forward_without_fixed_cost"] = row["images_per_s_without_fixed_cost"] / ceiling
    return row


def build_inputs(folder: Path, images: int, height: int, width: int, num_proc: int | None = None) -> Path:
    """A synthetic driving folder (the `coarse` extra) of `images` train images of height x width, without its
    hidden truth; returns `folder`."""
    build_dataset(
        "synthetic_driving",
        folder,
        config="coarse",
        splits=(("train", images),),
        num_proc=num_proc,
        camera=Camera(height=height, width=width, hood=True),
    )
    drop_hidden_truth(folder)
    return folder


def measure_driver(
    model: str = "mit-b0",
    images: int = 8,
    height: int = 512,
    width: int = 1024,
    batch_size: int = 2,
    shard_size: int = 4,
    workers: int = 2,
    rounds: int = 3,
    sequential: bool = True,
    tta_scales: tuple[float, ...] = (0.75, 1.0, 1.25),
    tta_images: int = 4,
    device: str | None = None,
    inputs: Path | None = None,
) -> dict:
    """Throughput of `pseudo_label_dataset` against the teacher's forward pass alone, on a synthetic folder.

    `model`: size name of the random teacher (15 classes of the synthetic world); images of height x width,
    built here, or taken from `inputs`/input and `inputs`/tta_input (`build_inputs`; their image counts and
    sizes are then what counts). `rounds` interleaved rounds with test-time augmentation off (0: none) time the
    forward pass, the driver with `workers` background threads and, with `sequential`, with none; then one run
    with flip and `tta_scales` (empty: none) on `tta_images` images. Returns the settings,
    `forward_only_images_per_s`, `driver` {"workers=N": summary} and `tta` (see `summarise` for its keys).
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory(prefix="bench-pseudo-label-") as tmp:
        scratch = Path(tmp)
        if inputs is None:
            inputs = scratch
            if rounds:
                build_inputs(scratch / "input", images, height, width)
            if tta_scales:
                build_inputs(scratch / "tta_input", tta_images, height, width)
        if rounds:
            images = len(load_split(inputs / "input", "train", decode=False))
        if tta_scales:
            tta_images = len(load_split(inputs / "tta_input", "train", decode=False))
        Segmenter.for_training(model, get_taxonomy("synthetic_fine")).save(scratch / "teacher")
        teacher = scratch / "teacher"
        base = dict(batch_size=batch_size, shard_size=shard_size)
        variants = {f"workers={workers}": LabellingOptions(**base, workers=workers)}
        if sequential and workers:
            variants["workers=0"] = LabellingOptions(**base, workers=0)
        forward: list[float] = []
        runs: dict[str, list[dict]] = {name: [] for name in variants}
        for _ in range(rounds):
            forward.append(forward_only(teacher, inputs / "input", variants[f"workers={workers}"], device))
            for name, options in variants.items():
                runs[name].append(driver(teacher, inputs / "input", scratch, options))
        results = {
            "model": f"{model} (random weights), 15 classes",
            "size": [height, width],
            "images": images,
            "batch_size": batch_size,
            "shard_size": shard_size,
            "threads": torch.get_num_threads(),
            "device": device,
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
        }
        if rounds:
            results["forward_only_images_per_s"] = images / statistics.median(forward)
            results["driver"] = {name: summarise(images, forward, found) for name, found in runs.items()}
        if tta_scales:
            options = LabellingOptions(**base, flip=True, scales=tuple(tta_scales), workers=workers)
            run = driver(teacher, inputs / "tta_input", scratch, options)
            results["tta"] = {
                "scales": list(tta_scales),
                "flip": True,
                "images": tta_images,
                **summarise(tta_images, [], [run]),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--model", default="mit-b0", help="size name of the random teacher")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds with TTA off (medians reported; 0: skip them)"
    )
    parser.add_argument(
        "--tta-scales",
        type=float,
        nargs="*",
        default=[0.75, 1.0, 1.25],
        help="scales of the flip + scales run (empty: skip it)",
    )
    parser.add_argument("--tta-images", type=int, default=4, help="images of the flip + scales run")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", help="write the results as JSON to this file")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = measure_driver(
        args.model,
        args.images,
        args.height,
        args.width,
        args.batch_size,
        args.shard_size,
        args.workers,
        args.rounds,
        True,
        tuple(args.tta_scales),
        args.tta_images,
        args.device,
    )
    print(json.dumps(results, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

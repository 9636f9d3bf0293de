"""Speed of one training step: the package's step against the plain step of the transformers example.

    python bench/bench_train_step.py [--model mit-b0] [--size 256] [--batch 2] [--steps 3] [--repeats 7]
                                     [--compile] [--json FILE]

The baseline is the configuration of the transformers semantic-segmentation example (Accelerate, no
trainer): the same model and batch in float32, eager, `torch.optim.AdamW` not fused, and the step
`loss = model(...).loss; accelerator.backward(loss); optimizer.step(); scheduler.step(); zero_grad()`.
The package's step is `train.loop.optimiser_step` on a run built by `train.loop.prepare`, as the
configuration says (on a CPU by default: float32, contiguous, not compiled), and in variants with
channels-last memory, bf16 autocast and, with --compile, torch.compile. Every variant starts from the same
weights and trains on the same random batch; each repeat times `--steps` steps of every variant in turn
(interleaved, so that load changes hit all alike); the figures are medians of wall-clock and of process CPU
time (steadier where other processes share the cores), and the ratios are the baseline's time over the
variant's (above 1: faster than the baseline).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

from train.config import TrainConfig
from train.loop import optimiser_step, prepare
from train.parallel import BatchPlan
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy

TAXONOMY = "cityscapes19"


def batch(size: int, images: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(images, 3, size, size, generator=generator)
    labels = torch.randint(0, classes, (images, size, size), generator=generator)
    return pixels, labels


class Baseline:
    """The plain step: float32 eager, AdamW not fused, the model prepared by an Accelerator without precision."""

    def __init__(self, model: torch.nn.Module, accelerator: Accelerator):
        optimizer = torch.optim.AdamW(model.parameters(), lr=6e-5, fused=False, foreach=False)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.accelerator = accelerator

    def step(self, pixels: torch.Tensor, labels: torch.Tensor) -> None:
        loss = self.model(pixel_values=pixels, labels=labels).loss
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()


class PackageStep:
    """`train.loop.optimiser_step` on a run that `train.loop.prepare` built from a config."""

    def __init__(self, segmenter: Segmenter, accelerator: Accelerator, images: int, **options):
        config = TrainConfig(output_dir="unused", taxonomy=TAXONOMY, train_data=[{"path": "unused"}],
                             global_batch_size=images, steps=10**6, warmup_steps=0, learning_rate=6e-5, **options)
        plan = BatchPlan.for_processes(images, None, 1)
        self.run = prepare(config, Path("unused"), accelerator, plan, segmenter, get_taxonomy(TAXONOMY))
        self.count = 0

    def step(self, pixels: torch.Tensor, labels: torch.Tensor) -> None:
        self.count += 1
        optimiser_step(self.run, iter([(pixels, labels)]), self.count)


def accelerator(precision: str) -> Accelerator:
    """A fresh Accelerator: its state is a process-wide singleton, reset so that variants can differ in precision
    (each prepared model keeps the autocast it was prepared with)."""
    AcceleratorState._reset_state(True)
    return Accelerator(mixed_precision=precision)


def build(args, template: Segmenter) -> dict:
    variants = {"baseline (transformers example)": Baseline(copy.deepcopy(template.model), accelerator("no"))}
    options = {"package": ("no", {}), "package, channels_last": ("no", {"channels_last": True}),
               "package, bf16 autocast": ("bf16", {"mixed_precision": "bf16"})}
    if args.compile:
        options["package, torch.compile"] = ("no", {"compile": True})
    for name, (precision, config) in options.items():
        segmenter = Segmenter(copy.deepcopy(template.model), identity=template.identity)
        variants[name] = PackageStep(segmenter, accelerator(precision), args.batch, **config)
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mit-b0", help="size name (random weights)")
    parser.add_argument("--size", type=int, default=256, help="square crop side in pixels")
    parser.add_argument("--batch", type=int, default=2, help="images per step")
    parser.add_argument("--steps", type=int, default=3, help="steps per timing")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timings per variant")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    template = Segmenter.for_training(args.model, get_taxonomy(TAXONOMY))
    variants = build(args, template)
    pixels, labels = batch(args.size, args.batch, template.num_labels)
    for variant in variants.values():  # warm-up: allocations, autotuning, compilation
        variant.step(pixels, labels)
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, variant in variants.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                variant.step(pixels, labels)
            wall[name].append((time.perf_counter() - start) / args.steps)
            cpu[name].append((time.process_time() - start_cpu) / args.steps)
    figures = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                          f"{torch.__version__}, {torch.get_num_threads()} threads, load average "
                          f"{os.getloadavg()[0]:.1f}",
               "setting": f"{args.model}, {args.batch} x {args.size}x{args.size}, {args.steps} steps x "
                          f"{args.repeats} interleaved repeats"}
    for label, times in (("wall", wall), ("cpu", cpu)):  # CPU time: steadier where other processes share the cores
        medians = {name: statistics.median(values) for name, values in times.items()}
        base = medians["baseline (transformers example)"]
        figures[f"{label}_seconds_per_step"] = {k: round(v, 4) for k, v in medians.items()}
        figures[f"{label}_speedup_vs_baseline"] = {k: round(base / v, 3) for k, v in medians.items()}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

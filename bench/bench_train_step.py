"""Speed of one training step: the package's step against the plain step of the transformers example.

    python bench/bench_train_step.py [--model mit-b0] [--size 256] [--batch 2] [--steps 3] [--repeats 7]
                                     [--compile] [--json FILE]

The baseline is the configuration of the transformers semantic-segmentation example (Accelerate, no
trainer): the same model and batch in float32, eager, `torch.optim.AdamW` with torch's default
implementation (not fused), PyTorch's default TF32 settings, and the step
`loss = model(...).loss; accelerator.backward(loss); optimizer.step(); scheduler.step(); zero_grad()`.
The package's step is `train.loop.optimiser_step` on a run built by `train.loop.prepare`, with the
configuration's defaults on this device (on CUDA: bf16 autocast, channels-last memory, fused AdamW, TF32;
on a CPU: float32, contiguous), and in variants with channels-last memory, bf16 autocast and, with
--compile, torch.compile. Every variant starts from the same weights and trains on the same random batch,
already on the device; each repeat times `--steps` steps of every variant in turn (interleaved, so that load
changes hit all alike), the device synchronised around each timing; the figures are medians of wall-clock
and of process CPU time (steadier where other processes share the cores), and the ratios are the
baseline's time over the variant's (above 1: faster than the baseline).

`measure_train_step` and `measure_with_data` are what `bench/gpu_suite.py` calls.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from timing import steady_seconds_per_batch, synchronise

from train.config import TrainConfig
from train.loop import optimiser_step, prepare
from train.parallel import BatchPlan
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy

TAXONOMY = "cityscapes19"
BASELINE = "baseline (transformers example)"
PACKAGE = "package"
PACKAGE_VARIANTS: dict[str, dict] = {
    PACKAGE: {},  # TrainConfig's defaults on this device
    "package, channels_last": {"channels_last": True},
    "package, bf16 autocast": {"mixed_precision": "bf16"},
    "package, torch.compile": {"compile": True},
}
"""Variant name -> TrainConfig fields that differ from its defaults."""
_TORCH_TF32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)  # PyTorch's defaults


def batch(
    size: int, images: int, classes: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (images, 3, size, size) float32 pixels and (images, size, size) int64 labels in 0..classes-1."""
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(images, 3, size, size, generator=generator)
    labels = torch.randint(0, classes, (images, size, size), generator=generator)
    return pixels.to(device), labels.to(device)


def _set_tf32(matmul: bool, cudnn: bool) -> None:
    """TF32 flags are process-wide: each variant sets its own before its step, so that interleaving is fair."""
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


class Baseline:
    """The plain step: float32 eager, AdamW as torch picks it, the model prepared by an Accelerator without
    precision, batches moved to the device as the example's prepared data loader does."""

    def __init__(self, model: torch.nn.Module, accelerator: Accelerator):
        optimizer = torch.optim.AdamW(model.parameters(), lr=6e-5)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.accelerator = accelerator
        self.device = accelerator.device

    def step(self, pixels: torch.Tensor, labels: torch.Tensor) -> None:
        _set_tf32(*_TORCH_TF32)
        loss = self.model(pixel_values=pixels.to(self.device), labels=labels.to(self.device)).loss
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()


class PackageStep:
    """`train.loop.optimiser_step` on a run that `train.loop.prepare` built from a config."""

    def __init__(self, segmenter: Segmenter, images: int, **options):
        self.config = TrainConfig(
            output_dir="unused",
            taxonomy=TAXONOMY,
            train_data=[{"path": "unused"}],
            global_batch_size=images,
            steps=10**6,
            warmup_steps=0,
            learning_rate=6e-5,
            **options,
        )
        accelerator = fresh_accelerator(resolved_precision(self.config.mixed_precision), compile=self.config.compile)
        plan = BatchPlan.for_processes(images, None, 1)
        self.run = prepare(self.config, Path("unused"), accelerator, plan, segmenter, get_taxonomy(TAXONOMY))
        self.device = accelerator.device
        self.count = 0

    def step(self, pixels: torch.Tensor, labels: torch.Tensor) -> None:
        if self.device.type == "cuda":  # as the training loop sets them (TrainConfig.tf32)
            _set_tf32(self.config.tf32, self.config.tf32)
        self.count += 1
        optimiser_step(self.run, iter([(pixels, labels)]), self.count)


def resolved_precision(requested: str) -> str:
    """Accelerate's mixed precision for a TrainConfig value: `auto` is bf16 where CUDA supports it, else none."""
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def fresh_accelerator(precision: str, compile: bool = False) -> Accelerator:
    """A fresh Accelerator: its state is a process-wide singleton, reset so that variants can differ in precision
    (each prepared model keeps the autocast it was prepared with)."""
    AcceleratorState._reset_state(True)
    return Accelerator(mixed_precision=precision, dynamo_backend="inductor" if compile else "no")


def build_variants(template: Segmenter, images: int, names: Iterable[str]) -> dict:
    """Name -> object with `.step(pixels, labels)`, each on its own copy of the template's weights.

    Names are BASELINE and keys of PACKAGE_VARIANTS; raises `KeyError` naming an unknown one.
    """
    variants = {}
    for name in names:
        if name == BASELINE:
            variants[name] = Baseline(copy.deepcopy(template.model), fresh_accelerator("no"))
        elif name in PACKAGE_VARIANTS:
            segmenter = Segmenter(copy.deepcopy(template.model), identity=template.identity)
            variants[name] = PackageStep(segmenter, images, **PACKAGE_VARIANTS[name])
        else:
            raise KeyError(f"unknown training-step variant {name!r}; known: {BASELINE}, {', '.join(PACKAGE_VARIANTS)}")
    return variants


def measure_train_step(
    model: str,
    size: int,
    images: int,
    steps: int,
    repeats: int,
    variants: Iterable[str] = (BASELINE, PACKAGE),
    warmup: int = 1,
) -> dict:
    """Seconds per training step of each variant on one random batch of `images` square `size` crops.

    `model` is a size name (random weights, 19 classes). Returns medians over `repeats` interleaved timings
    of `steps` steps each, after `warmup` untimed steps per variant: `wall_seconds_per_step`,
    `cpu_seconds_per_step` (this process's CPU time), `images_per_s` (wall) and `wall_speedup_vs_baseline`
    (when BASELINE is among the variants), each {variant: number}.
    """
    torch.manual_seed(0)
    template = Segmenter.for_training(model, get_taxonomy(TAXONOMY))
    steps_of = build_variants(template, images, variants)
    device = next(iter(steps_of.values())).device
    pixels, labels = batch(size, images, template.num_labels, device)
    for variant in steps_of.values():  # warm-up: allocations, autotuning, compilation
        for _ in range(warmup):
            variant.step(pixels, labels)
    wall: dict[str, list[float]] = {name: [] for name in steps_of}
    cpu: dict[str, list[float]] = {name: [] for name in steps_of}
    for _ in range(repeats):
        for name, variant in steps_of.items():
            synchronise(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                variant.step(pixels, labels)
            synchronise(device)
            wall[name].append((time.perf_counter() - start) / steps)
            cpu[name].append((time.process_time() - start_cpu) / steps)
    figures: dict = {
        "model": model,
        "size": size,
        "images": images,
        "steps": steps,
        "repeats": repeats,
        "device": str(device),
    }
    for label, times in (("wall", wall), ("cpu", cpu)):
        figures[f"{label}_seconds_per_step"] = {k: statistics.median(v) for k, v in times.items()}
    figures["images_per_s"] = {k: images / v for k, v in figures["wall_seconds_per_step"].items()}
    if BASELINE in steps_of:
        for label in ("wall", "cpu"):
            medians = figures[f"{label}_seconds_per_step"]
            figures[f"{label}_speedup_vs_baseline"] = {k: medians[BASELINE] / v for k, v in medians.items()}
    return figures


def measure_with_data(
    model: str, images: int, feeds: dict[str, tuple[str, Callable[[], Iterable]]], skip: int, count: int
) -> dict[str, float]:
    """Images per second of training steps fed by data loaders, end to end.

    `feeds`: name -> (variant, factory of an iterable of (pixels, labels) CPU batches of `images` images), the
    variant being BASELINE or a key of PACKAGE_VARIANTS. Each feed is timed over `count` steps after `skip`
    (see `timing.steady_seconds_per_batch`), one feed after the other, each with a fresh loader.
    """
    torch.manual_seed(0)
    template = Segmenter.for_training(model, get_taxonomy(TAXONOMY))
    rates = {}
    for name, (variant_name, make_batches) in feeds.items():
        variant = build_variants(template, images, [variant_name])[variant_name]
        seconds = steady_seconds_per_batch(
            make_batches(), lambda pair, variant=variant: variant.step(*pair), skip, count, variant.device
        )
        rates[name] = images / seconds
    return rates


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
    variants = [BASELINE, *(name for name in PACKAGE_VARIANTS if args.compile or "compile" not in name)]
    measured = measure_train_step(args.model, args.size, args.batch, args.steps, args.repeats, variants)
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, load average "
        f"{os.getloadavg()[0]:.1f}",
        "setting": f"{args.model}, {args.batch} x {args.size}x{args.size}, {args.steps} steps x "
        f"{args.repeats} interleaved repeats, {measured['device']}",
    }
    for key in ("wall_seconds_per_step", "wall_speedup_vs_baseline", "cpu_seconds_per_step", "cpu_speedup_vs_baseline"):
        figures[key] = {name: round(value, 4) for name, value in measured[key].items()}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

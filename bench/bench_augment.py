"""Benchmark the training augmentation against the plain scale, crop and flip, per image on one CPU core.

Draws 512x512 crops (scale 0.5-2.0, the training default) from decoded 2048x1024 street-like frames
with `TrainTransform`: plain (every augmentation off, the transform as it was), with the paper's
defaults (blur and noise are rare there), and with each change always on. Every variant sees the same
frames and seeds; the variants are timed in turn, round after round, and each reports the median of
its rounds, so a slow moment of the machine hits all of them alike. Times are CPU seconds of this
process on one thread (torch.set_num_threads(1)), which stay meaningful when other work shares the
machine. Decoding is not timed here (see bench_input_pipeline.py).

    python bench/bench_augment.py [--frames 4] [--crops 24] [--rounds 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

from bench_build import make_frame
from train.config import AugmentConfig
from train.transforms import TrainTransform

CROP = (512, 512)
SCALE_RANGE = (0.5, 2.0)


def variants() -> dict[str, AugmentConfig]:
    off = AugmentConfig.none()
    return {
        "plain (augmentation off)": off,
        "paper defaults": AugmentConfig(),
        "hue + saturation always": dataclasses.replace(off, hue_degrees=(-6.0, 6.0), saturation=(0.85, 1.15)),
        "contrast + brightness always": dataclasses.replace(off, contrast=(0.85, 1.15), brightness=(0.85, 1.15)),
        "shear always": dataclasses.replace(off, shear_degrees=(-2.0, 2.0)),
        "blur always": dataclasses.replace(off, blur_probability=1.0),
        "noise always": dataclasses.replace(off, noise_probability=1.0),
    }


def time_variant(transform: TrainTransform, frames: list[tuple[np.ndarray, np.ndarray]], crops: int) -> float:
    """CPU seconds per crop over `crops` crops cycling through the frames, seeds 0..crops-1."""
    start = time.process_time()
    for seed in range(crops):
        image, label = frames[seed % len(frames)]
        transform(image, label, np.random.default_rng(seed))
    return (time.process_time() - start) / crops


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--crops", type=int, default=24, help="crops per variant and round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = np.random.default_rng(0)
    frames = [make_frame(generator) for _ in range(args.frames)]
    transforms = {name: TrainTransform(CROP, SCALE_RANGE, settings) for name, settings in variants().items()}
    for transform in transforms.values():  # warm-up: first calls allocate
        time_variant(transform, frames, 2)
    seconds: dict[str, list[float]] = {name: [] for name in transforms}
    for _ in range(args.rounds):
        for name, transform in transforms.items():
            seconds[name].append(time_variant(transform, frames, args.crops))
    plain = statistics.median(seconds["plain (augmentation off)"])
    results = {name: {"ms_per_crop": round(1000 * statistics.median(times), 2),
                      "ratio_to_plain": round(statistics.median(times) / plain, 3)}
               for name, times in seconds.items()}
    print(json.dumps({"crop": list(CROP), "scale_range": list(SCALE_RANGE), "source": "2048x1024 decoded arrays",
                      "threads": torch.get_num_threads(), "crops_per_round": args.crops, "rounds": args.rounds,
                      "cpu_count": os.cpu_count(), "load_average": os.getloadavg()[0], "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

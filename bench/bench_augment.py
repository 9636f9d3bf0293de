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

import dataclasses
import json
import os
import sys

import torch
from timing import cpu_seconds_per_call, interleaved_medians, single_core_setup

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


def main() -> int:
    args, frames = single_core_setup(__doc__.splitlines()[0], frames=4, crops=24, rounds=7)
    transforms = {name: TrainTransform(CROP, SCALE_RANGE, augment=settings) for name, settings in variants().items()}
    seconds = interleaved_medians(
        {
            name: lambda t=transform: cpu_seconds_per_call(lambda frame, rng: t(*frame, rng), frames, args.crops)
            for name, transform in transforms.items()
        },
        args.rounds,
    )
    plain = seconds["plain (augmentation off)"]
    results = {
        name: {"ms_per_crop": round(1000 * value, 2), "ratio_to_plain": round(value / plain, 3)}
        for name, value in seconds.items()
    }
    print(
        json.dumps(
            {
                "crop": list(CROP),
                "scale_range": list(SCALE_RANGE),
                "source": "2048x1024 decoded arrays",
                "threads": torch.get_num_threads(),
                "crops_per_round": args.crops,
                "rounds": args.rounds,
                "cpu_count": os.cpu_count(),
                "load_average": os.getloadavg()[0],
                "results": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

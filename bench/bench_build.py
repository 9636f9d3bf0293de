"""Benchmark `unify build cityscapes` on a generated Cityscapes-layout folder of full-size frames.

Writes N 2048x1024 frames (street-like content with texture, real PNG files, and their 34-id
gtFine label PNGs) to a temporary folder, then times `unify build cityscapes --num-proc P` for each
P. Per core is images per CPU second of this process and its workers, which stays meaningful when
other work shares the machine; wall-clock rates are printed beside it. The one-off import of the
package (torch, datasets) happens before timing. Target: 20 images/s per core.

    python bench/bench_build.py [--images 40] [--num-proc 1 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 2048, 1024
_CITIES = ("aachen", "bremen", "zurich")


def make_frame(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A sky/buildings/road layout with noisy texture, and its label ids; compresses like a real frame."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    horizon = int(HEIGHT * rng.uniform(0.35, 0.5))
    label = np.full((HEIGHT, WIDTH), 23, dtype=np.uint8)  # sky
    skyline = horizon - (rng.integers(50, 300, size=WIDTH // 64).repeat(64))[None, :]
    label[yy > skyline] = 11  # building
    label[yy > horizon] = 7  # road
    label[(yy > horizon) & ((xx < WIDTH * 0.15) | (xx > WIDTH * 0.85))] = 8  # sidewalk
    for _ in range(rng.integers(3, 8)):  # cars
        cx, cy, w, h = (
            rng.integers(0, WIDTH),
            rng.integers(horizon, HEIGHT),
            rng.integers(80, 400),
            rng.integers(60, 200),
        )
        label[max(cy - h, 0) : cy, max(cx - w // 2, 0) : cx + w // 2] = 26
    label[int(HEIGHT * 0.85) :, :] = 1  # ego vehicle
    palette = np.zeros((256, 3), dtype=np.float32)
    palette[[23, 11, 7, 8, 26, 1]] = [
        (70, 130, 180),
        (90, 85, 80),
        (110, 100, 110),
        (170, 160, 165),
        (30, 30, 90),
        (20, 20, 20),
    ]
    rgb = palette[label] + rng.normal(0, 6, size=(HEIGHT, WIDTH, 3)).astype(np.float32)
    rgb += (yy[..., None] / HEIGHT * 30).astype(np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8), label


def write_dataset(root: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for index in range(count):
        city = _CITIES[index % len(_CITIES)]
        stem = f"{city}_{index:06d}_000019"
        rgb, label = make_frame(rng)
        image_dir, label_dir = root / "leftImg8bit" / "train" / city, root / "gtFine" / "train" / city
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(image_dir / f"{stem}_leftImg8bit.png")
        Image.fromarray(label).save(label_dir / f"{stem}_gtFine_labelIds.png")


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the build's worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_build(data_dir: Path, output: Path, num_proc: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `unify build cityscapes`."""
    from unify.cli import main

    start, cpu_start = time.perf_counter(), cpu_seconds()
    code = main(
        ["build", "cityscapes", "--data-dir", str(data_dir), "--output", str(output), "--num-proc", str(num_proc)]
    )
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    if code != 0:
        raise SystemExit(f"unify build exited with {code}")
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", type=Path, help="write the raw frames here and keep them")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    import datasets

    import unify.build  # noqa: F401  (the one-off import is not part of the build rate)

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="unify-bench-") as tmp:
        raw = args.keep or Path(tmp) / "raw"
        if not (raw / "leftImg8bit").is_dir():
            start = time.perf_counter()
            write_dataset(raw, args.images)
            print(
                f"wrote {args.images} frames of {WIDTH}x{HEIGHT} in {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
        size = sum(p.stat().st_size for p in raw.rglob("*.png")) / args.images / 2**20
        results = []
        for num_proc in args.num_proc:
            elapsed, cpu = time_build(raw, Path(tmp) / f"out-{num_proc}", num_proc)
            results.append(
                {
                    "num_proc": num_proc,
                    "wall_s": round(elapsed, 2),
                    "cpu_s": round(cpu, 2),
                    "images_per_s_wall": round(args.images / elapsed, 1),
                    "images_per_s_per_core": round(args.images / cpu, 1),
                }
            )
    print(
        json.dumps(
            {
                "images": args.images,
                "size": f"{WIDTH}x{HEIGHT}",
                "mib_per_image_pair": round(size, 2),
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

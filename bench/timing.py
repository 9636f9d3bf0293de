"""What the per-core benchmarks share: one thread, generated 2048x1024 frames, interleaved rounds, medians."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from bench_build import make_frame


def single_core_setup(description: str, frames: int, crops: int, rounds: int):
    """Parse --frames/--crops/--rounds, pin torch to one thread; return the arguments and the (image, label) frames."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--frames", type=int, default=frames, help="distinct 2048x1024 street-like frames")
    parser.add_argument("--crops", type=int, default=crops, help="crops per measurement and round")
    parser.add_argument("--rounds", type=int, default=rounds)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = np.random.default_rng(0)
    return args, [make_frame(generator) for _ in range(args.frames)]


def cpu_seconds_per_call(work: Callable, items: list, calls: int) -> float:
    """CPU seconds of this process per `work(item, rng)`, over `calls` calls cycling through `items`, seeds 0, 1, ..."""
    start = time.process_time()
    for seed in range(calls):
        work(items[seed % len(items)], np.random.default_rng(seed))
    return (time.process_time() - start) / calls


def interleaved_medians(measurements: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Run every measurement once to warm up, then each in turn for `rounds` rounds; the median of each.

    Taking turns spreads a slow moment of the machine over all measurements alike.
    """
    for measure in measurements.values():
        measure()
    values: dict[str, list[float]] = {name: [] for name in measurements}
    for _ in range(rounds):
        for name, measure in measurements.items():
            values[name].append(measure())
    return {name: statistics.median(found) for name, found in values.items()}


def synchronise(device: torch.device | str) -> None:
    """Wait for the device's queued work, so that a wall-clock timer read next has it behind it (CUDA only)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device | str) -> float:
    """Wall seconds of `fn()`, the device synchronised before and after."""
    synchronise(device)
    start = time.perf_counter()
    fn()
    synchronise(device)
    return time.perf_counter() - start


def steady_seconds_per_batch(
    batches, consume: Callable[[object], object], skip: int, count: int, device: torch.device | str
) -> float:
    """Wall seconds per batch over `count` batches of an iterable, after the first `skip` (at least 1).

    With N data-loader workers, each building whole batches, the first N batches arrive together after the
    workers' start; timing from batch N on measures the steady rate, not the start or a pre-filled queue.
    `consume` gets every batch (a training step, or nothing); the device is synchronised at both ends.
    """
    iterator = iter(batches)
    for _ in range(max(skip, 1)):
        consume(next(iterator))
    synchronise(device)
    start = time.perf_counter()
    for _ in range(count):
        consume(next(iterator))
    synchronise(device)
    return (time.perf_counter() - start) / count

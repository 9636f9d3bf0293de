"""What the local `evaluate` metric costs against the plain statement of `mean_iou`, on Cityscapes-sized maps.

Times, on N label maps of H x W with C classes (default 50 x 1024 x 2048, 19 classes, as Cityscapes validation
at full size; about 5% of the reference pixels are the ignore index, about 10% of the predictions are wrong):
  (a) `unified_mean_iou`, the package's computation (streaming confusion matrix), maps handed over directly;
  (b) `evaluate.load(unify.evaluate_metric.path()).compute(...)` end to end: `evaluate` stores the maps as images
      in Arrow, reads them back and calls (a); once with int64 predictions (as `argmax` returns them, stored
      as 32-bit images) and once with uint8 predictions (stored as PNG);
  (c) the plain numpy statement of `mean_iou` that the tests use as oracle (tests/unify/mean_iou_reference.py).
The Hub metric `mean_iou` itself cannot be timed here: the `evaluate` wheel ships no metric scripts and
this machine has no Hub access. The variants run interleaved, so that load from elsewhere on the machine hits
them alike; each figure is the median of the rounds, with the minimum beside it (on a shared machine the
minimum is the better estimate of what a step costs on its own). Every round checks that (a), (b) and (c) give
identical numbers.

    python bench/bench_metrics.py --output bench_metrics.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import unify.evaluate_metric
from unify.core.constants import IGNORE_INDEX
from unify.evaluate_metric import unified_mean_iou

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unify"))
from mean_iou_reference import reference_mean_iou  # noqa: E402  (the test oracle, kept beside its tests)


def draw_maps(count: int, height: int, width: int, num_labels: int, seed: int) -> tuple[list, list]:
    """Blocky reference maps (16 x 16 pixel cells), 5% ignore; predictions agree on about 90% of the pixels."""
    rng = np.random.default_rng(seed)
    predictions, references = [], []
    for _ in range(count):
        cells = rng.integers(0, num_labels, (height // 16 + 1, width // 16 + 1), dtype=np.uint8)
        reference = cells.repeat(16, axis=0).repeat(16, axis=1)[:height, :width]
        wrong = rng.random((height, width)) < 0.1
        prediction = np.where(wrong, rng.integers(0, num_labels, (height, width)), reference).astype(np.int64)
        reference = np.where(rng.random((height, width)) < 0.05, IGNORE_INDEX, reference).astype(np.uint8)
        predictions.append(prediction)
        references.append(reference)
    return predictions, references


def assert_identical(scores: dict, expected: dict, what: str) -> None:
    for key, value in expected.items():
        if not np.array_equal(scores[key], value, equal_nan=True):
            raise AssertionError(f"{what}: {key} differs from the reference: {scores[key]} != {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", type=int, default=50)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of every variant (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the results as JSON to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", "Downcasting array dtype int64 to int32")
    import evaluate

    predictions, references = draw_maps(args.maps, args.height, args.width, args.classes, args.seed)
    small_predictions = [p.astype(np.uint8) for p in predictions]
    arguments = dict(num_labels=args.classes, ignore_index=IGNORE_INDEX)
    expected = reference_mean_iou(predictions, references, **arguments)
    with tempfile.TemporaryDirectory() as cache:
        metric = evaluate.load(unify.evaluate_metric.path(), cache_dir=cache)
        variants: dict[str, Callable[[], dict]] = {
            "unified_mean_iou": lambda: unified_mean_iou(predictions, references, **arguments),
            "evaluate_int64_predictions": lambda: metric.compute(predictions=predictions, references=references,
                                                                 **arguments),
            "evaluate_uint8_predictions": lambda: metric.compute(predictions=small_predictions, references=references,
                                                                 **arguments),
            "plain_reference": lambda: reference_mean_iou(predictions, references, **arguments),
        }
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, run in variants.items():
                start = time.perf_counter()
                scores = run()
                seconds[name].append(time.perf_counter() - start)
                assert_identical(scores, expected, name)

    medians = {name: statistics.median(times) for name, times in seconds.items()}
    baseline = medians["plain_reference"]
    results = {"maps": args.maps, "height": args.height, "width": args.width, "classes": args.classes,
               "repeats": args.repeats, "threads": args.threads, "torch": torch.__version__,
               "evaluate": evaluate.__version__, "numpy": np.__version__,
               "machine": platform.processor() or platform.machine(), "mean_iou": float(expected["mean_iou"]),
               "variants": {name: {"median_s": round(medians[name], 3), "min_s": round(min(seconds[name]), 3),
                                   "ms_per_map": round(1000 * medians[name] / args.maps, 1),
                                   "speedup_vs_plain_reference": round(baseline / medians[name], 2)}
                            for name in variants}}
    print(f"{args.maps} maps of {args.height} x {args.width}, {args.classes} classes, {args.repeats} rounds")
    print(f"{'variant':<30}{'median s':>10}{'min s':>9}{'ms/map':>9}{'speedup':>9}")
    for name, row in results["variants"].items():
        print(f"{name:<30}{row['median_s']:>10.3f}{row['min_s']:>9.3f}{row['ms_per_map']:>9.1f}"
              f"{row['speedup_vs_plain_reference']:>8.2f}x")
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

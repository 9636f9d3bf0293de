"""What the local `evaluate` metric costs against the plain statement of `mean_iou`, on Cityscapes-sized maps.

Times, on N label maps of H x W with C classes (default 50 x 1024 x 2048, 19 classes, as Cityscapes validation
at full size; about 5% of the reference pixels are the ignore index, about 10% of the predictions are wrong):
  (a) `unified_mean_iou`, the package's computation (streaming confusion matrix), maps handed over directly;
  (b) `evaluate.load(unify.evaluate_metric.path()).compute(...)` end to end: `evaluate` stores the maps as images
      in Arrow, reads them back and calls (a); once with int64 predictions (as `argmax` returns them, stored
      as 32-bit images) and once with uint8 predictions (stored as PNG);
  (c) the plain numpy statement of `mean_iou` that the tests use as oracle (tests/unify/mean_iou_reference.py);
  (d) with --device, the package's `ConfusionMatrix` updated on that device with the maps already there, as
      the evaluator counts during training and `unify evaluate`;
  (e) with --hub-mean-iou, `evaluate.load("mean_iou").compute(...)`, where `evaluate` can load it (it needs the
      Hub or a cached copy: the `evaluate` wheel ships no metric scripts).
The variants run interleaved, so that load from elsewhere on the machine hits them alike; each figure is the
median of the rounds, with the minimum beside it (on a shared machine the minimum is the better estimate of
what a step costs on its own). Every round checks that every variant gives the numbers of (c).

    python bench/bench_metrics.py --output bench_metrics.json

`measure_metrics` and `load_hub_mean_iou` are what `bench/gpu_suite.py` calls.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from timing import timed

import unify.evaluate_metric
from unify.core.constants import IGNORE_INDEX
from unify.core.metrics import ConfusionMatrix
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


def assert_identical(scores: dict, expected: dict, what: str, tolerance: float = 0.0) -> None:
    """Every key of `expected` equal in `scores` (nan equal to nan), to `tolerance` relative difference."""
    for key, value in expected.items():
        if not np.allclose(scores[key], value, rtol=tolerance, atol=0.0, equal_nan=True):
            raise AssertionError(f"{what}: {key} differs from the reference: {scores[key]} != {value}")


def load_hub_mean_iou(timeout_s: float = 60.0):
    """`evaluate`'s `mean_iou` metric, or the reason it cannot be had (`evaluate` missing, no Hub, timeout).

    The load runs in a daemon thread so that a machine without network cannot stall the caller for longer
    than `timeout_s` seconds. Returns (metric or None, reason or None).
    """
    found: dict = {}

    def load() -> None:
        try:
            import evaluate

            found["metric"] = evaluate.load("mean_iou")
        except Exception as error:  # noqa: BLE001  (any failure means: not loadable here, with its reason)
            found["reason"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return None, f"evaluate.load('mean_iou') did not return within {timeout_s:.0f} s"
    return found.get("metric"), found.get("reason")


def device_matrix(predictions: list[torch.Tensor], references: list[torch.Tensor], num_labels: int) -> dict:
    """`mean_iou`'s numbers from the package's ConfusionMatrix, updated where the maps are."""
    matrix = ConfusionMatrix(num_labels, device=references[0].device)
    for prediction, reference in zip(predictions, references, strict=True):
        matrix.update(prediction, reference)
    scores = matrix.compute()
    iou = np.array(scores.iou)
    return {"mean_iou": np.nanmean(iou), "per_category_iou": iou, "overall_accuracy": scores.pixel_accuracy}


def measure_metrics(
    maps: int = 50,
    height: int = 1024,
    width: int = 2048,
    classes: int = 19,
    repeats: int = 3,
    seed: int = 0,
    device: str | None = None,
    local_evaluate: bool = True,
    hub_mean_iou=None,
) -> dict:
    """Seconds of every variant above on the same maps; every variant checked against the plain reference.

    `device`: also time (d) there; `local_evaluate`: time (b) (needs `evaluate`); `hub_mean_iou`: a loaded
    `mean_iou` metric to time as (e). Returns the settings and {"variants": {name: {"median_s", "min_s",
    "ms_per_map", "speedup_vs_plain_reference"}}, "mean_iou": the reference's value}. Raises `AssertionError`
    when a variant's numbers differ from the reference's.
    """
    warnings.filterwarnings("ignore", "Downcasting array dtype int64 to int32")
    predictions, references = draw_maps(maps, height, width, classes, seed)
    arguments = dict(num_labels=classes, ignore_index=IGNORE_INDEX)
    expected = reference_mean_iou(predictions, references, **arguments)
    variants: dict[str, Callable[[], dict]] = {
        "unified_mean_iou": lambda: unified_mean_iou(predictions, references, **arguments),
        "plain_reference": lambda: reference_mean_iou(predictions, references, **arguments),
    }
    checked = {name: tuple(expected) for name in variants}  # the keys each variant must give as the reference does
    clocks = {name: "cpu" for name in variants}  # where each variant's work runs, to synchronise the timer
    if device is not None:
        on_device = (
            [torch.from_numpy(p).to(device) for p in predictions],
            [torch.from_numpy(r).to(device) for r in references],
        )
        variants["confusion_matrix_on_device"] = lambda: device_matrix(*on_device, classes)
        checked["confusion_matrix_on_device"] = ("mean_iou", "per_category_iou", "overall_accuracy")
        clocks["confusion_matrix_on_device"] = device
    if hub_mean_iou is not None:
        variants["evaluate_mean_iou"] = lambda: hub_mean_iou.compute(
            predictions=predictions, references=references, **arguments
        )
        checked["evaluate_mean_iou"] = ("mean_iou", "overall_accuracy")  # its own arithmetic: to 1e-9
        clocks["evaluate_mean_iou"] = "cpu"
    with tempfile.TemporaryDirectory() as cache:
        if local_evaluate:
            import evaluate

            small_predictions = [p.astype(np.uint8) for p in predictions]
            metric = evaluate.load(unify.evaluate_metric.path(), cache_dir=cache)
            variants["evaluate_int64_predictions"] = lambda: metric.compute(
                predictions=predictions, references=references, **arguments
            )
            variants["evaluate_uint8_predictions"] = lambda: metric.compute(
                predictions=small_predictions, references=references, **arguments
            )
            for name in ("evaluate_int64_predictions", "evaluate_uint8_predictions"):
                checked[name], clocks[name] = tuple(expected), "cpu"
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(repeats):
            for name, run in variants.items():
                found: dict = {}
                seconds[name].append(timed(lambda found=found, run=run: found.update(run()), clocks[name]))
                assert_identical(
                    found,
                    {key: expected[key] for key in checked[name]},
                    name,
                    1e-9 if name == "evaluate_mean_iou" else 0.0,
                )
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    baseline = medians["plain_reference"]
    return {
        "maps": maps,
        "height": height,
        "width": width,
        "classes": classes,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": device,
        "machine": platform.processor() or platform.machine(),
        "mean_iou": float(expected["mean_iou"]),
        "variants": {
            name: {
                "median_s": medians[name],
                "min_s": min(seconds[name]),
                "ms_per_map": 1000 * medians[name] / maps,
                "speedup_vs_plain_reference": baseline / medians[name],
            }
            for name in variants
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", type=int, default=50)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of every variant (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="also time the package's ConfusionMatrix on this device (cpu, cuda)")
    parser.add_argument("--hub-mean-iou", action="store_true", help="also time evaluate's mean_iou if it loads")
    parser.add_argument("--output", help="write the results as JSON to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hub_metric, reason = load_hub_mean_iou() if args.hub_mean_iou else (None, None)
    if reason:
        print(f"evaluate's mean_iou not timed: {reason}", file=sys.stderr)
    results = measure_metrics(
        args.maps, args.height, args.width, args.classes, args.repeats, args.seed, args.device, True, hub_metric
    )
    import evaluate

    results["evaluate"] = evaluate.__version__
    print(f"{args.maps} maps of {args.height} x {args.width}, {args.classes} classes, {args.repeats} rounds")
    print(f"{'variant':<30}{'median s':>10}{'min s':>9}{'ms/map':>9}{'speedup':>9}")
    for name, row in results["variants"].items():
        print(
            f"{name:<30}{row['median_s']:>10.3f}{row['min_s']:>9.3f}{row['ms_per_map']:>9.1f}"
            f"{row['speedup_vs_plain_reference']:>8.2f}x"
        )
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

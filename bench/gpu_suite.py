"""One GPU benchmark: the package against its baselines, every ratio measured in the same run, in one table.

    python bench/gpu_suite.py [--output DIR] [--only train,pipeline,pseudo,driver,eval] [--budget 480]
    python bench/gpu_suite.py --tiny --output DIR      # CPU, tiny models and sizes: seconds (the tests run it)
    python bench/gpu_suite.py --preset medium          # CPU-sized figures in a few minutes

Sections (each calls the function of the bench script that measures it; see their docstrings for the method):
  train     one training step, the package's (`train.loop.optimiser_step` with the config's defaults on this
            device: on CUDA bf16 autocast, channels-last memory, fused AdamW, TF32) against the transformers
            example's configuration (float32, eager, AdamW as torch picks it), same model, weights and batch
            (bench_train_step.measure_train_step); and the same two steps end to end, fed by a DataLoader of
            crops from 2048x1024 JPEG sources held in memory, the package's input (paper augmentation, JPEG
            draft decoding) against resize-then-crop (bench_train_step.measure_with_data);
  pipeline  that DataLoader alone (cores - 2 workers, batches of the training batch) on JPEG and PNG sources:
            the package's input with its augmentation off and on, against resize-then-crop
            (bench_input_pipeline.measure_loader);
  pseudo    the pseudo-labelling kernel at full Cityscapes size with 65 unified classes: forward + the
            constraint against the forward pass alone and against forward + the naive constraint
            (bench_pseudo_label.measure_kernel);
  driver    `unify pseudo-label` end to end against the teacher's forward pass alone on the same images, with
            test-time augmentation off; with flip + 7 scales, its images/s and the share of time in the teacher
            (bench_pseudo_label_driver.measure_driver);
  eval      mean IoU of 50 maps: the package's `unified_mean_iou` and its `ConfusionMatrix` on the device
            against `evaluate`'s `mean_iou` where it loads, else the numpy statement of its rules that the tests
            use (bench_metrics.measure_metrics).

Timings use warm-up rounds and a fixed number of timed iterations, the device synchronised around each timer;
figures are medians. The goals are the issue's, from figures measured on one H200 (docs: anchors): ratios are
checked everywhere, absolute rates only on an H200. A section that would start after `--budget` seconds is
skipped and says so; a section that fails is reported as failed and the others still run. The table goes to
stdout and DIR/gpu_suite.md, every measurement to DIR/gpu_suite.json; both files are rewritten after every
section (`"complete": false` until the last), so a run stopped from outside keeps what it measured. Progress
goes to stderr. The exit status is 1 when a section failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

logger = logging.getLogger("gpu_suite")
SECTIONS = ("train", "pipeline", "pseudo", "driver", "eval")
TTA_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
TTA_OFF_SHARE = 0.95  # the issue: pseudo-labelling with TTA off keeps 95% of the teacher's forward-only throughput


@dataclass(frozen=True)
class Goal:
    """What a row must reach: a ratio (checked on every machine) and/or an absolute figure (only on an H200,
    where the anchors were measured). `text` is what the table shows."""

    text: str
    ratio: float | None = None
    absolute: float | None = None


@dataclass(frozen=True)
class TrainCase:
    model: str  # SegFormer size name, random weights
    size: int  # square crop side
    batch: int
    goal: Goal


@dataclass(frozen=True)
class TeacherCase:
    model: str
    batch: int
    naive_goal: Goal = Goal("> 1×", ratio=1.0)


@dataclass(frozen=True)
class Settings:
    """Every size and iteration count of one run; the presets below are the only places they are chosen."""

    train_cases: tuple[TrainCase, ...]
    train_steps: int  # steps per timing
    train_repeats: int  # interleaved timings per variant
    train_warmup: int  # untimed steps per variant
    crop: int  # square training crop of the input pipeline and of the step fed by it
    frames: int  # distinct 2048x1024 frames held in memory (encoded as JPEG and as PNG)
    loader_workers: int
    loader_batches: int  # timed batches of a loader, after `loader_workers` batches (at least 1)
    data_case: TrainCase  # the step fed by the input pipeline
    kernel_cases: tuple[TeacherCase, ...]
    kernel_size: tuple[int, int]
    kernel_classes: int
    kernel_warmup: int
    kernel_repeats: int
    kernel_post_repeats: int
    driver_cases: tuple[TeacherCase, ...]
    driver_size: tuple[int, int]
    driver_images: int
    driver_shard_size: int
    driver_workers: int
    driver_rounds: int
    tta_model: str
    tta_batch: int
    tta_images: int
    metric_maps: int
    metric_size: tuple[int, int]
    metric_classes: int
    metric_repeats: int
    try_hub_mean_iou: bool = True
    threads: int | None = None  # torch CPU threads (None: torch's choice); 1 is far steadier on a shared CPU
    device_note: str = ""


B0_GOAL = Goal("≥ 2.40× (489 vs 204 img/s)", ratio=489 / 204, absolute=489)
B2_GOAL = Goal("≥ 3.97× (46.9 vs 11.8 img/s)", ratio=46.9 / 11.8, absolute=46.9)
PIPELINE_GOAL = Goal("≥ 489 img/s (16-core host)", absolute=489)
FORWARD_SHARE_GOAL = Goal(f"≥ {TTA_OFF_SHARE:.2f}×", ratio=TTA_OFF_SHARE)


def _cores() -> int:
    return os.cpu_count() or 1


def _workers(count: int) -> str:
    return f"{count} worker{'s' if count != 1 else ''}"


PRESETS: dict[str, Callable[[], Settings]] = {
    "gpu": lambda: Settings(
        train_cases=(TrainCase("mit-b0", 512, 16, B0_GOAL), TrainCase("mit-b2", 1024, 4, B2_GOAL)),
        train_steps=5,
        train_repeats=3,
        train_warmup=3,
        crop=512,
        frames=8,
        loader_workers=max(1, _cores() - 2),
        loader_batches=2 * max(1, _cores() - 2),
        data_case=TrainCase("mit-b0", 512, 16, B0_GOAL),
        kernel_cases=(
            TeacherCase(
                "mit-b5",
                2,
                Goal("≥ 1.22× (95% of forward at the anchors' naive cost)", ratio=TTA_OFF_SHARE * 39.7 / 30.8),
            ),
            TeacherCase(
                "mit-b0", 8, Goal("≥ 2.26× (95% of forward at the anchors' naive cost)", ratio=TTA_OFF_SHARE * 188 / 79)
            ),
        ),
        kernel_size=(1024, 2048),
        kernel_classes=65,
        kernel_warmup=3,
        kernel_repeats=10,
        kernel_post_repeats=10,
        driver_cases=(TeacherCase("mit-b5", 2), TeacherCase("mit-b0", 8)),
        driver_size=(1024, 2048),
        driver_images=32,
        driver_shard_size=16,
        driver_workers=2,
        driver_rounds=2,
        tta_model="mit-b5",
        tta_batch=1,
        tta_images=4,  # one image and its mirror per pass: at scale 2 that is
        # 2 x 2048 x 4096 pixels, whose first-stage attention alone takes tens of GB
        metric_maps=50,
        metric_size=(1024, 2048),
        metric_classes=19,
        metric_repeats=2,
    ),
    "medium": lambda: Settings(
        train_cases=(TrainCase("mit-b0", 256, 2, B0_GOAL), TrainCase("mit-b2", 256, 1, B2_GOAL)),
        train_steps=2,
        train_repeats=3,
        train_warmup=1,
        crop=512,
        frames=4,
        loader_workers=max(1, _cores() - 1),
        loader_batches=2 * max(1, _cores() - 1),
        data_case=TrainCase("mit-b0", 256, 2, B0_GOAL),
        kernel_cases=(TeacherCase("mit-b0", 1),),
        kernel_size=(512, 1024),
        kernel_classes=65,
        kernel_warmup=1,
        kernel_repeats=3,
        kernel_post_repeats=5,
        driver_cases=(TeacherCase("mit-b0", 2),),
        driver_size=(256, 512),
        driver_images=8,
        driver_shard_size=4,
        driver_workers=2,
        driver_rounds=2,
        tta_model="mit-b0",
        tta_batch=2,
        tta_images=2,
        metric_maps=10,
        metric_size=(1024, 2048),
        metric_classes=19,
        metric_repeats=2,
        threads=1,
    ),
    "tiny": lambda: Settings(
        train_cases=(TrainCase("mit-pico", 64, 2, B0_GOAL),),
        train_steps=1,
        train_repeats=1,
        train_warmup=1,
        crop=64,
        frames=1,
        loader_workers=1,
        loader_batches=1,
        data_case=TrainCase("mit-pico", 64, 2, B0_GOAL),
        kernel_cases=(TeacherCase("mit-pico", 2),),
        kernel_size=(64, 128),
        kernel_classes=65,
        kernel_warmup=1,
        kernel_repeats=1,
        kernel_post_repeats=1,
        driver_cases=(TeacherCase("mit-pico", 2),),
        driver_size=(64, 128),
        driver_images=2,
        driver_shard_size=2,
        driver_workers=1,
        driver_rounds=1,
        tta_model="mit-pico",
        tta_batch=1,
        tta_images=1,
        metric_maps=2,
        metric_size=(64, 128),
        metric_classes=19,
        metric_repeats=1,
        try_hub_mean_iou=False,
        threads=1,
        device_note="tiny: CPU, tiny models and sizes, 1 iteration; the numbers only show that it runs",
    ),
}


@dataclass
class Row:
    """One line of the table; `package` and `baseline` in `unit`, `ratio` above 1 when the package is faster."""

    section: str
    what: str
    unit: str  # "img/s" (higher is better) or "s" (lower is better)
    package: float | None
    baseline: float | None
    goal: Goal | None = None
    note: str = ""  # shown in the ratio column when there is no ratio (a share of time, say)
    ratio: float | None = field(init=False)
    met: bool | None = field(init=False, default=None)

    def __post_init__(self):
        self.ratio = None
        if self.package and self.baseline:
            self.ratio = self.package / self.baseline if self.unit == "img/s" else self.baseline / self.package

    def judge(self, on_anchor_machine: bool) -> None:
        """Whether the goal is met: its ratio here, its absolute figure only on the anchors' machine."""
        if self.goal is None:
            return
        checks = []
        if self.goal.ratio is not None and self.ratio is not None:
            checks.append(self.ratio >= self.goal.ratio)
        if self.goal.absolute is not None and on_anchor_machine and self.package is not None:
            checks.append(self.package >= self.goal.absolute)
        self.met = all(checks) if checks else None

    def cells(self) -> list[str]:
        ratio = f"{self.ratio:.2f}×" if self.ratio is not None else (self.note or "—")
        met = {True: "yes", False: "no", None: "—" if self.goal is None else "n/a"}[self.met]
        return [
            self.section,
            self.what,
            _figure(self.package, self.unit),
            _figure(self.baseline, self.unit),
            ratio,
            self.goal.text if self.goal else "—",
            met,
        ]

    def to_json(self) -> dict:
        return {
            "section": self.section,
            "what": self.what,
            "unit": self.unit,
            "package": self.package,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "note": self.note or None,
            "goal": dataclasses.asdict(self.goal) if self.goal else None,
            "met": self.met,
        }


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    digits = 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 0.1 else 4
    return f"{value:,.{digits}f} {unit}"


class Suite:
    """Runs the selected sections in order and keeps their rows and raw measurements."""

    def __init__(self, settings: Settings, device: str, budget_s: float):
        self.settings, self.device, self.budget_s = settings, device, budget_s
        self.start = time.perf_counter()
        self.rows: list[Row] = []
        self.sections: dict[str, dict] = {}
        self._frames: list | None = None
        self._rows_by_format: dict[str, list[dict]] = {}

    def run(self, names: list[str], after_each: Callable[[], object] = lambda: None) -> None:
        """Run the sections `names` in order (skipped once over the budget), calling `after_each` after each."""
        for name in names:
            elapsed = time.perf_counter() - self.start
            if elapsed > self.budget_s:
                self.sections[name] = {
                    "status": f"skipped: {elapsed:.0f} s spent, over the {self.budget_s:.0f} s budget"
                }
                self.rows.append(Row(name, self.sections[name]["status"], "", None, None))
                after_each()
                continue
            logger.info("section %s (%.0f s spent)", name, elapsed)
            section_start = time.perf_counter()
            try:
                measurements = getattr(self, f"_{name}")()
                status = "ok"
            except Exception as error:  # noqa: BLE001  (one broken section must not lose the others' figures)
                traceback.print_exc()
                measurements, status = {}, f"failed: {type(error).__name__}: {error}"
                self.rows.append(Row(name, status.splitlines()[0][:200], "", None, None))
            self.sections[name] = {
                "status": status,
                "seconds": time.perf_counter() - section_start,
                "measurements": measurements,
            }
            gc.collect()
            if self.device == "cuda":
                import torch

                torch.cuda.empty_cache()
            after_each()

    # --- shared inputs -------------------------------------------------------------------------------------------
    def encoded(self, fmt: str) -> list[dict]:
        """The settings' frames as training rows of `fmt` (JPEG or PNG), made once per run."""
        if fmt not in self._rows_by_format:
            import numpy as np
            from bench_build import make_frame
            from bench_input_pipeline import encoded_rows

            if self._frames is None:
                generator = np.random.default_rng(0)
                self._frames = [make_frame(generator) for _ in range(self.settings.frames)]
            self._rows_by_format[fmt] = encoded_rows(self._frames, fmt)
        return self._rows_by_format[fmt]

    def _loader_factory(self, fmt: str, pipeline: str, batch: int) -> Callable:
        from bench_input_pipeline import crop_loader, pipelines

        s = self.settings
        work = pipelines((0.5, 1.0), (s.crop, s.crop))[pipeline]
        return lambda: crop_loader(
            self.encoded(fmt), work, batch, s.loader_workers + s.loader_batches, s.loader_workers
        )

    # --- sections --------------------------------------------------------------------------------------------------
    def _train(self) -> dict:
        from bench_train_step import BASELINE, PACKAGE, measure_train_step, measure_with_data

        s, found = self.settings, {}
        for case in s.train_cases:
            key = f"{case.model} {case.size}x{case.size} x{case.batch}"
            found[key] = measure_train_step(
                case.model, case.size, case.batch, s.train_steps, s.train_repeats, (BASELINE, PACKAGE), s.train_warmup
            )
            rates = found[key]["images_per_s"]
            self.rows.append(
                Row(
                    "train",
                    f"step, {case.model} {case.size}² ×{case.batch}: package vs the transformers example",
                    "img/s",
                    rates[PACKAGE],
                    rates[BASELINE],
                    case.goal,
                )
            )
        case = s.data_case
        feeds = {
            "package": (PACKAGE, self._loader_factory("JPEG", "+ paper augmentation", case.batch)),
            "baseline": (BASELINE, self._loader_factory("JPEG", "resize-then-crop", case.batch)),
        }
        with_data = measure_with_data(case.model, case.batch, feeds, s.loader_workers, s.loader_batches)
        found["with data"] = {
            "model": case.model,
            "crop": s.crop,
            "batch": case.batch,
            "source": "JPEG 2048x1024",
            "workers": s.loader_workers,
            "images_per_s": with_data,
        }
        self.rows.append(
            Row(
                "train",
                f"end to end with data, {case.model} {s.crop}² ×{case.batch}, JPEG, "
                f"{_workers(s.loader_workers)}: package (paper augmentation) vs the example "
                f"(resize-then-crop)",
                "img/s",
                with_data["package"],
                with_data["baseline"],
                case.goal,
            )
        )
        return found

    def _pipeline(self) -> dict:
        from bench_input_pipeline import measure_loader, pipelines

        s, found = self.settings, {}
        batch = s.data_case.batch
        chosen = ("resize-then-crop", "+ jpeg draft", "+ paper augmentation")
        works = {name: work for name, work in pipelines((0.5, 1.0), (s.crop, s.crop)).items() if name in chosen}
        for fmt in ("JPEG", "PNG"):
            rates = measure_loader(
                self.encoded(fmt), works, batch, s.loader_workers, s.loader_workers, s.loader_batches
            )
            found[fmt] = {
                "images_per_s": rates,
                "crop": s.crop,
                "batch": batch,
                "workers": s.loader_workers,
                "scale_range": [0.5, 1.0],
                "frames": s.frames,
            }
            for name, label in (("+ jpeg draft", "augmentation off"), ("+ paper augmentation", "paper augmentation")):
                what = (
                    f"{fmt} 2048×1024 → {s.crop}², scale 0.5–1, {_workers(s.loader_workers)}: package ({label}) "
                    f"vs resize-then-crop"
                )
                self.rows.append(Row("pipeline", what, "img/s", rates[name], rates["resize-then-crop"], PIPELINE_GOAL))
        return found

    def _pseudo(self) -> dict:
        from bench_pseudo_label import measure_kernel

        s, found = self.settings, {}
        height, width = s.kernel_size
        cuda = self.device == "cuda"
        for case in s.kernel_cases:
            key = f"{case.model} x{case.batch}"
            found[key] = measure_kernel(
                case.model,
                case.batch,
                height,
                width,
                s.kernel_classes,
                ("realistic",),
                s.kernel_warmup,
                s.kernel_repeats,
                s.kernel_post_repeats,
                self.device,
                "bfloat16" if cuda else "float32",
                channels_last=cuda,
            )
            variants = found[key]["scenarios"]["realistic"]["variants"]
            rate = {name: row["images_per_s"] for name, row in variants.items()}
            what = f"{case.model} ×{case.batch}, {height}×{width}, {s.kernel_classes} classes"
            self.rows.append(
                Row(
                    "pseudo",
                    f"{what}: forward + constraint vs forward only",
                    "img/s",
                    rate["constrained"],
                    rate["forward"],
                    FORWARD_SHARE_GOAL,
                )
            )
            self.rows.append(
                Row(
                    "pseudo",
                    f"{what}: forward + constraint vs forward + naive constraint",
                    "img/s",
                    rate["constrained"],
                    rate["naive_constrained"],
                    case.naive_goal,
                )
            )
        return found

    def _driver(self) -> dict:
        from bench_pseudo_label_driver import build_inputs, measure_driver

        s, found = self.settings, {}
        height, width = s.driver_size
        with tempfile.TemporaryDirectory(prefix="gpu-suite-driver-") as tmp:
            inputs = Path(tmp)
            processes = min(_cores(), 8)  # the synthetic builder shards its samples over processes
            build_inputs(inputs / "input", s.driver_images, height, width, num_proc=processes)
            build_inputs(inputs / "tta_input", s.tta_images, height, width, num_proc=min(processes, s.tta_images))
            for case in s.driver_cases:
                key = f"{case.model} x{case.batch}"
                found[key] = measure_driver(
                    case.model,
                    s.driver_images,
                    height,
                    width,
                    case.batch,
                    s.driver_shard_size,
                    s.driver_workers,
                    s.driver_rounds,
                    sequential=False,
                    tta_scales=(),
                    device=self.device,
                    inputs=inputs,
                )
                summary = found[key]["driver"][f"workers={s.driver_workers}"]
                what = (
                    f"`unify pseudo-label`, {case.model} ×{case.batch}, {height}×{width}, 15 classes, TTA off, "
                    f"{s.driver_images} images, without the fixed cost: vs forward only"
                )
                self.rows.append(
                    Row(
                        "driver",
                        what,
                        "img/s",
                        summary["images_per_s_without_fixed_cost"],
                        found[key]["forward_only_images_per_s"],
                        FORWARD_SHARE_GOAL,
                    )
                )
            key = f"{s.tta_model} x{s.tta_batch}, flip + {len(TTA_SCALES)} scales"
            found[key] = measure_driver(
                s.tta_model,
                s.tta_images,
                height,
                width,
                s.tta_batch,
                s.driver_shard_size,
                s.driver_workers,
                rounds=0,
                sequential=False,
                tta_scales=TTA_SCALES,
                device=self.device,
                inputs=inputs,
            )
        tta = found[key]["tta"]
        self.rows.append(
            Row(
                "driver",
                f"`unify pseudo-label`, {s.tta_model} ×{s.tta_batch}, flip + scales "
                f"{', '.join(f'{x:g}' for x in TTA_SCALES)}, {s.tta_images} images, without "
                f"the fixed cost",
                "img/s",
                tta["images_per_s_without_fixed_cost"],
                None,
                Goal("report images/s and the teacher's share"),
                note=f"teacher {100 * tta['teacher_share_without_fixed_cost']:.0f}% of the time",
            )
        )
        return found

    def _eval(self) -> dict:
        from bench_metrics import load_hub_mean_iou, measure_metrics

        s = self.settings
        metric, reason = load_hub_mean_iou() if s.try_hub_mean_iou else (None, "not tried (tiny run: it needs the Hub)")
        height, width = s.metric_size
        found = measure_metrics(
            s.metric_maps,
            height,
            width,
            s.metric_classes,
            s.metric_repeats,
            device=self.device,
            local_evaluate=False,
            hub_mean_iou=metric,
        )
        found["hub_mean_iou"] = "timed" if metric is not None else reason
        if metric is not None:
            base, base_name = found["variants"]["evaluate_mean_iou"]["median_s"], "`evaluate`'s mean_iou"
        else:
            base = found["variants"]["plain_reference"]["median_s"]
            base_name = "the numpy statement of mean_iou's rules (mean_iou itself does not load here)"
        what = f"mIoU of {s.metric_maps} maps {height}×{width}, {s.metric_classes} classes"
        self.rows.append(
            Row(
                "eval",
                f"{what}: unified_mean_iou (CPU) vs {base_name}",
                "s",
                found["variants"]["unified_mean_iou"]["median_s"],
                base,
                Goal("> 1×", ratio=1.0),
            )
        )
        self.rows.append(
            Row(
                "eval",
                f"{what}: ConfusionMatrix on {self.device}, maps there (the evaluator) vs {base_name}",
                "s",
                found["variants"]["confusion_matrix_on_device"]["median_s"],
                base,
                Goal("> 1×", ratio=1.0),
            )
        )
        return found


def machine(device: str) -> dict:
    """What the figures were measured on: device name, library versions, CPU count."""
    import torch
    import transformers

    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    return {
        "device": device,
        "gpu": gpu,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda if device == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0],
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def table(suite: Suite, about: dict, preset: str) -> str:
    """The Markdown table, with a header line naming the device and the versions."""
    from unify.core.markdown import markdown_table

    where = about["gpu"] or f"CPU ({about['cpu']})"
    header = (
        f"**{where}**, {about['cpu_count']} CPU cores, torch {about['torch']}, transformers "
        f"{about['transformers']}, {about['date']}, preset `{preset}`, "
        f"{time.perf_counter() - suite.start:.0f} s"
    )
    if suite.settings.device_note:
        header += f" ({suite.settings.device_note})"
    rows = [row.cells() for row in suite.rows]
    columns = ["section", "what", "package", "baseline", "ratio", "goal", "met?"]
    # Every cell is the suite's own text (its Markdown is meant), so none is escaped; `|` still is.
    return header + "\n\n" + markdown_table(columns, rows, raw_columns=tuple(range(len(columns))))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the tiny preset on the CPU: seconds (for the tests)")
    parser.add_argument("--preset", choices=list(PRESETS), help="sizes (default: gpu; tiny with --tiny)")
    parser.add_argument("--only", help=f"comma-separated sections to run, of {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--output", type=Path, default=Path("."), help="folder for gpu_suite.json and gpu_suite.md")
    parser.add_argument(
        "--budget",
        type=float,
        default=480.0,
        help="seconds after which sections not yet started are skipped (default: 8 minutes)",
    )
    args = parser.parse_args(argv)
    if args.tiny and args.preset not in (None, "tiny"):
        parser.error("--tiny is the tiny preset; leave out --preset")
    args.preset = "tiny" if args.tiny else args.preset or "gpu"
    args.sections = list(SECTIONS) if not args.only else [name.strip() for name in args.only.split(",")]
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; known: {', '.join(SECTIONS)}")
    return args


def write_report(suite: Suite, about: dict, args: argparse.Namespace) -> str:
    """Judge the rows, write gpu_suite.md and gpu_suite.json into the output folder; the table's text.

    Called after every section, so that a run stopped from outside still leaves the finished sections' figures.
    """
    on_anchor_machine = "H200" in (about["gpu"] or "")
    for row in suite.rows:
        row.judge(on_anchor_machine)
    text = table(suite, about, args.preset)
    args.output.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": about,
        "preset": args.preset,
        "settings": dataclasses.asdict(suite.settings),
        "absolute_goals_checked": on_anchor_machine,
        "seconds": time.perf_counter() - suite.start,
        "complete": len(suite.sections) == len(args.sections),
        "sections": suite.sections,
        "rows": [row.to_json() for row in suite.rows],
    }
    for name, content in (("gpu_suite.md", text), ("gpu_suite.json", json.dumps(report, indent=2, default=str))):
        partial = args.output / f"{name}.tmp"
        partial.write_text(content + "\n", encoding="utf-8")
        partial.replace(args.output / name)
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.preset in ("tiny", "medium"):
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU presets stay on the CPU even on a GPU machine
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("datasets", "transformers", "accelerate", "unify", "train"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import datasets
    import torch
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = PRESETS[args.preset]()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    suite = Suite(settings, device, args.budget)
    about = machine(device)
    suite.run(args.sections, after_each=lambda: write_report(suite, about, args))
    print(write_report(suite, about, args))
    failed = [name for name, section in suite.sections.items() if section["status"].startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

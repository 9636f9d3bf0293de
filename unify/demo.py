"""The whole method on the built-in synthetic world, end to end, on a CPU in minutes.

Build three synthetic datasets, train a teacher on the source, pseudo-label the two extras with
and without the ground-truth constraint, train a student of the same architecture for the same
number of steps on the compound, and compare them on the source and on the shifted domain. By default
the student learns from the sets of classes the extras' native labels allow (the partial-label loss), or
else from their hard pseudo-labels or both (`DemoSettings.student_targets`, `train.loss`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch

from train.config import TARGETS, AugmentConfig, DataSource, TrainConfig
from train.loop import MODEL, train
from unify.build import build_dataset
from unify.core.constants import FINE_LABEL, IMAGE, LABEL, NATIVE_LABEL, REPORT_FILE
from unify.core.errors import UnifyError
from unify.core.folder import load_split
from unify.core.images import colorize
from unify.core.pseudo_label_kernel import unconstrained_labels
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.core.visualize import comparison_grid
from unify.pseudo_label_driver import LabellingOptions, pseudo_label_dataset

logger = logging.getLogger(__name__)
TAXONOMY = "synthetic_fine"


@dataclass(frozen=True)
class DemoSettings:
    """The demo's defaults mirror the paper's situation: a small labelled source beside much larger extras.

    Raises `UnifyError` for `steps` < 1, `student_seed` < 0 or `student_targets` outside
    `train.config.TARGETS`.
    """

    model: str = "mit-nano"  # teacher and student share it
    steps: int = 800  # for each of teacher and student
    batch_size: int = 8
    learning_rate: float = 3e-3
    source_images: tuple[int, int] = (12, 32)  # (train, validation)
    extra_images: int = 240  # training images of each extra
    mix: tuple[float, float, float] = (1.0, 1.0, 0.5)  # student's sampling weights: source, coarse, shifted
    shifted_test_images: int = 32
    num_workers: int = 0  # on a 2-core CPU, decoding in the main process is as fast as a worker
    augment: bool = False  # the paper's photometric changes and shear (off: plain scale, crop and flip)
    student_targets: str = "partial"  # what the student learns from the extras' pixels: hard, partial or both
    # (train/loss.py). The README compares the three over two seeds: partial is as good as hard on the source
    # and better on the shifted domain
    student_seed: int = 0  # the student run's seed (its samples, augmentation, dropout and new head); the
    # teacher's is always 0, so students of several seeds share one teacher

    def __post_init__(self):
        if self.steps < 1:
            raise UnifyError(f"steps must be >= 1 (training steps of teacher and student), got {self.steps}")
        if self.student_seed < 0:
            raise UnifyError(f"student_seed must be >= 0, got {self.student_seed}")
        if self.student_targets not in TARGETS:
            raise UnifyError(f"student_targets must be one of {', '.join(TARGETS)}, got {self.student_targets!r}")


QUICK = DemoSettings(
    model="mit-pico", steps=4, batch_size=2, source_images=(4, 2), extra_images=4, shifted_test_images=2, num_workers=0
)


def run_demo(output: Path, settings: DemoSettings = DemoSettings()) -> dict:
    """Run the demo into `output` and return (and write to `output/metrics.json`) its figures.

    A rerun into the same folder rebuilds the data and relabels it, but finds the teacher's finished run and
    does not train it again; the student goes to `student_folder(settings.student_targets)`, so a rerun with
    other targets trains a second student from the same teacher and pseudo-labels. Raises what training,
    building and labelling raise.

    The figures: `teacher_miou`, `student_miou` (source validation split) and `teacher_miou_shifted`,
    `student_miou_shifted` (the shifted domain's test split, against its fine truth), fractions in [0, 1];
    `pseudo_label_pixel_accuracy_constrained` / `_unconstrained` against the extras' hidden fine truth,
    pixel-weighted over both extras; `pseudo_label_share_by_provenance` per extra; `student_targets`;
    `seconds` and `stage_seconds` (wall-clock, by stage).
    """
    start = time.perf_counter()
    stages: dict[str, float] = {}
    output.mkdir(parents=True, exist_ok=True)
    datasets.disable_progress_bars()  # the demo shows its own progress, stage by stage
    data = _build_datasets(output / "datasets", settings)
    stages["build"] = time.perf_counter() - start
    evaluation = [
        DataSource(path=str(data["source"]), split="validation", name="source"),
        DataSource(path=str(data["shifted"]), split="test", label_column=FINE_LABEL, name="shifted"),
    ]
    teacher = train(_train_config(output / "teacher", [DataSource(path=str(data["source"]))], evaluation, settings))
    stages["teacher"] = time.perf_counter() - start - sum(stages.values())
    teacher_model = output / "teacher" / MODEL
    reports = {}
    for extra in ("coarse", "shifted"):
        pseudo_label_dataset(
            str(teacher_model),
            data[extra],
            output / "unified" / extra,
            LabellingOptions(taxonomy=TAXONOMY, splits=("train",), overwrite=True),
        )
        reports[extra] = json.loads((output / "unified" / extra / REPORT_FILE).read_text())
    stages["pseudo_label"] = time.perf_counter() - start - sum(stages.values())
    source_weight, coarse_weight, shifted_weight = settings.mix
    compound = [
        DataSource(path=str(data["source"]), name="source", weight=source_weight),
        DataSource(path=str(output / "unified" / "coarse"), name="coarse", weight=coarse_weight),
        DataSource(path=str(output / "unified" / "shifted"), name="shifted", weight=shifted_weight),
    ]
    student_run = output / student_folder(settings.student_targets, settings.student_seed)
    student = train(
        dataclasses.replace(
            _train_config(student_run, compound, evaluation, settings),
            targets=settings.student_targets,
            seed=settings.student_seed,
        )
    )
    stages["student"] = time.perf_counter() - start - sum(stages.values())
    _draw_grid(output, teacher_model, student_run / MODEL)
    stages["picture"] = time.perf_counter() - start - sum(stages.values())
    metrics = {
        "student_targets": settings.student_targets,
        "student_seed": settings.student_seed,
        **_summarise(teacher, student, reports, time.perf_counter() - start),
    }
    metrics["stage_seconds"] = {k: round(v, 1) for k, v in stages.items()}
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def student_folder(targets: str, seed: int = 0) -> str:
    """The student's run folder in the demo's output: `student` for the default targets and seed, else
    `student-<targets>` and, for a seed other than 0, `-seed<seed>`; so students trained with other targets or
    seeds sit beside the first and share the teacher."""
    if seed:
        return f"student-{targets}-seed{seed}"
    return "student" if targets == DemoSettings.student_targets else f"student-{targets}"


def _build_datasets(folder: Path, s: DemoSettings) -> dict[str, Path]:
    splits = {
        "source": (("train", s.source_images[0]), ("validation", s.source_images[1])),
        "coarse": (("train", s.extra_images),),
        "shifted": (("train", s.extra_images), ("test", s.shifted_test_images)),
    }
    for config, config_splits in splits.items():
        build_dataset("synthetic_driving", folder / config, config=config, splits=config_splits)
    return {config: folder / config for config in splits}


def _train_config(output_dir: Path, train_data, eval_data, s: DemoSettings) -> TrainConfig:
    return TrainConfig(
        output_dir=str(output_dir),
        taxonomy=TAXONOMY,
        model=s.model,
        train_data=train_data,
        eval_data=eval_data,
        crop_size=(128, 256),
        scale_range=(0.75, 1.5),
        global_batch_size=s.batch_size,
        steps=s.steps,
        learning_rate=s.learning_rate,
        warmup_steps=max(1, s.steps // 20),
        checkpoint_every=0,
        log_every=max(1, s.steps // 10),
        num_workers=s.num_workers,
        augment=AugmentConfig() if s.augment else AugmentConfig.none(),
    )


def _summarise(teacher: dict, student: dict, reports: dict, seconds: float) -> dict:
    def accuracy(kind: str) -> float:
        correct = total = 0.0
        for report in reports.values():  # pixel-weighted over both extras
            pixels = sum(report["pixels_by_provenance"].values())
            correct += report["pixel_accuracy_vs_fine_truth"][kind] * pixels
            total += pixels
        return correct / total

    return {
        "teacher_miou": teacher["source"]["miou"],
        "student_miou": student["source"]["miou"],
        "teacher_miou_shifted": teacher["shifted"]["miou"],
        "student_miou_shifted": student["shifted"]["miou"],
        "pseudo_label_pixel_accuracy_constrained": accuracy("constrained"),
        "pseudo_label_pixel_accuracy_unconstrained": accuracy("unconstrained"),
        "pseudo_label_share_by_provenance": {k: r["share_by_provenance"] for k, r in reports.items()},
        "seconds": round(seconds, 1),
    }


@torch.inference_mode()
def _draw_grid(output: Path, teacher_path: Path, student_path: Path, rows: int = 4) -> None:
    """image / ground truth / teacher / constrained pseudo-label / student, on the shifted extra."""
    fine = get_taxonomy(TAXONOMY).palette()
    native_palette = get_taxonomy("synthetic_shifted").palette()
    teacher, student = Segmenter.load(teacher_path, device="cpu"), Segmenter.load(student_path, device="cpu")
    unified = load_split(output / "unified" / "shifted", "train")
    panels = []
    for row in unified.select(range(min(rows, len(unified)))):
        image = np.array(row[IMAGE].convert("RGB"))
        batch = torch.from_numpy(image).permute(2, 0, 1)[None]
        size = image.shape[:2]
        teacher_only = unconstrained_labels(teacher.probabilities(teacher.preprocess(batch)), size)
        student_pred = student.logits(student.preprocess(batch), size).argmax(1)
        panels.append(
            [
                image,
                colorize(np.asarray(row[NATIVE_LABEL]), native_palette),
                colorize(teacher_only[0].numpy(), fine),
                colorize(np.asarray(row[LABEL]), fine),
                colorize(student_pred[0].numpy(), fine),
            ]
        )
    titles = ["image", "ground truth (native)", "teacher", "constrained pseudo-label", "student"]
    comparison_grid(panels, titles).save(output / "comparison.png")

"""The demo's student trained on hard pseudo-labels, with the partial-label loss, and with both.

    python bench/bench_student_targets.py [--output DIR] [--json FILE] [--steps N]
                                          [--targets hard partial both] [--seeds 0 1]

Runs `unify demo` (default settings) once per kind of targets and student seed, one after the other, into one
output folder: the first run trains the teacher, the later ones find its finished run and reuse it, so only
the student differs (`unify.demo.student_folder`: `student/` for the default targets, else
`student-<targets>/`, and `student-<targets>-seed<k>/` for seeds other than 0; a finished student is reused).
Prints the teacher's and each student's mIoU on the source validation split and on the held-out shifted split,
per seed and averaged over the seeds, the seconds of each run and of its student alone, and whether each
student beats the teacher on both splits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch

from unify.demo import DemoSettings, run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="demo folder shared by the runs (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--steps", type=int, default=DemoSettings.steps, help="training steps of teacher and student")
    parser.add_argument("--targets", nargs="+", default=["hard", "partial", "both"], help="kinds of targets, in order")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="student seeds (the teacher's is 0)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        output = args.output or Path(tmp)
        runs: dict[str, dict[int, dict]] = {targets: {} for targets in args.targets}
        for seed in args.seeds:
            for targets in args.targets:
                settings = DemoSettings(steps=args.steps, student_targets=targets, student_seed=seed)
                metrics = run_demo(output, settings)
                runs[targets][seed] = metrics
                (output / f"metrics-{targets}-seed{seed}.json").write_text(json.dumps(metrics, indent=2))
    teachers = {(m["teacher_miou"], m["teacher_miou_shifted"]) for by_seed in runs.values() for m in by_seed.values()}
    teacher_miou, teacher_miou_shifted = next(iter(teachers))
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "seeds": args.seeds,
        "teacher": {
            "miou": teacher_miou,
            "miou_shifted": teacher_miou_shifted,
            "same_in_every_run": len(teachers) == 1,
        },
        "students": {
            targets: summary(by_seed, teacher_miou, teacher_miou_shifted) for targets, by_seed in runs.items()
        },
    }
    print(f"{'':<16}{'source val':>12}{'shifted':>10}{'run s':>8}{'student s':>11}")
    print(f"{'teacher':<16}{teacher_miou:>12.3f}{teacher_miou_shifted:>10.3f}")
    for targets, student in figures["students"].items():
        for seed, run in student["per_seed"].items():
            print(
                f"{f'{targets} seed {seed}':<16}{run['miou']:>12.3f}{run['miou_shifted']:>10.3f}"
                f"{run['seconds']:>8.0f}{run['student_seconds']:>11.0f}"
            )
        if len(student["per_seed"]) > 1:
            print(f"{f'{targets} mean':<16}{student['miou']:>12.3f}{student['miou_shifted']:>10.3f}")
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def summary(by_seed: dict[int, dict], teacher_miou: float, teacher_miou_shifted: float) -> dict:
    """One kind of targets: its runs per seed and their means, and whether every seed beats the teacher."""
    per_seed = {
        seed: {
            "miou": m["student_miou"],
            "miou_shifted": m["student_miou_shifted"],
            "seconds": m["seconds"],
            "student_seconds": m["stage_seconds"]["student"],
        }
        for seed, m in by_seed.items()
    }
    return {
        "miou": statistics.mean(run["miou"] for run in per_seed.values()),
        "miou_shifted": statistics.mean(run["miou_shifted"] for run in per_seed.values()),
        "beats_teacher": all(
            run["miou"] >= teacher_miou and run["miou_shifted"] >= teacher_miou_shifted for run in per_seed.values()
        ),
        "per_seed": per_seed,
    }


if __name__ == "__main__":
    main()

"""The demo's student trained on hard pseudo-labels, with the partial-label loss, and with both.

    python bench/bench_student_targets.py [--output DIR] [--json FILE] [--steps N] [--targets hard partial both]

Runs `unify demo` (default settings) once per kind of targets, one after the other, into one output
folder: the first run trains the teacher, the later ones find its finished run and reuse it, so only the
student differs (`student/`, `student-partial/`, `student-both/`). Prints the teacher's and each student's
mIoU on the source validation split and on the held-out shifted split, the seconds of each run and of its
student alone, and whether each student beats the teacher on both splits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        output = args.output or Path(tmp)
        runs = {}
        for targets in args.targets:
            metrics = run_demo(output, dataclasses.replace(DemoSettings(), steps=args.steps, student_targets=targets))
            runs[targets] = metrics
            (output / f"metrics-{targets}.json").write_text(json.dumps(metrics, indent=2))
    first = runs[args.targets[0]]
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "teacher": {
            "miou": first["teacher_miou"],
            "miou_shifted": first["teacher_miou_shifted"],
            "same_in_every_run": len({(m["teacher_miou"], m["teacher_miou_shifted"]) for m in runs.values()}) == 1,
        },
        "students": {
            t: {
                "miou": m["student_miou"],
                "miou_shifted": m["student_miou_shifted"],
                "beats_teacher": m["student_miou"] >= m["teacher_miou"]
                and m["student_miou_shifted"] >= m["teacher_miou_shifted"],
                "seconds": m["seconds"],
                "student_seconds": m["stage_seconds"]["student"],
            }
            for t, m in runs.items()
        },
    }
    print(f"{'':<10}{'source val':>12}{'shifted':>10}{'run s':>8}{'student s':>11}")
    print(f"{'teacher':<10}{figures['teacher']['miou']:>12.3f}{figures['teacher']['miou_shifted']:>10.3f}")
    for targets, student in figures["students"].items():
        print(
            f"{targets:<10}{student['miou']:>12.3f}{student['miou_shifted']:>10.3f}{student['seconds']:>8.0f}"
            f"{student['student_seconds']:>11.0f}"
        )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

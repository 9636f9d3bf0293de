"""Wall time of `unify demo` with its default settings, stage by stage.

    python bench/bench_demo.py [--output DIR] [--json FILE]

The issue's target: the whole demo within 10 minutes on a 2-core CPU, with the student at least
as good as the teacher on both evaluation splits and constrained pseudo-labels more accurate
than the teacher alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import torch

from unify.demo import DemoSettings, run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="demo folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        metrics = run_demo(args.output or Path(tmp), DemoSettings())
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        **metrics,
        "within_10_minutes": metrics["seconds"] <= 600,
        "student_beats_teacher": metrics["student_miou"] >= metrics["teacher_miou"]
        and metrics["student_miou_shifted"] >= metrics["teacher_miou_shifted"],
        "constrained_beats_unconstrained": metrics["pseudo_label_pixel_accuracy_constrained"]
        > metrics["pseudo_label_pixel_accuracy_unconstrained"],
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

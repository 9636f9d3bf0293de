"""`unify demo`: the whole method on the built-in synthetic driving world."""

from __future__ import annotations

import dataclasses
from pathlib import Path

STUDENT_TARGETS = ("hard", "partial", "both")
"""`train.config.TARGETS`, written out so that `unify` starts without importing torch (a test keeps them equal)."""


def add_parser(subparsers) -> None:
    """Register `unify demo` and its options on the `unify` command's subparsers."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole method on the built-in synthetic world",
        description="Build three synthetic driving datasets (a source in the fine taxonomy, a coarse extra, a "
        "domain-shifted extra with unlabeled regions), train a teacher on the source, pseudo-label the "
        "extras with and without the ground-truth constraint, train a student of the same size for "
        "the same steps on the compound, and compare them. About 7 minutes on a 2-core CPU. Run again into the "
        "same --output, it builds the small datasets again and reuses the finished teacher, pseudo-labels and "
        "student.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("demo_output"),
        help="folder for datasets, models, comparison.png and metrics.json (default: demo_output)",
    )
    parser.add_argument("--quick", action="store_true", help="a seconds-long run with tiny data, for tests")
    parser.add_argument(
        "--steps", type=int, help="training steps of teacher and student, >= 1 (default: 800; 4 with --quick)"
    )
    parser.add_argument(
        "--student-targets",
        choices=STUDENT_TARGETS,
        help="what the student learns from the extras: hard pseudo-labels, the partial-label loss on "
        "the classes each native label allows, or both (default: partial). A student with other "
        "than the default targets goes to student-<targets>/ and reuses the teacher",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run the demo (`unify.demo.run_demo`) as `args` say and print its comparison; returns the exit status 0.

    Prints the teacher's and the student's mIoU on the source validation split and on the shifted domain, and
    the constrained and unconstrained pseudo-labels' pixel accuracy against the hidden fine truth (fractions).
    Bad settings raise `UnifyError`, which `main` prints.
    """
    from unify.demo import QUICK, DemoSettings, run_demo

    settings = QUICK if args.quick else DemoSettings()
    if args.steps is not None:  # --steps 0 is refused, not read as the default
        settings = dataclasses.replace(settings, steps=args.steps)
    if args.student_targets:
        settings = dataclasses.replace(settings, student_targets=args.student_targets)
    metrics = run_demo(args.output, settings)
    rows = [
        ("mIoU, source validation", "teacher_miou", "student_miou"),
        ("mIoU, shifted domain", "teacher_miou_shifted", "student_miou_shifted"),
    ]
    print(f"\n{'':<28}{'teacher':>10}{'student':>10}   (student targets: {metrics['student_targets']})")
    for title, teacher, student in rows:
        print(f"{title:<28}{metrics[teacher]:>10.3f}{metrics[student]:>10.3f}")
    print(
        f"\npseudo-label pixel accuracy vs hidden truth: constrained "
        f"{metrics['pseudo_label_pixel_accuracy_constrained']:.3f}, teacher alone "
        f"{metrics['pseudo_label_pixel_accuracy_unconstrained']:.3f}"
    )
    print(f"wrote {args.output}/metrics.json and {args.output}/comparison.png in {metrics['seconds']:.0f} s")
    return 0

"""`unify mappings`: list the registered mappings, check one, draft one from a teacher, or audit one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

AUDIT_HELP = """\
reading the audit:
  conflict  the share of the native class's pixels where the teacher, choosing freely among all unified
            classes, chose one its mapping line does not allow; '-' for void lines (nothing to conflict
            with) and classes never seen. A '*' line never conflicts.
  pixels    counted on the teacher's output grid (for SegFormer one per 4 x 4 image pixels).
  A high conflict means the line or the teacher is wrong; a few percent come from class borders. From a
  conflict of 20% on, a hint gives the line that `unify mappings suggest`'s rule draws from the teacher's
  choices; after editing the mapping file, rebuild the dataset (`unify build`) and pseudo-label it again."""
HINT_CONFLICT = 0.2
"""Conflict share from which the audit prints how the line could read (below it: mostly class borders)."""
LINE_WIDTH = 32
"""Widest mapping line the audit's table prints whole; longer ones end in `...` (`--json` has them whole)."""


def add_parser(subparsers) -> None:
    """Register `unify mappings` and its actions `check`, `suggest` and `audit` on the `unify` command's subparsers."""
    parser = subparsers.add_parser(
        "mappings",
        help="list mappings, check one, or suggest a draft",
        description="Without arguments, list every registered (native, unified) mapping. "
        "`check DATASET TAXONOMY` validates one and prints its coverage; "
        "`suggest DATASET TAXONOMY` drafts one from a teacher's predictions.",
    )
    actions = parser.add_subparsers(
        dest="action",
        metavar="ACTION",
        help="check: validate one mapping; suggest: draft one from a teacher; "
        "audit: find mapping lines the teacher disagrees with",
    )
    check = actions.add_parser(
        "check",
        help="validate one mapping and print how each native class is treated",
        description="Read the mapping file of DATASET (a native taxonomy) into TAXONOMY, report every problem in "
        "it at once, and print the native classes grouped by what happens to "
        "them: one-to-one, one-to-many, fill-in (*), maybe void (classes "
        "with void beside them) and void.",
    )
    check.add_argument(
        "dataset",
        help="native taxonomy (`unify taxonomies`), e.g. synthetic_coarse or idd_lite; or a builder's name "
        "(`unify datasets`) when its configurations share one native taxonomy",
    )
    check.add_argument("taxonomy", help="unified taxonomy")
    suggest = actions.add_parser(
        "suggest",
        help="draft a mapping file from what a teacher predicts on each native class",
        description="Run a teacher (any transformers semantic-segmentation or mask-classification model, e.g. "
        "SegFormer, UperNet, DPT, BEiT, Mask2Former, OneFormer; its id2label the unified taxonomy) over "
        "a sample of the dataset read from its raw folder, count how often each native class is "
        "predicted as each unified class, and write a draft mapping file with those shares as "
        "comments, for a person to edit. The rule is described in the draft's header.",
    )
    suggest.add_argument("dataset", help="builder name, as `unify datasets` lists it")
    suggest.add_argument("taxonomy", help="unified taxonomy the teacher predicts")
    suggest.add_argument("--teacher", type=Path, required=True, help="teacher model folder (save_pretrained) or Hub id")
    suggest.add_argument("--data-dir", type=Path, help="root of the raw dataset (not needed for synthetic_driving)")
    suggest.add_argument("--config", help="builder configuration (default: the builder's first)")
    suggest.add_argument("--samples", type=int, default=64, help="images to run the teacher on (default: 64)")
    suggest.add_argument("--output", type=Path, required=True, help="draft mapping file to write")
    suggest.add_argument(
        "--min-share",
        type=float,
        default=0.05,
        help="share of a native class's pixels that makes a unified class allowed (default: 0.05)",
    )
    suggest.add_argument(
        "--spread",
        type=float,
        default=0.5,
        help="perplexity, as a fraction of the unified classes, from which a class becomes '*' (default: 0.5)",
    )
    suggest.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    suggest.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    audit = actions.add_parser(
        "audit",
        help="list the native classes whose mapping line the teacher disagrees with most",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=AUDIT_HELP,
        description="Read the mapping audit of a pseudo-labelled dataset (its pseudo_label_report.json, written "
        "by `unify pseudo-label`) and print its native classes by conflict share, highest first: how "
        "often the teacher's own choice falls outside the classes the mapping line allows, what it "
        "chose instead, and how the line could read.",
    )
    audit.add_argument("report", type=Path, help="pseudo_label_report.json, or the folder `unify pseudo-label` wrote")
    audit.add_argument("--top", type=int, default=10, help="native classes to print (default: 10; 0: all)")
    audit.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run the chosen action; returns the exit status 0.

    Without an action, print every registered mapping as `native -> unified`. `check` prints how each native
    class is treated (`LabelMapping.coverage`) and the unified classes only fill-in reaches; `suggest` and
    `audit` are `run_suggest` and `run_audit`. A missing or invalid mapping raises `UnifyError` (from
    `get_mapping`), which `main` prints.
    """
    if args.action == "suggest":
        return run_suggest(args)
    if args.action == "audit":
        return run_audit(args)
    from unify.core.mapping import get_mapping, list_mappings

    if args.action != "check":
        for native, unified in list_mappings():
            print(f"{native} -> {unified}")
        return 0
    native = native_taxonomy_name(args.dataset)
    mapping = get_mapping(native, args.taxonomy)
    coverage = mapping.coverage()
    print(f"{native} -> {args.taxonomy}: {len(mapping.native.classes)} native classes, all accounted for")
    for group, names in coverage.items():
        print(f"  {group:<12}{len(names):>4}  {', '.join(names)}")
    unreached = [
        c.name
        for c in mapping.unified.trainable
        if not any(c.id in ids for ids in mapping.allowed.values() if len(ids) < mapping.unified.num_labels)
    ]
    if unreached:
        print(f"  unified classes only reachable by fill-in: {', '.join(unreached)}")
    return 0


def native_taxonomy_name(name: str) -> str:
    """The native taxonomy `name` stands for: itself when it is a registered taxonomy (or alias), else the one
    native taxonomy of the builder called `name` (the `native_taxonomy` of its configurations).

    Raises `UnifyError` for a builder whose configurations use several native taxonomies (listing each
    configuration's), and for a name that is neither a taxonomy nor a builder (as `get_taxonomy` does).
    """
    from dataset_scripts import builder_registry
    from unify.core.errors import UnifyError
    from unify.core.taxonomy import get_taxonomy, list_taxonomies

    builder = builder_registry().get(name)
    if name in list_taxonomies() or builder is None:
        return get_taxonomy(name).name
    by_config = {config.name: config.native_taxonomy for config in builder.BUILDER_CONFIGS}
    natives = sorted(set(by_config.values()))
    if len(natives) > 1:
        listed = ", ".join(f"{native} (--config {config})" for config, native in by_config.items())
        raise UnifyError(
            f"{name} is a dataset builder whose configurations use {len(natives)} native taxonomies: {listed}; "
            f"name the one to check, e.g. `unify mappings check {natives[0]} TAXONOMY`"
        )
    return natives[0]


def run_suggest(args) -> int:
    """`unify mappings suggest`: write a draft mapping file from a teacher's predictions and print its lines.

    The rule is `unify.suggest.SuggestionRule` with `--min-share` and `--spread` (its minimum evidence capped at
    `--min-share`); returns the exit status 0. Bad input (an existing `--output` without `--force`, a teacher that
    predicts another taxonomy, a dataset without samples) raises `UnifyError` from `suggest_mapping`.
    """
    from unify.suggest import SuggestionRule, suggest_mapping

    rule = SuggestionRule(
        min_share=args.min_share, min_evidence=min(SuggestionRule.min_evidence, args.min_share), spread=args.spread
    )
    suggestion = suggest_mapping(
        args.dataset,
        args.taxonomy,
        args.teacher,
        args.output,
        data_dir=args.data_dir,
        config=args.config,
        samples=args.samples,
        rule=rule,
        device=args.device,
        overwrite=args.force,
    )
    print(
        f"wrote {suggestion.output}: a draft {suggestion.native.name} -> {suggestion.unified.name} from "
        f"{suggestion.num_images} images"
    )
    for line in suggestion.lines:
        print(f"  {line.native} : {line.targets}")
    for skip in suggestion.skipped:
        print(f"skipped {skip}")
    print(f"review it, then move it to unify/mappings/{suggestion.native.name}/{suggestion.unified.name}.txt")
    return 0


def run_audit(args) -> int:
    """`unify mappings audit`: print the mapping audit of a pseudo-label report, highest conflict first.

    `args.report` is `pseudo_label_report.json` or the folder `unify pseudo-label` wrote. Prints `--top` rows
    (0: all) as a table, with a hint of how a line could read where the conflict share is at least
    `HINT_CONFLICT`, or as JSON with `--json`; conflict shares are printed as percentages of the native class's
    pixels. Returns the exit status 0. Raises `UnifyError` for a negative `--top`; `read_report` raises it for
    a missing report (saying what a folder without one is), `audit_rows` for a report without an audit.
    """
    from unify.core.errors import UnifyError
    from unify.pseudo_label_driver import audit_rows, read_report

    if args.top < 0:
        raise UnifyError(f"--top must be >= 0, got {args.top}")
    path, report = read_report(args.report)
    rows = audit_rows(report, str(path))
    rows = rows[: args.top] if args.top else rows
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    audit = report["mapping_audit"]
    print(
        f"{audit['native_taxonomy']} -> {audit['unified_taxonomy']}: the teacher's own choice on each native class "
        f"({path}), highest conflict first"
    )
    width = max([len("native class"), *(len(r["native"]) for r in rows)])
    line_width = min(max([len("line"), *(len(r["line"]) for r in rows)]), LINE_WIDTH)
    print(f"{'native class':<{width}}  {'conflict':>8}  {'pixels':>11}  {'line':<{line_width}}  the teacher chose")
    for row in rows:
        share = "-" if row["conflict_share"] is None else f"{100 * row['conflict_share']:.1f}%"
        chose = ", ".join(f"{p['class']} {100 * p['share']:.1f}%" for p in row["preferred"]) or "nothing (not seen)"
        line = row["line"] if len(row["line"]) <= line_width else row["line"][: line_width - 3].rstrip(", ") + "..."
        print(f"{row['native']:<{width}}  {share:>8}  {row['pixels']:>11,}  {line:<{line_width}}  {chose}")
        hint = _audit_hint(row, audit)
        if hint:
            print(f"{'':<{width}}  hint: {hint}")
    return 0


def _audit_hint(row: dict, audit: dict) -> str | None:
    """How the line could read if the teacher is right, where the teacher chose classes the line does not allow."""
    from unify.core.mapping import ALL, VOID, mapping_path
    from unify.core.taxonomy import resolve_alias

    listed = [n for n in row["line"].split(", ") if n != VOID]
    suggested = [n for n in row.get("teacher_line", "").split(", ") if n and n != VOID]
    if (row["conflict_share"] or 0) < HINT_CONFLICT or ALL in listed or not set(suggested) - set(listed):
        return None
    line = ", ".join(suggested + ([VOID] if VOID in row["line"].split(", ") else []))
    path = mapping_path(resolve_alias(audit["native_taxonomy"]), audit["unified_taxonomy"])
    where = path if path.is_file() else f"the {audit['native_taxonomy']} -> {audit['unified_taxonomy']} mapping file"
    return (
        f"if the teacher is right, the line would read `{row['native']} : {line}` in {where}; "
        f"then rebuild the dataset and pseudo-label it again"
    )

"""The report of a run: the statistics of the shards in `data/` summed, and the mapping audit.

`pseudo_label_report.json` holds pixels by provenance and by unified class, the accuracy against a hidden
fine truth where there is one (the synthetic world), and `mapping_audit`: for each native class, what the
teacher would have chosen on its own. Mistakes in a mapping file are the main way the method goes wrong,
and they show there: a native class whose pixels the teacher mostly puts outside the classes its line allows
(`conflict_share`) has a line to check. The counts are taken on the teacher's output grid (one count per
output cell, for SegFormer one per 4 x 4 image pixels; see `teacher_choice_counts`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from unify.core.constants import METADATA_FILE, PROVENANCE_NAMES, REPORT_FILE
from unify.core.errors import UnifyError
from unify.core.folder import BUILT, FolderMetadata, split_shards
from unify.core.mapping import ALL, VOID, LabelMapping
from unify.core.segmenter import Segmenter
from unify.pseudo_label_driver.fingerprints import read_stats
from unify.pseudo_label_driver.options import LabellingOptions
from unify.suggest import SuggestionRule, draft_lines

AUDIT_TOP = 5
"""Unified classes listed per native class in the audit, most chosen first."""


def merge_statistics(
    output_dir: Path, splits, mapping: LabelMapping, segmenter: Segmenter, options: LabellingOptions
) -> dict:
    """Sum the statistics of the shards that are in `data/` (and only those) into the report."""
    unified = mapping.unified
    counts = torch.zeros(len(PROVENANCE_NAMES), unified.num_labels + 1, dtype=torch.int64)
    accuracy = {"constrained": [0, 0], "unconstrained": [0, 0]}
    choices = np.zeros((mapping.native.max_id + 1, unified.num_labels), dtype=np.int64)
    shards = split_shards(output_dir)
    for split in splits:
        for data_shard in shards.get(split, []):
            shard = read_stats(data_shard)
            counts += torch.tensor(shard["counts"])
            for key in accuracy:
                accuracy[key] = [a + b for a, b in zip(accuracy[key], shard["accuracy"][key], strict=True)]
            for native_id, row in shard["teacher_choices"].items():
                choices[int(native_id)] += row
    names = [c.name for c in unified.trainable] + ["void"]
    total = max(int(counts.sum()), 1)
    report = {
        "teacher": segmenter.identity.to_json(),
        "taxonomy": unified.name,
        "splits": list(splits),
        "tta": {"scales": list(options.scales), "flip": options.flip},
        "pixels_by_provenance": {p: int(counts[i].sum()) for i, p in enumerate(PROVENANCE_NAMES)},
        "share_by_provenance": {p: round(int(counts[i].sum()) / total, 6) for i, p in enumerate(PROVENANCE_NAMES)},
        "pixels_by_class": {n: int(counts[:, j].sum()) for j, n in enumerate(names)},
        "pixels_by_provenance_and_class": {
            p: {n: int(counts[i, j]) for j, n in enumerate(names) if counts[i, j]}
            for i, p in enumerate(PROVENANCE_NAMES)
        },
    }
    if accuracy["constrained"][1]:
        report["pixel_accuracy_vs_fine_truth"] = {k: v[0] / v[1] for k, v in accuracy.items()}
    report["mapping_audit"] = mapping_audit(mapping, choices)
    return report


def mapping_audit(mapping: LabelMapping, choices: np.ndarray) -> dict:
    """Per native class, the teacher's unconstrained choices against what its mapping line allows.

    `choices` (native max id + 1, C) int64 counts how often the teacher's argmax was each unified class on
    that native class. Per class: `line` (its mapping line's classes), `pixels` (counts on the teacher's
    grid), `conflict_share` (the share whose choice the line does not allow: 0 for `*` lines; None for void
    lines and classes never seen), `preferred` (the `AUDIT_TOP` most chosen classes with their shares) and,
    where seen, `teacher_line` (the line `unify mappings suggest`'s rule draws from the same counts).
    """
    names = [c.name for c in mapping.unified.trainable]
    drafts = {
        line.native: line.targets for line in draft_lines(choices, mapping.native, mapping.unified, SuggestionRule())
    }
    classes = {}
    for native in mapping.native.classes:
        row, allowed = choices[native.id], list(mapping.allowed[native.id])
        pixels = int(row.sum())
        entry = {
            "native_id": native.id,
            "line": line_text(mapping, native.id),
            "pixels": pixels,
            "conflict_share": round(1 - int(row[allowed].sum()) / pixels, 6) if pixels and allowed else None,
            "preferred": [
                {"class": names[j], "share": round(int(row[j]) / pixels, 6)}
                for j in np.argsort(-row, kind="stable")[:AUDIT_TOP]
                if row[j]
            ],
        }
        if pixels:
            entry["teacher_line"] = drafts[native.name]
        classes[native.name] = entry
    return {
        "native_taxonomy": mapping.native.name,
        "unified_taxonomy": mapping.unified.name,
        "counted_on": "teacher output grid",
        "classes": classes,
    }


def line_text(mapping: LabelMapping, native_id: int) -> str:
    """The right-hand side of a native class's mapping line: `a, b`, `*`, `void`, with `, void` beside classes."""
    allowed = mapping.allowed[native_id]
    if not allowed:
        return VOID
    text = (
        ALL if len(allowed) == mapping.unified.num_labels else ", ".join(mapping.unified.by_id[i].name for i in allowed)
    )
    return text + (f", {VOID}" if native_id in mapping.void_allowed else "")


def read_report(target: Path | str) -> tuple[Path, dict]:
    """The path and content of the pseudo-label report `target`: `pseudo_label_report.json`, or the folder of it.

    Raises `UnifyError` naming the path for: a path that does not exist; a folder without the report, saying
    what the folder is instead (a built dataset: pseudo-label it first; a pseudo-labelled one: its run has not
    finished; anything else); a file that is not JSON, or whose JSON is not an object.
    """
    target = Path(target)
    if not target.exists():
        raise UnifyError(f"{target} does not exist; give a folder written by `unify pseudo-label` or its {REPORT_FILE}")
    path = target / REPORT_FILE if target.is_dir() else target
    if not path.is_file():
        raise UnifyError(_without_report(target))
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnifyError(f"{path} is not a readable pseudo-label report ({exc})") from exc
    if not isinstance(report, dict):
        raise UnifyError(f"{path} is not a pseudo-label report: it holds a JSON {type(report).__name__}, not an object")
    return path, report


def _without_report(folder: Path) -> str:
    """Why `folder` has no report, and what to do."""
    if not (folder / METADATA_FILE).is_file():
        return (
            f"{folder} is not a folder written by `unify pseudo-label` (no {REPORT_FILE}, no {METADATA_FILE}); "
            f"give such a folder or its {REPORT_FILE}"
        )
    if FolderMetadata.read(folder).kind == BUILT:
        return (
            f"{folder} is a built dataset (written by `unify build`): it holds ground truth, not a teacher's choices "
            f"to audit; pseudo-label it first (`unify pseudo-label --teacher TEACHER --dataset {folder} --output "
            f"OUT`) and audit OUT"
        )
    return (
        f"{folder} has no {REPORT_FILE}: the `unify pseudo-label` run that writes it has not finished; run the "
        f"same command again to finish it (finished shards are reused)"
    )


AUDIT_KEYS = ("native_taxonomy", "unified_taxonomy", "classes")
"""Keys of a report's `mapping_audit` (`mapping_audit`)."""
CLASS_KEYS = ("native_id", "line", "pixels", "conflict_share", "preferred")
"""Keys of each native class's entry in the audit (`mapping_audit`)."""


def audit_rows(report: dict, source: str = "the report") -> list[dict]:
    """The audit's native classes, most suspicious first: by conflict share, then pixels (void lines last).

    Each row is `{"native": name, **entry}` with the entry of `mapping_audit`. `UnifyError` naming `source`
    when the report has no audit (written by an earlier version: pseudo-label again), when it is no pseudo-label
    report at all, or when its audit lacks `AUDIT_KEYS` or a class entry lacks `CLASS_KEYS`.
    """
    audit = report.get("mapping_audit")
    if audit is None and "pixels_by_provenance" not in report:
        raise UnifyError(
            f"{source} is not a pseudo-label report (no mapping_audit, no pixels_by_provenance; its keys are "
            f"{sorted(report)[:10]}); give the {REPORT_FILE} that `unify pseudo-label` writes"
        )
    if audit is None:
        raise UnifyError(
            f"{source} has no mapping_audit; it was written by an earlier version of unify: run "
            f"`unify pseudo-label` again with the same --output (finished shards are relabelled)"
        )
    rerun = "run `unify pseudo-label` again with the same --output to write it anew"
    if not isinstance(audit, dict) or any(k not in audit for k in AUDIT_KEYS) or not isinstance(audit["classes"], dict):
        raise UnifyError(f"{source}: mapping_audit is not an object with {', '.join(AUDIT_KEYS)}; {rerun}")
    broken = [
        name
        for name, entry in audit["classes"].items()
        if not isinstance(entry, dict) or any(k not in entry for k in CLASS_KEYS)
    ]
    if broken:
        raise UnifyError(f"{source}: mapping_audit entries {broken[:5]} lack some of {', '.join(CLASS_KEYS)}; {rerun}")
    rows = [{"native": name, **entry} for name, entry in audit["classes"].items()]
    return sorted(rows, key=lambda r: (r["conflict_share"] is None, -(r["conflict_share"] or 0), -r["pixels"]))

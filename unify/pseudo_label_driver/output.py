"""What the output folder holds already: refused, cleared or kept, and the shards this run will write.

Before any work, every process checks the output folder: it must be new, or this driver's output whose
finished shards were made with this run's settings (else the run is refused, naming what differs, unless
`overwrite` replaces them). A split the folder holds that this run does not name is kept when its shards
are up to date (all there, made from the input's current rows); an out-of-date one is refused, naming why,
unless `overwrite` removes it. Then the main process removes what can never be reused: the leftovers of a
killed run, and shards of a split cut into another number of shards.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import datasets
from accelerate import Accelerator

from unify.core.constants import METADATA_FILE, REPORT_FILE
from unify.core.errors import UnifyError
from unify.core.folder import (
    ID2LABEL_FILE,
    PSEUDO_LABELLED,
    FolderMetadata,
    load_split,
    shard_name,
    split_shards,
)
from unify.pseudo_label_driver.fingerprints import STATS_FOLDER, read_stats, shard_fingerprint, stale, stats_path

logger = logging.getLogger(__name__)
FOLDER_FILES = (METADATA_FILE, ID2LABEL_FILE, "README.md", REPORT_FILE)
"""Files a finished run writes at the output's root (with `metadata/`), last."""
_FLAGS = {
    "teacher_sha256": "--teacher",
    "teacher_normalization": "--teacher",
    "tta": "--tta / --scales",
    "precision": "--dtype",
    "unified_taxonomy": "--dataset (rebuilt)",
    "mapping": "--dataset (rebuilt)",
    "format_version": "this package's version",
}
"""The command-line option behind each setting, named when a rerun is refused."""


@dataclass
class Work:
    """One shard to label (or to find finished): which rows of which split, and where it goes."""

    split: str
    rows: datasets.Dataset
    start: int  # position of the shard's first row in the split
    path: Path  # the shard's Parquet file
    desc: str  # for the progress bar


def prepare_output(
    input_dir: Path,
    output_dir: Path,
    settings: dict,
    named: list[str],
    source: FolderMetadata,
    overwrite: bool,
    accelerator: Accelerator,
) -> list[str]:
    """Refuse an output folder that is no place for these labels; clear what cannot be reused; the splits kept.

    `named` are the splits this run labels, `source` the input folder's metadata. Every process checks (so
    that all raise alike) before the main process removes anything: leftovers of a killed run always; with
    `overwrite`, the labels and folder files of an earlier run whose settings differ, and the shards of an
    out-of-date split that `named` leaves out. Returns the splits the folder holds, `named` leaves out and
    are up to date (every shard there, made from the input's current rows with `settings`): the run keeps
    them. Raises `UnifyError` naming the folder, what differs (or the out-of-date split and why) and the
    flag that overwrites.
    """
    if output_dir.resolve() == input_dir.resolve():
        raise UnifyError(f"--output {output_dir} is the input folder; write the pseudo-labels to another folder")
    _check_folder_kind(output_dir, overwrite)
    finished, unverifiable = _earlier_shards(output_dir)
    differing = {name: stats for name, stats in finished.items() if stats["fingerprint"]["settings"] != settings}
    if (differing or unverifiable) and not overwrite:
        raise UnifyError(_refusal(output_dir, settings, differing, unverifiable))
    held = _shards_by_split(output_dir)
    unnamed = {split: paths for split, paths in held.items() if split not in named}
    kept, stale = [], {}
    if not (differing or unverifiable):  # else every shard is replaced, and nothing is kept
        for split, paths in unnamed.items():
            why = _out_of_date(input_dir, split, paths, source, settings)
            if why is None:
                kept.append(split)
            else:
                stale[split] = why
    if stale and not overwrite:
        raise UnifyError(
            "; ".join(
                f"{output_dir} holds split {split}, which --splits does not name, and its labels are out of date: {why}"
                for split, why in stale.items()
            )
            + ". Name the split in --splits to label it again, pass --overwrite to remove it, or choose another "
            "--output"
        )
    accelerator.wait_for_everyone()  # every process has read the folder before anything is removed
    if accelerator.is_main_process:
        if differing or unverifiable:
            dropped = f"; split(s) {', '.join(unnamed)}, which --splits does not name, go with them" if unnamed else ""
            logger.warning(
                "replacing the pseudo-labels in %s: %s%s",
                output_dir,
                _refusal(output_dir, settings, differing, unverifiable).split(": ", 1)[1],
                dropped,
            )
            for name in ("data", STATS_FOLDER, "metadata", *FOLDER_FILES):
                target = output_dir / name
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        for split, why in stale.items():
            logger.warning(
                "removed split %s from %s (--overwrite; --splits does not name it): %s", split, output_dir, why
            )
            for path in held[split]:
                path.unlink()
                stats_path(path).unlink(missing_ok=True)
        _remove_leftovers(output_dir)
    accelerator.wait_for_everyone()
    for split in kept:
        logger.info(
            "kept split %s: its %d shard(s) are up to date (--splits does not name it)", split, len(held[split])
        )
    return kept


def _shards_by_split(output_dir: Path) -> dict[str, list[Path]]:
    """`split_shards` of the output folder, empty when it holds no shards (yet)."""
    try:
        return split_shards(output_dir)
    except UnifyError:
        return {}


def _out_of_date(input_dir: Path, split: str, paths: list[Path], source: FolderMetadata, settings: dict) -> str | None:
    """Why the shards `paths` of `split` are not the labels of the input's split under `settings`; None if they are.

    Up to date means: the input still has the split; the shards are all of one count and all there; their
    statistics hold every count this version reports; and their rows, in order, cover the input's split, each
    shard's fingerprint (`shard_fingerprint`) equal to that of the input's rows now. Reads the input's rows
    (no teacher); the settings were compared by the caller.
    """
    if split not in source.splits:
        return f"{input_dir} has no split {split} (it has {', '.join(source.splits)})"
    counts = sorted({int(path.stem.rsplit("-", 1)[1]) for path in paths})
    if len(counts) > 1:
        return f"its shards are of {len(counts)} shard counts ({', '.join(p.name for p in paths)})"
    present = {path.name for path in paths}
    missing = [
        shard_name(split, i, counts[0]) for i in range(counts[0]) if shard_name(split, i, counts[0]) not in present
    ]
    if missing:
        return (
            f"of its {counts[0]} shards, {len(missing)} are missing (e.g. {missing[0]}): a run was stopped before "
            "it finished the split"
        )
    table = load_split(input_dir, split, decode=False)
    end = 0
    for path in paths:
        stats = read_stats(path)
        start, stop = stats["fingerprint"]["rows"]
        if start != end or stop > len(table):
            return (
                f"{path.name} holds rows {start}..{stop - 1}, which do not follow on in the input's {len(table)} rows"
            )
        why = stale(stats, shard_fingerprint(settings, list(table.select(range(start, stop))), start, source.columns))
        if why is not None:
            return f"{path.name}: {why}"
        end = stop
    if end != len(table):
        return f"its shards hold {end} rows, the input's split has {len(table)}"
    return None


def _check_folder_kind(output_dir: Path, overwrite: bool) -> None:
    """`UnifyError` unless `output_dir` is new, or a pseudo-labelled folder (of this format, or `overwrite`).

    A folder with shard statistics is this driver's output, whose `unify.json` a killed run may have left
    half-written: its shards' fingerprints decide what happens to it, not its `unify.json`.
    """
    if (output_dir / STATS_FOLDER).is_dir() or not (output_dir / METADATA_FILE).is_file():
        return
    try:
        kind = FolderMetadata.read(output_dir).kind
    except UnifyError as exc:
        if overwrite:
            return
        raise UnifyError(
            f"--output {output_dir} holds a dataset this package cannot read ({exc}); pass "
            f"--overwrite to replace it, or choose another --output"
        ) from exc
    if kind != PSEUDO_LABELLED:
        raise UnifyError(
            f"--output {output_dir} is a {kind} dataset folder, not pseudo-labels; choose another "
            f"--output (--overwrite never replaces another kind of folder)"
        )


def _earlier_shards(output_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """Finished shards (data file and statistics) -> their statistics, and data files without statistics."""
    finished, unverifiable = {}, []
    for path in sorted((output_dir / "data").glob("*.parquet")):
        if stats_path(path).is_file():
            finished[path.name] = read_stats(path)
        else:
            unverifiable.append(path.name)
    return finished, unverifiable


def _refusal(output_dir: Path, settings: dict, differing: dict[str, dict], unverifiable: list[str]) -> str:
    """The error for an output folder that holds labels of other (or unknown) settings."""
    if not differing:
        return (
            f"{output_dir} holds {len(unverifiable)} shard(s) without the statistics that say how they were "
            f"made (e.g. {unverifiable[0]}), so they cannot be reused: pass --overwrite to replace them, or "
            f"choose another --output"
        )
    name, stats = next(iter(differing.items()))
    recorded = stats["fingerprint"]["settings"]
    earlier_teacher = (stats.get("teacher") or {}).get("name")
    differs = []
    for key, value in settings.items():
        if recorded.get(key) != value:
            there, now = _short(recorded.get(key)), _short(value)
            if key == "teacher_sha256" and earlier_teacher:
                there += f" (teacher {earlier_teacher})"
            differs.append(f"{key}: {there} there, {now} now (set by {_FLAGS.get(key, key)})")
    return (
        f"{output_dir} holds pseudo-labels made with other settings ({len(differing)} shard(s), e.g. {name}): "
        f"{'; '.join(differs)}. Rerun with the earlier settings to resume, pass --overwrite to replace them, "
        f"or choose another --output"
    )


def _short(value) -> str:
    """A setting for a message: hex digests cut to 12 characters, the rest as JSON."""
    if isinstance(value, str) and len(value) == 64:
        return value[:12]
    return json.dumps(value)


def _remove_leftovers(output_dir: Path) -> None:
    """Temporary files of a killed run, and statistics whose shard was never renamed into place."""
    for folder in (output_dir / "data", output_dir / STATS_FOLDER):
        for tmp in folder.glob("*.tmp"):
            logger.info("%s: left by an interrupted run; removed", tmp.name)
            tmp.unlink(missing_ok=True)
    for stats in (output_dir / STATS_FOLDER).glob("*.json"):
        if not (output_dir / "data" / f"{stats.stem}.parquet").is_file():
            stats.unlink(missing_ok=True)


def shards_of(input_dir: Path, output_dir: Path, splits, shard_size: int, accelerator: Accelerator) -> list[Work]:
    """Every shard of the splits, in order; shards of another shard count (another input or size) are removed."""
    work = []
    for split in splits:
        table = load_split(input_dir, split, decode=False)
        count = max(1, -(-len(table) // shard_size))
        _remove_other_shard_counts(output_dir, split, count, accelerator)
        for shard in range(count):
            start = shard * shard_size
            rows = table.select(range(start, min(len(table), start + shard_size)))
            work.append(
                Work(
                    split,
                    rows,
                    start,
                    output_dir / "data" / shard_name(split, shard, count),
                    f"{split} {shard + 1}/{count}",
                )
            )
    return work


def _remove_other_shard_counts(output_dir: Path, split: str, num_shards: int, accelerator: Accelerator) -> None:
    """Shards of a split cut into another number of shards can never be reused: removed, with their statistics."""
    (output_dir / "data").mkdir(parents=True, exist_ok=True)
    (output_dir / STATS_FOLDER).mkdir(exist_ok=True)
    if accelerator.is_main_process:
        for stale in (output_dir / "data").glob(f"{split}-*.parquet"):
            if not stale.name.endswith(f"-of-{num_shards:05d}.parquet"):
                logger.info("%s: from an input of another size or another --shard-size; removed", stale.name)
                stale.unlink(missing_ok=True)
                stats_path(stale).unlink(missing_ok=True)
    accelerator.wait_for_everyone()

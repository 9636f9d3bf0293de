"""The pseudo-labelling driver: a teacher labels a built dataset folder, shard by shard, through the kernel.

The kernel (`unify.core.pseudo_label_kernel`) decides each pixel; this module reads the input folder,
runs the teacher, writes the output folder and makes the run safe to interrupt, rerun and share:

- Work is cut into shards of a fixed number of images, independent of the number of processes; under
  `accelerate launch` process p takes shards p, p + N, ... A shard's Parquet file is written under a
  temporary name and renamed when complete, its statistics beside it, so a killed run loses at most the
  shards in progress, and the same command finishes it with byte-identical output.
- Each finished shard records a fingerprint of everything its labels depend on: the data-format version,
  the teacher's weights (sha256), the unified taxonomy, the mapping, the test-time augmentation, and the
  bytes of the shard's input rows. A rerun reuses a shard only when all of them are unchanged. A shard whose
  input rows changed is labelled again, with a log line; a change of teacher, taxonomy, mapping, TTA or
  format is refused before any work, naming what differs, unless `overwrite` replaces the earlier run.
- The mapping is the one recorded in the input folder when it was built: one source of truth. When the
  package's mapping file for the same pair differs, the run stops and names the command that rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from unify.core.constants import (DATASET, FINE_LABEL, FORMAT_VERSION, IGNORE_INDEX, IMAGE, IMAGE_ID, LABEL,
                                  NATIVE_LABEL, PROVENANCE, PROVENANCE_NAMES, REPORT_FILE)
from unify.core.errors import UnifyError
from unify.core.folder import (BUILT, PSEUDO_LABELLED, FolderMetadata, LabelColumns, load_split, shard_name,
                               split_shards)
from unify.core.images import batches_of_equal_size, encode_label
from unify.core.mapping import LabelMapping, get_mapping
from unify.core.pseudo_label_kernel import constrained_pseudo_labels, provenance_statistics, unconstrained_labels
from unify.core.segmenter import Segmenter

logger = logging.getLogger(__name__)
STATS_FOLDER = "stats"
"""Per-shard statistics and fingerprints, beside `data/`; merged into the report at the end."""


@dataclass
class LabellingOptions:
    """How `pseudo_label_dataset` runs."""

    taxonomy: str | None = None  # unified taxonomy; None: the one the input folder was built for (else checked)
    scales: tuple[float, ...] = (1.0,)  # test-time scales; must include 1.0
    flip: bool = False  # also average the horizontally mirrored prediction
    batch_size: int = 4  # images per teacher forward (consecutive images of the same size)
    shard_size: int = 256  # images per output shard: the unit of restart and of work sharing
    splits: tuple[str, ...] | None = None  # None: every split of the input
    overwrite: bool = False  # replace the labels of an earlier run with other settings instead of refusing

    def __post_init__(self):
        for name in ("batch_size", "shard_size"):
            if getattr(self, name) < 1:
                raise UnifyError(f"{name} must be >= 1, got {getattr(self, name)}")


def pseudo_label_dataset(teacher: str, input_dir: Path | str, output_dir: Path | str,
                         options: LabellingOptions) -> dict:
    """Write the unified dataset and its statistics report into `output_dir`; returns the report.

    `teacher` is a model folder or Hub id predicting the unified taxonomy. Raises `UnifyError` when the
    input is not a built folder, its recorded mapping differs from the package's, the teacher predicts
    other classes, or `output_dir` holds labels of other settings (without `options.overwrite`).
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    accelerator = Accelerator()
    metadata = FolderMetadata.read(input_dir)
    mapping = recorded_mapping(metadata, options.taxonomy, input_dir)
    segmenter = Segmenter.load(teacher, device=accelerator.device)
    segmenter.check_predicts(mapping.unified, role="the teacher")
    splits = options.splits or tuple(metadata.splits)
    missing = [s for s in splits if s not in metadata.splits]
    if missing:
        raise UnifyError(f"{input_dir} has no split(s) {missing}; it has {list(metadata.splits)}")
    settings = _settings(segmenter, mapping, options)
    _check_earlier_run(output_dir, settings, options.overwrite, accelerator)
    tables = mapping.tables.to(accelerator.device)
    for split in splits:
        table = load_split(input_dir, split, decode=False)
        num_shards = max(1, -(-len(table) // options.shard_size))
        _remove_other_shard_counts(output_dir, split, num_shards, accelerator)
        for shard in range(accelerator.process_index, num_shards, accelerator.num_processes):
            rows = table.select(range(shard * options.shard_size, min(len(table), (shard + 1) * options.shard_size)))
            path = output_dir / "data" / shard_name(split, shard, num_shards)
            fingerprint = _shard_fingerprint(settings, rows, metadata.columns)
            if _is_done(path, fingerprint):
                continue
            _label_shard(segmenter, rows, metadata.columns, tables, options, path, fingerprint,
                         desc=f"{split} {shard + 1}/{num_shards}", show=accelerator.is_local_main_process)
    accelerator.wait_for_everyone()
    report = _merge_statistics(output_dir, splits, mapping, segmenter, options)
    if accelerator.is_main_process:
        result = FolderMetadata(kind=PSEUDO_LABELLED, dataset=metadata.dataset, config=metadata.config,
                                mapping=mapping, splits={s: metadata.splits[s] for s in splits},
                                columns=LabelColumns.for_kind(PSEUDO_LABELLED), source=metadata.source,
                                skipped=metadata.skipped, raw_fingerprint=metadata.raw_fingerprint,
                                teacher=report["teacher"], tta=report["tta"])
        result.write(output_dir)
        (output_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    accelerator.wait_for_everyone()
    return report


def recorded_mapping(metadata: FolderMetadata, taxonomy: str | None, folder: Path) -> LabelMapping:
    """The mapping recorded in a built folder, after checking it against the package's file for the same pair.

    Raises `UnifyError` when the folder is not a built one, was built for another unified taxonomy than
    `taxonomy`, or when the package's mapping file now says something else (with the command that rebuilds).
    """
    if metadata.kind != BUILT:
        raise UnifyError(f"{folder} is a {metadata.kind} folder; pseudo-label a folder written by `unify build`")
    mapping = metadata.mapping
    rebuild = (f"unify build {metadata.dataset} --config {metadata.config} --taxonomy {taxonomy or mapping.unified.name}"
               f" --data-dir RAW --output {folder}")
    if taxonomy is not None and taxonomy != mapping.unified.name:
        raise UnifyError(f"{folder} was built for the unified taxonomy {mapping.unified.name}, not {taxonomy}; "
                         f"rebuild it for {taxonomy}: {rebuild}")
    try:
        current = get_mapping(mapping.native.name, mapping.unified.name)
    except UnifyError:
        logger.info("no registered mapping %s -> %s: using the one recorded in %s", mapping.native.name,
                    mapping.unified.name, folder)
        return mapping
    differences = mapping.differences(current)
    if differences or [c.to_json() for c in current.unified.classes] != mapping.unified.to_json():
        listed = "\n  ".join(differences[:10]) or "the unified class table differs"
        raise UnifyError(f"the mapping recorded in {folder} (here) differs from the package's "
                         f"{mapping.native.name} -> {mapping.unified.name} file (there):\n  {listed}\n"
                         f"rebuild the folder with the current mapping: {rebuild}")
    return mapping


# -- what a shard depends on ------------------------------------------------------------------------------
def _settings(segmenter: Segmenter, mapping: LabelMapping, options: LabellingOptions) -> dict:
    """Every setting the labels depend on besides the input rows, as plain JSON."""
    def digest(value) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()

    return {"format_version": FORMAT_VERSION, "teacher_sha256": segmenter.identity.sha256,
            "unified_taxonomy": digest(mapping.unified.to_json()), "mapping": digest(mapping.to_json()),
            "tta": {"scales": sorted(options.scales), "flip": options.flip}}


def _shard_fingerprint(settings: dict, rows: datasets.Dataset, columns: LabelColumns) -> dict:
    """The settings and a sha256 of the shard's input rows (ids, image and label bytes, in order)."""
    digest = hashlib.sha256()
    encoded = [c for c in (IMAGE, columns.native, FINE_LABEL) if c in rows.column_names]
    for row in rows.select_columns([IMAGE_ID, *encoded]):
        digest.update(row[IMAGE_ID].encode() + b"\0")
        for column in encoded:
            data = row[column]["bytes"]
            digest.update(len(data).to_bytes(8, "little") + data)
    return {"settings": settings, "input_sha256": digest.hexdigest()}


def _stats_path(data_path: Path) -> Path:
    return data_path.parent.parent / STATS_FOLDER / f"{data_path.stem}.json"


def _is_done(path: Path, fingerprint: dict) -> bool:
    """Whether `path` holds this shard's labels already; a shard of other input rows is redone, with a log line."""
    stats = _stats_path(path)
    if not path.is_file() or not stats.is_file():
        return False
    recorded = json.loads(stats.read_text(encoding="utf-8")).get("fingerprint", {})
    if recorded == fingerprint:
        return True
    logger.info("%s: its input rows changed since it was labelled; labelling it again", path.name)
    return False


def _check_earlier_run(output_dir: Path, settings: dict, overwrite: bool, accelerator: Accelerator) -> None:
    """Refuse (or, with `overwrite`, clear) an output folder that holds labels made with other settings."""
    earlier = []
    for stats in sorted((output_dir / STATS_FOLDER).glob("*.json")):
        recorded = json.loads(stats.read_text(encoding="utf-8")).get("fingerprint", {}).get("settings")
        if recorded != settings:
            earlier.append((stats.stem, recorded or {}))
    if not earlier:
        return
    name, recorded = earlier[0]
    differs = [f"{key}: {recorded.get(key)!r} there, {value!r} now" for key, value in settings.items()
               if recorded.get(key) != value]
    if not overwrite:
        raise UnifyError(f"{output_dir} holds pseudo-labels made with other settings ({len(earlier)} shard(s), "
                         f"e.g. {name}): {'; '.join(differs)}. Pass --overwrite to replace them, or choose "
                         f"another --output")
    if accelerator.is_main_process:
        logger.warning("replacing the pseudo-labels in %s (%s)", output_dir, "; ".join(differs))
        for folder in ("data", STATS_FOLDER):
            shutil.rmtree(output_dir / folder, ignore_errors=True)
    accelerator.wait_for_everyone()


def _remove_other_shard_counts(output_dir: Path, split: str, num_shards: int, accelerator: Accelerator) -> None:
    """Shards of a split cut into another number of shards (another input) can never be reused."""
    (output_dir / "data").mkdir(parents=True, exist_ok=True)
    (output_dir / STATS_FOLDER).mkdir(exist_ok=True)
    if accelerator.is_main_process:
        for stale in (output_dir / "data").glob(f"{split}-*.parquet"):
            if not stale.name.endswith(f"-of-{num_shards:05d}.parquet"):
                logger.info("%s: from an input of another size; removed", stale.name)
                stale.unlink(missing_ok=True)
    accelerator.wait_for_everyone()


# -- labelling one shard ----------------------------------------------------------------------------------
@torch.inference_mode()
def _label_shard(segmenter: Segmenter, rows: datasets.Dataset, columns: LabelColumns, tables, options,
                 path: Path, fingerprint: dict, desc: str, show: bool) -> None:
    device = segmenter.device
    num_labels = segmenter.num_labels
    counts = torch.zeros(len(PROVENANCE_NAMES), num_labels + 1, dtype=torch.int64)
    accuracy = {"constrained": [0, 0], "unconstrained": [0, 0]}
    has_fine = FINE_LABEL in rows.column_names
    label_columns = [columns.native] + ([FINE_LABEL] if has_fine else [])
    out_rows = []
    with tqdm(total=len(rows), desc=f"pseudo-label {desc}", disable=not show, leave=False) as progress:
        for batch in batches_of_equal_size(iter(rows), label_columns, options.batch_size):
            pixels = segmenter.preprocess(torch.from_numpy(batch.images).permute(0, 3, 1, 2).to(device))
            native = torch.from_numpy(batch.labels[columns.native].astype(np.int64)).to(device)
            probabilities = segmenter.probabilities(pixels, options.scales, options.flip)
            result = constrained_pseudo_labels(probabilities, native, tables)
            counts += provenance_statistics(result, num_labels).cpu()
            if has_fine:
                fine = torch.from_numpy(batch.labels[FINE_LABEL]).to(device)
                _count_correct(accuracy["constrained"], result.label, fine)
                _count_correct(accuracy["unconstrained"], unconstrained_labels(probabilities, native.shape[-2:]),
                               fine)
            for row, label, provenance in zip(batch.rows, result.label.cpu().numpy(),
                                              result.provenance.cpu().numpy()):
                out_rows.append(_output_row(row, columns, label, provenance, has_fine))
            progress.update(len(batch.rows))
    features = datasets.Features({IMAGE: datasets.Image(), LABEL: datasets.Image(), PROVENANCE: datasets.Image(),
                                  NATIVE_LABEL: datasets.Image(), IMAGE_ID: datasets.Value("string"),
                                  DATASET: datasets.Value("string"),
                                  **({FINE_LABEL: datasets.Image()} if has_fine else {})})
    tmp = path.with_suffix(".parquet.tmp")
    datasets.Dataset.from_list(out_rows, features=features).to_parquet(str(tmp))
    stats = {"fingerprint": fingerprint, "counts": counts.tolist(), "accuracy": accuracy}
    _stats_path(path).write_text(json.dumps(stats) + "\n", encoding="utf-8")
    tmp.rename(path)  # last: a shard is either complete with its statistics, or absent


def _count_correct(tally: list[int], prediction: torch.Tensor, fine: torch.Tensor) -> None:
    valid = fine != IGNORE_INDEX
    tally[0] += int((prediction.long() == fine.long())[valid].sum())
    tally[1] += int(valid.sum())


def _output_row(row: dict, columns: LabelColumns, label: np.ndarray, provenance: np.ndarray, has_fine: bool) -> dict:
    out = {IMAGE: row[IMAGE], LABEL: {"bytes": encode_label(label), "path": None},
           PROVENANCE: {"bytes": encode_label(provenance), "path": None}, NATIVE_LABEL: row[columns.native],
           IMAGE_ID: row[IMAGE_ID], DATASET: row[DATASET]}
    if has_fine:
        out[FINE_LABEL] = row[FINE_LABEL]
    return out


# -- the report -------------------------------------------------------------------------------------------
def _merge_statistics(output_dir: Path, splits, mapping: LabelMapping, segmenter: Segmenter,
                      options: LabellingOptions) -> dict:
    """Sum the statistics of the shards that are in `data/` (and only those) into the report."""
    unified = mapping.unified
    counts = torch.zeros(len(PROVENANCE_NAMES), unified.num_labels + 1, dtype=torch.int64)
    accuracy = {"constrained": [0, 0], "unconstrained": [0, 0]}
    shards = split_shards(output_dir)
    for split in splits:
        for data_shard in shards.get(split, []):
            shard = json.loads(_stats_path(data_shard).read_text(encoding="utf-8"))
            counts += torch.tensor(shard["counts"])
            for key in accuracy:
                accuracy[key] = [a + b for a, b in zip(accuracy[key], shard["accuracy"][key])]
    names = [c.name for c in unified.trainable] + ["void"]
    total = max(int(counts.sum()), 1)
    report = {
        "teacher": segmenter.identity.to_json(), "taxonomy": unified.name, "splits": list(splits),
        "tta": {"scales": list(options.scales), "flip": options.flip},
        "pixels_by_provenance": {p: int(counts[i].sum()) for i, p in enumerate(PROVENANCE_NAMES)},
        "share_by_provenance": {p: round(int(counts[i].sum()) / total, 6) for i, p in enumerate(PROVENANCE_NAMES)},
        "pixels_by_class": {n: int(counts[:, j].sum()) for j, n in enumerate(names)},
        "pixels_by_provenance_and_class": {p: {n: int(counts[i, j]) for j, n in enumerate(names) if counts[i, j]}
                                           for i, p in enumerate(PROVENANCE_NAMES)},
    }
    if accuracy["constrained"][1]:
        report["pixel_accuracy_vs_fine_truth"] = {k: v[0] / v[1] for k, v in accuracy.items()}
    return report

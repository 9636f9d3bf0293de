"""The pseudo-labelling driver: a teacher labels a built dataset folder, shard by shard, through the kernel.

The kernel (`unify.core.pseudo_label_kernel`) decides each pixel; this module reads the input folder,
runs the teacher, writes the output folder and makes the run safe to interrupt, rerun and share:

- Work is cut into shards of a fixed number of images (`shard_size`), independent of the number of
  processes; under `accelerate launch` or `torchrun` process p of N takes shards p, p + N, ... A shard's
  statistics are written first and its Parquet file is renamed into place last, each from a temporary name,
  so a run killed at any moment (`kill -9` included) leaves only complete shards, and the same command
  finishes the work with output byte-identical to an uninterrupted run. Leftovers of a killed run
  (`*.tmp`, statistics without their shard, shards of another shard count) are removed before work starts.
- Each finished shard records a fingerprint of everything its labels depend on: the data-format version,
  the teacher (sha256 of its weight files and its input normalisation), the unified taxonomy, the mapping,
  the test-time augmentation, the teacher's precision, and the shard's rows (their positions and the sha256
  of their ids, image and label bytes). A rerun reuses a shard only when all of them are unchanged. A shard
  whose rows changed is labelled again, with a log line saying why; a change of anything else is refused
  before any work, naming what differs, unless `overwrite` replaces the earlier run's labels.
- The mapping is the one recorded in the input folder when it was built: one source of truth. When the
  package's mapping file for the same pair differs, the run stops and names the command that rebuilds.

Throughput: the images of a shard are grouped by size (not only consecutive rows) into batches, while
the output keeps the input's row order; with `flip`, each batch and its mirror go through the teacher in
one forward pass; on CUDA the teacher runs in bfloat16 autocast with channels-last memory and the constraint
runs on the GPU. Reading and hashing the next shard, decoding the next batches, PNG-encoding the labels and
writing Parquet happen in background threads (bounded queues), so the teacher does not wait for them; their
output is byte-identical to doing everything in order in one thread (`workers=0`).

Determinism: the labels are a function of the input, the settings above and the batch composition.
Different batch sizes (and, on the CPU, different thread counts) can round the teacher's scores differently
in the last bits, which can flip exact near-ties between two classes; the batches depend only on
`batch_size` and `shard_size`, never on the number of processes or on where a run was interrupted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from unify.core.constants import (DATASET, FINE_LABEL, FORMAT_VERSION, IGNORE_INDEX, IMAGE, IMAGE_ID, LABEL,
                                  METADATA_FILE, NATIVE_LABEL, PROVENANCE, PROVENANCE_NAMES, REPORT_FILE)
from unify.core.errors import UnifyError
from unify.core.folder import (BUILT, ID2LABEL_FILE, PSEUDO_LABELLED, FolderMetadata, LabelColumns, load_split,
                               shard_name, split_shards)
from unify.core.images import batches_of_equal_size, encode_label, image_size_from_bytes
from unify.core.mapping import LabelMapping, get_mapping
from unify.core.pseudo_label_kernel import constrained_pseudo_labels, provenance_statistics, unconstrained_labels
from unify.core.segmenter import Segmenter

logger = logging.getLogger(__name__)
STATS_FOLDER = "stats"
"""Per-shard statistics and fingerprints, beside `data/`; merged into the report at the end."""
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
"""Teacher precisions: float32, or bfloat16 autocast (matrix products in bfloat16, scores returned as float32)."""
_FOLDER_FILES = (METADATA_FILE, ID2LABEL_FILE, "README.md", REPORT_FILE)
"""Files a finished run writes at the output's root (with `metadata/`), last."""
_FLAGS = {"teacher_sha256": "--teacher", "teacher_normalization": "--teacher", "tta": "--tta / --scales",
          "precision": "--dtype", "unified_taxonomy": "--dataset (rebuilt)", "mapping": "--dataset (rebuilt)",
          "format_version": "this package's version"}
"""The command-line option behind each setting, named when a rerun is refused."""


@dataclass
class LabellingOptions:
    """How `pseudo_label_dataset` runs."""

    taxonomy: str | None = None  # unified taxonomy; None: the one the input folder was built for (else checked)
    scales: tuple[float, ...] = (1.0,)  # test-time scales; must include 1.0
    flip: bool = False  # also average the horizontally mirrored prediction (one forward with the batch)
    batch_size: int = 4  # images of one size per teacher forward (2x views with flip), grouped across a shard
    shard_size: int = 256  # images per output shard: the unit of restart and of work sharing (about 3 in memory)
    splits: tuple[str, ...] | None = None  # None: every split of the input
    overwrite: bool = False  # replace the labels of an earlier run with other settings instead of refusing
    dtype: str | None = None  # teacher precision, a key of PRECISIONS; None: bfloat16 on CUDA, else float32
    workers: int = 2  # background threads for reading, decoding, encoding, writing; 0: all in order, one thread

    def __post_init__(self):
        for name in ("batch_size", "shard_size"):
            if getattr(self, name) < 1:
                raise UnifyError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise UnifyError(f"workers must be >= 0, got {self.workers}")
        if self.dtype is not None and self.dtype not in PRECISIONS:
            raise UnifyError(f"dtype must be one of {', '.join(PRECISIONS)} (or None for the device's default), "
                             f"got {self.dtype!r}")

    def precision(self, device: torch.device) -> str:
        """The teacher precision on `device`: `dtype`, else bfloat16 on CUDA GPUs that support it, else float32."""
        if self.dtype is not None:
            return self.dtype
        return "bfloat16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "float32"


@dataclass
class _Work:
    """One shard to label (or to find finished): which rows of which split, and where it goes."""

    split: str
    rows: datasets.Dataset
    start: int  # position of the shard's first row in the split
    path: Path  # the shard's Parquet file
    desc: str  # for the progress bar


def pseudo_label_dataset(teacher: str, input_dir: Path | str, output_dir: Path | str,
                         options: LabellingOptions) -> dict:
    """Write the unified dataset and its statistics report into `output_dir`; returns the report.

    `teacher` is a model folder or Hub id predicting the unified taxonomy. Raises `UnifyError` when the
    input is not a built folder, its recorded mapping differs from the package's, the teacher predicts
    other classes, `output_dir` is a folder of another kind, or `output_dir` holds labels made with other
    settings (without `options.overwrite`); these checks run before anything is written.
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
    precision = options.precision(segmenter.device)
    settings = _settings(segmenter, mapping, options, precision)
    _prepare_output(input_dir, output_dir, settings, options.overwrite, accelerator)
    work = _shards_of(input_dir, output_dir, splits, options.shard_size, accelerator)
    labeller = _Labeller(segmenter, mapping, metadata.columns, options, precision)
    started = time.perf_counter()
    mine = work[accelerator.process_index::accelerator.num_processes]
    labelled = labeller.run(mine, settings, show=accelerator.is_local_main_process)
    if labelled:
        seconds = time.perf_counter() - started
        logger.info("labelled %d images in %.1f s (%.2f images/s) on %s", labelled, seconds, labelled / seconds,
                    segmenter.device)
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
    rebuild = (f"unify build {metadata.dataset} --config {metadata.config} "
               f"--taxonomy {taxonomy or mapping.unified.name} --data-dir RAW --output {folder}")
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
def _settings(segmenter: Segmenter, mapping: LabelMapping, options: LabellingOptions, precision: str) -> dict:
    """Every setting the labels depend on besides the input rows, as plain JSON."""
    def digest(value) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()

    return {"format_version": FORMAT_VERSION, "teacher_sha256": segmenter.identity.sha256,
            "teacher_normalization": {"mean": list(segmenter.mean), "std": list(segmenter.std),
                                      "rescale": segmenter.rescale},
            "unified_taxonomy": digest(mapping.unified.to_json()), "mapping": digest(mapping.to_json()),
            "tta": {"scales": sorted(options.scales), "flip": options.flip}, "precision": precision}


def _shard_fingerprint(settings: dict, records: list[dict], start: int, columns: LabelColumns) -> dict:
    """The settings, the shard's row positions and a sha256 of its rows (ids, image and label bytes, in order)."""
    digest = hashlib.sha256()
    for row in records:
        digest.update(row[IMAGE_ID].encode() + b"\0")
        for column in (IMAGE, columns.native, FINE_LABEL):
            if column in row:
                data = row[column]["bytes"]
                digest.update(len(data).to_bytes(8, "little") + data)
    return {"settings": settings, "rows": [start, start + len(records)], "input_sha256": digest.hexdigest()}


def _stats_path(data_path: Path) -> Path:
    return data_path.parent.parent / STATS_FOLDER / f"{data_path.stem}.json"


def _read_stats(data_path: Path) -> dict:
    return json.loads(_stats_path(data_path).read_text(encoding="utf-8"))


def _is_done(path: Path, fingerprint: dict) -> bool:
    """Whether `path` holds this shard's labels already; a shard of other rows is redone, with a log line."""
    if not path.is_file() or not _stats_path(path).is_file():
        return False
    recorded = _read_stats(path)["fingerprint"]
    if recorded == fingerprint:
        return True
    if recorded["rows"] != fingerprint["rows"]:
        why = f"it held rows {recorded['rows'][0]}..{recorded['rows'][1] - 1} (another --shard-size)"
    else:
        why = "its input rows changed since it was labelled (image or label bytes, or image ids)"
    logger.info("%s: %s; labelling it again", path.name, why)
    return False


# -- what the output folder holds already -----------------------------------------------------------------
def _prepare_output(input_dir: Path, output_dir: Path, settings: dict, overwrite: bool,
                    accelerator: Accelerator) -> None:
    """Refuse an output folder that is no place for these labels; then clear what cannot be reused.

    Every process checks (so that all raise alike) before the main process removes anything: leftovers
    of a killed run always, and with `overwrite` the labels and folder files of an earlier run whose
    settings differ. Raises `UnifyError` naming the folder, what differs and the flag that overwrites.
    """
    if output_dir.resolve() == input_dir.resolve():
        raise UnifyError(f"--output {output_dir} is the input folder; write the pseudo-labels to another folder")
    _check_folder_kind(output_dir, overwrite)
    finished, unverifiable = _earlier_shards(output_dir)
    differing = {name: stats for name, stats in finished.items() if stats["fingerprint"]["settings"] != settings}
    if (differing or unverifiable) and not overwrite:
        raise UnifyError(_refusal(output_dir, settings, differing, unverifiable))
    accelerator.wait_for_everyone()  # every process has read the folder before anything is removed
    if accelerator.is_main_process:
        if differing or unverifiable:
            logger.warning("replacing the pseudo-labels in %s: %s", output_dir,
                           _refusal(output_dir, settings, differing, unverifiable).split(": ", 1)[1])
            for name in ("data", STATS_FOLDER, "metadata", *_FOLDER_FILES):
                target = output_dir / name
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        _remove_leftovers(output_dir)
    accelerator.wait_for_everyone()


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
        raise UnifyError(f"--output {output_dir} holds a dataset this package cannot read ({exc}); pass "
                         f"--overwrite to replace it, or choose another --output") from exc
    if kind != PSEUDO_LABELLED:
        raise UnifyError(f"--output {output_dir} is a {kind} dataset folder, not pseudo-labels; choose another "
                         f"--output (--overwrite never replaces another kind of folder)")


def _earlier_shards(output_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """Finished shards (data file and statistics) -> their statistics, and data files without statistics."""
    finished, unverifiable = {}, []
    for path in sorted((output_dir / "data").glob("*.parquet")):
        if _stats_path(path).is_file():
            finished[path.name] = _read_stats(path)
        else:
            unverifiable.append(path.name)
    return finished, unverifiable


def _refusal(output_dir: Path, settings: dict, differing: dict[str, dict], unverifiable: list[str]) -> str:
    """The error for an output folder that holds labels of other (or unknown) settings."""
    if not differing:
        return (f"{output_dir} holds {len(unverifiable)} shard(s) without the statistics that say how they were "
                f"made (e.g. {unverifiable[0]}), so they cannot be reused: pass --overwrite to replace them, or "
                f"choose another --output")
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
    return (f"{output_dir} holds pseudo-labels made with other settings ({len(differing)} shard(s), e.g. {name}): "
            f"{'; '.join(differs)}. Rerun with the earlier settings to resume, pass --overwrite to replace them, "
            f"or choose another --output")


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


def _shards_of(input_dir: Path, output_dir: Path, splits, shard_size: int, accelerator: Accelerator) -> list[_Work]:
    """Every shard of the splits, in order; shards of another shard count (another input or size) are removed."""
    work = []
    for split in splits:
        table = load_split(input_dir, split, decode=False)
        count = max(1, -(-len(table) // shard_size))
        _remove_other_shard_counts(output_dir, split, count, accelerator)
        for shard in range(count):
            start = shard * shard_size
            rows = table.select(range(start, min(len(table), start + shard_size)))
            work.append(_Work(split, rows, start, output_dir / "data" / shard_name(split, shard, count),
                              f"{split} {shard + 1}/{count}"))
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
                _stats_path(stale).unlink(missing_ok=True)
    accelerator.wait_for_everyone()


# -- labelling --------------------------------------------------------------------------------------------
class _Background:
    """Threads that run work beside the teacher, or, with no workers, the same work in place, in order."""

    def __init__(self, workers: int):
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="pseudo-label") if workers else None
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="pseudo-label-writer") if workers else None
        self.last_write: Future | None = None

    def submit(self, fn: Callable, *args) -> Future:
        """`fn(*args)` in a worker thread; its exception comes back from `.result()`."""
        return self.pool.submit(fn, *args) if self.pool else _done(fn, *args)

    def write(self, fn: Callable, *args) -> None:
        """`fn(*args)` in the writer thread, after the previous write finished (at most one shard waits)."""
        self.wait_for_writes()
        self.last_write = self.writer.submit(fn, *args) if self.writer else _done(fn, *args)

    def wait_for_writes(self) -> None:
        if self.last_write is not None:
            last, self.last_write = self.last_write, None
            last.result()

    def close(self) -> None:
        for pool in (self.pool, self.writer):
            if pool:
                pool.shutdown(wait=True, cancel_futures=True)


def _done(fn: Callable, *args) -> Future:
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except Exception as exc:  # handed to whoever asks for the result, as a worker thread would
        future.set_exception(exc)
    return future


class _Labeller:
    """Labels shards: the teacher and the constraint in this thread, everything else in the background."""

    def __init__(self, segmenter: Segmenter, mapping: LabelMapping, columns: LabelColumns,
                 options: LabellingOptions, precision: str):
        self.segmenter, self.columns, self.options = segmenter, columns, options
        self.device = segmenter.device
        self.tables = mapping.tables.to(self.device)
        self.autocast_dtype = PRECISIONS[precision]
        if self.device.type == "cuda":  # SegFormer's convolutions run faster channels-last on tensor cores
            segmenter.model.to(memory_format=torch.channels_last)

    def run(self, work: list[_Work], settings: dict, show: bool) -> int:
        """Label the shards of `work` that are not finished; returns how many images were labelled."""
        background = _Background(self.options.workers)
        labelled = 0
        try:
            reading = background.submit(self._read, work[0], settings) if work else None
            for index, item in enumerate(work):
                records, fingerprint, plan = reading.result()
                if index + 1 < len(work):  # read and hash the next shard while this one is labelled
                    reading = background.submit(self._read, work[index + 1], settings)
                if _is_done(item.path, fingerprint):
                    continue
                item.path.unlink(missing_ok=True)  # the data file first: a shard never outlives its statistics
                _stats_path(item.path).unlink(missing_ok=True)
                self._label_shard(records, plan, item, fingerprint, background, show)
                labelled += len(records)
            background.wait_for_writes()
        finally:
            background.close()
        return labelled

    def _read(self, item: _Work, settings: dict) -> tuple[list[dict], dict, list[list[int]]]:
        """The shard's rows as records (encoded columns as `{"bytes", "path"}`), its fingerprint and batches."""
        records = list(item.rows)
        sizes = [image_size_from_bytes(r[IMAGE]["bytes"], r[IMAGE_ID]) for r in records]
        plan = batches_by_size(sizes, self.options.batch_size)
        return records, _shard_fingerprint(settings, records, item.start, self.columns), plan

    def _label_shard(self, records: list[dict], plan: list[list[int]], item: _Work, fingerprint: dict,
                     background: _Background, show: bool) -> None:
        """Label `records` batch by batch as `plan` groups them, and hand the shard to the writer thread."""
        has_fine = FINE_LABEL in item.rows.column_names
        ahead = max(1, self.options.workers)
        decoding = deque(background.submit(self._decode, records, indices, has_fine) for indices in plan[:ahead])
        encoding: deque[Future] = deque()
        encoded: dict[int, tuple[bytes, bytes]] = {}
        tally = _Tally(self.segmenter.num_labels, self.device)
        with tqdm(total=len(records), desc=f"pseudo-label {item.desc}", disable=not show, leave=False) as progress:
            for position, indices in enumerate(plan):
                decoded = decoding.popleft().result()
                if position + ahead < len(plan):
                    decoding.append(background.submit(self._decode, records, plan[position + ahead], has_fine))
                for batch, batch_indices in decoded:
                    label, provenance = self._label_batch(batch, tally)
                    encoding.append(background.submit(_encode, batch_indices, label, provenance))
                while len(encoding) > 2 * ahead or (encoding and encoding[0].done()):
                    encoded.update(encoding.popleft().result())
                progress.update(len(indices))
        while encoding:
            encoded.update(encoding.popleft().result())
        rows = [_output_row(r, self.columns, *encoded[i], has_fine) for i, r in enumerate(records)]
        stats = {"fingerprint": fingerprint, "teacher": self.segmenter.identity.to_json(), **tally.to_json()}
        background.write(_write_shard, item.path, rows, has_fine, stats)

    def _decode(self, records: list[dict], indices: list[int], has_fine: bool) -> list[tuple[_Batch, list[int]]]:
        """The rows at `indices` (one image size) as tensors; pinned for a fast copy when the teacher is on CUDA."""
        label_columns = [self.columns.native] + ([FINE_LABEL] if has_fine else [])
        out, taken = [], 0
        for batch in batches_of_equal_size((records[i] for i in indices), label_columns, len(indices)):
            tensors = _Batch(torch.from_numpy(batch.images).permute(0, 3, 1, 2),
                             torch.from_numpy(batch.labels[self.columns.native].astype(np.int64)),
                             torch.from_numpy(batch.labels[FINE_LABEL]) if has_fine else None)
            if self.device.type == "cuda":
                tensors = tensors.pinned()
            out.append((tensors, indices[taken:taken + len(batch.rows)]))
            taken += len(batch.rows)
        return out

    @torch.inference_mode()
    def _label_batch(self, batch: _Batch, tally: _Tally) -> tuple[np.ndarray, np.ndarray]:
        """(B, H, W) uint8 labels and provenance of one decoded batch; adds its statistics to `tally`."""
        images = batch.images.to(self.device, non_blocking=True)
        native = batch.native.to(self.device, non_blocking=True)
        pixels = self.segmenter.preprocess(images)
        if self.device.type == "cuda":
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype,
                            enabled=self.autocast_dtype != torch.float32):
            probabilities = view_batched_probabilities(self.segmenter, pixels, self.options.scales, self.options.flip)
        result = constrained_pseudo_labels(probabilities, native, self.tables)
        tally.add(result, probabilities, batch.fine.to(self.device) if batch.fine is not None else None)
        return result.label.cpu().numpy(), result.provenance.cpu().numpy()


@dataclass
class _Batch:
    images: torch.Tensor  # (B, 3, H, W) uint8 RGB
    native: torch.Tensor  # (B, H, W) int64 native ids
    fine: torch.Tensor | None  # (B, H, W) uint8 hidden fine truth (synthetic extras only)

    def pinned(self) -> _Batch:
        """The same tensors in page-locked memory, for an asynchronous copy to the GPU."""
        return _Batch(self.images.pin_memory(), self.native.pin_memory(),
                      self.fine.pin_memory() if self.fine is not None else None)


def batches_by_size(sizes: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Positions of images grouped by size into batches of at most `batch_size`, each in increasing order.

    Sizes are taken in order of first appearance, so the batches depend only on the sizes, in order:
    the same rows always form the same batches. Callers put each result back at its position.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for position, size in enumerate(sizes):
        groups.setdefault(size, []).append(position)
    return [group[k:k + batch_size] for group in groups.values() for k in range(0, len(group), batch_size)]


def view_batched_probabilities(segmenter: Segmenter, pixels: torch.Tensor, scales, flip: bool) -> torch.Tensor:
    """`segmenter.probabilities(pixels, scales, flip)` with each view and its mirror in one forward pass.

    The teacher sees a (2B, 3, H, W) batch per scale instead of two of B; the mirrored half is averaged
    over the scales, mirrored back and averaged with the rest. Equal to the kernel's order of operations up
    to float rounding (about 1e-7 on probabilities); deterministic for a given batch.
    """
    if not flip:
        return segmenter.probabilities(pixels, scales, flip=False)
    views = segmenter.probabilities(torch.cat([pixels, pixels.flip(-1)]), scales, flip=False)
    plain, mirrored = views.chunk(2)
    return plain.add_(mirrored.flip(-1)).div_(2)


class _Tally:
    """Pixel counts by provenance and class, and the accuracy against a hidden fine truth, on the device."""

    def __init__(self, num_labels: int, device: torch.device):
        self.num_labels = num_labels
        self.counts = torch.zeros(len(PROVENANCE_NAMES), num_labels + 1, dtype=torch.int64, device=device)
        self.accuracy = torch.zeros(2, 2, dtype=torch.int64, device=device)  # (constrained, unconstrained) x (hit, n)

    def add(self, result, probabilities: torch.Tensor, fine: torch.Tensor | None) -> None:
        self.counts += provenance_statistics(result, self.num_labels)
        if fine is None:
            return
        valid = fine != IGNORE_INDEX
        fine = fine.long()
        for row, prediction in enumerate((result.label, unconstrained_labels(probabilities, fine.shape[-2:]))):
            self.accuracy[row, 0] += ((prediction.long() == fine) & valid).sum()
            self.accuracy[row, 1] += valid.sum()

    def to_json(self) -> dict:
        accuracy = self.accuracy.tolist()
        return {"counts": self.counts.tolist(), "accuracy": {"constrained": accuracy[0], "unconstrained": accuracy[1]}}


def _encode(indices: list[int], label: np.ndarray, provenance: np.ndarray) -> dict[int, tuple[bytes, bytes]]:
    return {i: (encode_label(label[k]), encode_label(provenance[k])) for k, i in enumerate(indices)}


def _output_row(row: dict, columns: LabelColumns, label: bytes, provenance: bytes, has_fine: bool) -> dict:
    out = {IMAGE: row[IMAGE], LABEL: {"bytes": label, "path": None}, PROVENANCE: {"bytes": provenance, "path": None},
           NATIVE_LABEL: row[columns.native], IMAGE_ID: row[IMAGE_ID], DATASET: row[DATASET]}
    if has_fine:
        out[FINE_LABEL] = row[FINE_LABEL]
    return out


def _write_shard(path: Path, rows: list[dict], has_fine: bool, stats: dict) -> None:
    """The shard's statistics, then its Parquet file, each written under a temporary name and renamed."""
    features = datasets.Features({IMAGE: datasets.Image(), LABEL: datasets.Image(), PROVENANCE: datasets.Image(),
                                  NATIVE_LABEL: datasets.Image(), IMAGE_ID: datasets.Value("string"),
                                  DATASET: datasets.Value("string"),
                                  **({FINE_LABEL: datasets.Image()} if has_fine else {})})
    tmp = path.with_name(path.name + ".tmp")
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(tmp))
    stats_path = _stats_path(path)
    stats_tmp = stats_path.with_name(stats_path.name + ".tmp")
    stats_tmp.write_text(json.dumps(stats) + "\n", encoding="utf-8")
    os.replace(stats_tmp, stats_path)
    os.replace(tmp, path)  # last: a shard in data/ always has its statistics


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
            shard = _read_stats(data_shard)
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

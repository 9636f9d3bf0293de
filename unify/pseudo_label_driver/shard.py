"""Labelling shards: the teacher and the constraint in the calling thread, everything else in the background.

For each shard of its work, `Labeller.run` reads and hashes the rows (the next shard's while this one is
labelled), skips a shard that is finished with this fingerprint, decodes batches ahead, runs the teacher and
the kernel batch by batch, PNG-encodes the labels as they come back and hands the whole shard to the writer
thread: statistics first, then the Parquet file, each renamed into place from a temporary name.

A teacher with a no-object score (Mask2Former, MaskFormer, OneFormer) gives it as a trailing channel when
the mapping has lines with void beside classes, where it competes for void (`constrained_pseudo_labels`
with `no_object`); statistics and the unconstrained choice use the C class channels only.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm

from unify.core.constants import DATASET, FINE_LABEL, IMAGE, IMAGE_ID, LABEL, NATIVE_LABEL, PROVENANCE
from unify.core.folder import LabelColumns
from unify.core.images import batches_of_equal_size, encode_label, image_size_from_bytes
from unify.core.mapping import LabelMapping
from unify.core.pseudo_label_kernel import constrained_pseudo_labels
from unify.core.segmenter import Segmenter
from unify.pseudo_label_driver.fingerprints import is_done, shard_fingerprint, stats_path
from unify.pseudo_label_driver.options import PRECISIONS, LabellingOptions
from unify.pseudo_label_driver.output import Work
from unify.pseudo_label_driver.pipeline import Background, batches_by_size
from unify.pseudo_label_driver.tally import Tally

Ready = Callable[[], tuple[np.ndarray, np.ndarray]]
"""Waits for a batch's labels and provenance, (B, H, W) uint8 each, to reach host memory and returns them."""


@dataclass
class Batch:
    """One decoded batch of equal-sized rows, as CPU tensors (pinned on request) for the teacher and the kernel."""

    images: torch.Tensor  # (B, 3, H, W) uint8 RGB
    native: torch.Tensor  # (B, H, W) native ids: uint8 as stored, else int64
    fine: torch.Tensor | None  # (B, H, W) uint8 hidden fine truth (synthetic extras only)

    def pinned(self) -> Batch:
        """The same tensors in page-locked memory, for an asynchronous copy to the GPU."""
        return Batch(
            self.images.pin_memory(),
            self.native.pin_memory(),
            self.fine.pin_memory() if self.fine is not None else None,
        )


class Labeller:
    """Labels shards with `segmenter` under `mapping`, as `options` say, in `precision` (a key of PRECISIONS)."""

    def __init__(
        self,
        segmenter: Segmenter,
        mapping: LabelMapping,
        columns: LabelColumns,
        options: LabellingOptions,
        precision: str,
    ):
        self.segmenter, self.columns, self.options = segmenter, columns, options
        self.device = segmenter.device
        self.tables = mapping.tables.to(self.device)
        self.with_no_object = segmenter.has_no_object and bool(mapping.void_allowed)
        self.autocast_dtype = PRECISIONS[precision]
        if self.device.type == "cuda":  # SegFormer's convolutions run faster channels-last on tensor cores
            segmenter.model.to(memory_format=torch.channels_last)

    def run(self, work: list[Work], settings: dict, show: bool) -> int:
        """Label the shards of `work` that are not finished; returns how many images were labelled."""
        background = Background(self.options.workers)
        labelled = 0
        try:
            reading = background.submit(self._read, work[0], settings) if work else None
            for index, item in enumerate(work):
                records, fingerprint, plan = reading.result()
                if index + 1 < len(work):  # read and hash the next shard while this one is labelled
                    reading = background.submit(self._read, work[index + 1], settings)
                if is_done(item.path, fingerprint):
                    continue
                item.path.unlink(missing_ok=True)  # the data file first: a shard never outlives its statistics
                stats_path(item.path).unlink(missing_ok=True)
                self._label_shard(records, plan, item, fingerprint, background, show)
                labelled += len(records)
            background.wait_for_writes()
        finally:
            background.close()
        return labelled

    def _read(self, item: Work, settings: dict) -> tuple[list[dict], dict, list[list[int]]]:
        """The shard's rows as records (encoded columns as `{"bytes", "path"}`), its fingerprint and batches."""
        records = list(item.rows)
        sizes = [image_size_from_bytes(r[IMAGE]["bytes"], r[IMAGE_ID]) for r in records]
        plan = batches_by_size(sizes, self.options.batch_size)
        return records, shard_fingerprint(settings, records, item.start, self.columns), plan

    def _label_shard(
        self,
        records: list[dict],
        plan: list[list[int]],
        item: Work,
        fingerprint: dict,
        background: Background,
        show: bool,
    ) -> None:
        """Label `records` batch by batch as `plan` groups them, and hand the shard to the writer thread."""
        has_fine = FINE_LABEL in item.rows.column_names
        ahead = max(1, self.options.workers)
        decoding = deque(background.submit(self._decode, records, indices, has_fine) for indices in plan[:ahead])
        encoding: deque[Future] = deque()
        encoded: dict[int, tuple[bytes, bytes]] = {}
        tally = Tally(self.segmenter.num_labels, self.tables.known.numel(), self.device)
        with tqdm(total=len(records), desc=f"pseudo-label {item.desc}", disable=not show, leave=False) as progress:
            for position, indices in enumerate(plan):
                decoded = decoding.popleft().result()
                if position + ahead < len(plan):
                    decoding.append(background.submit(self._decode, records, plan[position + ahead], has_fine))
                for batch, batch_indices in decoded:
                    encoding.append(background.submit(_encode, batch_indices, self._label_batch(batch, tally)))
                while len(encoding) > 2 * ahead or (encoding and encoding[0].done()):
                    encoded.update(encoding.popleft().result())
                progress.update(len(indices))
        while encoding:
            encoded.update(encoding.popleft().result())
        rows = [_output_row(r, self.columns, *encoded[i], has_fine) for i, r in enumerate(records)]
        stats = {
            "fingerprint": fingerprint,
            "teacher": self.segmenter.identity.to_json(),
            **tally.to_json(item.path.name),
        }
        background.write(_write_shard, item.path, rows, has_fine, stats)

    def _decode(self, records: list[dict], indices: list[int], has_fine: bool) -> list[tuple[Batch, list[int]]]:
        """The rows at `indices` (one image size) as tensors; pinned for a fast copy when the teacher is on CUDA."""
        label_columns = [self.columns.native] + ([FINE_LABEL] if has_fine else [])
        out, taken = [], 0
        for batch in batches_of_equal_size((records[i] for i in indices), label_columns, len(indices)):
            native = batch.labels[self.columns.native]
            tensors = Batch(
                torch.from_numpy(batch.images).permute(0, 3, 1, 2),
                torch.from_numpy(native if native.dtype == np.uint8 else native.astype(np.int64)),
                torch.from_numpy(batch.labels[FINE_LABEL]) if has_fine else None,
            )
            if self.device.type == "cuda":
                tensors = tensors.pinned()
            out.append((tensors, indices[taken : taken + len(batch.rows)]))
            taken += len(batch.rows)
        return out

    @torch.inference_mode()
    def _label_batch(self, batch: Batch, tally: Tally) -> Ready:
        """Label one decoded batch and add its statistics to `tally`; returns what waits for its labels."""
        images = batch.images.to(self.device, non_blocking=True)
        native = batch.native.to(self.device, non_blocking=True)
        pixels = self.segmenter.preprocess(images)
        if self.device.type == "cuda":
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype != torch.float32):
            probabilities = view_batched_probabilities(
                self.segmenter, pixels, self.options.scales, self.options.flip, self.with_no_object
            )
        result = constrained_pseudo_labels(probabilities, native, self.tables, no_object=self.with_no_object)
        fine = batch.fine.to(self.device, non_blocking=True) if batch.fine is not None else None
        tally.add(result, probabilities[:, : self.segmenter.num_labels], native, fine)
        return _to_host(result.label, result.provenance)


def view_batched_probabilities(
    segmenter: Segmenter, pixels: torch.Tensor, scales, flip: bool, with_no_object: bool = False
) -> torch.Tensor:
    """`segmenter.probabilities(pixels, scales, flip, with_no_object)` with each view and its mirror in one forward.

    The teacher sees a (2B, 3, H, W) batch per scale instead of two of B; the mirrored half is averaged
    over the scales, mirrored back and averaged with the rest. Equal to the kernel's order of operations up
    to float rounding (about 1e-7 on probabilities); deterministic for a given batch.
    """
    if not flip:
        return segmenter.probabilities(pixels, scales, flip=False, with_no_object=with_no_object)
    views = segmenter.probabilities(
        torch.cat([pixels, pixels.flip(-1)]), scales, flip=False, with_no_object=with_no_object
    )
    plain, mirrored = views.chunk(2)
    return plain.add_(mirrored.flip(-1)).div_(2)


def _to_host(label: torch.Tensor, provenance: torch.Tensor) -> Ready:
    """Start copying a batch's labels and provenance to host memory; the result waits for the copy.

    On CUDA the copy goes into page-locked memory without blocking this thread, so that the next batch
    is queued while the GPU finishes this one; the encoding thread waits for it.
    """
    if label.device.type != "cuda":
        arrays = (label.cpu().numpy(), provenance.cpu().numpy())
        return lambda: arrays
    host = [
        torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t, non_blocking=True) for t in (label, provenance)
    ]
    copied = torch.cuda.Event()
    copied.record()

    def ready() -> tuple[np.ndarray, np.ndarray]:
        copied.synchronize()
        return host[0].numpy(), host[1].numpy()

    return ready


def _encode(indices: list[int], ready: Ready) -> dict[int, tuple[bytes, bytes]]:
    label, provenance = ready()
    return {i: (encode_label(label[k]), encode_label(provenance[k])) for k, i in enumerate(indices)}


def _output_row(row: dict, columns: LabelColumns, label: bytes, provenance: bytes, has_fine: bool) -> dict:
    out = {
        IMAGE: row[IMAGE],
        LABEL: {"bytes": label, "path": None},
        PROVENANCE: {"bytes": provenance, "path": None},
        NATIVE_LABEL: row[columns.native],
        IMAGE_ID: row[IMAGE_ID],
        DATASET: row[DATASET],
    }
    if has_fine:
        out[FINE_LABEL] = row[FINE_LABEL]
    return out


def _write_shard(path: Path, rows: list[dict], has_fine: bool, stats: dict) -> None:
    """The shard's statistics, then its Parquet file, each written under a temporary name and renamed."""
    features = datasets.Features(
        {
            IMAGE: datasets.Image(),
            LABEL: datasets.Image(),
            PROVENANCE: datasets.Image(),
            NATIVE_LABEL: datasets.Image(),
            IMAGE_ID: datasets.Value("string"),
            DATASET: datasets.Value("string"),
            **({FINE_LABEL: datasets.Image()} if has_fine else {}),
        }
    )
    tmp = path.with_name(path.name + ".tmp")
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(tmp))
    path_of_stats = stats_path(path)
    stats_tmp = path_of_stats.with_name(path_of_stats.name + ".tmp")
    stats_tmp.write_text(json.dumps(stats) + "\n", encoding="utf-8")
    os.replace(stats_tmp, path_of_stats)
    os.replace(tmp, path)  # last: a shard in data/ always has its statistics

"""Pseudo-label a built dataset with a teacher, constrained by each pixel's own ground truth.

Work is cut into shards of a fixed number of images; each shard is written (Parquet plus its
statistics) under a temporary name and renamed when complete, so an interrupted run restarts
where it stopped, and under `accelerate launch` every process takes its own shards.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from PIL import Image
from tqdm.auto import tqdm

from train.model import check_teacher, load_model
from train.transforms import normalize
from unify.build import load_split, read_metadata, write_metadata
from unify.core.constants import (DATASET, FINE_LABEL, IGNORE_INDEX, IMAGE, IMAGE_ID, LABEL, NATIVE_LABEL, PROVENANCE,
                             PROVENANCE_NAMES, REPORT_FILE)
from unify.core.errors import BadSampleError, UnifyError
from unify.core.images import decode_label, encode_label
from unify.core.mapping import get_mapping
from unify.core.pseudo_label_kernel import constrained_pseudo_labels, provenance_statistics, tta_probabilities, unconstrained_labels

logger = logging.getLogger(__name__)


@dataclass
class LabellingOptions:
    taxonomy: str  # unified taxonomy; must be the teacher's label space
    scales: tuple[float, ...] = (1.0,)  # test-time scales
    flip: bool = False  # also average the horizontally mirrored prediction
    batch_size: int = 4  # images per teacher forward (consecutive images of the same size)
    shard_size: int = 256  # images per output shard: the unit of restart and of work sharing
    splits: tuple[str, ...] | None = None  # None: every split of the input


def pseudo_label_dataset(teacher: str, input_dir: Path | str, output_dir: Path | str, options: LabellingOptions) -> dict:
    """Write the unified dataset and its statistics report; returns the report."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    accelerator = Accelerator()
    metadata = read_metadata(input_dir)
    mapping = get_mapping(metadata["native_taxonomy"], options.taxonomy)
    model = load_model(teacher).to(accelerator.device).eval()
    check_teacher(model, mapping.unified, teacher)
    tables = mapping.tables.to(accelerator.device)
    splits = options.splits or tuple(metadata["splits"])
    missing = [s for s in splits if s not in metadata["splits"]]
    if missing:
        raise UnifyError(f"{input_dir} has no split(s) {missing}; it has {list(metadata['splits'])}")
    (output_dir / "data").mkdir(parents=True, exist_ok=True)
    (output_dir / "stats").mkdir(exist_ok=True)
    for split in splits:
        table = load_split(input_dir, split)
        table = table.cast_column(IMAGE, datasets.Image(decode=False)).cast_column(LABEL, datasets.Image(decode=False))
        if FINE_LABEL in table.column_names:
            table = table.cast_column(FINE_LABEL, datasets.Image(decode=False))
        num_shards = max(1, -(-len(table) // options.shard_size))
        for stale in (output_dir / "data").glob(f"{split}-*.parquet"):  # from a run over a different input
            if not stale.name.endswith(f"-of-{num_shards:05d}.parquet"):
                stale.unlink(missing_ok=True)
        for shard in range(accelerator.process_index, num_shards, accelerator.num_processes):
            path = output_dir / "data" / f"{split}-{shard:05d}-of-{num_shards:05d}.parquet"
            if path.is_file():
                continue  # done by an earlier, interrupted run
            rows = table.select(range(shard * options.shard_size, min(len(table), (shard + 1) * options.shard_size)))
            _label_shard(model, rows, tables, options, path, output_dir / "stats" / f"{path.stem}.json",
                         desc=f"{split} {shard + 1}/{num_shards}", show=accelerator.is_local_main_process)
    accelerator.wait_for_everyone()
    report = _merge_statistics(output_dir, splits, mapping.unified, teacher, options)
    if accelerator.is_main_process:
        counts = {s: metadata["splits"][s] for s in splits}
        write_metadata(output_dir, mapping, dataset=metadata["dataset"], config=metadata["config"], splits=counts,
                       source=metadata["source"], skipped=metadata.get("skipped", []),
                       extra={"kind": "pseudo_labelled", "teacher": str(teacher),
                              "tta": {"scales": list(options.scales), "flip": options.flip}})
        (output_dir / REPORT_FILE).write_text(json.dumps(report, indent=2))
    return report


def _decode_rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _batches(rows: datasets.Dataset, batch_size: int):
    """Consecutive rows of equal image size, at most batch_size at a time."""
    batch: list[tuple[dict, np.ndarray, np.ndarray]] = []
    for row in rows:
        image = _decode_rgb(row[IMAGE]["bytes"])
        native = decode_label(row[LABEL]["bytes"], source=f"{row[IMAGE_ID]} (label)")
        if native.shape != image.shape[:2]:
            raise BadSampleError(row[IMAGE_ID], f"label {native.shape} and image {image.shape[:2]} differ in size")
        if batch and (len(batch) == batch_size or batch[0][1].shape != image.shape):
            yield batch
            batch = []
        batch.append((row, image, native))
    if batch:
        yield batch


@torch.inference_mode()
def _label_shard(model, rows, tables, options: LabellingOptions, path: Path, stats_path: Path, desc: str, show: bool):
    device = next(model.parameters()).device
    num_labels = model.config.num_labels
    out_rows, counts = [], torch.zeros(len(PROVENANCE_NAMES), num_labels + 1, dtype=torch.int64)
    accuracy = {"constrained": [0, 0], "unconstrained": [0, 0]}
    with tqdm(total=len(rows), desc=f"pseudo-label {desc}", disable=not show, leave=False) as progress:
        for batch in _batches(rows, options.batch_size):
            pixels = normalize(torch.from_numpy(np.stack([b[1] for b in batch])).permute(0, 3, 1, 2)).to(device)
            native = torch.from_numpy(np.stack([b[2] for b in batch]).astype(np.int64)).to(device)
            probs = tta_probabilities(lambda x: model(pixel_values=x).logits, pixels, options.scales, options.flip)
            result = constrained_pseudo_labels(probs, native, tables)
            counts += provenance_statistics(result, num_labels).cpu()
            if FINE_LABEL in batch[0][0]:
                teacher_only = unconstrained_labels(probs, tuple(native.shape[-2:]))
                fine = torch.from_numpy(np.stack([decode_label(b[0][FINE_LABEL]["bytes"]) for b in batch])).to(device)
                _count_correct(accuracy["constrained"], result.label, fine)
                _count_correct(accuracy["unconstrained"], teacher_only, fine)
            for (row, _, _), label, provenance in zip(batch, result.label.cpu().numpy(), result.provenance.cpu().numpy()):
                out_rows.append(_output_row(row, label, provenance))
            progress.update(len(batch))
    features = datasets.Features({IMAGE: datasets.Image(), LABEL: datasets.Image(), PROVENANCE: datasets.Image(),
                                  NATIVE_LABEL: datasets.Image(), IMAGE_ID: datasets.Value("string"),
                                  DATASET: datasets.Value("string"),
                                  **({FINE_LABEL: datasets.Image()} if FINE_LABEL in rows.column_names else {})})
    tmp = path.with_suffix(".parquet.tmp")
    datasets.Dataset.from_list(out_rows, features=features).to_parquet(str(tmp))
    stats_path.write_text(json.dumps({"counts": counts.tolist(), "accuracy": accuracy}))
    tmp.rename(path)


def _count_correct(tally: list[int], prediction: torch.Tensor, fine: torch.Tensor) -> None:
    valid = fine != IGNORE_INDEX
    tally[0] += int((prediction.long() == fine.long())[valid].sum())
    tally[1] += int(valid.sum())


def _output_row(row: dict, label: np.ndarray, provenance: np.ndarray) -> dict:
    out = {IMAGE: row[IMAGE], LABEL: {"bytes": encode_label(label), "path": None},
           PROVENANCE: {"bytes": encode_label(provenance), "path": None}, NATIVE_LABEL: row[LABEL],
           IMAGE_ID: row[IMAGE_ID], DATASET: row[DATASET]}
    if FINE_LABEL in row:
        out[FINE_LABEL] = row[FINE_LABEL]
    return out


def _merge_statistics(output_dir: Path, splits, unified, teacher: str, options: LabellingOptions) -> dict:
    counts = torch.zeros(len(PROVENANCE_NAMES), unified.num_labels + 1, dtype=torch.int64)
    accuracy = {"constrained": [0, 0], "unconstrained": [0, 0]}
    for split in splits:
        for data_shard in sorted((output_dir / "data").glob(f"{split}-*.parquet")):  # the statistics of each shard kept
            shard = json.loads((output_dir / "stats" / f"{data_shard.stem}.json").read_text())
            counts += torch.tensor(shard["counts"])
            for key in accuracy:
                accuracy[key] = [a + b for a, b in zip(accuracy[key], shard["accuracy"][key])]
    names = [c.name for c in unified.trainable] + ["void"]
    total = max(int(counts.sum()), 1)
    report = {
        "teacher": str(teacher), "taxonomy": unified.name, "splits": list(splits),
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

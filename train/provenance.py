"""`provenance.json`: what a run started from and trained on, in terms that survive the run folder moving.

Written by the main process when training starts. It holds no absolute path: data folders are given
relative to the run folder and models by their `ModelIdentity`. The Hub code reads it (never the data
folders) to describe a run, so `unify push model RUN` works from any directory and after the data is gone.
"""

from __future__ import annotations

import json
from pathlib import Path

from train.config import DataSource, TrainConfig, relative_to_run
from train.data import open_source
from train.loss import SourceTargets
from train.parallel import BatchPlan
from unify.core.folder import FolderMetadata
from unify.core.segmenter import ModelIdentity
from unify.core.taxonomy import Taxonomy

PROVENANCE_FILE = "provenance.json"
PROVENANCE_VERSION = "2"


def describe_source(source: DataSource, taxonomy: Taxonomy, run: Path, targets: tuple[str, str] | None = None) -> dict:
    """The provenance record of one data source, from its folder's `FolderMetadata`.

    Checks the source as training does (`open_source`: taxonomy, split, label column and, when its targets
    read them, native column), so it raises the same `UnifyError`s before anything is written. `images` counts
    the split's rows; `path` is relative to the run folder. `targets`, for a training source, is its resolved
    (targets, fill_in) (`TrainConfig.targets_of`), recorded as `targets` and `fill_in`: what its pixels taught
    (`train.loss`); evaluation sources have neither key.
    """
    native = targets is not None and SourceTargets(*targets, mapping=None).needs_native
    table, column, _ = open_source(source, taxonomy, native)
    metadata = FolderMetadata.read(source.path)
    taught = {} if targets is None else {"targets": targets[0], "fill_in": targets[1]}
    return {
        "name": source.name,
        "path": relative_to_run(source.path, run),
        "split": source.split,
        "weight": source.weight,
        "label_column": column,
        "dataset": metadata.dataset,
        "config": metadata.config,
        "kind": metadata.kind,
        "teacher": metadata.teacher,
        "images": len(table),
        "unified_taxonomy": metadata.unified_taxonomy.name,
        **taught,
    }


def write_provenance(
    run: Path, config: TrainConfig, model: ModelIdentity, plan: BatchPlan, sources: dict[str, list[dict]]
) -> None:
    """Write `run/provenance.json`; `sources` maps "train" and "eval" to `describe_source` records."""
    record = {
        "format_version": PROVENANCE_VERSION,
        "taxonomy": config.taxonomy,
        "model": model.to_json(),
        "global_batch_size": plan.global_batch_size,
        "steps": config.steps,
        "num_processes": plan.num_processes,
        "per_device_batch_size": plan.per_device_batch_size,
        "sources": sources,
    }
    (run / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n")

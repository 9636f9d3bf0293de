"""One run of the driver: check the input, prepare the output, label this process's shards, write the report.

Every check that can refuse the run (input folder, recorded mapping, teacher, splits, output folder) comes
before anything is written. Under several processes each labels its share of the shards; the main process
writes the folder's own files last, after every process finished.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from accelerate import Accelerator

from unify.core.constants import REPORT_FILE
from unify.core.errors import UnifyError
from unify.core.folder import BUILT, PSEUDO_LABELLED, FolderMetadata, LabelColumns
from unify.core.mapping import LabelMapping, get_mapping, list_mappings, mapping_path
from unify.core.segmenter import Segmenter, processes_without_gpu
from unify.core.taxonomy import get_taxonomy, resolve_alias
from unify.pseudo_label_driver.fingerprints import finished_on_record, settings_of
from unify.pseudo_label_driver.options import LabellingOptions
from unify.pseudo_label_driver.output import Work, prepare_output, shards_of
from unify.pseudo_label_driver.report import merge_statistics
from unify.pseudo_label_driver.shard import Labeller

logger = logging.getLogger(__name__)


def pseudo_label_dataset(
    teacher: str, input_dir: Path | str, output_dir: Path | str, options: LabellingOptions
) -> dict:
    """Write the unified dataset and its statistics report into `output_dir`; returns the report.

    `teacher` is a model folder or Hub id predicting the unified taxonomy. The run labels `options.splits`
    (all when None); splits `output_dir` holds already that it leaves out stay, when up to date, and the
    folder's metadata and report describe every split its `data/` holds, in the input's split order. Raises
    `UnifyError` when the input is not a built folder or lacks a named split, its recorded mapping differs
    from the package's, the teacher predicts other classes, `output_dir` is a folder of another kind, or
    `output_dir` holds labels made with other settings or an out-of-date split not named (without
    `options.overwrite`); these checks run before anything is written.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    accelerator = Accelerator(cpu=processes_without_gpu())  # torchrun on CPUs: one job, shared
    metadata = FolderMetadata.read(input_dir)
    mapping = recorded_mapping(metadata, options.taxonomy, input_dir)
    segmenter = Segmenter.load(teacher, device=accelerator.device)
    segmenter.check_predicts(mapping.unified, role="the teacher")
    missing = [s for s in options.splits or () if s not in metadata.splits]
    if missing:
        raise UnifyError(f"{input_dir} has no split(s) {missing}; it has {list(metadata.splits)}")
    named = [s for s in metadata.splits if not options.splits or s in options.splits]  # the input's order
    precision = options.precision(segmenter.device)
    settings = settings_of(segmenter, mapping, options, precision)
    kept = prepare_output(input_dir, output_dir, settings, named, metadata, options.overwrite, accelerator)
    splits = [s for s in metadata.splits if s in named or s in kept]  # what the folder holds when done
    work = shards_of(input_dir, output_dir, named, options.shard_size, accelerator)
    if accelerator.is_main_process:
        _log_reuse(output_dir, work, settings)
    labeller = Labeller(segmenter, mapping, metadata.columns, options, precision)
    started = time.perf_counter()
    mine = work[accelerator.process_index :: accelerator.num_processes]
    labelled = labeller.run(mine, settings, show=accelerator.is_local_main_process)
    if labelled:
        seconds = time.perf_counter() - started
        logger.info(
            "labelled %d images in %.1f s (%.2f images/s) on %s",
            labelled,
            seconds,
            labelled / seconds,
            segmenter.device,
        )
    accelerator.wait_for_everyone()
    report = merge_statistics(output_dir, splits, mapping, segmenter, options)
    if accelerator.is_main_process:
        result = FolderMetadata(
            kind=PSEUDO_LABELLED,
            dataset=metadata.dataset,
            config=metadata.config,
            mapping=mapping,
            splits={s: metadata.splits[s] for s in splits},
            columns=LabelColumns.for_kind(PSEUDO_LABELLED),
            source=metadata.source,
            skipped=metadata.skipped,
            raw_fingerprint=metadata.raw_fingerprint,
            teacher=report["teacher"],
            tta=report["tta"],
        )
        result.write(output_dir)
        (output_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    accelerator.wait_for_everyone()
    return report


def _log_reuse(output_dir: Path, work: list[Work], settings: dict) -> None:
    """One line: how many of the run's shards are finished (from an earlier run) and reused, how many to label."""
    finished = sum(finished_on_record(w.path, settings, [w.start, w.start + len(w.rows)]) for w in work)
    logger.info(
        "%s: reusing %d finished shard(s), labelling %d (of %d); a finished shard whose input rows changed since "
        "is labelled again, with a line of its own",
        output_dir,
        finished,
        len(work) - finished,
        len(work),
    )


def recorded_mapping(metadata: FolderMetadata, taxonomy: str | None, folder: Path) -> LabelMapping:
    """The mapping recorded in a built folder, after checking it against the package's file for the same pair.

    Raises `UnifyError` when the folder is not a built one, was built for another unified taxonomy than
    `taxonomy` (with the command that rebuilds it for `taxonomy`, or, when no mapping file leads there from the
    folder's native taxonomy, the unified taxonomies it does map into), or when the package's mapping file now
    says something else (with the command that rebuilds).
    """
    if metadata.kind != BUILT:
        raise UnifyError(f"{folder} is a {metadata.kind} folder; pseudo-label a folder written by `unify build`")
    mapping = metadata.mapping
    if taxonomy is not None and taxonomy != mapping.unified.name:
        native = mapping.native.name
        get_taxonomy(taxonomy)  # an unknown name is its own error, with the known ones
        targets = sorted({unified for source, unified in list_mappings() if source == native})
        if taxonomy != native and taxonomy not in targets:
            raise UnifyError(
                f"{folder} was built for the unified taxonomy {mapping.unified.name}, not {taxonomy}, and no "
                f"rebuild can change that: there is no mapping from its native taxonomy {native} to {taxonomy} "
                f"({mapping_path(resolve_alias(native), taxonomy)} does not exist). {native} maps into: "
                f"{', '.join(targets) or 'nothing yet'}; pseudo-label for one of those, or write the mapping "
                f"first (`unify mappings suggest` drafts one)"
            )
        raise UnifyError(
            f"{folder} was built for the unified taxonomy {mapping.unified.name}, not {taxonomy}; "
            f"rebuild it for {taxonomy}: {rebuild_command(metadata, taxonomy, folder)}"
        )
    try:
        current = get_mapping(mapping.native.name, mapping.unified.name)
    except UnifyError:
        logger.info(
            "no registered mapping %s -> %s: using the one recorded in %s",
            mapping.native.name,
            mapping.unified.name,
            folder,
        )
        return mapping
    differences = mapping.differences(current)
    if differences or [c.to_json() for c in current.unified.classes] != mapping.unified.to_json():
        listed = "\n  ".join(differences[:10]) or "the unified class table differs"
        raise UnifyError(
            f"the mapping recorded in {folder} (here) differs from the package's "
            f"{mapping.native.name} -> {mapping.unified.name} file (there):\n  {listed}\n"
            f"rebuild the folder with the current mapping: {rebuild_command(metadata, mapping.unified.name, folder)}"
        )
    return mapping


def rebuild_command(metadata: FolderMetadata, taxonomy: str, folder: Path) -> str:
    """The `unify build` command line that writes `folder` again for the unified `taxonomy`, as one sentence.

    `--data-dir RAW` is given only for a builder that reads a raw folder (a non-empty `LAYOUT_HELP`; the synthetic
    dataset has none), followed by what RAW stands for: the user's own raw copy, whose path no folder records.
    A dataset name no builder is registered under (an edited unify.json) is treated as one that needs a raw folder.
    """
    from dataset_scripts import builder_registry

    command = f"unify build {metadata.dataset} --config {metadata.config} --taxonomy {taxonomy}"
    builder = builder_registry().get(metadata.dataset)
    if builder is not None and not builder.LAYOUT_HELP:
        return f"{command} --output {folder}"
    return f"{command} --data-dir RAW --output {folder} (RAW: your raw {metadata.dataset} folder)"

"""`unify build`: run a dataset builder and lay out what it writes as a dataset folder (`unify.core.folder`).

The output folder is read by plain `datasets.load_dataset(OUT)`: `data/` holds the samples, and the
unified class table and the native->unified allowed sets travel with them, both as the configurations
`unified_classes` and `label_mapping` and in `unify.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from dataset_scripts import get_builder_class
from unify.core.errors import UnifyError
from unify.core.folder import BUILT, FolderMetadata, LabelColumns, SkippedSample, SourceInfo, shard_name

logger = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """What `build_dataset` wrote."""

    output_dir: Path
    dataset: str
    config: str
    num_examples: dict[str, int]  # split -> samples written
    skipped: list[SkippedSample] = field(default_factory=list)


def build_dataset(
    name: str,
    output_dir: Path | str,
    data_dir: Path | str | None = None,
    config: str | None = None,
    unified_taxonomy: str | None = None,
    num_proc: int | None = None,
    skip_bad: bool = False,
    **config_kwargs,
) -> BuildReport:
    """Build dataset `name` from its raw folder into `output_dir` (replaced only once the build succeeded).

    Raises `UnifyError` for an unknown dataset, configuration or layout, `BadSampleError` for the first bad
    sample (unless `skip_bad`), and `UnifyError` when every sample was skipped: an empty dataset is no success.
    """
    output_dir = Path(output_dir)
    builder_cls = get_builder_class(name)
    staging_parent = output_dir.parent if output_dir.parent.exists() else None
    with tempfile.TemporaryDirectory(prefix=f"unify-build-{name}-", dir=staging_parent) as tmp:
        tmp = Path(tmp)
        builder = builder_cls(
            config_name=config,
            data_dir=str(data_dir) if data_dir else None,
            cache_dir=str(tmp / "cache"),
            unified_taxonomy=unified_taxonomy,
            skip_bad=skip_bad,
            skip_log=str(tmp / "skipped"),
            **config_kwargs,
        )
        where = f"{name}/{builder.config.name}"
        staging = tmp / "out"
        try:
            builder.download_and_prepare(output_dir=str(staging), file_format="parquet", num_proc=num_proc)
        except datasets.exceptions.DatasetGenerationError as exc:
            if isinstance(exc.__cause__, UnifyError):
                raise exc.__cause__ from None  # the message that names the file is the useful one
            raise
        skipped = _read_skips(tmp / "skipped", data_dir)
        splits = {split: info.num_examples for split, info in builder.info.splits.items()}
        if skipped and sum(splits.values()) == 0:
            reasons = "\n  ".join(f"{s.file}: {s.reason}" for s in skipped[:5])
            raise UnifyError(
                f"{where}: every sample was skipped ({len(skipped)} in all); nothing was written. "
                f"The first reasons:\n  {reasons}"
            )
        _arrange_shards(staging, builder.name, list(splits))
        for split in [s for s, n in splits.items() if n == 0]:  # every sample of this split skipped
            logger.warning("%s: every sample of split %r was skipped; the split is left out", where, split)
            del splits[split]
        metadata = FolderMetadata(
            kind=BUILT,
            dataset=name,
            config=builder.config.name,
            mapping=builder.mapping,
            splits=splits,
            columns=LabelColumns.for_kind(BUILT),
            source=source_info(builder_cls),
            skipped=skipped,
            raw_fingerprint=raw_fingerprint(data_dir) if data_dir else None,
        )
        metadata.write(staging)
        for leftover in staging.glob("*.json"):
            if leftover.name not in ("unify.json", "id2label.json"):
                leftover.unlink()
        if output_dir.exists():
            shutil.rmtree(output_dir)
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(output_dir))
    logger.info("built %s into %s: %s", where, output_dir, splits)
    return BuildReport(output_dir, name, builder.config.name, splits, skipped)


def raw_splits(name: str, data_dir: Path | str | None = None, config: str | None = None) -> list[str]:
    """The splits `build_dataset(name, ..., data_dir, config)` would write, from listing the raw folder alone.

    Nothing is read or built (`DrivingDatasetBuilder.raw_samples`): a cheap check of a raw folder before long
    work. Raises `UnifyError` for an unknown dataset or configuration, a missing `data_dir` where the builder
    needs one, and a folder whose layout the builder does not recognise or that holds no sample (the builder's
    layout error, which names the folder and the expected layout).
    """
    builder_cls = get_builder_class(name)
    with tempfile.TemporaryDirectory(prefix=f"unify-layout-{name}-") as cache:
        builder = builder_cls(config_name=config, data_dir=str(data_dir) if data_dir else None, cache_dir=cache)
        return list(builder.raw_samples())


def source_info(builder_cls) -> SourceInfo:
    """Homepage, licence, citation and redistribution policy as the builder declares them."""
    return SourceInfo(
        homepage=builder_cls.HOMEPAGE,
        license=builder_cls.LICENSE,
        citation=builder_cls.CITATION.strip(),
        redistribution_allowed=builder_cls.REDISTRIBUTION_ALLOWED,
    )


def raw_fingerprint(data_dir: Path | str) -> str:
    """sha256 of every file's relative path, size and modification time under `data_dir` (symlinks followed).

    Cheap enough to compute on every `unify.load_dataset` call (no file is read), and it changes when a frame
    is added, removed, replaced or edited in place.
    """
    digest = hashlib.sha256()
    root = Path(data_dir)
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            stat = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _arrange_shards(staging: Path, builder_name: str, splits: list[str]) -> None:
    """`<builder>-<split>-00000-of-00002.parquet` -> `data/<split>-00000-of-00002.parquet`; empty ones removed."""
    (staging / "data").mkdir()
    for split in splits:
        # exact names only: split "train" must not take the shards of split "train_extra"
        shards = sorted(
            [
                *staging.glob(f"{builder_name}-{split}.parquet"),
                *staging.glob(f"{builder_name}-{split}-[0-9]*-of-[0-9]*.parquet"),
            ]
        )
        for index, shard in enumerate(shards):
            shard.rename(staging / "data" / shard_name(split, index, len(shards)))


def _read_skips(folder: Path, data_dir: Path | str | None) -> list[SkippedSample]:
    """The skips every builder process recorded, sorted by image id, files relative to `data_dir`."""
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    root = Path(os.path.abspath(data_dir)) if data_dir else None
    skipped = []
    for record in sorted(records, key=lambda r: r["image_id"]):
        file = Path(os.path.abspath(record["file"]))
        # relative to the raw folder, else the bare name: never a path that only means something on this machine
        file = file.relative_to(root) if root is not None and file.is_relative_to(root) else Path(file.name)
        skipped.append(SkippedSample(image_id=record["image_id"], file=file.as_posix(), reason=record["reason"]))
    return skipped

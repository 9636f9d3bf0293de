"""Labels without images: what a labels-only push leaves out, and how `unify attach-images` puts it back.

Most driving licences forbid redistributing images. A labels-only push keeps the unified labels, their
provenance, the image ids, the dataset names and one more column, `image_sha256`: the sha256 of each image
file that was labelled. Its `unify.json` records (`FolderMetadata.labels_only`) which columns were left out
and which column of a fresh build restores each. `attach_images` rebuilds the dataset from the user's own raw
copy with the same builder, pairs rows by `image_id`, and refuses a row whose image is missing from the copy
or is not the file that was labelled (another photo under the same name): with `skip_bad` such rows are left
out and listed in the output's metadata instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import huggingface_hub
import pyarrow as pa
import pyarrow.parquet as pq

from unify.core.constants import DATASET, IMAGE, IMAGE_ID, METADATA_FILE, REPORT_FILE
from unify.core.errors import UnifyError
from unify.core.folder import BUILT, FolderMetadata, LabelColumns, SkippedSample, split_shards

logger = logging.getLogger(__name__)

IMAGE_CHECKSUM = "image_sha256"
"""Column of a labels-only push: hex sha256 of the bytes of the image file that was labelled."""
_LISTED = 5  # rows named in an error message


@dataclass(frozen=True)
class LabelsOnlyRecord:
    """What a labels-only push left out (`FolderMetadata.labels_only`), so that attach-images can restore it."""

    columns: list[str]  # the full folder's columns, in order
    kept: list[str]  # the pushed columns (without the checksum column)
    restore_from_build: dict[str, str]  # left-out column -> the column of a fresh build that restores it
    roles: dict[str, str | None]  # the full folder's LabelColumns
    checksum_column: str = IMAGE_CHECKSUM  # hex sha256 of each labelled image

    def to_json(self) -> dict:
        """The record as `FolderMetadata.labels_only` holds it (plain JSON types)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, record: dict, where: str) -> LabelsOnlyRecord:
        """The record of a labels-only folder; `UnifyError` naming `where` for one without image checksums."""
        if not record.get("checksum_column") or "roles" not in record:
            raise UnifyError(
                f"{where} is a labels-only dataset pushed without image checksums, so attached images "
                f"could not be checked against the ones that were labelled; push it again with this "
                f"version of unify-driving (`unify push dataset FOLDER --labels-only`)"
            )
        try:
            return cls(**record)
        except TypeError as exc:
            raise UnifyError(f"{where}: malformed labels_only record ({exc})") from exc


def image_sha256(content: bytes | None, where: str) -> str:
    """Hex sha256 of an image file's bytes; `UnifyError` naming `where` when the row holds no bytes."""
    if content is None:
        raise UnifyError(
            f"{where}: the image cell holds no bytes (only a path); rebuild the folder with "
            f"`unify build`, which embeds the image files"
        )
    return hashlib.sha256(content).hexdigest()


def _image_checksums(table: pa.Table, where: str) -> list[str]:
    ids = table.column(IMAGE_ID).to_pylist()
    images = table.column(IMAGE).combine_chunks().field("bytes")
    return [image_sha256(images[i].as_py(), f"{where} image {ids[i]}") for i in range(len(ids))]


def strip_images(folder: Path, metadata: FolderMetadata, stage: Path) -> FolderMetadata:
    """Write the labels-only shards of `folder` into `stage/data` (same names); returns the metadata to push.

    Each shard keeps the unified label, provenance, image id and dataset columns and gains `image_sha256`.
    The returned metadata declares no native column and carries the `LabelsOnlyRecord`. Raises `UnifyError`
    naming the row when an image cell holds no bytes.
    """
    roles = metadata.columns
    record = None
    (stage / "data").mkdir(parents=True, exist_ok=True)
    for split, shards in split_shards(folder).items():
        for shard in shards:
            table = pq.read_table(shard)
            if record is None:
                record = _record(table.column_names, roles)
            checksums = _image_checksums(table, f"{folder} ({split})")
            rows = datasets.Dataset(datasets.table.InMemoryTable(table)).select_columns(record.kept)
            rows = rows.add_column(IMAGE_CHECKSUM, checksums)
            rows.to_parquet(str(stage / "data" / shard.name))
    columns = LabelColumns(native=None, unified=roles.unified, provenance=roles.provenance)
    return dataclasses.replace(metadata, columns=columns, labels_only=record.to_json())


def _record(columns: list[str], roles: LabelColumns) -> LabelsOnlyRecord:
    kept = [c for c in columns if c in (roles.unified, roles.provenance, IMAGE_ID, DATASET)]
    built_native = LabelColumns.for_kind(BUILT).native
    restore = {c: (built_native if c == roles.native else c) for c in columns if c not in kept}
    return LabelsOnlyRecord(
        columns=list(columns), kept=kept, restore_from_build=restore, roles=dataclasses.asdict(roles)
    )


# -- putting the images back ------------------------------------------------------------------------------
@dataclass
class AttachReport:
    """What `attach_images` wrote."""

    counts: dict[str, int]  # split -> rows written
    skipped: list[SkippedSample] = field(default_factory=list)  # rows left out with skip_bad, with the reason


def attach_images(
    source: Path | str, data_dir: Path | str | None, output_dir: Path | str, *, skip_bad: bool = False, **config_kwargs
) -> AttachReport:
    """Rebuild a labels-only dataset (folder or Hub id) with the images and native labels of a raw copy.

    The builder named in the metadata reads `data_dir` (`config_kwargs` reach its configuration, as in
    `build_dataset`); its rows are paired with the labels by `image_id`, and each image's sha256 must be the
    one recorded when it was labelled. Raises `UnifyError` naming the rows whose image is missing or differs,
    unless `skip_bad`: then they are left out, logged and listed in the output's `unify.json` (`skipped`),
    and so are the samples the builder finds bad in the raw copy. `output_dir` is replaced only when
    everything succeeded.
    """
    from unify.build import build_dataset

    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="unify-attach-", dir=output_dir.parent) as tmp:
        tmp = Path(tmp)
        folder = _local_dataset(source, tmp / "labels")
        metadata = FolderMetadata.read(folder)
        if metadata.labels_only is None:
            raise UnifyError(
                f"{source} is not a labels-only dataset (its {METADATA_FILE} has no labels_only "
                f"record); it already holds its images"
            )
        record = LabelsOnlyRecord.from_json(metadata.labels_only, str(source))
        build_dataset(
            metadata.dataset,
            tmp / "raw",
            data_dir=data_dir,
            config=metadata.config,
            unified_taxonomy=metadata.unified_taxonomy.name,
            skip_bad=skip_bad,
            **config_kwargs,
        )
        raw = _RawCopy(tmp / "raw", tmp / "cache")
        staging = tmp / "out"
        (staging / "data").mkdir(parents=True)
        report = AttachReport(counts={})
        for split, shards in split_shards(folder).items():
            for shard in shards:
                labels = datasets.Dataset(datasets.table.InMemoryTable(pq.read_table(shard)))
                kept, problems = raw.check(labels, record)
                if problems and not skip_bad:
                    _refuse(problems, len(labels), f"{source} ({split})")
                report.skipped += problems
                if kept:
                    joined = raw.join(labels.select(kept), record)
                    joined.to_parquet(str(staging / "data" / shard.name))
                    report.counts[split] = report.counts.get(split, 0) + len(joined)
        _finish(staging, folder, metadata, record, report)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        shutil.move(str(staging), str(output_dir))
    logger.info("attached images to %s into %s: %s", source, output_dir, report.counts)
    return report


class _RawCopy:
    """The rows of a fresh build of the user's raw copy (memory-mapped), by image id, with their images' sha256."""

    _BATCH = 64  # rows whose image bytes are in memory at once while hashing

    def __init__(self, folder: Path, cache: Path):
        shards = [str(p) for paths in split_shards(folder).values() for p in paths]
        self.rows = datasets.Dataset.from_parquet(shards, cache_dir=str(cache))
        self.index = {image_id: row for row, image_id in enumerate(self.rows[IMAGE_ID])}
        self.checksums: list[str] = []
        self.files: list[str] = []
        images = self.rows.select_columns([IMAGE_ID, IMAGE]).with_format("arrow")
        for batch in images.iter(batch_size=self._BATCH):
            self.checksums += _image_checksums(batch, "the raw copy")
            self.files += [name or "" for name in batch.column(IMAGE).combine_chunks().field("path").to_pylist()]

    def check(self, labels: datasets.Dataset, record: LabelsOnlyRecord) -> tuple[list[int], list[SkippedSample]]:
        """Rows of `labels` whose image is in the raw copy and is the one labelled, and the others with why."""
        kept, problems = [], []
        for i, (image_id, expected) in enumerate(zip(labels[IMAGE_ID], labels[record.checksum_column], strict=True)):
            row = self.index.get(image_id)
            if row is None:
                problems.append(SkippedSample(image_id, "", "not in the raw copy"))
            elif self.checksums[row] != expected:
                problems.append(
                    SkippedSample(
                        image_id,
                        self.files[row],
                        f"the raw copy's image (sha256 {self.checksums[row][:12]}) is not "
                        f"the one that was labelled (sha256 {expected[:12]})",
                    )
                )
            else:
                kept.append(i)
        return kept, problems

    def join(self, labels: datasets.Dataset, record: LabelsOnlyRecord) -> datasets.Dataset:
        """`labels` with the left-out columns taken from the raw rows of the same image id, in the full order."""
        rows = self.rows.select([self.index[image_id] for image_id in labels[IMAGE_ID]])
        taken = rows.select_columns(list(record.restore_from_build.values()))
        renames = {built: column for column, built in record.restore_from_build.items() if built != column}
        if renames:
            taken = taken.rename_columns(renames)
        labels = labels.remove_columns([record.checksum_column])
        return datasets.concatenate_datasets([labels, taken], axis=1).select_columns(record.columns)


def _refuse(problems: list[SkippedSample], total: int, where: str) -> None:
    listed = "\n  ".join(f"{p.image_id}{f' ({p.file})' if p.file else ''}: {p.reason}" for p in problems[:_LISTED])
    more = f"\n  ... and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
    raise UnifyError(
        f"{where}: {len(problems)} of {total} images of the raw copy are missing or are not the ones "
        f"that were labelled; is it the same release of the dataset?\n  {listed}{more}\n"
        f"pass --skip-bad to leave these rows out (they are listed in the output's {METADATA_FILE})"
    )


def _finish(
    staging: Path, folder: Path, metadata: FolderMetadata, record: LabelsOnlyRecord, report: AttachReport
) -> None:
    """Write the full folder's metadata (and the labelling report) beside the attached shards."""
    if report.skipped:
        logger.warning(
            "left out %d rows whose image is missing from the raw copy or differs: %s",
            len(report.skipped),
            ", ".join(s.image_id for s in report.skipped),
        )
        if not report.counts:
            raise UnifyError("every row was left out: the raw copy holds none of the labelled images")
    restored = dataclasses.replace(
        metadata,
        labels_only=None,
        images_attached=True,
        splits=dict(report.counts),
        columns=LabelColumns(**record.roles),
        skipped=metadata.skipped + report.skipped,
    )
    restored.write(staging)
    if (folder / REPORT_FILE).is_file():
        if report.skipped:
            logger.warning("%s still counts the pixels of the %d rows left out", REPORT_FILE, len(report.skipped))
        shutil.copy2(folder / REPORT_FILE, staging / REPORT_FILE)


def _local_dataset(source: Path | str, download_to: Path) -> Path:
    """A local folder as it is; a Hub id (namespace/name) downloaded into `download_to`."""
    if Path(source).is_dir():
        return Path(source)
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
        raise UnifyError(f"{source} is neither a folder nor a Hub dataset id (namespace/name)")
    huggingface_hub.snapshot_download(str(source), repo_type="dataset", local_dir=download_to)
    return download_to

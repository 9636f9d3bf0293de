"""Which datasets' images a folder holds, under which licence, and whether they may be pushed.

The licence facts of the folder's own dataset are those `unify build` recorded in its metadata
(`FolderMetadata.source`, written by `unify.build.source_info` from the builder's constants). Rows of other
datasets (a compound folder) take theirs from the builder registry. A dataset that neither knows is not
redistributable: nothing says it may be shared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from dataset_scripts import builder_registry
from unify.build import source_info
from unify.core.constants import DATASET
from unify.core.folder import FolderMetadata, SourceInfo, split_shards

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSource:
    """One dataset whose rows are in a folder: its licence facts and how many images of each split it gave."""

    name: str  # builder name, as the rows' `dataset` column holds it
    info: SourceInfo  # homepage, licence, citation, whether images may be redistributed
    images: dict[str, int]  # split -> rows from this dataset

    @property
    def redistribution_allowed(self) -> bool:
        """Whether the dataset's licence lets its images be pushed (False when nothing says so)."""
        return self.info.redistribution_allowed

    def notice(self) -> str:
        """One line saying that this dataset's images may not be redistributed, and under which licence."""
        homepage = f" ({self.info.homepage})" if self.info.homepage else ""
        return (
            f"{self.name}: images may not be redistributed under its licence: "
            f"{self.info.license or 'unknown licence'}{homepage}"
        )


def dataset_sources(folder: Path | str, metadata: FolderMetadata | None = None) -> list[DatasetSource]:
    """Every dataset whose rows are in `folder`, counted per split from the `dataset` column, sorted by name.

    Shards without a `dataset` column count for the folder's own dataset. Reads only that column. Raises
    `UnifyError` for a folder this package did not write or that holds no shards.
    """
    folder = Path(folder)
    metadata = metadata or FolderMetadata.read(folder)
    counts: dict[str, dict[str, int]] = {}
    for split, shards in split_shards(folder).items():
        for shard in shards:
            if DATASET in pq.read_schema(shard).names:
                found = pq.read_table(shard, columns=[DATASET]).column(DATASET).value_counts().to_pylist()
            else:
                found = [{"values": metadata.dataset, "counts": pq.read_metadata(shard).num_rows}]
            for entry in found:
                per_split = counts.setdefault(entry["values"], {})
                per_split[split] = per_split.get(split, 0) + entry["counts"]
    return [DatasetSource(name, licence_facts(name, metadata), images) for name, images in sorted(counts.items())]


def licence_facts(name: str, metadata: FolderMetadata) -> SourceInfo:
    """Licence facts of dataset `name` in a folder described by `metadata`.

    The folder's own dataset: what its build recorded; but a builder whose licence is now known to forbid
    redistribution wins over an older record that allowed it. Another dataset: its builder's constants; an
    unknown one: nothing known, not redistributable.
    """
    builder = builder_registry().get(name)
    registered = source_info(builder) if builder is not None else None
    if name != metadata.dataset:
        return registered or SourceInfo()
    recorded = metadata.source
    if registered is not None and recorded.redistribution_allowed and not registered.redistribution_allowed:
        logger.info("%s: its builder now forbids redistributing images, although the folder's build allowed it", name)
        return SourceInfo(
            homepage=recorded.homepage,
            license=registered.license,
            citation=recorded.citation,
            redistribution_allowed=False,
        )
    return recorded


def redistribution_notices(folder: Path | str, metadata: FolderMetadata | None = None) -> list[str]:
    """One notice per dataset in `folder` whose images may not be redistributed (empty when all may be).

    A labels-only folder holds no images: no notice. Raises `UnifyError` as `dataset_sources` does.
    """
    metadata = metadata or FolderMetadata.read(folder)
    if metadata.labels_only is not None:
        return []
    return [s.notice() for s in dataset_sources(folder, metadata) if not s.redistribution_allowed]

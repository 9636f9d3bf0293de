"""`unify push dataset`: a folder written by `unify build`, `unify pseudo-label` or `unify attach-images`, as it is.

The repository receives, in one commit: the Parquet shards (`data/`; for a labels-only push, the stripped
shards of `labels_only.strip_images`), the card (`README.md`, whose front matter declares the configurations
that `datasets.load_dataset(REPO)` reads), `unify.json` (the folder's metadata, rewritten from its typed
record), `id2label.json` (what the transformers examples read), `metadata/*.parquet` and the pseudo-labelling
report when there is one. Every other file of the repository is deleted in the same commit.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from unify.core.constants import METADATA_FILE, REPORT_FILE
from unify.core.errors import UnifyError
from unify.core.folder import (
    ID2LABEL_FILE,
    METADATA_CONFIGS,
    FolderMetadata,
    config_card,
    read_json_record,
    split_shards,
)
from unify.hub.cards import dataset_card
from unify.hub.labels_only import strip_images
from unify.hub.sources import DatasetSource, dataset_sources
from unify.hub.transport import PushReport, hub_api, publish

logger = logging.getLogger(__name__)


def push_dataset(
    folder: Path | str,
    repo_id: str,
    *,
    private: bool = True,
    labels_only: bool = False,
    allow_image_redistribution: bool = False,
) -> PushReport:
    """Make the dataset repository `repo_id` hold `folder` (or its labels only), with its card, in one commit.

    Raises `UnifyError` before any request when the folder is not one this package wrote, when no token is
    configured, or when it would push images whose licence may forbid it (unless `labels_only` or
    `allow_image_redistribution`); and when the repository exists and is public while `private` is asked.
    """
    folder = Path(folder)
    metadata = FolderMetadata.read(folder)
    labels_only = labels_only or metadata.labels_only is not None
    sources = dataset_sources(folder, metadata)
    notices = [] if labels_only else [s.notice() for s in sources if not s.redistribution_allowed]
    if notices and not allow_image_redistribution:
        raise UnifyError(
            "refusing to push images whose licence may forbid redistribution:\n  "
            + "\n  ".join(notices)
            + "\npush the labels only with --labels-only (users attach their own "
            "images with `unify attach-images`), or pass --allow-image-redistribution if you may"
        )
    for notice in notices:
        logger.warning("pushing images although %s", notice)
    api = hub_api()
    with tempfile.TemporaryDirectory(prefix="unify-push-") as tmp:
        stage = Path(tmp)
        shards_folder, pushed = folder, metadata
        if labels_only and metadata.labels_only is None:
            pushed, shards_folder = strip_images(folder, metadata, stage), stage
        files = _dataset_files(repo_id, folder, shards_folder, pushed, sources, stage)
        message = f"{metadata.dataset} ({metadata.config}) in the {metadata.unified_taxonomy.name} taxonomy" + (
            ", labels only" if labels_only else ""
        )
        return publish(api, repo_id, "dataset", files, private=private, message=message)


def _dataset_files(
    repo_id: str, folder: Path, shards_folder: Path, metadata: FolderMetadata, sources: list[DatasetSource], stage: Path
) -> dict[str, Path | bytes]:
    """Path in the repository -> local file or content, for everything the push puts there."""
    shards = split_shards(shards_folder)
    files: dict[str, Path | bytes] = {f"data/{p.name}": p for paths in shards.values() for p in paths}
    metadata.write(stage)  # unify.json, id2label.json and the metadata tables, from the typed record
    files[METADATA_FILE] = stage / METADATA_FILE
    files[ID2LABEL_FILE] = stage / ID2LABEL_FILE
    files.update({f"metadata/{name}.parquet": stage / "metadata" / f"{name}.parquet" for name in METADATA_CONFIGS})
    report = None
    if (folder / REPORT_FILE).is_file():
        files[REPORT_FILE] = folder / REPORT_FILE
        report = read_json_record(folder / REPORT_FILE, "a pseudo-labelling report")
    configs = _front_matter(config_card(shards_folder, metadata.splits))
    columns = _columns(shards)
    files["README.md"] = dataset_card(repo_id, metadata, sources, report, configs, columns).encode("utf-8")
    return files


def _front_matter(card: str) -> dict:
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---", card, re.S).group(1))


def _columns(shards: dict[str, list[Path]]) -> list[str]:
    first = next(iter(shards.values()))[0]
    return pq.read_schema(first).names

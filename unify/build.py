"""Run a dataset builder and lay out what it writes as a self-describing Parquet dataset.

The output folder is read by plain `datasets.load_dataset(OUT)`: `data/` holds the samples, and
the unified class table and the native->unified allowed sets travel with them, both as the
configurations `unified_classes` and `label_mapping` and in `unify.json`.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from dataset_scripts import get_builder_class
from unify.core.constants import FORMAT_VERSION, METADATA_FILE
from unify.core.errors import UnifyError
from unify.core.mapping import LabelMapping

logger = logging.getLogger(__name__)


@dataclass
class BuildReport:
    output_dir: Path
    dataset: str
    config: str
    num_examples: dict[str, int]
    skipped: list[dict] = field(default_factory=list)


def build_dataset(name: str, output_dir: Path | str, data_dir: Path | str | None = None, config: str | None = None,
                  unified_taxonomy: str | None = None, num_proc: int | None = None, skip_bad: bool = False,
                  **config_kwargs) -> BuildReport:
    """Build dataset `name` from its raw folder into `output_dir` (replaced only once the build succeeded)."""
    output_dir = Path(output_dir)
    builder_cls = get_builder_class(name)
    with tempfile.TemporaryDirectory(prefix=f"unify-build-{name}-", dir=output_dir.parent if output_dir.parent.exists() else None) as tmp:
        tmp = Path(tmp)
        builder = builder_cls(config_name=config, data_dir=str(data_dir) if data_dir else None,
                              cache_dir=str(tmp / "cache"), unified_taxonomy=unified_taxonomy, skip_bad=skip_bad,
                              skip_log=str(tmp / "skipped"), **config_kwargs)
        staging = tmp / "out"
        try:
            builder.download_and_prepare(output_dir=str(staging), file_format="parquet", num_proc=num_proc)
        except datasets.exceptions.DatasetGenerationError as exc:
            if isinstance(exc.__cause__, UnifyError):
                raise exc.__cause__ from None  # the message that names the file is the useful one
            raise
        splits = {split: info.num_examples for split, info in builder.info.splits.items()}
        _arrange_shards(staging, builder.name, list(splits))
        for split in [s for s, n in splits.items() if n == 0]:  # every sample skipped: nothing to read back
            logger.warning("%s/%s: every sample of split %r was skipped; the split is left out", name, config, split)
            for shard in (staging / "data").glob(f"{split}-*.parquet"):
                shard.unlink()
            del splits[split]
        skipped = _read_skips(tmp / "skipped")
        write_metadata(staging, builder.mapping, dataset=name, config=builder.config.name, splits=splits,
                       source=_source_info(builder_cls), skipped=skipped)
        for leftover in staging.glob("*.json"):
            if leftover.name != METADATA_FILE:
                leftover.unlink()
        if output_dir.exists():
            shutil.rmtree(output_dir)
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(output_dir))
    logger.info("built %s/%s into %s: %s", name, builder.config.name, output_dir, splits)
    return BuildReport(output_dir, name, builder.config.name, splits, skipped)


def _arrange_shards(staging: Path, builder_name: str, splits: list[str]) -> None:
    """`<builder>-<split>-00000-of-00002.parquet` -> `data/<split>-00000-of-00002.parquet`."""
    (staging / "data").mkdir()
    for split in splits:
        # exact names only: split "train" must not take the shards of split "train_extra"
        shards = sorted([*staging.glob(f"{builder_name}-{split}.parquet"),
                         *staging.glob(f"{builder_name}-{split}-[0-9]*-of-[0-9]*.parquet")])
        for index, shard in enumerate(shards):
            shard.rename(staging / "data" / f"{split}-{index:05d}-of-{len(shards):05d}.parquet")


def _read_skips(folder: Path) -> list[dict]:
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines() if line]
    return sorted(records, key=lambda r: r["image_id"])


def _source_info(builder_cls) -> dict:
    return {"homepage": builder_cls.HOMEPAGE, "license": builder_cls.LICENSE, "citation": builder_cls.CITATION.strip(),
            "redistribution_allowed": builder_cls.REDISTRIBUTION_ALLOWED}


def write_metadata(folder: Path, mapping: LabelMapping, dataset: str, config: str, splits: dict[str, int],
                   source: dict, skipped: list[dict], extra: dict | None = None) -> None:
    """Write `unify.json`, the two metadata configurations, and the README that declares them."""
    metadata = {
        "format_version": FORMAT_VERSION,
        "dataset": dataset,
        "config": config,
        "native_taxonomy": mapping.native.name,
        "unified_taxonomy": mapping.unified.name,
        "native_classes": mapping.native.to_json(),
        "unified_classes": mapping.unified.to_json(),
        "mapping": mapping.to_json(),
        "splits": splits,
        "source": source,
        "skipped": skipped,
        **(extra or {}),
    }
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    (folder / "metadata").mkdir(exist_ok=True)
    datasets.Dataset.from_list(mapping.unified.to_json()).to_parquet(str(folder / "metadata" / "unified_classes.parquet"))
    datasets.Dataset.from_list(mapping.to_json()).to_parquet(str(folder / "metadata" / "label_mapping.parquet"))
    (folder / "README.md").write_text(config_card(folder, splits))


def config_card(folder: Path, splits: dict[str, int]) -> str:
    """README front matter declaring the configurations; the sizes keep `datasets`' cache keys apart."""
    size = sum(p.stat().st_size for p in (folder / "data").glob("*.parquet"))
    lines = ["---", "dataset_info:", f"  download_size: {size}", "  splits:"]
    lines += [f"  - name: {split}\n    num_examples: {count}" for split, count in splits.items()]
    lines += ["configs:", "- config_name: default", "  default: true", "  data_files:"]
    lines += [f"  - split: {split}\n    path: data/{split}-*.parquet" for split in splits]
    for name in ("unified_classes", "label_mapping"):
        lines += [f"- config_name: {name}", f"  data_files: metadata/{name}.parquet"]
    return "\n".join(lines + ["---", ""])


def load_split(folder: Path | str, split: str) -> datasets.Dataset:
    """One split of a folder this package wrote, read from its own files.

    `datasets.load_dataset(folder)` caches by the README's relative file patterns, so two folders
    of the same name can share a cache entry; reading the resolved files avoids that.
    """
    files = sorted(str(p) for p in (Path(folder) / "data").glob(f"{split}-*.parquet"))
    if not files:
        splits = sorted({p.name.split("-")[0] for p in (Path(folder) / "data").glob("*.parquet")})
        raise UnifyError(f"{folder} has no split {split!r} (it has {splits or 'no Parquet data'})")
    return datasets.Dataset.from_parquet(files)


def read_metadata(folder: Path | str) -> dict:
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise UnifyError(f"{folder} is not a dataset written by this package (no {METADATA_FILE}); "
                         f"build one with `unify build NAME --output {folder}`")
    return json.loads(path.read_text())

"""The dataset-folder contract: what a folder written by this package holds, read and written in one place.

Every folder that `unify build`, `unify pseudo-label` or `unify attach-images` writes has the same layout:

    data/<split>-00000-of-00003.parquet   the samples (columns below)
    unify.json                            `FolderMetadata`: taxonomies, recorded mapping, column roles, splits, ...
    id2label.json                         {id: name} of the `label` column, as the transformers examples read it
    metadata/unified_classes.parquet      the unified class table, readable as the configuration `unified_classes`
    metadata/label_mapping.parquet        the recorded native -> unified allowed sets (configuration `label_mapping`)
    README.md                             card front matter declaring the configurations and split sizes

Readers never guess which column holds what: `FolderMetadata.columns` declares it. The `label` column holds
the folder's training target as the transformers semantic-segmentation example expects it: native ids in a
built folder, unified ids in a pseudo-labelled one. `FolderMetadata.read` refuses folders of another data-format
version with the command that rewrites them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from unify.core.constants import (FORMAT_VERSION, IMAGE, LABEL, METADATA_FILE, NATIVE_LABEL, PROVENANCE,
                                  UNIFIED_LABEL)
from unify.core.errors import UnifyError
from unify.core.mapping import LabelMapping
from unify.core.taxonomy import Taxonomy

BUILT = "built"
"""Kind of a folder written by `unify build`: native ids in `label`, the ground-truth-only unified view beside."""
PSEUDO_LABELLED = "pseudo_labelled"
"""Kind of a folder written by `unify pseudo-label`: unified pseudo-labels in `label`, native ids beside."""
ID2LABEL_FILE = "id2label.json"
"""{id: name} of the classes in the `label` column, at the folder's root (the transformers examples' convention)."""
METADATA_CONFIGS = ("unified_classes", "label_mapping")
"""Configurations beside the samples: the unified class table and the recorded mapping, as Parquet."""
_SHARD = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


@dataclass(frozen=True)
class LabelColumns:
    """Which column of a folder holds what; declared when the folder is written, never guessed."""

    native: str | None  # native ids (None when the folder does not carry them, e.g. a labels-only push)
    unified: str  # unified ids: the ground-truth-only view of a built folder, the pseudo-labels of a labelled one
    provenance: str | None = None  # per-pixel provenance codes (pseudo-labelled folders only)

    @classmethod
    def for_kind(cls, kind: str) -> LabelColumns:
        """The columns a folder of `kind` (BUILT or PSEUDO_LABELLED) is written with."""
        if kind == BUILT:
            return cls(native=LABEL, unified=UNIFIED_LABEL)
        if kind == PSEUDO_LABELLED:
            return cls(native=NATIVE_LABEL, unified=LABEL, provenance=PROVENANCE)
        raise UnifyError(f"unknown folder kind {kind!r}; expected {BUILT!r} or {PSEUDO_LABELLED!r}")


@dataclass(frozen=True)
class SourceInfo:
    """Where a dataset comes from and what its licence allows, as its builder declares it."""

    homepage: str = ""
    license: str = ""
    citation: str = ""
    redistribution_allowed: bool = False  # whether the licence lets its images be pushed to the Hub


@dataclass(frozen=True)
class SkippedSample:
    """A sample left out of a build with --skip-bad, and why."""

    image_id: str
    file: str  # relative to the raw data folder, so that the record means something on another machine
    reason: str


@dataclass
class FolderMetadata:
    """Everything a folder written by this package says about itself (its `unify.json`).

    Read it with `FolderMetadata.read(folder)` and write it with `.write(folder)`; both raise `UnifyError`
    naming the folder and the problem (no metadata, another data-format version, a malformed record).
    """

    kind: str  # BUILT or PSEUDO_LABELLED
    dataset: str  # builder name of the source dataset, as `unify datasets` lists it
    config: str  # builder configuration
    mapping: LabelMapping  # native -> unified allowed sets as recorded when the folder was written
    splits: dict[str, int]  # split -> number of samples
    columns: LabelColumns  # the role of each label column
    source: SourceInfo = field(default_factory=SourceInfo)  # licence and citation of the source dataset
    skipped: list[SkippedSample] = field(default_factory=list)  # samples left out with --skip-bad
    raw_fingerprint: str | None = None  # of the raw files a build read (names, sizes, modification times)
    teacher: dict | None = None  # identity of the teacher (name, sha256, revision) of a pseudo-labelled folder
    tta: dict | None = None  # test-time augmentation of the teacher: {"scales": [...], "flip": bool}
    labels_only: dict | None = None  # what a labels-only push left out and how attach-images restores it
    images_attached: bool = False  # the images were put back from the user's own raw copy
    format_version: str = FORMAT_VERSION  # of the layout; checked on read

    @property
    def native_taxonomy(self) -> Taxonomy:
        return self.mapping.native

    @property
    def unified_taxonomy(self) -> Taxonomy:
        return self.mapping.unified

    def to_json(self) -> dict:
        """The `unify.json` record: plain JSON types only, no absolute path."""
        return {
            "format_version": self.format_version,
            "kind": self.kind,
            "dataset": self.dataset,
            "config": self.config,
            "native_taxonomy": self.native_taxonomy.name,
            "unified_taxonomy": self.unified_taxonomy.name,
            "native_classes": self.native_taxonomy.to_json(),
            "unified_classes": self.unified_taxonomy.to_json(),
            "mapping": self.mapping.to_json(),
            "columns": dataclasses.asdict(self.columns),
            "splits": dict(self.splits),
            "source": dataclasses.asdict(self.source),
            "skipped": [dataclasses.asdict(s) for s in self.skipped],
            "raw_fingerprint": self.raw_fingerprint,
            "teacher": self.teacher,
            "tta": self.tta,
            "labels_only": self.labels_only,
            "images_attached": self.images_attached,
        }

    @classmethod
    def from_json(cls, record: dict, where: str = "unify.json") -> FolderMetadata:
        """Rebuild the metadata from its `unify.json` record; `where` names it in errors."""
        version = str(record.get("format_version"))
        if version != FORMAT_VERSION:
            raise UnifyError(f"{where} is in unify-driving data format v{version}, this package reads "
                             f"v{FORMAT_VERSION}; rewrite it with the package that reads it, or rebuild it: "
                             f"`unify build {record.get('dataset', 'NAME')} --output FOLDER` (then "
                             f"`unify pseudo-label` again for a pseudo-labelled folder)")
        try:
            native = Taxonomy.from_json(record["native_taxonomy"], record["native_classes"])
            unified = Taxonomy.from_json(record["unified_taxonomy"], record["unified_classes"])
            return cls(
                kind=record["kind"], dataset=record["dataset"], config=record["config"],
                mapping=LabelMapping.from_json(record["mapping"], native, unified),
                splits={str(k): int(v) for k, v in record["splits"].items()},
                columns=LabelColumns(**record["columns"]), source=SourceInfo(**record.get("source", {})),
                skipped=[SkippedSample(**s) for s in record.get("skipped", [])],
                raw_fingerprint=record.get("raw_fingerprint"), teacher=record.get("teacher"),
                tta=record.get("tta"), labels_only=record.get("labels_only"),
                images_attached=bool(record.get("images_attached", False)), format_version=version)
        except (KeyError, TypeError, ValueError) as exc:
            raise UnifyError(f"{where} is malformed ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def read(cls, folder: Path | str) -> FolderMetadata:
        """The metadata of `folder`; `UnifyError` when it is not a folder this package wrote in this format."""
        path = Path(folder) / METADATA_FILE
        if not path.is_file():
            raise UnifyError(f"{folder} is not a dataset folder written by this package (no {METADATA_FILE}); "
                             f"write one with `unify build NAME --output {folder}`")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UnifyError(f"{path} is not valid JSON ({exc})") from exc
        return cls.from_json(record, where=str(path))

    def write(self, folder: Path | str) -> None:
        """Write `unify.json`, `id2label.json`, the two metadata configurations and the card that declares them.

        The Parquet shards must already be in `folder/data`: the card records their sizes. Each file is written
        under a temporary name and renamed into place, so a reader never sees a half-written one.
        """
        folder = Path(folder)
        (folder / "metadata").mkdir(exist_ok=True)
        _replace(folder / METADATA_FILE, (json.dumps(self.to_json(), indent=2) + "\n").encode())
        _replace(folder / ID2LABEL_FILE, (json.dumps(self.id2label(), indent=2) + "\n").encode())
        tables = {"unified_classes": self.unified_taxonomy.to_json(), "label_mapping": self.mapping.to_json()}
        for name in METADATA_CONFIGS:
            path = folder / "metadata" / f"{name}.parquet"
            datasets.Dataset.from_list(tables[name]).to_parquet(str(path.with_name(path.name + ".tmp")))
            os.replace(path.with_name(path.name + ".tmp"), path)
        _replace(folder / "README.md", config_card(folder, self.splits).encode())

    def id2label(self) -> dict[str, str]:
        """{id: name} of the classes the `label` column holds (void classes left out), keys as JSON strings."""
        taxonomy = self.native_taxonomy if self.columns.native == LABEL else self.unified_taxonomy
        return {str(c.id): c.name for c in taxonomy.classes if not c.ignore}


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file renamed into place."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def shard_name(split: str, index: int, count: int) -> str:
    """`<split>-00000-of-00003.parquet`: the one naming of a folder's Parquet shards."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def split_shards(folder: Path | str) -> dict[str, list[Path]]:
    """Split -> its Parquet shards under `folder/data`, in order; `UnifyError` when there are none."""
    shards: dict[str, list[Path]] = {}
    for path in sorted((Path(folder) / "data").glob("*.parquet")):
        match = _SHARD.match(path.name)
        if match:
            shards.setdefault(match["split"], []).append(path)
    if not shards:
        raise UnifyError(f"{folder}/data holds no Parquet shards named {shard_name('<split>', 0, 1)}")
    return shards


def load_split(folder: Path | str, split: str, decode: bool = True) -> datasets.Dataset:
    """One split of a folder this package wrote, read from its own shards.

    `datasets.load_dataset(folder)` caches by the card's relative file patterns, so two folders of the same
    name could share a cache entry; reading the resolved files avoids that. With `decode=False` the image
    and label columns stay `{"bytes", "path"}` records (no PIL decoding). Raises `UnifyError` for a split
    the folder does not have.
    """
    shards = split_shards(folder)
    if split not in shards:
        raise UnifyError(f"{folder} has no split {split!r}; it has {sorted(shards)}")
    table = datasets.Dataset.from_parquet([str(p) for p in shards[split]])
    if not decode:
        for name, feature in table.features.items():
            if isinstance(feature, datasets.Image):
                table = table.cast_column(name, datasets.Image(decode=False))
    return table


def config_card(folder: Path, splits: dict[str, int]) -> str:
    """README front matter declaring the configurations, with split sizes that `datasets` reads without warning."""
    lines = ["---", "dataset_info:", "  splits:"]
    sizes = {}
    for split in splits:
        sizes[split] = sum(p.stat().st_size for p in (folder / "data").glob(f"{split}-*.parquet"))
        lines += [f"  - name: {split}", f"    num_bytes: {sizes[split]}", f"    num_examples: {splits[split]}"]
    lines += [f"  download_size: {sum(sizes.values())}", f"  dataset_size: {sum(sizes.values())}"]
    lines += ["configs:", "- config_name: default", "  default: true", "  data_files:"]
    lines += [f"  - split: {split}\n    path: data/{split}-*.parquet" for split in splits]
    for name in METADATA_CONFIGS:
        lines += [f"- config_name: {name}", f"  data_files: metadata/{name}.parquet"]
    return "\n".join(lines + ["---", ""])


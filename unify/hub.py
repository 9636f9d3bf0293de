"""Share unified datasets and distilled students on the Hugging Face Hub.

A push is a few explicit steps: create the repository (private unless asked otherwise), upload,
push the card, and, for datasets, tag the revision with the package's data-format version. The
token comes from the usual places (`HF_TOKEN`, `hf auth login`) through `huggingface_hub`; this
module never reads, prints or writes it. Weights travel as safetensors only.

Images of datasets whose licence forbids redistribution stay home: `labels_only` pushes the
unified labels, their provenance and the image ids, and `attach_images` puts the images back from
the user's own raw copy.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import huggingface_hub
import pyarrow.parquet as pq
import yaml
from huggingface_hub import CommitOperationAdd, HfApi

from dataset_scripts import builder_registry
from model_cards import render_card
from unify.core.folder import FolderMetadata, LabelColumns, split_shards
from unify.core.markdown import code, markdown_table
from unify.core.segmenter import Segmenter
from unify.core.constants import (DATASET, FINE_LABEL, FORMAT_VERSION, IMAGE, IMAGE_ID, LABEL, METADATA_FILE, PROVENANCE,
                             PROVENANCE_NAMES, REPORT_FILE)
from unify.core.errors import UnifyError
from unify.evaluate import EVALUATION_FILE

logger = logging.getLogger(__name__)

FORMAT_TAG = f"unify-format-v{FORMAT_VERSION}"
"""Tag on the latest Hub revision written in this package's data format."""
LABELS_ONLY = "labels_only"
"""unify.json key of a labels-only dataset: which columns were left out and where they come back from."""
METADATA_CONFIGS = ("unified_classes", "label_mapping")
PAPER_CITATION = """@article{backhaus2025unification,
  title   = {Knowledge Distillation for Semantic Segmentation: A Label Space Unification Approach},
  author  = {Backhaus and Luettel and Maehlisch},
  journal = {arXiv preprint arXiv:2502.19177},
  year    = {2025},
  url     = {https://arxiv.org/abs/2502.19177}
}"""
_PROVENANCE_MEANING = {
    "ground_truth": "from ground truth: the native class allows exactly one unified class",
    "teacher_chose": "chosen by the teacher among the unified classes its native class allows",
    "teacher_filled": "filled in by the teacher: the native class (unlabeled) allows every class",
    "ignored": "ignored (255): the native class is void",
    "teacher_voided": "voided by the teacher (255): its native class lists void beside its classes, and the "
                      "teacher saw none of them there",
}


@dataclass
class PushReport:
    repo_id: str
    repo_type: str
    url: str
    commit: str  # the commit that holds the card
    tag: str | None = None
    files: list[str] = field(default_factory=list)  # paths in the repository at that commit


@dataclass
class SourceInfo:
    """One dataset whose images are in a unified dataset, with what its card must say about it."""

    name: str
    homepage: str
    license: str
    citation: str
    redistribution_allowed: bool
    images: dict[str, int]  # split -> number of images from this source


# -- reading a local unified dataset ----------------------------------------------------------------
def read_metadata(folder: Path | str) -> dict:
    """The folder's metadata as its `unify.json` record."""
    return FolderMetadata.read(folder).to_json()


def dataset_sources(folder: Path | str, metadata: dict | None = None) -> list[SourceInfo]:
    """Every dataset whose rows are in `folder`, counted per split from the `dataset` column itself."""
    folder = Path(folder)
    metadata = metadata or read_metadata(folder)
    counts: dict[str, dict[str, int]] = {}
    for split, shards in split_shards(folder).items():
        for shard in shards:
            if DATASET in pq.read_schema(shard).names:
                found = pq.read_table(shard, columns=[DATASET]).column(DATASET).value_counts().to_pylist()
            else:
                found = [{"values": metadata["dataset"], "counts": pq.read_metadata(shard).num_rows}]
            for entry in found:
                per_split = counts.setdefault(entry["values"], {})
                per_split[split] = per_split.get(split, 0) + entry["counts"]
    return [_source_info(name, images, metadata) for name, images in sorted(counts.items())]


def _source_info(name: str, images: dict[str, int], metadata: dict) -> SourceInfo:
    """Licence facts from unify.json for the folder's own dataset, from the builder registry for others.

    Redistribution needs both to allow it: a builder whose licence is now known to forbid it wins.
    """
    builder = builder_registry().get(name)
    registered = ({"homepage": builder.HOMEPAGE, "license": builder.LICENSE, "citation": builder.CITATION.strip(),
                   "redistribution_allowed": builder.REDISTRIBUTION_ALLOWED} if builder else {})
    recorded = metadata.get("source", {}) if name == metadata.get("dataset") else {}
    facts = {**registered, **recorded}
    allowed = bool(facts.get("redistribution_allowed")) and bool(registered.get("redistribution_allowed", True))
    return SourceInfo(name=name, homepage=facts.get("homepage", ""), license=facts.get("license", ""),
                      citation=facts.get("citation", ""), redistribution_allowed=allowed, images=images)


def redistribution_notices(folder: Path | str) -> list[str]:
    """One licence notice per source whose images may not be redistributed (empty when all may be)."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    if metadata.get(LABELS_ONLY):
        return []
    return [f"{s.name}: images may not be redistributed under its licence: {s.license or 'unknown licence'}"
            f"{f' ({s.homepage})' if s.homepage else ''}"
            for s in dataset_sources(folder, metadata) if not s.redistribution_allowed]


# -- talking to the Hub -------------------------------------------------------------------------------
def _hub_api() -> HfApi:
    if huggingface_hub.get_token() is None:
        raise UnifyError("no Hugging Face token found: run `hf auth login` or set HF_TOKEN")
    return HfApi()


def _create_repo(api: HfApi, repo_id: str, repo_type: str, private: bool) -> str:
    """Create the repository if needed; never push into a public one when a private one was asked for."""
    url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    is_private = api.repo_info(repo_id, repo_type=repo_type).private
    if private and not is_private:
        raise UnifyError(f"{repo_type} repository {repo_id} already exists and is public; pass --public to push "
                         f"to it, or make it private on the Hub first")
    if not private and is_private:
        logger.warning("%s repository %s already exists and is private; it stays private", repo_type, repo_id)
    return str(url)


def _tag(api: HfApi, repo_id: str, repo_type: str, tag: str, revision: str) -> None:
    """Point `tag` at `revision`, moving it if an earlier push set it."""
    if any(t.name == tag for t in api.list_repo_refs(repo_id, repo_type=repo_type).tags):
        api.delete_tag(repo_id, tag=tag, repo_type=repo_type)
    api.create_tag(repo_id, tag=tag, revision=revision, repo_type=repo_type,
                   tag_message=f"written in unify-driving data format version {FORMAT_VERSION}")


# -- datasets -----------------------------------------------------------------------------------------
def push_dataset(folder: Path | str, repo_id: str, *, private: bool = True, labels_only: bool = False,
                 allow_image_redistribution: bool = False) -> PushReport:
    """Push a folder written by `unify build` or `unify pseudo-label` as a Parquet dataset with its card."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    labels_only = labels_only or bool(metadata.get(LABELS_ONLY))
    notices = [] if labels_only else redistribution_notices(folder)
    if notices and not allow_image_redistribution:
        raise UnifyError("refusing to push images whose licence may forbid redistribution:\n  "
                         + "\n  ".join(notices) + "\npush the labels only with --labels-only (users attach their own "
                         "images with `unify attach-images`), or pass --allow-image-redistribution if you may")
    for notice in notices:
        logger.warning("pushing images although %s", notice)
    sources = dataset_sources(folder, metadata)
    api = _hub_api()
    url = _create_repo(api, repo_id, "dataset", private)
    data = datasets.load_dataset(str(folder), streaming=True)
    columns = list(next(iter(data.values())).features)
    roles = LabelColumns(**metadata["columns"])
    pushed_metadata = dict(metadata)
    if labels_only and not metadata.get(LABELS_ONLY):
        kept = [c for c in columns if c in (roles.unified, roles.provenance, IMAGE_ID, DATASET)]
        pushed_metadata[LABELS_ONLY] = _labels_only_record(columns, kept, roles)
        data = data.select_columns(kept)
    data.push_to_hub(repo_id, private=private, commit_message=f"Upload {metadata['dataset']} ({metadata['config']}) "
                     f"in the {metadata['unified_taxonomy']} taxonomy" + (", labels only" if labels_only else ""))
    report = _read_report(folder)
    card = dataset_card(repo_id, pushed_metadata, sources, report, _pushed_card_data(api, repo_id),
                        columns=[c for c in columns if not labels_only or c in pushed_metadata[LABELS_ONLY]["kept"]],
                        roles=roles)
    operations = [CommitOperationAdd("README.md", card.encode()),
                  CommitOperationAdd(METADATA_FILE, json.dumps(pushed_metadata, indent=2).encode())]
    operations += [CommitOperationAdd(f"metadata/{name}.parquet", str(folder / "metadata" / f"{name}.parquet"))
                   for name in METADATA_CONFIGS if (folder / "metadata" / f"{name}.parquet").is_file()]
    if report is not None:
        operations.append(CommitOperationAdd(REPORT_FILE, str(folder / REPORT_FILE)))
    commit = api.create_commit(repo_id, operations=operations, repo_type="dataset",
                               commit_message="Dataset card and unify-driving metadata")
    _tag(api, repo_id, "dataset", FORMAT_TAG, commit.oid)
    files = api.list_repo_files(repo_id, repo_type="dataset", revision=commit.oid)
    logger.info("pushed %s to %s (%s), tagged %s", folder, repo_id, "private" if private else "public", FORMAT_TAG)
    return PushReport(repo_id=repo_id, repo_type="dataset", url=url, commit=commit.oid, tag=FORMAT_TAG, files=files)


def _labels_only_record(columns: list[str], kept: list[str], roles: LabelColumns) -> dict:
    """What attach-images needs: the original column order, and which built column restores each left-out one."""
    restore = {column: (LABEL if column == roles.native else column) for column in columns if column not in kept}
    return {"columns": columns, "kept": kept, "restore_from_build": restore, "unified_column": roles.unified}


def _read_report(folder: Path) -> dict | None:
    path = folder / REPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _pushed_card_data(api: HfApi, repo_id: str) -> dict:
    """The front matter `push_to_hub` wrote (configs and dataset_info), to keep in the final card."""
    path = api.hf_hub_download(repo_id, "README.md", repo_type="dataset")
    return huggingface_hub.DatasetCard.load(path).data.to_dict()


def dataset_card(repo_id: str, metadata: dict, sources: list[SourceInfo], report: dict | None, pushed: dict,
                 columns: list[str], roles: LabelColumns) -> str:
    """The dataset card: what it is, how it was made, its taxonomy, sources, provenance and how to load it."""
    labels_only = bool(metadata.get(LABELS_ONLY))
    configs = [c for c in pushed.get("configs", []) if c.get("config_name") not in METADATA_CONFIGS]
    configs += [{"config_name": name, "data_files": f"metadata/{name}.parquet"} for name in METADATA_CONFIGS]
    classes = [c for c in metadata["unified_classes"] if not c["ignore"]]
    card_data = {
        "pretty_name": f"{metadata['dataset']} ({metadata['config']}) in the {metadata['unified_taxonomy']} taxonomy",
        "license": "other",
        "task_categories": ["image-segmentation"],
        "task_ids": ["semantic-segmentation"],
        "tags": ["driving", "semantic-segmentation", "label-space-unification", "unify-driving"],
        "configs": configs,
        "dataset_info": pushed.get("dataset_info"),
        "unify": {
            "format_version": FORMAT_VERSION,
            "kind": metadata.get("kind", "built"),
            "labels_only": labels_only,
            "native_taxonomy": metadata["native_taxonomy"],
            "unified_taxonomy": metadata["unified_taxonomy"],
            "taxonomy": [{"id": c["id"], "name": c["name"], "color": _hex(c["color"])} for c in classes],
            "sources": [s.name for s in sources],
        },
    }
    sources_context = [{"name": s.name, "homepage": s.homepage, "license": s.license, "citation": s.citation,
                        "images_note": ("not included (labels only); attach them from your own copy with "
                                        "`unify attach-images`") if labels_only else "included"} for s in sources]
    return render_card(
        "dataset", {k: v for k, v in card_data.items() if v is not None},
        pretty_name=card_data["pretty_name"], summary=_dataset_summary(metadata, sources, labels_only),
        how_made=_how_made(metadata), taxonomy_name=metadata["unified_taxonomy"],
        taxonomy_table=taxonomy_table(classes), columns_table=_columns_table(columns, roles, metadata),
        sources_table=_sources_table(sources), sources=sources_context, provenance_table=provenance_table(report),
        loading=_loading_snippet(repo_id, metadata, labels_only), format_tag=FORMAT_TAG,
        format_version=FORMAT_VERSION, paper_citation=PAPER_CITATION)


def _hex(color: list[int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in color)


def taxonomy_table(classes: list[dict]) -> str:
    return markdown_table(["id", "name", "colour"], [[c["id"], c["name"], code(_hex(c["color"]))] for c in classes],
                          raw_columns=(2,))


def provenance_table(report: dict | None) -> str | None:
    """Share of pixels by where their label came from, from a pseudo-labelling statistics report."""
    if not report or "pixels_by_provenance" not in report:
        return None
    pixels = report["pixels_by_provenance"]
    total = max(sum(pixels.values()), 1)
    return markdown_table(["provenance", "meaning", "pixels", "share"],
                          [[name, _PROVENANCE_MEANING[name], pixels.get(name, 0), f"{pixels.get(name, 0) / total:.1%}"]
                           for name in PROVENANCE_NAMES])


def _dataset_summary(metadata: dict, sources: list[SourceInfo], labels_only: bool) -> str:
    total = sum(sum(s.images.values()) for s in sources)
    names = ", ".join(s.name for s in sources)
    kind = ("pseudo-labelled by a teacher constrained by each pixel's own ground truth"
            if metadata.get("kind") == "pseudo_labelled" else "converted from its ground truth")
    text = (f"{total} driving images from {names}, with semantic labels in the unified "
            f"`{metadata['unified_taxonomy']}` taxonomy, {kind}. Written by unify-driving.")
    if labels_only:
        text += (" This repository holds the labels only (unified labels, provenance and image ids): the images' "
                 "licence does not allow redistributing them, so attach them from your own copy (see Loading).")
    return text


def _how_made(metadata: dict) -> str:
    mapping_rows = [[m["native_name"], ", ".join([*_unified_names(metadata, m["allowed"]),
                                                  *(["void"] if m.get("void_allowed") else [])]) or "void",
                     m["provenance"]] for m in metadata["mapping"]]
    mapping = markdown_table([f"native class ({metadata['native_taxonomy']})", "allowed unified classes", "rule"],
                             mapping_rows)
    if metadata.get("kind") != "pseudo_labelled":
        return (f"Each native label was converted through the mapping below: a pixel whose native class allows "
                f"exactly one unified class gets it; every other pixel is void (255) in this view.\n\n{mapping}")
    tta = metadata.get("tta") or {}
    scales = ", ".join(str(s) for s in tta.get("scales", [1.0]))
    teacher = (metadata.get("teacher") or {}).get("name", "[More Information Needed]")
    return (f"A teacher (`{teacher}`) predicted unified class "
            f"probabilities for every image (test-time augmentation: scales {scales}"
            f"{', horizontal flip' if tta.get('flip') else ', no flip'}). Each pixel was then constrained by its own "
            f"native ground truth through the mapping below: one allowed class is copied from the ground truth; "
            f"several allowed classes are decided by the teacher among those only; a native class that allows every "
            f"class (unlabeled) is filled in by the teacher; void native classes stay void (255); where void stands "
            f"beside allowed classes, the pixel is void where the teacher sees none of them. The `provenance` "
            f"column records which rule labelled each pixel (0 ground truth, 1 teacher chose, 2 teacher filled, "
            f"3 ignored, 4 teacher voided).\n\n{mapping}")


def _unified_names(metadata: dict, ids: list[int]) -> list[str]:
    names = {c["id"]: c["name"] for c in metadata["unified_classes"]}
    if len(ids) == sum(1 for c in metadata["unified_classes"] if not c["ignore"]) and len(ids) > 1:
        return ["every class"]
    return [names[i] for i in ids]


def _columns_table(columns: list[str], roles: LabelColumns, metadata: dict) -> str:
    meaning = {
        IMAGE: "the original image file, as published",
        roles.unified: f"unified ids (`{metadata['unified_taxonomy']}`) as a PNG; 255 is void",
        PROVENANCE: "per pixel, which rule gave the unified label (0 ground truth, 1 teacher chose, 2 teacher "
                    "filled, 3 ignored, 4 teacher voided) as a PNG",
        IMAGE_ID: "stable id of the image within its source dataset",
        DATASET: "name of the source dataset",
        FINE_LABEL: "hidden fine truth of the synthetic world, to measure pseudo-label accuracy",
    }
    if roles.native:
        meaning[roles.native] = f"native ids (`{metadata['native_taxonomy']}`) as a PNG, as the dataset labels them"
    return markdown_table(["column", "content"], [[code(c), meaning.get(c, "")] for c in columns], raw_columns=(0, 1))


def _sources_table(sources: list[SourceInfo]) -> str:
    splits = sorted({split for s in sources for split in s.images})
    rows = [[s.name, *(s.images.get(split, 0) for split in splits), sum(s.images.values()), s.license or "unknown"]
            for s in sources]
    return markdown_table(["dataset", *splits, "images", "licence"], rows)


def _loading_snippet(repo_id: str, metadata: dict, labels_only: bool) -> str:
    if labels_only:
        return ("The images are not in this repository. Rebuild the full dataset from your own raw copy of "
                f"{metadata['dataset']} (matched by `image_id`):\n\n```bash\n"
                f"unify attach-images {repo_id} --data-dir /path/to/raw/{metadata['dataset']} "
                f"--output {metadata['dataset']}-unified\n"
                "```\n\nThen, or for the labels alone:\n\n```python\nfrom datasets import load_dataset\n\n"
                f"labels = load_dataset(\"{repo_id}\", revision=\"{FORMAT_TAG}\")\n```")
    return ("```python\nfrom datasets import load_dataset\n\n"
            f"dataset = load_dataset(\"{repo_id}\", revision=\"{FORMAT_TAG}\")\n"
            f"classes = load_dataset(\"{repo_id}\", \"unified_classes\", split=\"train\")  # id, name, color, ignore\n"
            "```")


# -- putting the images back ------------------------------------------------------------------------
def attach_images(source: Path | str, data_dir: Path | str | None, output_dir: Path | str,
                  **config_kwargs) -> dict[str, int]:
    """Rebuild a labels-only dataset (folder or Hub id) with images and native labels from a raw copy.

    The builder named in the metadata reads `data_dir`; its rows are matched to the labels by
    `image_id`. `config_kwargs` reach the builder's configuration, as in `build_dataset`.
    Returns split -> number of rows written.
    """
    from unify.build import build_dataset

    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="unify-attach-", dir=output_dir.parent) as tmp:
        tmp = Path(tmp)
        folder = _local_dataset(source, tmp / "labels")
        metadata = read_metadata(folder)
        record = metadata.get(LABELS_ONLY)
        if not record:
            raise UnifyError(f"{source} is not a labels-only dataset (its {METADATA_FILE} has no {LABELS_ONLY!r} "
                             f"record); it already holds its images")
        build_dataset(metadata["dataset"], tmp / "raw", data_dir=data_dir, config=metadata["config"],
                      unified_taxonomy=metadata["unified_taxonomy"], **config_kwargs)
        raw_splits = datasets.load_dataset(str(tmp / "raw"), cache_dir=str(tmp / "cache"))
        raw = datasets.concatenate_datasets(list(raw_splits.values()))
        index = {image_id: row for row, image_id in enumerate(raw[IMAGE_ID])}
        staging = tmp / "out"
        (staging / "data").mkdir(parents=True)
        counts: dict[str, int] = {}
        for split, shards in split_shards(folder).items():
            for shard in shards:
                labels = datasets.Dataset.from_parquet(str(shard), cache_dir=str(tmp / "cache"))
                joined = _join_images(labels, raw, index, record, where=f"{source}: {split}")
                joined.to_parquet(str(staging / "data" / shard.name))
                counts[split] = counts.get(split, 0) + len(joined)
        restored = FolderMetadata.from_json({**metadata, LABELS_ONLY: None, "images_attached": True,
                                             "splits": counts})
        restored.write(staging)
        if (folder / REPORT_FILE).is_file():
            shutil.copy2(folder / REPORT_FILE, staging / REPORT_FILE)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        shutil.move(str(staging), str(output_dir))
    logger.info("attached images to %s from %s into %s: %s", source, data_dir, output_dir, counts)
    return counts


def _local_dataset(source: Path | str, download_to: Path) -> Path:
    """A local folder as it is; a Hub id (namespace/name) downloaded into `download_to`."""
    if Path(source).is_dir():
        return Path(source)
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
        raise UnifyError(f"{source} is neither a folder nor a Hub dataset id (namespace/name)")
    huggingface_hub.snapshot_download(str(source), repo_type="dataset", local_dir=download_to)
    return download_to


def _join_images(labels: datasets.Dataset, raw: datasets.Dataset, index: dict[str, int], record: dict,
                 where: str) -> datasets.Dataset:
    """The labels' rows with the left-out columns taken from the rebuilt rows of the same image_id."""
    ids = labels[IMAGE_ID]
    missing = [image_id for image_id in ids if image_id not in index]
    if missing:
        raise UnifyError(f"{where}: {len(missing)} of {len(ids)} image ids are not in the raw copy (first: "
                         f"{missing[:5]}); is it the same release of the dataset?")
    rows = raw.select([index[image_id] for image_id in ids])
    other = [i for i, (a, b) in enumerate(zip(labels[DATASET], rows[DATASET])) if a != b]
    if other:
        raise UnifyError(f"{where}: image {ids[other[0]]} belongs to {labels[DATASET][other[0]]} in the labels but to "
                         f"{rows[DATASET][other[0]]} in the raw copy")
    restore = record["restore_from_build"]
    taken = rows.select_columns(list(restore.values()))
    taken = taken.rename_columns({built: column for column, built in restore.items() if built != column})
    joined = datasets.concatenate_datasets([labels, taken], axis=1).select_columns(record["columns"])
    _check_sizes(joined, record["unified_column"], where)
    return joined


def _check_sizes(joined: datasets.Dataset, label_column: str, where: str) -> None:
    from unify.core.images import image_size_from_bytes

    raw_bytes = joined.select_columns([IMAGE_ID, IMAGE, label_column])
    raw_bytes = raw_bytes.cast_column(IMAGE, datasets.Image(decode=False))
    raw_bytes = raw_bytes.cast_column(label_column, datasets.Image(decode=False))
    for row in raw_bytes:
        image = image_size_from_bytes(row[IMAGE]["bytes"], f"{where} image {row[IMAGE_ID]}")
        label = image_size_from_bytes(row[label_column]["bytes"], f"{where} label {row[IMAGE_ID]}")
        if image != label:
            raise UnifyError(f"{where}: image {row[IMAGE_ID]} is {image[0]}x{image[1]} in the raw copy but its label "
                             f"is {label[0]}x{label[1]}; is it the same release of the dataset?")


# -- models -------------------------------------------------------------------------------------------
MODEL_FOLDER = "model"
"""Where a training run keeps its final model (save_pretrained), beside config.yaml and metrics.json."""
_PUSHED_MODEL_FILES = ("*.safetensors", "config.json", "preprocessor_config.json", "README.md")


def push_model(run_dir: Path | str, repo_id: str, *, private: bool = True,
               evaluations: list[Path | str] = ()) -> PushReport:
    """Push a trained SegFormer (safetensors, unified id2label, image processor) with its model card.

    `run_dir` is a training run folder (its `model/` is pushed) or a model folder itself;
    `evaluations` are output folders of `unify evaluate` whose results fill the card's table.
    """
    run_dir = Path(run_dir)
    model_dir = run_dir / MODEL_FOLDER if (run_dir / MODEL_FOLDER / "config.json").is_file() else run_dir
    if not (model_dir / "config.json").is_file():
        raise UnifyError(f"{run_dir} holds no model: expected {run_dir / MODEL_FOLDER}/config.json (a training run) "
                         f"or {run_dir}/config.json (a model folder)")
    if not any(model_dir.glob("*.safetensors")):
        raise UnifyError(f"{model_dir} has no .safetensors weights; only safetensors are published")
    run_config = _run_config(run_dir)
    api = _hub_api()
    segmenter = Segmenter.load(model_dir, device="cpu")
    taxonomy = segmenter.taxonomy(run_config.get("taxonomy"))
    model = segmenter.model
    results = [_read_evaluation(Path(folder)) for folder in evaluations]
    card = model_card(repo_id, model.config, taxonomy, run_config, results, _read_json(run_dir / "metrics.json"))
    url = _create_repo(api, repo_id, "model", private)
    with tempfile.TemporaryDirectory(prefix="unify-push-model-") as stage:
        segmenter.save(stage)
        (Path(stage) / "README.md").write_text(card)
        unsafe = [p.name for p in Path(stage).iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
        if unsafe:
            raise UnifyError(f"refusing to push pickled weights {unsafe}; only safetensors are published")
        commit = api.upload_folder(repo_id=repo_id, folder_path=stage, repo_type="model",
                                   allow_patterns=list(_PUSHED_MODEL_FILES),
                                   commit_message=f"SegFormer in the {taxonomy.name} taxonomy, with its model card")
    files = api.list_repo_files(repo_id, repo_type="model", revision=commit.oid)
    logger.info("pushed %s to %s (%s)", model_dir, repo_id, "private" if private else "public")
    return PushReport(repo_id=repo_id, repo_type="model", url=url, commit=commit.oid, files=files)


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _run_config(run_dir: Path) -> dict:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise UnifyError(f"{path}: expected the run's resolved config (a YAML mapping)")
    return values


def _read_evaluation(folder: Path) -> dict:
    path = folder / EVALUATION_FILE if folder.is_dir() else folder
    if not path.is_file():
        raise UnifyError(f"{folder} holds no {EVALUATION_FILE}; write one with `unify evaluate --output {folder}`")
    return json.loads(path.read_text())



def model_card(repo_id: str, config, taxonomy, run_config: dict, evaluations: list[dict],
               run_metrics: dict | None) -> str:
    """The model card: intended use, training data, evaluation, fine-tuning, limitations, citation."""
    training = _training_sources(run_config)
    distilled = any(s["kind"] == "pseudo_labelled" for s in training)
    init = run_config.get("init")
    card_data = {
        "library_name": "transformers",
        "pipeline_tag": "image-segmentation",
        "license": "other",
        "tags": ["segformer", "semantic-segmentation", "driving", "label-space-unification", "unify-driving"]
                + (["knowledge-distillation"] if distilled else []),
        "base_model": init if init and re.fullmatch(r"[\w.-]+/[\w.-]+", init) and not Path(init).exists() else None,
        "unify": {"taxonomy": taxonomy.name,
                  "classes": [{"id": c.id, "name": c.name, "color": _hex(c.color)} for c in taxonomy.trainable]},
    }
    size = run_config.get("model") or f"hidden sizes {list(config.hidden_sizes)}"
    role = ("a student distilled from a teacher's pseudo-labels, constrained by each dataset's own ground truth"
            if distilled else "trained on ground truth")
    summary = (f"A SegFormer ({size}) that segments driving scenes into the {taxonomy.num_labels} classes of the "
               f"unified `{taxonomy.name}` taxonomy: {role}{f', starting from `{init}`' if init else ''}. "
               "Trained with unify-driving; check the licences of its training data before using it.")
    intended = (f"Semantic segmentation of road scenes from vehicle cameras, in the `{taxonomy.name}` label space; "
                "a starting point for fine-tuning on another driving dataset or taxonomy; a teacher for "
                "pseudo-labelling further datasets with `unify pseudo-label`. Not validated for safety-critical use.")
    names = ", ".join(sorted({s["dataset"] for s in training if s["dataset"] != "unknown"})) or "its training data"
    limitations = (f"The model knows only the {taxonomy.num_labels} classes of `{taxonomy.name}`; anything else is "
                   f"assigned to one of them. It learnt from {names}; other cameras, countries, weather and night "
                   "scenes may be segmented worse than the evaluation above suggests.")
    if distilled:
        limitations += (" Pseudo-labels carry the teacher's mistakes wherever a native class allowed several unified "
                        "classes or was left unlabeled.")
    return render_card(
        "model", {k: v for k, v in card_data.items() if v is not None},
        pretty_name=repo_id.split("/")[-1], repo_id=repo_id, summary=summary, intended_use=intended,
        training_table=_training_table(training), evaluation_table=evaluation_table(evaluations, run_metrics),
        taxonomy_name=taxonomy.name, taxonomy_table=taxonomy_table([c.to_json() for c in taxonomy.trainable]),
        limitations=limitations, paper_citation=PAPER_CITATION)


def _training_sources(run_config: dict) -> list[dict]:
    """One row per training source of the run: what it is, read from its unify.json when it is at hand."""
    rows = []
    for source in run_config.get("train_data", []):
        path = Path(source["path"])
        metadata = read_metadata(path) if (path / METADATA_FILE).is_file() else {}
        split = source.get("split", "train")
        rows.append({"name": source.get("name") or path.name, "dataset": metadata.get("dataset", "unknown"),
                     "config": metadata.get("config", ""), "kind": metadata.get("kind", "built" if metadata else ""),
                     "teacher": (metadata.get("teacher") or {}).get("name"), "split": split,
                     "images": metadata.get("splits", {}).get(split), "weight": source.get("weight", 1.0)})
    return rows


def _training_table(sources: list[dict]) -> str | None:
    if not sources:
        return None
    rows = [[s["name"], f"{s['dataset']} ({s['config']})" if s["config"] else s["dataset"],
             f"pseudo-labels from {code(s['teacher'])}" if s["kind"] == "pseudo_labelled" else
             ("ground truth" if s["kind"] else "unknown"), s["split"],
             s["images"] if s["images"] is not None else "unknown", s["weight"]] for s in sources]
    return markdown_table(["source", "dataset", "labels", "split", "images", "weight"], rows, raw_columns=(2,))


def evaluation_table(evaluations: list[dict], run_metrics: dict | None = None) -> str | None:
    """mIoU per dataset from `unify evaluate` outputs; the run's own final evaluation when there are none."""
    rows = []
    for result in evaluations:
        for space in ("unified", "native"):
            scores = result.get(space)
            if scores:
                rows.append([f"{result['dataset']} ({result['config']})", result["split"], result["num_images"],
                             f"{space}: {code(scores['taxonomy'])}", _percent(scores["miou"]),
                             _percent(scores["pixel_accuracy"])])
    if not rows and run_metrics:
        rows = [[name, "evaluation data of the run", "", "unified", _percent(scores.get("miou")),
                 _percent(scores.get("pixel_accuracy"))] for name, scores in run_metrics.items()]
    if not rows:
        return None
    return markdown_table(["dataset", "split", "images", "taxonomy", "mIoU (%)", "pixel accuracy (%)"], rows,
                          raw_columns=(3,))


def _percent(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"

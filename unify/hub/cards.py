"""The contexts of the dataset and model cards: facts read from the pushed artifacts, and the tables.

The sentences are in the templates (`model_cards/dataset_card.md`, `model_card.md`); this module passes them
facts and Markdown tables built with `unify.core.markdown.markdown_table`, which escapes every cell, and the
filters `md` (escape text) and `code` (inline code) for the names the templates show. Nothing here guesses:
a fact the artifacts do not state is passed as None and the card says it is unknown. Class names go into
the YAML front matter as data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from model_cards import render_card
from unify.core.constants import (
    DATASET,
    FINE_LABEL,
    FORMAT_VERSION,
    IMAGE,
    IMAGE_ID,
    LABEL,
    PROVENANCE,
    PROVENANCE_NAMES,
)
from unify.core.folder import PSEUDO_LABELLED, FolderMetadata
from unify.core.markdown import code, escape, markdown_table
from unify.core.segmenter import ModelIdentity
from unify.core.taxonomy import ClassInfo, hex_color
from unify.evaluate import summary_rows, summary_table
from unify.hub.labels_only import IMAGE_CHECKSUM
from unify.hub.sources import DatasetSource
from unify.hub.transport import FORMAT_TAG

FILTERS = {"md": escape, "code": code}
"""Jinja filters of the card templates: `md` shows text literally in Markdown, `code` as inline code."""
_PROVENANCE_MEANING = {
    "ground_truth": "from ground truth: the native class allows exactly one unified class",
    "teacher_chose": "chosen by the teacher among the unified classes its native class allows",
    "teacher_filled": "filled in by the teacher: the native class (unlabeled) allows every class",
    "ignored": "ignored (255): the native class is mapped to void",
    "teacher_voided": "voided by the teacher (255): its native class lists void beside its classes, and the "
    "teacher saw none of them there",
}
PROVENANCE_CODES = ", ".join(f"{code} {name.replace('_', ' ')}" for code, name in enumerate(PROVENANCE_NAMES))
"""`0 ground truth, 1 teacher chose, ...`: the provenance codes as the cards list them."""
_DATASET_TAGS = ["driving", "semantic-segmentation", "label-space-unification", "unify-driving"]
_MODEL_TAGS = ["segformer", "semantic-segmentation", "driving", "label-space-unification", "unify-driving"]


# -- dataset cards --------------------------------------------------------------------------------------
def dataset_card(
    repo_id: str,
    metadata: FolderMetadata,
    sources: list[DatasetSource],
    report: dict | None,
    configs: dict,
    columns: list[str],
) -> str:
    """The card of a pushed dataset folder.

    `metadata` is what the push writes as unify.json (with its labels-only record for a labels-only push),
    `sources` the datasets of its rows, `report` its pseudo-labelling report (None when it has none),
    `configs` the front matter that declares its configurations (`configs`, `dataset_info`) and `columns`
    the columns of the pushed shards.
    """
    labels_only = metadata.labels_only is not None
    unified = metadata.unified_taxonomy
    classes = unified.trainable
    teacher = ModelIdentity(**metadata.teacher) if metadata.teacher else None
    pretty_name = f"{metadata.dataset} ({metadata.config}) in the {unified.name} taxonomy"
    card_data = {
        "pretty_name": pretty_name,
        "license": "other",
        "task_categories": ["image-segmentation"],
        "task_ids": ["semantic-segmentation"],
        "tags": _DATASET_TAGS,
        **configs,
        "unify": {
            "format_version": FORMAT_VERSION,
            "kind": metadata.kind,
            "labels_only": labels_only,
            "native_taxonomy": metadata.native_taxonomy.name,
            "unified_taxonomy": unified.name,
            "taxonomy": class_records(classes),
            "sources": [s.name for s in sources],
            "teacher": metadata.teacher,
        },
    }
    label_taxonomy = None
    if LABEL in columns:
        label_taxonomy = metadata.native_taxonomy.name if metadata.columns.native == LABEL else unified.name
    return render_card(
        "dataset",
        card_data,
        FILTERS,
        pretty_name=pretty_name,
        kind=metadata.kind,
        labels_only=labels_only,
        total_images=sum(sum(s.images.values()) for s in sources),
        source_names=[s.name for s in sources],
        taxonomy_name=unified.name,
        teacher=teacher.display() if teacher else None,
        tta=metadata.tta,
        mapping_table=mapping_table(metadata),
        taxonomy_table=taxonomy_table(classes),
        columns_table=columns_table(columns, metadata),
        sources_table=sources_table(sources),
        sources=[
            {"name": s.name, "homepage": s.info.homepage, "license": s.info.license, "citation": s.info.citation}
            for s in sources
        ],
        provenance_table=provenance_table(report),
        provenance_codes=PROVENANCE_CODES,
        repo_id=repo_id,
        dataset_name=metadata.dataset,
        label_taxonomy=label_taxonomy,
        format_tag=FORMAT_TAG,
        format_version=FORMAT_VERSION,
    )


def class_records(classes: tuple[ClassInfo, ...] | list[ClassInfo], colours: bool = True) -> list[dict]:
    """Front-matter records of classes: id, name and, when known, colour as `#rrggbb`."""
    return [{"id": c.id, "name": c.name, **({"color": hex_color(c.color)} if colours else {})} for c in classes]


def taxonomy_table(classes: tuple[ClassInfo, ...] | list[ClassInfo], colours: bool = True) -> str:
    """| id | name | colour | of the given classes; the colour column says unknown when `colours` is False."""
    return markdown_table(
        ["id", "name", "colour"],
        [[c.id, c.name, code(hex_color(c.color)) if colours else "unknown"] for c in classes],
        raw_columns=(2,) if colours else (),
    )


def mapping_table(metadata: FolderMetadata) -> str:
    """| native class | allowed unified classes | rule | of the mapping recorded in the folder."""
    unified = metadata.unified_taxonomy
    names = {c.id: c.name for c in unified.classes}
    every = len(unified.trainable)

    def allowed(ids: list[int]) -> str:
        if len(ids) == every and every > 1:
            return "every class"
        return ", ".join(names[i] for i in ids) or "void"

    return markdown_table(
        [f"native class ({metadata.native_taxonomy.name})", "allowed unified classes", "rule"],
        [
            [m["native_name"], allowed(m["allowed"]) + (", void" if m.get("void_allowed") else ""), m["provenance"]]
            for m in metadata.mapping.to_json()
        ],
    )


def columns_table(columns: list[str], metadata: FolderMetadata) -> str:
    """| column | content | of the pushed shards; a column this package does not describe is said to be unknown."""
    roles = metadata.columns
    meaning = {
        IMAGE: "the original image file, as published",
        roles.unified: f"unified ids ({code(metadata.unified_taxonomy.name)}) as a PNG; 255 is the ignore index",
        PROVENANCE: f"per pixel, which rule gave the unified label ({PROVENANCE_CODES}) as a PNG",
        IMAGE_ID: "stable id of the image within its source dataset",
        DATASET: "name of the source dataset",
        FINE_LABEL: "hidden fine truth of the synthetic world, to measure pseudo-label accuracy",
        IMAGE_CHECKSUM: "sha256 of the image file that was labelled; `unify attach-images` checks your copy against it",
    }
    if roles.native:
        meaning[roles.native] = (
            f"native ids ({code(metadata.native_taxonomy.name)}) as a PNG, as the dataset labels them"
        )
    return markdown_table(
        ["column", "content"], [[code(c), meaning.get(c, "unknown")] for c in columns], raw_columns=(0, 1)
    )


def sources_table(sources: list[DatasetSource]) -> str:
    """| dataset | <split>... | images | licence | with the rows of each source dataset."""
    splits = sorted({split for s in sources for split in s.images})
    rows = [
        [s.name, *(s.images.get(split, 0) for split in splits), sum(s.images.values()), s.info.license or "unknown"]
        for s in sources
    ]
    return markdown_table(["dataset", *splits, "images", "licence"], rows)


def provenance_table(report: dict | None) -> str | None:
    """Share of pixels by where their label came from, from a pseudo-labelling report; None without one."""
    if not report or "pixels_by_provenance" not in report:
        return None
    pixels = report["pixels_by_provenance"]
    total = max(sum(pixels.values()), 1)
    return markdown_table(
        ["provenance", "meaning", "pixels", "share"],
        [
            [name, _PROVENANCE_MEANING[name], pixels.get(name, 0), f"{pixels.get(name, 0) / total:.1%}"]
            for name in PROVENANCE_NAMES
        ],
    )


# -- model cards ----------------------------------------------------------------------------------------
@dataclass
class ModelFacts:
    """What a model card states, every fact read from the pushed model or its run folder."""

    architecture: str  # `describe_architecture` of the saved config
    parameters: int  # number of parameters of the saved model
    weights_sha256: str  # of the pushed weight files
    classes: list[ClassInfo]  # the model's classes in id order (its config's id2label)
    taxonomy_name: str | None  # the registered taxonomy they are, None when unknown
    colours_known: bool  # whether `classes` carry the taxonomy's colours
    provenance: dict | None  # the run's provenance.json; None: how it was trained is unknown
    evaluations: list[dict] = field(default_factory=list)  # evaluation.json records of these very weights
    run_metrics: dict | None = None  # the run's metrics.json (its final evaluation), when it has one


def model_card(repo_id: str, facts: ModelFacts) -> str:
    """The card of a pushed model: what it is, how it was trained, its scores, its classes, its limits."""
    provenance = facts.provenance or {}
    train_sources = (provenance.get("sources") or {}).get("train") or []
    eval_sources = (provenance.get("sources") or {}).get("eval") or []
    regime = training_regime(train_sources) if facts.provenance else None
    start = _identity(provenance.get("model"))
    teachers = sorted({_identity(s.get("teacher")).display() for s in train_sources if s.get("teacher")})
    evaluation = evaluation_table(facts.evaluations)
    evaluation_source = "evaluate" if evaluation else None
    if evaluation is None and facts.run_metrics:
        evaluation = run_metrics_table(facts.run_metrics, eval_sources)
        evaluation_source = "run" if evaluation else None
    card_data = {
        "library_name": "transformers",
        "pipeline_tag": "image-segmentation",
        "license": "other",
        "tags": _MODEL_TAGS + (["knowledge-distillation"] if regime == "distilled" else []),
        "base_model": start.name if start and start.revision else None,
        "unify": {
            "taxonomy": facts.taxonomy_name,
            "classes": class_records(facts.classes, facts.colours_known),
            "weights_sha256": facts.weights_sha256,
            "starting_weights": provenance.get("model"),
            "training": _training_record(provenance) if facts.provenance else None,
        },
    }
    return render_card(
        "model",
        {k: v for k, v in card_data.items() if v is not None},
        FILTERS,
        pretty_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        architecture=facts.architecture,
        parameters=f"{facts.parameters:,}",
        weights_sha256=facts.weights_sha256,
        num_classes=len(facts.classes),
        taxonomy_name=facts.taxonomy_name,
        regime=regime,
        teachers=teachers,
        provenance_known=facts.provenance is not None,
        starting_weights=start.display() if start and start.sha256 else None,
        training_table=training_table(train_sources),
        steps=provenance.get("steps"),
        global_batch_size=provenance.get("global_batch_size"),
        num_processes=provenance.get("num_processes"),
        evaluation_table=evaluation,
        evaluation_source=evaluation_source,
        taxonomy_table=taxonomy_table(facts.classes, facts.colours_known),
        dataset_names=sorted({s["dataset"] for s in train_sources if s.get("dataset")}),
    )


def training_regime(train_sources: list[dict]) -> str | None:
    """ "distilled" when a training source was pseudo-labelled, "ground_truth" when all were built, else None."""
    kinds = {s.get("kind") for s in train_sources}
    if PSEUDO_LABELLED in kinds:
        return "distilled"
    if train_sources and kinds == {"built"}:
        return "ground_truth"
    return None


def training_table(train_sources: list[dict]) -> str | None:
    """| source | dataset | labels | split | images | weight | of the run's training sources; None without any.

    The labels cell says where the labels came from and, when the source's `targets` / `fill_in` were not the
    default hard labels with the teacher's fill-in, how they were taught (`_taught`)."""
    if not train_sources:
        return None
    rows = []
    for source in train_sources:
        dataset = source.get("dataset") or "unknown"
        if source.get("config"):
            dataset = f"{dataset} ({source['config']})"
        if source.get("kind") == PSEUDO_LABELLED:
            teacher = _identity(source.get("teacher"))
            labels = f"pseudo-labels from {code(teacher.display())}" if teacher else "pseudo-labels, teacher unknown"
        else:
            labels = "ground truth" if source.get("kind") == "built" else "unknown"
        labels += _taught(source)
        rows.append(
            [
                source.get("name") or "unknown",
                dataset,
                labels,
                source.get("split") or "unknown",
                _known(source.get("images")),
                _known(source.get("weight")),
            ]
        )
    return markdown_table(["source", "dataset", "labels", "split", "images", "weight"], rows, raw_columns=(2,))


def _taught(source: dict) -> str:
    """How a training source's labels were taught (its provenance `targets` and `fill_in`, `train.loss`), as a
    suffix of its labels cell: nothing for hard labels with the teacher's fill-in (or a run from before both were
    recorded)."""
    targets, fill_in = source.get("targets", "hard"), source.get("fill_in", "teacher")
    taught = {
        "hard": "",
        "partial": ", taught as partial labels (the classes each native label allows)",
        "both": ", taught as hard and as partial labels (the classes each native label allows)",
    }.get(targets, f", targets {escape(str(targets))}")
    if fill_in == "teacher":
        return taught
    return taught + (", fill-in pixels left out" if fill_in == "ignore" else f", fill-in {escape(str(fill_in))}")


def evaluation_table(evaluations: list[dict]) -> str | None:
    """The summary table (`unify.evaluate.summary_table`) of `unify evaluate` results; None without any.

    One row per evaluated dataset, WildDash 2 first: mIoU per unified and native taxonomy, unified pixel accuracy.
    """
    return summary_table(summary_rows(evaluations)) if evaluations else None


def run_metrics_table(run_metrics: dict, eval_sources: list[dict]) -> str | None:
    """The run's final evaluation (metrics.json: source name -> miou, pixel_accuracy), with each source's dataset."""
    described = {s.get("name"): s for s in eval_sources}
    rows = []
    for name, scores in run_metrics.items():
        if not isinstance(scores, dict) or "miou" not in scores:
            continue
        source = described.get(name, {})
        dataset = source.get("dataset") or "unknown"
        if source.get("config"):
            dataset = f"{dataset} ({source['config']})"
        rows.append(
            [
                name,
                dataset,
                source.get("split") or "unknown",
                _percent(scores.get("miou")),
                _percent(scores.get("pixel_accuracy")),
            ]
        )
    if not rows:
        return None
    return markdown_table(["source", "dataset", "split", "mIoU (%)", "pixel accuracy (%)"], rows)


def _training_record(provenance: dict) -> dict:
    """The run's provenance for the front matter, without the local paths of its sources."""
    sources = provenance.get("sources") or {}
    return {
        "steps": provenance.get("steps"),
        "global_batch_size": provenance.get("global_batch_size"),
        "num_processes": provenance.get("num_processes"),
        "sources": {
            role: [{k: v for k, v in s.items() if k != "path"} for s in sources.get(role) or []]
            for role in ("train", "eval")
        },
    }


def _identity(record: dict | None) -> ModelIdentity | None:
    if not record:
        return None
    return ModelIdentity(
        name=record.get("name") or "unknown", sha256=record.get("sha256"), revision=record.get("revision")
    )


def _known(value: object) -> str:
    return "unknown" if value is None else str(value)


def _percent(value: float | None) -> str:
    return "unknown" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"

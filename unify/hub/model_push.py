"""`unify push model`: a trained model folder with a card that states only what its artifacts say.

The repository receives, in one commit, the model folder's own files (`config.json`, the safetensors weights,
`preprocessor_config.json`, written when the folder has none) and the card; every other file is deleted.
The card describes the run from its `provenance.json` (written by training: sources, their kind and teachers,
the starting weights' identity), never from the data folders, so it reads the same from any directory and
after the data are gone; a run without it is described as unknown. Architecture and size come from the
saved config. An evaluation is shown only when it scored these very weights (its sha256).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from unify.core.constants import FORMAT_VERSION
from unify.core.errors import UnifyError
from unify.core.segmenter import ModelIdentity, Segmenter, describe_architecture
from unify.core.taxonomy import ClassInfo, list_taxonomies
from unify.evaluate import EVALUATION_FILE, SUMMARY_FILE
from unify.hub.cards import ModelFacts, model_card
from unify.hub.transport import PushReport, hub_api, publish

logger = logging.getLogger(__name__)

MODEL_FOLDER = "model"
"""Where a training run keeps its final model (save_pretrained), beside provenance.json and metrics.json."""
PROVENANCE_FILE = "provenance.json"
"""What a training run records about itself: taxonomy, starting weights, sources (see the README)."""
RUN_METRICS_FILE = "metrics.json"
"""The run's final evaluation: source name -> {"miou", "pixel_accuracy", ...}."""
_CONFIG_FILES = ("config.json", "preprocessor_config.json", "model.safetensors.index.json")
_PICKLED = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def push_model(run_dir: Path | str, repo_id: str, *, private: bool = True,
               evaluations: list[Path | str] = ()) -> PushReport:
    """Make the model repository `repo_id` hold a trained model and its card, in one commit.

    `run_dir` is a training run folder (its `model/` is pushed) or a model folder itself (a run's `model/`
    is described by the run around it). `evaluations` are output folders (or evaluation.json files) of `unify
    evaluate` on these weights, of one dataset or of several (with summary.json); the card shows one table of
    them all. Raises `UnifyError` before any request for a folder without a model or without safetensors
    weights, no token, a provenance.json of another format, a model that does not predict the taxonomy its
    provenance names, or an evaluation of other weights (naming both).
    """
    model_dir, run = locate_model(Path(run_dir))
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights:
        pickled = sorted(p.name for p in model_dir.iterdir() if p.suffix in _PICKLED)
        raise UnifyError(f"{model_dir} has no .safetensors weights{f' ({pickled})' if pickled else ''}; only "
                         f"safetensors are published")
    api = hub_api()
    segmenter = Segmenter.load(model_dir, device="cpu")
    provenance = read_provenance(run) if run else None
    classes, taxonomy_name, colours_known = _classes(segmenter, provenance)
    facts = ModelFacts(
        architecture=describe_architecture(segmenter.model.config),
        parameters=sum(p.numel() for p in segmenter.model.parameters()), weights_sha256=segmenter.identity.sha256,
        classes=classes, taxonomy_name=taxonomy_name, colours_known=colours_known, provenance=provenance,
        evaluations=[result for folder in evaluations
                     for result in read_evaluations(Path(folder), segmenter.identity)],
        run_metrics=_read_json(run / RUN_METRICS_FILE) if run else None)
    card = model_card(repo_id, facts)
    with tempfile.TemporaryDirectory(prefix="unify-push-model-") as stage:
        files: dict[str, Path | bytes] = {p.name: p for p in weights}
        files.update({name: model_dir / name for name in _CONFIG_FILES if (model_dir / name).is_file()})
        if "preprocessor_config.json" not in files:  # the normalisation the model was loaded with
            segmenter.save(stage)
            files["preprocessor_config.json"] = Path(stage) / "preprocessor_config.json"
        files["README.md"] = card.encode("utf-8")
        message = f"{facts.architecture}, {len(classes)} classes, with its model card"
        return publish(api, repo_id, "model", files, private=private, message=message)


def locate_model(path: Path) -> tuple[Path, Path | None]:
    """(model folder, run folder or None) of a training run folder or a model folder.

    A model folder named `model` whose parent holds provenance.json belongs to that run. Raises `UnifyError`
    when `path` holds no model.
    """
    if (path / MODEL_FOLDER / "config.json").is_file():
        return path / MODEL_FOLDER, path
    if (path / "config.json").is_file():
        in_run = path.name == MODEL_FOLDER and (path.parent / PROVENANCE_FILE).is_file()
        return path, path.parent if in_run else None
    raise UnifyError(f"{path} holds no model: expected {path / MODEL_FOLDER}/config.json (a training run) or "
                     f"{path}/config.json (a model folder)")


def read_provenance(run: Path) -> dict | None:
    """The run's provenance.json; None (logged) when the run has none, so the card says unknown.

    Raises `UnifyError` for a file that is not JSON or is of another format version.
    """
    path = run / PROVENANCE_FILE
    if not path.is_file():
        logger.warning("%s has no %s: the card will say that its training is unknown", run, PROVENANCE_FILE)
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UnifyError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(record, dict) or str(record.get("format_version")) != FORMAT_VERSION:
        found = record.get("format_version") if isinstance(record, dict) else type(record).__name__
        raise UnifyError(f"{path} is not a run provenance record of format version {FORMAT_VERSION} (found "
                         f"{found!r})")
    return record


def read_evaluations(folder: Path, identity: ModelIdentity) -> list[dict]:
    """The evaluation.json records of `unify evaluate` in `folder`, if every one scored the weights `identity`.

    `folder` is the output of one dataset (its evaluation.json, or that file itself) or of several (its
    summary.json lists the subfolder of each dataset, whose evaluation.json is read). Raises `UnifyError` when
    there is neither file, a listed evaluation.json is missing, or the summary or any evaluation records other
    weights (naming the file and both weights).
    """
    if folder.is_dir() and (folder / SUMMARY_FILE).is_file():
        summary = _read_record(folder / SUMMARY_FILE)
        _check_scored(folder / SUMMARY_FILE, summary.get("model"), identity)
        entries = summary.get("datasets")
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "folder" in e for e in entries):
            raise UnifyError(f"{folder / SUMMARY_FILE} lists no datasets (each with its \"folder\"); write it with "
                             f"`unify evaluate --dataset A --dataset B ... --output {folder}`")
        paths = [folder / str(entry["folder"]) / EVALUATION_FILE for entry in entries]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise UnifyError(f"{folder / SUMMARY_FILE} lists evaluations that are missing: {', '.join(missing)}")
    else:
        paths = [folder / EVALUATION_FILE if folder.is_dir() else folder]
        if not paths[0].is_file():
            raise UnifyError(f"{folder} holds no {EVALUATION_FILE} or {SUMMARY_FILE}; write one with `unify "
                             f"evaluate --model MODEL --dataset DATASET --output {folder}`")
    results = []
    for path in paths:
        result = _read_record(path)
        _check_scored(path, result.get("model"), identity)
        results.append(result)
    return results


def _check_scored(path: Path, scored: dict | None, identity: ModelIdentity) -> None:
    """Raise `UnifyError` naming `path` and both weights unless the record `scored` is of the weights `identity`."""
    scored = scored if isinstance(scored, dict) else {}
    if scored.get("sha256") != identity.sha256:
        sha = scored.get("sha256")
        raise UnifyError(f"{path} evaluated other weights: {scored.get('name', 'an unnamed model')} (sha256 "
                         f"{sha[:12] if sha else 'not recorded'}), not the pushed {identity.name} (sha256 "
                         f"{identity.sha256[:12]}); evaluate the pushed model with `unify evaluate --model ...`")


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UnifyError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise UnifyError(f"{path} is not a record of `unify evaluate` (a JSON {type(record).__name__})")
    return record


def _classes(segmenter: Segmenter, provenance: dict | None) -> tuple[list[ClassInfo], str | None, bool]:
    """(classes in id order, taxonomy name or None, whether colours are known) of the model.

    The taxonomy is the one provenance.json names (checked against the model when it is registered here),
    else the registered one whose classes the model predicts; otherwise the classes are the model's own
    id2label names, colours unknown.
    """
    name = (provenance or {}).get("taxonomy")
    taxonomy = None
    if name in list_taxonomies():
        taxonomy = segmenter.taxonomy(name)
    elif name is None:
        try:
            taxonomy = segmenter.taxonomy()
        except UnifyError:
            logger.info("the model's classes match no registered taxonomy: the card lists its own class names")
    if taxonomy is not None:
        return list(taxonomy.trainable), taxonomy.name, True
    classes = [ClassInfo(i, label, (0, 0, 0), False) for i, label in enumerate(segmenter.class_names())]
    return classes, name, False


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

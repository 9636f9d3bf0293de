"""`unify evaluate`: score a model on a dataset folder (or a builder run on a raw folder) and write the tables.

The numbers come from `unify.core.evaluator.evaluate_split`, the evaluator training uses too. This module
chooses the split, builds a raw dataset when given a name, and writes `evaluation.json` (with the identity
of the weights it scored, so that `unify push model --evaluation` can refuse an evaluation of other
weights), `evaluation.md` and one confusion-matrix PNG per taxonomy.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from unify.core.errors import UnifyError
from unify.core.evaluator import SplitEvaluation, TaxonomyScores, evaluate_split
from unify.core.folder import FolderMetadata
from unify.core.markdown import code, escape, markdown_table
from unify.core.metrics import json_number
from unify.core.segmenter import Segmenter
from unify.core.visualize import confusion_image

EVALUATION_FILE = "evaluation.json"
EVALUATION_TABLE = "evaluation.md"
_PREFERRED_SPLITS = ("validation", "val", "test")


def evaluate_model(model: str | Path, dataset: str | Path, output_dir: Path | str, data_dir: Path | str | None = None,
                   split: str | None = None, batch_size: int = 1, device: str | None = None) -> dict:
    """Score `model` (folder or Hub id) on `dataset` (a built folder, or a builder name built from `data_dir`).

    Writes evaluation.json, evaluation.md and one confusion-matrix PNG per taxonomy into `output_dir`;
    returns what evaluation.json holds. Raises `UnifyError` (one line) for a model, dataset or split that
    cannot be used.
    """
    output_dir = Path(output_dir)
    segmenter = Segmenter.load(model, device=device)
    with tempfile.TemporaryDirectory(prefix="unify-evaluate-") as tmp:
        folder = _dataset_folder(dataset, data_dir, Path(tmp))
        metadata = FolderMetadata.read(folder)
        split = _choose_split(metadata, split, folder)
        evaluation = evaluate_split(segmenter, folder, split, batch_size=batch_size)
    result = {"model": segmenter.identity.to_json(), "dataset": metadata.dataset, "config": metadata.config,
              "split": split, "num_images": evaluation.num_images,
              "unified": _scores_json(evaluation.unified), "native": _scores_json(evaluation.native)}
    _write_outputs(output_dir, result, evaluation)
    return result


def _dataset_folder(dataset: str | Path, data_dir: Path | str | None, tmp: Path) -> Path:
    if (Path(dataset) / "unify.json").is_file():
        return Path(dataset)
    from dataset_scripts import builder_registry
    from unify.build import build_dataset

    if str(dataset) not in builder_registry():
        raise UnifyError(f"{dataset} is neither a folder written by `unify build` (no unify.json) nor a dataset "
                         f"name ({', '.join(sorted(builder_registry()))})")
    build_dataset(str(dataset), tmp / "dataset", data_dir=data_dir)
    return tmp / "dataset"


def _choose_split(metadata: FolderMetadata, split: str | None, folder: Path) -> str:
    splits = list(metadata.splits)
    if split is None:
        split = next((s for s in _PREFERRED_SPLITS if s in splits), splits[0] if len(splits) == 1 else None)
        if split is None:
            raise UnifyError(f"{folder} has splits {splits}; choose one with --split")
    if split not in splits:
        raise UnifyError(f"{folder} has no split {split!r}; it has {splits}")
    return split


def _scores_json(scores: TaxonomyScores | None) -> dict | None:
    if scores is None:
        return None
    pixels = scores.scores.matrix.sum(1).tolist()
    return {"taxonomy": scores.taxonomy, "miou": json_number(scores.scores.miou),
            "pixel_accuracy": json_number(scores.scores.pixel_accuracy),
            "classes": [{"name": n, "iou": json_number(iou), "pixels": int(p)}
                        for n, iou, p in zip(scores.names, scores.scores.iou, pixels)]}


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _write_outputs(output_dir: Path, result: dict, evaluation: SplitEvaluation) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVALUATION_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    model = result["model"]
    sections = [f"# {escape(model['name'])} on {escape(result['dataset'])} ({escape(result['config'])}), "
                f"split {escape(result['split'])}",
                f"{result['num_images']} images; weights sha256 {code(model['sha256'])}."]
    for space, scored in (("unified", evaluation.unified), ("native", evaluation.native)):
        scores = result[space]
        if scores is None:
            continue
        sections += [f"## {space.capitalize()} taxonomy {code(scores['taxonomy'])}",
                     f"mIoU {_percent(scores['miou'])} %, pixel accuracy {_percent(scores['pixel_accuracy'])} %.",
                     markdown_table(["class", "IoU (%)", "ground-truth pixels"],
                                    [[c["name"], _percent(c["iou"]), c["pixels"]] for c in scores["classes"]])]
        confusion_image(scored.scores.matrix, scored.names).save(output_dir / f"confusion_{space}.png")
    (output_dir / EVALUATION_TABLE).write_text("\n\n".join(sections) + "\n", encoding="utf-8")

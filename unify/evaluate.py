"""`unify evaluate`: score a model on one or several datasets and write the tables.

The numbers come from `unify.core.evaluator.evaluate_split`, the evaluator training uses too. This module
chooses each split, builds a raw dataset when given a builder name, and writes per dataset `evaluation.json`
(with the identity of the weights it scored, so that `unify push model --evaluation` can refuse an evaluation
of other weights), `evaluation.md` and one confusion-matrix PNG per taxonomy.

One dataset (`evaluate_model`) writes those files into the output folder itself. Several (`evaluate_datasets`,
the model loaded once) write them into `OUTPUT/<name>/` and add `summary.json` and `summary.md`: one row per
dataset with the mIoU in the unified taxonomy and in each native taxonomy and the unified pixel accuracy.
WildDash 2 is listed first when present: the paper (Backhaus et al., arXiv 2502.19177) checks generalisation
on it.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from unify.core.constants import METADATA_FILE
from unify.core.errors import UnifyError
from unify.core.evaluator import SplitEvaluation, TaxonomyScores, evaluate_split
from unify.core.folder import PSEUDO_LABELLED, FolderMetadata
from unify.core.markdown import code, escape, markdown_table
from unify.core.metrics import json_number
from unify.core.segmenter import Segmenter
from unify.core.visualize import confusion_image

EVALUATION_FILE = "evaluation.json"
"""Written per dataset: {"model": identity, "dataset", "config", "kind", "split", "num_images", "unified", "native"}."""
EVALUATION_TABLE = "evaluation.md"
"""Written per dataset: the per-class IoU tables of evaluation.json in Markdown."""
SUMMARY_FILE = "summary.json"
"""Written by `evaluate_datasets`: {"model": identity, "datasets": [summary row + "folder", ...]}."""
SUMMARY_TABLE = "summary.md"
"""Written by `evaluate_datasets`: `summary_table` with the model's name and weights hash."""
GENERALISATION_DATASET = "wilddash2"
"""The dataset a summary lists first: the paper's check of how a model generalises (WildDash 2)."""
_PREFERRED_SPLITS = ("validation", "val", "test")
SUMMARY_EXPLANATION = (
    "mIoU in the unified taxonomy (where the model predicts the dataset's unified taxonomy) and "
    "in each dataset's native taxonomy (a native class scores the summed probabilities of the "
    "unified classes it maps to); pixel accuracy in the unified taxonomy; a blank cell does not "
    "apply to that dataset; a pseudo-labelled dataset's unified scores compare with its "
    "pseudo-labels, not with ground truth."
)
"""What the columns of `summary_table` mean, for summary.md."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset to score: a folder written by `unify build` / `unify pseudo-label`, or a builder name.

    A builder name is built (into a temporary folder) from `data_dir`, its raw folder; `split` None takes
    validation, val or test, whichever exists (or the only split). Raises `UnifyError` when `dataset` is
    neither a folder with unify.json nor a registered builder name.
    """

    dataset: str | Path  # a dataset folder or a builder name (`unify datasets`)
    data_dir: Path | None = None  # raw folder of a builder name; ignored for a folder
    split: str | None = None  # the split to score; None: the preferred one

    def __post_init__(self) -> None:
        if self.is_folder:
            return
        from dataset_scripts import builder_registry

        if str(self.dataset) not in builder_registry():
            why = f"no {METADATA_FILE} in it" if Path(self.dataset).is_dir() else "no such folder"
            raise UnifyError(
                f"{self.dataset} is neither a folder written by `unify build` ({why}) nor "
                f"a dataset name ({', '.join(sorted(builder_registry()))})"
            )

    @property
    def is_folder(self) -> bool:
        """Whether `dataset` is a folder this package wrote (it holds unify.json), rather than a builder name."""
        return (Path(self.dataset) / METADATA_FILE).is_file()

    @property
    def name(self) -> str:
        """The folder's own name, or the builder name: names the output subfolder and `--split NAME=SPLIT`."""
        return Path(self.dataset).resolve().name if self.is_folder else str(self.dataset)

    def check(self) -> str:
        """The split that will be scored, after checking everything that can be checked without a model.

        A folder: its unify.json is read (format and kind checked) and the split chosen among its splits. A
        builder name: its raw folder is listed, not built (`unify.build.raw_splits`), and the split chosen among
        the splits found there. Raises `UnifyError` naming the folder for an unreadable unify.json, a raw folder
        the builder cannot read, a missing split, or several splits and none chosen.
        """
        if self.is_folder:
            return _choose_split(list(FolderMetadata.read(self.dataset).splits), self.split, Path(self.dataset))
        from unify.build import raw_splits

        where = f"{self.dataset}={self.data_dir}" if self.data_dir is not None else str(self.dataset)
        return _choose_split(raw_splits(str(self.dataset), self.data_dir), self.split, where)


def dataset_specs(datasets: list[str], splits: list[str] = (), data_dir: Path | str | None = None) -> list[DatasetSpec]:
    """The datasets of `unify evaluate --dataset ... [--split ...] [--data-dir ...]`, in the order given.

    A dataset is a folder, a builder name, or `NAME=RAW` (builder NAME built from its raw folder RAW; a folder
    whose own name contains `=` is still a folder). `data_dir` is the raw folder of a single builder name (the
    one-dataset form). A split is global (`SPLIT`, for every dataset) or `NAME=SPLIT` for the dataset of that
    name (`DatasetSpec.name`), which wins over the global one. Raises `UnifyError` for an unknown dataset, a
    `data_dir` beside several datasets or beside `NAME=RAW`, two global splits, or a split naming no dataset.
    """
    from dataset_scripts import builder_registry

    if data_dir is not None and len(datasets) != 1:
        raise UnifyError(
            f"--data-dir goes with a single --dataset; with {len(datasets)} datasets give each raw "
            f"folder as --dataset NAME=RAW"
        )
    specs = []
    for text in datasets:
        name, separator, raw = str(text).partition("=")
        if separator and name in builder_registry() and not (Path(text) / METADATA_FILE).is_file():
            if data_dir is not None:
                raise UnifyError(f"--dataset {text} already names its raw folder; drop --data-dir {data_dir}")
            specs.append(DatasetSpec(name, data_dir=Path(raw)))
        else:
            specs.append(DatasetSpec(text, data_dir=Path(data_dir) if data_dir is not None else None))
    names = [spec.name for spec in specs]
    global_splits = [s for s in splits if "=" not in s]
    if len(global_splits) > 1:
        raise UnifyError(
            f"--split is given for every dataset twice ({', '.join(global_splits)}); give one, and "
            f"NAME=SPLIT for a dataset that differs"
        )
    chosen = dict.fromkeys(names, global_splits[0] if global_splits else None)
    for text in splits:
        name, separator, split = text.partition("=")
        if not separator:
            continue
        if name not in chosen:
            raise UnifyError(f"--split {text} names no dataset given; the datasets are {', '.join(names)}")
        chosen[name] = split
    return [DatasetSpec(spec.dataset, spec.data_dir, chosen[spec.name]) for spec in specs]


def evaluate_model(
    model: str | Path,
    dataset: str | Path,
    output_dir: Path | str,
    data_dir: Path | str | None = None,
    split: str | None = None,
    batch_size: int = 1,
    device: str | None = None,
) -> dict:
    """Score `model` (folder or Hub id) on `dataset` (a built folder, or a builder name built from `data_dir`).

    Writes evaluation.json, evaluation.md and one confusion-matrix PNG per taxonomy into `output_dir`;
    returns what evaluation.json holds. Raises `UnifyError` (one line) for a model, dataset or split that
    cannot be used; the dataset is checked (`DatasetSpec.check`) before the model is loaded.
    """
    spec = DatasetSpec(dataset, Path(data_dir) if data_dir is not None else None, split)
    spec.check()  # before the model is loaded
    segmenter = Segmenter.load(model, device=device)
    return _evaluate_one(segmenter, spec, Path(output_dir), batch_size)


def evaluate_datasets(
    model: str | Path, specs: list[DatasetSpec], output_dir: Path | str, batch_size: int = 1, device: str | None = None
) -> dict:
    """Score `model` (loaded once) on every dataset of `specs`; write their tables and the summary.

    Each dataset's evaluation.json, evaluation.md and confusion PNGs go into `output_dir/<spec.name>/`;
    `output_dir/summary.json` and `summary.md` hold one row per dataset (`summary_rows`: WildDash 2 first,
    then in the order given), the model's identity once. Returns what summary.json holds. Raises
    `UnifyError` for no spec or two specs of one name, and for any dataset `DatasetSpec.check` refuses (a
    folder without the requested split, a raw folder its builder cannot read), before the model is loaded.
    """
    output_dir = Path(output_dir)
    if not specs:
        raise UnifyError("no dataset to evaluate: give at least one")
    repeated = sorted(name for name, count in Counter(spec.name for spec in specs).items() if count > 1)
    if repeated:
        raise UnifyError(
            f"several datasets are named {', '.join(repeated)}: their outputs would share a folder; "
            f"give each dataset folder its own name"
        )
    for spec in specs:  # fail before hours of scoring when a later dataset cannot be scored
        spec.check()
    segmenter = Segmenter.load(model, device=device)
    results = {spec.name: _evaluate_one(segmenter, spec, output_dir / spec.name, batch_size) for spec in specs}
    ordered = sorted(results, key=lambda name: results[name]["dataset"] != GENERALISATION_DATASET)
    rows = summary_rows([results[name] for name in ordered])
    summary = {
        "model": segmenter.identity.to_json(),
        "datasets": [{"folder": name, **row} for name, row in zip(ordered, rows, strict=True)],
    }
    (output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    model_record = summary["model"]
    text = [
        f"# {escape(model_record['name'])} on {len(rows)} dataset{'s' if len(rows) > 1 else ''}",
        f"Weights sha256 {code(model_record['sha256'])}. {SUMMARY_EXPLANATION}",
        summary_table(rows),
        "Per-class tables: " + ", ".join(code(f"{name}/{EVALUATION_TABLE}") for name in ordered) + ".",
    ]
    (output_dir / SUMMARY_TABLE).write_text("\n\n".join(text) + "\n", encoding="utf-8")
    return summary


def summary_rows(results: list[dict]) -> list[dict]:
    """One summary row per evaluation.json record, WildDash 2 first, then in the order given.

    A row: {"dataset", "config", "kind", "split", "num_images", "unified", "native"}, where "unified" and
    "native" are {"taxonomy", "miou", "pixel_accuracy"} (fractions in [0, 1], None where no class occurred)
    or None where that taxonomy was not scored. "kind" is None for a record written before it was recorded.
    """
    rows = [
        {
            "dataset": result["dataset"],
            "config": result["config"],
            "kind": result.get("kind"),
            "split": result["split"],
            "num_images": result["num_images"],
            **{
                space: {key: result[space][key] for key in ("taxonomy", "miou", "pixel_accuracy")}
                if result.get(space)
                else None
                for space in ("unified", "native")
            },
        }
        for result in results
    ]
    return sorted(rows, key=lambda row: row["dataset"] != GENERALISATION_DATASET)


def summary_table(rows: list[dict]) -> str:
    """The Markdown table of `summary_rows`: dataset, split, images, mIoU (%) per taxonomy, pixel accuracy (%).

    One mIoU column per unified and per native taxonomy that occurs (in order of first occurrence), blank
    where a dataset is not scored in it; pixel accuracy is the unified one. Every cell is escaped.
    """
    columns = [
        (space, name)
        for space in ("unified", "native")
        for name in dict.fromkeys(row[space]["taxonomy"] for row in rows if row[space])
    ]
    header = [
        "dataset",
        "split",
        "images",
        *(f"mIoU (%) {space} {name}" for space, name in columns),
        "pixel accuracy (%) unified",
    ]
    table = []
    for row in rows:
        dataset = f"{row['dataset']} ({row['config']})"
        if row.get("kind") == PSEUDO_LABELLED:
            dataset += ", pseudo-labelled"
        scores = [
            _percent(row[space]["miou"]) if row[space] and row[space]["taxonomy"] == name else ""
            for space, name in columns
        ]
        accuracy = _percent(row["unified"]["pixel_accuracy"]) if row["unified"] else ""
        table.append([dataset, row["split"], row["num_images"], *scores, accuracy])
    return markdown_table(header, table)


def _evaluate_one(segmenter: Segmenter, spec: DatasetSpec, output_dir: Path, batch_size: int) -> dict:
    """Score `segmenter` on one dataset and write its tables into `output_dir`; what evaluation.json holds."""
    with tempfile.TemporaryDirectory(prefix="unify-evaluate-") as tmp:
        folder = _dataset_folder(spec, Path(tmp))
        metadata = FolderMetadata.read(folder)
        split = _choose_split(list(metadata.splits), spec.split, folder)
        evaluation = evaluate_split(segmenter, folder, split, batch_size=batch_size)
    result = {
        "model": segmenter.identity.to_json(),
        "dataset": metadata.dataset,
        "config": metadata.config,
        "kind": metadata.kind,
        "split": split,
        "num_images": evaluation.num_images,
        "unified": _scores_json(evaluation.unified),
        "native": _scores_json(evaluation.native),
    }
    _write_outputs(output_dir, result, evaluation)
    return result


def _dataset_folder(spec: DatasetSpec, tmp: Path) -> Path:
    if spec.is_folder:
        return Path(spec.dataset)
    from unify.build import build_dataset

    build_dataset(str(spec.dataset), tmp / "dataset", data_dir=spec.data_dir)
    return tmp / "dataset"


def _choose_split(splits: list[str], split: str | None, where: Path | str) -> str:
    """`split` when `splits` has it, else the preferred one of `splits`; `UnifyError` naming `where` otherwise."""
    if split is None:
        split = next((s for s in _PREFERRED_SPLITS if s in splits), splits[0] if len(splits) == 1 else None)
        if split is None:
            raise UnifyError(f"{where} has splits {splits}; choose one with --split")
    if split not in splits:
        raise UnifyError(f"{where} has no split {split!r}; it has {splits}")
    return split


def _scores_json(scores: TaxonomyScores | None) -> dict | None:
    if scores is None:
        return None
    pixels = scores.scores.matrix.sum(1).tolist()
    return {
        "taxonomy": scores.taxonomy,
        "miou": json_number(scores.scores.miou),
        "pixel_accuracy": json_number(scores.scores.pixel_accuracy),
        "classes": [
            {"name": n, "iou": json_number(iou), "pixels": int(p)}
            for n, iou, p in zip(scores.names, scores.scores.iou, pixels, strict=True)
        ],
    }


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _write_outputs(output_dir: Path, result: dict, evaluation: SplitEvaluation) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVALUATION_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    model = result["model"]
    sections = [
        f"# {escape(model['name'])} on {escape(result['dataset'])} ({escape(result['config'])}), "
        f"split {escape(result['split'])}",
        f"{result['num_images']} images; weights sha256 {code(model['sha256'])}.",
    ]
    for space, scored in (("unified", evaluation.unified), ("native", evaluation.native)):
        scores = result[space]
        if scores is None:
            continue
        sections += [
            f"## {space.capitalize()} taxonomy {code(scores['taxonomy'])}",
            f"mIoU {_percent(scores['miou'])} %, pixel accuracy {_percent(scores['pixel_accuracy'])} %.",
            markdown_table(
                ["class", "IoU (%)", "ground-truth pixels"],
                [[c["name"], _percent(c["iou"]), c["pixels"]] for c in scores["classes"]],
            ),
        ]
        confusion_image(scored.scores.matrix, scored.names).save(output_dir / f"confusion_{space}.png")
    (output_dir / EVALUATION_TABLE).write_text("\n\n".join(sections) + "\n", encoding="utf-8")

"""Score a segmentation model on a built dataset, in the unified taxonomy and in the dataset's own.

The unified scores compare the argmax with the dataset's unified labels. The native scores need
no native head: the unified class probabilities are collapsed through the dataset's mapping, a
native class scoring the summed probability of the unified classes it maps to. Void native classes
(which allow nothing) and fill-in classes (`unlabeled`, which allow everything and would always
win) are neither predicted nor scored. Images are read one batch at a time and only two confusion
matrices are kept, so memory does not grow with the number of images.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from tqdm.auto import tqdm

from unify.build import read_metadata
from unify.columns import LabelColumns
from unify.core.constants import IGNORE_INDEX, IMAGE, IMAGE_ID, METADATA_FILE
from unify.core.errors import BadSampleError, UnifyError
from unify.core.images import decode_label
from unify.core.metrics import ConfusionMatrix, json_number

logger = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
EVALUATION_TABLE = "evaluation.md"
_PREFERRED_SPLITS = ("validation", "val", "test")


@dataclass(frozen=True)
class NativeCollapse:
    """Native-class scores from unified probabilities, for the K native classes that are scored."""

    weights: torch.Tensor  # (K, C) float: 1 where native class k allows unified class c
    lookup: torch.Tensor  # (L,) long: native id -> k, or 255 for classes that are not scored
    names: list[str]  # of the K scored native classes, in order
    ids: list[int]  # their native ids

    @classmethod
    def from_allowed(cls, allowed: dict[int, list[int]], names: dict[int, str], num_unified: int) -> "NativeCollapse":
        """`allowed`: native id -> unified ids it may become (empty for void)."""
        scored = [native for native in sorted(allowed) if 0 < len(allowed[native]) < num_unified]
        if not scored:
            raise UnifyError("the mapping leaves no native class to score (every class is void or fill-in)")
        weights = torch.zeros(len(scored), num_unified)
        lookup = torch.full((max(max(allowed) + 1, IGNORE_INDEX + 1),), IGNORE_INDEX, dtype=torch.long)
        for k, native in enumerate(scored):
            weights[k, list(allowed[native])] = 1.0
            lookup[native] = k
        return cls(weights, lookup, [names[n] for n in scored], scored)

    def predict(self, probabilities: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) unified probabilities -> (B, H, W) index of the best-scoring native class."""
        scores = torch.einsum("kc,bchw->bkhw", self.weights.to(probabilities), probabilities)
        return scores.argmax(1)

    def target(self, native: torch.Tensor) -> torch.Tensor:
        """(B, H, W) native ids -> index of the scored class, 255 for unscored ones."""
        return self.lookup.to(native.device)[native.long()]


@dataclass
class EvaluationPlan:
    unified_names: list[str] | None  # None: the model does not predict the dataset's unified taxonomy
    unified_taxonomy: str | None
    native_taxonomy: str
    collapse: NativeCollapse


def plan_evaluation(config, metadata: dict) -> EvaluationPlan:
    """What can be scored: the unified labels if the model predicts their taxonomy, the native labels always."""
    model_names = [config.id2label[i] for i in range(config.num_labels)]
    dataset_names = [c["name"] for c in sorted(metadata["unified_classes"], key=lambda c: c["id"]) if not c["ignore"]]
    native_names = {c["id"]: c["name"] for c in metadata["native_classes"]}
    if model_names == dataset_names:
        allowed = {m["native_id"]: m["allowed"] for m in metadata["mapping"]}
        return EvaluationPlan(model_names, metadata["unified_taxonomy"], metadata["native_taxonomy"],
                              NativeCollapse.from_allowed(allowed, native_names, len(model_names)))
    from unify.core.mapping import get_mapping

    taxonomy = model_taxonomy(config, where="the model")
    logger.info("the model predicts %s, the dataset's unified labels are %s: scoring the native taxonomy only",
                taxonomy.name, metadata["unified_taxonomy"])
    mapping = get_mapping(metadata["native_taxonomy"], taxonomy.name)
    allowed = {native: list(ids) for native, ids in mapping.allowed.items()}
    return EvaluationPlan(None, None, metadata["native_taxonomy"],
                          NativeCollapse.from_allowed(allowed, native_names, taxonomy.num_labels))


def model_taxonomy(config, name: str | None = None, where: str = "the model"):
    """The registered unified taxonomy whose classes are the model's id2label, in order.

    `name` (a run's configured taxonomy) is checked when given; otherwise every unified taxonomy
    in the registry is tried.
    """
    from unify.core.taxonomy import get_taxonomy, list_taxonomies

    labels = {int(k): v for k, v in config.id2label.items()}
    for candidate in [name] if name else list_taxonomies():
        taxonomy = get_taxonomy(candidate)
        if taxonomy.id2label() == labels:
            return taxonomy
    names = [labels[i] for i in sorted(labels)]
    if name:
        raise UnifyError(f"{where} predicts {len(names)} classes ({', '.join(names[:6])}, ...), not the "
                         f"{get_taxonomy(name).num_labels} classes of its configured taxonomy {name!r}")
    raise UnifyError(f"{where} predicts {len(names)} classes ({', '.join(names[:6])}, ...) that match no registered "
                     f"unified taxonomy (`unify taxonomies` lists them)")


def load_image_processor(model: str | Path):
    """The model's own image processor; the training normalisation when it ships none."""
    from transformers import SegformerImageProcessor

    from train.transforms import IMAGENET_MEAN, IMAGENET_STD

    try:
        return SegformerImageProcessor.from_pretrained(model)
    except OSError:
        logger.info("%s has no preprocessor_config.json; using the training normalisation", model)
        return SegformerImageProcessor(image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD),
                                       do_reduce_labels=False)


# -- the evaluation run -----------------------------------------------------------------------------
def evaluate_model(model: str | Path, dataset: str | Path, output_dir: Path | str, data_dir: Path | str | None = None,
                   split: str | None = None, batch_size: int = 1, device: str | None = None) -> dict:
    """Score `model` (folder or Hub id) on `dataset` (a built folder, or a builder name built from `data_dir`).

    Writes evaluation.json, evaluation.md and one confusion-matrix PNG per taxonomy into
    `output_dir`; returns what evaluation.json holds.
    """
    from transformers import SegformerForSemanticSegmentation

    if batch_size < 1:
        raise UnifyError(f"batch_size must be >= 1, got {batch_size}")
    output_dir = Path(output_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        net = SegformerForSemanticSegmentation.from_pretrained(model, use_safetensors=True).to(device).eval()
    except OSError as exc:
        raise UnifyError(f"cannot load the model {model} (a folder written by save_pretrained, or a Hub id with "
                         f"safetensors weights): {exc}") from exc
    processor = load_image_processor(model)
    with tempfile.TemporaryDirectory(prefix="unify-evaluate-") as tmp:
        folder = _dataset_folder(dataset, data_dir, Path(tmp))
        metadata = read_metadata(folder)
        split = _choose_split(metadata, split, folder)
        plan = plan_evaluation(net.config, metadata)
        table = datasets.load_dataset(str(folder), split=split, streaming=True)
        columns = LabelColumns.of(list(table.features))
        if columns.native is None:
            raise UnifyError(f"{folder} has no native label column; it cannot be scored in its own taxonomy")
        needed = [IMAGE, IMAGE_ID, columns.native] + ([columns.unified] if plan.unified_names else [])
        table = table.select_columns(needed)
        for column in needed:
            if column != IMAGE_ID:
                table = table.cast_column(column, datasets.Image(decode=False))
        unified = ConfusionMatrix(len(plan.unified_names)) if plan.unified_names else None
        native = ConfusionMatrix(len(plan.collapse.names))
        count = _score(net, processor, table, columns, plan, unified, native, batch_size, metadata["splits"].get(split))
    result = {"model": str(model), "dataset": metadata["dataset"], "config": metadata["config"], "split": split,
              "num_images": count,
              "unified": (_scores_json(unified.compute(), plan.unified_names, plan.unified_taxonomy)
                          if unified else None),
              "native": _scores_json(native.compute(), plan.collapse.names, plan.native_taxonomy)}
    _write_outputs(output_dir, result, unified, native, plan)
    return result


def _dataset_folder(dataset: str | Path, data_dir: Path | str | None, tmp: Path) -> Path:
    if (Path(dataset) / METADATA_FILE).is_file():
        return Path(dataset)
    from dataset_scripts import builder_registry
    from unify.build import build_dataset

    if str(dataset) not in builder_registry():
        raise UnifyError(f"{dataset} is neither a folder written by `unify build` (no {METADATA_FILE}) nor a dataset "
                         f"name ({', '.join(sorted(builder_registry()))})")
    build_dataset(str(dataset), tmp / "dataset", data_dir=data_dir)
    return tmp / "dataset"


def _choose_split(metadata: dict, split: str | None, folder: Path) -> str:
    splits = list(metadata["splits"])
    if split is None:
        split = next((s for s in _PREFERRED_SPLITS if s in splits), splits[0] if len(splits) == 1 else None)
        if split is None:
            raise UnifyError(f"{folder} has splits {splits}; choose one with --split")
    if split not in splits:
        raise UnifyError(f"{folder} has no split {split!r}; it has {splits}")
    return split


@torch.inference_mode()
def _score(net, processor, table, columns: LabelColumns, plan: EvaluationPlan, unified: ConfusionMatrix | None,
           native: ConfusionMatrix, batch_size: int, total: int | None) -> int:
    device = next(net.parameters()).device
    count = 0
    with tqdm(total=total, desc="evaluate", leave=False) as progress:
        for batch in _batches(table, columns, plan, batch_size):
            images = [b[0] for b in batch]
            pixels = processor(images=images, do_resize=False, return_tensors="pt")["pixel_values"].to(device)
            logits = net(pixel_values=pixels).logits
            probabilities = F.interpolate(logits.float(), size=images[0].shape[:2], mode="bilinear",
                                          align_corners=False).softmax(1)
            native_ids = torch.from_numpy(np.stack([b[1] for b in batch])).to(device)
            native.update(plan.collapse.predict(probabilities), plan.collapse.target(native_ids))
            if unified is not None:
                target = torch.from_numpy(np.stack([b[2] for b in batch]).astype(np.int64)).to(device)
                unified.update(probabilities.argmax(1), target)
            count += len(batch)
            progress.update(len(batch))
    return count


def _batches(table, columns: LabelColumns, plan: EvaluationPlan, batch_size: int):
    """Consecutive rows of one image size, decoded: (image, native ids, unified ids or None)."""
    batch: list[tuple] = []
    for row in table:
        image = np.asarray(Image.open(io.BytesIO(row[IMAGE]["bytes"])).convert("RGB"))
        native = decode_label(row[columns.native]["bytes"], source=f"{row[IMAGE_ID]} ({columns.native})")
        target = (decode_label(row[columns.unified]["bytes"], source=f"{row[IMAGE_ID]} ({columns.unified})")
                  if plan.unified_names else None)
        if native.shape != image.shape[:2] or (target is not None and target.shape != native.shape):
            raise BadSampleError(row[IMAGE_ID], f"image {image.shape[:2]} and labels {native.shape} differ in size")
        if batch and (len(batch) == batch_size or batch[0][0].shape != image.shape):
            yield batch
            batch = []
        batch.append((image, native.astype(np.int64), target))
    if batch:
        yield batch


# -- outputs ------------------------------------------------------------------------------------------
def _scores_json(scores, names: list[str], taxonomy: str) -> dict:
    pixels = scores.matrix.sum(1).tolist()
    return {"taxonomy": taxonomy, "miou": json_number(scores.miou), "pixel_accuracy": json_number(scores.pixel_accuracy),
            "classes": [{"name": n, "iou": json_number(iou), "pixels": int(p)}
                        for n, iou, p in zip(names, scores.iou, pixels)]}


def _write_outputs(output_dir: Path, result: dict, unified, native, plan: EvaluationPlan) -> None:
    from unify.hub import markdown_table

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVALUATION_FILE).write_text(json.dumps(result, indent=2))
    sections = [f"# {result['model']} on {result['dataset']} ({result['config']}), split {result['split']}",
                f"{result['num_images']} images."]
    for space, matrix, names in (("unified", unified, plan.unified_names), ("native", native, plan.collapse.names)):
        scores = result[space]
        if scores is None:
            continue
        percent = lambda v: "n/a" if v is None else f"{100 * v:.1f}"  # noqa: E731
        sections += [f"## {space.capitalize()} taxonomy `{scores['taxonomy']}`",
                     f"mIoU {percent(scores['miou'])} %, pixel accuracy {percent(scores['pixel_accuracy'])} %.",
                     markdown_table(["class", "IoU (%)", "ground-truth pixels"],
                                    [[c["name"], percent(c["iou"]), c["pixels"]] for c in scores["classes"]])]
        confusion_image(matrix.compute().matrix, names).save(output_dir / f"confusion_{space}.png")
    (output_dir / EVALUATION_TABLE).write_text("\n\n".join(sections) + "\n")


def confusion_image(matrix: torch.Tensor, names: list[str], max_side: int = 1200) -> Image.Image:
    """Row-normalised confusion matrix (rows: truth, columns: prediction), darker = more pixels."""
    counts = matrix.double()
    shares = (counts / counts.sum(1, keepdim=True).clamp(min=1)).numpy()
    n = len(names)
    cell = max(6, min(32, max_side // max(n, 1)))
    font = ImageFont.load_default()
    captions = ("rows: truth", "columns: prediction")
    margin = 8 + max(int(font.getlength(text)) for text in (*names, *captions))
    side = margin + n * cell
    image = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(image)
    for row in range(n):
        draw.text((4, margin + row * cell + cell // 2), names[row], fill="black", font=font, anchor="lm")
        for column in range(n):
            shade = int(255 * (1 - shares[row, column]))
            fill = (shade, shade, 255) if row == column else (255, shade, shade)
            x, y = margin + column * cell, margin + row * cell
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=fill, outline=(230, 230, 230))
    # column names: drawn like the row names on a strip, then turned to read upwards above the columns
    strip = Image.new("RGB", (margin, side), "white")
    strip_draw = ImageDraw.Draw(strip)
    for column in range(n):
        strip_draw.text((4, margin + column * cell + cell // 2), names[column], fill="black", font=font, anchor="lm")
    image.paste(strip.rotate(90, expand=True), (0, 0))
    draw.rectangle([0, 0, margin - 1, margin - 1], fill="white")
    for line, text in enumerate(captions):
        draw.text((4, margin - 24 + 12 * line), text, fill="gray", font=font)
    return image

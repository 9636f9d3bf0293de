"""Experiment tracking through Accelerate's trackers (TensorBoard, Weights & Biases, ...), besides log.jsonl.

Training logs its loss, learning rate and images/s at log steps and the evaluation scores at each
evaluation; trackers that take images also get a few predictions per evaluation source, drawn as
image | ground truth | prediction in the taxonomy's colours.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from train.config import DataSource, TrainConfig
from train.data import decode_pair
from unify.core.errors import UnifyError
from unify.core.folder import FolderMetadata, load_split
from unify.core.images import colorize
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import Taxonomy
from unify.core.visualize import comparison_grid

logger = logging.getLogger(__name__)
PROJECT = "unify-driving"
"""Project name given to the trackers (the W&B project); TensorBoard writes into RUN/tensorboard."""
TENSORBOARD_DIR = "tensorboard"
EXTRAS = {"tensorboard": "pip install 'unify-driving[tensorboard]'"}


def trackers(config: TrainConfig, run: Path) -> list:
    """What `Accelerator(log_with=...)` gets for `config.log_with`; `UnifyError` for one that is not installed."""
    from accelerate.tracking import TensorBoardTracker, get_available_trackers

    available = {str(getattr(t, "value", t)) for t in get_available_trackers()}
    missing = [name for name in config.log_with if name != "all" and name not in available]
    if missing:
        hints = "; ".join(EXTRAS.get(name, f"pip install {name}") for name in missing)
        raise UnifyError(f"log_with asks for {missing}, which is not installed: {hints}")
    return [
        TensorBoardTracker(TENSORBOARD_DIR, str(run)) if name == "tensorboard" else name for name in config.log_with
    ]


def start_tracking(accelerator: Accelerator, config: TrainConfig, run: Path) -> None:
    """Open the trackers of `config.log_with` with the config as hyperparameters (flat: lists as JSON text)."""
    if not config.log_with:
        return
    values = {
        key: value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
        for key, value in config.to_dict().items()
    }
    accelerator.init_trackers(PROJECT, config=values, init_kwargs={"wandb": {"name": run.name}})


def track_evaluation(
    accelerator: Accelerator,
    segmenter: Segmenter,
    sources: list[DataSource],
    metrics: dict,
    step: int,
    taxonomy: Taxonomy,
    images: int = 2,
) -> None:
    """Scores of every source as scalars, and `images` predictions per source for trackers that take images."""
    if not accelerator.trackers:
        return
    accelerator.log(
        {f"eval/{name}/{key}": value for name, scores in metrics.items() for key, value in scores.items()}, step=step
    )
    takers = [t for t in accelerator.trackers if t.name in ("tensorboard", "wandb")]
    if not takers or not accelerator.is_main_process:
        return
    for source in sources:
        grid = prediction_grid(segmenter, source, taxonomy, images)
        for tracker in takers:
            if tracker.name == "tensorboard":
                tracker.writer.add_image(f"predictions/{source.name}", grid, global_step=step, dataformats="HWC")
            else:
                tracker.log_images({f"predictions/{source.name}": [grid]}, step=step)


@torch.inference_mode()
def prediction_grid(segmenter: Segmenter, source: DataSource, taxonomy: Taxonomy, images: int) -> np.ndarray:
    """(H, W, 3) uint8: one row per image of the first `images` of the source, image | truth | prediction."""
    column = source.label_column or FolderMetadata.read(source.path).columns.unified
    table = load_split(source.path, source.split, decode=False)
    palette = taxonomy.palette()
    was_training = segmenter.model.training
    segmenter.model.eval()
    rows = []
    for row in table.select(range(min(images, len(table)))):
        image, truth = decode_pair(row, column)
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].to(segmenter.device)
        prediction = segmenter.logits(segmenter.preprocess(pixels), size=truth.shape).argmax(1)[0].cpu().numpy()
        rows.append([image, colorize(truth, palette), colorize(prediction, palette)])
    segmenter.model.train(was_training)
    return np.asarray(comparison_grid(rows, ["image", "ground truth", "prediction"]))

"""The Accelerate training loop shared by teachers and students."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from train.config import TrainConfig
from train.data import open_source, train_loader
from train.transforms import TrainTransform
from unify.core.evaluator import evaluate_split
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy

logger = logging.getLogger(__name__)
CHECKPOINTS = "checkpoints"
MODEL = "model"


def train(config: TrainConfig) -> dict:
    """Train, checkpointing and evaluating as configured; resume from the run folder's last checkpoint."""
    output_dir = Path(config.output_dir)
    accelerator = Accelerator(mixed_precision=_precision(config.mixed_precision))
    set_seed(config.seed)
    taxonomy = get_taxonomy(config.taxonomy)
    for source in config.train_data + config.eval_data:  # every source checked before step 1
        open_source(source, taxonomy)
    segmenter = Segmenter.for_training(config.model, taxonomy)
    model, optimizer, scheduler = _build_optimisation(config, segmenter.model)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    start = _resume(accelerator, output_dir)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        config.save(output_dir / "config.yaml")
    transform = TrainTransform.from_config(config, segmenter.normalization)
    loader = accelerator.prepare(train_loader(config.train_data, transform, taxonomy, config.batch_size, config.steps,
                                              config.seed, start, config.num_workers))
    metrics: dict = {}
    model.train()
    progress = tqdm(total=config.steps, initial=start, desc="train", disable=not accelerator.is_main_process)
    clock, seen = time.perf_counter(), 0
    for step, (pixels, labels) in enumerate(loader, start=start + 1):
        # Dropout and drop-path draw from a generator seeded by the step, so a resumed run repeats them exactly.
        torch.manual_seed((config.seed * 1_000_003 + step) * 64 + accelerator.process_index)
        loss = model(pixel_values=pixels, labels=labels).loss
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seen += pixels.shape[0] * accelerator.num_processes
        progress.update(1)
        if step % config.log_every == 0 or step == config.steps:
            rate = seen / (time.perf_counter() - clock)
            _log(accelerator, output_dir, {"step": step, "loss": loss.item(), "lr": scheduler.get_last_lr()[0],
                                           "images_per_second": round(rate, 2)})
            progress.set_postfix(loss=f"{loss.item():.3f}")
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
            _checkpoint(accelerator, output_dir, step)
        if (config.eval_every and step % config.eval_every == 0) or step == config.steps:
            metrics = _evaluate(accelerator, _unwrapped(accelerator, model, segmenter), config)
            _log(accelerator, output_dir, {"step": step, **metrics})
    progress.close()
    _checkpoint(accelerator, output_dir, config.steps)
    _save_model(accelerator, _unwrapped(accelerator, model, segmenter), output_dir / MODEL)
    if accelerator.is_main_process:
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _precision(requested: str) -> str:
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _build_optimisation(config: TrainConfig, model: torch.nn.Module):
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate,
                                  fused=torch.cuda.is_available())

    def poly_with_warmup(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        return (1 - (step - config.warmup_steps) / (config.steps - config.warmup_steps)) ** config.poly_power

    return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, poly_with_warmup)


def _resume(accelerator: Accelerator, output_dir: Path) -> int:
    """The step of the last complete checkpoint, whose state is loaded; 0 for a fresh run."""
    checkpoints = sorted((output_dir / CHECKPOINTS).glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [p for p in checkpoints if (p / "done").is_file()]
    if not complete:
        return 0
    accelerator.load_state(str(complete[-1]))
    step = int(complete[-1].name.split("-")[1])
    logger.info("resumed from %s at step %d", complete[-1], step)
    return step


def _checkpoint(accelerator: Accelerator, output_dir: Path, step: int, keep: int = 2) -> None:
    """Save the whole training state; a `done` marker makes a half-written checkpoint harmless."""
    folder = output_dir / CHECKPOINTS / f"step-{step:08d}"
    accelerator.save_state(str(folder))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (folder / "done").write_text(str(step))
        old = sorted((output_dir / CHECKPOINTS).glob("step-*"))[:-keep]
        for path in old:
            shutil.rmtree(path)


def _unwrapped(accelerator: Accelerator, model, segmenter: Segmenter) -> Segmenter:
    """The segmenter around the trained weights, without the distributed wrapper."""
    return Segmenter(accelerator.unwrap_model(model), segmenter.mean, segmenter.std, segmenter.rescale,
                     segmenter.identity)


def _evaluate(accelerator: Accelerator, segmenter: Segmenter, config: TrainConfig) -> dict:
    """mIoU and pixel accuracy on every evaluation source, split across the processes and summed."""
    results = {}
    for source in config.eval_data:
        evaluation = evaluate_split(segmenter, source.path, source.split, label_column=source.label_column,
                                    native=False, process_index=accelerator.process_index,
                                    num_processes=accelerator.num_processes,
                                    show_progress=accelerator.is_main_process, description=f"evaluate {source.name}")
        scores = evaluation.unified.scores
        results[source.name] = {"miou": scores.miou, "pixel_accuracy": scores.pixel_accuracy}
    return results


def _save_model(accelerator: Accelerator, segmenter: Segmenter, folder: Path) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        segmenter.save(folder)


def _log(accelerator: Accelerator, output_dir: Path, record: dict) -> None:
    if not accelerator.is_main_process:
        return
    logger.info(" ".join(f"{k}={v:.4g}" if isinstance(v, float) and math.isfinite(v) else f"{k}={v}"
                         for k, v in record.items()))
    with open(output_dir / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")

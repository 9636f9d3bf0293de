"""The Accelerate training loop shared by teachers and students.

`steps` counts optimiser steps of the whole run. Each step trains on one global batch of
`global_batch_size` images, shared between the processes as `train.parallel` describes, so checkpoint
names, log steps, the learning-rate schedule, the final evaluation and `metrics.json` are the same for 1
or N processes, and a run resumed with another number of processes continues exactly. Dropout and
drop-path are seeded per (seed, step, micro-batch), not per process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, broadcast_object_list, set_seed
from tqdm.auto import tqdm

from train.config import TrainConfig, absolute_paths, write_run_config
from train.data import source_targets, step_seed, train_loader
from train.loss import SourceTargets, TargetTables, hard_label_loss, partial_label_loss
from train.parallel import (
    BatchNormStatistics,
    BatchPlan,
    use_sync_batchnorm,
    warn_single_cpu_launch,
)
from train.provenance import describe_source, write_provenance
from train.resume import CHECKPOINTS, STATE_FILE, check_resume
from train.tracking import start_tracking, track_evaluation, trackers
from train.transforms import TrainTransform
from unify.core.evaluator import evaluate_split
from unify.core.segmenter import Segmenter, processes_without_gpu
from unify.core.taxonomy import Taxonomy, get_taxonomy

logger = logging.getLogger(__name__)
MODEL = "model"
METRICS_FILE = "metrics.json"
LOG_FILE = "log.jsonl"


@dataclass
class Run:
    """What the steps of one training run work with."""

    config: TrainConfig
    folder: Path
    accelerator: Accelerator
    plan: BatchPlan
    segmenter: Segmenter  # around the trained module itself (not the distributed wrapper)
    taxonomy: Taxonomy
    model: torch.nn.Module  # as prepared by Accelerate (DDP-wrapped under several processes)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler  # stepped once per optimiser step, here, not by Accelerate
    statistics: BatchNormStatistics
    memory_format: torch.memory_format
    targets: list[SourceTargets] | None = None  # each training source's targets; None: all hard (the model's loss)
    tables: TargetTables | None = None  # their lookup tables on the training device


def train(config: TrainConfig) -> dict:
    """Train, checkpointing and evaluating as configured; resume from the run folder's last checkpoint.

    Returns the final evaluation ({source name: {"miou", "pixel_accuracy"}}), also written to metrics.json.
    A run whose last checkpoint is already at `steps` only writes its model and (if missing) its metrics.
    Raises `UnifyError` when the run folder's checkpoint was trained with other settings (`train.resume`), for
    a batch plan that does not fit the number of processes, a bad source (missing, another taxonomy, no native
    ids or mapping for its targets), a model that cannot start the run, or BatchNorm statistics that cannot be
    merged across processes. Every such check comes first: a refused run writes nothing into the run folder.
    """
    config = absolute_paths(config)
    checkpoint = check_resume(config)
    run, sources = _start(config, checkpoint)
    start = _resume(run, checkpoint)
    if run.accelerator.is_main_process:  # every check has passed: the run folder is written from here on
        run.folder.mkdir(parents=True, exist_ok=True)
        write_provenance(run.folder, run.config, run.segmenter.identity, run.plan, sources)
        write_run_config(run.config, run.folder)
        _forget_log_after(run.folder / LOG_FILE, start)
    start_tracking(run.accelerator, run.config, run.folder)
    metrics = _train_steps(run, start) if start < run.config.steps else None
    return _finish(run, metrics)


def _start(config: TrainConfig, checkpoint: Path | None = None) -> tuple[Run, dict[str, list[dict]]]:
    """Accelerator, batch plan, checked sources, model, optimiser and schedule, prepared for the processes, and
    the sources' provenance records (`describe_source`) by "train" and "eval". Writes nothing. `checkpoint` is
    the one the run will resume from (`check_resume`), named in the model's log line; None for a fresh run."""
    folder = Path(config.output_dir)
    warn_single_cpu_launch()
    accelerator = Accelerator(
        mixed_precision=_precision(config.mixed_precision),
        cpu=processes_without_gpu(),
        dynamo_backend="inductor" if config.compile else "no",
        log_with=trackers(config, folder) or None,
        project_config=ProjectConfiguration(project_dir=str(folder)),
    )
    plan = BatchPlan.for_processes(config.global_batch_size, config.per_device_batch_size, accelerator.num_processes)
    set_seed(config.seed)
    _fast_math(config, accelerator.device)
    taxonomy = get_taxonomy(config.taxonomy)
    sources = {  # every source checked before step 1
        "train": [describe_source(s, taxonomy, folder, config.targets_of(s)) for s in config.train_data],
        "eval": [describe_source(s, taxonomy, folder) for s in config.eval_data],
    }
    segmenter = Segmenter.for_training(config.model, taxonomy, resume_from=checkpoint.name if checkpoint else None)
    logger.info(
        "batches: %d images per step = %d per forward pass x %d processes x %d accumulation steps",
        plan.global_batch_size,
        plan.per_device_batch_size,
        plan.num_processes,
        plan.accumulation_steps,
    )
    return prepare(config, folder, accelerator, plan, segmenter, taxonomy), sources


def prepare(
    config: TrainConfig,
    folder: Path,
    accelerator: Accelerator,
    plan: BatchPlan,
    segmenter: Segmenter,
    taxonomy: Taxonomy,
) -> Run:
    """The model (memory format, SyncBatchNorm), optimiser and schedule, prepared by Accelerate for its processes."""
    memory_format = _memory_format(config, accelerator.device)
    module = segmenter.model.to(memory_format=memory_format)
    module = use_sync_batchnorm(module, accelerator) if config.sync_batchnorm else module
    segmenter.model = module
    optimizer, scheduler = _build_optimisation(config, module)
    model, optimizer = accelerator.prepare(module, optimizer)
    accelerator.register_for_checkpointing(scheduler)  # not prepared: Accelerate would step it once per process
    targets = source_targets(config)
    tables = None if targets is None else TargetTables.build(targets, taxonomy.num_labels).to(accelerator.device)
    return Run(
        config,
        folder,
        accelerator,
        plan,
        segmenter,
        taxonomy,
        model,
        optimizer,
        scheduler,
        BatchNormStatistics(module, plan, accelerator.process_index),
        memory_format,
        targets,
        tables,
    )


def _precision(requested: str) -> str:
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _fast_math(config: TrainConfig, device: torch.device) -> None:
    """TF32 for float32 matmuls and convolutions on CUDA, as configured; nothing changes on the CPU."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = config.tf32
        torch.backends.cudnn.allow_tf32 = config.tf32


def _memory_format(config: TrainConfig, device: torch.device) -> torch.memory_format:
    wanted = device.type == "cuda" if config.channels_last is None else config.channels_last
    return torch.channels_last if wanted else torch.contiguous_format


def _build_optimisation(config: TrainConfig, model: torch.nn.Module):
    """AdamW (fused on CUDA; no weight decay on biases and norms) and the poly schedule with linear warm-up."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
        fused=torch.cuda.is_available(),
    )

    def poly_with_warmup(done: int) -> float:  # factor of the learning rate of step done + 1
        if done < config.warmup_steps:
            return (done + 1) / config.warmup_steps
        return max(0.0, 1 - (done - config.warmup_steps) / (config.steps - config.warmup_steps)) ** config.poly_power

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, poly_with_warmup)


def _resume(run: Run, checkpoint: Path | None) -> int:
    """Load the state of `checkpoint` (from `check_resume`) and return its step; 0 for a fresh run (None)."""
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / STATE_FILE).read_text())
    run.accelerator.load_state(str(checkpoint))
    plan = run.plan
    if (state["num_processes"], state["per_device_batch_size"]) != (plan.num_processes, plan.per_device_batch_size):
        logger.info(
            "resuming step %d, trained on %d processes, with %d: each step keeps its %d images, now %d per "
            "forward pass x %d accumulation steps",
            state["step"],
            state["num_processes"],
            run.plan.num_processes,
            run.plan.global_batch_size,
            run.plan.per_device_batch_size,
            run.plan.accumulation_steps,
        )
    logger.info("resumed from %s at step %d", checkpoint, state["step"])
    return int(state["step"])


def _train_steps(run: Run, start: int) -> dict:
    """Steps start+1..steps with logging, checkpoints and evaluations; returns the final evaluation."""
    config, accelerator = run.config, run.accelerator
    transform = TrainTransform.from_config(config, run.segmenter.normalization)
    loader = train_loader(
        config.train_data,
        transform,
        run.taxonomy,
        run.plan,
        accelerator.process_index,
        config.seed,
        start,
        config.steps,
        config.num_workers,
        config.prefetch_factor,
        run.targets,
    )
    batches = iter(loader)
    run.model.train()
    progress = tqdm(total=config.steps, initial=start, desc="train", disable=not accelerator.is_main_process)
    window = (time.perf_counter(), start)  # when and at which step the images/s window opened
    metrics: dict = {}
    for step in range(start + 1, config.steps + 1):
        learning_rate = run.scheduler.get_last_lr()[0]  # the rate this step uses
        loss = optimiser_step(run, batches, step)
        progress.update(1)
        if step % config.log_every == 0 or step == config.steps:
            rate = (step - window[1]) * run.plan.global_batch_size / (time.perf_counter() - window[0])
            record = {
                "step": step,
                "loss": accelerator.reduce(loss, "mean").item(),
                "lr": learning_rate,
                "images_per_second": round(rate, 2),
            }
            _log(run, record)
            progress.set_postfix(loss=f"{record['loss']:.3f}")
            window = (time.perf_counter(), step)
        if step == config.steps or (config.checkpoint_every and step % config.checkpoint_every == 0):
            _checkpoint(run, step)
        if step == config.steps or (config.eval_every and step % config.eval_every == 0):
            metrics = _evaluate(run, step)
            window = (time.perf_counter(), step)
    progress.close()
    return metrics


def optimiser_step(run: Run, batches: Iterator[tuple[torch.Tensor, ...]], step: int) -> torch.Tensor:
    """One optimiser step over this process's micro-batches; returns their mean loss, left on the device.

    A micro-batch is (pixels, labels), or (pixels, labels, native, source) in a run with partial targets.
    """
    accelerator, plan = run.accelerator, run.plan
    run.statistics.snapshot()
    total = torch.zeros(1, device=accelerator.device)
    micro_batches = plan.micro_batches(accelerator.process_index)
    for micro_batch in micro_batches:
        pixels, *targets = next(batches)
        pixels = pixels.to(accelerator.device, non_blocking=True, memory_format=run.memory_format)
        targets = [t.to(accelerator.device, non_blocking=True) for t in targets]
        torch.manual_seed(step_seed(run.config.seed, step, micro_batch))  # dropout: the same whoever runs it
        last = micro_batch == micro_batches[-1]
        with contextlib.nullcontext() if last else accelerator.no_sync(run.model):
            loss = _loss(run, pixels, *targets) / plan.accumulation_steps
            accelerator.backward(loss)
        total += loss.detach()
    run.statistics.merge()
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return total


def _loss(
    run: Run,
    pixels: torch.Tensor,
    labels: torch.Tensor,
    native: torch.Tensor | None = None,
    source: torch.Tensor | None = None,
) -> torch.Tensor:
    """The model's own cross-entropy when every source is hard, else the partial-label loss (`train.loss`)."""
    if run.tables is None:
        return hard_label_loss(run.model, pixels, labels)
    return partial_label_loss(run.model(pixel_values=pixels).logits, labels, native, source, run.tables)


def _checkpoint(run: Run, step: int, keep: int = 2) -> None:
    """Save the whole training state and the config it was trained with; the state record, written last, makes a
    half-written checkpoint harmless."""
    folder = run.folder / CHECKPOINTS / f"step-{step:08d}"
    run.accelerator.save_state(str(folder))
    run.accelerator.wait_for_everyone()
    if run.accelerator.is_main_process:
        write_run_config(run.config, run.folder, folder)
        (folder / STATE_FILE).write_text(json.dumps({"step": step, **run.plan.to_json()}, indent=2) + "\n")
        complete = sorted(p for p in (run.folder / CHECKPOINTS).glob("step-*") if (p / STATE_FILE).is_file())
        for path in complete[:-keep]:
            shutil.rmtree(path)


def _evaluate(run: Run, step: int) -> dict:
    """mIoU and pixel accuracy on every evaluation source, split across the processes and summed; logged."""
    results = {}
    for source in run.config.eval_data:
        evaluation = evaluate_split(
            run.segmenter,
            source.path,
            source.split,
            label_column=source.label_column,
            native=False,
            process_index=run.accelerator.process_index,
            num_processes=run.accelerator.num_processes,
            show_progress=run.accelerator.is_main_process,
            description=f"evaluate {source.name}",
        )
        scores = evaluation.unified.scores
        results[source.name] = {"miou": scores.miou, "pixel_accuracy": scores.pixel_accuracy}
    if results:
        _log(run, {"step": step, **results})
        track_evaluation(run.accelerator, run.segmenter, run.config.eval_data, results, step, run.taxonomy)
    return results


def _finish(run: Run, metrics: dict | None) -> dict:
    """Write the model and metrics.json; evaluate first when this launch trained no step and they are missing."""
    if metrics is None:
        logger.info(
            "the run is already at step %d of %d: writing its model and metrics", run.config.steps, run.config.steps
        )
        metrics = broadcast_object_list([_complete_metrics(run) if run.accelerator.is_main_process else None])[0]
        if metrics is None:
            metrics = _evaluate(run, run.config.steps)
    run.accelerator.wait_for_everyone()
    if run.accelerator.is_main_process:
        run.segmenter.save(run.folder / MODEL)
        (run.folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    run.accelerator.end_training()
    return metrics


def _complete_metrics(run: Run) -> dict | None:
    """metrics.json when it scores every evaluation source, else None."""
    path = run.folder / METRICS_FILE
    metrics = json.loads(path.read_text()) if path.is_file() else None
    return metrics if metrics is not None and set(metrics) == {s.name for s in run.config.eval_data} else None


def _forget_log_after(path: Path, step: int) -> None:
    """Drop the records of `log.jsonl` after `step`: an interrupted launch's steps past its last checkpoint,
    which this launch trains again, so each step is written down once."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
    if len(kept) < len(lines):
        logger.info("%s: dropping the %d records after step %d, trained again", path, len(lines) - len(kept), step)
        path.write_text("".join(kept))


def _log(run: Run, record: dict) -> None:
    """One line in log.jsonl and the log, and the numbers to the trackers (main process)."""
    scalars = {k: v for k, v in record.items() if k != "step" and not isinstance(v, dict)}
    if scalars:  # evaluation scores go to the trackers through `track_evaluation`
        run.accelerator.log(scalars, step=record["step"])
    if not run.accelerator.is_main_process:
        return
    logger.info(
        " ".join(f"{k}={v:.4g}" if isinstance(v, float) and math.isfinite(v) else f"{k}={v}" for k, v in record.items())
    )
    with open(run.folder / LOG_FILE, "a") as f:
        f.write(json.dumps(record) + "\n")

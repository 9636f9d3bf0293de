"""How one optimiser step is shared between processes, and what keeps N processes equal to one.

A step takes one global batch of `global_batch_size` images, cut into micro-batches m = 0..M-1 of
`per_device_batch_size` images. Process p runs micro-batches p*A .. p*A+A-1 (A accumulation steps), so
1 process with A = 2 and 2 processes with A = 1 run the same micro-batches. Gradients agree because each
micro-batch loss is divided by A and DDP averages over the processes. BatchNorm normalises each micro-batch
by its own statistics in both cases; its running statistics, which each process updates only with its own
micro-batches, are merged after every step into what one process running all M micro-batches in order
would hold (`BatchNormStatistics`). With `sync_batchnorm` on CUDA, BatchNorm instead normalises by the
statistics of the micro-batches that all processes run at once (the SegFormer recipe of 8 GPUs x 1 image),
which then depend on the number of processes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
from accelerate import Accelerator

from unify.core.errors import UnifyError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPlan:
    """Images per optimiser step, per forward pass and process, and the accumulation steps between them."""

    global_batch_size: int  # images per optimiser step, over all processes
    per_device_batch_size: int  # images per forward pass of one process
    num_processes: int

    @property
    def accumulation_steps(self) -> int:
        """Forward passes of each process per optimiser step: global / (per device x processes)."""
        return self.global_batch_size // (self.per_device_batch_size * self.num_processes)

    @classmethod
    def for_processes(cls, global_batch_size: int, per_device_batch_size: int | None, num_processes: int) -> BatchPlan:
        """The plan for `num_processes`; `per_device_batch_size` None: global / processes.

        Raises `UnifyError` saying what to set when the global batch is not per device x processes x a whole
        number of accumulation steps.
        """
        if global_batch_size % num_processes:
            raise UnifyError(
                f"global_batch_size={global_batch_size} does not split over {num_processes} "
                f"processes; set global_batch_size to a multiple of {num_processes}"
            )
        per_device = per_device_batch_size or global_batch_size // num_processes
        if global_batch_size % (per_device * num_processes):
            fitting = [d for d in range(global_batch_size, 0, -1) if global_batch_size % (d * num_processes) == 0]
            raise UnifyError(
                f"global_batch_size={global_batch_size} is not per_device_batch_size={per_device} x "
                f"{num_processes} processes x a whole number of accumulation steps; set "
                f"per_device_batch_size to one of {fitting}"
            )
        return cls(global_batch_size, per_device, num_processes)

    def micro_batches(self, process_index: int) -> range:
        """Indices m of the micro-batches that process `process_index` runs, in order."""
        first = process_index * self.accumulation_steps
        return range(first, first + self.accumulation_steps)

    def to_json(self) -> dict:
        """The plan as JSON: the three sizes and `accumulation_steps` (each checkpoint's state record holds it)."""
        return {
            "global_batch_size": self.global_batch_size,
            "per_device_batch_size": self.per_device_batch_size,
            "num_processes": self.num_processes,
            "accumulation_steps": self.accumulation_steps,
        }


def warn_single_cpu_launch() -> None:
    """Log a warning when `accelerate launch --cpu --num_processes N` started this one process instead of N.

    Accelerate's launcher runs CPU jobs as one plain process unless given an MPI host file; it still sets
    MASTER_ADDR when more than one process was asked for, which is how this is recognised.
    """
    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if cpu and "MASTER_ADDR" in os.environ and "WORLD_SIZE" not in os.environ:
        logger.warning(
            "`accelerate launch --cpu` started one process: it runs several CPU processes only through "
            "MPI (--mpirun_hostfile). For N processes on this machine run `torchrun --nproc_per_node N "
            "-m train CONFIG` or `accelerate launch --multi_gpu --num_processes N -m train CONFIG`"
        )


def use_sync_batchnorm(model: torch.nn.Module, accelerator: Accelerator) -> torch.nn.Module:
    """`model` with SyncBatchNorm layers when several CUDA processes train it; else unchanged (logged)."""
    if accelerator.num_processes == 1:
        return model
    if accelerator.device.type != "cuda":
        logger.warning(
            "sync_batchnorm: SyncBatchNorm works only on CUDA; the %d processes on %s keep BatchNorm "
            "statistics per micro-batch",
            accelerator.num_processes,
            accelerator.device.type,
        )
        return model
    logger.info(
        "sync_batchnorm: BatchNorm statistics over the micro-batches of all %d processes", accelerator.num_processes
    )
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


class BatchNormStatistics:
    """Running BatchNorm statistics of N processes merged into those one process running all micro-batches holds.

    A BatchNorm layer with momentum q updates r <- (1 - q) r + q s for each micro-batch statistic s. One process
    running micro-batches 0..M-1 in order ends a step at (1 - q)^M r0 + sum_k (1 - q)^(M-1-k) q s_k. Process p
    ran micro-batches p*A..p*A+A-1 from the same r0 and holds r_p; since (r_p - (1 - q)^A r0) is its part of the
    sum, weighted by (1 - q)^(A (N-1-p)), one all-reduce gives every process the sequential result. Layers that
    are SyncBatchNorm already agree across processes and are left alone. Since every process holds the same
    statistics after `merge`, DDP's broadcast of rank 0's buffers before a forward pass changes nothing.
    Construction raises `UnifyError` for layers with a cumulative average (momentum None) on several processes.
    """

    def __init__(self, model: torch.nn.Module, plan: BatchPlan, process_index: int):
        self.plan, self.process_index = plan, process_index
        self.layers = (
            [
                layer
                for layer in model.modules()
                if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm)
                and layer.track_running_stats
                and not isinstance(layer, torch.nn.SyncBatchNorm)
            ]
            if plan.num_processes > 1
            else []
        )
        cumulative = [layer for layer in self.layers if layer.momentum is None]
        if cumulative:
            raise UnifyError(
                f"{len(cumulative)} BatchNorm layer(s) use a cumulative average (momentum=None), "
                f"whose running statistics cannot be merged across processes; train on one process"
            )
        self.before: list[torch.Tensor] = []

    def snapshot(self) -> None:
        """Remember the running statistics at the start of a step."""
        self.before = [torch.cat([layer.running_mean, layer.running_var]).clone() for layer in self.layers]

    def merge(self) -> None:
        """Replace this process's running statistics by the sequential ones (a collective: every process calls it)."""
        if not self.layers:
            return
        a, n, p = self.plan.accumulation_steps, self.plan.num_processes, self.process_index
        parts = []
        for layer, before in zip(self.layers, self.before, strict=True):
            keep = 1.0 - layer.momentum
            now = torch.cat([layer.running_mean, layer.running_var])
            parts.append((now - keep**a * before) * keep ** (a * (n - 1 - p)))
        merged = torch.cat(parts)
        torch.distributed.all_reduce(merged)
        offset = 0
        for layer, before in zip(self.layers, self.before, strict=True):
            total = (1.0 - layer.momentum) ** (a * n) * before + merged[offset : offset + before.numel()]
            layer.running_mean.copy_(total[: layer.num_features])
            layer.running_var.copy_(total[layer.num_features :])
            layer.num_batches_tracked.add_((n - 1) * a)  # each process counted its own a micro-batches
            offset += before.numel()

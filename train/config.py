"""Training configuration: dataclasses read from YAML, with `key=value` overrides from the command line.

The resolved configuration is written into the run folder, so a run can be reproduced and resumed
from its own folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from unify.core.errors import UnifyError


@dataclass
class DataSource:
    path: str  # a folder written by `unify build` or `unify pseudo-label`
    split: str = "train"  # split of that folder to read
    weight: float = 1.0  # share of each batch drawn from this source, relative to the others
    label_column: str | None = None  # column of unified ids; None: `unified_label` if present, else `label`
    name: str | None = None  # name in logs and metrics; None: the folder's name

    def __post_init__(self):
        if self.weight <= 0:
            raise UnifyError(f"weight must be > 0, got {self.weight} for data source {self.path}")
        self.name = self.name or Path(self.path).name


@dataclass
class TrainConfig:
    output_dir: str  # run folder: checkpoints, logs, the final model
    taxonomy: str  # unified taxonomy the model predicts
    train_data: list[DataSource]  # mixed by their weights
    eval_data: list[DataSource] = field(default_factory=list)  # each evaluated separately
    model: str = "nvidia/mit-b0"  # weights to start from: Hub id or folder (the head is re-initialised when its
    # classes differ), or a size name (mit-pico, mit-nano, mit-b0 ... mit-b5) for random weights
    crop_size: tuple[int, int] = (512, 512)  # (height, width) of training crops
    scale_range: tuple[float, float] = (0.5, 2.0)  # random rescaling of the source before cropping
    batch_size: int = 8  # per process
    steps: int = 160000  # optimiser steps
    learning_rate: float = 6e-5
    weight_decay: float = 0.01
    warmup_steps: int = 1500
    poly_power: float = 1.0  # learning rate decays as (1 - step / steps) ** poly_power
    mixed_precision: str = "auto"  # auto (bf16 where the device supports it), bf16, fp16 or no
    checkpoint_every: int = 1000  # steps between checkpoints (0: only at the end)
    eval_every: int = 0  # steps between evaluations (0: only at the end)
    log_every: int = 50  # steps between log lines
    num_workers: int = 2  # data loader processes
    seed: int = 0

    def __post_init__(self):
        self.train_data = [s if isinstance(s, DataSource) else DataSource(**s) for s in self.train_data]
        self.eval_data = [s if isinstance(s, DataSource) else DataSource(**s) for s in self.eval_data]
        self.crop_size = tuple(self.crop_size)
        self.scale_range = tuple(self.scale_range)
        if not self.train_data:
            raise UnifyError("train_data must list at least one data source")
        for name in ("batch_size", "steps"):
            if getattr(self, name) <= 0:
                raise UnifyError(f"{name} must be > 0, got {getattr(self, name)}")
        if len(self.crop_size) != 2 or min(self.crop_size) <= 0:
            raise UnifyError(f"crop_size must be [height, width] > 0, got {list(self.crop_size)}")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise UnifyError(f"scale_range must be [low, high] with 0 < low <= high, got {list(self.scale_range)}")
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise UnifyError(f"mixed_precision must be auto, bf16, fp16 or no, got {self.mixed_precision!r}")
        if not 0 <= self.warmup_steps < self.steps:
            raise UnifyError(f"warmup_steps must be in [0, steps={self.steps}), got {self.warmup_steps}")

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_config(path: Path | str | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config and apply `key=value` overrides (values parsed as YAML)."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UnifyError(f"config file {path} does not exist")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise UnifyError(f"{path}: a training config is a YAML mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UnifyError(f"override {item!r} must look like key=value")
        values[key.strip()] = yaml.safe_load(raw)
    unknown = sorted(set(values) - known)
    if unknown:
        raise UnifyError(f"{path or 'overrides'}: unknown config keys {unknown}; known keys: {sorted(known)}")
    missing = [k for k in ("output_dir", "taxonomy", "train_data") if k not in values]
    if missing:
        raise UnifyError(f"{path or 'overrides'}: missing required keys {missing}")
    return TrainConfig(**values)

"""Training configuration: dataclasses read from YAML, with `key=value` overrides from the command line.

Relative paths in a config file start from its `root` (itself relative to the file; no root: the current
directory); relative paths given as overrides start from the current directory. `load_config` makes every
path absolute. The run folder gets the resolved config with `root: .` and every path relative to the run
folder (`write_run_config`), so `unify train RUN/config.yaml` resumes the run from any directory.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from unify.core.errors import UnifyError
from unify.core.segmenter import SEGFORMER_SIZES

TARGETS = ("hard", "partial", "both")
"""What a training source's pixels teach (`train.loss` defines each): hard labels, allowed sets, or both."""
FILL_IN = ("teacher", "ignore")
"""What fill-in pixels (native class allows every class) teach: cross-entropy on the label column, or nothing."""
TRACKERS = ("all", "aim", "tensorboard", "wandb", "trackio", "comet_ml", "mlflow", "clearml", "dvclive", "swanlab")
"""Experiment trackers Accelerate knows (`accelerate.utils.LoggerType`), by the names `log_with` takes."""


@dataclass
class DataSource:
    path: str  # a folder written by `unify build` or `unify pseudo-label`
    split: str = "train"  # split of that folder to read
    weight: float = 1.0  # share of each batch drawn from this source, relative to the others
    label_column: str | None = None  # column of unified ids; None: the folder's declared unified column
    name: str | None = None  # name in logs and metrics; None: the folder's name
    targets: str | None = None  # hard, partial or both (train/loss.py); None: the run's `targets`
    fill_in: str | None = None  # teacher or ignore (train/loss.py); None: the run's `fill_in`

    def __post_init__(self):
        if self.weight <= 0:
            raise UnifyError(f"weight must be > 0, got {self.weight} for data source {self.path}")
        _check_choice("targets", self.targets, TARGETS, f" for data source {self.path}", optional=True)
        _check_choice("fill_in", self.fill_in, FILL_IN, f" for data source {self.path}", optional=True)
        self.name = self.name or Path(self.path).name


@dataclass
class AugmentConfig:
    """Photometric changes and shear of the training crops, after the random scale, crop and flip.

    The defaults are those of the paper authors' released training code (UniBwTAS/data-priors, `config.yaml`, applied
    with imgaug), except: their lists are drawn uniformly from [low, high] here (imgaug draws one of the two listed
    values), and their hue shift of +-3 in OpenCV's 8-bit HSV (2 degrees per unit) is written here in degrees, +-6.
    Each change is off at its identity: a range [1, 1] or [0, 0], a probability 0.
    """

    brightness: tuple[float, float] = (0.85, 1.15)  # factor on every channel, drawn from [low, high]; paper's
    contrast: tuple[float, float] = (0.85, 1.15)  # factor on the distance from grey 127 (imgaug's); paper's
    hue_degrees: tuple[float, float] = (-6.0, 6.0)  # HSV hue rotation on the 360-degree circle; paper: +-3 OpenCV units
    saturation: tuple[float, float] = (0.85, 1.15)  # factor on HSV saturation (capped at 1); paper's
    shear_degrees: tuple[float, float] = (-2.0, 2.0)  # horizontal shear angle about the crop's centre; paper's
    blur_probability: float = 0.005  # share of crops blurred; paper's
    blur_sigma: float = 3.0  # Gaussian sigma drawn from [0, blur_sigma], in crop pixels; paper's (source pixels there)
    noise_probability: float = 0.0025  # share of crops with added Gaussian noise; paper's
    noise_std: float = 0.01  # noise std drawn from [0, noise_std], as a fraction of 255; paper's

    def __post_init__(self):
        ranges = {
            "brightness": (0, None),
            "contrast": (0, None),
            "saturation": (0, None),
            "hue_degrees": (-180, 180),
            "shear_degrees": (-45, 45),
        }
        for name, (lowest, highest) in ranges.items():
            value = getattr(self, name)
            low, high = value if isinstance(value, (list, tuple)) and len(value) == 2 else (None, None)
            if low is None or not lowest <= low <= high or (highest is not None and high > highest):
                bounds = f"{lowest} <= low <= high" + (f" <= {highest}" if highest is not None else "")
                shown = list(value) if isinstance(value, (list, tuple)) else value
                raise UnifyError(f"augment.{name} must be [low, high] with {bounds}, got {shown!r}")
            setattr(self, name, (float(low), float(high)))
        for name in ("blur_probability", "noise_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise UnifyError(f"augment.{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("blur_sigma", "noise_std"):
            if not getattr(self, name) >= 0:
                raise UnifyError(f"augment.{name} must be >= 0, got {getattr(self, name)!r}")

    @classmethod
    def none(cls) -> AugmentConfig:
        """Every change at its identity: the crops of the plain scale, crop and flip."""
        return cls(
            brightness=(1.0, 1.0),
            contrast=(1.0, 1.0),
            hue_degrees=(0.0, 0.0),
            saturation=(1.0, 1.0),
            shear_degrees=(0.0, 0.0),
            blur_probability=0.0,
            noise_probability=0.0,
        )


@dataclass
class TrainConfig:
    output_dir: str  # run folder: checkpoints, logs, the final model
    taxonomy: str  # unified taxonomy the model predicts
    train_data: list[DataSource]  # mixed by their weights
    eval_data: list[DataSource] = field(default_factory=list)  # each evaluated separately
    model: str = "nvidia/mit-b0"  # weights to start from: Hub id or folder (the head is re-initialised when its
    # classes differ), or a size name (mit-pico, mit-nano, mit-b0 ... mit-b5) for random weights
    root: str | None = None  # folder that relative paths in this config start from, itself relative to the
    # config file; null: the current directory
    crop_size: tuple[int, int] = (512, 512)  # (height, width) of training crops
    scale_range: tuple[float, float] = (0.5, 2.0)  # random rescaling of the source before cropping
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # photometric changes and shear of the crops
    targets: str = "hard"  # what training pixels teach, for sources that do not say: hard (cross-entropy on the
    # label column), partial (the union loss on the set the native label allows) or both; see train/loss.py
    fill_in: str = "teacher"  # fill-in pixels (native class allows every class): teacher (cross-entropy on the
    # label column, the teacher's label in a pseudo-labelled folder) or ignore (left out); see train/loss.py
    jpeg_draft: bool = True  # decode JPEG sources at 1/2, 1/4 or 1/8 size where the sampled scale is at most that
    global_batch_size: int = 8  # images per optimiser step, over all processes and accumulation steps
    per_device_batch_size: int | None = None  # images per forward pass of one process; null: global / processes
    steps: int = 160000  # optimiser steps of the whole run, whatever the number of processes
    learning_rate: float = 6e-5
    weight_decay: float = 0.01
    warmup_steps: int = 1500
    poly_power: float = 1.0  # learning rate decays as (1 - step / steps) ** poly_power
    mixed_precision: str = "auto"  # auto (bf16 where the device supports it), bf16, fp16 or no
    sync_batchnorm: bool = False  # GPU processes share BatchNorm statistics (SyncBatchNorm); False: per micro-batch
    channels_last: bool | None = None  # channels-last memory format for model and inputs; null: on CUDA only
    tf32: bool = True  # TF32 matmuls and convolutions on CUDA (no effect on the CPU)
    compile: bool = False  # torch.compile the model (it was slower for mit-b0 on a GPU: 381 vs 489 images/s)
    checkpoint_every: int = 1000  # steps between checkpoints (0: only at the end)
    eval_every: int = 0  # steps between evaluations (0: only at the end)
    log_every: int = 50  # steps between log lines
    log_with: list[str] = field(default_factory=list)  # trackers besides log.jsonl: tensorboard, wandb, ...
    num_workers: int = 2  # data loader processes per training process
    prefetch_factor: int = 2  # batches each data loader worker prepares ahead (with num_workers > 0)
    seed: int = 0

    def __post_init__(self):
        self.train_data = [s if isinstance(s, DataSource) else DataSource(**s) for s in self.train_data]
        self.eval_data = [s if isinstance(s, DataSource) else DataSource(**s) for s in self.eval_data]
        self.crop_size = tuple(self.crop_size)
        self.augment = _augment_config(self.augment)
        self.scale_range = tuple(self.scale_range)
        self.log_with = [self.log_with] if isinstance(self.log_with, str) else list(self.log_with)
        if not self.train_data:
            raise UnifyError("train_data must list at least one data source")
        for name in ("global_batch_size", "steps", "log_every", "prefetch_factor"):
            if getattr(self, name) <= 0:
                raise UnifyError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.seed < 0:
            raise UnifyError(f"seed must be >= 0, got {self.seed}")
        self._check_batch_sizes()
        if len(self.crop_size) != 2 or min(self.crop_size) <= 0:
            raise UnifyError(f"crop_size must be [height, width] > 0, got {list(self.crop_size)}")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise UnifyError(f"scale_range must be [low, high] with 0 < low <= high, got {list(self.scale_range)}")
        _check_choice("targets", self.targets, TARGETS)
        _check_choice("fill_in", self.fill_in, FILL_IN)
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise UnifyError(f"mixed_precision must be auto, bf16, fp16 or no, got {self.mixed_precision!r}")
        if not 0 <= self.warmup_steps < self.steps:
            raise UnifyError(f"warmup_steps must be in [0, steps={self.steps}), got {self.warmup_steps}")
        unknown = [name for name in self.log_with if name not in TRACKERS]
        if unknown:
            raise UnifyError(f"log_with names unknown trackers {unknown}; Accelerate's are {list(TRACKERS)}")

    def _check_batch_sizes(self) -> None:
        per_device = self.per_device_batch_size
        if per_device is None:
            return
        if not 0 < per_device <= self.global_batch_size or self.global_batch_size % per_device:
            raise UnifyError(
                f"per_device_batch_size must divide global_batch_size={self.global_batch_size}, got "
                f"{per_device}; set it to one of {divisors(self.global_batch_size)} or null"
            )

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))

    def targets_of(self, source: DataSource) -> tuple[str, str]:
        """(targets, fill_in) of a training source: its own settings, else the run's."""
        return source.targets or self.targets, source.fill_in or self.fill_in


def _check_choice(name: str, value, choices: tuple[str, ...], where: str = "", optional: bool = False) -> None:
    if not (value in choices or (optional and value is None)):
        raise UnifyError(
            f"{name} must be one of {', '.join(choices)}{' or null' if optional else ''}, got {value!r}{where}"
        )


def divisors(number: int) -> list[int]:
    """The positive divisors of `number`, largest first (for error messages that say what to set)."""
    return [d for d in range(number, 0, -1) if number % d == 0]


def _augment_config(value) -> AugmentConfig:
    if isinstance(value, AugmentConfig):
        return value
    if not isinstance(value, dict):
        raise UnifyError(f"augment must be a mapping of augmentation settings, got {value!r}")
    known = {f.name for f in dataclasses.fields(AugmentConfig)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise UnifyError(f"unknown augment keys {unknown}; known keys: {sorted(known)}")
    return AugmentConfig(**value)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_config(path: Path | str | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config, apply `key=value` overrides (values parsed as YAML) and make every path absolute.

    Paths from the file start from its `root`; paths from the overrides from the current directory. Raises
    `UnifyError` for a missing file, unknown or missing keys, and invalid values (naming the field).
    """
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UnifyError(f"config file {path} does not exist")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise UnifyError(f"{path}: a training config is a YAML mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    changed: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UnifyError(f"override {item!r} must look like key=value")
        changed[key.strip()] = yaml.safe_load(raw)
    unknown = sorted((set(values) | set(changed)) - known)
    if unknown:
        raise UnifyError(f"{path or 'overrides'}: unknown config keys {unknown}; known keys: {sorted(known)}")
    root = changed.get("root", values.get("root"))
    base = Path.cwd() if root is None or path is None else path.parent / str(root)
    values = {**_absolute_paths(values, base), **_absolute_paths(changed, Path.cwd()), "root": None}
    missing = [k for k in ("output_dir", "taxonomy", "train_data") if k not in values]
    if missing:
        raise UnifyError(f"{path or 'overrides'}: missing required keys {missing}")
    return TrainConfig(**values)


def absolute_paths(config: TrainConfig) -> TrainConfig:
    """`config` with every relative path made absolute from its `root` (relative to the current directory)."""
    base = Path.cwd() / (config.root or ".")
    return TrainConfig(**{**_absolute_paths(config.to_dict(), base), "root": None})


def _absolute_paths(values: dict, base: Path) -> dict:
    """Raw config values with output_dir, data source paths and a `model` that is a local folder made absolute."""
    values = dict(values)

    def absolute(path) -> str:
        return os.path.normpath(os.path.join(os.path.abspath(base), os.path.expanduser(str(path))))

    if values.get("output_dir") is not None:
        values["output_dir"] = absolute(values["output_dir"])
    for key in ("train_data", "eval_data"):
        if isinstance(values.get(key), list):
            values[key] = [_with_path(source, absolute) for source in values[key]]
    model = values.get("model")
    if isinstance(model, str) and model not in SEGFORMER_SIZES and os.path.isdir(absolute(model)):
        values["model"] = absolute(model)
    return values


def _with_path(source, absolute) -> DataSource | dict:
    if isinstance(source, DataSource):
        return dataclasses.replace(source, path=absolute(source.path))
    if isinstance(source, dict) and "path" in source:
        return {**source, "path": absolute(source["path"])}
    return source


def relative_to_run(path: str, run: Path) -> str:
    """An absolute path written relative to the run folder (POSIX separators)."""
    return Path(os.path.relpath(path, os.path.abspath(run))).as_posix()


def write_run_config(config: TrainConfig, run: Path) -> None:
    """Write `run/config.yaml`: `root: .`, output_dir `.`, and every other path relative to the run folder."""
    values = config.to_dict()
    values["output_dir"], values["root"] = ".", "."
    for key in ("train_data", "eval_data"):
        values[key] = [{**source, "path": relative_to_run(source["path"], run)} for source in values[key]]
    if os.path.isabs(values["model"]):
        values["model"] = relative_to_run(values["model"], run)
    (run / "config.yaml").write_text(yaml.safe_dump(values, sort_keys=False))

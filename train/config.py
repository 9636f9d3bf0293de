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
    """One dataset folder that training learns from (`train_data`) or scores on (`eval_data`).

    An entry of `train_data` or `eval_data` in the training YAML, e.g. `{path: unified/bdd100k, weight: 0.5}`.
    Only `path` is required. Raises `UnifyError` for a `weight` <= 0 or a `targets` / `fill_in` outside
    `TARGETS` / `FILL_IN`, naming the source's path. Whether the folder exists and holds labels in the run's
    unified taxonomy is checked when training starts, before step 1 (`train.data.open_source`).
    """

    path: str
    """A folder written by `unify build` (ground truth) or `unify pseudo-label` (pseudo-labels). A relative path
    starts from the config's `root` (given in the file) or the current directory (given as an override)."""
    split: str = "train"
    """The split of that folder to read, e.g. `train`, `validation`."""
    weight: float = 1.0
    """Sampling weight, > 0, relative to the other training sources: each image of a global batch comes from this
    source with probability weight / (sum of the weights), drawn with replacement uniformly among its images, so a
    source's share of the batches does not depend on its size. Unused for evaluation sources."""
    label_column: str | None = None
    """The column of unified label ids to learn from or score against. null (the default): the folder's declared
    unified column (`unified_label` in a built folder, the pseudo-labels `label` in a pseudo-labelled one)."""
    name: str | None = None
    """The source's name in the log, metrics.json, provenance.json and trackers. null (the default): the name of the
    folder (set here, so it is never None after construction)."""
    targets: str | None = None
    """What this training source's pixels teach: `hard`, `partial` or `both` (defined in `train.loss`). null
    (the default): the run's `targets`. Unused for evaluation sources."""
    fill_in: str | None = None
    """What its fill-in pixels (native classes that allow every unified class, `*`) teach: `teacher` or `ignore`
    (defined in `train.loss`). null (the default): the run's `fill_in`. Unused for evaluation sources."""

    def __post_init__(self):
        _check_scalar_types(self, f" for data source {self.path}")
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

    In the training YAML it is the mapping under `augment:`; keys left out keep these defaults (an override
    `augment={...}` replaces the whole mapping). Raises `UnifyError` naming the key for a range that is not
    [low, high] with low <= high (factors >= 0, hue within [-180, 180], shear within [-45, 45]), a probability
    outside [0, 1], or a negative sigma or std.
    """

    brightness: tuple[float, float] = (0.85, 1.15)
    """Factor on every channel, drawn from [low, high]; the paper's."""
    contrast: tuple[float, float] = (0.85, 1.15)
    """Factor on each value's distance from grey 127 (as imgaug's contrast), drawn from [low, high]; the paper's."""
    hue_degrees: tuple[float, float] = (-6.0, 6.0)
    """HSV hue rotation in degrees on the 360-degree circle, drawn from [low, high]; the paper's +-3 OpenCV units."""
    saturation: tuple[float, float] = (0.85, 1.15)
    """Factor on HSV saturation (capped at 1), drawn from [low, high]; the paper's."""
    shear_degrees: tuple[float, float] = (-2.0, 2.0)
    """Horizontal shear angle in degrees about the crop's centre, drawn from [low, high]; the paper's."""
    blur_probability: float = 0.005
    """Share of crops blurred, in [0, 1]; the paper's."""
    blur_sigma: float = 3.0
    """Gaussian blur sigma drawn from [0, blur_sigma], in crop pixels; the paper's value (in source pixels there)."""
    noise_probability: float = 0.0025
    """Share of crops with added Gaussian noise, in [0, 1]; the paper's."""
    noise_std: float = 0.01
    """Noise standard deviation drawn from [0, noise_std], as a fraction of 255; the paper's."""

    def __post_init__(self):
        _check_scalar_types(self, " in augment")
        ranges = {
            "brightness": (0, None),
            "contrast": (0, None),
            "saturation": (0, None),
            "hue_degrees": (-180, 180),
            "shear_degrees": (-45, 45),
        }
        for name, (lowest, highest) in ranges.items():
            low, high = getattr(self, name)  # a pair of floats (`_check_scalar_types`)
            if not lowest <= low <= high or (highest is not None and high > highest):
                bounds = f"{lowest} <= low <= high" + (f" <= {highest}" if highest is not None else "")
                raise UnifyError(f"augment.{name} must be [low, high] with {bounds}, got {[low, high]!r}")
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
    """One training run: the keys of the training YAML (`load_config`), one per field below.

    Required: `output_dir`, `taxonomy` and `train_data`; every other key has the default shown. Any key can be
    overridden on the command line as `key=value`, the value parsed as YAML. Steps are optimiser steps and
    batch sizes count images, both for the whole run whatever the number of processes (`train.parallel`), so a
    config means the same on one CPU and on N GPUs. Raises `UnifyError` naming the field, the bad value and what
    is allowed, for a value out of range or not among its choices (checked when the config is built, before
    anything is trained).
    """

    output_dir: str
    """The run folder: `config.yaml` (the resolved config), `provenance.json`, `log.jsonl`, `checkpoints/`,
    `metrics.json` and the final `model/`. The same command again resumes from its last complete checkpoint; a
    config that differs from the checkpoint's in a key outside `train.resume.FREE_KEYS` is refused."""
    taxonomy: str
    """The unified taxonomy the model predicts, by name (`unify taxonomies`). Every source must hold labels in
    it: another one is refused before step 1."""
    train_data: list[DataSource]
    """At least one `DataSource` (a YAML mapping each); each batch mixes them by their weights."""
    eval_data: list[DataSource] = field(default_factory=list)
    """`DataSource`s scored separately (mIoU and pixel accuracy in the unified taxonomy, on whole images) every
    `eval_every` steps and at the end, into `metrics.json` under their names. Default: none."""
    model: str = "nvidia/mit-b0"
    """Where the weights start: a Hub id or a folder (`save_pretrained`) of a SegFormer, whose encoder is kept,
    its decode head when present, and its classifier only when it already predicts `taxonomy`'s classes in
    order (the log counts the tensors loaded and the new ones); or a size name (`mit-pico`, `mit-nano`, `mit-b0`
    ... `mit-b5`) for random weights. The default is the ImageNet-pretrained MiT-B0 encoder."""
    root: str | None = None
    """The folder that relative paths in the config file start from, itself relative to the file. null (the
    default): the current directory. Paths given as overrides always start from the current directory. The run's
    own `config.yaml` has `root: .` and paths relative to the run folder, so it resumes from any directory."""
    crop_size: tuple[int, int] = (512, 512)
    """(height, width) of the training crops in pixels, > 0; a crop larger than the rescaled image is padded
    (label 255)."""
    scale_range: tuple[float, float] = (0.5, 2.0)
    """[low, high], 0 < low <= high: each sample's image is rescaled by a factor drawn uniformly from it before
    the crop (2.0: twice the source's size)."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Photometric changes and shear of the crops after the scale, crop and flip (`AugmentConfig`, each key
    documented there). Default: the paper authors' settings."""
    targets: str = "hard"
    """What training pixels teach, for sources that do not say: `hard` (cross-entropy on the label column),
    `partial` (the union loss on the set of classes the native label allows) or `both` (`train.loss`)."""
    fill_in: str = "teacher"
    """What fill-in pixels (native classes that allow every class, `*`) teach, for sources that do not say:
    `teacher` (cross-entropy on the label column, in a pseudo-labelled folder the teacher's label) or `ignore`
    (nothing: left out of the loss) (`train.loss`)."""
    jpeg_draft: bool = True
    """Decode a JPEG source at 1/2, 1/4 or 1/8 size when the sampled scale is at most that (faster, and not
    bit-identical to decoding it whole and downscaling); PNG is always decoded whole."""
    global_batch_size: int = 8
    """Images per optimiser step for the whole run, > 0: summed over all processes and accumulation steps. It
    fixes what a step means; a checkpoint cannot be resumed with another value."""
    per_device_batch_size: int | None = None
    """Images per forward pass of one process; it must divide `global_batch_size`. Each process accumulates
    global / (per device x processes) forward passes per optimiser step, which must be a whole number (checked
    at the start, with the values that fit). null (the default): global / processes, one pass per step."""
    steps: int = 160000
    """Optimiser steps of the whole run, > 0, whatever the number of processes: checkpoint names, log steps,
    the learning-rate schedule and the final evaluation are the same on 1 or N processes. A run cannot be
    lengthened on resume (the schedule decays to 0 at `steps`): start a new run from its `model/` instead."""
    learning_rate: float = 6e-5
    """The AdamW learning rate at the end of the warm-up (the peak of the schedule)."""
    weight_decay: float = 0.01
    """AdamW's decoupled weight decay on weight matrices and kernels; biases and norm parameters get none."""
    warmup_steps: int = 1500
    """Steps of linear warm-up, in [0, steps): step s (1-based) of the warm-up runs at learning_rate x s /
    warmup_steps."""
    poly_power: float = 1.0
    """After the warm-up, step s runs at learning_rate x (1 - (s - 1 - warmup_steps) / (steps - warmup_steps))
    ** poly_power: polynomial decay (1.0: linear)."""
    mixed_precision: str = "auto"
    """`auto` (bf16 on a CUDA device that supports it, else none), `bf16`, `fp16` or `no` (Accelerate's)."""
    sync_batchnorm: bool = False
    """Several CUDA processes normalise BatchNorm over the images of all of them at once (SyncBatchNorm, the
    SegFormer recipe of 8 GPUs x 1 image); false, or off CUDA: statistics per micro-batch."""
    channels_last: bool | None = None
    """Channels-last memory format for the model and its inputs; null (the default): on CUDA only."""
    tf32: bool = True
    """TF32 for float32 matmuls and convolutions on CUDA; no effect on the CPU."""
    compile: bool = False
    """`torch.compile` the model (inductor). Off by default: it was slower for mit-b0 on one GPU, 381 vs 489
    images/s."""
    checkpoint_every: int = 1000
    """Steps between checkpoints of the whole training state (the last two are kept); 0: only at the end."""
    eval_every: int = 0
    """Steps between evaluations of `eval_data`; 0 (the default): only at the end."""
    log_every: int = 50
    """Steps between lines of `log.jsonl` and the log (loss, learning rate, images/s), > 0."""
    log_with: list[str] = field(default_factory=list)
    """Experiment trackers besides `log.jsonl`, by Accelerate's names (`TRACKERS`: tensorboard, wandb, ...); one
    name or a list. Default: none."""
    num_workers: int = 2
    """Data-loader processes per training process that decode and augment samples; 0: in the training process."""
    prefetch_factor: int = 2
    """Batches each data-loader worker prepares ahead, > 0 (used only with num_workers > 0)."""
    seed: int = 0
    """Seed, >= 0, of everything random: each step's samples and their augmentation are a function of (seed,
    step), dropout of (seed, step, micro-batch), so a resumed run repeats what an uninterrupted one would do."""

    def __post_init__(self):
        _check_scalar_types(self)
        self.train_data = _data_sources("train_data", self.train_data)
        self.eval_data = _data_sources("eval_data", self.eval_data)
        self.augment = _augment_config(self.augment)
        self.log_with = [self.log_with] if isinstance(self.log_with, str) else list(self.log_with)
        if not self.train_data:
            raise UnifyError("train_data must list at least one data source")
        for name in ("global_batch_size", "steps", "log_every", "prefetch_factor"):
            if getattr(self, name) <= 0:
                raise UnifyError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.seed < 0:
            raise UnifyError(f"seed must be >= 0, got {self.seed}")
        self._check_batch_sizes()
        if min(self.crop_size) <= 0:
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
        """Every field as plain YAML / JSON values: data sources and `augment` as nested dicts, tuples as lists.

        `TrainConfig(**config.to_dict())` builds an equal config; `write_run_config` writes this.
        """
        return _plain(dataclasses.asdict(self))

    def targets_of(self, source: DataSource) -> tuple[str, str]:
        """(targets, fill_in) of a training source: its own settings, else the run's."""
        return source.targets or self.targets, source.fill_in or self.fill_in


SCALAR_TYPES = {"int": int, "float": float, "bool": bool, "str": str}
"""Field annotations whose values are checked and, for numbers, read from strings (`_check_scalar_types`)."""
PAIR_TYPES = {"tuple[int, int]": int, "tuple[float, float]": float}
"""Annotations of pair fields (`crop_size`, `scale_range`, augment ranges): a list of two such numbers."""


def _check_scalar_types(config, where: str = "") -> None:
    """Check each scalar and pair field of a config dataclass against its annotation, converting the unambiguous.

    PyYAML reads `1e-4` (no dot) as a string, and an override `learning_rate=1e-4` would otherwise pass as
    one: a number field accepts an int, a float or a string that is a number (an int field only a whole
    one); a bool field only true or false; a str field only a string. `X | None` fields also take null. A
    pair field (`PAIR_TYPES`) takes a list of exactly two such numbers and becomes a tuple. Raises
    `UnifyError` naming the field, the value and the type it needs (ranges are checked afterwards).
    """
    for spec in dataclasses.fields(config):
        value = getattr(config, spec.name)
        if spec.type in PAIR_TYPES:
            setattr(config, spec.name, _as_pair(spec.name, value, PAIR_TYPES[spec.type], where))
            continue
        optional = spec.type.endswith(" | None")
        kind = SCALAR_TYPES.get(spec.type.removesuffix(" | None"))
        if kind is None or (optional and value is None):
            continue
        converted = _as_scalar(value, kind)
        if converted is None:
            needed = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}[kind]
            raise UnifyError(f"{spec.name} must be {needed}{' or null' if optional else ''}, got {value!r}{where}")
        setattr(config, spec.name, converted)


def _as_pair(name: str, value, kind: type, where: str) -> tuple:
    """`value` as a tuple of two `kind`s, or `UnifyError` naming the field `name` and the value."""
    pair = tuple(_as_scalar(item, kind) for item in value) if isinstance(value, (list, tuple)) else ()
    if len(pair) != 2 or None in pair:
        shown = list(value) if isinstance(value, (list, tuple)) else value
        numbers = "whole numbers" if kind is int else "numbers"
        raise UnifyError(f"{name} must be a list of two {numbers}, got {shown!r}{where}")
    return pair


def _as_scalar(value, kind: type):
    """`value` as `kind`, or None where that would be a guess."""
    if kind in (bool, str):
        return value if isinstance(value, kind) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)


def _check_choice(name: str, value, choices: tuple[str, ...], where: str = "", optional: bool = False) -> None:
    if not (value in choices or (optional and value is None)):
        raise UnifyError(
            f"{name} must be one of {', '.join(choices)}{' or null' if optional else ''}, got {value!r}{where}"
        )


def divisors(number: int) -> list[int]:
    """The positive divisors of `number`, largest first (for error messages that say what to set)."""
    return [d for d in range(number, 0, -1) if number % d == 0]


def _data_sources(key: str, value) -> list[DataSource]:
    """The entries of `train_data` or `eval_data` as `DataSource`s; `UnifyError` naming the key, the entry's
    position and what is wrong for a value that is not a list, an entry that is not a mapping, an unknown key
    (with the known ones) or a missing `path`."""
    example = f"{key}: [{{path: FOLDER}}, ...]"
    if not isinstance(value, (list, tuple)):
        raise UnifyError(f"{key} must be a list of data sources ({example}), got {value!r}")
    known = [f.name for f in dataclasses.fields(DataSource)]
    sources = []
    for index, entry in enumerate(value):
        where = f"{key}[{index}]"
        if isinstance(entry, DataSource):
            sources.append(entry)
            continue
        if not isinstance(entry, dict):
            raise UnifyError(f"{where} must be a mapping with at least a path ({example}), got {entry!r}")
        unknown = sorted(set(entry) - set(known))
        if unknown:
            raise UnifyError(f"{where} ({entry.get('path', 'no path')}): unknown keys {unknown}; known keys: {known}")
        if "path" not in entry:
            raise UnifyError(f"{where} has no path: give the folder to read, e.g. {{path: FOLDER}}; got {entry!r}")
        sources.append(DataSource(**entry))
    return sources


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
    `UnifyError` for a missing file, unknown or missing keys, and invalid values (naming the file, any
    overrides, the field, the value and what is allowed).
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
    try:
        return TrainConfig(**values)
    except UnifyError as exc:  # say where the bad value was written
        where = str(path) if path is not None else "overrides"
        if path is not None and overrides:
            where += f" with overrides {' '.join(overrides)}"
        raise UnifyError(f"{where}: {exc}") from None


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


def run_config_values(config: TrainConfig, run: Path) -> dict:
    """`config` as its run folder holds it (`TrainConfig.to_dict` values): `root` and `output_dir` `.`, every
    other path (data sources, a `model` folder) relative to the run folder `run`, POSIX separators."""
    values = config.to_dict()
    values["output_dir"], values["root"] = ".", "."
    for key in ("train_data", "eval_data"):
        values[key] = [{**source, "path": relative_to_run(source["path"], run)} for source in values[key]]
    if os.path.isabs(values["model"]):
        values["model"] = relative_to_run(values["model"], run)
    return values


def write_run_config(config: TrainConfig, run: Path, folder: Path | None = None) -> None:
    """Write `config.yaml` (`run_config_values`) into the run folder `run`, or into `folder` inside it (a
    checkpoint), whose `root` then leads back to the run folder, so `load_config` reads both the same."""
    folder = run if folder is None else folder
    values = run_config_values(config, run)
    values["root"] = Path(os.path.relpath(os.path.abspath(run), os.path.abspath(folder))).as_posix()
    (folder / "config.yaml").write_text(yaml.safe_dump(values, sort_keys=False))

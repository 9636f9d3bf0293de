"""Which checkpoint a run resumes from, and the rule that it resumes only under the settings it was trained with.

Each checkpoint holds the resolved config it was trained with (`config.yaml`, paths relative to the run folder,
as in the run's own `config.yaml`). Before anything is built or written, a rerun compares it with the new
config and refuses, naming every differing key with both values, unless only the keys of `FREE_KEYS` differ:
those decide how fast, where and how visibly the run trains, not what it learns. Everything else (data and
its targets, taxonomy, starting weights, crops and augmentation, batch size, steps and schedule, optimiser,
precision, seed, evaluation sources) is compared, including keys added to `TrainConfig` later.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from train.config import TrainConfig, load_config, run_config_values
from unify.core.errors import UnifyError

logger = logging.getLogger(__name__)
CHECKPOINTS = "checkpoints"
STATE_FILE = "state.json"
"""In each checkpoint: its step and batch plan; written last, so it also marks the checkpoint complete."""
CHECKPOINT_CONFIG = "config.yaml"
"""In each checkpoint: the config it was trained with (`write_run_config`; its `root` leads to the run folder)."""

FREE_KEYS: dict[str, str] = {
    "output_dir": "the run folder itself; the paths in the config are compared relative to it",
    "root": "where a config file's relative paths start; the paths they lead to are compared",
    "per_device_batch_size": "how each global batch is cut into forward passes to fit the memory of the machine "
    "resuming, as a change of the number of processes is (train.parallel); the images of each step stay the same",
    "num_workers": "data-loader processes: each step's samples and augmentation depend only on (seed, step)",
    "prefetch_factor": "batches prepared ahead by the data loader, which do not change what they hold",
    "compile": "torch.compile runs the same model (float rounding aside)",
    "channels_last": "the memory layout of the same tensors (float rounding aside)",
    "checkpoint_every": "when the state is saved, not what is trained",
    "eval_every": "evaluation restores the training mode and draws from no random stream of training",
    "log_every": "how often the loss is written down",
    "log_with": "which trackers receive the numbers log.jsonl holds",
}
"""Config keys that may differ between a checkpoint and the run resuming it, each with why that is safe."""


def last_checkpoint(run: Path) -> Path | None:
    """The run folder's last complete checkpoint (`STATE_FILE` written), or None when it has none.

    Raises `UnifyError` for a folder whose checkpoints all lack `STATE_FILE` but were finished by an older
    trainer (a `done` file), which this one cannot resume.
    """
    checkpoints = sorted((run / CHECKPOINTS).glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [p for p in checkpoints if (p / STATE_FILE).is_file()]
    if not complete and any((p / "done").is_file() for p in checkpoints):
        raise UnifyError(
            f"{run / CHECKPOINTS} holds checkpoints of an older trainer, without {STATE_FILE}; continue in a "
            f"new output_dir, or delete {run / CHECKPOINTS}"
        )
    return complete[-1] if complete else None


def check_resume(config: TrainConfig) -> Path | None:
    """The checkpoint `config` resumes from (`last_checkpoint`), after checking it was trained with `config`.

    `config` has absolute paths (`absolute_paths`). The checkpoint's settings are its `CHECKPOINT_CONFIG`; a
    checkpoint of a trainer that did not write one is compared with the run's `config.yaml` instead. Raises
    `UnifyError` when a key outside `FREE_KEYS` differs, naming each one (`train_data[0].weight`,
    `augment.brightness`, ...) with the run's value and the new one, and saying how to go on; also when
    neither file exists, since then nothing says what the checkpoint was trained with.
    """
    run = Path(config.output_dir)
    checkpoint = last_checkpoint(run)
    if checkpoint is None:
        return None
    saved = checkpoint / CHECKPOINT_CONFIG
    if not saved.is_file():
        saved = run / "config.yaml"
        if not saved.is_file():
            raise UnifyError(
                f"{checkpoint} has no {CHECKPOINT_CONFIG} and {run} no config.yaml, so nothing says what it was "
                f"trained with; train in another output_dir, or delete {run / CHECKPOINTS} to start over"
            )
        logger.info("%s predates %s in checkpoints: comparing the config with %s", checkpoint, CHECKPOINT_CONFIG, saved)
    step = json.loads((checkpoint / STATE_FILE).read_text())["step"]
    try:
        before = run_config_values(load_config(saved), run)
    except UnifyError as exc:
        raise UnifyError(f"cannot read what {checkpoint} was trained with: {exc}") from None
    changes = changed_keys(before, run_config_values(config, run))
    if changes:
        raise UnifyError(_refusal(run, checkpoint, step, changes, saved))
    return checkpoint


def changed_keys(before: dict, after: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """(key, before, after) for each value that differs, outside `FREE_KEYS`, in two `run_config_values` dicts.

    Nested mappings are compared key by key (`augment.hue_degrees`), lists of mappings of the same length entry
    by entry (`train_data[1].path`); any other value, or lists of another length, as a whole.
    """
    changes = []
    for key in dict.fromkeys([*before, *after]):
        if not prefix and key in FREE_KEYS:
            continue
        name, old, new = f"{prefix}{key}", before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes += changed_keys(old, new, f"{name}.")
        elif _entries(old) and _entries(new) and len(old) == len(new):
            for index, (a, b) in enumerate(zip(old, new, strict=True)):
                changes += changed_keys(a, b, f"{name}[{index}].")
        elif old != new:
            changes.append((name, old, new))
    return changes


def _entries(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _refusal(run: Path, checkpoint: Path, step: int, changes: list[tuple[str, object, object]], saved: Path) -> str:
    """The one-line error for a resume under other settings: what differs, and the ways to go on."""
    listed = "; ".join(f"{key}: {json.dumps(old)} in the run, {json.dumps(new)} now" for key, old, new in changes)
    message = (
        f"{run} was trained to step {step} with other settings than this config, and resuming would mix two "
        f"trainings: {listed}. Set those keys back (the run's settings are in {saved}), train in another "
        f"output_dir, or delete {run} to start over"
    )
    keys = {key for key, _, _ in changes}
    if "steps" in keys:
        model = run / "model"
        message += (
            f". steps sets the learning-rate schedule (warm-up, then decay to 0 at the last step), so a run is not "
            f"lengthened or shortened: to train on, start a new run from its weights, model={model} in another "
            f"output_dir" + ("" if model.is_dir() else " once this run has finished")
        )
    if "eval_data" in keys or any(key.startswith("eval_data[") for key in keys):
        message += ". To score the run's model on other data use `unify evaluate`"
    return message

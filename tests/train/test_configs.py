import ast
import dataclasses
from pathlib import Path

import pytest

import train.config
from train.config import AugmentConfig, DataSource, TrainConfig, load_config
from train.parallel import BatchPlan
from unify.core.taxonomy import get_taxonomy

CONFIGS = sorted((Path(__file__).parents[2] / "train" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    config = load_config(path)  # offline: nothing is downloaded to validate a config
    get_taxonomy(config.taxonomy).require_unified()
    assert config.train_data and config.steps > config.warmup_steps
    assert config.model.startswith("nvidia/mit-b")  # start where published results start: ImageNet weights
    for processes in (1, 2, 4, 8):
        plan = BatchPlan.for_processes(config.global_batch_size, config.per_device_batch_size, processes)
        assert plan.accumulation_steps * processes * plan.per_device_batch_size == config.global_batch_size


@pytest.mark.parametrize("config_class", [TrainConfig, DataSource, AugmentConfig], ids=lambda c: c.__name__)
def test_every_config_key_has_a_docstring_under_its_field(config_class):
    """The training YAML's reference is these docstrings: a new key without one fails here."""
    tree = ast.parse(Path(train.config.__file__).read_text(encoding="utf-8"))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == config_class.__name__).body
    documented = {
        field.target.id
        for field, after in zip(body, body[1:], strict=False)
        if isinstance(field, ast.AnnAssign)
        and isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
        and after.value.value.strip()
    }
    assert [f.name for f in dataclasses.fields(config_class) if f.name not in documented] == []

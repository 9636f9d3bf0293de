from pathlib import Path

import pytest

from train.config import load_config
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

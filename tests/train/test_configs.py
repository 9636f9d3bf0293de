from pathlib import Path

import pytest

from train.config import load_config
from unify.core.taxonomy import get_taxonomy

CONFIGS = sorted((Path(__file__).parents[2] / "train" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    config = load_config(path)
    get_taxonomy(config.taxonomy).require_unified()
    assert config.train_data and config.steps > config.warmup_steps

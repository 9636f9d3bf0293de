import ast
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

import train.config
from train.config import AugmentConfig, DataSource, TrainConfig, load_config
from train.parallel import BatchPlan
from unify.core.errors import UnifyError
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


def write_config(folder: Path, **values) -> Path:
    path = folder / "run.yaml"
    base = {"output_dir": "run", "taxonomy": "synthetic_fine", "train_data": [{"path": "data"}]}
    path.write_text(yaml.safe_dump({**base, **values}))
    return path


def test_a_bad_value_names_the_config_file_the_key_the_value_and_the_choices(tmp_path):
    path = write_config(tmp_path, targets="parital")
    with pytest.raises(UnifyError, match=r"run\.yaml: targets must be one of hard, partial, both, got 'parital'$"):
        load_config(path)
    with pytest.raises(UnifyError, match=r"run\.yaml with overrides fill_in=igonre: fill_in must be one of teacher, "):
        load_config(write_config(tmp_path), ["fill_in=igonre"])
    with pytest.raises(UnifyError, match=r"^overrides: global_batch_size must be > 0, got 0"):
        load_config(None, ["output_dir=run", "taxonomy=t", "train_data=[{path: data}]", "global_batch_size=0"])


@pytest.mark.parametrize(
    "train_data, message",
    [
        (
            [{"path": "data"}, {"path": "extra", "target": "partial"}],
            r"train_data\[1\] \(.*extra\): unknown keys \['target'\]; known keys: \['path', 'split', .*'targets'",
        ),
        ([{"path": "data"}, "extra"], r"train_data\[1\] must be a mapping with at least a path .*got '.*extra'"),
        ([{"split": "train"}], r"train_data\[0\] has no path: give the folder to read"),
        ("data", r"train_data must be a list of data sources \(train_data: \[\{path: FOLDER\}, \.\.\.\]\), got 'data'"),
    ],
    ids=["unknown key", "not a mapping", "no path", "not a list"],
)
def test_a_malformed_data_source_is_a_clear_error_naming_its_entry(tmp_path, train_data, message):
    with pytest.raises(UnifyError, match=message):
        load_config(write_config(tmp_path, train_data=train_data))
    with pytest.raises(UnifyError, match=message.replace("train_data", "eval_data")):
        load_config(write_config(tmp_path, eval_data=train_data))


def test_numbers_written_as_yaml_reads_them_are_numbers_and_values_of_the_wrong_type_are_refused(tmp_path):
    # PyYAML reads 1e-4 (no dot) as the string "1e-4": it must still be the learning rate 0.0001, not a string.
    config = load_config(write_config(tmp_path), ["learning_rate=1e-4", "steps=2e4"])
    assert config.learning_rate == 1e-4 and isinstance(config.learning_rate, float)
    assert config.steps == 20000 and isinstance(config.steps, int)
    for override, message in [
        ("learning_rate=fast", "learning_rate must be a number, got 'fast'"),
        ("steps=2.5", "steps must be a whole number, got 2.5"),
        ("jpeg_draft=maybe", "jpeg_draft must be true or false, got 'maybe'"),
        ("taxonomy=19", "taxonomy must be a string, got 19"),
        ("per_device_batch_size=half", "per_device_batch_size must be a whole number or null, got 'half'"),
    ]:
        with pytest.raises(UnifyError, match=message):
            load_config(write_config(tmp_path), [override])
    with pytest.raises(UnifyError, match="weight must be a number, got 'heavy' for data source"):
        load_config(write_config(tmp_path, train_data=[{"path": "data", "weight": "heavy"}]))
    with pytest.raises(UnifyError, match="blur_probability must be a number, got 'often' in augment"):
        load_config(write_config(tmp_path), ["augment={blur_probability: often}"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("crop_size=128", r"crop_size must be a list of two whole numbers, got 128$"),
        ("crop_size=[a, b]", r"crop_size must be a list of two whole numbers, got \['a', 'b'\]$"),
        ("crop_size=[256, 128, 64]", r"crop_size must be a list of two whole numbers, got \[256, 128, 64\]$"),
        ("crop_size=[256.5, 128]", r"crop_size must be a list of two whole numbers, got \[256.5, 128\]$"),
        ("scale_range=1", r"scale_range must be a list of two numbers, got 1$"),
        ("scale_range=[true, 2]", r"scale_range must be a list of two numbers, got \[True, 2\]$"),
        ("augment={brightness: 1}", r"brightness must be a list of two numbers, got 1 in augment$"),
        ("augment={shear_degrees: [a, 1]}", r"shear_degrees must be a list of two numbers, got \['a', 1\] in augment$"),
    ],
)
def test_a_pair_that_is_not_two_numbers_is_an_error_naming_the_key_and_the_value(tmp_path, override, message):
    with pytest.raises(UnifyError, match=rf"run\.yaml with overrides {re.escape(override)}: {message}"):
        load_config(write_config(tmp_path), [override])


def test_pairs_written_as_yaml_reads_them_are_tuples_of_numbers(tmp_path):
    config = load_config(write_config(tmp_path), ["crop_size=[256, 128.0]", "scale_range=['0.5', 2]"])
    assert config.crop_size == (256, 128) and all(isinstance(side, int) for side in config.crop_size)
    assert config.scale_range == (0.5, 2.0) and all(isinstance(scale, float) for scale in config.scale_range)
    assert TrainConfig(**config.to_dict()) == config

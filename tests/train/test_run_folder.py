"""A run folder means the same from any directory: config.yaml and provenance.json hold paths relative to it."""

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from train.config import load_config
from unify.build import build_dataset
from unify.cli import main
from unify.core.folder import FolderMetadata


def strings(value):
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


@pytest.fixture
def project(tmp_path, monkeypatch):
    """tmp/project with data/ and configs/run.yaml (root: .., paths relative to the project); cwd is the project."""
    folder = tmp_path / "project"
    build_dataset("synthetic_driving", folder / "data", config="source", splits=(("train", 4), ("validation", 1)))
    (folder / "configs").mkdir()
    (folder / "configs" / "run.yaml").write_text(
        yaml.safe_dump(
            {
                "root": "..",
                "output_dir": "runs/first",
                "taxonomy": "synthetic_fine",
                "model": "mit-pico",
                "train_data": [{"path": "data"}],
                "eval_data": [{"path": "./data/", "split": "validation", "name": "val"}],
                "crop_size": [32, 48],
                "global_batch_size": 2,
                "steps": 2,
                "warmup_steps": 0,
                "checkpoint_every": 1,
                "log_every": 1,
                "num_workers": 0,
            }
        )
    )
    monkeypatch.chdir(folder)
    return folder


def test_paths_in_a_config_start_from_its_root_and_overrides_from_the_current_directory(project, monkeypatch):
    monkeypatch.chdir(project.parent)
    config = load_config("project/configs/run.yaml", ["model=project/data"])  # a folder: made absolute
    assert config.output_dir == str(project / "runs" / "first")
    assert [s.path for s in config.train_data + config.eval_data] == [str(project / "data")] * 2
    assert config.eval_data[0].name == "val" and config.train_data[0].name == "data"
    assert config.model == str(project / "data")
    assert load_config("project/configs/run.yaml", ["model=nvidia/mit-b0"]).model == "nvidia/mit-b0"  # a Hub id
    assert load_config("project/configs/run.yaml", ["root=null"]).output_dir == str(project.parent / "runs" / "first")


def test_a_run_reads_and_resumes_the_same_from_another_directory(project, monkeypatch, tmp_path):
    assert main(["train", "configs/run.yaml"]) == 0
    run = project / "runs" / "first"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    saved = yaml.safe_load((run / "config.yaml").read_text())
    provenance = json.loads((run / "provenance.json").read_text())
    for text in [*strings(saved), *strings(provenance)]:
        assert not os.path.isabs(text) and str(tmp_path) not in text, text
    assert (saved["root"], saved["output_dir"]) == (".", ".")
    reloaded = load_config(run / "config.yaml")
    assert reloaded.output_dir == str(run)
    assert [s.path for s in reloaded.train_data + reloaded.eval_data] == [str(project / "data")] * 2
    sources = provenance["sources"]["train"] + provenance["sources"]["eval"]
    assert [(run / s["path"]).resolve() for s in sources] == [(project / "data").resolve()] * 2
    assert sources[0] == {
        "name": "data",
        "path": "../../data",
        "split": "train",
        "weight": 1.0,
        "label_column": "unified_label",
        "dataset": "synthetic_driving",
        "config": "source",
        "kind": "built",
        "teacher": None,
        "images": 4,
        "unified_taxonomy": "synthetic_fine",
        "targets": "hard",
        "fill_in": "teacher",
    }
    assert set(sources[0]) - set(sources[1]) == {"targets", "fill_in"}  # what a training source taught
    assert provenance["model"] == {"name": "mit-pico", "sha256": None, "revision": None}
    assert (provenance["format_version"], provenance["global_batch_size"], provenance["num_processes"]) == ("2", 2, 1)

    # interrupted after step 1: the same command, from here, continues it
    shutil.rmtree(run / "checkpoints" / "step-00000002")
    shutil.rmtree(run / "model")
    (run / "metrics.json").unlink()
    (run / "log.jsonl").write_text((run / "log.jsonl").read_text().splitlines()[0] + "\n")
    assert main(["train", os.path.relpath(run / "config.yaml")]) == 0
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 2]  # step 1 kept, step 2 trained, then evaluated
    assert (run / "checkpoints" / "step-00000002" / "state.json").is_file()
    assert "val" in json.loads((run / "metrics.json").read_text())


def test_a_model_folder_to_start_from_is_written_relative_to_the_run(project):
    assert main(["train", "configs/run.yaml", "steps=1", "eval_data=[]", "output_dir=runs/first"]) == 0
    assert (
        main(
            [
                "train",
                "configs/run.yaml",
                "steps=1",
                "eval_data=[]",
                "output_dir=runs/second",
                "--init",
                "runs/first/model",
            ]
        )
        == 0
    )
    second = project / "runs" / "second"
    assert yaml.safe_load((second / "config.yaml").read_text())["model"] == "../first/model"
    model = json.loads((second / "provenance.json").read_text())["model"]
    assert model["name"] == "first" and len(model["sha256"]) == 64
    assert Path(load_config(second / "config.yaml").model) == project / "runs" / "first" / "model"


def without_native_ids(folder: Path, copy: Path) -> None:
    """A copy of a built folder whose metadata declares no native label column (as a labels-only folder)."""
    shutil.copytree(folder, copy)
    metadata = FolderMetadata.read(copy)
    metadata.columns = dataclasses.replace(metadata.columns, native=None)
    metadata.write(copy)


@pytest.mark.parametrize(
    "overrides, refusal",
    [
        (["targets=partial", "train_data=[{path: labels_only}]"], "labels_only) has no native label column"),
        (["model=data"], "data is not a model folder"),
        (["taxonomy=synthetic_coarse"], "holds labels in the synthetic_fine taxonomy"),
    ],
    ids=["no native ids for partial targets", "not a model", "another taxonomy"],
)
def test_a_refused_run_writes_nothing_into_its_run_folder(project, capsys, overrides, refusal):
    without_native_ids(project / "data", project / "labels_only")
    assert main(["train", "configs/run.yaml", *overrides]) == 2
    assert refusal in capsys.readouterr().err
    assert not (project / "runs").exists()

"""The dataset-folder contract: typed metadata, the format-version check, id2label.json, a card datasets reads."""

import json
import logging

import datasets
import pytest

from unify.build import build_dataset
from unify.core.constants import FORMAT_VERSION
from unify.core.errors import UnifyError
from unify.core.folder import BUILT, FolderMetadata, LabelColumns, load_split, shard_name, split_shards
from unify.core.taxonomy import get_taxonomy


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("folder") / "coarse"
    build_dataset("synthetic_driving", folder, config="coarse", splits=(("train", 2), ("validation", 1)))
    return folder


def test_metadata_round_trips_through_unify_json(built, tmp_path):
    metadata = FolderMetadata.read(built)
    assert metadata.kind == BUILT and metadata.columns == LabelColumns(native="label", unified="unified_label")
    assert metadata.splits == {"train": 2, "validation": 1}
    assert (
        metadata.mapping.allowed
        == __import__("unify.core.mapping", fromlist=["x"]).get_mapping("synthetic_coarse", "synthetic_fine").allowed
    )
    (tmp_path / "data").mkdir()
    for shard in (built / "data").iterdir():
        (tmp_path / "data" / shard.name).write_bytes(shard.read_bytes())
    metadata.write(tmp_path)
    assert FolderMetadata.read(tmp_path).to_json() == metadata.to_json()
    assert (tmp_path / "unify.json").read_text() == (built / "unify.json").read_text()


def test_a_folder_of_another_format_version_is_refused_with_the_command_that_rewrites_it(built, tmp_path):
    record = json.loads((built / "unify.json").read_text())
    record["format_version"] = "1"
    (tmp_path / "unify.json").write_text(json.dumps(record))
    with pytest.raises(
        UnifyError,
        match=rf"data format v1, this package reads v{FORMAT_VERSION}.*"
        r"unify build synthetic_driving --output",
    ):
        FolderMetadata.read(tmp_path)
    del record["format_version"]
    (tmp_path / "unify.json").write_text(json.dumps(record))
    with pytest.raises(UnifyError, match="data format vNone"):
        FolderMetadata.read(tmp_path)


def test_a_malformed_record_names_the_file(built, tmp_path):
    record = json.loads((built / "unify.json").read_text())
    del record["columns"]
    (tmp_path / "unify.json").write_text(json.dumps(record))
    with pytest.raises(UnifyError, match=rf"{tmp_path}/unify.json is malformed \(KeyError: 'columns'\)"):
        FolderMetadata.read(tmp_path)
    with pytest.raises(UnifyError, match="no unify.json"):
        FolderMetadata.read(tmp_path / "nowhere")


def test_id2label_describes_the_label_column(built):
    id2label = json.loads((built / "id2label.json").read_text())
    coarse = get_taxonomy("synthetic_coarse")  # a built folder's `label` holds native ids
    assert id2label == {str(c.id): c.name for c in coarse.classes if not c.ignore}


def test_plain_load_dataset_reads_the_card_without_a_warning(built, caplog):
    caplog.set_level(logging.WARNING)
    loaded = datasets.load_dataset(str(built))
    assert {split: len(rows) for split, rows in loaded.items()} == {"train": 2, "validation": 1}
    assert "malformed" not in caplog.text and "Ignoring part of dataset_info" not in caplog.text


def test_shards_are_named_and_found_one_way(built):
    assert shard_name("train", 3, 12) == "train-00003-of-00012.parquet"
    assert {split: [p.name for p in paths] for split, paths in split_shards(built).items()} == {
        "train": ["train-00000-of-00001.parquet"],
        "validation": ["validation-00000-of-00001.parquet"],
    }
    with pytest.raises(UnifyError, match=r"has no split 'test'; it has \['train', 'validation'\]"):
        load_split(built, "test")
    assert isinstance(load_split(built, "train", decode=False)[0]["image"], dict)

"""Which datasets a folder's rows come from, their licences, and the refusal to push images that may not be shared."""

import json
import shutil

from dataset_scripts.cityscapes import Cityscapes
from dataset_scripts.synthetic_driving import SyntheticDriving
from hub_fixtures import rows
from unify.cli import main
from unify.core.folder import FolderMetadata
from unify.hub import dataset_sources, redistribution_notices


def test_sources_are_counted_from_the_rows_with_licences_from_the_metadata_or_the_registry(built, tmp_path):
    mixed = tmp_path / "mixed"
    (mixed / "data").mkdir(parents=True)
    names = ["synthetic_driving", "cityscapes", "elsewhere", "cityscapes"]
    table = rows(built).map(lambda row, i: {"dataset": names[i]}, with_indices=True)
    table.to_parquet(str(mixed / "data" / "train-00000-of-00001.parquet"))
    table.select(range(1)).to_parquet(str(mixed / "data" / "validation-00000-of-00001.parquet"))
    record = json.loads((built / "unify.json").read_text())
    record["source"]["license"] = "as recorded by the build"
    (mixed / "unify.json").write_text(json.dumps(record))

    sources = {s.name: s for s in dataset_sources(mixed)}

    assert sources["synthetic_driving"].images == {"train": 1, "validation": 1}
    assert sources["cityscapes"].images == {"train": 2} and sources["elsewhere"].images == {"train": 1}
    assert sources["synthetic_driving"].info.license == "as recorded by the build"  # the folder's own: its metadata
    assert sources["synthetic_driving"].redistribution_allowed
    assert sources["cityscapes"].info.license == Cityscapes.LICENSE  # another dataset: its builder
    assert not sources["cityscapes"].redistribution_allowed
    assert not sources["elsewhere"].redistribution_allowed and sources["elsewhere"].info.license == ""  # unknown
    notices = redistribution_notices(mixed)
    assert [n.split(":")[0] for n in notices] == ["cityscapes", "elsewhere"]
    assert "unknown licence" in notices[1]


def test_images_whose_licence_forbids_redistribution_are_refused(hub, built, tmp_path, monkeypatch, capsys):
    restricted = tmp_path / "restricted"
    shutil.copytree(built, restricted)
    metadata = json.loads((restricted / "unify.json").read_text())
    metadata["source"].update(license="Research only, no redistribution", redistribution_allowed=False)
    (restricted / "unify.json").write_text(json.dumps(metadata))

    assert main(["push", "dataset", str(restricted), "--repo-id", "tester/refused"]) == 2
    error = capsys.readouterr().err
    assert "Research only, no redistribution" in error and "--labels-only" in error
    assert hub.repos == {} and hub.requests == []  # refused before anything reached the Hub

    assert (
        main(["push", "dataset", str(restricted), "--repo-id", "tester/allowed", "--allow-image-redistribution"]) == 0
    )
    assert "Research only, no redistribution" in capsys.readouterr().out
    assert "data/train-00000-of-00001.parquet" in hub.files("tester/allowed")
    assert main(["push", "dataset", str(restricted), "--repo-id", "tester/labels", "--labels-only"]) == 0
    assert redistribution_notices(restricted) and FolderMetadata.read(restricted).labels_only is None

    # a builder whose licence is now known to forbid it wins over what an older build recorded
    monkeypatch.setattr(SyntheticDriving, "REDISTRIBUTION_ALLOWED", False)
    assert main(["push", "dataset", str(built), "--repo-id", "tester/refused"]) == 2

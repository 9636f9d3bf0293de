"""Sharing on the Hub through the real clients and the loopback Hub: datasets, labels only, models, cards."""

import io
import json
import logging
import re
import shutil
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from huggingface_hub import HfApi
from PIL import Image
from transformers import (SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor,
                          pipeline)

from dataset_scripts.synthetic_driving import SyntheticDriving
from unify import read_metadata
from unify.build import build_dataset
from unify.core.folder import PSEUDO_LABELLED, LabelColumns, load_split
from unify.cli import main
from unify.core.constants import NATIVE_LABEL
from unify.core.constants import IGNORED, PROVENANCE_NAMES
from unify.core.errors import UnifyError
from unify.evaluate import evaluate_model
from unify.hub import (FORMAT_TAG, SourceInfo, attach_images, dataset_card, dataset_sources, push_dataset,
                       push_model)
from unify.core.images import decode_label, encode_label
from unify.core.mapping import get_mapping
from unify.core.taxonomy import get_taxonomy

FINE = get_taxonomy("synthetic_fine")
IMAGES = (("train", 4),)


def rows(folder: Path, split: str = "train") -> datasets.Dataset:
    return load_split(folder, split).cast_column("image", datasets.Image(decode=False))


def same_rows(a: datasets.Dataset, b: datasets.Dataset) -> None:
    assert a.column_names == b.column_names and len(a) == len(b)
    for left, right in zip(a, b):
        for column in a.column_names:
            if column == "image":
                assert left[column]["bytes"] == right[column]["bytes"]
            elif isinstance(left[column], Image.Image):
                assert np.array_equal(np.asarray(left[column]), np.asarray(right[column])), column
            else:
                assert left[column] == right[column], column


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("built") / "coarse"
    build_dataset("synthetic_driving", folder, config="coarse", splits=IMAGES)
    return folder


@pytest.fixture(scope="module")
def pseudo(built, tmp_path_factory) -> Path:
    """The layout `unify pseudo-label` writes, with the hidden fine truth standing in for the teacher."""
    folder = tmp_path_factory.mktemp("pseudo") / "coarse-pl"
    (folder / "data").mkdir(parents=True)
    mapping = get_mapping("synthetic_coarse", "synthetic_fine")
    provenance_of = mapping.tables.provenance.numpy()
    counts = np.zeros(len(PROVENANCE_NAMES), dtype=np.int64)
    out = []
    for row in rows(built).cast_column("label", datasets.Image(decode=False)).cast_column(
            "fine_label", datasets.Image(decode=False)):
        native, fine = decode_label(row["label"]["bytes"]), decode_label(row["fine_label"]["bytes"])
        provenance = provenance_of[native]
        counts += np.bincount(provenance.ravel(), minlength=len(PROVENANCE_NAMES))
        label = np.where(provenance == IGNORED, 255, fine).astype(np.uint8)
        out.append({"image": row["image"], "label": {"bytes": encode_label(label), "path": None},
                    "provenance": {"bytes": encode_label(provenance.astype(np.uint8)), "path": None},
                    NATIVE_LABEL: row["label"], "image_id": row["image_id"], "dataset": row["dataset"],
                    "fine_label": row["fine_label"]})
    features = datasets.Features({name: datasets.Image() for name in ("image", "label", "provenance", NATIVE_LABEL)}
                                 | {"image_id": datasets.Value("string"), "dataset": datasets.Value("string"),
                                    "fine_label": datasets.Image()})
    datasets.Dataset.from_list(out, features=features).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    metadata = read_metadata(built)
    metadata.kind, metadata.columns = PSEUDO_LABELLED, LabelColumns.for_kind(PSEUDO_LABELLED)
    metadata.teacher = {"name": "tester/teacher", "sha256": "0" * 64, "revision": None}
    metadata.tta = {"scales": [0.75, 1.0], "flip": True}
    metadata.write(folder)
    report = {"pixels_by_provenance": {name: int(n) for name, n in zip(PROVENANCE_NAMES, counts)}}
    (folder / "pseudo_label_report.json").write_text(json.dumps(report))
    return folder


def front_matter(card: str) -> dict:
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---", card, re.S).group(1))


# -- datasets -----------------------------------------------------------------------------------------
def test_a_pushed_dataset_loads_back_with_plain_load_dataset(hub, built):
    report = push_dataset(built, "tester/coarse")

    repo = hub.repo("tester/coarse")
    assert repo.private  # private unless asked otherwise
    assert repo.tags[FORMAT_TAG] == repo.branches["main"] == report.commit
    assert {"README.md", "unify.json", "metadata/unified_classes.parquet", "data/train-00000-of-00001.parquet"} \
        <= set(report.files)
    loaded = datasets.load_dataset("tester/coarse", split="train").cast_column("image", datasets.Image(decode=False))
    same_rows(loaded, rows(built))
    classes = datasets.load_dataset("tester/coarse", "unified_classes", split="train")
    assert classes["name"] == [c.name for c in FINE.classes]
    assert json.loads(hub.files("tester/coarse")["unify.json"]) == read_metadata(built).to_json()
    card = HfApi().dataset_info("tester/coarse").card_data
    assert card["unify"]["taxonomy"] == [{"id": c.id, "name": c.name, "color": "#%02x%02x%02x" % c.color}
                                         for c in FINE.trainable]
    again = push_dataset(built, "tester/coarse")  # a later push moves the tag to its own revision
    assert again.commit != report.commit and repo.tags == {FORMAT_TAG: again.commit}
    assert hub.unhandled == []


def test_labels_only_round_trip_through_attach_images(hub, pseudo, tmp_path):
    push_dataset(pseudo, "tester/coarse-labels", labels_only=True)

    pushed = hub.files("tester/coarse-labels")
    shard = pq.read_table(io.BytesIO(pushed["data/train-00000-of-00001.parquet"]))
    assert shard.column_names == ["label", "provenance", "image_id", "dataset"]  # no images, no native labels
    card = pushed["README.md"].decode()
    assert "unify attach-images tester/coarse-labels" in card and "not included (labels only)" in card

    counts = attach_images("tester/coarse-labels", None, tmp_path / "full", splits=IMAGES)

    assert counts == {"train": 4}
    same_rows(rows(tmp_path / "full"), rows(pseudo))
    metadata = read_metadata(tmp_path / "full")
    assert metadata.labels_only is None and metadata.kind == "pseudo_labelled" and metadata.images_attached
    assert datasets.load_dataset(str(tmp_path / "full"), split="train", streaming=True).features.keys() \
        == rows(pseudo).features.keys()


def test_attach_images_names_the_images_missing_from_the_raw_copy(hub, built, tmp_path):
    push_dataset(built, "tester/coarse-labels", labels_only=True)
    with pytest.raises(UnifyError, match=r"2 of 4 image ids are not in the raw copy .*coarse_1000002"):
        attach_images("tester/coarse-labels", None, tmp_path / "full", splits=(("train", 2),))
    assert not (tmp_path / "full").exists()


def test_images_whose_licence_forbids_redistribution_are_refused(hub, built, tmp_path, monkeypatch, capsys):
    restricted = tmp_path / "restricted"
    shutil.copytree(built, restricted)
    metadata = read_metadata(restricted).to_json()
    metadata["source"].update(license="Research only, no redistribution", redistribution_allowed=False)
    (restricted / "unify.json").write_text(json.dumps(metadata))

    assert main(["push", "dataset", str(restricted), "--repo-id", "tester/refused"]) == 2
    error = capsys.readouterr().err
    assert "Research only, no redistribution" in error and "--labels-only" in error
    assert hub.repos == {} and hub.requests == []  # refused before anything reached the Hub

    assert main(["push", "dataset", str(restricted), "--repo-id", "tester/allowed",
                 "--allow-image-redistribution"]) == 0
    assert "Research only, no redistribution" in capsys.readouterr().out
    assert "data/train-00000-of-00001.parquet" in hub.files("tester/allowed")
    assert main(["push", "dataset", str(restricted), "--repo-id", "tester/labels", "--labels-only"]) == 0

    # a builder whose licence is now known to forbid it wins over what an older build recorded
    monkeypatch.setattr(SyntheticDriving, "REDISTRIBUTION_ALLOWED", False)
    assert main(["push", "dataset", str(built), "--repo-id", "tester/refused"]) == 2


def test_sources_are_counted_from_the_rows_and_unknown_ones_are_not_redistributable(built, tmp_path):
    mixed = tmp_path / "mixed"
    (mixed / "data").mkdir(parents=True)
    table = rows(built).map(lambda row, i: {"dataset": "elsewhere" if i % 2 else row["dataset"]}, with_indices=True)
    table.to_parquet(str(mixed / "data" / "train-00000-of-00001.parquet"))
    table.select(range(1)).to_parquet(str(mixed / "data" / "validation-00000-of-00001.parquet"))
    (mixed / "unify.json").write_text((built / "unify.json").read_text())

    sources = {s.name: s for s in dataset_sources(mixed)}

    assert sources["synthetic_driving"].images == {"train": 2, "validation": 1}
    assert sources["elsewhere"].images == {"train": 2}
    assert sources["synthetic_driving"].redistribution_allowed
    assert not sources["elsewhere"].redistribution_allowed  # nothing says it may be shared


def test_the_card_of_a_dataset_with_several_sources(pseudo):
    metadata = read_metadata(pseudo).to_json()
    report = json.loads((pseudo / "pseudo_label_report.json").read_text())
    sources = [SourceInfo("synthetic_driving", "(built in)", "Same as this package", "", True, {"train": 4}),
               SourceInfo("cityscapes", "https://www.cityscapes-dataset.com", "Cityscapes licence (non-commercial)",
                          "@inproceedings{Cordts2016Cityscapes, title={The Cityscapes Dataset}}", False,
                          {"train": 10, "validation": 5})]
    columns = list(rows(pseudo).features)

    card = dataset_card("tester/compound", metadata, sources, report, pushed={}, columns=columns,
                        roles=LabelColumns(**metadata["columns"]))

    data = front_matter(card)
    assert data["unify"]["sources"] == ["synthetic_driving", "cityscapes"]
    assert [c["name"] for c in data["unify"]["taxonomy"]] == [c.name for c in FINE.trainable]
    assert data["task_categories"] == ["image-segmentation"]
    assert "| dataset | train | validation | images | licence |" in card
    assert "| cityscapes | 10 | 5 | 15 | Cityscapes licence (non-commercial) |" in card
    assert "| synthetic_driving | 4 | 0 | 4 | Same as this package |" in card
    assert "@inproceedings{Cordts2016Cityscapes" in card and "arXiv:2502.19177" in card
    assert "`tester/teacher`" in card and "scales 0.75, 1.0, horizontal flip" in card
    assert "| drivable | road, lane marking | teacher_chose |" in card
    assert "| 12 | car | `#00008e` |" in card
    pixels = report["pixels_by_provenance"]
    total = sum(pixels.values())
    for name, count in pixels.items():
        assert f"| {name} |" in card and f"| {count} | {count / total:.1%} |" in card
    assert "load_dataset(\"tester/compound\", revision=\"unify-format-v2\")" in card


def test_a_public_repository_is_not_pushed_into_unless_asked(hub, built):
    HfApi().create_repo("tester/public", repo_type="dataset", private=False)
    with pytest.raises(UnifyError, match="already exists and is public"):
        push_dataset(built, "tester/public")
    assert "unify.json" not in hub.files("tester/public")
    push_dataset(built, "tester/public", private=False)
    assert "unify.json" in hub.files("tester/public")


def test_no_token_no_push(hub, built, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    assert main(["push", "dataset", str(built), "--repo-id", "tester/anonymous"]) == 2
    assert "hf auth login" in capsys.readouterr().err
    assert hub.requests == []


# -- models -------------------------------------------------------------------------------------------
@pytest.fixture
def run_dir(tmp_path, built, pseudo) -> Path:
    """A training run folder as `unify train` leaves it, with a tiny untrained SegFormer."""
    run = tmp_path / "run"
    config = SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64], decoder_hidden_size=32,
                             num_attention_heads=[1, 1, 1, 2], num_labels=FINE.num_labels, id2label=FINE.id2label(),
                             label2id=FINE.label2id())
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(config).save_pretrained(run / "model")
    SegformerImageProcessor(do_reduce_labels=False).save_pretrained(run / "model")
    (run / "config.yaml").write_text(yaml.safe_dump({
        "output_dir": str(run), "taxonomy": "synthetic_fine", "model": "mit-pico", "init": None,
        "train_data": [{"path": str(built), "split": "train", "weight": 1.0, "name": "coarse-gt"},
                       {"path": str(pseudo), "split": "train", "weight": 2.0, "name": "coarse-pl"}]}))
    (run / "metrics.json").write_text(json.dumps({"coarse-gt": {"miou": 0.25, "pixel_accuracy": 0.5}}))
    return run


def test_a_pushed_model_loads_with_from_pretrained_and_pipeline(hub, run_dir, built, tmp_path, capsys):
    evaluation = evaluate_model(run_dir / "model", built, tmp_path / "eval", split="train")

    assert main(["push", "model", str(run_dir), "--repo-id", "tester/student", "--evaluation",
                 str(tmp_path / "eval")]) == 0

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(printed["files"]) == {".gitattributes", "README.md", "config.json", "model.safetensors",
                                     "preprocessor_config.json"}
    assert hub.repo("tester/student", "model").private
    local = SegformerForSemanticSegmentation.from_pretrained(run_dir / "model", use_safetensors=True)
    model = SegformerForSemanticSegmentation.from_pretrained("tester/student", use_safetensors=True)
    assert model.config.id2label == FINE.id2label() and model.config.label2id == FINE.label2id()
    for name, tensor in local.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name

    image = Image.open(io.BytesIO(rows(built)[0]["image"]["bytes"]))
    segments = pipeline("image-segmentation", model="tester/student")(image)
    assert segments and {s["label"] for s in segments} <= set(FINE.label2id())
    assert all(s["mask"].size == image.size for s in segments)

    card = hub.files("tester/student", "model")["README.md"].decode()
    data = front_matter(card)
    assert data["pipeline_tag"] == "image-segmentation" and data["library_name"] == "transformers"
    assert data["unify"]["taxonomy"] == "synthetic_fine"
    assert "unify train CONFIG --init tester/student" in card and "arXiv:2502.19177" in card
    assert "| coarse-gt | synthetic_driving (coarse) | ground truth | train | 4 | 1.0 |" in card
    assert "| coarse-pl | synthetic_driving (coarse) | pseudo-labels from `tester/teacher` | train | 4 | 2.0 |" in card
    native = evaluation["native"]
    assert (f"| synthetic_driving (coarse) | train | 4 | native: `synthetic_coarse` | {100 * native['miou']:.1f} | "
            f"{100 * native['pixel_accuracy']:.1f} |") in card


def test_only_safetensors_are_published(hub, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    model = SegformerForSemanticSegmentation(SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64],
                                                             num_labels=FINE.num_labels, id2label=FINE.id2label()))
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(UnifyError, match="only safetensors are published"):
        push_model(folder, "tester/pickled")
    assert hub.requests == []


def test_the_token_is_used_but_never_written_or_logged(hub, built, run_dir, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    assert main(["-v", "push", "dataset", str(built), "--repo-id", "tester/secret", "--labels-only"]) == 0
    assert main(["-v", "push", "model", str(run_dir), "--repo-id", "tester/secret-model"]) == 0
    attach_images("tester/secret", None, tmp_path / "attached", splits=IMAGES)

    assert any(sent_token for method, _, sent_token in hub.requests if method == "POST")
    token = hub.token.encode()
    for repo in hub.repos.values():
        for commit in repo.commits.values():
            assert not any(token in content.content for content in commit.files.values())
    captured = capsys.readouterr()
    assert hub.token not in caplog.text + captured.out + captured.err
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and token in p.read_bytes()]

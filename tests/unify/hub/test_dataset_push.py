"""`unify push dataset`: one commit that makes the repository hold exactly the folder, read back by plain clients."""

import io
import json
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import torch
from huggingface_hub import HfApi, hf_hub_download
from transformers import SegformerConfig, SegformerForSemanticSegmentation

from hub_fixtures import FINE, front_matter, rows, same_rows
from unify.cli import main
from unify.core.constants import IGNORE_INDEX
from unify.core.folder import FolderMetadata
from unify.core.segmenter import SEGFORMER_SIZES
from unify.hub import FORMAT_TAG, push_dataset

FOLDER_FILES = {
    ".gitattributes",
    "README.md",
    "unify.json",
    "id2label.json",
    "metadata/unified_classes.parquet",
    "metadata/label_mapping.parquet",
    "data/train-00000-of-00001.parquet",
}


def test_a_pushed_dataset_loads_back_with_plain_load_dataset(hub, built):
    report = push_dataset(built, "tester/coarse")

    repo = hub.repo("tester/coarse")
    assert repo.private  # private unless asked otherwise
    assert len(repo.commits) == 2  # the repository's first commit, then one commit for the push, card included
    assert repo.tags[FORMAT_TAG] == repo.branches["main"] == report.commit
    assert set(report.files) == FOLDER_FILES
    loaded = datasets.load_dataset("tester/coarse", split="train").cast_column("image", datasets.Image(decode=False))
    same_rows(loaded, rows(built))
    classes = datasets.load_dataset("tester/coarse", "unified_classes", split="train")
    assert classes["name"] == [c.name for c in FINE.classes]
    pushed = hub.files("tester/coarse")
    assert json.loads(pushed["unify.json"]) == FolderMetadata.read(built).to_json()
    assert pushed["data/train-00000-of-00001.parquet"] == (built / "data" / "train-00000-of-00001.parquet").read_bytes()
    card = HfApi().dataset_info("tester/coarse").card_data
    assert card["unify"]["taxonomy"] == [
        {"id": c.id, "name": c.name, "color": "#" + bytes(c.color).hex()} for c in FINE.trainable
    ]
    again = push_dataset(built, "tester/coarse")  # the same folder again: nothing to commit, the tag stays
    assert len(repo.commits) == 2 and again.commit == report.commit and repo.tags == {FORMAT_TAG: report.commit}
    assert hub.unhandled == []


def test_a_push_removes_what_an_earlier_push_left_in_the_same_commit(hub, built, pseudo, capsys):
    """Observed: a built folder pushed over a pseudo-labelled one kept the old pseudo_label_report.json."""
    assert main(["push", "dataset", str(pseudo), "--repo-id", "tester/replaced"]) == 0
    assert "pseudo_label_report.json" in hub.files("tester/replaced")
    repo = hub.repo("tester/replaced")
    before = len(repo.commits)

    assert main(["push", "dataset", str(built), "--repo-id", "tester/replaced"]) == 0

    assert "pseudo_label_report.json" not in hub.files("tester/replaced")
    assert set(hub.files("tester/replaced")) == FOLDER_FILES
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["deleted"] == ["pseudo_label_report.json"]
    assert len(repo.commits) == before + 1  # added and deleted in the same commit
    assert json.loads(hub.files("tester/replaced")["unify.json"])["kind"] == "built"


def test_the_transformers_example_trains_on_a_pushed_pseudo_labelled_dataset(hub, pseudo):
    """The steps of transformers' semantic-segmentation example, on the loopback Hub."""
    push_dataset(pseudo, "tester/coarse-unified")
    repo_id = "tester/coarse-unified"

    dataset = datasets.load_dataset(repo_id)
    assert {"image", "label"} <= set(dataset["train"].column_names)
    id2label = json.loads(Path(hf_hub_download(repo_id, "id2label.json", repo_type="dataset")).read_text())
    id2label = {int(k): v for k, v in id2label.items()}
    label2id = {v: str(k) for k, v in id2label.items()}
    assert id2label == FINE.id2label()  # the label column holds unified ids: the teacher's classes
    held = set()
    for example in dataset["train"]:
        held |= set(np.unique(np.array(example["label"])).tolist())
    assert held - {IGNORE_INDEX} and held <= set(id2label) | {IGNORE_INDEX}

    config = SegformerConfig(
        **SEGFORMER_SIZES["mit-pico"], num_labels=len(id2label), id2label=id2label, label2id=label2id
    )
    model = SegformerForSemanticSegmentation(config)
    batch = dataset["train"].select(range(2))
    pixel_values = torch.stack(
        [torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float() / 255 for image in batch["image"]]
    )
    labels = torch.stack([torch.from_numpy(np.array(target)).long() for target in batch["label"]])
    loss = model(pixel_values=pixel_values, labels=labels).loss
    loss.backward()
    assert torch.isfinite(loss) and model.decode_head.classifier.weight.grad.abs().sum() > 0


def test_a_pseudo_labelled_push_carries_its_report_and_a_card_that_describes_it(hub, pseudo, teacher):
    push_dataset(pseudo, "tester/coarse-pl")

    pushed = hub.files("tester/coarse-pl")
    assert set(pushed) == FOLDER_FILES | {"pseudo_label_report.json"}  # no stats/ of the labelling run
    shard = pq.read_table(io.BytesIO(pushed["data/train-00000-of-00001.parquet"]))
    assert {"image", "label", "provenance", "native_label"} <= set(shard.column_names)
    card = pushed["README.md"].decode()
    report = json.loads((pseudo / "pseudo_label_report.json").read_text())
    assert report["teacher"]["name"] == teacher.parent.name  # a run's model folder is named after its run
    assert f"`{teacher.parent.name} (sha256 {report['teacher']['sha256'][:12]})`" in card
    assert "scales 0.75, 1.0, horizontal flip" in card
    assert front_matter(card)["unify"]["teacher"] == report["teacher"]
    assert "`label` holds ids of `synthetic_fine`" in card

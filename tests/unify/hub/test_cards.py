"""Card contexts: the facts and tables the templates are filled with, and names shown as they are written."""

import json
import re
import shutil

import pytest

from hub_fixtures import FINE, flat, front_matter, rows
from unify.core.folder import FolderMetadata, SourceInfo
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import ClassInfo, Taxonomy
from unify.hub import push_dataset, push_model
from unify.hub.cards import dataset_card, training_table
from unify.hub.sources import DatasetSource

MARKUP = {1: "lane *marking*", 3: "<b>building</b>", 4: "`pole`"}
"""Class names a user taxonomy may hold, which Markdown or HTML would otherwise render as markup."""
ESCAPED = {1: r"lane \*marking\*", 3: "&lt;b&gt;building&lt;/b&gt;", 4: r"\`pole\`"}


def body(card: str) -> str:
    return card.split("\n---\n", 1)[1]


def test_the_card_of_a_dataset_with_several_sources(pseudo):
    metadata = FolderMetadata.read(pseudo)
    report = json.loads((pseudo / "pseudo_label_report.json").read_text())
    sources = [
        DatasetSource("synthetic_driving", SourceInfo("(built in)", "Same as this package", "", True), {"train": 4}),
        DatasetSource(
            "cityscapes",
            SourceInfo(
                "https://www.cityscapes-dataset.com",
                "Cityscapes licence (non-commercial)",
                "@inproceedings{Cordts2016Cityscapes, title={The Cityscapes Dataset}}",
                False,
            ),
            {"train": 10, "validation": 5},
        ),
    ]
    configs = {"configs": [{"config_name": "default", "data_files": "data/*.parquet"}]}

    card = dataset_card("tester/compound", metadata, sources, report, configs, list(rows(pseudo).features))

    data = front_matter(card)
    assert data["unify"]["sources"] == ["synthetic_driving", "cityscapes"]
    assert [c["name"] for c in data["unify"]["taxonomy"]] == [c.name for c in FINE.trainable]
    assert data["task_categories"] == ["image-segmentation"] and data["configs"] == configs["configs"]
    assert "| dataset | train | validation | images | licence |" in card
    assert "| cityscapes | 10 | 5 | 15 | Cityscapes licence (non-commercial) |" in card
    assert "| synthetic_driving | 4 | 0 | 4 | Same as this package |" in card
    assert "@inproceedings{Cordts2016Cityscapes" in card and "arXiv:2502.19177" in card
    assert "scales 0.75, 1.0, horizontal flip" in flat(card)
    assert "| drivable | road, lane marking | teacher_chose |" in card
    assert "| 12 | car | `#00008e` |" in card
    assert "19 driving images from synthetic_driving, cityscapes" in flat(card)
    pixels = report["pixels_by_provenance"]
    total = sum(pixels.values())
    for name, count in pixels.items():
        assert f"| {name} |" in card and f"| {count} | {count / total:.1%} |" in card
    assert 'load_dataset("tester/compound", revision="unify-format-v2")' in card


def test_a_card_without_facts_says_unknown_instead_of_guessing(built):
    metadata = FolderMetadata.read(built)
    metadata.kind, metadata.teacher, metadata.tta = "pseudo_labelled", None, None
    sources = [DatasetSource("elsewhere", SourceInfo(), {"train": 1})]

    card = flat(dataset_card("tester/x", metadata, sources, None, {}, ["image", "label", "mystery"]))

    assert "A teacher, unknown, predicted" in card and "test-time augmentation: unknown" in card
    assert "Unknown: the folder had no pseudo-labelling report." in card
    assert "**Homepage:** unknown - **Licence:** unknown" in card and "| elsewhere | 1 | 1 | unknown |" in card
    assert "| `mystery` | unknown |" in card


@pytest.fixture
def markup_folder(built, tmp_path):
    """`built` with a user taxonomy whose class names are Markdown and HTML."""
    folder = tmp_path / "markup"
    shutil.copytree(built, folder)
    record = json.loads((folder / "unify.json").read_text())
    record["unified_taxonomy"] = "my_taxonomy"
    for row in record["unified_classes"]:
        row["name"] = MARKUP.get(row["id"], row["name"])
    (folder / "unify.json").write_text(json.dumps(record))
    FolderMetadata.read(folder).write(folder)
    return folder


def test_class_names_are_shown_literally_in_a_dataset_card(hub, markup_folder):
    """Observed: names like `lane *marking*`, `<b>building</b>` or `` `pole` `` rendered as markup."""
    push_dataset(markup_folder, "tester/markup")

    card = hub.files("tester/markup")["README.md"].decode()
    names = {c["id"]: c["name"] for c in front_matter(card)["unify"]["taxonomy"]}
    assert all(names[i] == name for i, name in MARKUP.items())  # the front matter is data, as written
    text = body(card)
    for i, escaped in ESCAPED.items():
        assert f"| {i} | {escaped} |" in text
    assert f"| drivable | road, {ESCAPED[1]} | teacher_chose |" in text
    assert f"| construction | {ESCAPED[3]} | ground_truth |" in text
    assert "<b>" not in text and not re.search(r"(?<!\\)\*marking", text) and not re.search(r"(?<!\\)`pole", text)


def test_class_names_are_shown_literally_in_a_model_card(hub, tmp_path):
    classes = tuple(ClassInfo(i, MARKUP.get(i, c.name), c.color, False) for i, c in enumerate(FINE.trainable))
    Segmenter.for_training("mit-pico", Taxonomy("my_taxonomy", classes)).save(tmp_path / "model")

    push_model(tmp_path / "model", "tester/markup-model")

    card = hub.files("tester/markup-model", "model")["README.md"].decode()
    names = {c["id"]: c["name"] for c in front_matter(card)["unify"]["classes"]}
    assert all(names[i] == name for i, name in MARKUP.items())
    text = body(card)
    for i, escaped in ESCAPED.items():
        assert f"| {i} | {escaped} | unknown |" in text  # a taxonomy unknown here: its colours are unknown too
    assert "<b>" not in text and not re.search(r"(?<!\\)\*marking", text) and not re.search(r"(?<!\\)`pole", text)


def test_the_training_table_says_how_each_source_was_taught():
    """A student trained with partial targets is not described as one trained on the teacher's hard labels."""
    teacher = {"name": "teacher", "sha256": "ab" * 32, "revision": None}
    common = {"dataset": "synthetic_driving", "config": "coarse", "split": "train", "images": 4, "weight": 1.0}
    sources = [
        {**common, "name": "gt", "kind": "built", "targets": "partial", "fill_in": "teacher"},
        {**common, "name": "pl", "kind": "pseudo_labelled", "teacher": teacher, "targets": "both", "fill_in": "ignore"},
        {
            **common,
            "name": "hard",
            "kind": "pseudo_labelled",
            "teacher": teacher,
            "targets": "hard",
            "fill_in": "teacher",
        },
        {**common, "name": "older", "kind": "built"},  # provenance written before targets were recorded
        {**common, "name": "odd", "kind": "built", "targets": "<b>x</b>", "fill_in": "`y`"},
    ]
    table = training_table(sources).splitlines()
    cells = {line.split(" | ")[0].strip("| "): line.split(" | ")[2] for line in table[2:]}
    assert cells == {
        "gt": "ground truth, taught as partial labels (the classes each native label allows)",
        "pl": f"pseudo-labels from `teacher (sha256 {'ab' * 6})`, taught as hard and as partial labels (the classes "
        "each native label allows), fill-in pixels left out",
        "hard": f"pseudo-labels from `teacher (sha256 {'ab' * 6})`",
        "older": "ground truth",
        "odd": r"ground truth, targets &lt;b&gt;x&lt;/b&gt;, fill-in \`y\`",
    }

"""`unify evaluate`: unified and native scores, the native collapse on hand-built predictions, the outputs, and one
model on several datasets with their summary."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SegformerConfig, SegformerImageProcessorPil

from unify import read_metadata
from unify.build import build_dataset
from unify.cli import main
from unify.core.errors import UnifyError
from unify.core.evaluator import NativeCollapse, _plan
from unify.core.folder import FolderMetadata, load_split
from unify.core.mapping import LabelMapping
from unify.core.metrics import ConfusionMatrix
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.evaluate import DatasetSpec, dataset_specs, evaluate_datasets, evaluate_model, summary_rows, summary_table

FINE = get_taxonomy("synthetic_fine")


def constant_model(folder, class_name: str, taxonomy=FINE):
    """A tiny SegFormer whose logits favour `class_name` everywhere, by its classifier bias alone."""
    model = Segmenter.for_training("mit-pico", taxonomy).model
    with torch.no_grad():
        model.decode_head.classifier.weight.zero_()
        model.decode_head.classifier.bias.zero_()
        model.decode_head.classifier.bias[taxonomy.label2id()[class_name]] = 10.0
    model.save_pretrained(folder)
    SegformerImageProcessorPil(do_reduce_labels=False).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "coarse"
    build_dataset("synthetic_driving", folder, config="coarse", splits=(("train", 3),))
    return folder


def test_collapse_sums_the_probabilities_of_the_unified_classes_a_native_class_maps_to():
    # unified: 0 road, 1 lane, 2 car, 3 truck; native: 0 void, 1 drivable {road, lane}, 2 vehicle {car, truck},
    # 3 unlabeled {all}, 7 lane paint {lane}
    allowed = {0: [], 1: [0, 1], 2: [2, 3], 3: [0, 1, 2, 3], 7: [1]}
    names = {0: "void", 1: "drivable", 2: "vehicle", 3: "unlabeled", 7: "lane paint"}
    collapse = NativeCollapse.from_allowed(allowed, names, num_unified=4)
    assert collapse.names == ["drivable", "vehicle", "lane paint"]  # void and fill-in classes are not scored
    probabilities = torch.tensor(
        [
            [0.30, 0.25, 0.40, 0.05],  # car is the unified argmax, drivable sums to 0.55
            [0.10, 0.10, 0.35, 0.45],  # vehicle 0.80
            [0.05, 0.60, 0.20, 0.15],  # drivable 0.65 beats lane paint 0.60
            [0.25, 0.25, 0.25, 0.25],
        ]
    )  # tie drivable/vehicle: the first scored class
    predicted = collapse.predict(probabilities.T.reshape(1, 4, 1, 4))
    assert predicted.flatten().tolist() == [0, 1, 0, 0]
    native = torch.tensor([[[1, 2, 7, 0]]])
    assert collapse.target(native).flatten().tolist() == [0, 1, 2, 255]

    matrix = ConfusionMatrix(len(collapse.names))
    matrix.update(predicted, collapse.target(native))
    scores = matrix.compute()
    # drivable: truth {0}, predicted {0, 2} -> 1/2; vehicle: 1/1; lane paint: truth {2}, never predicted -> 0
    assert scores.iou == pytest.approx([0.5, 1.0, 0.0])
    assert scores.pixel_accuracy == pytest.approx(2 / 3)


@pytest.mark.parametrize("unified_class, native_class", [("road", "drivable"), ("sky", "sky")])
def test_a_model_that_always_says_one_class_scores_as_the_labels_predict(coarse, tmp_path, unified_class, native_class):
    model = constant_model(tmp_path / "model", unified_class)
    result = evaluate_model(model, coarse, tmp_path / "out", split="train")

    table = load_split(coarse, "train")
    unified = np.stack([np.asarray(x) for x in table["unified_label"]])
    native = np.stack([np.asarray(x) for x in table["label"]])
    coarse_classes = get_taxonomy("synthetic_coarse")
    expected_native, ego = coarse_classes.by_name[native_class].id, coarse_classes.by_name["ego vehicle"].id
    expected_unified = FINE.label2id()[unified_class]

    assert result["num_images"] == 3
    predicted = next(c for c in result["unified"]["classes"] if c["name"] == unified_class)
    valid = unified != 255
    share = (unified == expected_unified).sum() / valid.sum()
    assert predicted["iou"] == pytest.approx(share, abs=1e-6)
    assert result["unified"]["pixel_accuracy"] == pytest.approx(share, abs=1e-6)
    # native: the collapse turns "road" into "drivable" (road or lane marking), "sky" into "sky", everywhere
    scored = native != ego
    assert result["native"]["taxonomy"] == "synthetic_coarse"
    by_name = {c["name"]: c for c in result["native"]["classes"]}
    assert "ego vehicle" not in by_name
    assert by_name[native_class]["iou"] == pytest.approx((native == expected_native).sum() / scored.sum(), abs=1e-6)
    assert sum(c["pixels"] for c in by_name.values()) == scored.sum()

    written = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert written == result
    markdown = (tmp_path / "out" / "evaluation.md").read_text()
    assert f"| {native_class} |" in markdown and "`synthetic_fine`" in markdown
    for space in ("unified", "native"):
        with Image.open(tmp_path / "out" / f"confusion_{space}.png") as image:
            assert min(image.size) > 50


def test_a_model_of_another_unified_taxonomy_is_scored_in_the_native_taxonomy_only(coarse, tmp_path):
    fine_model = Segmenter.load(constant_model(tmp_path / "fine", "road"))
    metadata = read_metadata(coarse)
    column, collapse = _plan(fine_model, metadata, None, True, coarse)
    assert column == "unified_label" and collapse.names[0] == "drivable"

    native = metadata.native_taxonomy
    city = get_taxonomy("cityscapes19")
    metadata.mapping = LabelMapping(native, city, {c.id: () for c in native.classes}, {})  # built for cityscapes19
    column, collapse = _plan(fine_model, metadata, None, True, coarse)
    assert column is None  # the dataset's unified labels are not in the model's classes
    assert collapse.names == [c.name for c in native.classes if not c.ignore]  # through synthetic_coarse -> fine

    reversed_fine = get_taxonomy("synthetic_fine").id2label()
    shuffled = SegformerConfig(num_labels=15, id2label=dict(enumerate(reversed(list(reversed_fine.values())))))
    fine_model.model.config = shuffled
    with pytest.raises(UnifyError, match="match no registered unified taxonomy"):
        _plan(fine_model, metadata, None, True, coarse)


def test_cli_evaluate_writes_its_tables(coarse, tmp_path, capsys):
    model = constant_model(tmp_path / "model", "sky")
    assert main(["evaluate", "--model", str(model), "--dataset", str(coarse), "--output", str(tmp_path / "out")]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["images"] == 3 and 0 <= printed["native"] <= 1
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "evaluation.json",
        "evaluation.md",
        "confusion_unified.png",
        "confusion_native.png",
    }


def test_unknown_dataset_is_a_clear_error(tmp_path, capsys):
    model = constant_model(tmp_path / "model", "sky")
    assert main(["evaluate", "--model", str(model), "--dataset", "no_such_set", "--output", str(tmp_path)]) == 2
    assert "neither a folder written by `unify build`" in capsys.readouterr().err


def test_a_model_that_cannot_be_loaded_is_a_clear_error(coarse, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tmp_path / "empty"),
                "--dataset",
                str(coarse),
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "is not a model folder: it has no config.json" in capsys.readouterr().err


# -- one model, several datasets -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """source (train + validation), coarse (train + test) and a shifted folder whose metadata says wilddash2."""
    root = tmp_path_factory.mktemp("several")
    build_dataset("synthetic_driving", root / "source", config="source", splits=(("train", 1), ("validation", 2)))
    build_dataset("synthetic_driving", root / "coarse", config="coarse", splits=(("train", 2), ("test", 1)))
    build_dataset("synthetic_driving", root / "wd", config="shifted", splits=(("validation", 2),))
    metadata = FolderMetadata.read(root / "wd")
    metadata.dataset, metadata.config = "wilddash2", "semantic"  # the generalisation set, as its builder names it
    metadata.write(root / "wd")
    return root


def test_several_datasets_one_summary_wilddash2_first_values_from_each_evaluation(three, tmp_path, capsys, monkeypatch):
    model = constant_model(tmp_path / "model", "sky")
    loads, load = [], Segmenter.load
    monkeypatch.setattr("unify.evaluate.Segmenter.load", lambda *a, **k: loads.append(a) or load(*a, **k))
    out = tmp_path / "out"

    assert (
        main(
            [
                "evaluate",
                "--model",
                str(model),
                "--dataset",
                str(three / "source"),
                "--dataset",
                str(three / "coarse"),
                "--dataset",
                str(three / "wd"),
                "--split",
                "coarse=train",
                "--output",
                str(out),
            ]
        )
        == 0
    )

    assert len(loads) == 1  # one model for all datasets
    assert {p.name for p in out.iterdir()} == {"source", "coarse", "wd", "summary.json", "summary.md"}
    evaluations = {
        name: json.loads((out / name / "evaluation.json").read_text()) for name in ("source", "coarse", "wd")
    }
    assert {(out / name / "confusion_native.png").is_file() for name in evaluations} == {True}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == evaluations["source"]["model"] and summary["model"]["sha256"]
    assert [(row["folder"], row["dataset"], row["split"], row["num_images"]) for row in summary["datasets"]] == [
        ("wd", "wilddash2", "validation", 2),
        ("source", "synthetic_driving", "validation", 2),
        ("coarse", "synthetic_driving", "train", 2),
    ]
    for row in summary["datasets"]:
        evaluation = evaluations[row["folder"]]
        for space in ("unified", "native"):
            assert row[space] == {key: evaluation[space][key] for key in ("taxonomy", "miou", "pixel_accuracy")}
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [row["folder"] for row in printed["datasets"]] == ["wd", "source", "coarse"]

    lines = (out / "summary.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| dataset"))
    assert header == (
        "| dataset | split | images | mIoU (%) unified synthetic_fine | "
        "mIoU (%) native synthetic_shifted | mIoU (%) native synthetic_fine | "
        "mIoU (%) native synthetic_coarse | pixel accuracy (%) unified |"
    )
    rows = lines[lines.index(header) + 2 : lines.index(header) + 5]
    percent = {
        name: {space: f"{100 * e[space]['miou']:.1f}" for space in ("unified", "native")}
        | {"accuracy": f"{100 * e['unified']['pixel_accuracy']:.1f}"}
        for name, e in evaluations.items()
    }
    wd, source, coarse = percent["wd"], percent["source"], percent["coarse"]
    assert rows == [
        f"| wilddash2 (semantic) | validation | 2 | {wd['unified']} | {wd['native']} |  |  | {wd['accuracy']} |",
        f"| synthetic_driving (source) | validation | 2 | {source['unified']} |  | {source['native']} |  | "
        f"{source['accuracy']} |",
        f"| synthetic_driving (coarse) | train | 2 | {coarse['unified']} |  |  | {coarse['native']} | "
        f"{coarse['accuracy']} |",
    ]
    assert f"`{summary['model']['sha256']}`" in (out / "summary.md").read_text()


def test_the_summary_table_leaves_blank_what_does_not_apply_and_escapes_names():
    scores = {"miou": 0.5, "pixel_accuracy": 0.75}
    rows = summary_rows(
        [
            {
                "dataset": "a*b*",
                "config": "<i>x</i>",
                "kind": "pseudo_labelled",
                "split": "val",
                "num_images": 3,
                "unified": {"taxonomy": "cityscapes19", **scores, "classes": []},
                "native": None,
            },
            {
                "dataset": "wilddash2",
                "config": "semantic",
                "split": "validation",
                "num_images": 4,
                "unified": None,
                "native": {"taxonomy": "wilddash2", "miou": None, "pixel_accuracy": 0.25},
            },
        ]
    )
    assert [row["dataset"] for row in rows] == ["wilddash2", "a*b*"]
    assert rows[1]["unified"] == {"taxonomy": "cityscapes19", **scores}  # the headline, not the per-class list
    assert summary_table(rows).splitlines()[2:] == [
        "| wilddash2 (semantic) | validation | 4 |  | n/a |  |",
        "| a\\*b\\* (&lt;i&gt;x&lt;/i&gt;), pseudo-labelled | val | 3 | 50.0 |  | 75.0 |",
    ]


def test_a_dataset_name_pairs_with_its_raw_folder_and_splits_go_global_or_per_dataset(three, tmp_path):
    specs = dataset_specs([str(three / "source"), f"kitti={tmp_path / 'raw'}"], ["test", "source=validation"])
    assert specs == [
        DatasetSpec(str(three / "source"), None, "validation"),
        DatasetSpec("kitti", tmp_path / "raw", "test"),
    ]
    assert [spec.name for spec in specs] == ["source", "kitti"]
    [single] = dataset_specs(["kitti"], data_dir=tmp_path / "raw")  # today's one-dataset call
    assert single == DatasetSpec("kitti", tmp_path / "raw", None)

    with pytest.raises(UnifyError, match="--data-dir goes with a single --dataset; .* --dataset NAME=RAW"):
        dataset_specs(["kitti", str(three / "source")], data_dir=tmp_path)
    with pytest.raises(UnifyError, match="--split cityscapes=val names no dataset given; the datasets are source"):
        dataset_specs([str(three / "source")], ["cityscapes=val"])
    with pytest.raises(UnifyError, match="twice"):
        dataset_specs([str(three / "source")], ["val", "test"])
    with pytest.raises(UnifyError, match="no_such=x is neither a folder"):
        dataset_specs(["no_such=x"])


def test_several_datasets_fail_before_scoring_on_a_missing_split_or_a_shared_name(three, tmp_path, monkeypatch):
    monkeypatch.setattr("unify.evaluate.Segmenter.load", lambda *a, **k: pytest.fail("loaded a model"))
    specs = [DatasetSpec(three / "source"), DatasetSpec(three / "coarse", split="validation")]
    with pytest.raises(UnifyError, match="coarse has no split 'validation'; it has \\['train', 'test'\\]"):
        evaluate_datasets("unused", specs, tmp_path / "out")
    (tmp_path / "other").mkdir()
    shutil.copytree(three / "source", tmp_path / "other" / "source")
    with pytest.raises(UnifyError, match="several datasets are named source"):
        evaluate_datasets(
            "unused", [DatasetSpec(three / "source"), DatasetSpec(tmp_path / "other" / "source")], tmp_path / "out"
        )
    assert not (tmp_path / "out").exists()


def write_raw(root, image_names: list[str], label_names: list[str], ids: list[int]):
    """A raw folder: random 32x64 photos and grey id labels (ids drawn from `ids`) at the given relative paths."""
    for seed, (image, label) in enumerate(zip(image_names, label_names, strict=True)):
        rng = np.random.default_rng(seed)
        for path, pixels in ((image, rng.integers(0, 256, (32, 64, 3))), (label, rng.choice(ids, (32, 64)))):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(root / path)
    return root


def test_builder_names_are_built_from_their_raw_folders_and_wilddash2_comes_first(tmp_path):
    kitti = write_raw(
        tmp_path / "kitti",
        ["training/image_2/000000_10.png"],
        ["training/semantic/000000_10.png"],
        [0, 7, 8, 11, 21, 23, 26],
    )
    wilddash = write_raw(
        tmp_path / "wd2",
        ["images/at0000_100000.jpg", "images/cn0001_100044.jpg"],
        ["labels/at0000_100000.png", "labels/cn0001_100044.png"],
        [0, 1, 7, 26, 34, 38, 58, 80],
    )
    model = constant_model(tmp_path / "model", "road", taxonomy=get_taxonomy("cityscapes19"))

    assert (
        main(
            [
                "evaluate",
                "--model",
                str(model),
                "--dataset",
                f"kitti={kitti}",
                "--dataset",
                f"wilddash2={wilddash}",
                "--split",
                "kitti=train",
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(r["folder"], r["dataset"], r["split"], r["num_images"]) for r in summary["datasets"]] == [
        ("wilddash2", "wilddash2", "validation", 2),
        ("kitti", "kitti", "train", 1),
    ]
    assert [r["unified"]["taxonomy"] for r in summary["datasets"]] == ["cityscapes19", "cityscapes19"]
    assert summary["datasets"][0]["native"]["taxonomy"] == "wilddash2"


def test_every_dataset_is_checked_before_the_model_is_loaded(three, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("unify.evaluate.Segmenter.load", lambda *a, **k: pytest.fail("loaded a model"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "not_data").mkdir()
    kitti = write_raw(tmp_path / "kitti", ["training/image_2/000000_10.png"], ["training/semantic/000000_10.png"], [7])

    def refused(*datasets: str, split: list[str] = ()) -> str:
        arguments = [arg for dataset in datasets for arg in ("--dataset", dataset)]
        arguments += [arg for s in split for arg in ("--split", s)]
        assert main(["evaluate", "--model", "unused", *arguments, "--output", str(tmp_path / "out")]) == 2
        return capsys.readouterr().err

    source = str(three / "source")
    assert "bdd100k: " + str(tmp_path / "empty") + " holds neither BDD100K" in refused(
        source, f"bdd100k={tmp_path / 'empty'}"
    )
    assert f"{tmp_path / 'missing'} is not a folder" in refused(source, f"kitti={tmp_path / 'missing'}")
    assert f"kitti={kitti} has no split 'validation'; it has ['train']" in refused(
        source, f"kitti={kitti}", split=["kitti=validation"]
    )
    assert f"{tmp_path / 'not_data'} is neither a folder written by `unify build` (no unify.json in it)" in refused(
        source, str(tmp_path / "not_data")
    )
    assert "(no such folder)" in refused(source, str(tmp_path / "nowhere"))
    assert "kitti needs data_dir=" in refused(source, "kitti")  # a bare builder name beside others has no raw folder
    assert f"bdd100k: {tmp_path / 'empty'} holds neither" in refused(f"bdd100k={tmp_path / 'empty'}")  # one dataset
    assert not (tmp_path / "out").exists()

"""`unify evaluate`: unified and native scores, the native collapse on hand-built predictions, the outputs."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

from unify import read_metadata
from unify.build import build_dataset
from unify.cli import main
from unify.core.errors import UnifyError
from unify.core.evaluator import NativeCollapse, _plan
from unify.core.folder import load_split
from unify.core.mapping import LabelMapping
from unify.core.metrics import ConfusionMatrix
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.evaluate import evaluate_model

FINE = get_taxonomy("synthetic_fine")


def constant_model(folder, class_name: str, taxonomy=FINE):
    """A tiny SegFormer whose logits favour `class_name` everywhere, by its classifier bias alone."""
    config = SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64], decoder_hidden_size=32,
                             num_attention_heads=[1, 1, 1, 2], num_labels=taxonomy.num_labels,
                             id2label=taxonomy.id2label(), label2id=taxonomy.label2id())
    model = SegformerForSemanticSegmentation(config)
    with torch.no_grad():
        model.decode_head.classifier.weight.zero_()
        model.decode_head.classifier.bias.zero_()
        model.decode_head.classifier.bias[taxonomy.label2id()[class_name]] = 10.0
    model.save_pretrained(folder)
    SegformerImageProcessor(do_reduce_labels=False).save_pretrained(folder)
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
    probabilities = torch.tensor([[0.30, 0.25, 0.40, 0.05],   # car is the unified argmax, drivable sums to 0.55
                                  [0.10, 0.10, 0.35, 0.45],   # vehicle 0.80
                                  [0.05, 0.60, 0.20, 0.15],   # drivable 0.65 beats lane paint 0.60
                                  [0.25, 0.25, 0.25, 0.25]])  # tie drivable/vehicle: the first scored class
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
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"evaluation.json", "evaluation.md",
                                                              "confusion_unified.png", "confusion_native.png"}


def test_unknown_dataset_is_a_clear_error(tmp_path, capsys):
    model = constant_model(tmp_path / "model", "sky")
    assert main(["evaluate", "--model", str(model), "--dataset", "no_such_set", "--output", str(tmp_path)]) == 2
    assert "neither a folder written by `unify build`" in capsys.readouterr().err


def test_a_model_that_cannot_be_loaded_is_a_clear_error(coarse, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--model", str(tmp_path / "empty"), "--dataset", str(coarse), "--output",
                 str(tmp_path / "out")]) == 2
    assert "is not a model folder: it has no config.json" in capsys.readouterr().err

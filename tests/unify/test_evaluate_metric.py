"""The local `evaluate` metric: the same numbers as `mean_iou` (its documented example and a plain reference),
loading by path with the network gone, and `add_batch` streaming equal to one call."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mean_iou_reference import reference_mean_iou
from PIL import Image

import unify.evaluate_metric
from unify.core.errors import BadSampleError, UnifyError
from unify.evaluate_metric import unified_mean_iou

# datasets warns when it stores int64 maps as int32 images, as it does for mean_iou; nothing is lost below 2**31.
pytestmark = pytest.mark.filterwarnings("ignore:Downcasting array dtype int64 to int32:UserWarning")

KEYS = {"mean_iou", "mean_accuracy", "overall_accuracy", "per_category_iou", "per_category_accuracy"}

# The example in mean_iou's documentation, with the output it documents (metrics/mean_iou in huggingface/evaluate).
DOC_PREDICTIONS = [
    np.array([[1, 2], [3, 4], [5, 255]]),
    np.array([[2, 7], [9, 2], [3, 6]]),
    np.array([[2, 2, 3], [8, 2, 4], [3, 255, 2]]),
]
DOC_REFERENCES = [
    np.array([[0, 3], [5, 4], [6, 255]]),
    np.array([[1, 7], [9, 2], [3, 6]]),
    np.array([[1, 2, 2], [8, 2, 1], [3, 255, 1]]),
]
DOC_SCORES = {
    "mean_iou": 0.47750000000000004,
    "mean_accuracy": 0.5916666666666666,
    "overall_accuracy": 0.5263157894736842,
    "per_category_iou": [0.0, 0.0, 0.375, 0.4, 0.5, 0.0, 0.5, 1.0, 1.0, 1.0],
    "per_category_accuracy": [0.0, 0.0, 0.75, 2 / 3, 1.0, 0.0, 0.5, 1.0, 1.0, 1.0],
}


def assert_identical(scores: dict, expected: dict) -> None:
    """Same keys, same types, the same float64 numbers to the last bit (nan where nan)."""
    assert set(scores) == KEYS == set(expected)
    for key in KEYS:
        assert type(scores[key]) is type(expected[key]), key
        np.testing.assert_array_equal(scores[key], expected[key], err_msg=key, strict=True)


def random_maps(
    seed: int,
    num_labels: int,
    count: int = 4,
    absent: tuple[int, ...] = (),
    ignore: int = 255,
    prediction_extra: tuple[int, ...] = (),
):
    """Pairs of maps of differing sizes: about 15% ignore pixels, some classes never in the references."""
    rng = np.random.default_rng(seed)
    present = [c for c in range(num_labels) if c not in absent]
    predictions, references = [], []
    for _ in range(count):
        shape = tuple(rng.integers(5, 40, size=2))
        reference = rng.choice(present, size=shape)
        reference[rng.random(shape) < 0.15] = ignore
        prediction = np.where(rng.random(shape) < 0.6, reference, rng.choice(present + list(prediction_extra), shape))
        references.append(reference.astype(np.uint8))
        predictions.append(prediction.astype(np.int64))
    return predictions, references


@pytest.fixture(scope="module")
def metric(tmp_path_factory):
    evaluate = pytest.importorskip("evaluate")
    return evaluate.load(unify.evaluate_metric.path(), cache_dir=str(tmp_path_factory.mktemp("evaluate")))


def test_the_documented_example_of_mean_iou_gives_its_documented_numbers(metric):
    expected = {k: np.float64(v) if np.ndim(v) == 0 else np.array(v) for k, v in DOC_SCORES.items()}
    scores = metric.compute(predictions=DOC_PREDICTIONS, references=DOC_REFERENCES, num_labels=10, ignore_index=255)
    assert_identical(scores, expected)
    assert_identical(scores, reference_mean_iou(DOC_PREDICTIONS, DOC_REFERENCES, 10, 255))


CASES = {
    "ignore pixels": dict(num_labels=7),
    "absent classes are nan": dict(num_labels=7, absent=(2, 5)),
    "nan_to_num": dict(num_labels=7, absent=(2, 5), nan_to_num=-1),
    "predictions outside the classes count as wrong": dict(num_labels=7, prediction_extra=(7, 200, 255)),
    # 2 -> 3 and 3 -> 4 from the original values, not 2 -> 4; 6 -> ignore; 9 (not a class) -> 1
    "label_map": dict(num_labels=7, label_map={2: 3, 3: 4, 6: 255, 9: 1}, reference_extra=9),
    # references 1..7 become classes 0..6; 0 becomes 255 and is ignored; 255 stays ignored
    "reduce_labels": dict(num_labels=7, reduce_labels=True, shift=1, reference_extra=0),
    # 8 -> 0 -> ignored; 1 -> 2 -> class 1
    "label_map then reduce_labels": dict(
        num_labels=7, reduce_labels=True, shift=1, label_map={8: 0, 1: 2}, reference_extra=8
    ),
    "ignore_index other than 255": dict(num_labels=7, ignore=0, absent=(0,)),
}


def case_inputs(
    seed: int, num_labels: int, absent=(), prediction_extra=(), reference_extra=None, shift=0, ignore=255, **_
):
    predictions, references = random_maps(
        seed, num_labels, absent=absent, prediction_extra=prediction_extra, ignore=ignore
    )
    for reference in references:
        reference[reference != ignore] += shift
    if reference_extra is not None:
        references[0][:2, :2] = reference_extra
    return predictions, references


def case_arguments(case: dict) -> dict:
    arguments = {k: case[k] for k in ("num_labels", "nan_to_num", "label_map", "reduce_labels") if k in case}
    arguments["ignore_index"] = case.get("ignore", 255)
    return arguments


@pytest.mark.parametrize("name", CASES)
def test_scores_equal_the_plain_statement_of_mean_iou(name):
    case = CASES[name]
    for seed in range(3):
        predictions, references = case_inputs(seed, **case)
        arguments = case_arguments(case)
        expected = reference_mean_iou(predictions, references, **arguments)
        scores = unified_mean_iou(predictions, references, **arguments)
        assert_identical(scores, expected)
        if "absent" in case:
            assert np.isnan(expected["per_category_iou"][list(case["absent"])]).all() != ("nan_to_num" in case)
            assert not np.isnan(scores["mean_iou"])


@pytest.mark.parametrize(
    "name",
    ["ignore pixels", "label_map then reduce_labels", "nan_to_num", "predictions outside the classes count as wrong"],
)
def test_the_evaluate_metric_equals_the_plain_statement_and_streams_batch_by_batch(metric, name):
    case = CASES[name]
    predictions, references = case_inputs(7, **case)
    arguments = case_arguments(case)
    expected = reference_mean_iou(predictions, references, **arguments)
    assert_identical(metric.compute(predictions=predictions, references=references, **arguments), expected)

    for start in range(0, len(predictions), 3):
        metric.add_batch(predictions=predictions[start : start + 3], references=references[start : start + 3])
    assert_identical(metric.compute(**arguments), expected)

    # tensors and PIL images, one pair at a time
    for prediction, reference in zip(predictions, references, strict=True):
        metric.add(prediction=torch.from_numpy(prediction), reference=Image.fromarray(reference))
    assert_identical(metric.compute(**arguments), expected)


def test_inputs_are_read_one_pair_at_a_time():
    predictions, references = random_maps(3, 5, count=6)
    read = []

    def one_by_one():
        for prediction in predictions:
            read.append(len(read))
            yield torch.from_numpy(prediction)

    scores = unified_mean_iou(one_by_one(), iter(references), num_labels=5)
    assert read == list(range(6))
    assert_identical(scores, reference_mean_iou(predictions, references, 5, 255))


def test_a_reference_value_that_is_neither_a_class_nor_ignored_is_an_error_not_a_silent_drop():
    predictions, references = random_maps(0, 5, count=3)
    references[2][0, :3] = [5, 9, 5]  # 5 classes: 0..4
    silent = reference_mean_iou(predictions, references, 5, 255)  # mean_iou leaves them out of every class's truth
    assert 0 < silent["overall_accuracy"] < 1
    outside = r"references\[2\]: 3 pixels hold values outside the classes 0..4 .*: 5, 9"
    with pytest.raises(BadSampleError, match=outside):
        unified_mean_iou(predictions, references, num_labels=5)
    with pytest.raises(BadSampleError, match=r"references\[0\].*: 255 .*reduce_labels"):  # 0 -> 255 is not ignored
        unified_mean_iou(
            predictions, [np.zeros_like(r) for r in references], num_labels=5, ignore_index=7, reduce_labels=True
        )


@pytest.mark.parametrize(
    "prediction, reference, message",
    [
        (
            np.zeros((3, 4), int),
            np.zeros((4, 3), int),
            r"references\[0\]: has shape \(4, 3\) but its prediction has \(3, 4\)",
        ),
        (np.zeros((3, 4), float), np.zeros((3, 4), int), r"predictions\[0\]: holds float64 values"),
        (
            np.zeros((3, 4, 3), int),
            np.zeros((3, 4, 3), int),
            r"predictions\[0\]: has shape \(3, 4, 3\); label maps are 2-D",
        ),
    ],
)
def test_maps_that_cannot_be_scored_are_named(prediction, reference, message):
    with pytest.raises(BadSampleError, match=message):
        unified_mean_iou([prediction], [reference], num_labels=3)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(num_labels=0), "num_labels must be a positive integer, got 0"),
        (dict(num_labels=3, ignore_index=None), "ignore_index must be an integer, got None"),
        (dict(num_labels=3, label_map={1: "2"}), "label_map must map integers to integers; bad entries: 1: '2'"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(UnifyError, match=message):
        unified_mean_iou([np.zeros((2, 2), int)], [np.zeros((2, 2), int)], **arguments)


def test_more_predictions_than_references_is_an_error():
    with pytest.raises(UnifyError, match="2 or more predictions but only 1 references"):
        unified_mean_iou([np.zeros((2, 2), int)] * 2, [np.zeros((2, 2), int)], num_labels=3)
    with pytest.raises(UnifyError, match="more references than predictions"):
        unified_mean_iou([np.zeros((2, 2), int)], [np.zeros((2, 2), int)] * 2, num_labels=3)


LOAD_WITHOUT_NETWORK = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network refused by the test")
socket.getaddrinfo = refuse
socket.socket.connect = lambda self, *args: refuse(*args)
socket.create_connection = refuse
import numpy as np, evaluate, unify.evaluate_metric
metric = evaluate.load(unify.evaluate_metric.path(), cache_dir=sys.argv[1])
metric.add_batch(predictions=[np.array([[0, 1], [1, 1]])], references=[np.array([[0, 1], [0, 255]], np.uint8)])
scores = metric.compute(num_labels=2)
print(json.dumps({"attempts": attempts, "mean_iou": float(scores["mean_iou"]),
                  "layers": sorted(m for m in sys.modules if m.split(".")[0] in ("train", "dataset_scripts"))}))
"""


@pytest.mark.slow  # a fresh interpreter, so that sys.modules shows what loading the metric imports
def test_loading_by_path_needs_no_network_and_imports_neither_train_nor_dataset_scripts(tmp_path):
    """Without the offline flags the conftest sets, and with every socket refused: nothing even tries to connect."""
    pytest.importorskip("evaluate")
    environment = {key: value for key, value in os.environ.items() if not key.endswith("_OFFLINE")}
    environment |= {
        "HF_HOME": str(tmp_path / "hf"),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
        "PYTHONPATH": os.pathsep.join(
            [str(Path(unify.evaluate_metric.__file__).parents[2]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    run = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_NETWORK, str(tmp_path / "cache")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"attempts": [], "mean_iou": 0.5, "layers": []}
    assert (tmp_path / "modules" / "evaluate_modules" / "metrics" / "unified_miou").is_dir()  # loaded from the file


def test_the_metric_script_is_a_module_of_the_package_so_every_install_carries_it():
    script = Path(unify.evaluate_metric.path())
    assert script.is_file() and script.parent == Path(unify.evaluate_metric.__file__).parent
    assert script.stem == unify.evaluate_metric.METRIC_NAME


@pytest.mark.filterwarnings("error")
def test_read_only_maps_are_scored_without_a_warning():
    prediction = np.array([[0, 1], [1, 1]])
    prediction.flags.writeable = False  # as numpy views of Arrow buffers are
    scores = unified_mean_iou([prediction], [np.array([[0, 1], [0, 255]])], num_labels=2)
    assert scores["mean_iou"] == 0.5

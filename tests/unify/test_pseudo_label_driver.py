import dataclasses
import io
import json
import logging
import shutil

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from unify.build import build_dataset
from unify.core.constants import IGNORE_INDEX, IMAGE, IMAGE_ID, LABEL, REPORT_FILE, TEACHER_VOIDED
from unify.core.errors import BadSampleError, UnifyError
from unify.core.folder import FolderMetadata, load_split, split_shards
from unify.core.images import encode_label, encode_png
from unify.core.mapping import LabelMapping, get_mapping
from unify.core.pseudo_label_kernel import PseudoLabels
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.pseudo_label_driver import (
    LabellingOptions,
    batches_by_size,
    pseudo_label_dataset,
    view_batched_probabilities,
)
from unify.pseudo_label_driver.tally import Tally


@pytest.fixture(scope="module")
def coarse_and_teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelling")
    build_dataset("synthetic_driving", root / "coarse", config="coarse", splits=(("train", 5),))
    torch.manual_seed(0)
    Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine")).save(root / "teacher")
    return root / "coarse", root / "teacher"


@pytest.fixture(scope="module")
def labelled(coarse_and_teacher, tmp_path_factory):
    """The coarse folder labelled with default options in shards of 2 images, and its report; copy it to change it."""
    data, teacher = coarse_and_teacher
    out = tmp_path_factory.mktemp("labelled") / "out"
    return out, pseudo_label_dataset(str(teacher), data, out, LabellingOptions(taxonomy="synthetic_fine", shard_size=2))


def folder_bytes(folder) -> dict[str, bytes]:
    """Every file under `folder` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def modification_times(folder) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((folder / "data").glob("*.parquet"))}


def rewrite_rows(folder, change, split: str = "train") -> None:
    """Rewrite the shard of a built folder's split with `change(rows)` applied to its rows (encoded records)."""
    (path,) = split_shards(folder)[split]
    table = datasets.Dataset.from_parquet(str(path))
    rows = list(load_split(folder, split, decode=False))
    change(rows)
    datasets.Dataset.from_list(rows, features=table.features).to_parquet(str(path))


def crop_row(row: dict, height: int, width: int) -> None:
    """Crop a row's image and every label column to its top-left `height` x `width` pixels, re-encoded."""
    for column, value in row.items():
        if isinstance(value, dict) and "bytes" in value:
            array = np.asarray(Image.open(io.BytesIO(value["bytes"])))[:height, :width]
            row[column] = {"bytes": encode_png(array) if column == IMAGE else encode_label(array), "path": None}


@pytest.fixture(scope="module")
def mixed_sizes(coarse_and_teacher, tmp_path_factory):
    """The coarse folder with rows 1 and 3 cropped to another size: batches must gather rows 0, 2, 4."""
    data, _ = coarse_and_teacher
    mixed = tmp_path_factory.mktemp("mixed") / "coarse"
    shutil.copytree(data, mixed)
    rewrite_rows(mixed, lambda rows: [crop_row(rows[i], 96, 200) for i in (1, 3)])
    return mixed


def test_pseudo_labels_follow_the_ground_truth_and_the_report_counts_every_pixel(labelled):
    out, report = labelled
    rows = load_split(out, "train")
    assert len(rows) == 5 and len(list((out / "data").glob("train-*.parquet"))) == 3
    tables = get_mapping("synthetic_coarse", "synthetic_fine").tables
    for row in rows:
        native, label = np.asarray(row["native_label"]), np.asarray(row["label"])
        allowed = tables.allowed.numpy()[native]  # (H, W, C)
        void = native == 0
        assert (label[void] == IGNORE_INDEX).all()
        assert allowed[~void, label[~void]].all()  # every pixel within its native class's allowed set
    pixels = sum(np.asarray(r["label"]).size for r in rows)
    assert sum(report["pixels_by_provenance"].values()) == pixels
    assert json.loads((out / REPORT_FILE).read_text())["taxonomy"] == "synthetic_fine"
    accuracy = report["pixel_accuracy_vs_fine_truth"]
    assert accuracy["constrained"] > accuracy["unconstrained"]


def test_an_interrupted_run_redoes_only_the_missing_shards_and_says_so(coarse_and_teacher, labelled, tmp_path, caplog):
    data, teacher = coarse_and_teacher
    options = LabellingOptions(taxonomy="synthetic_fine", shard_size=2)
    shutil.copytree(labelled[0], tmp_path / "out")
    shards = sorted((tmp_path / "out" / "data").glob("train-*.parquet"))
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shards}
    shards[-1].unlink()  # as if the run had stopped before its last shard
    with caplog.at_level(logging.INFO, logger="unify.pseudo_label_driver"):
        pseudo_label_dataset(str(teacher), data, tmp_path / "out", options)
    reuse = [r.getMessage() for r in caplog.records if "finished shard(s)" in r.getMessage()]
    assert len(reuse) == 1 and f"{tmp_path / 'out'}: reusing 2 finished shard(s), labelling 1 (of 3)" in reuse[0]
    after = {
        p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((tmp_path / "out" / "data").glob("*.parquet"))
    }
    assert set(after) == set(before)
    assert all(after[name] == before[name] for name in list(before)[:-1])  # finished shards untouched
    assert after[shards[-1].name][0] != before[shards[-1].name][0]
    assert len(load_split(tmp_path / "out", "train")) == 5


def test_a_teacher_of_another_taxonomy_is_refused(coarse_and_teacher, tmp_path):
    data, _ = coarse_and_teacher
    Segmenter.for_training("mit-pico", get_taxonomy("cityscapes19")).save(tmp_path / "city")
    with pytest.raises(UnifyError, match="not the 15 classes of synthetic_fine"):
        pseudo_label_dataset(
            str(tmp_path / "city"), data, tmp_path / "out", LabellingOptions(taxonomy="synthetic_fine")
        )


def test_the_report_counts_the_pixels_the_teacher_voided(coarse_and_teacher, tmp_path, monkeypatch):
    data, teacher = coarse_and_teacher
    plain = get_mapping("synthetic_coarse", "synthetic_fine")
    maybe_void = {plain.native.by_name[name].id for name in ("sidewalk", "vehicle")}  # one class and void, several
    mapping = LabelMapping(
        plain.native, plain.unified, plain.allowed, plain.comments, void_allowed=frozenset(maybe_void)
    )
    shutil.copytree(data, tmp_path / "in")  # a folder built with that mapping, which the package's file says too
    dataclasses.replace(FolderMetadata.read(tmp_path / "in"), mapping=mapping).write(tmp_path / "in")
    monkeypatch.setattr("unify.pseudo_label_driver.run.get_mapping", lambda native, unified: mapping)
    report = pseudo_label_dataset(
        str(teacher), tmp_path / "in", tmp_path / "out", LabellingOptions(taxonomy="synthetic_fine")
    )
    rows = load_split(tmp_path / "out", "train")
    native, label, provenance = (
        np.concatenate([np.asarray(r[column]).ravel() for r in rows])
        for column in ("native_label", "label", "provenance")
    )
    voided = provenance == TEACHER_VOIDED
    assert report["pixels_by_provenance"]["teacher_voided"] == int(voided.sum()) > 0
    assert report["pixels_by_provenance_and_class"]["teacher_voided"] == {"void": int(voided.sum())}
    assert sum(report["pixels_by_provenance"].values()) == label.size
    assert (label[voided] == IGNORE_INDEX).all() and np.isin(native[voided], sorted(maybe_void)).all()
    assert FolderMetadata.read(tmp_path / "out").mapping.void_allowed == maybe_void


# -- reruns: what is reused, recomputed or refused --------------------------------------------------------
def test_another_teacher_is_refused_before_any_shard_is_touched_and_overwrite_relabels_all(
    coarse_and_teacher, labelled, tmp_path
):
    data, _ = coarse_and_teacher
    out = tmp_path / "out"
    shutil.copytree(labelled[0], out)
    before = folder_bytes(out)
    times = modification_times(out)
    torch.manual_seed(1)
    Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine")).save(tmp_path / "other_teacher")
    with pytest.raises(UnifyError, match=r"teacher_sha256: \w{12} \(teacher teacher\) there.*--overwrite") as caught:
        pseudo_label_dataset(str(tmp_path / "other_teacher"), data, out, LabellingOptions(shard_size=2))
    assert "3 shard(s)" in str(caught.value) and "set by --teacher" in str(caught.value)
    assert folder_bytes(out) == before and modification_times(out) == times  # nothing touched

    report = pseudo_label_dataset(
        str(tmp_path / "other_teacher"), data, out, LabellingOptions(shard_size=2, overwrite=True)
    )
    assert all(times[name] != mtime for name, mtime in modification_times(out).items())  # every shard again
    assert report["teacher"]["name"] == "other_teacher"
    assert json.loads((out / "unify.json").read_text())["teacher"]["name"] == "other_teacher"
    fresh = pseudo_label_dataset(
        str(tmp_path / "other_teacher"), data, tmp_path / "fresh", LabellingOptions(shard_size=2)
    )
    assert fresh == report
    assert folder_bytes(out) == folder_bytes(tmp_path / "fresh")  # as if the first teacher had never been there


@pytest.mark.parametrize(
    "change, setting",
    [(dict(flip=True), "tta"), (dict(scales=(1.0, 0.5)), "tta"), (dict(dtype="bfloat16"), "precision")],
)
def test_other_test_time_augmentation_or_precision_is_refused(coarse_and_teacher, labelled, change, setting):
    data, teacher = coarse_and_teacher
    before = folder_bytes(labelled[0])
    with pytest.raises(UnifyError, match=f"{setting}: .* there, .* now.*--overwrite"):
        pseudo_label_dataset(str(teacher), data, labelled[0], LabellingOptions(shard_size=2, **change))
    assert folder_bytes(labelled[0]) == before


def test_a_changed_input_row_recomputes_only_its_shard_with_a_log_line(coarse_and_teacher, labelled, tmp_path, caplog):
    data, teacher = coarse_and_teacher
    changed = tmp_path / "coarse"
    shutil.copytree(data, changed)
    shutil.copytree(labelled[0], tmp_path / "out")
    times = modification_times(tmp_path / "out")

    def paint_row_2(rows):
        image = np.asarray(Image.open(io.BytesIO(rows[2][IMAGE]["bytes"]))).copy()
        image[:40, :80] = 255 - image[:40, :80]
        rows[2][IMAGE] = {"bytes": encode_png(image), "path": None}

    rewrite_rows(changed, paint_row_2)  # the input rebuilt with one different image, in shard 1 (rows 2, 3)
    with caplog.at_level(logging.INFO, logger="unify.pseudo_label_driver"):
        pseudo_label_dataset(str(teacher), changed, tmp_path / "out", LabellingOptions(shard_size=2))
    after = modification_times(tmp_path / "out")
    assert [name for name in times if after[name] != times[name]] == ["train-00001-of-00003.parquet"]
    assert "train-00001-of-00003.parquet: its input rows changed" in caplog.text
    pseudo_label_dataset(str(teacher), changed, tmp_path / "fresh", LabellingOptions(shard_size=2))
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "fresh")


def test_leftovers_of_a_killed_run_are_never_read_and_the_result_is_identical(coarse_and_teacher, labelled, tmp_path):
    data, teacher = coarse_and_teacher
    options = LabellingOptions(shard_size=2)
    out = tmp_path / "out"
    shutil.copytree(labelled[0], out)
    # The states a kill can leave: a half-written shard and half-written statistics, statistics whose shard
    # was never renamed into place, and shards of another shard count (another --shard-size earlier).
    (out / "data" / "train-00000-of-00003.parquet").unlink()
    (out / "data" / "train-00002-of-00003.parquet").rename(out / "data" / "train-00002-of-00003.parquet.tmp")
    (out / "stats" / "train-00002-of-00003.json.tmp").write_text('{"fingerp')
    shutil.copy(out / "data" / "train-00001-of-00003.parquet", out / "data" / "train-00000-of-00002.parquet")
    shutil.copy(out / "stats" / "train-00001-of-00003.json", out / "stats" / "train-00000-of-00002.json")
    for name in ("unify.json", REPORT_FILE):
        (out / name).write_text((out / name).read_text()[:50])  # killed while writing the folder's files
    report = pseudo_label_dataset(str(teacher), data, out, options)
    assert folder_bytes(out) == folder_bytes(labelled[0])
    assert sum(report["pixels_by_provenance"].values()) == 5 * 128 * 256


def test_a_shard_whose_statistics_lack_the_audit_counts_is_labelled_again_to_the_same_bytes(
    coarse_and_teacher, labelled, tmp_path, caplog
):
    data, teacher = coarse_and_teacher
    out = tmp_path / "out"
    shutil.copytree(labelled[0], out)
    times = modification_times(out)
    stats_file = out / "stats" / "train-00001-of-00003.json"
    stats = json.loads(stats_file.read_text())
    del stats["teacher_choices"]  # as an earlier version wrote it
    stats_file.write_text(json.dumps(stats) + "\n")
    with caplog.at_level(logging.INFO, logger="unify.pseudo_label_driver"):
        pseudo_label_dataset(str(teacher), data, out, LabellingOptions(shard_size=2))
    assert "train-00001-of-00003.parquet: its statistics lack teacher_choices" in caplog.text
    after = modification_times(out)
    assert [name for name in times if after[name] != times[name]] == ["train-00001-of-00003.parquet"]
    assert folder_bytes(out) == folder_bytes(labelled[0])


def test_the_statistics_refuse_pixels_out_of_range_once_per_shard():
    tally = Tally(num_labels=3, num_native_ids=256, device=torch.device("cpu"))
    native = torch.zeros(1, 4, 4, dtype=torch.uint8)
    label = torch.zeros(1, 4, 4, dtype=torch.uint8)
    tally.add(PseudoLabels(label, torch.zeros_like(label)), torch.zeros(1, 3, 1, 1), native, None)
    assert tally.to_json("a.parquet")["teacher_choices"] == {"0": [1, 0, 0]}
    label[0, 0, 0] = 7  # no kernel writes this: the check is for the statistics' own sake
    tally.add(PseudoLabels(label, torch.zeros_like(label)), torch.zeros(1, 3, 1, 1), native, None)
    with pytest.raises(UnifyError, match=r"b.parquet: 1 pseudo-label pixels hold a unified id outside 0..2"):
        tally.to_json("b.parquet")


def test_shards_without_statistics_are_refused_and_another_kind_of_folder_is_never_overwritten(
    coarse_and_teacher, labelled, tmp_path
):
    data, teacher = coarse_and_teacher
    shutil.copytree(labelled[0], tmp_path / "out")
    shutil.rmtree(tmp_path / "out" / "stats")
    with pytest.raises(UnifyError, match="3 shard.* without the statistics .*--overwrite"):
        pseudo_label_dataset(str(teacher), data, tmp_path / "out", LabellingOptions(shard_size=2))
    pseudo_label_dataset(str(teacher), data, tmp_path / "out", LabellingOptions(shard_size=2, overwrite=True))
    assert len(load_split(tmp_path / "out", "train")) == 5
    before = folder_bytes(data)
    for target in (data, data.parent / "copy"):
        if target != data:
            shutil.copytree(data, target)
        with pytest.raises(UnifyError, match="input folder|built dataset folder"):
            pseudo_label_dataset(str(teacher), data, target, LabellingOptions(overwrite=True))
    assert folder_bytes(data) == before


# -- splits: a run over some splits keeps the finished others; metadata, report and data/ always agree -----
@pytest.fixture(scope="module")
def two_splits(coarse_and_teacher, tmp_path_factory):
    """A coarse folder with train (3 images) and test (2), and it labelled whole in shards of 2 images."""
    _, teacher = coarse_and_teacher
    root = tmp_path_factory.mktemp("two_splits")
    build_dataset("synthetic_driving", root / "coarse", config="coarse", splits=(("train", 3), ("test", 2)))
    report = pseudo_label_dataset(str(teacher), root / "coarse", root / "all", LabellingOptions(shard_size=2))
    return root / "coarse", root / "all", report


def assert_folder_agrees(out) -> None:
    """unify.json, the report, data/ and `datasets.load_dataset` name the same splits with the same sizes."""
    shards = split_shards(out)
    declared = FolderMetadata.read(out).splits
    report = json.loads((out / REPORT_FILE).read_text())
    loaded = datasets.load_dataset(str(out), cache_dir=str(out.parent / f"{out.name}-hf-cache"))
    assert list(declared) == report["splits"] and set(declared) == set(shards) == set(loaded)
    assert {split: len(loaded[split]) for split in loaded} == declared
    assert sum(report["pixels_by_provenance"].values()) == sum(
        np.asarray(row[LABEL]).size for split in declared for row in load_split(out, split)
    )


def test_a_run_over_some_splits_keeps_the_finished_others_in_the_metadata_and_the_report(
    coarse_and_teacher, two_splits, tmp_path, caplog
):
    _, teacher = coarse_and_teacher
    data, labelled_all, report_all = two_splits
    out = tmp_path / "out"
    shutil.copytree(labelled_all, out)
    with caplog.at_level(logging.INFO, logger="unify.pseudo_label_driver"):
        report = pseudo_label_dataset(str(teacher), data, out, LabellingOptions(shard_size=2, splits=("train",)))
    assert "kept split test" in caplog.text
    assert report == report_all and report["splits"] == ["train", "test"]
    assert folder_bytes(out) == folder_bytes(labelled_all)  # nothing dropped, nothing relabelled
    assert_folder_agrees(out)


@pytest.mark.parametrize("runs", [[("train",), None], [("test",), ("train",)], [("test", "train")]])
def test_splits_labelled_over_several_runs_give_the_bytes_of_one_run_over_all(
    coarse_and_teacher, two_splits, tmp_path, runs
):
    _, teacher = coarse_and_teacher
    data, labelled_all, _ = two_splits
    for splits in runs:
        pseudo_label_dataset(str(teacher), data, tmp_path / "out", LabellingOptions(shard_size=2, splits=splits))
        assert_folder_agrees(tmp_path / "out")
    assert folder_bytes(tmp_path / "out") == folder_bytes(labelled_all)


def test_an_out_of_date_split_not_named_is_refused_before_work_and_overwrite_removes_it(
    coarse_and_teacher, two_splits, tmp_path, caplog
):
    _, teacher = coarse_and_teacher
    data, labelled_all, _ = two_splits
    only_train = LabellingOptions(shard_size=2, splits=("train",))
    out = tmp_path / "out"
    shutil.copytree(labelled_all, out)
    (out / "data" / "test-00000-of-00001.parquet").unlink()  # as if a run had been killed while labelling test
    shutil.copy(labelled_all / "data" / "train-00001-of-00002.parquet", out / "data" / "test-00000-of-00002.parquet")
    shutil.copy(labelled_all / "stats" / "train-00001-of-00002.json", out / "stats" / "test-00000-of-00002.json")
    before, times = folder_bytes(out), modification_times(out)
    unfinished = r"2 shards, 1 are missing \(e.g. test-00001-of-00002.parquet\): a run was stopped"
    with pytest.raises(UnifyError, match=rf"split test, which --splits does not name.*{unfinished}"):
        pseudo_label_dataset(str(teacher), data, out, only_train)
    assert folder_bytes(out) == before and modification_times(out) == times  # refused before any work

    changed = tmp_path / "changed"  # the input rebuilt with another test image
    shutil.copytree(data, changed)
    rewrite_rows(changed, lambda rows: rows.reverse(), split="test")
    shutil.copytree(labelled_all, tmp_path / "whole")
    with pytest.raises(UnifyError, match="test-00000-of-00001.parquet: its input rows changed"):
        pseudo_label_dataset(str(teacher), changed, tmp_path / "whole", only_train)
    assert folder_bytes(tmp_path / "whole") == folder_bytes(labelled_all)

    smaller = tmp_path / "coarse"  # the input rebuilt without its test split
    shutil.copytree(data, smaller)
    (smaller / "data" / "test-00000-of-00001.parquet").unlink()
    metadata = FolderMetadata.read(smaller)
    dataclasses.replace(metadata, splits={"train": metadata.splits["train"]}).write(smaller)
    with pytest.raises(UnifyError, match=rf"split test.*{smaller} has no split test"):
        pseudo_label_dataset(str(teacher), smaller, out, only_train)

    with caplog.at_level(logging.WARNING, logger="unify.pseudo_label_driver"):
        report = pseudo_label_dataset(str(teacher), data, out, dataclasses.replace(only_train, overwrite=True))
    assert "removed split test" in caplog.text
    assert report["splits"] == ["train"] and not list((out / "stats").glob("test-*"))
    assert_folder_agrees(out)
    assert modification_times(out) == {k: v for k, v in times.items() if k.startswith("train")}  # train reused


# -- throughput: batching and background threads keep the output exact ---------------------------------------
def test_batches_gather_each_size_across_the_shard():
    sizes = [(4, 2), (3, 1), (4, 2), (3, 1), (4, 2), (4, 2), (5, 5)]
    assert batches_by_size(sizes, 2) == [[0, 2], [4, 5], [1, 3], [6]]
    assert batches_by_size(sizes, 8) == [[0, 2, 4, 5], [1, 3], [6]]


def test_background_threads_write_byte_identical_output_in_input_order(coarse_and_teacher, mixed_sizes, tmp_path):
    _, teacher = coarse_and_teacher
    written = {}
    for workers in (0, 3):
        options = LabellingOptions(shard_size=4, batch_size=2, flip=True, workers=workers)
        pseudo_label_dataset(str(teacher), mixed_sizes, tmp_path / f"w{workers}", options)
        written[workers] = folder_bytes(tmp_path / f"w{workers}")
    assert written[0] == written[3]
    rows = load_split(tmp_path / "w3", "train")
    assert rows[IMAGE_ID] == load_split(mixed_sizes, "train")[IMAGE_ID]  # the input's order, not the batches'
    assert [np.asarray(r[LABEL]).shape for r in rows] == [(128, 256), (96, 200), (128, 256), (96, 200), (128, 256)]


def test_errors_in_background_threads_reach_the_caller(coarse_and_teacher, tmp_path):
    data, teacher = coarse_and_teacher
    broken = tmp_path / "coarse"
    shutil.copytree(data, broken)

    def shrink_label_of_row_3(rows):
        label = np.asarray(Image.open(io.BytesIO(rows[3][LABEL]["bytes"])))[:64]
        rows[3][LABEL] = {"bytes": encode_label(label), "path": None}

    rewrite_rows(broken, shrink_label_of_row_3)
    image_id = load_split(broken, "train")[IMAGE_ID][3]
    for workers in (0, 2):
        with pytest.raises(BadSampleError, match=f"{image_id}.*label is 256x64 but the image is 256x128"):
            pseudo_label_dataset(str(teacher), broken, tmp_path / f"out{workers}", LabellingOptions(workers=workers))


def test_flipped_views_in_one_forward_equal_the_unbatched_test_time_augmentation(coarse_and_teacher):
    _, teacher = coarse_and_teacher
    segmenter = Segmenter.load(teacher, device="cpu")
    pixels = segmenter.preprocess(
        torch.randint(0, 256, (3, 3, 96, 160), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    )
    with torch.inference_mode():
        for scales in ((1.0,), (0.5, 1.0, 1.5)):
            batched = view_batched_probabilities(segmenter, pixels, scales, flip=True)
            torch.testing.assert_close(batched, segmenter.probabilities(pixels, scales, flip=True), rtol=0, atol=1e-6)
        assert torch.equal(
            view_batched_probabilities(segmenter, pixels, (1.0,), flip=False),
            segmenter.probabilities(pixels, (1.0,), flip=False),
        )


def test_bad_options_are_refused():
    with pytest.raises(UnifyError, match="dtype must be one of float32, bfloat16.*'float8'"):
        LabellingOptions(dtype="float8")
    with pytest.raises(UnifyError, match="workers must be >= 0, got -1"):
        LabellingOptions(workers=-1)
    with pytest.raises(UnifyError, match="shard_size must be >= 1, got 0"):
        LabellingOptions(shard_size=0)


def test_bfloat16_teacher_runs_on_the_cpu_and_agrees_with_float32_almost_everywhere(
    coarse_and_teacher, labelled, tmp_path
):
    data, teacher = coarse_and_teacher
    pseudo_label_dataset(str(teacher), data, tmp_path / "bf16", LabellingOptions(shard_size=2, dtype="bfloat16"))
    float32, bfloat16 = load_split(labelled[0], "train"), load_split(tmp_path / "bf16", "train")
    agreement = np.mean(
        [(np.asarray(a[LABEL]) == np.asarray(b[LABEL])).mean() for a, b in zip(float32, bfloat16, strict=True)]
    )
    assert 0.98 < agreement < 1  # bfloat16 rounds the teacher's scores: a few near-ties go the other way
    stats = json.loads((tmp_path / "bf16" / "stats" / "train-00000-of-00003.json").read_text())
    assert stats["fingerprint"]["settings"]["precision"] == "bfloat16"

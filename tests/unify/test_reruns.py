"""Every command reads what the user gave it: changed raw files, a changed mapping, sources of another taxonomy."""

import json
import logging

import numpy as np
import pytest
from PIL import Image

import unify
from unify.build import build_dataset
from unify.core.errors import UnifyError
from unify.core.folder import FolderMetadata
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.pseudo_label_driver import LabellingOptions, pseudo_label_dataset
from unify.pseudo_label_driver.run import rebuild_command

CITYSCAPES_IDS = [0, 7, 8, 11, 21, 23, 26]


def kitti_frame(root, stem: str, seed: int, size=(32, 48)) -> None:
    """One KITTI semantics training frame: a PNG photo and its Cityscapes-id label."""
    rng = np.random.default_rng(seed)
    for folder, array in (
        ("image_2", rng.integers(0, 256, (*size, 3), dtype=np.uint8)),
        ("semantic", rng.choice(CITYSCAPES_IDS, size=size).astype(np.uint8)),
    ):
        (root / "training" / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(root / "training" / folder / f"{stem}.png")


def test_load_dataset_rebuilds_when_the_raw_files_change(tmp_path):
    raw = tmp_path / "kitti"
    kitti_frame(raw, "000000_10", 0)
    first = unify.load_dataset("kitti", data_dir=raw, split="train", cache_dir=tmp_path / "cache")
    assert len(first) == 1
    kitti_frame(raw, "000001_10", 1)  # a frame added
    assert len(unify.load_dataset("kitti", data_dir=raw, split="train", cache_dir=tmp_path / "cache")) == 2
    label = raw / "training" / "semantic" / "000000_10.png"  # a label corrected in place
    corrected = np.full((32, 48), 7, dtype=np.uint8)
    Image.fromarray(corrected).save(label)
    rows = unify.load_dataset("kitti", data_dir=raw, split="train", cache_dir=tmp_path / "cache")
    assert np.array_equal(np.asarray(rows[0]["label"]), corrected)
    assert len(list((tmp_path / "cache" / "kitti").iterdir())) == 1  # one entry, rebuilt in place


def test_the_build_log_names_the_real_configuration(tmp_path, caplog):
    raw = tmp_path / "kitti"
    kitti_frame(raw, "000000_10", 0)
    (raw / "testing" / "image_2").mkdir(parents=True)
    (raw / "testing" / "image_2" / "000000_10.png").write_bytes(b"\x89PNG not really")  # its split is skipped whole
    caplog.set_level(logging.INFO, logger="unify.build")
    report = build_dataset("kitti", tmp_path / "out", data_dir=raw, skip_bad=True)
    assert report.num_examples == {"train": 1} and report.config != "None"
    assert f"kitti/{report.config}: every sample of split 'test' was skipped" in caplog.text
    assert f"built kitti/{report.config} into" in caplog.text and "None" not in caplog.text


@pytest.fixture(scope="module")
def coarse_and_teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("reruns")
    build_dataset("synthetic_driving", root / "coarse", config="coarse", splits=(("train", 2),))
    Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine")).save(root / "teacher")
    return root / "coarse", root / "teacher"


def test_pseudo_labelling_refuses_a_folder_whose_recorded_mapping_is_not_the_packages(coarse_and_teacher, tmp_path):
    data, teacher = coarse_and_teacher
    edited = tmp_path / "coarse"
    import shutil

    shutil.copytree(data, edited)
    record = json.loads((edited / "unify.json").read_text())
    vehicle = next(m for m in record["mapping"] if m["native_name"] == "vehicle")
    vehicle["allowed"] = vehicle["allowed"][:1]  # as if the package's file had said `vehicle : car` at build time
    (edited / "unify.json").write_text(json.dumps(record))
    with pytest.raises(UnifyError) as caught:
        pseudo_label_dataset(str(teacher), edited, tmp_path / "out", LabellingOptions())
    message = str(caught.value)
    assert "'vehicle': car here, car, truck, bus there" in message
    assert f"unify build synthetic_driving --config coarse --taxonomy synthetic_fine --output {edited}" in message
    assert not (tmp_path / "out" / "data").exists() or not any((tmp_path / "out" / "data").iterdir())


def test_pseudo_labelling_into_a_taxonomy_the_native_one_does_not_map_to_lists_those_it_does(
    coarse_and_teacher, tmp_path
):
    data, teacher = coarse_and_teacher
    with pytest.raises(UnifyError) as caught:
        pseudo_label_dataset(str(teacher), data, tmp_path / "out", LabellingOptions(taxonomy="cityscapes19"))
    message = str(caught.value)
    assert "built for the unified taxonomy synthetic_fine, not cityscapes19" in message
    assert "no mapping from its native taxonomy synthetic_coarse to cityscapes19" in message
    assert "synthetic_coarse maps into: synthetic_fine;" in message
    assert "unify build" not in message  # no rebuild can give cityscapes19 labels


def test_pseudo_labelling_into_another_mapped_taxonomy_names_a_rebuild_that_works(tmp_path):
    raw = tmp_path / "kitti"
    kitti_frame(raw, "000000_10", 0)
    report = build_dataset("kitti", tmp_path / "built", data_dir=raw)  # cityscapes ids -> cityscapes19
    with pytest.raises(UnifyError) as caught:
        pseudo_label_dataset("unused", tmp_path / "built", tmp_path / "out", LabellingOptions(taxonomy="mapillary63"))
    assert str(caught.value).endswith(
        f"rebuild it for mapillary63: unify build kitti --config {report.config} --taxonomy mapillary63 "
        f"--data-dir RAW --output {tmp_path / 'built'} (RAW: your raw kitti folder)"
    )


def test_a_rebuild_of_the_synthetic_dataset_names_no_raw_folder(coarse_and_teacher, tmp_path):
    data, _ = coarse_and_teacher
    metadata = FolderMetadata.read(data)
    assert rebuild_command(metadata, "synthetic_fine", data) == (
        f"unify build synthetic_driving --config coarse --taxonomy synthetic_fine --output {data}"
    )


@pytest.mark.parametrize("run_taxonomy", ["cityscapes19", "offroad34"])
def test_training_refuses_a_source_of_another_taxonomy_before_step_one(coarse_and_teacher, tmp_path, run_taxonomy):
    from train.config import TrainConfig
    from train.loop import train

    data, _ = coarse_and_teacher
    config = TrainConfig(
        output_dir=str(tmp_path / "run"),
        taxonomy=run_taxonomy,
        model="mit-pico",
        train_data=[{"path": str(data), "name": "coarse"}],
        steps=2,
        warmup_steps=0,
        crop_size=(32, 32),
        num_workers=0,
        checkpoint_every=0,
    )
    with pytest.raises(
        UnifyError,
        match=rf"data source coarse \(.*\) holds labels in the synthetic_fine taxonomy "
        rf"\(15 classes\) but the run trains {run_taxonomy}",
    ):
        train(config)
    assert not (tmp_path / "run" / "log.jsonl").exists()

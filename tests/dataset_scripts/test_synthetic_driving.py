import datasets
import numpy as np
import pytest

from dataset_scripts.synthetic_driving import SyntheticDriving
from dataset_scripts.synthetic_scenes import render_scene
from fixtures import expected_unified
from unify import read_metadata
from unify.build import build_dataset
from unify.core.errors import BadSampleError, UnifyError
from unify.core.folder import FolderMetadata
from unify.core.taxonomy import get_taxonomy


def build(tmp_path, config, splits, **kwargs):
    return build_dataset("synthetic_driving", tmp_path / config, config=config, splits=splits, **kwargs)


def test_scenes_are_deterministic_and_varied():
    image_a, label_a = render_scene(3)
    image_b, label_b = render_scene(3)
    assert np.array_equal(image_a, image_b) and np.array_equal(label_a, label_b)
    _, other = render_scene(4)
    assert not np.array_equal(label_a, other)
    assert len(np.unique(label_a)) >= 6


def test_parquet_round_trip_is_lossless_and_carries_metadata(tmp_path):
    report = build(tmp_path, "coarse", (("train", 3),))
    assert report.num_examples == {"train": 3} and report.skipped == []
    ds = datasets.load_dataset(str(tmp_path / "coarse"), split="train")
    assert ds.column_names == ["image", "label", "unified_label", "image_id", "dataset", "fine_label"]
    row = ds[0]
    _, fine = render_scene(1_000_000, SyntheticDriving.BUILDER_CONFIGS[1].camera)
    assert np.array_equal(np.asarray(row["fine_label"]), fine)
    native = np.asarray(row["label"])
    # the coarse policy, class by class: merged classes take the coarse name, the bonnet is the ego vehicle
    fine_names, coarse = get_taxonomy("synthetic_fine"), get_taxonomy("synthetic_coarse").by_name
    for fine_class, coarse_class in (
        ("road", "drivable"),
        ("lane marking", "drivable"),
        ("car", "vehicle"),
        ("person", "human"),
        ("sky", "sky"),
        ("void", "ego vehicle"),
    ):
        where = fine == fine_names.by_name[fine_class].id
        assert where.any() and (native[where] == coarse[coarse_class].id).all(), fine_class
    assert np.array_equal(
        np.asarray(row["unified_label"]), expected_unified(native, "synthetic_coarse", "synthetic_fine")
    )
    # the metadata travels with the data, readable without this package
    classes = datasets.load_dataset(str(tmp_path / "coarse"), "unified_classes", split="train")
    assert classes[0] == {"id": 0, "name": "road", "color": [128, 64, 128], "ignore": False}
    allowed = datasets.load_dataset(str(tmp_path / "coarse"), "label_mapping", split="train")
    assert allowed[allowed["native_name"].index("vehicle")]["allowed"] == [12, 13, 14]
    metadata = read_metadata(tmp_path / "coarse")
    assert metadata.native_taxonomy.name == "synthetic_coarse" and metadata.unified_taxonomy.name == "synthetic_fine"


def test_builds_are_byte_identical(tmp_path):
    build(tmp_path / "a", "shifted", (("train", 2),))
    build(tmp_path / "b", "shifted", (("train", 2),))
    rows_a = datasets.load_dataset(str(tmp_path / "a" / "shifted"), split="train")
    rows_b = datasets.load_dataset(str(tmp_path / "b" / "shifted"), split="train")
    cast = lambda d: d.cast_column("image", datasets.Image(decode=False))  # noqa: E731
    assert list(cast(rows_a)["image"]) == list(cast(rows_b)["image"])
    assert list(rows_a["image_id"]) == ["shifted_2000000", "shifted_2000001"]


def test_shifted_has_unlabeled_regions_and_a_domain_shift(tmp_path):
    build(tmp_path, "shifted", (("train", 6),))
    ds = datasets.load_dataset(str(tmp_path / "shifted"), split="train")
    labels = [np.asarray(r) for r in list(ds["label"])]
    assert any((label == 0).any() for label in labels)  # "unlabeled" needs the teacher
    assert np.asarray(ds[0]["image"]).shape == (160, 240, 3)


def test_unknown_label_ids_stop_the_build_or_are_listed_with_skip_bad(tmp_path, monkeypatch):
    original = SyntheticDriving.read_sample
    corrupted = {"seeds": range(1_000_000, 1_000_003)}  # the seeds whose label gets an id outside the table

    def corrupt(self, sample):
        loaded = original(self, sample)
        if sample.extra["seed"] in corrupted["seeds"]:
            loaded.label[0, 0] = 77
        return loaded

    monkeypatch.setattr(SyntheticDriving, "read_sample", corrupt)
    with pytest.raises(BadSampleError, match=r"label ids \[77\] are not in the synthetic_coarse taxonomy"):
        build(tmp_path, "coarse", (("train", 2),))
    # every sample skipped: an empty dataset is no success
    with pytest.raises(UnifyError, match=r"every sample was skipped \(3 in all\).*\n.*label ids \[77\]"):
        build(tmp_path, "coarse", (("train", 2), ("validation", 1)), skip_bad=True)
    assert not (tmp_path / "coarse").exists()
    # some skipped: the build succeeds with the others and lists exactly those
    corrupted["seeds"] = (1_000_001, 1_000_004)
    report = build(tmp_path, "coarse", (("train", 6),), skip_bad=True)
    assert [(s.image_id, s.file) for s in report.skipped] == [
        ("coarse_1000001", "1000001.png"),
        ("coarse_1000004", "1000004.png"),
    ]
    assert all(s.reason.startswith("label ids [77] are not in the synthetic_coarse taxonomy") for s in report.skipped)
    written = datasets.load_dataset(str(tmp_path / "coarse"), split="train")["image_id"]
    assert sorted(written) == ["coarse_1000000", "coarse_1000002", "coarse_1000003", "coarse_1000005"]
    assert FolderMetadata.read(tmp_path / "coarse").skipped == report.skipped

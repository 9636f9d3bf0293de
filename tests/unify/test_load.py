import numpy as np

import unify


def test_load_dataset_builds_once_then_reads_the_cache(tmp_path):
    ds = unify.load_dataset("synthetic_driving", split="validation", config="source", cache_dir=tmp_path)
    assert len(ds) == 32 and ds[0]["dataset"] == "synthetic_driving"
    cached = list((tmp_path / "synthetic_driving").iterdir())
    assert len(cached) == 1
    again = unify.load_dataset(cached[0])
    assert set(again) == {"train", "validation"}
    assert np.array_equal(np.asarray(again["validation"][0]["label"]), np.asarray(ds[0]["label"]))
    assert unify.read_metadata(cached[0]).unified_taxonomy.name == "synthetic_fine"

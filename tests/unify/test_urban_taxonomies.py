"""The urban native tables: sizes, id ranges and a few anchor facts of the official definitions."""

from __future__ import annotations

import pytest

from unify.core.taxonomy import get_taxonomy


@pytest.mark.parametrize(
    ("name", "count", "ids"),
    [
        ("bdd100k", 20, [*range(19), 255]),
        ("idd", 27, [*range(26), 255]),
        ("mapillary_vistas_v2", 124, list(range(124))),
        ("wilddash2", 81, list(range(81))),
        ("acdc", 35, [*range(34), 255]),
    ],
)
def test_ids(name, count, ids):
    taxonomy = get_taxonomy(name)
    assert len(taxonomy.classes) == count
    assert sorted(c.id for c in taxonomy.classes) == ids


def test_acdc_is_cityscapes_plus_invalid():
    acdc, cityscapes = get_taxonomy("acdc"), get_taxonomy("cityscapes")
    assert acdc.classes[:-1] == cityscapes.classes
    assert acdc.by_id[255].name == "invalid" and acdc.by_id[255].ignore


def test_vistas_v2_shares_colours_so_labels_are_indices():
    v2 = get_taxonomy("mapillary_vistas_v2")
    white = [c.name for c in v2.classes if c.color == (255, 255, 255)]
    assert "marking--continuous--dashed" in white and "marking--continuous--solid" in white
    lights = {c.color for c in v2.classes if c.name.startswith("object--traffic-light--")}
    assert lights == {(250, 170, 30)}


def test_idd_level3_names_follow_the_evaluation_script():
    idd = get_taxonomy("idd")
    assert [c.name for c in idd.classes[:5]] == [
        "road",
        "drivable fallback",
        "sidewalk",
        "non-drivable fallback",
        "person",
    ]
    assert idd.by_id[255].ignore


def test_bdd100k_uses_cityscapes_colours():
    bdd, cityscapes19 = get_taxonomy("bdd100k"), get_taxonomy("cityscapes19")
    assert [(c.name, c.color) for c in bdd.trainable] == [(c.name, c.color) for c in cityscapes19.trainable]

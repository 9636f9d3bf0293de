"""Every urban mapping added with the urban builders passes `unify mappings check`, and keeps its promises."""

from __future__ import annotations

import pytest

from unify.cli import main
from unify.core.constants import FROM_GROUND_TRUTH, IGNORED, TEACHER_FILLED
from unify.core.mapping import get_mapping, list_mappings
from unify.core.taxonomy import get_taxonomy

NATIVES = ["cityscapes", "acdc", "mapillary_vistas", "mapillary_vistas_v2", "bdd100k", "idd", "wilddash2"]
UNIFIED = ["cityscapes19", "mapillary63"]
PAIRS = [(native, unified) for native in NATIVES for unified in UNIFIED]


def test_every_pair_is_registered():
    assert set(PAIRS) <= set(list_mappings())


@pytest.mark.parametrize(("native", "unified"), PAIRS)
def test_mappings_check(native, unified, capsys):
    assert main(["mappings", "check", native, unified]) == 0
    out = capsys.readouterr().out
    count = len(get_taxonomy(native).classes)
    assert f"{native} -> {unified}: {count} native classes, all accounted for" in out


@pytest.mark.parametrize(("native", "unified"), PAIRS)
def test_camera_void_is_void_and_unlabeled_is_filled_in(native, unified):
    mapping = get_mapping(native, unified)
    for c in mapping.native.classes:
        if c.name in {
            "ego vehicle",
            "egovehicle",
            "void--ego-vehicle",
            "void--car-mount",
            "dashcammount",
            "out of roi",
            "outofroi",
            "rectification border",
            "overlay",
            "invalid",
        }:
            assert mapping.kind(c.id) == IGNORED, c.name
        if c.name in {"unlabeled", "void--unlabeled"}:
            assert mapping.kind(c.id) == TEACHER_FILLED, c.name


@pytest.mark.parametrize("native", NATIVES)
def test_every_cityscapes19_class_can_come_from_ground_truth_or_a_choice(native):
    mapping = get_mapping(native, "cityscapes19")
    reached = {u for ids in mapping.allowed.values() if len(ids) < mapping.unified.num_labels for u in ids}
    assert reached == {c.id for c in mapping.unified.trainable}


@pytest.mark.parametrize("unified", UNIFIED)
def test_acdc_maps_cityscapes_ids_exactly_as_cityscapes(unified):
    acdc, cityscapes = get_mapping("acdc", unified), get_mapping("cityscapes", unified)
    assert {i: acdc.allowed[i] for i in cityscapes.allowed} == cityscapes.allowed
    assert acdc.void_allowed == cityscapes.void_allowed
    assert acdc.kind(get_taxonomy("acdc").by_name["invalid"].id) == IGNORED


def test_cityscapes_to_cityscapes19_is_the_official_train_id_conversion():
    mapping = get_mapping("cityscapes", "cityscapes19")
    single = {
        c.name: mapping.unified.by_id[mapping.allowed[c.id][0]].name
        for c in mapping.native.classes
        if mapping.kind(c.id) == FROM_GROUND_TRUTH
    }
    assert single == {c.name: c.name for c in mapping.native.classes if not c.ignore}


def test_vistas_v12_is_mapillary63_itself():
    mapping = get_mapping("mapillary_vistas", "mapillary63")
    for c in mapping.native.classes:
        if not c.name.startswith("void--"):
            assert [mapping.unified.by_id[i].name for i in mapping.allowed[c.id]] == [c.name]


def test_bdd100k_train_ids_are_cityscapes19_ids():
    mapping = get_mapping("bdd100k", "cityscapes19")
    assert all(mapping.allowed[i] == (i,) for i in range(19))

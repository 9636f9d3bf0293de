"""The unified off-road taxonomy and every mapping into it."""

from __future__ import annotations

import json

import pytest

from dataset_scripts import get_builder_class
from unify.cli import main
from unify.core.constants import FROM_GROUND_TRUTH
from unify.core.mapping import get_mapping, list_mappings
from unify.core.taxonomy import get_taxonomy

OFFROAD_BUILDERS = ["goose", "rellis3d", "rugd", "ycor", "freiburg_forest", "tas500", "wildscenes"]
OFFROAD34 = [
    "asphalt",
    "rough drivable ground",
    "cobble",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "tree",
    "non-drivable vegetation",
    "crops",
    "water",
    "high grass",
    "low grass",
    "guard rail",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "trailer",
    "caravan",
    "on-rails",
    "motorcycle",
    "bicycle",
    "road marking",
    "bridge",
    "tunnel",
    "rock",
    "snow",
    "animal",
]


def test_offroad34_has_the_papers_34_classes_in_order_plus_void():
    taxonomy = get_taxonomy("offroad34")
    taxonomy.require_unified()
    assert [c.name for c in taxonomy.trainable] == OFFROAD34
    assert [(c.id, c.name) for c in taxonomy.classes if c.ignore] == [(255, "void")]
    assert len({c.color for c in taxonomy.classes}) == len(taxonomy.classes)


def test_every_offroad_dataset_and_the_urban_sources_map_into_offroad34():
    natives = {native for native, unified in list_mappings() if unified == "offroad34"}
    assert natives >= {*OFFROAD_BUILDERS, "cityscapes", "mapillary_vistas"}


def test_goose_teaches_every_offroad34_class_from_ground_truth():
    """The teacher learns from GOOSE: each unified class needs a GOOSE class that maps to it alone."""
    mapping = get_mapping("goose", "offroad34")
    taught = {mapping.allowed[i][0] for i in mapping.allowed if mapping.kind(i) == FROM_GROUND_TRUTH}
    assert [c.name for c in mapping.unified.trainable if c.id not in taught] == []


@pytest.mark.parametrize("name", OFFROAD_BUILDERS)
def test_each_builder_uses_its_own_taxonomy_and_defaults_to_offroad34(name):
    builder = get_builder_class(name)
    assert builder.DEFAULT_UNIFIED_TAXONOMY == "offroad34"
    assert {config.native_taxonomy for config in builder.BUILDER_CONFIGS} == {name}
    get_mapping(name, builder.DEFAULT_UNIFIED_TAXONOMY)


def test_taxonomies_show_goose_prints_its_64_classes(capsys):
    assert main(["taxonomies", "show", "goose", "--json"]) == 0
    classes = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in classes] == list(range(64))
    assert classes[23] == {"id": 23, "name": "asphalt", "color": [255, 47, 128], "ignore": False}

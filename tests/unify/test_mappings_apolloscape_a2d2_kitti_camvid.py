"""The mappings of ApolloScape, A2D2, KITTI, KITTI-360 and CamVid into both unified urban taxonomies."""

import pytest

from unify.core.mapping import get_mapping, list_mappings, mapping_path
from unify.core.taxonomy import get_taxonomy

NATIVE = ["apolloscape", "a2d2", "kitti360", "camvid", "camvid11"]
UNIFIED = ["cityscapes19", "mapillary63"]
PAIRS = [(n, u) for n in NATIVE for u in UNIFIED]


def test_every_pair_is_registered():
    assert set(PAIRS) <= set(list_mappings())  # each then passes test_mapping's checks of every shipped mapping


@pytest.mark.parametrize("native,unified", PAIRS)
def test_voiding_a_class_the_dataset_evaluates_is_explained(native, unified):
    mapping = get_mapping(native, unified)
    unexplained = [
        c.name
        for c in mapping.native.classes
        if not c.ignore and not mapping.allowed[c.id] and not mapping.comments.get(c.id)
    ]
    assert unexplained == []


@pytest.mark.parametrize("unified", UNIFIED)
@pytest.mark.parametrize(
    "native,unlabeled",
    [("apolloscape", "unlabeled"), ("kitti360", "unlabeled"), ("camvid", "Void"), ("camvid11", "unlabeled")],
)
def test_what_annotators_left_unlabeled_is_filled_in(native, unlabeled, unified):
    mapping = get_mapping(native, unified)  # A2D2 has no such class: it labels every pixel
    assert len(mapping.allowed[mapping.native.by_name[unlabeled].id]) == mapping.unified.num_labels


@pytest.mark.parametrize("unified", UNIFIED)
def test_camvid11_maps_each_class_as_camvid_does(unified):
    eleven, full = get_mapping("camvid11", unified), get_mapping("camvid", unified)
    for c in eleven.native.classes:
        if c.name != "unlabeled":
            full_id = full.native.by_name[c.name].id
            assert eleven.allowed[c.id] == full.allowed[full_id], c.name
            assert (c.id in eleven.void_allowed) == (full_id in full.void_allowed), c.name


@pytest.mark.parametrize("taxonomy", ["a2d2", "camvid", "camvid11"])
def test_colour_coded_classes_have_distinct_colours(taxonomy):
    classes = get_taxonomy(taxonomy).classes
    assert len({c.color for c in classes}) == len(classes)


@pytest.mark.parametrize("unified", UNIFIED)
def test_kitti_shares_the_cityscapes_mappings(unified):
    if not mapping_path("cityscapes", unified).is_file():
        pytest.skip("the cityscapes mappings come with the cityscapes builder")
    assert ("kitti", unified) in list_mappings()
    kitti, cityscapes = get_mapping("kitti", unified), get_mapping("cityscapes", unified)
    assert (kitti.allowed, kitti.void_allowed) == (cityscapes.allowed, cityscapes.void_allowed)


@pytest.mark.parametrize(
    "taxonomy,class_id,name,color,ignore",
    [
        ("apolloscape", 50, "siderwalk", (192, 128, 64), False),  # the authors' spelling and label_apollo.py colour
        ("apolloscape", 168, "tricycle_group", (128, 128, 192), False),
        ("apolloscape", 255, "unlabeled", (255, 255, 255), True),
        ("a2d2", 0, "Car 1", (255, 0, 0), False),  # first entry of class_list.json
        ("a2d2", 46, "Ego car", (72, 209, 204), True),
        ("a2d2", 54, "Rain dirt", (53, 46, 82), True),  # last entry
        ("kitti360", 34, "garage", (64, 128, 128), True),
        ("kitti360", 44, "unknown object", (32, 32, 32), True),
        ("camvid", 17, "Road", (128, 64, 128), False),
        ("camvid", 30, "Void", (0, 0, 0), True),
        ("camvid11", 10, "Bicyclist", (0, 128, 192), False),  # last of mseg-api's camvid-11 list
    ],
)
def test_class_tables_keep_the_official_facts(taxonomy, class_id, name, color, ignore):
    c = get_taxonomy(taxonomy).by_id[class_id]
    assert (c.name, c.color, c.ignore) == (name, color, ignore)


@pytest.mark.parametrize(
    "taxonomy,count", [("apolloscape", 36), ("a2d2", 55), ("kitti360", 45), ("camvid", 32), ("camvid11", 12)]
)
def test_class_tables_are_complete(taxonomy, count):
    assert len(get_taxonomy(taxonomy).classes) == count

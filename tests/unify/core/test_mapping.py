import json

import pytest

from unify.cli import main
from unify.core.constants import FROM_GROUND_TRUTH, IGNORE_INDEX, IGNORED, TEACHER_CHOSE, TEACHER_FILLED
from unify.core.errors import DataFileError, UnifyError
from unify.core.mapping import LabelMapping, get_mapping, list_mappings, parse_mapping
from unify.core.taxonomy import parse_taxonomy

NATIVE = (
    "id,name,color,ignore\n0,unlabeled,#000000,false\n3,road,#804080,false\n5,vehicle,#00008e,false\n"
    "9,hood,#202020,true\n"
)
UNIFIED = (
    "id,name,color,ignore\n0,road,#804080,false\n1,car,#00008e,false\n2,truck,#000046,false\n"
    "3,sky,#4682b4,false\n255,void,#000000,true\n"
)


@pytest.fixture
def taxonomies(tmp_path):
    (tmp_path / "native.csv").write_text(NATIVE)
    (tmp_path / "unified.csv").write_text(UNIFIED)
    return parse_taxonomy(tmp_path / "native.csv"), parse_taxonomy(tmp_path / "unified.csv")


def parse(tmp_path, taxonomies, text):
    path = tmp_path / "map.txt"
    path.write_text(text)
    return parse_mapping(path, *taxonomies)


GOOD = """# native -> unified
unlabeled : *
road      : road          # one-to-one
vehicle   : car, truck    # coarse class
hood      : void
"""


def test_every_kind_of_line_compiles_into_lookup_tables(tmp_path, taxonomies):
    mapping = parse(tmp_path, taxonomies, GOOD)
    assert mapping.allowed == {0: (0, 1, 2, 3), 3: (0,), 5: (1, 2), 9: ()}
    assert mapping.comments[5] == "coarse class"
    tables = mapping.tables
    assert tables.allowed.shape == (256, 4)
    assert tables.allowed[5].tolist() == [False, True, True, False]
    assert tables.single[[0, 3, 5, 9]].tolist() == [IGNORE_INDEX, 0, IGNORE_INDEX, IGNORE_INDEX]
    assert tables.provenance[[0, 3, 5, 9]].tolist() == [TEACHER_FILLED, FROM_GROUND_TRUTH, TEACHER_CHOSE, IGNORED]
    assert tables.known.nonzero().flatten().tolist() == [0, 3, 5, 9]
    assert not bool(tables.void_allowed.any()) and mapping.void_allowed == frozenset()
    assert mapping.coverage() == {
        "one_to_one": ["road"],
        "one_to_many": ["vehicle"],
        "fill_in": ["unlabeled"],
        "maybe_void": [],
        "void": ["hood"],
    }


VOID_BESIDE = """unlabeled : *, void
road      : road, void        # one class and void: the teacher keeps it or voids the pixel
vehicle   : void, car, truck  # void may stand anywhere in the list
hood      : void
"""


def test_void_beside_classes_is_a_flag_beside_the_allowed_classes(tmp_path, taxonomies):
    mapping = parse(tmp_path, taxonomies, VOID_BESIDE)
    assert mapping.allowed == {0: (0, 1, 2, 3), 3: (0,), 5: (1, 2), 9: ()}
    assert mapping.void_allowed == {0, 3, 5}
    assert mapping.comments[3] == "one class and void: the teacher keeps it or voids the pixel"
    tables = mapping.tables
    assert tables.void_allowed[[0, 3, 5, 9]].tolist() == [True, True, True, False]
    assert int(tables.void_allowed.sum()) == 3
    # One class beside void is the teacher's decision, never copied from the ground truth.
    assert tables.single[[0, 3, 5, 9]].tolist() == [IGNORE_INDEX] * 4
    assert tables.provenance[[0, 3, 5, 9]].tolist() == [TEACHER_FILLED, TEACHER_CHOSE, TEACHER_CHOSE, IGNORED]
    assert [mapping.kind(i) for i in (0, 3, 5, 9)] == [TEACHER_FILLED, TEACHER_CHOSE, TEACHER_CHOSE, IGNORED]
    assert mapping.coverage() == {
        "one_to_one": [],
        "one_to_many": [],
        "fill_in": [],
        "maybe_void": ["unlabeled", "road", "vehicle"],
        "void": ["hood"],
    }
    records = {r["native_name"]: r for r in mapping.to_json()}
    assert records["road"] == {
        "native_id": 3,
        "native_name": "road",
        "allowed": [0],
        "provenance": "teacher_chose",
        "void_allowed": True,
    }
    assert [records[n]["void_allowed"] for n in ("unlabeled", "vehicle", "hood")] == [True, True, False]
    assert records["hood"]["allowed"] == [] and records["hood"]["provenance"] == "ignored"
    assert mapping.tables.to("cpu").void_allowed.tolist() == tables.void_allowed.tolist()


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "unlabeled : *\nroad : road\nroad : car\nvehicle : car\nhood : void\n",
            "line 3: 'road' is already mapped on line 2",
        ),
        (
            "unlabeled : *\nroad : raod\nvehicle : car\nhood : void\n",
            "line 2: unknown unified class 'raod' (did you mean 'road'?)",
        ),
        (
            "unlabeled : *\nrood : road\nroad : road\nvehicle : car\nhood : void\n",
            "line 2: unknown native class 'rood' (did you mean 'road'?)",
        ),
        (
            "unlabeled : *, car\nroad : road\nvehicle : car\nhood : void\n",
            "line 1: '*' already allows every class: only 'void' may stand beside it, got '*, car'",
        ),
        ("unlabeled : *, void, car\nroad : road\nvehicle : car\nhood : void\n", "only 'void' may stand beside it"),
        ("unlabeled : *\nroad road\nroad : road\nvehicle : car\nhood : void\n", "line 2: expected '<native class> :"),
        ("unlabeled : *\nroad : road,\nvehicle : car\nhood : void\n", "line 2: empty unified class name"),
        ("unlabeled : *\nroad : road, road\nvehicle : car\nhood : void\n", "'road' is listed twice"),
        ("unlabeled : *\nroad : road, void, void\nvehicle : car\nhood : void\n", "line 2: 'void' is listed twice"),
        ("unlabeled : *\nroad : road, void,\nvehicle : car\nhood : void\n", "line 2: empty unified class name"),
        ("unlabeled : *\nroad : raod, void\nvehicle : car\nhood : void\n", "line 2: unknown unified class 'raod'"),
        ("unlabeled : *\nroad : road\n", "neither mapped nor declared void: vehicle, hood"),
    ],
)
def test_each_mistake_names_the_file_line_and_class(tmp_path, taxonomies, text, message):
    with pytest.raises(DataFileError) as info:
        parse(tmp_path, taxonomies, text)
    assert "map.txt" in str(info.value)
    assert message in str(info.value)


def test_a_recorded_mapping_keeps_void_beside_classes(tmp_path, taxonomies):
    mapping = parse(tmp_path, taxonomies, VOID_BESIDE)
    restored = LabelMapping.from_json(mapping.to_json(), *taxonomies)
    assert (restored.allowed, restored.void_allowed) == (mapping.allowed, mapping.void_allowed)
    assert restored.differences(mapping) == []
    older = LabelMapping.from_json(
        [{k: v for k, v in r.items() if k != "void_allowed"} for r in mapping.to_json()], *taxonomies
    )  # records written before the flag existed
    assert older.allowed == mapping.allowed and older.void_allowed == frozenset()
    assert mapping.differences(older) == [
        "'unlabeled': road, car, truck, sky, void here, road, car, truck, sky there",
        "'road': road, void here, road there",
        "'vehicle': car, truck, void here, car, truck there",
    ]


def test_void_beside_no_class_is_refused_in_a_hand_built_mapping(tmp_path, taxonomies):
    mapping = parse(tmp_path, taxonomies, GOOD)
    with pytest.raises(UnifyError, match=r"native ids \[9\] .* allow no class"):
        LabelMapping(mapping.native, mapping.unified, mapping.allowed, {}, void_allowed=frozenset({5, 9}))


def test_registry_and_identity():
    assert ("synthetic_coarse", "synthetic_fine") in list_mappings()
    identity = get_mapping("synthetic_fine", "synthetic_fine")
    assert identity.tables.single[:15].tolist() == list(range(15))
    with pytest.raises(UnifyError, match="no mapping from 'synthetic_coarse' to 'cityscapes19'"):
        get_mapping("synthetic_coarse", "cityscapes19")


@pytest.mark.parametrize(("native", "unified"), list_mappings())
def test_a_shipped_mapping_reads_back_from_its_record_and_keeps_a_class_of_the_same_name(native, unified):
    """Parsing already refuses unknown, repeated or unmapped classes; this checks what parsing cannot."""
    mapping = get_mapping(native, unified)
    restored = LabelMapping.from_json(json.loads(json.dumps(mapping.to_json())), mapping.native, mapping.unified)
    assert (restored.allowed, restored.void_allowed) == (mapping.allowed, mapping.void_allowed)
    # a native class named like a unified class (any case) may become that class: anything else is a slip
    unified_ids = {c.name.lower(): c.id for c in mapping.unified.trainable}
    strays = [
        c.name
        for c in mapping.native.classes
        if c.name.lower() in unified_ids and unified_ids[c.name.lower()] not in mapping.allowed[c.id]
    ]
    assert strays == []


def test_check_prints_coverage(capsys):
    assert main(["mappings", "check", "synthetic_shifted", "synthetic_fine"]) == 0
    out = capsys.readouterr().out
    assert "one_to_many    3  road, human, large vehicle" in out
    assert "fill_in        1  unlabeled" in out and "void           1  ego vehicle" in out
    assert "maybe_void     0" in out

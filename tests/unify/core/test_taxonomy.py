import json

import pytest

from unify.cli import main
from unify.core.errors import DataFileError, UnifyError
from unify.core.taxonomy import Taxonomy, get_taxonomy, list_taxonomies, parse_taxonomy

GOOD = """# a small taxonomy
id,name,color,ignore
0,road,#804080,false
1,car,#00008e,false
255,void,#000000,true
"""


def write(tmp_path, text, name="tiny.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_parse_builds_every_lookup_from_one_table(tmp_path):
    taxonomy = parse_taxonomy(write(tmp_path, GOOD))
    assert taxonomy.name == "tiny"
    assert taxonomy.by_name["car"].id == 1 and taxonomy.by_id[0].name == "road"
    assert taxonomy.id2label() == {0: "road", 1: "car"} and taxonomy.num_labels == 2
    assert taxonomy.palette()[1].tolist() == [0, 0, 142]
    assert taxonomy.description == "a small taxonomy"
    taxonomy.require_unified()


@pytest.mark.parametrize(
    "row, message",
    [
        ("x,road,#804080,false", "id must be an integer"),
        ("0,road,#80408,false", "color must be #rrggbb"),
        ("0,road,#80408g,false", "color must be #rrggbb"),
        ("0,road,#804080,maybe", "ignore must be true or false"),
        ("0,road,#804080", "expected 4 columns"),
        ("0,,#804080,false", "empty class name"),
    ],
)
def test_each_bad_row_is_reported_with_its_line(tmp_path, row, message):
    with pytest.raises(DataFileError) as info:
        parse_taxonomy(write(tmp_path, f"id,name,color,ignore\n1,car,#00008e,false\n{row}\n"))
    assert "tiny.csv" in str(info.value) and "line 3" in str(info.value) and message in str(info.value)


def test_all_problems_are_listed_at_once(tmp_path):
    text = "id,name,color,ignore\n0,road,#804080,false\n0,car,#00008e,false\n2,car,#000000,false\n"
    with pytest.raises(DataFileError) as info:
        parse_taxonomy(write(tmp_path, text))
    assert len(info.value.problems) == 2
    assert "duplicate id 0" in str(info.value) and "duplicate name 'car'" in str(info.value)


def test_bad_header_and_empty_file(tmp_path):
    with pytest.raises(DataFileError, match="header must be"):
        parse_taxonomy(write(tmp_path, "id,name,colour,ignore\n0,road,#804080,false\n"))
    with pytest.raises(DataFileError, match="no header"):
        parse_taxonomy(write(tmp_path, "# nothing\n"))


def test_unified_taxonomy_needs_contiguous_ids(tmp_path):
    taxonomy = parse_taxonomy(write(tmp_path, "id,name,color,ignore\n0,road,#804080,false\n2,car,#00008e,false\n"))
    with pytest.raises(UnifyError, match="0..1 without gaps"):
        taxonomy.require_unified()


def test_registry_suggests_close_names_and_lists_shipped_tables():
    assert {"cityscapes", "cityscapes19", "synthetic_fine"} <= set(list_taxonomies())
    with pytest.raises(UnifyError, match="did you mean cityscapes"):
        get_taxonomy("cityscape")


def test_every_shipped_taxonomy_reads_back_from_its_record_in_unify_json():
    """Parsing already refuses a bad file; what a folder records of each table must give the same table back."""
    for name in list_taxonomies():
        taxonomy = get_taxonomy(name)
        assert Taxonomy.from_json(name, json.loads(json.dumps(taxonomy.to_json()))).classes == taxonomy.classes, name


def test_show_json_prints_the_class_table(capsys):
    assert main(["taxonomies", "show", "cityscapes", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert len(table) == 34
    assert table[7] == {"id": 7, "name": "road", "color": [128, 64, 128], "ignore": False}
    assert main(["taxonomies", "show", "nope"]) == 2


def test_the_listing_counts_trainable_classes_and_show_marks_the_ignore_flag(capsys):
    assert main(["taxonomies"]) == 0
    assert "cityscapes19\t20 classes (19 trainable)" in capsys.readouterr().out.splitlines()
    assert main(["taxonomies", "show", "cityscapes19"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["0", "road", "#804080"] and rows[-1] == ["255", "void", "#000000", "ignore"]


def test_an_unknown_taxonomy_is_one_punctuated_message_with_the_known_ones():
    known = ", ".join(list_taxonomies())
    with pytest.raises(UnifyError) as refused:
        get_taxonomy("nope")
    assert str(refused.value) == f"unknown taxonomy 'nope'. Known taxonomies: {known}"
    with pytest.raises(UnifyError) as refused:
        get_taxonomy("synthetic_fin")
    assert str(refused.value).startswith("unknown taxonomy 'synthetic_fin'; did you mean synthetic_fine")
    assert str(refused.value).endswith(f"? Known taxonomies: {known}")

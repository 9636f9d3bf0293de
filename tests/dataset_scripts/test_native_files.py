"""Class tables of colour-coded datasets: a colour must name one class, or labels cannot be decoded. A folder a
builder cannot read is named with what it holds and what was expected."""

from __future__ import annotations

import pytest

from dataset_scripts import builder_registry, get_builder_class
from dataset_scripts.base import folder_contents
from dataset_scripts.native_files import color_table
from unify.build import build_dataset
from unify.core.errors import UnifyError
from unify.core.taxonomy import ClassInfo, Taxonomy, get_taxonomy


def test_color_table_maps_each_colour_to_its_id():
    ycor = get_taxonomy("ycor")
    assert color_table(ycor) == {c.color: c.id for c in ycor.classes}
    assert len(color_table(ycor)) == len(ycor.classes)


def test_a_reused_colour_is_refused_by_name():
    classes = (ClassInfo(0, "road", (128, 64, 128), False), ClassInfo(1, "lane", (128, 64, 128), False),
               ClassInfo(2, "sky", (70, 130, 180), False))
    with pytest.raises(UnifyError, match=r"taxonomy 'twins' reuses colours \(#804080\)"):
        color_table(Taxonomy("twins", classes))


# -- layout errors: the folder, what it holds, what was expected ----------------------------------------
@pytest.mark.parametrize("name", sorted(set(builder_registry()) - {"synthetic_driving"}))
def test_every_builder_names_the_folder_what_it_holds_and_what_it_expects(name, tmp_path):
    raw = tmp_path / "raw"
    (raw / "misc").mkdir(parents=True)
    (raw / "notes.txt").write_text("not a dataset")
    builder = get_builder_class(name)
    with pytest.raises(UnifyError) as caught:
        build_dataset(name, tmp_path / "out", data_dir=raw)
    message = str(caught.value)
    assert message.startswith(f"{name}: {raw}")
    assert "it holds misc/, notes.txt" in message and f"expected {builder.LAYOUT_HELP}" in message


def test_a_data_dir_that_is_no_folder_is_named(tmp_path):
    with pytest.raises(UnifyError, match=f"cityscapes: {tmp_path / 'nowhere'} is not a folder; it does not exist"):
        build_dataset("cityscapes", tmp_path / "out", data_dir=tmp_path / "nowhere")


def test_folder_contents_lists_the_first_entries(tmp_path):
    assert folder_contents(tmp_path) == "it is empty"
    for i in range(14):
        (tmp_path / f"f{i:02d}").write_text("")
    (tmp_path / "a").mkdir()
    assert folder_contents(tmp_path, most=3) == "it holds a/, f00, f01 and 12 more"

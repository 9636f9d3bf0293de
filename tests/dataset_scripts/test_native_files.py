"""Class tables of colour-coded datasets: a colour must name one class, or labels cannot be decoded."""

from __future__ import annotations

import pytest

from dataset_scripts.native_files import color_table
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

"""The builder registry: a name it does not know is one punctuated message with the close and the known names."""

import pytest

from dataset_scripts import builder_registry, get_builder_class
from unify.core.errors import UnifyError


@pytest.mark.parametrize(
    "name, start",
    [
        ("nope", "unknown dataset 'nope'. Known datasets: "),
        ("cityscape", "unknown dataset 'cityscape'; did you mean cityscapes? Known datasets: "),
    ],
)
def test_an_unknown_builder_names_the_close_and_the_known_ones_in_sentences(name, start):
    with pytest.raises(UnifyError) as refused:
        get_builder_class(name)
    assert str(refused.value) == start + ", ".join(sorted(builder_registry()))

"""Hub card templates (Markdown with YAML front matter), shipped as package data.

The templates are Jinja2 and hold every sentence of a card; the code that fills them passes facts, ready-made
tables and the filters that escape text for Markdown. The front matter is YAML data (dumped, never templated),
so names in it are data, not markup.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import jinja2
from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

_CARDS = {"dataset": (DatasetCard, DatasetCardData), "model": (ModelCard, ModelCardData)}


def template_text(kind: str) -> str:
    """The Jinja2 source of the `kind` ("dataset" or "model") card; `FileNotFoundError` for another kind."""
    return resources.files(__name__).joinpath(f"{kind}_card.md").read_text(encoding="utf-8")


def render_card(
    kind: str, metadata: dict, filters: dict[str, Callable[[object], str]] | None = None, /, **context
) -> str:
    """The card of a `kind` ("dataset" or "model") repository.

    `metadata` becomes the YAML front matter; `filters` are Jinja filters the template uses (the caller's
    Markdown escaping); every name the template reads must be in `context` (an unknown name is an error, not
    an empty string). The result is parsed back as a card, so front matter that is not valid YAML raises.
    Raises `KeyError` for another `kind`, jinja2's `UndefinedError` for a name missing from `context`, and
    huggingface_hub's card errors for front matter it cannot read.
    """
    card_class, data_class = _CARDS[kind]
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters.update(filters or {})
    content = environment.from_string(template_text(kind)).render(card_data=data_class(**metadata).to_yaml(), **context)
    return str(card_class(content))

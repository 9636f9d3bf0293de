"""Hub card templates (Markdown with YAML front matter), shipped as package data.

The templates are Jinja2 (through `huggingface_hub`'s card classes); optional fields fall back to
`default("[More Information Needed]")`. Tables are built in Python and passed in as Markdown.
"""

from __future__ import annotations

from importlib import resources

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

_CARDS = {"dataset": (DatasetCard, DatasetCardData), "model": (ModelCard, ModelCardData)}


def template_text(kind: str) -> str:
    return resources.files(__name__).joinpath(f"{kind}_card.md").read_text(encoding="utf-8")


def render_card(kind: str, metadata: dict, **context) -> str:
    """The card of a `kind` ("dataset" or "model") repository: `metadata` goes into the YAML front matter."""
    card_class, data_class = _CARDS[kind]
    card = card_class.from_template(data_class(**metadata), template_str=template_text(kind), **context)
    return str(card)

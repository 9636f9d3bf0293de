"""`unify datasets`: every registered builder with its configurations."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    """Register `unify datasets` and its options on the `unify` command's subparsers."""
    parser = subparsers.add_parser(
        "datasets",
        help="list the dataset builders",
        description="List every dataset builder, one per line: its name (what `unify build` "
        "takes), its configurations, its default unified taxonomy and where "
        "the raw data comes from.",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Print one tab-separated line per builder (name, configurations, unified taxonomy, homepage); returns 0."""
    from dataset_scripts import builder_registry

    for name, cls in sorted(builder_registry().items()):
        configs = ",".join(c.name for c in cls.BUILDER_CONFIGS) or "default"
        print(f"{name}\tconfigs={configs}\tunified={cls.DEFAULT_UNIFIED_TAXONOMY}\t{cls.HOMEPAGE}")
    return 0

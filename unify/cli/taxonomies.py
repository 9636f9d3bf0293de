"""`unify taxonomies`: list the registered class tables or show one."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    """Register `unify taxonomies` and its options on the `unify` command's subparsers."""
    parser = subparsers.add_parser(
        "taxonomies",
        help="list taxonomies, or show one class table",
        description="Without arguments, list every registered taxonomy with its number "
        "of classes. `show NAME` prints one class table.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", help="show: print one class table")
    show = actions.add_parser(
        "show",
        help="print one class table",
        description="Print one class table: id, name, colour and whether the class is void "
        "(not trained on, not evaluated), or the table as JSON.",
    )
    show.add_argument("name", help="taxonomy name, as listed")
    show.add_argument("--json", action="store_true", help="print a JSON list of {id, name, color, ignore}")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Print the taxonomy list, or one class table as text or JSON; returns the exit status 0.

    Bad input raises `UnifyError`, which `main` prints.
    """
    from unify.core.taxonomy import get_taxonomy, hex_color, list_taxonomies, taxonomy_json

    if args.action != "show":
        for name in list_taxonomies():
            taxonomy = get_taxonomy(name)
            print(f"{name}\t{len(taxonomy.classes)} classes ({taxonomy.num_labels} trainable)")
        return 0
    taxonomy = get_taxonomy(args.name)
    if args.json:
        print(taxonomy_json(taxonomy))
        return 0
    for c in taxonomy.classes:
        print(f"{c.id:>5}  {c.name:<40} {hex_color(c.color)}{'  ignore' if c.ignore else ''}")
    return 0

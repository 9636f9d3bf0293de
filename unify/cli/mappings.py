"""`unify mappings`: list the registered mappings and check one."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("mappings", help="list mappings, or check one",
                                   description="Without arguments, list every registered (native, unified) mapping. "
                                               "`check DATASET TAXONOMY` validates one and prints its coverage.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    check = actions.add_parser("check", help="validate one mapping and print how each native class is treated")
    check.add_argument("dataset", help="native taxonomy (the builder's name)")
    check.add_argument("taxonomy", help="unified taxonomy")
    parser.set_defaults(run=run)


def run(args) -> int:
    from unify.mapping import get_mapping, list_mappings

    if args.action != "check":
        for native, unified in list_mappings():
            print(f"{native} -> {unified}")
        return 0
    mapping = get_mapping(args.dataset, args.taxonomy)
    coverage = mapping.coverage()
    print(f"{args.dataset} -> {args.taxonomy}: {len(mapping.native.classes)} native classes, all accounted for")
    for group, names in coverage.items():
        print(f"  {group:<12}{len(names):>4}  {', '.join(names)}")
    unreached = [c.name for c in mapping.unified.trainable
                 if not any(c.id in ids for ids in mapping.allowed.values() if len(ids) < mapping.unified.num_labels)]
    if unreached:
        print(f"  unified classes only reachable by fill-in: {', '.join(unreached)}")
    return 0

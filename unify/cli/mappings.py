"""`unify mappings`: list the registered mappings, check one, or draft one from a teacher's predictions."""

from __future__ import annotations

from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "mappings",
        help="list mappings, check one, or suggest a draft",
        description="Without arguments, list every registered (native, unified) mapping. "
        "`check DATASET TAXONOMY` validates one and prints its coverage; "
        "`suggest DATASET TAXONOMY` drafts one from a teacher's predictions.",
    )
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", help="check: validate one mapping; suggest: draft one from a teacher"
    )
    check = actions.add_parser(
        "check",
        help="validate one mapping and print how each native class is treated",
        description="Read the mapping file of DATASET into TAXONOMY, report every problem in "
        "it at once, and print the native classes grouped by what happens to "
        "them: one-to-one, one-to-many, fill-in (*), maybe void (classes "
        "with void beside them) and void.",
    )
    check.add_argument("dataset", help="native taxonomy (the builder's name)")
    check.add_argument("taxonomy", help="unified taxonomy")
    suggest = actions.add_parser(
        "suggest",
        help="draft a mapping file from what a teacher predicts on each native class",
        description="Run a teacher (any transformers semantic-segmentation or mask-classification model, e.g. "
        "SegFormer, UperNet, DPT, BEiT, Mask2Former, OneFormer; its id2label the unified taxonomy) over "
        "a sample of the dataset read from its raw folder, count how often each native class is "
        "predicted as each unified class, and write a draft mapping file with those shares as "
        "comments, for a person to edit. The rule is described in the draft's header.",
    )
    suggest.add_argument("dataset", help="builder name, as `unify datasets` lists it")
    suggest.add_argument("taxonomy", help="unified taxonomy the teacher predicts")
    suggest.add_argument("--teacher", type=Path, required=True, help="teacher model folder (save_pretrained) or Hub id")
    suggest.add_argument("--data-dir", type=Path, help="root of the raw dataset (not needed for synthetic_driving)")
    suggest.add_argument("--config", help="builder configuration (default: the builder's first)")
    suggest.add_argument("--samples", type=int, default=64, help="images to run the teacher on (default: 64)")
    suggest.add_argument("--output", type=Path, required=True, help="draft mapping file to write")
    suggest.add_argument(
        "--min-share",
        type=float,
        default=0.05,
        help="share of a native class's pixels that makes a unified class allowed (default: 0.05)",
    )
    suggest.add_argument(
        "--spread",
        type=float,
        default=0.5,
        help="perplexity, as a fraction of the unified classes, from which a class becomes '*' (default: 0.5)",
    )
    suggest.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    suggest.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.action == "suggest":
        return run_suggest(args)
    from unify.core.mapping import get_mapping, list_mappings

    if args.action != "check":
        for native, unified in list_mappings():
            print(f"{native} -> {unified}")
        return 0
    mapping = get_mapping(args.dataset, args.taxonomy)
    coverage = mapping.coverage()
    print(f"{args.dataset} -> {args.taxonomy}: {len(mapping.native.classes)} native classes, all accounted for")
    for group, names in coverage.items():
        print(f"  {group:<12}{len(names):>4}  {', '.join(names)}")
    unreached = [
        c.name
        for c in mapping.unified.trainable
        if not any(c.id in ids for ids in mapping.allowed.values() if len(ids) < mapping.unified.num_labels)
    ]
    if unreached:
        print(f"  unified classes only reachable by fill-in: {', '.join(unreached)}")
    return 0


def run_suggest(args) -> int:
    from unify.suggest import SuggestionRule, suggest_mapping

    rule = SuggestionRule(
        min_share=args.min_share, min_evidence=min(SuggestionRule.min_evidence, args.min_share), spread=args.spread
    )
    suggestion = suggest_mapping(
        args.dataset,
        args.taxonomy,
        args.teacher,
        args.output,
        data_dir=args.data_dir,
        config=args.config,
        samples=args.samples,
        rule=rule,
        device=args.device,
        overwrite=args.force,
    )
    print(
        f"wrote {suggestion.output}: a draft {suggestion.native.name} -> {suggestion.unified.name} from "
        f"{suggestion.num_images} images"
    )
    for line in suggestion.lines:
        print(f"  {line.native} : {line.targets}")
    for skip in suggestion.skipped:
        print(f"skipped {skip}")
    print(f"review it, then move it to unify/mappings/{suggestion.native.name}/{suggestion.unified.name}.txt")
    return 0

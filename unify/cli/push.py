"""`unify push dataset|model`: share a unified dataset or a trained model on the Hugging Face Hub."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "push", help="push a unified dataset or a trained model to the Hugging Face Hub",
        description="Create the repository (private unless --public) and make it hold exactly the folder and its "
                    "card in one commit (files of an earlier push that the folder lacks are deleted), tagged with the "
                    "data-format version. The token comes from HF_TOKEN or `hf auth login`.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    help="dataset: a dataset folder; model: a training run or model folder")
    dataset = actions.add_parser(
        "dataset", help="push a folder written by `unify build` or `unify pseudo-label`",
        description="Push the dataset's Parquet shards (readable with `datasets.load_dataset(REPO_ID)`), its "
                    "unify.json, id2label.json, the class tables, the pseudo-labelling report and a dataset card.")
    dataset.add_argument("dir", type=Path, help="dataset folder (holds unify.json)")
    _add_common(dataset)
    dataset.add_argument("--labels-only", action="store_true",
                         help="push unified labels, provenance, image ids and a sha256 of each image, without images "
                              "or native labels; users rebuild the rest from their own copy with `unify "
                              "attach-images`, which checks every image against its sha256")
    dataset.add_argument("--allow-image-redistribution", action="store_true",
                         help="push images even where the source dataset's licence may forbid redistribution "
                              "(you confirm that you may)")
    model = actions.add_parser(
        "model", help="push a trained SegFormer (safetensors) with its image processor and model card",
        description="Push RUN_DIR/model (or RUN_DIR itself when it is a model folder) so that "
                    "`from_pretrained(REPO_ID)` and `pipeline('image-segmentation', model=REPO_ID)` return unified "
                    "class names. The card describes the run from its provenance.json (unknown without one).")
    model.add_argument("run_dir", type=Path, help="training run folder, or a model folder")
    _add_common(model)
    model.add_argument("--evaluation", type=Path, action="append", default=[], metavar="DIR",
                       help="output folder of `unify evaluate` on these weights, one dataset or a summary of several, "
                            "whose table goes into the card (repeatable); an evaluation of other weights is refused")
    parser.set_defaults(run=run)


def _add_common(parser) -> None:
    parser.add_argument("--repo-id", required=True, help="namespace/name on the Hub")
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument("--private", dest="private", action="store_true", default=True,
                            help="create a private repository (the default)")
    visibility.add_argument("--public", dest="private", action="store_false", help="create a public repository")


def run(args) -> int:
    from huggingface_hub.errors import HfHubHTTPError

    from unify import hub
    from unify.core.errors import UnifyError

    try:
        if args.action == "dataset":
            notices = [] if args.labels_only else hub.redistribution_notices(args.dir)
            if notices and args.allow_image_redistribution:
                print("pushing images under these licences, as --allow-image-redistribution confirms:")
                for notice in notices:
                    print(f"  {notice}")
            report = hub.push_dataset(args.dir, args.repo_id, private=args.private, labels_only=args.labels_only,
                                      allow_image_redistribution=args.allow_image_redistribution)
        else:
            report = hub.push_model(args.run_dir, args.repo_id, private=args.private, evaluations=args.evaluation)
    except HfHubHTTPError as exc:
        raise UnifyError(f"the Hub refused the push to {args.repo_id}: {exc}") from exc
    print(json.dumps({"repo_id": report.repo_id, "type": report.repo_type, "url": report.url, "commit": report.commit,
                      "tag": report.tag, "files": report.files, "deleted": report.deleted}))
    return 0

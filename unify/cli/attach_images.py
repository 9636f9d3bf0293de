"""`unify attach-images`: rebuild a labels-only dataset with the images of your own raw copy."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    """Register `unify attach-images` and its options on the `unify` command's subparsers."""
    parser = subparsers.add_parser(
        "attach-images",
        help="put the images back into a labels-only dataset from your own raw copy",
        description="Read a labels-only dataset (a folder, or a Hub id pushed with `unify push dataset "
        "--labels-only`), build the dataset named in its metadata from RAW with the same builder, and "
        "write the full dataset (images, native labels, unified labels, provenance), rows matched by "
        "image_id. Every image must be the file that was labelled (its sha256 is in the labels): a "
        "missing or different image stops the command, naming it, unless --skip-bad.",
    )
    parser.add_argument("source", metavar="DIR_OR_REPO", help="labels-only dataset folder or Hub id (namespace/name)")
    parser.add_argument("--data-dir", type=Path, help="root of your raw copy (not needed for synthetic_driving)")
    parser.add_argument("--output", type=Path, required=True, help="folder to write (replaced when it succeeds)")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out the rows whose image is missing from your copy or differs from the one that "
        "was labelled; they are printed and listed in the output's unify.json",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Rebuild the labels-only dataset, print each row left out and a JSON summary; returns the exit status 0.

    Bad input raises `UnifyError`, which `main` prints; a Hub download error becomes one too.
    """
    from huggingface_hub.errors import HfHubHTTPError

    from unify.core.errors import UnifyError
    from unify.hub import attach_images

    try:
        report = attach_images(args.source, args.data_dir, args.output, skip_bad=args.skip_bad)
    except HfHubHTTPError as exc:
        raise UnifyError(f"cannot download {args.source} from the Hub: {exc}") from exc
    for skipped in report.skipped:
        print(f"left out {skipped.image_id}{f' ({skipped.file})' if skipped.file else ''}: {skipped.reason}")
    print(
        json.dumps(
            {"output": str(args.output), "examples": report.counts, "skipped": [s.image_id for s in report.skipped]}
        )
    )
    return 0

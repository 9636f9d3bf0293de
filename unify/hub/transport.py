"""Talking to the Hub: the token, the repository, one commit that makes it hold exactly a set of files, the tag.

A push is one commit: every file of the pushed folder (card included) is added, and every other file of the
repository except `.gitattributes` is deleted in the same commit, so a repository never mixes two pushes. The
commit is made on top of the revision whose file list was read (`parent_commit`), so a concurrent push makes
it fail instead of being overwritten blindly. The token comes from `HF_TOKEN` or `hf auth login` through
`huggingface_hub`; this module never reads, prints or writes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import huggingface_hub
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

from unify.core.constants import FORMAT_VERSION
from unify.core.errors import UnifyError

logger = logging.getLogger(__name__)

FORMAT_TAG = f"unify-format-v{FORMAT_VERSION}"
"""Tag on the latest Hub revision written in this package's data format."""
KEPT_FILES = (".gitattributes",)
"""Files a push leaves in the repository although the pushed folder does not hold them (the Hub's LFS rules)."""


@dataclass
class PushReport:
    """What a push did."""

    repo_id: str
    repo_type: str  # "dataset" or "model"
    url: str
    commit: str  # the one commit of the push
    tag: str | None = None
    files: list[str] = field(default_factory=list)  # paths in the repository at that commit
    deleted: list[str] = field(default_factory=list)  # files of earlier pushes that the commit removed


def hub_api() -> HfApi:
    """A Hub client; `UnifyError` (before any request) when no token is configured."""
    if huggingface_hub.get_token() is None:
        raise UnifyError("no Hugging Face token found: run `hf auth login` or set HF_TOKEN")
    return HfApi()


def create_repo(api: HfApi, repo_id: str, repo_type: str, private: bool) -> tuple[str, str | None]:
    """Create the repository if needed; returns its URL and the commit at the head of `main`.

    Never pushes into a public repository when a private one was asked for (`UnifyError`); a private one
    stays private when `private` is False (logged).
    """
    url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    info = api.repo_info(repo_id, repo_type=repo_type)
    if private and not info.private:
        raise UnifyError(
            f"{repo_type} repository {repo_id} already exists and is public; pass --public to push "
            f"to it, or make it private on the Hub first"
        )
    if not private and info.private:
        logger.warning("%s repository %s already exists and is private; it stays private", repo_type, repo_id)
    return str(url), info.sha


def publish(
    api: HfApi, repo_id: str, repo_type: str, files: dict[str, Path | bytes], *, private: bool, message: str
) -> PushReport:
    """Make the repository hold exactly `files` (path in the repository -> local file or content), in one commit.

    Every other file of the repository except `KEPT_FILES` is deleted in that commit; then the commit is
    tagged `FORMAT_TAG`. Raises `UnifyError` for a public repository when `private`, and lets the Hub
    client's `HfHubHTTPError` through for what the Hub refuses.
    """
    url, head = create_repo(api, repo_id, repo_type, private)
    existing = api.list_repo_files(repo_id, repo_type=repo_type, revision=head) if head else []
    deleted = sorted(path for path in existing if path not in files and path not in KEPT_FILES)
    operations = [
        CommitOperationAdd(path, content if isinstance(content, bytes) else str(content))
        for path, content in sorted(files.items())
    ]
    operations += [CommitOperationDelete(path) for path in deleted]
    commit = api.create_commit(
        repo_id, operations=operations, commit_message=message, repo_type=repo_type, parent_commit=head
    )
    tag(api, repo_id, repo_type, FORMAT_TAG, commit.oid)
    pushed = api.list_repo_files(repo_id, repo_type=repo_type, revision=commit.oid)
    logger.info(
        "pushed %d files to %s (%s), removed %d of an earlier push, tagged %s",
        len(files),
        repo_id,
        "private" if private else "public",
        len(deleted),
        FORMAT_TAG,
    )
    return PushReport(
        repo_id=repo_id, repo_type=repo_type, url=url, commit=commit.oid, tag=FORMAT_TAG, files=pushed, deleted=deleted
    )


def tag(api: HfApi, repo_id: str, repo_type: str, name: str, revision: str) -> None:
    """Point tag `name` at `revision`, moving it if an earlier push set it."""
    if any(t.name == name for t in api.list_repo_refs(repo_id, repo_type=repo_type).tags):
        api.delete_tag(repo_id, tag=name, repo_type=repo_type)
    api.create_tag(
        repo_id,
        tag=name,
        revision=revision,
        repo_type=repo_type,
        tag_message=f"written in unify-driving data format version {FORMAT_VERSION}",
    )

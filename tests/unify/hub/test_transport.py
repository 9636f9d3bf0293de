"""The token, private repositories, one commit per push, the tag: through the real client and the loopback Hub."""

import logging

import pytest
from huggingface_hub import HfApi

from hub_fixtures import save_segformer
from unify.cli import main
from unify.core.errors import UnifyError
from unify.hub import FORMAT_TAG, attach_images, push_dataset
from unify.hub.transport import hub_api, publish


def test_a_public_repository_is_not_pushed_into_unless_asked(hub, built):
    HfApi().create_repo("tester/public", repo_type="dataset", private=False)
    with pytest.raises(UnifyError, match="already exists and is public"):
        push_dataset(built, "tester/public")
    assert "unify.json" not in hub.files("tester/public")
    push_dataset(built, "tester/public", private=False)
    assert "unify.json" in hub.files("tester/public") and not hub.repo("tester/public").private


def test_no_token_no_push(hub, built, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    assert main(["push", "dataset", str(built), "--repo-id", "tester/anonymous"]) == 2
    assert "hf auth login" in capsys.readouterr().err
    assert hub.requests == []


def test_publish_makes_the_repository_hold_exactly_the_files_in_one_tagged_commit(hub, tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"\0" * 64)
    api = hub_api()
    first = publish(
        api,
        "tester/files",
        "model",
        {"a.json": b"{}", "old/b.txt": b"b", "weights.safetensors": tmp_path / "weights.safetensors"},
        private=True,
        message="one",
    )
    second = publish(
        api, "tester/files", "model", {"a.json": b'{"new": 1}', "c.txt": b"c"}, private=True, message="two"
    )

    repo = hub.repo("tester/files", "model")
    assert hub.files("tester/files", "model") == {
        ".gitattributes": hub.files("tester/files", "model", first.commit)[".gitattributes"],
        "a.json": b'{"new": 1}',
        "c.txt": b"c",
    }
    assert second.deleted == ["old/b.txt", "weights.safetensors"]
    assert repo.commits[second.commit].parent == first.commit and len(repo.commits) == 3
    assert repo.tags == {FORMAT_TAG: second.commit}
    assert sorted(second.files) == [".gitattributes", "a.json", "c.txt"]


def test_the_token_is_used_but_never_written_or_logged(hub, built, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    assert main(["-v", "push", "dataset", str(built), "--repo-id", "tester/secret", "--labels-only"]) == 0
    assert (
        main(["-v", "push", "model", str(save_segformer(tmp_path / "model")), "--repo-id", "tester/secret-model"]) == 0
    )
    attach_images("tester/secret", None, tmp_path / "attached", splits=(("train", 4),))

    assert any(sent_token for method, _, sent_token in hub.requests if method == "POST")
    token = hub.token.encode()
    assert not [path for _, _, path, content in hub.stored_files() if token in content]
    captured = capsys.readouterr()
    assert hub.token not in caplog.text + captured.out + captured.err
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and token in p.read_bytes()]

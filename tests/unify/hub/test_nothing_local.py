"""Nothing a push stores means something only on the machine that pushed: no absolute path, no home, no user name."""

import os
import re

import pytest

from hub_fixtures import save_segformer, source_record, write_kitti, write_run
from unify.cli import main
from unify.core.taxonomy import get_taxonomy

USER = "zoe-probe-user"
"""A user name recognisable in any file that would carry the home folder."""
ABSOLUTE = re.compile(rb"(?<![\w.])/(?:home|Users|tmp|root|var|private|mnt|work|data)/")
TEXT_SUFFIXES = (".json", ".md", ".yaml", ".yml", ".txt", ".gitattributes", "(commit message)")


@pytest.mark.slow
def test_nothing_pushed_holds_a_local_path_a_home_or_a_user_name(hub, tmp_path, monkeypatch):
    """Build, pseudo-label, push (all, labels only), attach the images back, push again, train-and-push a student:
    every file of every commit of every repository is searched."""
    home = tmp_path / "home" / USER
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", USER)
    raw = write_kitti(home / "raw" / "kitti")
    teacher = save_segformer(home / "runs" / "teacher" / "model", get_taxonomy("cityscapes19"), seed=3)
    monkeypatch.chdir(home)  # the user works in the home folder, with relative paths
    assert main(["build", "kitti", "--data-dir", str(raw), "--output", "data/kitti"]) == 0
    assert (
        main(
            [
                "pseudo-label",
                "--teacher",
                str(teacher),
                "--dataset",
                "data/kitti",
                "--taxonomy",
                "cityscapes19",
                "--output",
                "data/unified/kitti",
            ]
        )
        == 0
    )
    assert main(["push", "dataset", "data/kitti", "--repo-id", "tester/kitti"]) == 0
    assert main(["push", "dataset", "data/unified/kitti", "--repo-id", "tester/kitti-unified"]) == 0
    assert main(["push", "dataset", "data/unified/kitti", "--repo-id", "tester/kitti-labels", "--labels-only"]) == 0
    assert main(["attach-images", "tester/kitti-labels", "--data-dir", str(raw), "--output", "data/attached"]) == 0
    assert main(["push", "dataset", "data/attached", "--repo-id", "tester/kitti-attached"]) == 0
    run = home / "runs" / "student"
    write_run(
        run,
        save_segformer(tmp_path / "weights", get_taxonomy("cityscapes19")),
        [
            source_record(home / "data" / "unified" / "kitti", run, "kitti-pl"),
            source_record(home / "data" / "kitti", run, "kitti-gt"),
        ],
        start={"name": "model", "sha256": "0" * 64, "revision": None},
        taxonomy="cityscapes19",
    )
    assert (
        main(
            [
                "evaluate",
                "--model",
                "runs/student/model",
                "--dataset",
                "data/kitti",
                "--split",
                "train",
                "--output",
                "eval/student",
            ]
        )
        == 0
    )
    assert main(["push", "model", "runs/student", "--repo-id", "tester/student", "--evaluation", "eval/student"]) == 0

    found = []
    for repo, commit, path, content in hub.stored_files():
        for needle in (str(home).encode(), USER.encode(), str(tmp_path).encode(), b"pytest-of-"):
            if needle in content:
                found.append(f"{repo}@{commit[:8]} {path}: {needle.decode()}")
        if ABSOLUTE.search(content):
            found.append(f"{repo}@{commit[:8]} {path}: {ABSOLUTE.search(content).group().decode()}")
        if path.endswith(TEXT_SUFFIXES) and (b"../" in content or b"~/" in content):
            found.append(f"{repo}@{commit[:8]} {path}: a relative path")
    assert len(hub.repos) == 5 and found == []
    assert os.environ["HOME"] == str(home)  # the fake home was in force throughout

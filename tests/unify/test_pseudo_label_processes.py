"""`unify pseudo-label` as real processes: killed with SIGKILL at chosen moments and rerun, and two against one.

Each moment is reached by watching the output folder (no hook in the library): a shard renamed into place, a
shard being computed, a shard's file being written (its `.tmp` exists), the folder's own files being written.
Every process runs with one torch thread: the teacher's float rounding, hence exact near-ties, can depend on
the thread count, and the claim tested here is about interruption and sharing, not about thread counts.
"""

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from unify.build import build_dataset
from unify.core.constants import METADATA_FILE, REPORT_FILE
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
IMAGES = 12


def environment() -> dict[str, str]:
    """The environment of a user's plain command: no ACCELERATE_USE_CPU, which `torchrun` does not set either."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
    )
    env.pop("ACCELERATE_USE_CPU", None)
    return env


@pytest.fixture(scope="module")
def command(tmp_path_factory) -> Callable[[Path], list[str]]:
    """The arguments of one `unify pseudo-label` command (shards of one image, flip and 3 scales), by output."""
    root = tmp_path_factory.mktemp("processes")
    build_dataset("synthetic_driving", root / "coarse", config="coarse", splits=(("train", IMAGES),))
    torch.manual_seed(0)
    Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine")).save(root / "teacher")
    return lambda out: [
        "pseudo-label",
        "--teacher",
        str(root / "teacher"),
        "--dataset",
        str(root / "coarse"),
        "--output",
        str(out),
        "--shard-size",
        "1",
        "--batch-size",
        "1",
        "--tta",
        "--scales",
        "0.5",
        "1",
        "1.5",
    ]


@pytest.fixture(scope="module")
def uninterrupted(command, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    subprocess.run(
        [sys.executable, "-m", "unify.cli", *command(out)], env=environment(), check=True, capture_output=True
    )
    return folder_bytes(out)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def shards(out: Path) -> int:
    return len(list((out / "data").glob("*.parquet")))


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for folder in ("data", "stats") for p in (out / folder).glob("*.tmp"))


def kill_when(args: list[str], ready: Callable[[], bool], timeout: float = 300) -> bool:
    """Start `unify` with `args`, poll `ready` every millisecond, SIGKILL the process when it holds.

    Returns whether the process was killed (False: it finished before `ready` held).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "unify.cli", *args],
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if ready():
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                return True
            time.sleep(0.001)
        assert process.returncode == 0, f"unify {' '.join(args)} failed with exit status {process.returncode}"
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class MidShard:
    """Holds halfway between two shard completions: after two more shards, half the time they took apart."""

    def __init__(self, out: Path):
        self.out, self.start, self.seen = out, shards(out), []

    def __call__(self) -> bool:
        count = shards(self.out)
        if count >= self.start + len(self.seen) + 1:
            self.seen.append(time.monotonic())
        if len(self.seen) < 2:
            return False
        return time.monotonic() >= self.seen[1] + (self.seen[1] - self.seen[0]) / 2


def test_killed_at_any_moment_then_rerun_gives_the_bytes_of_an_uninterrupted_run(command, uninterrupted, tmp_path):
    out = tmp_path / "out"
    args = command(out)
    hits = {}
    # 1. just after the first shard is renamed into place
    assert kill_when(args, lambda: shards(out) >= 1)
    hits["after a shard"] = 1 <= shards(out) < IMAGES
    # 2. in the middle of computing a shard
    before = shards(out)
    assert kill_when(args, MidShard(out))
    hits["mid-shard"] = before + 2 <= shards(out) < IMAGES
    # 3. while a shard's file is written (several tries: the window is a few milliseconds)
    for _ in range(3):
        if shards(out) >= IMAGES - 1 or not kill_when(args, lambda: bool(leftovers(out))):
            break
        if leftovers(out):
            hits["while a shard is written"] = True
            break
    # 4. while the folder's own files are written, once all shards are done
    for _ in range(3):
        written = (out / METADATA_FILE).stat().st_mtime_ns if (out / METADATA_FILE).is_file() else None

        def metadata_changed(written=written) -> bool:
            return (out / METADATA_FILE).is_file() and (out / METADATA_FILE).stat().st_mtime_ns != written

        if not kill_when(args, metadata_changed):
            break
        report = out / REPORT_FILE
        if not report.is_file() or report.stat().st_mtime_ns < (out / METADATA_FILE).stat().st_mtime_ns:
            hits["while the folder's files are written"] = True
            break
    completed = subprocess.run(
        [sys.executable, "-m", "unify.cli", *args], env=environment(), capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    assert not leftovers(out)
    assert folder_bytes(out) == uninterrupted
    assert hits == {
        "after a shard": True,
        "mid-shard": True,
        "while a shard is written": True,
        "while the folder's files are written": True,
    }


def test_two_processes_write_the_bytes_of_one(command, uninterrupted, tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    completed = subprocess.run(
        [*launcher, "--standalone", "--nproc_per_node", "2", "-m", "unify.cli", *command(tmp_path / "out")],
        env=environment(),
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count('"share_by_provenance"') == 1  # printed by the main process only
    # each process labels its own half of the shards, not all of them
    labelled = [int(n) for n in re.findall(r"labelled (\d+) images", completed.stderr)]
    assert labelled == [IMAGES // 2, IMAGES // 2], completed.stderr[-3000:]
    assert folder_bytes(tmp_path / "out") == uninterrupted

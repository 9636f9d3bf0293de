"""Batches and background threads: the work beside the teacher, and how a shard's images are grouped.

`Background` runs reading, decoding, encoding and writing in worker threads while the teacher runs in
the calling thread, or, with no workers, the same work in place and in order; either way a task's
exception reaches whoever asks for its result. `batches_by_size` groups a shard's images by size.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class Background:
    """Threads that run work beside the teacher, or, with no workers, the same work in place, in order."""

    def __init__(self, workers: int):
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="pseudo-label") if workers else None
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="pseudo-label-writer") if workers else None
        self.last_write: Future | None = None

    def submit(self, fn: Callable, *args) -> Future:
        """`fn(*args)` in a worker thread; its exception comes back from `.result()`."""
        return self.pool.submit(fn, *args) if self.pool else _done(fn, *args)

    def write(self, fn: Callable, *args) -> None:
        """`fn(*args)` in the writer thread, after the previous write finished (at most one shard waits)."""
        self.wait_for_writes()
        self.last_write = self.writer.submit(fn, *args) if self.writer else _done(fn, *args)

    def wait_for_writes(self) -> None:
        """Wait for the pending write, if any; its exception is raised here, in the calling thread."""
        if self.last_write is not None:
            last, self.last_write = self.last_write, None
            last.result()

    def close(self) -> None:
        """Cancel queued work that has not started and wait for running work to end (nothing to do without workers)."""
        for pool in (self.pool, self.writer):
            if pool:
                pool.shutdown(wait=True, cancel_futures=True)


def _done(fn: Callable, *args) -> Future:
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except Exception as exc:  # handed to whoever asks for the result, as a worker thread would
        future.set_exception(exc)
    return future


def batches_by_size(sizes: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Positions of images grouped by size into batches of at most `batch_size`, each in increasing order.

    Sizes are taken in order of first appearance, so the batches depend only on the sizes, in order:
    the same rows always form the same batches. Callers put each result back at its position.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for position, size in enumerate(sizes):
        groups.setdefault(size, []).append(position)
    return [group[k : k + batch_size] for group in groups.values() for k in range(0, len(group), batch_size)]

"""The one module that owns the process pool (and the thread pool for file hashing).

Workers are module-level functions with picklable arguments; they return
failures as values instead of raising, so one bad file never stops a run.
`workers=1` runs everything in this process (tests, debugging, tiny runs).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from .progress import Progress

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def pmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    progress: Progress | None = None,
    weight: Callable[[T], int] | None = None,
    chunksize: int | None = None,
) -> Iterator[R]:
    """Apply `fn` to every item, yielding results as they finish (any order).

    `progress`, when given, is advanced once per item (or by `weight(item)`).
    `chunksize`: items sent to a worker at a time (default: up to 64, by the count).
    """
    items = list(items) if not isinstance(items, Sized) else items
    if workers <= 1 or len(items) <= 1:
        for item in items:
            result = fn(item)
            if progress is not None:
                progress.advance(weight(item) if weight else 1)
            yield result
        return
    import multiprocessing  # here: a run that never starts a pool does not import it
    from multiprocessing import resource_tracker

    workers = min(workers, len(items))
    if chunksize is None:
        chunksize = max(1, min(64, len(items) // (workers * 8)))
    ctx = multiprocessing.get_context("spawn")
    # Workers start with the stop signals blocked (a spawned child inherits the mask
    # across exec), so a Ctrl-C during their start-up stays pending until _quiet_worker
    # has set SIGINT to ignored; the pool is terminated by this process instead.
    # The resource tracker is started first: starting it unblocks SIGINT and SIGTERM
    # (multiprocessing.resource_tracker.ensure_running), which would undo our mask.
    resource_tracker.ensure_running()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pool = ctx.Pool(processes=workers, initializer=_quiet_worker)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    with pool:  # any exit, KeyboardInterrupt included, terminates the workers
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending Ctrl-C is raised here
        if weight is None:
            for result in pool.imap_unordered(fn, items, chunksize=chunksize):
                if progress is not None:
                    progress.advance(1)
                yield result
        else:
            for item, result in pool.imap_unordered(_Keep(fn), items, chunksize=chunksize):
                if progress is not None:
                    progress.advance(weight(item))
                yield result


_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def _quiet_worker() -> None:
    """Pool initializer. Ctrl-C reaches the whole process group: a worker ignores it (no
    `KeyboardInterrupt` traceback from every worker), and the parent, which gets it too,
    stops and terminates the pool. SIGTERM/SIGHUP keep their default action, so
    `Pool.terminate` ends a worker at once and silently. Then the signals blocked while
    the pool was created are unblocked (a pending SIGINT is dropped here)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def tmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    progress: Progress | None = None,
    weight: Callable[[T], int] | None = None,
) -> Iterator[R]:
    """Like `pmap`, in threads: for work that is reading and hashing files (reads and
    xxhash release the GIL), where starting processes would cost more than it saves."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        yield from pmap(fn, items, workers=1, progress=progress, weight=weight)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = {pool.submit(fn, item): item for item in items}
        for future in as_completed(futures):
            if progress is not None:
                progress.advance(weight(futures[future]) if weight else 1)
            yield future.result()


class _Keep:
    """Picklable wrapper returning (item, fn(item)), so progress can weigh each item."""

    def __init__(self, fn: Callable[[T], R]) -> None:
        self.fn = fn

    def __call__(self, item: T) -> tuple[T, R]:
        return item, self.fn(item)

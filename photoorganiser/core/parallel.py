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
from typing import TYPE_CHECKING, TypeVar

from .progress import Progress

if TYPE_CHECKING:
    import multiprocessing.pool

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
    workers = min(workers, len(items))
    if chunksize is None:
        chunksize = max(1, min(64, len(items) // (workers * 8)))
    pool, mask = _start_pool(workers)
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


def _start_pool(workers: int) -> tuple[multiprocessing.pool.Pool, set[signal.Signals]]:
    """A spawn pool of `workers`, created with the stop signals blocked; the caller puts
    back the returned mask inside the block that terminates the pool on any exit."""
    import multiprocessing  # here: a run that never starts a pool does not import it
    from multiprocessing import resource_tracker

    ctx = multiprocessing.get_context("spawn")
    # Workers start with the stop signals blocked (a spawned child inherits the mask
    # across exec), so a Ctrl-C during their start-up stays pending until _quiet_worker
    # has set SIGINT to ignored; the pool is terminated by this process instead.
    # The resource tracker is started first: starting it unblocks SIGINT and SIGTERM
    # (multiprocessing.resource_tracker.ensure_running), which would undo our mask.
    resource_tracker.ensure_running()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        return ctx.Pool(processes=workers, initializer=_quiet_worker), mask
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise


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


class WorkerPool:
    """A process pool given its tasks one at a time as the caller finds them, while the
    caller goes on (a scan): the workers start, import and work meanwhile. Results come
    back as the tasks finish, in any order, through `ready` (those back now) and `wait`
    (the next one). Used as a context manager: any exit, KeyboardInterrupt included,
    terminates the workers (the same start and signal handling as `pmap`).

        with WorkerPool(2) as pool:
            pool.submit(fn, item)
            for result in pool.ready(): ...
            while pool.pending: result = pool.wait()
    """

    def __init__(self, workers: int) -> None:
        import queue

        self.workers = max(1, workers)
        self.pending = 0  # tasks submitted whose result has not been taken yet
        self._pool: multiprocessing.pool.Pool | None = None
        self._done: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()

    def __enter__(self) -> WorkerPool:
        pool, mask = _start_pool(self.workers)
        self._pool = pool
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending Ctrl-C: raised here
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Terminate the workers (whatever they are doing) and wait for them."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    def submit(self, fn: Callable[[T], R], item: T) -> None:
        """`fn(item)` in a worker; its result is given by `ready` or `wait`. A task that
        raises gives its exception there."""
        assert self._pool is not None, "WorkerPool used outside its with block"
        put = self._done.put
        self._pool.apply_async(
            fn, (item,), callback=lambda r: put((True, r)), error_callback=lambda e: put((False, e))
        )
        self.pending += 1

    def ready(self) -> Iterator[object]:
        """The results back now, without waiting."""
        while self.pending and not self._done.empty():
            yield self._take(self._done.get_nowait())

    def wait(self) -> object:
        """The next result, waiting for it (there must be a task pending)."""
        assert self.pending, "nothing submitted to wait for"
        return self._take(self._done.get())

    def _take(self, got: tuple[bool, object]) -> object:
        self.pending -= 1
        ok, value = got
        if not ok:
            raise value  # type: ignore[misc]
        return value

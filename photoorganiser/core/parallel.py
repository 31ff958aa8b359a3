"""The one module that owns the process pool (and the thread pool for file hashing).

Workers are module-level functions with picklable arguments; they return
failures as values instead of raising, so one bad file never stops a run.
`workers=1` runs everything in this process (tests, debugging, tiny runs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor, as_completed
from itertools import chain
from typing import TYPE_CHECKING, TypeVar

from . import signals
from .progress import Progress

if TYPE_CHECKING:
    import multiprocessing.connection
    import multiprocessing.process
    import multiprocessing.synchronize

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# Workers that may die in one pmap before the items left are lost without being read:
# enough for a few files that kill their reader (each costs up to two deaths: one among
# its chunk's neighbours, one alone), few enough that workers that die whatever they read
# (out of memory from the start) are not started again and again.
MAX_DEATHS = 8


def pmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    progress: Progress | None = None,
    weight: Callable[[T], int] | None = None,
    chunksize: int | None = None,
    lost: Callable[[T, str], R] | None = None,
) -> Iterator[R]:
    """Apply `fn` to every item, yielding results as they finish (any order).

    `progress`, when given, is advanced once per item (or by `weight(item)`).
    `chunksize`: items sent to a worker at a time (default: up to 64, by the count).
    `lost`: the result of an item whose worker died reading it (`lost(item, why)`, `why`
    a sentence), so that the run goes on; without it, a worker's death is WorkerDied.
    The pool cannot tell which task a dead worker had (the workers take them from one
    pipe): the items of the chunks it had not answered are read again by a new pool, one
    at a time, so that a death then names its item; after MAX_DEATHS deaths, the items
    left are all lost, without another pool.
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
        chunksize = chunk_size(len(items), workers)
    chunks = enumerate(_chunks(items, chunksize))
    keep = weight is not None
    in_flight = 4 * workers
    sent: dict[int, list[T]] = {}  # the chunks in the pool not answered yet, by number
    suspects: deque[T] = deque()  # the items of those a dead worker left, read one by one
    deaths = 0
    while True:
        try:
            # WorkerPool, not multiprocessing.Pool: a worker that dies (the out-of-memory
            # killer, a crash in a library, kill -9) is an error (WorkerDied) there, where a
            # Pool would wait for its lost task for ever, holding the library's lock (a
            # nightly run that never ends)
            with WorkerPool(workers) as pool:  # any exit, KeyboardInterrupt included, ends them
                while suspects:  # alone in the pool: a death now is this item's
                    pool.submit(_apply, (fn, -1, [suspects[0]], keep))
                    _, results = pool.wait()  # type: ignore[misc]
                    suspects.popleft()
                    yield from _advanced(results, progress, weight)
                for number, chunk in chunks:
                    sent[number] = chunk
                    pool.submit(_apply, (fn, number, chunk, keep))
                    if pool.pending >= in_flight:
                        yield from _answered(pool.wait(), sent, progress, weight)
                while pool.pending:
                    yield from _answered(pool.wait(), sent, progress, weight)
            return
        except WorkerDied as exc:
            if lost is None:
                raise
            died = exc
        deaths += 1
        if suspects:  # it died on the one item it had: that item is lost
            log.warning("%s on an item of its own: that item is not read", died)
            why = f"not read: the process reading it {died.what}"
            yield _gone(suspects.popleft(), why, lost, progress, weight)
        else:  # on one of the items of the chunks it had not answered: all suspects now
            suspects.extend(item for chunk in sent.values() for item in chunk)
            sent.clear()
            log.warning("%s: its %d items are read again one at a time", died, len(suspects))
        if deaths >= MAX_DEATHS:  # workers that keep dying: what is left is not read
            why = (
                f"not read: {deaths} processes reading files ended unexpectedly"
                f" (the last: exit code {died.exitcode})"
            )
            for item in chain(suspects, (item for _, chunk in chunks for item in chunk)):
                yield _gone(item, why, lost, progress, weight)
            return


def chunk_size(count: int, workers: int, most: int = 64) -> int:
    """Items a worker is given at a time when `count` are to be done: up to `most`,
    eight chunks a worker (so that none waits long for the last ones)."""
    return max(1, min(most, count // (workers * 8)))


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _apply(task: tuple[Callable[[T], R], int, list[T], bool]) -> tuple[int, list[object]]:
    """A pmap worker's task: `fn` of each item of a chunk (with the item, when its
    weight is asked for by the caller), and the chunk's number (which chunks a dead
    worker left unanswered)."""
    fn, number, chunk, keep = task
    return number, [(item, fn(item)) for item in chunk] if keep else [fn(item) for item in chunk]


def _answered(
    back: object,
    sent: dict[int, list[T]],
    progress: Progress | None,
    weight: Callable[[T], int] | None,
) -> Iterator[R]:
    """The results of a chunk back from the pool, which is not in it any more."""
    number, results = back  # type: ignore[misc]
    del sent[number]
    return _advanced(results, progress, weight)


def _gone(
    item: T,
    why: str,
    lost: Callable[[T, str], R],
    progress: Progress | None,
    weight: Callable[[T], int] | None,
) -> R:
    """`lost(item, why)`, the progress advanced for it as for a result."""
    if progress is not None:
        progress.advance(weight(item) if weight else 1)
    return lost(item, why)


def _advanced(
    results: list[object], progress: Progress | None, weight: Callable[[T], int] | None
) -> Iterator[R]:
    for result in results:
        if weight is not None:
            item, result = result  # type: ignore[misc]
            if progress is not None:
                progress.advance(weight(item))
        elif progress is not None:
            progress.advance(1)
        yield result  # type: ignore[misc]


_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def _quiet_worker() -> None:
    """A worker's start. Ctrl-C reaches the whole process group: a worker ignores it (no
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
    with ThreadPoolExecutor(
        max_workers=min(workers, len(items)), initializer=signals.leave_to_the_main_thread
    ) as pool:
        futures = {pool.submit(fn, item): item for item in items}
        for future in as_completed(futures):
            if progress is not None:
                progress.advance(weight(futures[future]) if weight else 1)
            yield future.result()


class WorkerPool:
    """Worker processes given tasks one at a time as the caller finds them, while the
    caller goes on (a scan): the workers start, import and work meanwhile. Results come
    back as the tasks finish, in any order, through `ready` (those back now) and `wait`
    (the next one). A context manager: any exit, KeyboardInterrupt included, ends the
    workers (started, and stopped by signals, as `pmap`'s are).

        with WorkerPool(2) as pool:
            pool.submit(fn, item)
            for result in pool.ready(): ...
            while pool.pending: result = pool.wait()

    Unlike `multiprocessing.Pool`, no thread of this process sends the tasks or takes the
    results: the caller's thread does, when it calls `submit`, `ready` or `wait`. A busy
    caller (the scan) would otherwise keep those threads waiting for the interpreter's
    lock, a switch interval (5 ms) at a time, two or three times a task, and the workers
    waiting for them. As in a Pool, the workers take the tasks from one pipe (an idle
    worker takes the next task: none waits behind another's long one) and put the results
    in another. A task is written only when the pipe surely has room for it (the tasks
    not answered yet fit in it), so the caller never blocks on workers that are
    themselves blocked writing results; the others wait here. A worker that dies is an
    error (WorkerDied), not a wait for ever.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.pending = 0  # tasks submitted whose result has not been taken yet
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self._tasks: multiprocessing.connection.Connection | None = None
        self._results: multiprocessing.connection.Connection | None = None
        self._queued: deque[bytes] = deque()  # tasks not written yet
        self._sent: deque[int] = deque()  # the sizes of the tasks written, not answered
        self._unanswered = 0  # their sum: at most what is still in the pipe
        self._room = 4096
        self._locks: tuple[object, ...] = ()
        self._back: deque[tuple[bool, object]] = deque()  # results read, not taken

    def __enter__(self) -> WorkerPool:
        import multiprocessing  # here: a run that never starts a pool does not import it
        from multiprocessing import resource_tracker

        ctx = multiprocessing.get_context("spawn")
        # Workers start with the stop signals blocked (a spawned child inherits the mask
        # across exec), so a Ctrl-C during their start-up stays pending until _quiet_worker
        # has set SIGINT to ignored; the workers are ended by this process instead.
        # The resource tracker is started first: starting it unblocks SIGINT and SIGTERM
        # (multiprocessing.resource_tracker.ensure_running), which would undo our mask.
        resource_tracker.ensure_running()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            try:
                tasks_in, self._tasks = ctx.Pipe(duplex=False)
                self._results, results_out = ctx.Pipe(duplex=False)
                self._room = _pipe_room(self._tasks.fileno())
                # kept while the workers live (a spawned child opens them by name)
                self._locks = taking, putting = ctx.Lock(), ctx.Lock()
                for _ in range(self.workers):
                    args = (tasks_in, taking, results_out, putting)
                    proc = ctx.Process(target=_serve, args=args, daemon=True)
                    proc.start()
                    self._procs.append(proc)
                tasks_in.close()  # the workers' ends
                results_out.close()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending Ctrl-C: here
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the workers, whatever they are doing, and wait for them."""
        procs, self._procs = self._procs, []
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.terminate()
        for proc in procs:
            proc.join()
        for conn in (self._tasks, self._results):
            if conn is not None:
                conn.close()
        self._tasks = self._results = None
        self._locks = ()
        self._queued.clear()

    def submit(self, fn: Callable[[T], R], item: T) -> None:
        """`fn(item)` in a worker; its result is given by `ready` or `wait`. A task that
        raises gives its exception there."""
        assert self._procs, "WorkerPool used outside its with block"
        self._queued.append(pickle.dumps((fn, item), pickle.HIGHEST_PROTOCOL))
        self.pending += 1
        self._write()

    def ready(self) -> Iterator[object]:
        """The results back now, without waiting."""
        self._read(0)
        while self._back:
            yield self._take()

    def wait(self) -> object:
        """The next result, waiting for it (there must be a task pending)."""
        assert self.pending, "nothing submitted to wait for"
        while not self._back:
            self._read(None)
        return self._take()

    def _take(self) -> object:
        ok, value = self._back.popleft()
        self.pending -= 1
        if not ok:
            raise value  # type: ignore[misc]
        return value

    def _write(self) -> None:
        """Write the queued tasks that surely fit in the pipe (one at least when the pipe
        is empty: the workers are all waiting to read it)."""
        while self._queued:
            size = len(self._queued[0]) + 16  # (the length's header, and some)
            if self._sent and self._unanswered + size > self._room:
                return  # written when results come back
            try:
                self._tasks.send_bytes(self._queued.popleft())  # type: ignore[union-attr]
            except OSError:  # a broken pipe: the workers are gone
                raise self._died() from None
            self._sent.append(size)
            self._unanswered += size

    def _read(self, timeout: float | None) -> None:
        from multiprocessing.connection import wait

        if not self._sent:
            return
        results = self._results
        ready = wait([results, *(p.sentinel for p in self._procs)], timeout)  # type: ignore[list-item]
        while self._sent and results.poll():  # type: ignore[union-attr]
            try:
                data = results.recv_bytes()  # type: ignore[union-attr]
            except (EOFError, OSError):
                raise self._died() from None
            self._back.append(pickle.loads(data))
            self._unanswered -= self._sent.popleft()  # (sizes differ: the sum is what counts)
        if not self._back and len(ready) > (results in ready):
            raise self._died()  # a worker ended (its sentinel), and no result came
        self._write()

    def _died(self) -> WorkerDied:
        for proc in self._procs:
            proc.join(0.2 if proc.exitcode is None else 0)  # its exit code, once reaped
        codes = [p.exitcode for p in self._procs if p.exitcode is not None]
        return WorkerDied(codes[0] if codes else None)


class WorkerDied(RuntimeError):
    """A worker process ended while it had tasks (killed, out of memory)."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        self.what = f"ended unexpectedly (exit code {exitcode})"
        super().__init__(f"a worker process {self.what}")


def _pipe_room(fd: int) -> int:
    """The size of a pipe, made bigger when the system lets it (Linux), at least PIPE_BUF."""
    try:
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    except (ImportError, AttributeError, OSError):  # pragma: no cover - not Linux
        return 4096


def _serve(
    tasks: multiprocessing.connection.Connection,
    taking: multiprocessing.synchronize.Lock,
    results: multiprocessing.connection.Connection,
    putting: multiprocessing.synchronize.Lock,
) -> None:
    """A WorkerPool's worker: each task's result (or its exception), until the pipe ends.
    One worker at a time reads a task, and one at a time writes a result."""
    _quiet_worker()
    while True:
        try:
            with taking:
                data = tasks.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            fn, item = pickle.loads(data)
            out = pickle.dumps((True, fn(item)), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            try:
                out = pickle.dumps((False, exc), pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - an exception that cannot be pickled
                out = pickle.dumps((False, RuntimeError(repr(exc))), pickle.HIGHEST_PROTOCOL)
        try:
            with putting:
                results.send_bytes(out)
        except OSError:  # the caller is gone (killed): nobody to answer, and nothing to say
            return

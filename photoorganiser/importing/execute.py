"""Stage 5, execute: the only module that changes the user's files.

Rules, whatever happens (crash, full disk, another process writing):
- nothing is ever overwritten: a file is put under its final name with a
  no-clobber atomic step (renameat2 RENAME_NOREPLACE, else link(2), which also
  refuses an existing name);
- a copy is written under a hidden temporary name in the destination folder,
  flushed to disk, read back from the disk and checked against the content hash
  taken during analysis, and only then given its final name (a batch's copies are
  made side by side by a few threads, `Copies`, and named in order once verified);
- a source is removed only after its copy is in place and verified (or moved by
  a rename within one file system, which never copies);
- a source that changed since it was scanned is left alone for the next run;
- modification times (and permission bits) are kept.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import secrets
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import xxhash

from ..core import hashing, signals
from ..core.hashing import CHUNK_SIZE, hash_written, holds, thread_buffer
from ..core.progress import Progress
from ..core.values import (
    Action,
    Analysis,
    Decision,
    FileKind,
    MediaInfo,
    Outcome,
    Reason,
    RecoveryStep,
    ScanEntry,
    Status,
    Why,
)
from ..library.journal import (
    TEMP_MARK,
    JournalError,
    claim_content,
    is_claim,
    temporaries_of,
)


class TransferError(Exception):
    """A transfer that did not (fully) happen; str() is the reason for the report.

    `placed`: the verified copy is in the library all the same (only removing the
    source failed), so the catalog must know it.
    """

    def __init__(
        self, message: str, *, placed: bool = False, untouched: bool = False, later: bool = False
    ) -> None:
        super().__init__(message)
        self.placed = placed
        self.untouched = untouched  # nothing was tried: the file waits for its leader
        # not taken now, untouched, and no failure: another program is writing it, or it
        # changed since the scan (a copy still coming in); the next run takes it
        self.later = later


class JournalLike(Protocol):
    """Where execute writes what it is about to do, and what it did (journal.Journal)."""

    def intend(self, transfers: Sequence[Decision]) -> list[int]: ...

    def settle(self, done: Sequence[tuple[int, Outcome]]) -> None: ...


# A batch: its transfers' intents are one durable commit, its folders flushed once, its
# copies made side by side. It ends at BATCH decisions, at COPY_BATCH copies (a copy's
# naming waits for its batch's copies: a stop or a crash finds at most two batches of
# copies in flight, as before), or once its transfers hold BATCH_BYTES (what a killed
# run's recovery reads again). Renames within the library's disk were 64 a batch too: a
# first move of 100,000 small files made 1,563 commits, each a few fsyncs, and flushed
# each folder as often.
BATCH = 1024
COPY_BATCH = 64
BATCH_BYTES = 256 << 20  # as journal.SETTLE_BYTES; 64 copies of 2.5 MB photos, as before
# Copies of a batch made side by side (several disk requests in flight). 5 made the
# execute stage of 500 x 2.5 MB photos ~10% faster on this machine's virtual disk (2.32 s
# against 2.59 s, median of 5 paired runs); kept at 3 until it is measured on a spinning
# disk, where more requests in flight are more seeks. A stop undoes the copies in flight
# and begins none of those queued.
COPY_THREADS = 3


class _Unsupported(Exception):
    """The file system does not offer this primitive; try the next one."""


def simulate(decisions: Iterable[Decision]) -> list[Outcome]:
    """The dry run's outcomes: what would happen. Touches nothing."""
    return [
        Outcome(d, Status.FAILED, d.error)
        if d.action is Action.ERROR
        else Outcome(d, Status.PLANNED)
        for d in decisions
    ]


INTERRUPTED = "not done: the run was interrupted before this file"

OnOutcomes = Callable[[Sequence[Outcome]], None]


def execute(
    decisions: Sequence[Decision],
    progress: Progress | None = None,
    journal: JournalLike | None = None,
    report: OnOutcomes | None = None,
    root: Path | None = None,
) -> list[Outcome]:
    """Carry out the decisions in their order, each independently of the others (a
    batch's copies are made side by side, see `Copies`).

    With a journal, each batch of transfers is recorded before it starts and
    settled after, so a killed run can be finished or undone by the next one.
    `report` receives each batch's outcomes once they are settled. `root` is the
    library: no file is put through a folder inside it that is a symbolic link.

    Ctrl-C, SIGTERM and SIGHUP are deferred here: the file in hand is finished
    (a copy in progress is undone), the files not reached are `not-done`, and
    `Interrupted` carries every outcome.
    """
    outcomes: list[Outcome] = []
    reported = 0

    def flush() -> None:
        nonlocal reported
        if report is not None and reported < len(outcomes):
            report(outcomes[reported:])
        reported = len(outcomes)

    _ignore_lease_breaks()
    _CHECKED.clear()
    decisions = leaders_first(decisions)
    # leaders whose transfer failed (False) or was left for the next run (True): their
    # followers wait too
    waiting: dict[Path, bool] = {}
    pool = CopyPool()
    begun: list[_Batch] = []  # at most two: the batch being begun, and the one before it
    with signals.deferred(), contextlib.closing(pool):
        try:
            try:
                for batch in batches(decisions, _device(root)):
                    signals.check()
                    begun.append(_Batch(batch, progress, journal, root, waiting, Copies(pool)))
                    begun[-1].begin()
                    # The batch before ends once this one's copies are under way: the
                    # threads never wait for its naming and journal writes.
                    while len(begun) > 1:
                        begun.pop(0).end(outcomes)
                        flush()
                while begun:
                    begun.pop(0).end(outcomes)
                    flush()
            except BaseException as exc:  # the batches begun end in order, as the run stops
                # (the journal failing: their transfers are journalled, they end as usual)
                error = None if isinstance(exc, JournalError) else exc
                while begun:
                    with contextlib.suppress(JournalError, KeyboardInterrupt):
                        begun.pop(0).end(outcomes, error)
                raise
        except JournalError as exc:  # e.g. the library's disk is full: stop, touch nothing more
            outcomes += [
                _not_transferred(d, f"not done: {exc}") for d in decisions[len(outcomes) :]
            ]
            flush()
        except KeyboardInterrupt as exc:
            outcomes += [
                Outcome(d, Status.NOT_DONE, INTERRUPTED) for d in decisions[len(outcomes) :]
            ]
            flush()
            signum = getattr(exc, "signum", signal.SIGINT)
            signals.clear()
            raise Interrupted(outcomes, signum) from None
    signals.clear()  # a signal after the last file: everything was done all the same
    return outcomes


def batches(
    decisions: Sequence[Decision], device: int | None = None
) -> Iterator[Sequence[Decision]]:
    """The decisions in order, in batches of at most BATCH decisions, COPY_BATCH copies
    and BATCH_BYTES of transfers (a batch holds at least one decision, however big).
    A move counts as a copy unless its source is on `device`, the library's disk."""
    start = size = copies = 0
    for i, d in enumerate(decisions):
        if d.action.transfers and d.entry is not None:
            size += d.entry.size
            renamed = d.action.moves and device is not None and d.entry.device == device
            copies += not renamed
        if i + 1 - start >= BATCH or copies >= COPY_BATCH or size >= BATCH_BYTES:
            yield decisions[start : i + 1]
            start, size, copies = i + 1, 0, 0
    if start < len(decisions):
        yield decisions[start:]


def _device(root: Path | None) -> int | None:
    """The library's file system (a move from it is a rename), None if unknown."""
    try:
        return None if root is None else os.stat(root).st_dev
    except OSError:
        return None


def leaders_first(decisions: Sequence[Decision]) -> list[Decision]:
    """The decisions in their order, except that a file that travels with another (a
    sidecar, a Live Photo video) comes right after it: its leader's outcome decides it."""
    present = {d.source for d in decisions if d.action.transfers}
    waiting: dict[Path, list[Decision]] = {}
    done: set[Path] = set()
    ordered: list[Decision] = []

    def emit(d: Decision) -> None:
        ordered.append(d)
        done.add(d.source)
        for follower in waiting.pop(d.source, []):
            emit(follower)

    for d in decisions:
        leader = d.follows
        if d.action.transfers and leader in present and leader not in done and leader != d.source:
            waiting.setdefault(leader, []).append(d)
        else:
            emit(d)
    for followers in waiting.values():  # a leader that never came (cannot happen): in order
        ordered.extend(followers)
    return ordered


def _not_transferred(d: Decision, why: str) -> Outcome:
    """The outcome of a decision execute could not reach: only transfers fail."""
    if d.action.transfers:
        return Outcome(d, Status.FAILED, why)
    if d.action is Action.ERROR:
        return Outcome(d, Status.FAILED, d.error)
    return Outcome(d, Status.DONE)


class Interrupted(KeyboardInterrupt):
    """The run was stopped; `outcomes` has one outcome per decision (not-done for the rest)."""

    def __init__(self, outcomes: list[Outcome], signum: int = signal.SIGINT) -> None:
        super().__init__("interrupted")
        self.outcomes = outcomes
        self.signum = signum


class _Batch:
    """One journalled batch. `begin` records its transfers in the journal, then begins each
    in order (checked, its folder made, a rename within one disk done at once, a copy
    handed to the threads); `end` names its copies in order once all are verified (a file
    that travels with another begins after its leader's copy is named), flushes the
    folders, settles the journal and records the outcomes in the decisions' order."""

    def __init__(
        self,
        batch: Sequence[Decision],
        progress: Progress | None,
        journal: JournalLike | None,
        root: Path | None,
        waiting: dict[Path, bool],
        copies: Copies,
    ) -> None:
        self.batch, self.progress, self.journal, self.root = batch, progress, journal, root
        self.waiting, self.copies = waiting, copies
        self.transfers = [i for i, d in enumerate(batch) if d.action.transfers]
        self.ids: list[int] = []
        self.results: list[Outcome | None] = [None] * len(batch)
        self.begun: set[int] = set()  # transfers begun: settled as not done only if they are
        self.put_off: list[int] = []  # files whose leader's copy is still in flight
        self.recovered: list[Outcome] = []  # a killed run's intents, under their own ids
        self.dirty: set[Path] = set()  # folders whose renames must reach the disk first
        self.index = {id(d): i for i, d in enumerate(batch)}

    def begin(self) -> None:
        if self.journal is not None and self.transfers:
            self.ids = self.journal.intend([self.batch[i] for i in self.transfers])
        self._pass(range(len(self.batch)))

    def end(self, outcomes: list[Outcome], error: BaseException | None = None) -> None:
        """Finish the batch and append its outcomes. With `error` (the run is stopping):
        after a stop between files its copies in flight are finished or undone; after a
        crash they are left as intents for the next run's recovery."""
        try:
            if error is None:
                self._named()
                while self.put_off:
                    todo, self.put_off = self.put_off, []
                    self._pass(todo)
                    self._named()
            elif isinstance(error, KeyboardInterrupt) and signals.requested() is not None:
                self._named()
        except KeyboardInterrupt:
            if signals.requested() is not None:  # a stop between files: the copies in
                with contextlib.suppress(KeyboardInterrupt):  # flight finished, or undone
                    self._named()
            raise
        finally:  # even on Ctrl-C: what happened is recorded
            self._record(outcomes)

    def _outcome(self, i: int, outcome: Outcome) -> None:
        self.results[i] = outcome
        if outcome.decision.action.transfers:
            if outcome.status is Status.FAILED and not outcome.in_library:
                self.waiting[outcome.decision.source] = False
            elif outcome.status is Status.LATER:  # left for the next run: so are its own
                self.waiting[outcome.decision.source] = True
            if self.progress is not None:
                self.progress.advance(1)

    def _pass(self, todo: Iterable[int]) -> None:
        later = self.copies
        for i in todo:
            d = self.batch[i]
            if d.action.transfers:
                if later.copying(d.follows):
                    self.put_off.append(i)
                    continue
                signals.check()  # stop between files, never inside one
                self.begun.add(i)
                try:
                    if d.follows in self.waiting:
                        raise TransferError(
                            f"not done: {d.follows.name}, which it travels with, could not"
                            " be transferred; it goes with it next time",
                            untouched=True,
                            later=self.waiting[d.follows],
                        )
                    if d.action is Action.UNCOPY:
                        uncopy(d, self.dirty)
                    else:
                        transfer(d, self.dirty, self.root, later)
                except TransferError as exc:
                    status = Status.LATER if exc.later else Status.FAILED
                    self._outcome(i, Outcome(d, status, str(exc), in_library=exc.placed))
                    continue
                if not later.copying(d.source):
                    self._outcome(i, Outcome(d, Status.DONE, in_library=True))
            elif d.action is Action.FINISH_MOVE:
                self.results[i] = finish_move(d)
                self.recovered.append(self.results[i])
            elif d.action is Action.RECOVER and d.recovery is not None:
                self.results[i] = recover_one(d)
                self.recovered.append(self.results[i])
            elif d.action is Action.ERROR:
                self.results[i] = Outcome(d, Status.FAILED, d.error)
            else:
                self.results[i] = Outcome(d, Status.DONE)

    def _named(self) -> None:
        """The copies in flight, waited for and named: their outcomes recorded."""
        stopped = False
        for d, error in self.copies.finish(self.dirty):
            i = self.index[id(d)]
            if isinstance(error, KeyboardInterrupt):  # a stop: the copy was undone
                self._outcome(i, Outcome(d, Status.NOT_DONE, INTERRUPTED))
                stopped = True
            elif error is not None:
                self._outcome(i, Outcome(d, Status.FAILED, str(error), in_library=error.placed))
            else:
                self._outcome(i, Outcome(d, Status.DONE, in_library=True))
        if stopped:
            signals.check()

    def _record(self, outcomes: list[Outcome]) -> None:
        self.copies.abandon()  # a crash (not a stop) with copies in flight: intents stay
        for folder in sorted(self.dirty):
            _fsync_dir(folder)
        results, batch = self.results, self.batch
        last = max((i for i, o in enumerate(results) if o is not None), default=-1)
        outcomes += [
            o if o is not None else Outcome(d, Status.NOT_DONE, INTERRUPTED)
            for d, o in zip(batch[: last + 1], results, strict=False)
        ]
        if self.journal is not None and self.recovered:  # under the entries they finish
            self.journal.settle(
                [
                    (o.decision.recovery.journal_id if o.decision.recovery else 0, o)
                    for o in self.recovered
                ]
            )
        if self.journal is not None and self.ids:
            # Transfers never begun are settled as not done; one begun whose end is not
            # known (the run crashed meanwhile) stays an intent for recovery.
            done = []
            for journal_id, i in zip(self.ids, self.transfers, strict=True):
                outcome = results[i]
                if outcome is None and i in self.begun:
                    continue
                if outcome is None:
                    outcome = Outcome(batch[i], Status.NOT_DONE, INTERRUPTED)
                done.append((journal_id, outcome))
            self.journal.settle(done)


def transfer(
    d: Decision,
    dirty: set[Path] | None = None,
    root: Path | None = None,
    later: Copies | None = None,
) -> None:
    """Move or copy d.source to d.destination, never overwriting, verified.

    Folders changed only by atomic renames are added to `dirty`, for the caller to
    flush once per batch; without `dirty` they are flushed here and now. With `later`
    (a batch's copies in flight), a copy is only begun here: `later` makes it in a
    thread of its own and names it when the batch's copies are finished.
    """
    src, dst = d.source, d.destination

    def flush_later(folder: Path) -> None:
        if dirty is None:
            _fsync_dir(folder)
        else:
            dirty.add(folder)

    assert dst is not None and d.entry is not None and d.analysis is not None
    try:
        st = os.stat(src, follow_symlinks=False)
    except FileNotFoundError:
        raise TransferError("vanished since it was scanned") from None
    except OSError as exc:
        raise TransferError(f"cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise TransferError("is no longer a regular file (a link, pipe or device); left alone")
    if st.st_size != d.entry.size or st.st_mtime_ns != d.entry.mtime_ns:
        raise TransferError("changed since it was scanned; left for the next run", later=True)
    folder = make_folders(
        dst.parent, None if d.action is Action.RESTORE else root
    )  # back out: anywhere

    source: _Source | None = None
    if d.action.moves:
        source = _no_writer(src, st)  # a rename would take a file still being written
        try:
            moved = _move_in_place(src, dst, flush_later)
        except BaseException as exc:
            source.close()
            if isinstance(exc, FileExistsError):
                raise TransferError(f"{dst} already exists; nothing was overwritten") from None
            if isinstance(exc, OSError):
                raise TransferError(f"cannot move: {_why(exc)}") from None
            raise
        if moved:
            source.close()
            return
        # another disk: the copy reads the source already open, under the same lease
        try:
            source.blocking()
        except OSError as exc:
            source.close()
            raise TransferError(f"cannot read: {_why(exc)}") from None

    if source is None:
        try:
            source = _open_source(src, st)
        except OSError as exc:
            raise _unreadable(exc) from None
    job = _Copy(d, temp_path(dst), source, st, folder)
    if later is not None:
        later.begin(job)
        return
    try:
        _write_copy(job)
        _name_copy(job)
        if d.action is Action.COPY:  # the source stays: a name lost in a crash is copied again
            flush_later(dst.parent)
            return
        _fsync_dir(dst.parent)  # the copy's name is on disk before the source may go
        _remove_source(job)
    finally:
        source.close()
    flush_later(src.parent)


@dataclass(slots=True)
class _Copy:
    """A copy begun by `transfer`: the source open (under its lease), the temporary name."""

    d: Decision
    tmp: Path
    source: _Source
    st: os.stat_result
    folder: Identity | None = None  # its library folder as checked: it is named only there
    future: Future[None] | None = None


def _write_copy(job: _Copy) -> None:
    """Write the temporary file, flush it, read it back from the disk (any thread)."""
    assert job.d.analysis is not None
    if signals.requested() is not None:  # the run is stopping: a copy not begun is not
        raise signals.Stopped(signals.requested())  # begun (nothing to undo)
    with temporary(job.tmp, "cannot copy"):
        _copy_verified(job.source, job.tmp, job.d.analysis.hash, job.st)


def _name_copy(job: _Copy) -> None:
    """Give the verified temporary file its final name, never replacing anything."""
    dst = job.d.destination
    assert dst is not None and job.d.analysis is not None
    with temporary(job.tmp, "cannot copy"):
        if job.folder is not None and _identity(dst.parent) != job.folder:
            raise TransferError(
                f"{dst.parent} changed during the run (another folder or a link in its"
                " place); nothing is put through it"
            )
        try:
            _publish(job.tmp, dst, job.d.analysis.hash)
        except FileExistsError:
            raise TransferError(f"{dst} already exists; nothing was overwritten") from None


def _remove_source(job: _Copy) -> None:
    """A move to another disk: the source removed, once its copy's name is on disk and
    only while it is the file that was copied, unchanged."""
    src = job.d.source
    why_not = job.source.unchanged(src)
    if why_not:
        raise TransferError(
            f"copied and verified into the library, but the original was kept: {why_not}",
            placed=True,
        )
    try:
        os.unlink(src)
    except OSError as exc:
        raise TransferError(
            f"copied and verified into the library, but the original could not be removed:"
            f" {_why(exc)}",
            placed=True,
        ) from None


class Copies:
    """One batch's copies in flight: each written, flushed and read back from the disk by
    one of a few threads (os.read/write/fsync and xxhash release the GIL, so several disk
    requests are in flight and both cores work), then named in the decisions' order by
    `finish`, once every one of them is verified. A move's source is removed only after
    its copy's name is on disk. The threads are started at the first copy."""

    def __init__(self, pool: CopyPool) -> None:
        self.pool = pool
        self._jobs: list[_Copy] = []
        self._sources = pool.copying  # shared by the batches: a leader may be in the last

    def begin(self, job: _Copy) -> None:
        self._jobs.append(job)
        self._sources.add(job.d.source)
        job.future = self.pool.submit(_write_copy, job)

    def copying(self, source: Path | None) -> bool:
        """`source` has a copy in flight (begun, not yet named)."""
        return source is not None and source in self._sources

    def finish(
        self, dirty: set[Path]
    ) -> list[tuple[Decision, TransferError | KeyboardInterrupt | None]]:
        """Wait for every copy in flight, then name each verified one in order; moves'
        folders flushed once, then their sources removed. Per copy: None (done), the
        TransferError, or the KeyboardInterrupt that stopped (and undid) it."""
        jobs = self._jobs
        if not jobs:
            return []
        # Nothing of the batch is named before all its copies are verified: the order of
        # its names and removals stays the decisions' order, whatever the threads' timing.
        wait([job.future for job in jobs if job.future is not None])
        results: list[tuple[Decision, TransferError | KeyboardInterrupt | None]] = []
        placed: list[_Copy] = []
        try:
            while self._jobs:
                job = self._jobs[0]
                error = job.future.exception() if job.future is not None else None
                if error is None:
                    try:
                        _name_copy(job)
                        placed.append(job)
                    except TransferError as exc:
                        error = exc
                if error is not None and not isinstance(error, TransferError | KeyboardInterrupt):
                    raise error  # a crash in a thread is a crash of the run
                self._jobs.pop(0)
                self._sources.discard(job.d.source)
                if error is not None:
                    job.source.close()
                results.append((job.d, error))
            errors: dict[int, TransferError] = {}
            moves = [job for job in placed if job.d.action.moves]
            for folder in sorted({job.tmp.parent for job in moves}):
                _fsync_dir(folder)  # the copies' names are on disk before a source may go
            for job in placed:
                try:
                    if job.d.action.moves:
                        _remove_source(job)
                        dirty.add(job.d.source.parent)
                    else:  # the source stays: a name lost in a crash is copied again
                        dirty.add(job.tmp.parent)
                except TransferError as exc:
                    errors[id(job.d)] = exc
                finally:
                    job.source.close()
        except BaseException:
            for job in placed:
                job.source.close()
            raise
        return [(d, errors.get(id(d), error)) for d, error in results]

    def abandon(self) -> None:
        """After a crash with copies in flight: wait for them, remove their temporary
        files, close their sources (their journal entries stay intents)."""
        if not self._jobs:
            return
        wait([job.future for job in self._jobs if job.future is not None])
        for job in self._jobs:
            _remove_quietly(job.tmp)
            job.source.close()
            self._sources.discard(job.d.source)
        self._jobs.clear()


class CopyPool:
    """The threads that make copies (started at the first copy, shared by the batches of
    a run), and the sources being copied."""

    def __init__(self, threads: int = COPY_THREADS) -> None:
        self.threads = threads
        self.copying: set[Path] = set()
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[[_Copy], None], job: _Copy) -> Future[None]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.threads,
                thread_name_prefix="po-copy",
                initializer=signals.leave_to_the_main_thread,  # a stop is seen at once
            )
        return self._executor.submit(fn, job)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None


def uncopy(d: Decision, dirty: set[Path] | None = None) -> None:
    """Undo a copy: remove d.source (the library's copy) once it is checked to hold the
    content it was copied with, unchanged since planned, and d.destination (the original)
    still holds the same content. Anything else: left alone, TransferError."""
    lib, original = d.source, d.destination
    assert original is not None and d.entry is not None and d.analysis is not None
    size, content_hash = d.analysis.entry.size, d.analysis.hash
    try:
        st = os.stat(lib, follow_symlinks=False)
    except FileNotFoundError:
        raise TransferError("vanished since it was looked at") from None
    except OSError as exc:
        raise TransferError(f"cannot read: {_why(exc)}") from None
    if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime_ns, st.st_ino) != (
        d.entry.size,
        d.entry.mtime_ns,
        d.entry.inode,
    ):
        raise TransferError("changed since it was looked at; left alone")
    if not holds(lib, size, content_hash):
        raise TransferError("its content changed; left alone")
    if not holds(original, size, content_hash):
        raise TransferError(f"the original {original} is gone or changed; the copy is kept")
    try:
        os.unlink(lib)
    except OSError as exc:
        raise TransferError(f"cannot remove it: {_why(exc)}") from None
    if dirty is None:
        _fsync_dir(lib.parent)
    else:
        dirty.add(lib.parent)


def remove_emptied_library_folders(paths: Iterable[Path], root: Path) -> int:
    """After an undo: the library folders that held these files and are empty now are
    removed (never the library itself). Returns how many."""
    return remove_empty_folders(paths, [root])


def recover_one(d: Decision) -> Outcome:
    """Carry out what recovery decided for one transfer a killed run left half-way:
    its leftovers (temporary files, a claim placeholder) removed, a finished move's
    source removed after both copies are checked again. Never raises for a file."""
    assert d.recovery is not None and d.destination is not None and d.analysis is not None
    step, dst, src = d.recovery.step, d.destination, d.source
    content_hash, size = d.analysis.hash, d.analysis.entry.size
    for leftover in temporaries_of(dst):
        _remove_quietly(leftover)
    if is_claim(dst, content_hash):
        _remove_quietly(dst)
    if step is RecoveryStep.FINISH_MOVE:
        if not (holds(dst, size, content_hash) and holds(src, size, content_hash)):
            return Outcome(d, Status.FAILED, "changed since the check; left as it is")
        try:
            os.unlink(src)
        except OSError as exc:
            why = f"{dst} holds its verified copy, but the original could not be removed"
            return Outcome(d, Status.FAILED, f"{why} ({_why(exc)}); it stays", in_library=True)
        _fsync_dir(src.parent)
        return Outcome(d, Status.DONE, in_library=True)
    if step is RecoveryStep.RECORD:
        return Outcome(d, Status.DONE, in_library=True)
    if step is RecoveryStep.MISSING:
        return Outcome(d, Status.FAILED, f"{src} and {dst} are both gone (moved by hand?)")
    return Outcome(d, Status.DONE)  # undone, or another file's name: nothing to change


def finish_move(d: Decision) -> Outcome:
    """Remove a source an earlier move placed in the library (at d.destination) but could
    not remove: only while both still hold the content, and the source is unchanged."""
    assert d.destination is not None and d.analysis is not None and d.entry is not None
    src, dst = d.source, d.destination
    try:
        st = os.stat(src, follow_symlinks=False)
    except OSError as exc:
        return Outcome(d, Status.FAILED, f"cannot read: {_why(exc)}")
    if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime_ns) != (
        d.entry.size,
        d.entry.mtime_ns,
    ):
        return Outcome(d, Status.FAILED, "changed since it was scanned; left for the next run")
    size, content_hash = d.entry.size, d.analysis.hash
    if not (holds(dst, size, content_hash) and holds(src, size, content_hash)):
        return Outcome(d, Status.FAILED, f"{dst} no longer holds its copy; left where it is")
    try:
        os.unlink(src)
    except OSError as exc:
        return Outcome(d, Status.FAILED, f"the original still cannot be removed: {_why(exc)}")
    _fsync_dir(src.parent)
    return Outcome(d, Status.DONE)


def remove_emptied_folders(decisions: Sequence[Decision], inputs: Sequence[Path]) -> int:
    """After a move: the inbox folders that the run emptied are removed (never an input
    folder itself). Returns how many."""
    moved = [d.source for d in decisions if d.action in (Action.MOVE, Action.FINISH_MOVE)]
    return remove_empty_folders(moved, inputs)


def remove_empty_folders(paths: Iterable[Path], roots: Iterable[Path]) -> int:
    """The folders between each path and its root that are empty now are removed, deepest
    first; never a root, never a link, never a folder that still holds anything (hidden
    files included: rmdir(2) refuses one that is not empty). Returns how many."""
    roots = {Path(r) for r in roots}
    folders: set[Path] = set()
    outside: set[Path] = set()  # folders under no root
    # Each distinct folder once (a move of 100,000 files has a few hundred), and its
    # parents only until one already seen.
    for start in {path.parent for path in paths}:
        folder = start
        while folder not in roots and folder not in folders and folder not in outside:
            if not any(r in folder.parents for r in roots):
                outside.add(folder)
                break
            folders.add(folder)
            folder = folder.parent
    removed = 0
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            if stat.S_ISLNK(os.lstat(folder).st_mode):
                continue
            os.rmdir(folder)
            removed += 1
        except OSError:
            continue  # not empty (or not ours to remove): left as it is
    return removed


Identity = tuple[int, int]  # a folder's (st_dev, st_ino)


def make_folders(folder: Path, root: Path | None) -> Identity | None:
    """Create `folder` (inside the library `root`) one level at a time, refusing to go
    through a symbolic link: a photo must land in the library, not where a link points.
    A folder checked before in this run is asked again only whether it is still the same
    folder (one stat: a folder swapped for a link since, or moved, is walked again).
    Returns the folder's identity as checked (None: outside the library, or its root),
    which a copy named later must still find there."""
    if root is None:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise TransferError(f"cannot create folder {folder}: {_why(exc)}") from None
        return None
    known = _CHECKED.get(folder)
    if known is not None:  # created or looked at already in this run
        if _identity(folder) == known:
            return known
        del _CHECKED[folder]  # changed under the library: every level is checked again
    try:
        parts = folder.relative_to(root).parts
    except ValueError:
        raise TransferError(f"{folder} is not inside the library {root}") from None
    if not parts:
        return None  # the library's own folder (which may be reached through a link)
    current = root
    for part in parts:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            try:
                os.mkdir(current)
                st = os.lstat(current)
            except FileExistsError:
                st = os.lstat(current)
            except OSError as exc:
                raise TransferError(f"cannot create folder {current}: {_why(exc)}") from None
        except OSError as exc:
            raise TransferError(f"cannot look at folder {current}: {_why(exc)}") from None
        if stat.S_ISLNK(st.st_mode):
            raise TransferError(
                f"{current} in the library is a symbolic link; nothing is put through it"
            )
        if not stat.S_ISDIR(st.st_mode):
            raise TransferError(f"{current} in the library is a file, not a folder")
    _CHECKED[folder] = (st.st_dev, st.st_ino)
    return _CHECKED[folder]


# library folders checked in this run (cleared by execute), with what they were then
_CHECKED: dict[Path, Identity] = {}


def _identity(folder: Path) -> Identity | None:
    """The folder a path leads to now, through any link on the way (None: none)."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def forget_folders() -> None:
    """A run that makes library folders without `execute` (repair) starts with this: the
    folders an earlier run of this process checked may be gone since."""
    _CHECKED.clear()


class _Source:
    """An open source file: regular, not a link, read at most to its scanned size, under
    a read lease where the kernel grants one (it fails while any process has the file
    open for writing, and breaks when one opens it so: then the original is kept)."""

    def __init__(self, fd: int, st: os.stat_result) -> None:
        self.fd = fd
        self.st = st
        self.leased = False
        if hasattr(fcntl, "F_SETLEASE"):
            try:
                fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
                self.leased = True
            except BlockingIOError:
                os.close(fd)
                raise OSError(
                    errno.ETXTBSY, "another program has it open for writing; left for the next run"
                ) from None
            except OSError:
                pass  # not our file, or a file system without leases: the stat checks remain

    def unchanged(self, path: Path) -> str | None:
        """Why the source may not be removed now, or None: checked just before unlink."""
        if self.leased:
            try:
                if fcntl.fcntl(self.fd, fcntl.F_GETLEASE) != fcntl.F_RDLCK:
                    return "another program opened it for writing during the copy"
            except OSError:
                return "cannot tell whether another program is writing it"
        try:
            now = os.fstat(self.fd)
            named = os.stat(path, follow_symlinks=False)
        except OSError as exc:
            return f"cannot check it again: {exc.strerror}"
        before = self.st
        if (now.st_size, now.st_mtime_ns, now.st_ctime_ns) != (
            before.st_size,
            before.st_mtime_ns,
            before.st_ctime_ns,
        ):
            return "it changed while being copied (written to, or its size or time changed)"
        if (named.st_ino, named.st_dev) != (now.st_ino, now.st_dev):
            return "its name now points to another file"
        return None

    def blocking(self) -> None:
        """Reads wait for the disk again (opened O_NONBLOCK, so that a FIFO swapped in
        is never waited on): before the source is read."""
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        if flags & os.O_NONBLOCK:
            fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)

    def close(self) -> None:
        # The lease goes with the file: closing its only descriptor releases it
        # (fcntl(2); it is opened O_CLOEXEC and never duplicated), no F_UNLCK needed.
        if self.fd < 0:
            return
        os.close(self.fd)
        self.fd = -1


def _open_source(src: Path, scanned: os.stat_result, *, read: bool = True) -> _Source:
    """`src` opened, checked to be the regular file that was scanned, and leased.
    `read=False` (a rename): left O_NONBLOCK until `blocking()` (two syscalls fewer)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(src, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if (st.st_ino, st.st_dev) != (scanned.st_ino, scanned.st_dev):
            raise OSError(errno.ESTALE, "replaced by another file since it was looked at")
        if read:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return _Source(fd, st)


def _no_writer(src: Path, scanned: os.stat_result) -> _Source:
    """Before a rename: the source opened as the copy path opens it (the file that was
    read, regular, not a link) and under a read lease, so a file another program still
    has open for writing is left for the next run. Where the kernel grants no lease
    (not our file, a file system without leases) the stat checks remain."""
    try:
        return _open_source(src, scanned, read=False)
    except OSError as exc:
        # still being written, replaced since it was read, no longer a regular file, or
        # an open that fails now: not what was planned, or not safe to take now
        raise _unreadable(exc) from None


def _unreadable(exc: OSError) -> TransferError:
    """A source that cannot be opened now; one another program is writing is left for
    the next run, untouched, not failed."""
    busy = exc.errno == errno.ETXTBSY
    return TransferError(exc.strerror if busy else f"cannot read: {_why(exc)}", later=busy)


def _ignore_lease_breaks() -> None:
    """A lease break is signalled with SIGIO, which would end the process by default;
    we poll the lease instead (F_GETLEASE before removing a source)."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGIO"):
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(signal.SIGIO) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGIO, signal.SIG_IGN)


@contextlib.contextmanager
def temporary(tmp: Path, failing: str) -> Iterator[None]:
    """Work on a temporary file `tmp`: on any failure it is removed (it never keeps a
    final name), and an OSError becomes a TransferError saying what failed."""
    try:
        yield
    except OSError as exc:
        _remove_quietly(tmp)
        raise TransferError(f"{failing}: {_why(exc)}") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def temp_path(dst: Path) -> Path:
    name = f".{dst.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    return dst.with_name(name)


def _move_in_place(src: Path, dst: Path, flush_later: Callable[[Path], None]) -> bool:
    """Rename within one file system, refusing an existing name. False: must copy.

    A rename is atomic: after a crash the file has its old name or its new one,
    so its folders may be flushed later, once per batch.
    """
    try:
        rename_noreplace(src, dst)
    except _Unsupported:
        try:
            os.link(src, dst)  # no-clobber: EEXIST if dst exists
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno in (
                errno.EXDEV,
                errno.EPERM,
                errno.ENOTSUP,
                errno.EOPNOTSUPP,
                errno.EMLINK,
            ):
                return False
            raise
        _fsync_dir(dst.parent)  # two steps, not atomic: the new name is on disk first
        try:
            os.unlink(src)
        except OSError as exc:  # the photo is in the library all the same: say so
            raise TransferError(
                f"placed in the library, but the original could not be removed: {_why(exc)}",
                placed=True,
            ) from None
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return False  # another file system: copy, verify, then remove
        raise
    flush_later(dst.parent)
    flush_later(src.parent)
    return True


def _publish(tmp: Path, dst: Path, content_hash: str) -> None:
    """Give the verified temporary file its final name, never replacing anything."""
    try:
        rename_noreplace(tmp, dst)
        return
    except _Unsupported:
        pass
    try:
        os.link(tmp, dst)
        os.unlink(tmp)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # No atomic no-clobber primitive at all (exFAT, FAT over FUSE): claim the name
    # exclusively with a recognisable placeholder (flushed, so a crash leaves that and
    # not an empty file), then replace our own claim with the verified copy in one
    # rename. Recovery removes a placeholder a kill left behind.
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, claim_content(content_hash))
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(dst.parent)
    os.replace(tmp, dst)


def hash_file(fd: int) -> str:
    """The check of a copy (the read-back): XXH3-128 of the flushed copy open as `fd`,
    read from the disk (O_DIRECT; its pages dropped and read as usual where O_DIRECT is
    refused). The tests and bench/noverify.py replace it."""
    return hash_written(fd)


_NEW_COPY = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _copy_verified(source: _Source, tmp: Path, expected_hash: str, st: os.stat_result) -> None:
    """Copy the source into the new file `tmp`, its bytes hashed on the way; flush it, drop
    its cached pages, read it back from the disk through the same descriptor (the very
    file written) and check both hashes against the analysis's; then its times and
    permission bits. Any failure leaves `tmp` for the caller to remove."""
    fd_out = os.open(tmp, _NEW_COPY, 0o600)
    try:
        hasher = xxhash.xxh3_128()
        view = thread_buffer()  # this thread's, reused: no fresh 4 MiB per file
        left = st.st_size + 1  # bounded by the size it had: a growing file is caught below
        while left > 0:
            want = min(CHUNK_SIZE, left)
            n = os.readv(source.fd, [view[:want]])
            if not n:
                break
            left -= n
            hasher.update(view[:n])
            written = 0
            while written < n:
                written += os.write(fd_out, view[written:n])
            if signals.requested() is not None:  # stop now: the unfinished copy is undone
                raise signals.Stopped(signals.requested())
            if n < want and left <= 1:  # short, having reached the size: the end (a
                break  # regular file's reads are short only there), no read more to see it
        if left <= 0 or hasher.hexdigest() != expected_hash:
            raise TransferError(
                "changed while being copied (content differs from when it was read)"
            )
        os.fsync(fd_out)
        if hasattr(os, "posix_fadvise"):  # the copy's pages, clean now, leave the cache:
            os.posix_fadvise(fd_out, 0, 0, os.POSIX_FADV_DONTNEED)  # the read-back reads disk
        if hash_file(fd_out) != expected_hash:
            raise TransferError("the copy read back from disk does not match the original")
        os.utime(fd_out, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.chmod(fd_out, stat.S_IMODE(st.st_mode))  # by fd: the very file checked
    finally:
        os.close(fd_out)


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the library's disk"
    if exc.errno == errno.EROFS:
        return "the library is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied ({exc.filename})"
    return exc.strerror or str(exc)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems cannot sync a folder
            os.fsync(fd)
    finally:
        os.close(fd)


# --- rename without replacing ---------------------------------------------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1  # Linux renameat2 flag
_RENAME_EXCL = 0x4  # macOS renamex_np flag


def _load_rename():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        return None
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        fn = libc.renameat2
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return lambda a, b: fn(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_NOREPLACE)
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):  # pragma: no cover
        fn = libc.renamex_np
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return lambda a, b: fn(a, b, _RENAME_EXCL)
    return None  # pragma: no cover


_rename = _load_rename()


def rename_noreplace(src: Path, dst: Path) -> None:
    """Atomically rename src to dst; FileExistsError if dst exists; _Unsupported if the
    platform or file system cannot do it."""
    if _rename is None:
        raise _Unsupported
    if _rename(os.fsencode(src), os.fsencode(dst)) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        raise _Unsupported
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


# --- dedupe: acting on a duplicate whose keeper is checked ----------------------------
#
# Each takes a file whose content was read again and matched the reviewed report's hash,
# with the stat taken then (`seen`): the file is acted on only while its name still
# points to that same, unchanged inode. The keeper is never touched.


def _still(path: Path, seen: os.stat_result) -> None:
    """`path` is still the regular file `seen` describes; TransferError otherwise."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        raise TransferError("vanished since it was checked") from None
    except OSError as exc:
        raise TransferError(f"cannot read: {_why(exc)}") from None
    # Not the ctime: moving another name of the same inode (a hard link) changes it.
    same = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)
    if not stat.S_ISREG(st.st_mode) or same != (
        seen.st_ino,
        seen.st_dev,
        seen.st_size,
        seen.st_mtime_ns,
    ):
        raise TransferError("changed since it was checked; left alone")


def move_aside(
    src: Path, dst: Path, content_hash: str, seen: os.stat_result, dirty: set[Path] | None = None
) -> None:
    """Move a duplicate to `dst` (quarantine, trash): the import's own verified,
    never-overwriting move (a rename, else a copy read back from disk, then the source
    removed)."""
    _still(src, seen)
    entry = ScanEntry(src, FileKind.OTHER, seen.st_size, seen.st_mtime_ns, seen.st_ino, seen.st_dev)
    d = Decision(
        src,
        Action.MOVE,
        Reason(Why.FROM_PLAN),
        destination=dst,
        analysis=Analysis(entry, content_hash, MediaInfo(), None),
        entry=entry,
    )
    transfer(d, dirty)


def replace_with_link(
    dup: Path,
    keeper: Path,
    content_hash: str,
    seen: os.stat_result,
    keeper_seen: os.stat_result,
    dirty: set[Path] | None = None,
) -> None:
    """Replace `dup` by a hard link to `keeper`, atomically: the link is made under a
    temporary name in dup's folder, checked (the keeper's inode, the content), then
    renamed over dup. The keeper is only linked to."""
    if seen.st_dev != keeper_seen.st_dev:
        raise TransferError(f"not on the same file system as its keeper {keeper}; left alone")
    tmp = temp_path(dup)
    try:
        os.link(keeper, tmp, follow_symlinks=False)
    except OSError as exc:
        raise TransferError(f"cannot link to the keeper {keeper}: {_why(exc)}") from None
    with temporary(tmp, "cannot replace it by a link"):
        st = os.stat(tmp, follow_symlinks=False)
        if (st.st_ino, st.st_dev) != (keeper_seen.st_ino, keeper_seen.st_dev):
            raise TransferError(f"the keeper {keeper} was replaced since it was checked")
        if (st.st_size, st.st_mtime_ns) != (keeper_seen.st_size, keeper_seen.st_mtime_ns):
            raise TransferError(f"the keeper {keeper} changed since it was checked")
        if hashing.hash_file(tmp) != content_hash:
            raise TransferError(f"the keeper {keeper} no longer holds the same content")
        _still(dup, seen)
        os.replace(tmp, dup)
    _flush(dup.parent, dirty)


def _flush(folder: Path, dirty: set[Path] | None) -> None:
    if dirty is None:
        _fsync_dir(folder)
    else:
        dirty.add(folder)


FICLONE = 0x40049409  # ioctl(2): make a file share another's blocks (btrfs, XFS, bcachefs)


def replace_with_clone(
    dup: Path, keeper: Path, content_hash: str, seen: os.stat_result, dirty: set[Path] | None = None
) -> None:
    """Replace `dup` by a reflink of `keeper` (a copy sharing its blocks: no space used,
    and either may change later without touching the other): cloned under a temporary
    name in dup's folder, checked, renamed over dup. File systems without reflinks
    (ext4, tmpfs...) refuse it: the duplicate is left as it is."""
    _still(dup, seen)
    tmp = temp_path(dup)
    try:
        with open(keeper, "rb") as src:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.ioctl(fd, FICLONE, src.fileno())
            finally:
                os.close(fd)
    except OSError as exc:
        _remove_quietly(tmp)
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.EXDEV):
            raise TransferError(
                "this file system cannot share blocks between files (no reflinks): left alone"
            ) from None
        raise TransferError(f"cannot clone its keeper: {_why(exc)}") from None
    with temporary(tmp, "cannot replace it by its clone"):
        if hashing.hash_file(tmp) != content_hash:
            raise TransferError("the clone does not hold its keeper's content: left alone")
        os.utime(tmp, ns=(seen.st_atime_ns, seen.st_mtime_ns))
        os.chmod(tmp, stat.S_IMODE(seen.st_mode))
        _still(dup, seen)
        os.replace(tmp, dup)  # over the duplicate, checked unchanged just now
    _flush(dup.parent, dirty)


def separate_link(
    path: Path,
    keeper: Path,
    content_hash: str,
    mtime_ns: int | None = None,
    mode: int | None = None,
) -> None:
    """Undo a hard link: `path` gets its own copy of the content again. The copy is made
    from the keeper under a temporary name, verified from the disk, given the file's own
    modification time and permission bits when known (else the keeper's), and renamed
    over `path` only while `path` is still the same file as the keeper (the link dedupe
    made)."""
    try:
        kst = os.stat(keeper, follow_symlinks=False)
        pst = os.stat(path, follow_symlinks=False)
    except OSError as exc:
        raise TransferError(f"cannot look at it: {_why(exc)}") from None
    if (pst.st_ino, pst.st_dev) != (kst.st_ino, kst.st_dev):
        raise TransferError(f"no longer a link to {keeper}: left as it is")
    tmp = temp_path(path)
    source = _open_source(keeper, kst)
    try:
        with temporary(tmp, "cannot make its own copy"):
            _copy_as(source, tmp, content_hash, kst, mtime_ns, mode)
            same = os.stat(path, follow_symlinks=False).st_ino == kst.st_ino
            if not same:
                raise TransferError(f"{path} changed meanwhile: left as it is")
            os.replace(tmp, path)  # replaces only our own link to the same content
    finally:
        source.close()
    _fsync_dir(path.parent)


def _copy_as(
    source: _Source,
    tmp: Path,
    content_hash: str,
    kst: os.stat_result,
    mtime_ns: int | None,
    mode: int | None,
) -> None:
    """The keeper's verified copy at `tmp`, with another file's modification time and
    permission bits when they are known (else the keeper's)."""
    _copy_verified(source, tmp, content_hash, kst)
    if mtime_ns is not None:
        os.utime(tmp, ns=(kst.st_atime_ns, mtime_ns))
    if mode is not None:
        os.chmod(tmp, stat.S_IMODE(mode))


def restore_copy(
    path: Path, keeper: Path, content_hash: str, mtime_ns: int | None, mode: int | None = None
) -> None:
    """Undo a deletion: `path` (gone) gets the content back from the keeper that still
    holds it, copied under a temporary name, verified from the disk, and given the name
    only while no other file has taken it; its modification time and permission bits are
    the deleted file's when known."""
    try:
        kst = os.stat(keeper, follow_symlinks=False)
    except OSError as exc:
        raise TransferError(f"its keeper {keeper} cannot be read: {_why(exc)}") from None
    if os.path.lexists(path):
        raise TransferError("its place is taken by another file: left as it is")
    tmp = temp_path(path)
    source = _open_source(keeper, kst)
    try:
        with temporary(tmp, "cannot copy it back"):
            _copy_as(source, tmp, content_hash, kst, mtime_ns, mode)
            try:
                _publish(tmp, path, content_hash)
            except FileExistsError:
                raise TransferError("its place is taken by another file: left as it is") from None
    finally:
        source.close()
    _fsync_dir(path.parent)


def flush_folders(folders: Iterable[Path]) -> None:
    """Make the renames and removals in `folders` durable (once per batch)."""
    for folder in sorted(set(folders)):
        _fsync_dir(folder)


def delete_duplicate(path: Path, seen: os.stat_result, dirty: set[Path] | None = None) -> None:
    """Delete a duplicate whose keeper was checked; only while it is unchanged."""
    _still(path, seen)
    try:
        os.unlink(path)
    except OSError as exc:
        raise TransferError(f"cannot delete: {_why(exc)}") from None
    _flush(path.parent, dirty)


def trash_duplicate(
    path: Path,
    trash: Path,
    content_hash: str,
    seen: os.stat_result,
    deleted_at: str,
    dirty: set[Path] | None = None,
) -> Path:
    """Move a duplicate to the freedesktop trash `trash` (files/NAME, info/NAME.trashinfo):
    the info file claimed first under a name no other holds (O_EXCL), then the verified
    move. Returns where it went."""
    from urllib.parse import quote

    files, info = trash / "files", trash / "info"
    for folder in (files, info):
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise TransferError(f"cannot create the trash {folder}: {_why(exc)}") from None
    stem, suffix = os.path.splitext(path.name)
    for n in range(1, 10000):
        name = path.name if n == 1 else f"{stem}.{n}{suffix}"
        if os.path.lexists(files / name):
            continue
        try:
            fd = os.open(
                info / f"{name}.trashinfo",
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                0o600,
            )
        except FileExistsError:
            continue
        except OSError as exc:
            raise TransferError(f"cannot write in the trash: {_why(exc)}") from None
        text = f"[Trash Info]\nPath={quote(os.fsencode(path))}\nDeletionDate={deleted_at}\n"
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            move_aside(path, files / name, content_hash, seen, dirty)
        except TransferError as exc:
            if not exc.placed:
                _remove_quietly(info / f"{name}.trashinfo")
            raise
        return files / name
    raise TransferError("no free name in the trash")

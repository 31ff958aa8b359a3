"""`watch`: import what lands in an inbox as it lands.

Events (inotify through watchdog, or polling) only say "something changed under the
inbox"; the truth is the disk. The loop:

    catch-up      one import of what is already there
    wait          an event (or the periodic rescan) marks the inbox dirty
    settle        the inbox's new or changed files are looked at (size, mtime) until none
                  has changed for `settle` seconds (a new change extends the wait,
                  `max_wait` bounds it)
    batch         ONE import over the inbox (runs/importer.run_import: the nightly run's
                  lock, waited for, its catalog, rules, history and report)
    again         files the batch left (still open for writing, changed, failed, not
                  reached) are tried again when they change or are closed, or at the rescan
    damaged       a file that reads as damaged (a truncated JPEG) may be a transfer that
                  stalled and will resume: each batch leaves it in the inbox (as
                  --leave-damaged does) until it has stayed unchanged for `damaged_wait`
                  seconds; then a batch imports it as it is (an import whose own settle is
                  `damaged_wait`, so only files unchanged that long are taken as they are).
                  A file that grows again is read again, and taken whole when it is.

A signal (Ctrl-C, SIGTERM, SIGHUP) while idle ends the watch at once; during a batch it
stops as an import does (the file in hand finished or undone, the report written).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from ..core import signals
from ..core.reportfile import check_place, default_report_path
from ..core.values import Action, Outcome, Status, Why
from ..media.scan import normalise_inputs
from .importer import ImportOptions, ImportUsageError, check_options, run_import
from .runreport import ImportResult

log = logging.getLogger("photoorganiser")

DEFAULT_SETTLE = 5.0
DEFAULT_MAX_WAIT = 60.0
DEFAULT_RESCAN = 600.0
# A file that reads as damaged is imported as it is only after this long unchanged: a
# resumed transfer (an SMB or MTP copy reconnecting, rsync --append, curl -C -) can stall for
# minutes, and waiting costs a file that is really damaged nothing but the wait.
DEFAULT_DAMAGED_WAIT = 300.0
POLL_EVERY = 2.0  # seconds between looks when polling (no inotify, or --poll)
LEFT_MARK = "left for the next run"  # execute's words for a file it would not take yet

# the events that mean "the content may have changed"; opening and reading do not
# (the import's own reads would wake the watch again)
CHANGES = frozenset({"created", "modified", "moved", "deleted", "closed"})

Signature = tuple[int, int]  # size, mtime_ns


class WatchUsageError(ValueError):
    """The options cannot work: said in one line before anything is touched."""


@dataclass(frozen=True, slots=True)
class WatchOptions:
    import_options: ImportOptions  # every batch is this import (its report place per batch)
    settle: float = DEFAULT_SETTLE  # seconds a file must stay unchanged before a batch
    max_wait: float = DEFAULT_MAX_WAIT  # a burst that never settles is imported after this
    rescan: float = DEFAULT_RESCAN  # look at the inbox anyway this often (missed events)
    poll: bool = False  # poll the disk instead of inotify (network file systems)
    # a file that reads as damaged is left until unchanged this long (then taken as it is)
    damaged_wait: float = DEFAULT_DAMAGED_WAIT


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """One batch, in the words of its one line."""

    result: ImportResult
    mode: str  # move or copy
    imported: int
    left: int
    failed: int
    damaged: int = 0  # of `left`: read as damaged, waiting to stay unchanged
    damaged_wait: float = DEFAULT_DAMAGED_WAIT

    @property
    def eventful(self) -> bool:
        return bool(self.imported or self.left or self.failed)

    def line(self) -> str:
        verb = "copied" if self.mode == "copy" else "moved"
        if self.result.dry_run:
            verb = f"would be {verb}"
        damaged = (
            f" ({self.damaged} damaged: taken as it is once unchanged for {self.damaged_wait:g} s)"
            if self.damaged
            else ""
        )
        return (
            f"{datetime.now():%Y-%m-%d %H:%M:%S} {self.imported} {verb}, {self.left} left for"
            f" the next batch{damaged}, {self.failed} failed; report {self.result.report_path}"
        )


@dataclass(frozen=True, slots=True)
class WatchResult:
    batches: int
    stopped_by: int | None  # the signal that ended the watch
    notes: tuple[str, ...] = field(default=())


def summarise(
    result: ImportResult,
    mode: str,
    waiting: frozenset[Path] = frozenset(),
    damaged_wait: float = DEFAULT_DAMAGED_WAIT,
) -> BatchSummary:
    """The batch's counts; `waiting`: the damaged files it left to see if they grow."""
    imported = result.count((Status.DONE, Status.PLANNED), (Action.MOVE, Action.COPY))
    left = failed = damaged = 0
    for o in result.outcomes:  # the failed, not done and ignored ones
        if o.decision.source in waiting and _damaged(o):
            damaged += 1
            left += 1
        elif _left(o):
            left += 1
        elif o.status is Status.FAILED:
            failed += 1
    return BatchSummary(result, mode, imported, left, failed, damaged, damaged_wait)


def _damaged(o: Outcome) -> bool:
    """A file left in the inbox because it reads as damaged (--leave-damaged's error)."""
    return (
        o.decision.action is Action.ERROR
        and o.decision.reason.why is Why.DAMAGED
        and o.status in (Status.FAILED, Status.KNOWN)
    )


def _left(o: Outcome) -> bool:
    """A file the batch did not take yet (not settled, still being written, changed, not
    reached): tried again later, not a failure."""
    if o.status in (Status.NOT_DONE, Status.LATER):
        return True
    if o.status is Status.FAILED:
        return LEFT_MARK in (o.error or "") and not o.in_library
    entry = o.decision.entry
    return (
        o.decision.action is Action.IGNORE
        and entry is not None
        and LEFT_MARK in (entry.ignore_reason or "")
    )


def check_watch_options(options: WatchOptions) -> None:
    """Refuse options that cannot work, before anything is watched or touched."""
    if options.import_options.report is not None:
        raise WatchUsageError("watch writes one report per batch: give --report-dir, not --report")
    try:
        check_options(options.import_options)
    except ImportUsageError as exc:
        raise WatchUsageError(str(exc)) from None
    if options.max_wait < options.settle:
        raise WatchUsageError("--max-wait must be at least the --settle time")
    if options.rescan <= 0:
        raise WatchUsageError("--rescan must be more than 0 seconds")
    if options.damaged_wait < options.settle:
        raise WatchUsageError("--damaged-wait must be at least the --settle time")
    # the report folder: checked now, not at the first batch hours later
    check_place(default_report_path(options.import_options.report_dir, datetime.now(), "import"))


class _Nudges:
    """What the observer's thread tells the main loop: something changed, and which files
    were closed after writing (a file left because it was open is tried again)."""

    def __init__(self, excluded: list[Path]) -> None:
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._excluded = [str(p) for p in excluded]
        self.last: float | None = None
        self.closed: set[Path] = set()

    def _ours(self, path: str) -> bool:
        return any(path == p or path.startswith(p + os.sep) for p in self._excluded)

    def on_any_event(self, event) -> None:  # called by watchdog in its thread
        if event.event_type not in CHANGES:
            return
        paths = [os.fsdecode(event.src_path)]
        if getattr(event, "dest_path", None):
            paths.append(os.fsdecode(event.dest_path))
        if all(self._ours(p) for p in paths):
            return  # the library or the reports, inside the inbox: our own writes
        with self._lock:
            self.last = time.monotonic()
            if event.event_type == "closed" and not event.is_directory:
                self.closed.add(Path(paths[0]))
        self.wake.set()

    def take(self) -> tuple[float | None, set[Path]]:
        with self._lock:
            last, closed = self.last, self.closed
            self.last, self.closed = None, set()
        self.wake.clear()
        return last, closed


def _start_observer(inputs: list[Path], nudges: _Nudges, poll: bool):
    """inotify (watchdog's Observer) when it can; polling otherwise (said in one line)."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            nudges.on_any_event(event)

    def started(observer):
        for folder in inputs:
            observer.schedule(Handler(), str(folder), recursive=True)
        observer.start()
        return observer

    if not poll:
        observer = Observer()
        try:
            return started(observer), "inotify"
        except OSError as exc:  # no inotify, or the watch limit (fs.inotify.max_user_watches)
            _stop_observer(observer)
            log.warning(
                "cannot watch with inotify (%s); polling the inbox every %g s instead",
                exc.strerror or exc,
                POLL_EVERY,
            )
    return started(PollingObserver(timeout=POLL_EVERY)), "polling"


def _stop_observer(observer) -> None:
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout=5)
    except RuntimeError:  # never started
        pass


def snapshot(inputs: list[Path], excluded: list[Path]) -> dict[Path, Signature]:
    """Every regular file under the inputs with its size and mtime (no link followed; the
    library and the reports left out when they are inside an inbox)."""
    skip = {str(p) for p in excluded}
    found: dict[Path, Signature] = {}
    stack = [str(p) for p in inputs]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.path in skip:
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            st = entry.stat(follow_symlinks=False)
                            found[Path(entry.path)] = (st.st_size, st.st_mtime_ns)
                    except OSError:
                        continue  # vanished while we looked: the next look sees it
        except OSError:
            continue
    return found


class Watch:
    """The loop (see the module's docstring). `on_batch` is told each batch's summary."""

    def __init__(self, options: WatchOptions, on_batch: Callable[[BatchSummary], None]) -> None:
        self.options = options
        self.on_batch = on_batch
        imp = options.import_options
        self.inputs = normalise_inputs(imp.inputs)
        library = Path(os.path.realpath(imp.library))
        self.excluded = [library, Path(os.path.realpath(imp.report_dir))]
        self.handled: dict[Path, Signature] = {}  # as a batch saw them: not new
        self.retry: set[Path] = set()  # left by a batch: tried again at the rescan
        # ...and sooner: after the settle time, then twice as long each time they are left
        # again (a file too fresh to take never changes again: no event would wake us)
        self.retry_at: float | None = None
        self.retry_wait = 0.0
        # read as damaged and left: (its size and mtime then, since when it is so)
        self.damaged: dict[Path, tuple[Signature, float]] = {}
        self.batches = 0
        self.requested: int | None = None  # a stop signal received (see _note_signals)

    def run(self, ready: Callable[[str], None] = lambda how: None) -> WatchResult:
        nudges = _Nudges(self.excluded)
        observer, how = _start_observer(self.inputs, nudges, self.options.poll)
        previous = self._note_signals()
        try:
            ready(how)
            try:
                stopped = self._loop(nudges)
            except KeyboardInterrupt as stop:  # while idle or settling: nothing in hand
                stopped = int(getattr(stop, "signum", signal.SIGINT))
        finally:
            with signals.deferred():
                _stop_observer(observer)
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
        return WatchResult(self.batches, stopped)

    def _note_signals(self) -> dict[int, object]:
        """Remember every stop signal, then handle it as before (core/signals). A signal
        that came as a batch was ending (after execute's last check) is otherwise only
        cleared with the report's close: the watch must still stop after that batch."""
        previous: dict[int, object] = {}
        if threading.current_thread() is not threading.main_thread():
            return previous

        def noted(signum: int, frame: object) -> None:
            if self.requested is None:
                self.requested = signum
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, frame)
            else:
                raise signals.Stopped(signum)

        for signum in signals.HANDLED:
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, noted)
        return previous

    def _loop(self, nudges: _Nudges) -> int | None:
        opts = self.options
        tick = max(0.05, min(opts.settle / 4, 0.5))
        first = snapshot(self.inputs, self.excluded)
        if first:
            log.info("catch-up: %d files already in the inbox", len(first))
            stopped = self._batch(first)
            if stopped is not None:
                return stopped
        next_rescan = time.monotonic() + opts.rescan
        dirty_since: float | None = None
        last_change = 0.0
        rescan_due = False
        previous: dict[Path, Signature] | None = None
        while True:
            now = time.monotonic()
            due = min(next_rescan, self.retry_at) if self.retry_at is not None else next_rescan
            timeout = tick if dirty_since is not None else max(0.0, min(due - now, 1.0))
            nudges.wake.wait(timeout)
            event_at, closed = nudges.take()
            now = time.monotonic()
            for path in closed:  # closed after writing: a file left as open is ready now
                self.handled.pop(path, None)
            if event_at is not None:
                dirty_since = dirty_since if dirty_since is not None else now
                last_change = max(last_change, event_at)
            if now >= next_rescan:
                log.debug("rescan of the inbox")
                dirty_since = dirty_since if dirty_since is not None else now
                rescan_due = True
                next_rescan = now + opts.rescan
            if self.retry_at is not None and now >= self.retry_at:
                log.debug("trying again what the last batch left")
                dirty_since = dirty_since if dirty_since is not None else now
                rescan_due = True
                self.retry_at = None
            if dirty_since is None:
                continue
            disk = snapshot(self.inputs, self.excluded)
            pending = {
                p: s
                for p, s in disk.items()
                if self.handled.get(p) != s or (rescan_due and p in self.retry)
            }
            if not pending:  # our own moves, a deletion, a file already seen
                dirty_since, previous, rescan_due = None, None, False
                continue
            if pending != previous:
                previous = pending
                last_change = now
            if now - last_change >= opts.settle or now - dirty_since >= opts.max_wait:
                if now - last_change < opts.settle:
                    log.info(
                        "files still changing after %.0f s: importing what is ready",
                        now - dirty_since,
                    )
                stopped = self._batch(disk)
                if stopped is not None:
                    return stopped
                dirty_since, previous, rescan_due = None, None, False

    def _batch(self, disk: dict[Path, Signature]) -> int | None:
        """One import over the inbox; the signal that stopped it, if one did."""
        self.batches += 1
        imp = self._import_options(disk)
        try:
            result = run_import(imp)
        except ImportUsageError as exc:  # the inbox unmounted or removed: wait for it
            log.error("batch skipped: %s; trying again at the next change or rescan", exc)
            self.handled = dict(disk)
            return None
        self.handled = dict(disk)  # as this batch saw them; later changes are new
        now = time.monotonic()
        self._note_damaged(result, disk, now)
        left = {o.decision.source for o in result.outcomes if _left(o)}
        self.retry = left | set(self.damaged)
        due = []
        if left:
            wait = max(self.options.settle, 1.0)
            self.retry_wait = min(self.options.rescan, max(wait, self.retry_wait * 2))
            due.append(now + self.retry_wait)
        else:
            self.retry_wait = 0.0
        if self.damaged:  # looked at again when the first of them has waited long enough
            due.append(min(since for _, since in self.damaged.values()) + self._damaged_wait)
        self.retry_at = min(due) if due else None
        waiting = frozenset(self.damaged)
        self.on_batch(summarise(result, imp.mode.value, waiting, self._damaged_wait))
        return result.interrupted if result.interrupted is not None else self.requested

    @property
    def _damaged_wait(self) -> float:
        return max(self.options.damaged_wait, self.options.settle)

    def _import_options(self, disk: dict[Path, Signature]) -> ImportOptions:
        """This batch's import: damaged files left in the inbox (unless one has stayed
        unchanged for the damaged wait: then taken as they are, by an import that takes
        only files unchanged that long). --leave-damaged: always left, as import does."""
        imp = self.options.import_options
        if imp.leave_damaged:
            return imp
        now = time.monotonic()
        due = [
            path
            for path, (signature, since) in self.damaged.items()
            if disk.get(path) == signature and now - since >= self._damaged_wait
        ]
        if not due:
            return replace(imp, leave_damaged=True)
        log.info(
            "%d damaged file(s) unchanged for %g s: imported as they are (%s)",
            len(due),
            self._damaged_wait,
            ", ".join(str(p) for p in sorted(due)[:5]) + (", ..." if len(due) > 5 else ""),
        )
        return replace(imp, settle=max(imp.settle, self._damaged_wait))

    def _note_damaged(self, result: ImportResult, disk: dict[Path, Signature], now: float) -> None:
        """The damaged files this batch left, each with since when it is unchanged."""
        if self.options.import_options.leave_damaged:
            return
        noted: dict[Path, tuple[Signature, float]] = {}
        for o in result.outcomes:
            path = o.decision.source
            if not _damaged(o) or path not in disk:
                continue
            signature = disk[path]
            before = self.damaged.get(path)
            since = before[1] if before is not None and before[0] == signature else now
            if before is None or before[0] != signature:
                log.info(
                    "%s reads as damaged (%s): left in the inbox until unchanged for %g s"
                    " (it may still be arriving), then imported as it is",
                    path,
                    o.decision.reason.detail,
                    self._damaged_wait,
                )
            noted[path] = (signature, since)
        self.damaged = noted

"""Progress bars with an ETA on a terminal; silent otherwise.

When the environment variable PHOTOORGANISER_PROGRESS names a file (the web app's
jobs set it for the command they run), every stage also writes where it is to that
file as JSON, `{"stage", "done", "total", "started"}` (`started`: seconds since the
epoch), replaced atomically: at its start, at most every `SINK_INTERVAL` seconds
while it advances, and at its end. Nothing changes when the variable is unset.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from types import TracebackType

SINK_ENV = "PHOTOORGANISER_PROGRESS"
SINK_INTERVAL = 0.3


class ProgressSink:
    """Where a stage is, written to one JSON file (temp file + os.replace: a reader sees
    the old state or the new one, never half of one; the temporary file is created
    exclusively and never through a link). A failure to write is ignored: progress
    never stops a run."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last = 0.0

    def write(self, state: dict, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last < SINK_INTERVAL:
            return
        if not self._lock.acquire(blocking=force):
            return
        try:
            self._last = now
            folder, name = os.path.split(self.path)
            tmp = os.path.join(folder, f".{name}.{os.getpid()}-{os.urandom(3).hex()}.tmp")
            data = json.dumps(state).encode()
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(tmp, flags, 0o644)
            except OSError:
                return
            try:
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                os.replace(tmp, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        finally:
            self._lock.release()


def sink_of_environment() -> ProgressSink | None:
    path = os.environ.get(SINK_ENV)
    return ProgressSink(path) if path and os.path.isabs(path) else None


class Progress:
    """A context manager for one stage: `with Progress("analyse", total, on) as p: p.advance()`."""

    def __init__(self, description: str, total: int | None, enabled: bool) -> None:
        self.description = description
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._rich = None  # a rich.progress.Progress, imported only when shown
        self._task = None
        self._sink = sink_of_environment()
        self._done = 0
        self._started = 0.0

    def __enter__(self) -> Progress:
        if self._sink is not None:
            self._started = time.time()
            self._report(force=True)
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("[bold]{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._rich.__enter__()
            self._task = self._rich.add_task(self.description, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        if self._sink is not None:
            self._done += n
            self._report(force=False)
        if self._rich is not None:
            self._rich.advance(self._task, n)

    def _report(self, *, force: bool) -> None:
        state = {
            "stage": self.description,
            "done": self._done,
            "total": self.total,
            "started": self._started,
        }
        self._sink.write(state, force=force)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sink is not None:
            self._report(force=True)
        if self._rich is not None:
            self._rich.__exit__(exc_type, exc, tb)

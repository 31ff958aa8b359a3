"""Stopping a run cleanly: Ctrl-C, SIGTERM (timeout, systemctl stop, shutdown), SIGHUP
(a closed SSH session) are all handled the same way.

Outside execute a signal raises `Stopped` at once (scan, analysis and planning
change nothing, so they can stop anywhere). Inside execute it is *deferred*:
the file in hand is finished, or its unfinished copy undone, and execute then
stops between files. The exit status is 128 + the signal's number (130, 143,
129), as a shell reports a process killed by it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Stopped(KeyboardInterrupt):
    """The run was asked to stop by a signal (a KeyboardInterrupt, so code that
    cleans up after Ctrl-C cleans up after SIGTERM too)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(NAMES.get(signum, f"signal {signum}"))
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + int(self.signum)

    @property
    def name(self) -> str:
        return NAMES.get(self.signum, f"signal {self.signum}")


_state = threading.local()
_pending: list[int] = []  # signals received while deferred (shared across threads)


def _deferring() -> bool:
    return getattr(_state, "depth", 0) > 0


def _handler(signum: int, _frame: object) -> None:
    if _deferring():
        _pending.append(signum)
        return
    raise Stopped(signum)


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP to `Stopped` (only possible in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, _handler)


def leave_to_the_main_thread() -> None:
    """Block the handled signals in the calling thread (a helper thread's initializer),
    so the kernel gives them to the main thread: one that reached a helper thread while
    the main thread waited for it left the handler unrun until that wait ended."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)


def requested() -> int | None:
    """The first signal received while deferred, if any."""
    return _pending[0] if _pending else None


def check() -> None:
    """Raise `Stopped` if a signal came in while deferred (call between files)."""
    if _pending:
        raise Stopped(_pending[0])


def clear() -> None:
    _pending.clear()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within this block a signal only sets a flag; `check()` raises it when it is safe."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1

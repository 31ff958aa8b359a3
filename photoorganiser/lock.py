"""One run at a time per library: an flock(2) on LIBRARY/.photoorganiser/lock.

The kernel drops the lock when its process dies, kill -9 and power loss
included, so a stale lock can never block the next night's run: the lock file
of a dead run is recognised (its pid is gone) and taken over, and the log says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

log = logging.getLogger("photoorganiser")

LOCK_NAME = "lock"


class LibraryLocked(Exception):
    """Another run holds the library."""


class LockUnavailable(Exception):
    """The lock file cannot be created or opened (read-only library...)."""


def _holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another photoorganiser run"
    return (
        f"another photoorganiser run (pid {holder.get('pid')} on {holder.get('host')},"
        f" started {holder.get('started')}: {holder.get('command', '')})"
    )


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def library_lock(
    state_dir: Path, command: str, *, wait: bool = False, shared: bool = False
) -> Iterator[None]:
    """Hold the library for this run. Raises LibraryLocked when another run holds it.

    `shared` (dry runs) only checks that no real run is writing, and creates
    nothing: without a lock file there is nothing to check.
    """
    path = state_dir / LOCK_NAME
    if shared and not path.exists():
        yield
        return
    flags = os.O_RDONLY if shared else os.O_RDWR | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise LockUnavailable(f"cannot lock the library ({path}): {exc.strerror}") from exc
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_holder(fd))
            if not wait:
                raise LibraryLocked(f"{holder} is using this library") from None
            log.warning("waiting for %s to finish", holder)
            started = time.monotonic()
            fcntl.flock(fd, mode)
            log.warning("the library is free after %.0f s", time.monotonic() - started)
        if not shared:
            previous = _holder(fd)
            if previous.get("pid") and not _alive(previous.get("pid")):
                log.warning("taking over the lock of a run that died (%s)", _describe(previous))
            me = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.now().isoformat(timespec="seconds"),
                "command": command,
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        yield
    finally:
        if not shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the flock

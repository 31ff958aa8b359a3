"""One run at a time per library: an flock(2) on LIBRARY/.photoorganiser/lock.

The kernel drops the lock when its process dies, kill -9 and power loss
included, so a stale lock can never block the next night's run: the lock file
of a dead run is recognised (its pid is gone) and taken over, and the log says so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

log = logging.getLogger("photoorganiser")

STATE_DIR = ".photoorganiser"  # the library's own folder: lock, catalog, reviews
LOCK_NAME = "lock"


class LibraryLocked(Exception):
    """Another run holds the library."""


class LockUnavailable(Exception):
    """The lock file cannot be created or opened (read-only library...)."""


class UnsafeStateFile(Exception):
    """A state file (or the state folder) is a symbolic link or not a regular file.

    Writing through it would change a file outside the library (the lock is
    truncated on every run), so the run refuses; a usage-like error (exit 2).
    """


def refuse_link(path: Path, *, folder: bool = False) -> None:
    """Raise UnsafeStateFile when `path` is a symbolic link (or the wrong kind of file).

    lstat, never stat: the link itself is what matters. A missing path is fine.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError:
        return  # unreadable: the open that follows reports it
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStateFile(f"{path} is a symbolic link; refusing to write through it")
    wanted = stat.S_ISDIR if folder else stat.S_ISREG
    if not wanted(st.st_mode):
        kind = "a folder" if folder else "a regular file"
        raise UnsafeStateFile(f"{path} is not {kind}; refusing to use it")


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
    refuse_link(state_dir, folder=True)
    if shared and not os.path.lexists(path):
        yield
        return
    fd = _open_lock(state_dir, shared)
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
                "host": os.uname().nodename,
                "started": datetime.now().isoformat(timespec="seconds"),
                "command": command,
            }
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(me).encode(), 0)
            except OSError as exc:  # a full disk: the flock holds all the same
                log.debug("could not name this run in the lock file: %s", exc.strerror)
        yield
    finally:
        if not shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the flock


def _open_lock(state_dir: Path, shared: bool) -> int:
    """The lock file's descriptor, opened without following a link at either level.

    The folder is opened with O_NOFOLLOW and the lock relative to it, so a link
    swapped in between the checks cannot redirect the write either.
    """
    path = state_dir / LOCK_NAME
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            refuse_link(state_dir, folder=True)
        raise LockUnavailable(f"cannot lock the library ({path}): {exc.strerror}") from exc
    try:
        flags = (os.O_RDONLY if shared else os.O_RDWR | os.O_CREAT) | nofollow
        try:
            fd = os.open(LOCK_NAME, flags, 0o644, dir_fd=folder)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeStateFile(
                    f"{path} is a symbolic link; refusing to write through it"
                ) from None
            raise LockUnavailable(f"cannot lock the library ({path}): {exc.strerror}") from exc
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeStateFile(f"{path} is not a regular file; refusing to use it")
    return fd

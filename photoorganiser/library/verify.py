"""Checking one library file against its catalog row: the worker `verify` runs in the pool.

Each file is read once, from its first byte to its last, and hashed as the catalog hashed
it (XXH3-128, core/hashing.py); with `sha256` the same buffer also feeds SHA-256, for the
fixity manifest, so the manifest never costs a second read. Only a regular file is read
(`open_regular`: no link followed, a pipe or device never waited on), and nothing is ever
written.

Before the read the file's cached pages are dropped (`posix_fadvise(DONTNEED)`: clean
pages only, so nothing is lost), so the bytes checked come from the disk, not from a
copy in memory that the disk may no longer hold; after it they are dropped again, so a
verify of the whole library does not push everything else out of memory.

A file whose bytes differ from the catalog's hash is `changed`, and the detail says which
kind: its size or modification time changed too (another program wrote it: an editor, a
sync client), or they did not (bit rot, a failing disk: the same size and time, other
bytes). A failure is a value, never an exception: one bad file never stops a run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import xxhash

from ..core.hashing import CHUNK_SIZE, NotRegularFile, open_regular


class Result(Enum):
    OK = "ok"
    CHANGED = "changed"  # other bytes than the catalog's hash
    MISSING = "missing"  # catalogued, not on disk
    UNREADABLE = "unreadable"  # an OS error, or not a regular file (a link, a pipe)
    NOT_CATALOGUED = "not-catalogued"  # a media file on disk that the catalog lacks
    NOT_DONE = "not-done"  # selected, not reached: the run was stopped first


PROBLEMS = (Result.CHANGED, Result.MISSING, Result.UNREADABLE, Result.NOT_CATALOGUED)


class Kind(Enum):
    """What a `changed` file's size and time say about how it changed."""

    REWRITTEN = "rewritten"  # size or modification time changed too: another program
    ROT = "rot"  # the same size and time, other bytes: bit rot or a failing disk
    DURING = "during"  # it changed while it was being read


@dataclass(frozen=True, slots=True)
class Job:
    """One catalogued file to check (picklable: it crosses into a pool worker)."""

    path: str  # absolute, as the OS names it
    rel: str  # relative to the library, as the catalog names it
    size: int  # the catalog's
    mtime_ns: int  # the catalog's
    hash: str  # the catalog's XXH3-128
    sha256: bool = False  # also compute SHA-256 (the manifest)


@dataclass(frozen=True, slots=True)
class Check:
    """What one file was found to be."""

    job: Job
    result: Result
    size: int | None = None  # bytes read (or the size on disk, when not read)
    mtime_ns: int | None = None
    found: str | None = None  # the XXH3-128 of what was read
    sha256: str | None = None
    error: str | None = None  # the OS's reason (unreadable)
    kind: Kind | None = None  # for CHANGED
    read: int = 0  # bytes read

    def detail(self) -> str:
        """The `detail` cell: what happened, in words, and what to do."""
        j = self.job
        if self.result is Result.OK:
            if self.mtime_ns is not None and self.mtime_ns != j.mtime_ns:
                return "content intact; its modification time changed since it was catalogued"
            return ""
        if self.result is Result.MISSING:
            return (
                "catalogued, not on disk: restore it from a backup (`photoorganiser repair"
                " --from BACKUP`), or run sync if removed"
            )
        if self.result is Result.UNREADABLE:
            return f"{self.error}"
        if self.result is Result.NOT_DONE:
            return "not checked: the run was stopped first (the next verify resumes)"
        if self.kind is Kind.ROT:
            return (
                "bit rot or a failing disk: same size and modification time, other bytes;"
                " restore it from a backup (`photoorganiser repair --from BACKUP`)"
            )
        if self.kind is Kind.DURING:
            return "changed while it was being read (a program is writing it); verify again"
        what = []
        if self.size is not None and self.size != j.size:
            what.append(f"size {j.size} -> {self.size} bytes")
        if self.mtime_ns is not None and self.mtime_ns != j.mtime_ns:
            what.append(f"modified {_when(self.mtime_ns)} (catalogued as of {_when(j.mtime_ns)})")
        return (
            f"changed by another program ({'; '.join(what)}); if that was wanted, run sync,"
            " else restore it from a backup (`photoorganiser repair --from BACKUP`)"
        )


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).isoformat(timespec="seconds")


def check_files(jobs: Sequence[Job]) -> list[Check]:
    """The pool's unit of work: a batch of files, checked one after the other."""
    return [check_file(j) for j in jobs]


def check_file(job: Job) -> Check:
    try:
        before = os.lstat(job.path)
    except FileNotFoundError:
        return Check(job, Result.MISSING)
    except OSError as exc:
        return Check(job, Result.UNREADABLE, error=_reason(exc))
    if not stat.S_ISREG(before.st_mode):
        try:
            open_regular(job.path)  # raises, with the reason a person understands
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return Check(job, Result.MISSING)
            return Check(job, Result.UNREADABLE, error=_reason(exc))
        return Check(job, Result.UNREADABLE, error="not a regular file")  # pragma: no cover
    try:
        digest, sha, read, after = _read(job, before)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return Check(job, Result.MISSING)
        return Check(job, Result.UNREADABLE, size=before.st_size, error=_reason(exc))
    size, mtime = after.st_size, after.st_mtime_ns
    if read == job.size and digest == job.hash:
        return Check(job, Result.OK, read, mtime, digest, sha, read=read)
    if (before.st_size, before.st_mtime_ns, before.st_ino) != (size, mtime, after.st_ino) or (
        read != size
    ):
        kind = Kind.DURING
    elif size == job.size and mtime == job.mtime_ns:
        kind = Kind.ROT
    else:
        kind = Kind.REWRITTEN
    return Check(job, Result.CHANGED, size, mtime, digest, sha, kind=kind, read=read)


def _read(job: Job, before: os.stat_result) -> tuple[str, str | None, int, os.stat_result]:
    """XXH3-128 (and SHA-256) of the whole file, in one read; the stat after it.

    At most the larger of the catalog's and the disk's size, plus one byte, is read: a
    file that grows while it is read shows as changed, and nothing makes the read endless."""
    fd = open_regular(job.path)
    try:
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # read the disk, not memory
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        limit = max(job.size, before.st_size) + 1
        xxh = xxhash.xxh3_128()
        sha = hashlib.sha256() if job.sha256 else None
        buf = bytearray(min(CHUNK_SIZE, limit))
        view = memoryview(buf)
        total = 0
        while total < limit:
            n = os.readv(fd, [view[: min(len(buf), limit - total)]])
            if not n:
                break
            chunk = view[:n]
            xxh.update(chunk)
            if sha is not None:
                sha.update(chunk)
            total += n
        after = os.fstat(fd)
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # leave memory to others
    finally:
        os.close(fd)
    return xxh.hexdigest(), sha.hexdigest() if sha is not None else None, total, after


def _reason(exc: OSError) -> str:
    if isinstance(exc, NotRegularFile):
        return exc.strerror or "not a regular file"
    return f"cannot read: {exc.strerror or exc}"

"""Content hashes: XXH3-128 over whole files, read in large chunks.

`read_and_hash` is the analyse stage's one read of a file: it hashes every byte
and, for files small enough, hands the bytes on so that metadata parsing needs
no second read.

Every file is opened with `open_regular` (or `open_scanned`, its two-call form for a
path just seen as a regular file): only a regular file is ever read. Between scan and
analyse a path can become a FIFO (open() would block for ever), a device (/dev/zero
never ends) or a symbolic link (to anything); those are refused with a clear reason
instead of hanging the import or reading without end.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import xxhash

CHUNK_SIZE = 4 << 20  # 4 MiB: large sequential reads
KEEP_LIMIT = 64 << 20  # files up to this size are kept in memory for metadata parsing
SAMPLE_SIZE = 64 << 10  # head/tail sample for the duplicate pre-filter

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


class NotRegularFile(OSError):
    """The path is not a regular file (a pipe, device, socket, directory or symbolic link).

    An OSError, so callers that already handle unreadable files handle it too; `strerror`
    is a reason a person understands.
    """


def _open_nofollow(path: Path | str) -> int:
    """os.open with O_NOFOLLOW and O_NONBLOCK: a symbolic link is NotRegularFile (ELOOP)."""
    try:
        return os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, _SYMLINK, str(path)) from None
        raise


def open_regular(path: Path | str) -> int:
    """Open `path` read-only as a file descriptor, refusing anything but a regular file.

    lstat first, so that a FIFO or device is normally never opened at all (opening some
    devices has effects). Then O_NONBLOCK makes opening a FIFO swapped in meanwhile return
    at once instead of waiting for a writer, O_NOFOLLOW refuses a symbolic link (ELOOP),
    and fstat checks what was really opened. O_NONBLOCK is then cleared so that reads
    behave normally. The caller closes the fd. Raises NotRegularFile or OSError.
    """
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(errno.EINVAL, _not_regular_reason(mode), str(path))
    fd = _open_nofollow(path)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, _not_regular_reason(mode), str(path))
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


_SYMLINK = "not a regular file (a symbolic link)"


def _not_regular_reason(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return _SYMLINK
    if stat.S_ISDIR(mode):
        return "not a regular file (a directory)"
    return "not a regular file (a pipe, device or socket)"


def open_regular_file(path: Path | str, buffering: int = -1) -> BinaryIO:
    """`open(path, "rb", buffering)` through `open_regular`: a binary file object on a
    regular file only; closing it closes the fd."""
    return open(path, "rb", buffering=buffering, opener=_opener)  # noqa: SIM115 - caller's


def _opener(path: str, flags: int) -> int:
    return open_regular(path)


@dataclass(frozen=True, slots=True)
class HashedContent:
    hash: str  # 32 hex digits
    size: int  # bytes actually read
    data: bytes | None  # the whole content, when size <= keep_limit


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def read_and_hash(
    path: Path | str, keep_limit: int = KEEP_LIMIT, expected_size: int | None = None
) -> HashedContent:
    """Read `path` once: hash all of it, keep the bytes if it is small enough.

    With `expected_size` (the size scan saw), at most `expected_size + 1` bytes are read:
    a file that grew still shows as a size mismatch, but nothing can make the read endless.
    The returned `size` is always what was read.

    Opened by `open_scanned` (the caller has seen the path as a regular file: its scan's
    lstat stands for `open_regular`'s): a link, pipe or device swapped in since is refused
    (O_NOFOLLOW, O_NONBLOCK, fstat), never followed, waited on or read. A small file costs
    open, fstat, one read and close: a read that returns less than it asked for, having
    reached the size fstat gave, is the end of the file (a regular file's reads are short
    only there), so no second read is needed to see it.
    """
    limit = None if expected_size is None else max(expected_size, 0) + 1
    fd, size = open_scanned(path)
    try:
        if limit is not None:
            size = min(size, limit)
        if size <= max(keep_limit, CHUNK_SIZE):  # one read (no big buffer for a small file)
            ask = size + 1 if limit is None else min(size + 1, limit)
            data = _read_fd(fd, ask)
            if len(data) < ask and len(data) >= size:  # short, having reached the size: EOF
                return HashedContent(hash_bytes(data), len(data), _kept(data, keep_limit))
            return _read_rest(fd, data, limit, keep_limit)
        hasher = xxhash.xxh3_128()
        total = 0
        view = memoryview(bytearray(CHUNK_SIZE))  # not thread_buffer(): a caller may hold it
        while want := _left(limit, total, CHUNK_SIZE):
            n = _readv_fd(fd, view[:want])
            if not n:
                break
            hasher.update(view[:n])
            total += n
        return HashedContent(hasher.hexdigest(), total, None)
    finally:
        os.close(fd)


PREFETCH_MIN = 256 << 10  # files from this size are worth asking the disk for ahead


def prefetch(path: Path | str) -> None:
    """Ask the kernel to start reading `path` into the page cache now (posix_fadvise
    WILLNEED: the reads are queued, not waited for), so that the disk works on it while
    the file before is hashed and parsed, and the read that follows finds it cached.
    Opened as `read_and_hash` opens a file (a regular file only, never a link, pipe or
    device: fstat says so before the advice); any error is left for that read to report."""
    try:
        fd, size = open_scanned(path)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, size, os.POSIX_FADV_WILLNEED)
    except OSError:  # pragma: no cover - advice only
        pass
    finally:
        os.close(fd)


def _read_rest(fd: int, data: bytes, limit: int | None, keep_limit: int) -> HashedContent:
    """The file after a first read that did not end it (it grew since fstat, or a read
    came back short before its end): read on to the end or the limit."""
    parts = [data]
    total = len(data)
    while want := _left(limit, total, CHUNK_SIZE):
        part = _read_fd(fd, want)
        if not part:
            break
        parts.append(part)
        total += len(part)
    if total <= keep_limit:
        whole = b"".join(parts)
        return HashedContent(hash_bytes(whole), total, whole)
    hasher = xxhash.xxh3_128()
    for part in parts:
        hasher.update(part)
    return HashedContent(hasher.hexdigest(), total, None)


def _read_fd(fd: int, n: int) -> bytes:
    try:
        return os.read(fd, n)
    except BlockingIOError:  # O_NONBLOCK honoured by some file system: read blocking
        _clear_nonblock(fd)
        return os.read(fd, n)


def _readv_fd(fd: int, view: memoryview) -> int:
    try:
        return os.readv(fd, [view])
    except BlockingIOError:
        _clear_nonblock(fd)
        return os.readv(fd, [view])


def _clear_nonblock(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)


def open_scanned(path: Path | str) -> tuple[int, int]:
    """`open_regular` for a path its caller has just seen as a regular file (the scan's
    lstat): (fd, size) of a regular file only, in two system calls instead of five.
    O_NOFOLLOW refuses a symbolic link swapped in since (ELOOP), O_NONBLOCK makes opening
    a FIFO swapped in return at once instead of waiting for a writer, and fstat refuses
    anything not regular before a byte is read. O_NONBLOCK stays set: it changes nothing
    for a regular file's reads on Linux (and a read that says EAGAIN all the same clears
    it and reads again). The caller closes the fd. Raises NotRegularFile or OSError."""
    fd = _open_nofollow(path)
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, _not_regular_reason(st.st_mode), str(path))
    return fd, st.st_size


def _left(limit: int | None, done: int, chunk: int) -> int:
    """How many bytes the next read may ask for (0: the limit is reached)."""
    return chunk if limit is None else max(0, min(chunk, limit - done))


def _read_upto(f: BinaryIO, limit: int | None, first: int = CHUNK_SIZE) -> bytes:
    """The rest of f, or at most `limit` bytes of it. The first read asks for `first`
    bytes (the expected size: one read, no copy), later ones for a chunk each, so a
    stale size hint never allocates more than the file holds."""
    if limit is None:
        return f.read()
    parts = []
    want = first
    while limit > 0:
        part = f.read(min(limit, max(want, 1)))
        if not part:
            break
        parts.append(part)
        limit -= len(part)
        want = CHUNK_SIZE
    return b"".join(parts)


def _kept(data: bytes, keep_limit: int) -> bytes | None:
    return data if len(data) <= keep_limit else None


def hash_file(path: Path | str) -> str:
    """XXH3-128 of the whole file, streamed in large chunks."""
    return read_and_hash(path, keep_limit=0).hash


_local = threading.local()


def thread_buffer() -> memoryview:
    """This thread's CHUNK_SIZE buffer, allocated once per thread and reused for every
    file (a fresh zero-filled 4 MiB buffer per file costs page faults and zeroing).
    Page-aligned (an anonymous mmap), so that O_DIRECT reads into it (`hash_written`)."""
    view = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(mmap.mmap(-1, CHUNK_SIZE))
    return view


def hash_from_disk(path: Path | str) -> str:
    """XXH3-128 of the whole file at `path` as the disk holds it (`hash_written`); a
    regular file only (`open_regular`). Flush the file before."""
    fd = open_regular(path)
    try:
        return hash_written(fd)
    finally:
        os.close(fd)


def hash_written(fd: int) -> str:
    """XXH3-128 of the whole file open as `fd` (from its start, whatever the fd's
    position), as the disk holds it, not the page cache: the file must have been flushed
    (fsync) before.

    Read with O_DIRECT, set on `fd` (and left set): the kernel reads the device straight
    into this thread's page-aligned buffer, one request per 4 MiB, without filling the
    page cache or copying out of it (a third of the CPU of a cached read here, and as
    fast). Where the file system refuses O_DIRECT (EINVAL: ramfs, some FUSE file systems,
    a read it cannot align), the file's cached pages are dropped (posix_fadvise
    DONTNEED, which drops only clean pages, hence the flush) and it is read as usual, so
    the bytes still come from the disk (a tmpfs or ramfs has none: its pages are the
    file). A file system that accepts O_DIRECT but reads some files through its cache all
    the same (ext4 with data=journal, for one) finds their pages gone too: execute drops
    a copy's pages as soon as it is flushed, before this read."""
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        try:
            if not flags & direct:
                fcntl.fcntl(fd, fcntl.F_SETFL, flags | direct)
            return _hash_direct(fd)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~direct)
    return _hash_dropped(fd)


def _hash_direct(fd: int) -> str:
    """The whole file read with O_DIRECT into the thread's buffer, from its start. A read
    shorter than the buffer that reaches the file's size is its end (no read more to see
    it); one that stops short of it leaves the next read unaligned, which the kernel
    refuses (EINVAL: the caller reads it again the usual way)."""
    view = thread_buffer()
    whole = len(view)
    size = os.fstat(fd).st_size
    hasher = xxhash.xxh3_128()
    done = 0
    os.lseek(fd, 0, os.SEEK_SET)  # readv, not preadv: one call the fault trials see
    while n := os.readv(fd, [view]):
        hasher.update(view[:n])
        done += n
        if n < whole and done >= size:
            break
    return hasher.hexdigest()


def _hash_dropped(fd: int) -> str:
    """The whole file read the usual way from its start, once its cached pages are
    dropped."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    view = thread_buffer()
    hasher = xxhash.xxh3_128()
    os.lseek(fd, 0, os.SEEK_SET)
    while n := os.readv(fd, [view]):
        hasher.update(view[:n])
    return hasher.hexdigest()


def hash_sample(path: Path | str, size: int, sample: int = SAMPLE_SIZE) -> str:
    """A cheap pre-filter hash of the head and tail of a file of `size` bytes."""
    with open_regular_file(path, buffering=0) as f:
        if size <= 2 * sample:
            return hash_bytes(_read_upto(f, size + 1, first=size + 1))
        hasher = xxhash.xxh3_128(_read_upto(f, sample))
        f.seek(size - sample)
        hasher.update(_read_upto(f, sample))
        return hasher.hexdigest()


def holds(path: Path | str, size: int, content_hash: str) -> bool:
    """`path` is a regular file of `size` bytes whose content hashes to `content_hash`."""
    try:
        if os.stat(path, follow_symlinks=False).st_size != size:
            return False
        return hash_file(path) == content_hash
    except OSError:
        return False

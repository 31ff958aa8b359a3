"""The library's thumbnail cache: LIBRARY/.photoorganiser/thumbs/<2 hex>/<hash>-<size>.jpg.

Thumbnails are kept by content hash (the catalog's `hash`, XXH3-128), so a file moved or
renamed in the library keeps its thumbnail and two copies share one. A thumbnail is only
ever cached under a hash after the bytes it was made from were hashed and found to be
that content (media/thumbs.thumbnail): a file changed or replaced since the catalog saw
it gets no thumbnail rather than a wrong one.

A file that cannot be thumbnailed (damaged, unsupported) leaves an empty marker,
`<hash>-<size>.fail`, so it is not decoded again on every request; a marker is trusted
for FAIL_RETRY, then the file is tried again (a newer photoorganiser may read it). A
video without ffmpeg on this machine, or a file that does not hold the hash asked for,
leaves nothing.

Writes are atomic (a temporary file renamed into place) and never follow a link: every
folder from the state folder down is opened with O_NOFOLLOW and files are made relative
to it (an existing link in their place is refused with UnsafeStateFile, as lock.py and
the catalog refuse theirs). Cached files are regenerable: they are not fsynced; a cached
JPEG that does not end like one (a crash while it was written) is made again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path

from ..media import thumbs
from .catalog import STATE_DIR
from .lock import UnsafeStateFile

log = logging.getLogger("photoorganiser")

THUMBS_DIR = "thumbs"
FAIL_RETRY = 7 * 24 * 3600  # seconds a failure marker is trusted
MIN_SIZE, MAX_SIZE = 16, 4096
_HASH = re.compile(r"[0-9a-f]{32}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ThumbCache:
    """Thumbnails of one library's files, made on demand and kept by content hash."""

    def __init__(self, root: Path, *, ffmpeg: str | None = thumbs.FFMPEG) -> None:
        self.root = root
        self.folder = root / STATE_DIR / THUMBS_DIR
        self.ffmpeg = ffmpeg

    def path_for(self, content_hash: str, size: int) -> Path:
        """Where the thumbnail of this content at this size is kept."""
        _check(content_hash, size)
        return self.folder / content_hash[:2] / f"{content_hash}-{size}.jpg"

    def get(self, content_hash: str, path: Path, size: int = 320) -> bytes | None:
        """The JPEG thumbnail of `path`, which the catalog says holds `content_hash`:
        the cached one, or made and cached now. None when there is none (see the module's
        docstring). Raises ValueError for a malformed hash or size, and UnsafeStateFile
        when a link (or something not a folder or file) sits in the cache's place."""
        _check(content_hash, size)
        name = f"{content_hash}-{size}"
        try:
            folder = self._open_folder(content_hash[:2], create=False)
        except OSError as exc:  # an unreadable state folder: made, not kept
            log.warning("cannot read the thumbnail cache %s: %s", self.folder, exc.strerror or exc)
            folder = None
        if folder is not None:
            try:
                cached = _read(folder, name + ".jpg")
                if cached is not None:
                    return cached
                if _fresh_marker(folder, name + ".fail"):
                    return None
            except OSError as exc:  # unreadable: made again
                log.warning("cannot read a cached thumbnail in %s: %s", self.folder, exc)
            finally:
                os.close(folder)
        made = thumbs.thumbnail(path, size, ffmpeg=self.ffmpeg, content_hash=content_hash)
        if made.content_hash != content_hash:
            return None  # not that content (changed, replaced, gone): nothing cached
        if made.jpeg is None and not made.final:
            return None
        try:
            folder = self._open_folder(content_hash[:2], create=True)
            assert folder is not None
            try:
                if made.jpeg is not None:
                    _write(folder, name + ".jpg", made.jpeg)
                    _remove(folder, name + ".fail")
                else:
                    _write(folder, name + ".fail", b"")
            finally:
                os.close(folder)
        except OSError as exc:  # a read-only library, a full disk: served, not kept
            log.warning("cannot keep a thumbnail in %s: %s", self.folder, exc.strerror or exc)
        return made.jpeg

    def _open_folder(self, shard: str, *, create: bool) -> int | None:
        """The shard folder, opened without following a link anywhere below the library
        root; None when it does not exist (and `create` is False)."""
        fd = os.open(self.root, _DIR_FLAGS & ~os.O_NOFOLLOW)  # the root may be a link
        try:
            for part in (STATE_DIR, THUMBS_DIR, shard):
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    return None
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafeStateFile(
                            f"{self._where(part)} is a symbolic link or not a folder;"
                            " refusing to use it"
                        ) from None
                    raise
                os.close(fd)
                fd = child
            return os.dup(fd)
        finally:
            os.close(fd)

    def _where(self, part: str) -> Path:
        if part == STATE_DIR:
            return self.root / STATE_DIR
        if part == THUMBS_DIR:
            return self.folder
        return self.folder / part


def _check(content_hash: str, size: int) -> None:
    if not isinstance(content_hash, str) or not _HASH.fullmatch(content_hash):
        raise ValueError(f"not a content hash: {content_hash!r}")
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"thumbnail size {size!r} outside {MIN_SIZE}-{MAX_SIZE}")


def _regular(fd: int, name: str) -> None:
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise UnsafeStateFile(f"{name} in the thumbnail cache is not a regular file")


def _read(folder: int, name: str) -> bytes | None:
    """A cached JPEG, or None when missing or incomplete."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeStateFile(f"{name} in the thumbnail cache is a symbolic link") from None
        raise
    with open(fd, "rb", closefd=True) as f:
        _regular(f.fileno(), name)
        data = f.read(64 << 20)
    if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
        return None  # cut short (a crash while it was written): made again
    return data


def _fresh_marker(folder: int, name: str) -> bool:
    try:
        st = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise UnsafeStateFile(f"{name} in the thumbnail cache is not a regular file")
    return time.time() - st.st_mtime < FAIL_RETRY


def _write(folder: int, name: str, data: bytes) -> None:
    """`name` holds `data`, atomically (a temporary file renamed over it)."""
    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, _NEW_FLAGS, 0o644, dir_fd=folder)
    try:
        with open(fd, "wb", closefd=True) as f:
            f.write(data)
        try:
            st = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeStateFile(f"{name} in the thumbnail cache is not a regular file")
        os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=folder)
        raise


def _remove(folder: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder)

"""Fixity manifests in `sha256sum`'s format: `cd LIBRARY && sha256sum -c manifest` checks them.

One line per file, sorted by name (bytes): 64 lower-case hex digits, two spaces, the path
relative to the manifest's folder. A name holding a backslash, a newline or a carriage
return is written as GNU coreutils writes it: the line starts with a backslash, and in
the name `\\` stands for a backslash, `\\n` for a newline, `\\r` for a carriage return. Names
are their bytes (a name that is not UTF-8 is written as it is), so `sha256sum -c` opens
exactly the file that was hashed. It is also BagIt's `manifest-sha256.txt` line format.

A manifest is written under a temporary name beside it and renamed into place (a reader
sees the old one or the new one, never half of one), never through a link, and replaces
only a file that is itself a checksum manifest (or empty): never a photo given by a typo.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

_LINE = re.compile(rb"^\\?[0-9a-fA-F]{32,128} [ *].*$")


class ManifestUnwritable(Exception):
    """The manifest cannot be written where asked (one line for the user)."""


def escape_name(name: bytes) -> tuple[bytes, bool]:
    """`name` as sha256sum writes it, and whether the line needs its leading backslash."""
    if b"\\" not in name and b"\n" not in name and b"\r" not in name:
        return name, False
    escaped = name.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return escaped, True


def unescape_name(name: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(name):
        c = name[i : i + 1]
        if c == b"\\" and i + 1 < len(name):
            nxt = name[i + 1 : i + 2]
            out += {b"\\": b"\\", b"n": b"\n", b"r": b"\r"}.get(nxt, b"\\" + nxt)
            i += 2
            continue
        out += c
        i += 1
    return bytes(out)


def manifest_line(digest: str, name: bytes) -> bytes:
    escaped, flagged = escape_name(name)
    return (b"\\" if flagged else b"") + digest.encode("ascii") + b"  " + escaped + b"\n"


def read_manifest(path: Path) -> dict[bytes, str]:
    """name (bytes) -> hex digest, from a manifest in this format."""
    entries: dict[bytes, str] = {}
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            if not raw:
                continue
            flagged = raw.startswith(b"\\")
            line = raw[1:] if flagged else raw
            digest, _, name = line.partition(b"  ")
            entries[unescape_name(name) if flagged else name] = digest.decode("ascii")
    return entries


def check_place(path: Path) -> None:
    """Before the run: the manifest can be written at `path` and would replace only a
    checksum manifest. Raises ManifestUnwritable with one line."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ManifestUnwritable(f"cannot use {path}: {exc.strerror}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise ManifestUnwritable(f"{path} is a symbolic link; refusing to write through it")
        if not stat.S_ISREG(st.st_mode):
            raise ManifestUnwritable(f"{path} is not a regular file")
        if not _is_manifest(path):
            raise ManifestUnwritable(
                f"{path} exists and is not a checksum manifest; refusing to replace it"
            )
    folder = path.parent
    if not folder.is_dir():
        raise ManifestUnwritable(f"the folder {folder} of the manifest does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ManifestUnwritable(f"cannot write the manifest in {folder}: permission denied")


def _is_manifest(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    lines = head.split(b"\n")
    if len(head) == 1 << 16:
        lines = lines[:-1]  # the last one may be cut
    return all(_LINE.match(line) for line in lines if line)


def write_manifest(path: Path, entries: Iterable[tuple[bytes, str]]) -> int:
    """Write (name, sha256 hex) entries, sorted by name; the number of lines written."""
    lines = sorted(entries)
    check_place(path)
    tmp = path.with_name(f".{path.name}.po-tmp-{os.getpid()}-{secrets.token_hex(3)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            for name, digest in lines:
                f.write(manifest_line(digest, name))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return len(lines)

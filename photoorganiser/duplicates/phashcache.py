"""The perceptual hashes a library's catalog keeps (library/phashes.py), for `--similar`.

A library file whose size and mtime still match its catalog row has a known content
hash; its perceptual hash is then looked up by that content hash, and only the files
not found are decoded. What was decoded is stored back in the library's catalog, under
its lock taken without waiting: a library busy with another run, read-only, or whose
catalog cannot be written, is simply not added to (the search is the same either way).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..library import phashes
from ..library.catalog import (
    STATE_DIR,
    Catalog,
    CatalogError,
    CatalogUnavailable,
    catalog_path,
)
from ..library.lock import LibraryLocked, LockUnavailable, UnsafeStateFile, library_lock
from ..library.phashes import PerceptualHash
from .stage import StageContext

COMMAND = "find-duplicates --similar (storing perceptual hashes)"

_UNUSABLE = (
    CatalogError,
    CatalogUnavailable,
    UnsafeStateFile,
    LibraryLocked,
    LockUnavailable,
    sqlite3.Error,
    OSError,
)


def load(
    known: Mapping[Path, tuple[Path, str]], params: str, bits: int, ctx: StageContext
) -> dict[Path, PerceptualHash]:
    """path -> its cached perceptual hash, for the `known` files (path -> (library root,
    content hash)) whose content the library's catalog has one for."""
    by_root: dict[Path, dict[Path, str]] = {}
    for path, (root, digest) in known.items():
        by_root.setdefault(root, {})[path] = digest
    found: dict[Path, PerceptualHash] = {}
    for root, digests in by_root.items():
        try:
            catalog = Catalog.open(root, readonly=True)
        except _UNUSABLE as exc:
            ctx.note(f"{'phash':>10}: cached hashes of {root} not used ({exc})", logging.DEBUG)
            continue
        if catalog is None:
            continue
        try:
            rows = phashes.read(catalog.conn, digests.values(), params, bits)
        except sqlite3.Error as exc:
            ctx.note(f"{'phash':>10}: cached hashes of {root} not used ({exc})", logging.DEBUG)
            continue
        finally:
            catalog.close()
        for path, digest in digests.items():
            if digest in rows:
                found[path] = rows[digest]
    return found


def store(
    rows: Iterable[tuple[Path, str, PerceptualHash]], params: str, bits: int, ctx: StageContext
) -> int:
    """Store (library root, content hash, perceptual hash) rows in each root's catalog;
    how many were stored. A library that cannot be written to now is left as it is."""
    by_root: dict[Path, dict[str, PerceptualHash]] = {}
    for root, digest, value in rows:
        by_root.setdefault(root, {})[digest] = value
    stored = 0
    for root, values in by_root.items():
        if not catalog_path(root).is_file():
            continue  # a catalog is never made here
        try:
            with library_lock(root / STATE_DIR, COMMAND, wait=False):
                catalog = Catalog.open(root)
                try:
                    with catalog.transaction():
                        stored += phashes.write(catalog.conn, values.items(), params, bits)
                finally:
                    catalog.close()
        except _UNUSABLE as exc:
            ctx.note(f"{'phash':>10}: hashes not cached in {root} ({exc})", logging.DEBUG)
    return stored

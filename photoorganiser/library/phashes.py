"""The library's perceptual hashes: what `find-duplicates --similar` found in a content.

One row per (content, hash parameters):

- `hash`: the content's XXH3-128 (the catalog's `files.hash`): the same bytes give the
  same picture wherever the file lies and whatever its name;
- `params`: what the perceptual hash depended on (its version and size), so a change of
  either is never served an old row;
- `variants`: the 8 orientation hashes, each `bits` wide, stored little-endian one
  after the other; `width`, `height` (as displayed), `flat` (left out of the search).

A second search over the library then reads no image whose content is known. The rows
are written by find-duplicates when the library's lock can be had without waiting
(duplicates/phashcache.py); nothing else depends on them, so losing them costs only time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The catalog's migration that adds this table (library/catalog.py: MIGRATIONS).
SCHEMA = """
    CREATE TABLE IF NOT EXISTS phashes (
        hash     TEXT NOT NULL,       -- the content's XXH3-128, as files.hash
        params   TEXT NOT NULL,       -- what the perceptual hash depended on
        variants BLOB NOT NULL,       -- 8 hashes of `bits` bits, little-endian, in order
        width    INTEGER NOT NULL,    -- as displayed (EXIF orientation applied)
        height   INTEGER NOT NULL,
        flat     INTEGER NOT NULL,    -- near-flat or tiny: left out of the search
        PRIMARY KEY (hash, params)
    ) WITHOUT ROWID;
"""

_CHUNK = 500  # hashes per query (SQLite's bound-parameter limit is far above)


@dataclass(frozen=True, slots=True)
class PerceptualHash:
    """One content's perceptual hash as the catalog keeps it."""

    variants: tuple[int, ...]
    width: int
    height: int
    flat: bool


def encode_variants(variants: Sequence[int], bits: int) -> bytes:
    size = (bits + 7) // 8
    return b"".join(v.to_bytes(size, "little") for v in variants)


def decode_variants(blob: bytes, bits: int) -> tuple[int, ...] | None:
    size = (bits + 7) // 8
    if not blob or len(blob) % size:
        return None
    return tuple(int.from_bytes(blob[k : k + size], "little") for k in range(0, len(blob), size))


def read(
    conn: sqlite3.Connection, digests: Iterable[str], params: str, bits: int
) -> dict[str, PerceptualHash]:
    """digest -> its perceptual hash, for the `digests` the table has under `params`.
    A catalog without the table (an older schema read as it is) has none."""
    wanted = list(dict.fromkeys(digests))
    found: dict[str, PerceptualHash] = {}
    for k in range(0, len(wanted), _CHUNK):
        part = wanted[k : k + _CHUNK]
        marks = ",".join("?" * len(part))
        try:
            rows = conn.execute(
                "SELECT hash, variants, width, height, flat FROM phashes"
                f" WHERE params = ? AND hash IN ({marks})",
                (params, *part),
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise
        for digest, blob, width, height, flat in rows:
            variants = decode_variants(bytes(blob), bits)
            if variants is not None:
                found[digest] = PerceptualHash(variants, int(width), int(height), bool(flat))
    return found


def write(
    conn: sqlite3.Connection, rows: Iterable[tuple[str, PerceptualHash]], params: str, bits: int
) -> int:
    """Store (digest, perceptual hash) rows under `params` (in the caller's transaction)."""
    values = [
        (digest, params, encode_variants(p.variants, bits), p.width, p.height, int(p.flat))
        for digest, p in rows
    ]
    conn.executemany(
        "INSERT OR REPLACE INTO phashes (hash, params, variants, width, height, flat)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        values,
    )
    return len(values)

"""What `verify` remembers: when each library file was last verified, and what was found.

Two tables in the catalog (one migration, SCHEMA below):

- `verified`: one row per library path (the catalog's `files.path`): the XXH3-128 and
  SHA-256 found, the size, when (UTC, ISO 8601), the result (ok / changed / missing /
  unreadable) and the run. Written in batches as a verify goes, so a verify stopped at
  any moment keeps what it checked.
- `verify_passes`: the full passes (a verify of everything): when each began and, once
  it reached its last file, when it ended. A full verify that finds the last pass
  unfinished (stopped, killed, a power cut) resumes it: the files verified ok since that
  pass began are not read again.

A row's SHA-256 stands for the file while the catalog's hash is the one the row found:
the manifest of files not read in a run (`--older-than`) is made from it.

Nothing here reads or writes a user's file; the catalog writes are the caller's
transaction (library/catalog.py `Catalog.transaction`).
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..core.textsafe import path_text, text_path

# The catalog's migration that adds these tables (library/catalog.py: MIGRATIONS); IF NOT
# EXISTS: a catalog whose schema number was set back runs it again.
SCHEMA = """
    CREATE TABLE IF NOT EXISTS verified (
        path        TEXT PRIMARY KEY,   -- as files.path: relative to the library root
        hash        TEXT,               -- the XXH3-128 found (NULL: not read)
        sha256      TEXT,               -- the SHA-256 found, when computed (the manifest)
        size        INTEGER,
        verified_at TEXT NOT NULL,      -- UTC, ISO 8601
        result      TEXT NOT NULL,      -- ok / changed / missing / unreadable
        run_id      TEXT
    );
    CREATE TABLE IF NOT EXISTS verify_passes (
        started_at  TEXT PRIMARY KEY,   -- UTC, ISO 8601: when the pass's first run began
        finished_at TEXT                -- NULL until a run reaches the pass's last file
    );
"""


@dataclass(frozen=True, slots=True)
class Catalogued:
    """One row of `files`, what verify checks against."""

    rel: str  # relative, as Python names it (text_path applied)
    size: int
    mtime_ns: int
    hash: str


@dataclass(frozen=True, slots=True)
class Verified:
    """The last verification of one path."""

    hash: str | None
    sha256: str | None
    verified_at: datetime  # UTC
    result: str


@dataclass(frozen=True, slots=True)
class Record:
    """A verification to remember (the caller's Check, as the table stores it)."""

    rel: str
    result: str
    hash: str | None = None
    sha256: str | None = None
    size: int | None = None


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _parse(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Fixity:
    """The verification state of one catalog connection. `present` is False for a
    catalog of an older schema opened read-only (nothing known, nothing written)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name IN ('verified', 'verify_passes')"
            )
        }
        self.present = tables == {"verified", "verify_passes"}

    def catalogued(self) -> list[Catalogued]:
        rows = self.conn.execute("SELECT path, size, mtime_ns, hash FROM files ORDER BY path")
        return [Catalogued(text_path(r[0]), r[1], r[2], r[3]) for r in rows]

    def last(self) -> dict[str, Verified]:
        """path -> its last verification (paths as the catalog's, text_path applied)."""
        if not self.present:
            return {}
        rows = self.conn.execute("SELECT path, hash, sha256, verified_at, result FROM verified")
        return {text_path(r[0]): Verified(r[1], r[2], _parse(r[3]), r[4]) for r in rows}

    def unfinished_pass(self) -> datetime | None:
        """When the last full pass began, if it never reached its end."""
        if not self.present:
            return None
        row = self.conn.execute(
            "SELECT started_at, finished_at FROM verify_passes ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        if row is None or row[1] is not None:
            return None
        return _parse(row[0])

    # --- writing (in the caller's transaction) ------------------------------------------

    def begin_pass(self, started: datetime) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO verify_passes (started_at) VALUES (?)", (_stamp(started),)
        )

    def finish_pass(self, started: datetime, finished: datetime) -> None:
        self.conn.execute(
            "UPDATE verify_passes SET finished_at = ? WHERE started_at = ?",
            (_stamp(finished), _stamp(started)),
        )

    def record(self, records: Iterable[Record], when: datetime, run_id: str | None) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO verified (path, hash, sha256, size, verified_at, result,"
            " run_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (path_text(r.rel), r.hash, r.sha256, r.size, _stamp(when), r.result, run_id)
                for r in records
            ),
        )

    def forget_uncatalogued(self) -> int:
        """Rows of paths the catalog no longer has (removed, or moved: sync)."""
        return self.conn.execute(
            "DELETE FROM verified WHERE path NOT IN (SELECT path FROM files)"
        ).rowcount


# --- which files a run reads ----------------------------------------------------------


def recently_ok(
    row: Catalogued, last: Verified | None, since: datetime | None, need_sha256: bool
) -> bool:
    """Whether `row` was verified ok at or after `since`, with the hash the catalog has
    now (and, when the manifest needs it, its SHA-256 known): then it is not read again."""
    if since is None or last is None or last.result != "ok" or last.hash != row.hash:
        return False
    if need_sha256 and not last.sha256:
        return False
    return last.verified_at >= since


def older_than(days: float, now: datetime) -> datetime:
    try:
        return now - timedelta(days=days)
    except OverflowError:  # more days than the calendar has: every verification counts
        return datetime.min.replace(tzinfo=UTC)


NEVER_AGE_DAYS = 36_500.0  # a file never verified weighs as one verified a century ago


def sample(
    rows: Sequence[Catalogued],
    last: dict[str, Verified],
    percent: float,
    seed: int,
    now: datetime,
) -> list[Catalogued]:
    """About `percent` % of `rows` (at least one), drawn at random with the files least
    recently verified the most likely: weighted sampling without replacement
    (Efraimidis & Spirakis: the largest u ** (1 / weight)), each file's weight one plus
    the days since its last verification. The same seed over the same state draws the
    same files; the result keeps `rows`' order."""
    if not rows:
        return []
    count = min(len(rows), max(1, round(len(rows) * percent / 100)))
    rng = random.Random(seed)
    keyed = []
    for index, row in enumerate(rows):
        seen = last.get(row.rel)
        age = (
            NEVER_AGE_DAYS
            if seen is None
            else max(0.0, (now - seen.verified_at).total_seconds() / 86400)
        )
        u = rng.random() or 1e-300
        keyed.append((math.log(u) / (1.0 + age), index))
    keyed.sort(reverse=True)
    chosen = sorted(index for _key, index in keyed[:count])
    return [rows[i] for i in chosen]

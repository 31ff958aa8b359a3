"""The library's memory: every content it ever imported, and what became of it.

One row per import (a transfer that put a file in the library: execute's settlement,
or recovery's), written in the same transaction as the file's catalog row:

- `hash`, `size`: the content;
- `source_path`: where it came from (absolute, as the run named it);
- `library_path`: the name it was imported as (relative to the library root);
- `run_id`, `imported_at`: which run, when;
- `moved_to`: where it is now, when it was moved or renamed inside the library since
  (`sync` recognises the move: same content, new path, the old path gone);
- `removed_at`: when `sync` found it gone from the library (or holding other content).

Files found in the library (adopted, or added by hand) were not imported: they have
no row. The import asks `imported` which of its contents were imported before; one
that is not in the library now is `skip-deleted` (importing/history.py): what a
person deleted from the library stays deleted.

Paths are stored as `textsafe.path_text`, like the catalog's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..core.textsafe import path_text, text_path

# The catalog's migration that adds this table (library/catalog.py: MIGRATIONS).
SCHEMA = """
    CREATE TABLE history (
        id           INTEGER PRIMARY KEY,
        hash         TEXT NOT NULL,
        size         INTEGER NOT NULL,
        source_path  TEXT,
        library_path TEXT NOT NULL,    -- the name it was imported as, relative to the root
        run_id       TEXT,
        imported_at  TEXT NOT NULL,
        removed_at   TEXT,             -- sync found it gone from the library
        moved_to     TEXT              -- where it is now, moved or renamed in the library
    );
    CREATE INDEX history_hash ON history(hash);
    CREATE INDEX history_now ON history(COALESCE(moved_to, library_path));
"""

# Where the file is now (an index of its own: sync looks rows up by it).
_NOW = "COALESCE(moved_to, library_path)"

_CHUNK = 500  # hashes per query (SQLite's bound-parameter limit is far above)


@dataclass(frozen=True, slots=True)
class Imported:
    """The last import of one content."""

    hash: str
    size: int
    source_path: str
    library_path: str  # relative, as Python names it (text_path applied)
    imported_at: str  # ISO 8601, seconds
    run_id: str | None
    removed_at: str | None
    moved_to: str | None

    @property
    def imported_on(self) -> str:
        return self.imported_at[:10]


class History:
    """The history table of one catalog connection. `present` is False for a catalog of
    an older schema opened read-only (a dry run before the first real run upgrades it):
    nothing is known then, and nothing can be written anyway."""

    def __init__(self, conn: sqlite3.Connection, present: bool = True) -> None:
        self.conn = conn
        self.present = present

    # --- written by the catalog (inside its transactions) ---------------------------------

    def record_import(
        self,
        content_hash: str,
        size: int,
        source: str,
        library_path: str,
        run_id: str | None,
        when: str | None = None,
    ) -> None:
        """An import put this content at `library_path` (relative). An earlier entry
        whose file was at that same path has left it: it is marked removed."""
        if not self.present:
            return
        when = when or _now()
        stored = path_text(library_path)
        self.conn.execute(
            f"UPDATE history SET removed_at = ? WHERE {_NOW} = ? AND removed_at IS NULL",
            (when, stored),
        )
        self.conn.execute(
            "INSERT INTO history (hash, size, source_path, library_path, run_id, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (content_hash, size, path_text(source), stored, run_id, when),
        )

    def record_imports(
        self, imports: list[tuple[str, int, str, str, str | None]], when: str
    ) -> None:
        """Many `record_import`s, (hash, size, source, library path, run id) each, in two
        statements. The same library path twice (never in one batch of transfers) is left
        to `record_import`, one at a time, so that the earlier one is marked removed."""
        if not self.present or not imports:
            return
        if len({lib for _h, _s, _src, lib, _r in imports}) < len(imports):
            for h, size, src, lib, run in imports:
                self.record_import(h, size, src, lib, run, when)
            return
        self.conn.executemany(
            f"UPDATE history SET removed_at = ? WHERE {_NOW} = ? AND removed_at IS NULL",
            [(when, path_text(lib)) for _h, _s, _src, lib, _r in imports],
        )
        self.conn.executemany(
            "INSERT INTO history (hash, size, source_path, library_path, run_id, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (h, size, path_text(src), path_text(lib), run, when)
                for h, size, src, lib, run in imports
            ],
        )

    def removed(self, paths: Iterable[str], when: str | None = None) -> int:
        """These library files (relative) are gone: their imports are marked removed."""
        if not self.present:
            return 0
        when = when or _now()
        total = 0
        for path in paths:
            cur = self.conn.execute(
                f"UPDATE history SET removed_at = ? WHERE {_NOW} = ? AND removed_at IS NULL",
                (when, path_text(path)),
            )
            total += cur.rowcount
        return total

    def replaced(self, path: str, content_hash: str | None, when: str | None = None) -> None:
        """The file at `path` holds other content now (edited, overwritten, unreadable):
        the content imported there has left the library."""
        if not self.present:
            return
        self.conn.execute(
            f"UPDATE history SET removed_at = ? WHERE {_NOW} = ? AND removed_at IS NULL"
            " AND hash IS NOT ?",
            (when or _now(), path_text(path), content_hash),
        )

    def moved(self, old: str, new: str) -> None:
        """The file at `old` (relative) was moved or renamed to `new`: its history follows."""
        if not self.present:
            return
        self.conn.execute(
            f"UPDATE history SET moved_to = ? WHERE {_NOW} = ? AND removed_at IS NULL",
            (path_text(new), path_text(old)),
        )

    def undone(self, path: str, content_hash: str) -> int:
        """The import that put this content at `path` (relative) was undone: as if it had
        never happened (its row goes; what is imported again is new, not deleted)."""
        if not self.present:
            return 0
        cur = self.conn.execute(
            f"DELETE FROM history WHERE {_NOW} = ? AND hash = ? AND removed_at IS NULL",
            (path_text(path), content_hash),
        )
        return cur.rowcount

    def run_of(self, path: str) -> str | None:
        """The run that imported the file now at `path` (relative to the root; moved there
        since, too), None when none did (added by hand, adopted, or no history)."""
        if not self.present:
            return None
        row = self.conn.execute(
            f"SELECT run_id FROM history WHERE {_NOW} = ? AND removed_at IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (path_text(path),),
        ).fetchone()
        return row[0] if row is not None else None

    def moves_of(self, run_id: str) -> dict[tuple[str, str], str]:
        """(library path, hash) -> where it is now, for the files run `run_id` imported
        that were moved or renamed inside the library since (and are still there)."""
        if not self.present:
            return {}
        rows = self.conn.execute(
            "SELECT library_path, hash, moved_to FROM history"
            " WHERE run_id = ? AND moved_to IS NOT NULL AND removed_at IS NULL",
            (run_id,),
        )
        return {(text_path(lib), h): text_path(moved) for lib, h, moved in rows}

    # --- read by the import -------------------------------------------------------------

    def imported(self, hashes: Iterable[str]) -> dict[str, Imported]:
        """hash -> its last import, for the contents that were ever imported."""
        if not self.present:
            return {}
        wanted = sorted(set(hashes))
        found: dict[str, Imported] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self.conn.execute(
                "SELECT hash, size, source_path, library_path, imported_at, run_id, removed_at,"
                f" moved_to FROM history WHERE hash IN ({marks}) ORDER BY imported_at, id",
                chunk,
            )
            for h, size, src, lib, at, run, gone, moved in rows:  # the last one wins
                found[h] = Imported(
                    h,
                    size,
                    text_path(src or ""),
                    text_path(lib),
                    at,
                    run,
                    gone,
                    text_path(moved) if moved else None,
                )
        return found

    def rows(self) -> list[tuple]:
        """Every row, oldest first, as stored (for salvage and tests)."""
        if not self.present:
            return []
        return self.conn.execute(
            "SELECT hash, size, source_path, library_path, run_id, imported_at, removed_at,"
            " moved_to FROM history ORDER BY id"
        ).fetchall()


COLUMNS = "hash, size, source_path, library_path, run_id, imported_at, removed_at, moved_to"


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")

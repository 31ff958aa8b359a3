"""The library catalog: embedded SQLite at LIBRARY/.photoorganiser/catalog.sqlite.

- `files`: one row per library file, its path relative to the library root (so
  the library can move or change drive letter), size, mtime, hash, what it is
  (date and its source, camera, size), and when, by which run and from where it
  came. Indexed by hash: "already in the library" is one lookup.
- `sources`: what analysis found in input files, keyed by path, size, mtime and
  inode, so an unchanged file in the inbox is never read again.
- `runs` and `journal`: what each run is about to do, written before it does it,
  so a killed run can be finished or undone (see journal.py).

Paths are stored as `textsafe.path_text` (valid UTF-8 for any file name, read back
exactly by `text_path`); the methods here take and give paths as Python has them.

The schema is versioned (PRAGMA user_version) and migrated forward on open. All
writes are transactions (rollback journal, fsynced): a crash at any moment leaves it usable.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .model import (
    Analysis,
    AnalysisFailure,
    CaptureDate,
    DateSource,
    MediaInfo,
    ScanEntry,
)
from .textsafe import path_text, text_path

STATE_DIR = ".photoorganiser"
CATALOG_NAME = "catalog.sqlite"

# Bump when what analysis finds changes (a better metadata reader): cached analyses
# of older versions are then read again.
ANALYSIS_VERSION = 2  # 2: Apple content identifiers (Live Photo pairs)

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE files (
        path        TEXT PRIMARY KEY,   -- relative to the library root, '/'-separated
        size        INTEGER NOT NULL,
        mtime_ns    INTEGER NOT NULL,
        inode       INTEGER,
        hash        TEXT NOT NULL,      -- XXH3-128, 32 hex digits
        captured_at TEXT,
        date_source TEXT,
        make        TEXT,
        model       TEXT,
        width       INTEGER,
        height      INTEGER,
        record      TEXT NOT NULL,      -- the whole analysis, JSON
        imported_at TEXT,
        run_id      TEXT,
        source_path TEXT
    );
    CREATE INDEX files_hash ON files(hash);
    CREATE TABLE sources (
        path        TEXT PRIMARY KEY,
        size        INTEGER NOT NULL,
        mtime_ns    INTEGER NOT NULL,
        inode       INTEGER NOT NULL,
        options     TEXT NOT NULL,      -- what the analysis depended on (zone, version)
        record      TEXT NOT NULL,      -- the analysis (or its failure), JSON
        seen_at     TEXT NOT NULL
    );
    CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        command     TEXT NOT NULL,
        status      TEXT NOT NULL,      -- running / finished / interrupted
        report      TEXT
    );
    CREATE TABLE journal (
        id          INTEGER PRIMARY KEY,
        run_id      TEXT NOT NULL,
        action      TEXT NOT NULL,      -- move / copy
        source      TEXT NOT NULL,      -- absolute
        destination TEXT NOT NULL,      -- relative to the library root
        size        INTEGER NOT NULL,
        hash        TEXT NOT NULL,
        record      TEXT NOT NULL,
        state       TEXT NOT NULL       -- intent / done / failed / recovered / undone / abandoned
    );
    CREATE INDEX journal_state ON journal(state);
    """,
]


class CatalogError(Exception):
    """The catalog cannot be used as it is (written by a newer version...)."""


class CatalogUnavailable(Exception):
    """The catalog cannot be opened or written (read-only library, full disk...)."""


@dataclass(frozen=True, slots=True)
class FileRow:
    path: str  # relative, posix; as Python names it (text_path already applied)
    size: int
    mtime_ns: int
    hash: str


def catalog_path(root: Path) -> Path:
    return root / STATE_DIR / CATALOG_NAME


class Catalog:
    def __init__(self, conn: sqlite3.Connection, root: Path, readonly: bool) -> None:
        self.conn = conn
        self.root = root
        self.readonly = readonly
        self._root_prefix = str(root).rstrip(os.sep) + os.sep

    # --- opening and schema -------------------------------------------------------

    @classmethod
    def open(cls, root: Path, *, readonly: bool = False) -> Catalog | None:
        """The library's catalog; created when missing (None when missing and read-only)."""
        path = catalog_path(root)
        if readonly and not path.exists():
            return None
        try:
            if readonly:
                conn = _open_readonly(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, isolation_level=None, timeout=30)
                # A rollback journal, not WAL: a dry run's read-only look then creates no
                # file at all (WAL readers create -shm/-wal), and commits are batched anyway.
                conn.execute("PRAGMA journal_mode=DELETE")
                conn.execute("PRAGMA synchronous=FULL")
            conn.row_factory = sqlite3.Row
            catalog = cls(conn, root, readonly)
            catalog._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise CatalogUnavailable(f"cannot open the catalog {path}: {_why(exc)}") from exc
        return catalog

    def close(self) -> None:
        self.conn.close()

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.version
        if version > len(MIGRATIONS):
            raise CatalogError(
                f"the catalog was written by a newer photoorganiser (schema {version});"
                " upgrade photoorganiser"
            )
        if version == len(MIGRATIONS):
            return
        if self.readonly:
            raise CatalogError("the catalog needs an upgrade; run a real import or sync first")
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    # --- library files ----------------------------------------------------------------

    def relative(self, path: Path) -> str:
        """`path` relative to the library root, '/'-separated (how the catalog names files)."""
        text, root = str(path), self._root_prefix
        # The common case without os.path.relpath's cost (a tenth of a sync's time).
        rel = text[len(root) :] if text.startswith(root) else os.path.relpath(path, self.root)
        return rel.replace(os.sep, "/")

    def count_files(self) -> int:
        return self.conn.execute("SELECT count(*) FROM files").fetchone()[0]

    def find_by_hash(self, content_hash: str) -> list[FileRow]:
        rows = self.conn.execute(
            "SELECT path, size, mtime_ns, hash FROM files WHERE hash = ? ORDER BY path",
            (content_hash,),
        )
        return [FileRow(text_path(r[0]), *r[1:]) for r in rows]

    def file_stats(self) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of every catalogued file (paths as `relative` gives them)."""
        rows = self.conn.execute("SELECT path, size, mtime_ns FROM files")
        return {text_path(r[0]): (r[1], r[2]) for r in rows}

    def put_file(
        self,
        path: Path,
        size: int,
        mtime_ns: int,
        inode: int,
        analysis: Analysis,
        *,
        run_id: str | None = None,
        source: Path | None = None,
    ) -> None:
        captured = analysis.captured
        media = analysis.media
        self.conn.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, inode, hash, captured_at,"
            " date_source, make, model, width, height, record, imported_at, run_id, source_path)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                path_text(self.relative(path)),
                size,
                mtime_ns,
                inode,
                analysis.hash,
                captured.isoformat() if captured else None,
                captured.source.value if captured else None,
                media.make,
                media.model,
                media.width,
                media.height,
                encode(analysis),
                datetime.now().isoformat(timespec="seconds"),
                run_id,
                path_text(source) if source else None,
            ),
        )

    def imported_from(self, folder: Path) -> list[tuple[str, str]]:
        """(library path, source path) of the files imported from directly inside `folder`."""
        prefix = path_text(str(folder).rstrip(os.sep) + os.sep)
        rows = self.conn.execute(
            "SELECT path, source_path FROM files WHERE substr(source_path, 1, ?) = ?",
            (len(prefix), prefix),
        )
        return [
            (text_path(p), text_path(src)) for p, src in rows if os.sep not in src[len(prefix) :]
        ]

    def remove_files(self, paths: Iterable[str]) -> None:
        """Forget library files, named as `relative` names them."""
        self.conn.executemany("DELETE FROM files WHERE path = ?", ((path_text(p),) for p in paths))

    # --- the analysis cache of input files ----------------------------------------------

    def cached(self, entry: ScanEntry, options: str) -> Analysis | AnalysisFailure | None:
        row = self.conn.execute(
            "SELECT size, mtime_ns, inode, options, record FROM sources WHERE path = ?",
            (path_text(entry.path),),
        ).fetchone()
        if row is None or (row[0], row[1], row[2], row[3]) != (
            entry.size,
            entry.mtime_ns,
            entry.inode,
            options,
        ):
            return None
        return decode(row[4], entry)

    def cached_many(
        self, entries: list[ScanEntry], options: str
    ) -> dict[Path, Analysis | AnalysisFailure]:
        found = {}
        for entry in entries:
            hit = self.cached(entry, options)
            if hit is not None:
                found[entry.path] = hit
        return found

    def remember(self, results: Iterable[Analysis | AnalysisFailure], options: str) -> None:
        now = datetime.now().isoformat(timespec="seconds")
        self.conn.executemany(
            "INSERT OR REPLACE INTO sources (path, size, mtime_ns, inode, options, record,"
            " seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    path_text(r.entry.path),
                    r.entry.size,
                    r.entry.mtime_ns,
                    r.entry.inode,
                    options,
                    encode(r),
                    now,
                )
                for r in results
            ),
        )

    def forget_unseen_sources(self, inputs: Iterable[Path], seen: set[Path]) -> int:
        """Drop cached analyses of files under `inputs` that are no longer there."""
        gone = []
        for folder in inputs:
            # path_text encodes character by character: the stored text of every path
            # under `folder` starts with the stored text of its prefix.
            prefix = path_text(str(folder).rstrip(os.sep) + os.sep)
            rows = self.conn.execute(
                "SELECT path FROM sources WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
            )
            gone += [p for p in (Path(text_path(t)) for (t,) in rows) if p not in seen]
        self.forget_sources(gone)
        return len(gone)

    def forget_sources(self, paths: Iterable[Path]) -> None:
        self.conn.executemany(
            "DELETE FROM sources WHERE path = ?", ((path_text(p),) for p in paths)
        )

    # --- runs ----------------------------------------------------------------------------

    def begin_run(self, run_id: str, command: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO runs (id, started_at, command, status) VALUES (?, ?, ?, 'running')",
                (run_id, datetime.now().isoformat(timespec="seconds"), command),
            )

    def finish_run(self, run_id: str, status: str, report: Path | None) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, report = ? WHERE id = ?",
                (
                    datetime.now().isoformat(timespec="seconds"),
                    status,
                    path_text(report or ""),
                    run_id,
                ),
            )

    def mark_unfinished_runs(self) -> list[str]:
        """Runs that never finished (killed): marked interrupted; their ids returned."""
        ids = [r[0] for r in self.conn.execute("SELECT id FROM runs WHERE status = 'running'")]
        if ids:
            with self.transaction():
                self.conn.executemany(
                    "UPDATE runs SET status = 'interrupted' WHERE id = ?", ((i,) for i in ids)
                )
        return ids


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


# --- the analysis as JSON ---------------------------------------------------------------


def _date_json(c: CaptureDate | None) -> dict | None:
    if c is None:
        return None
    offset = None if c.utc_offset is None else int(c.utc_offset.total_seconds())
    return {"wall": c.wall.isoformat(), "source": c.source.value, "offset": offset}


def _date_from(d: dict | None) -> CaptureDate | None:
    if d is None:
        return None
    offset = None if d["offset"] is None else timedelta(seconds=d["offset"])
    return CaptureDate(datetime.fromisoformat(d["wall"]), DateSource(d["source"]), offset)


def encode(result: Analysis | AnalysisFailure) -> str:
    media = result.media
    media_json = None
    if media is not None:
        media_json = {
            "captured": _date_json(media.captured),
            "make": media.make,
            "model": media.model,
            "width": media.width,
            "height": media.height,
            "format": media.format,
            "is_video": media.is_video,
            "problems": list(media.problems),
            "warnings": list(media.warnings),
            "content_id": media.content_id,
        }
    kind = result.entry.kind.value
    if isinstance(result, AnalysisFailure):
        return json.dumps(
            {"kind": kind, "error": result.error, "hash": result.hash, "media": media_json}
        )
    return json.dumps(
        {
            "kind": kind,
            "hash": result.hash,
            "media": media_json,
            "captured": _date_json(result.captured),
        }
    )


def decode(text: str, entry: ScanEntry) -> Analysis | AnalysisFailure:
    d = json.loads(text)
    media = None
    if d.get("media") is not None:
        m = d["media"]
        media = MediaInfo(
            captured=_date_from(m["captured"]),
            make=m["make"],
            model=m["model"],
            width=m["width"],
            height=m["height"],
            format=m["format"],
            is_video=m["is_video"],
            problems=tuple(m["problems"]),
            warnings=tuple(m["warnings"]),
            content_id=m.get("content_id"),
        )
    if "error" in d:
        return AnalysisFailure(entry, d["error"], hash=d["hash"], media=media)
    return Analysis(entry, d["hash"], media or MediaInfo(), _date_from(d["captured"]))


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _open_readonly(path: Path) -> sqlite3.Connection:
    """Read-only, creating nothing. On a read-only file system a catalog that still
    needs a journal replayed can only be read as an immutable file (nothing can be
    writing it there); elsewhere that is an interrupted run the next real run recovers."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if os.access(path.parent, os.W_OK) and not _read_only_fs(path.parent):
            raise
    return sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, isolation_level=None)


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False

"""The library catalog: embedded SQLite at LIBRARY/.photoorganiser/catalog.sqlite.

- `files`: one row per library file, its path relative to the library root (so
  the library can move or change drive letter), size, mtime, hash, what it is
  (date and its source, camera, size), and when, by which run and from where it
  came. Indexed by hash: "already in the library" is one lookup.
- `sources`: what analysis found in input files, keyed by path, size, mtime and
  inode, so an unchanged file in the inbox is never read again.
- `runs` and `journal`: what each run is about to do, written before it does it,
  so a killed run can be finished or undone (see journal.py); after it, what its
  transfers did (the run log `undo` reads, runlog.py).
- `history`: every content ever imported, and whether it was moved or removed since
  (see history.py). A `put_file` with a source is an import, and writes it.

Paths are stored as `textsafe.path_text` (valid UTF-8 for any file name, read back
exactly by `text_path`); the methods here take and give paths as Python has them.

The schema is versioned (PRAGMA user_version) and migrated forward on open. All
writes are transactions (rollback journal, fsynced): a crash at any moment leaves it usable.

What it costs (issue 14): a first import commits once per batch of transfers (the
journal's intents, which must be on the disk before the files move) and writes the
batches' settlements (catalog rows, history, journal states) 4,096 files at a time
(journal.py: Journal.settle; `defer` makes them before anything else reads). A
transaction rewrites every index page it touches, and the two indexes by hash are
touched at random: one transaction per 64 files rewrote ~150 pages, ten times the
catalog's size over a first import (14x at 50,000 files); now about 4x (4.5x).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..core.textsafe import path_text, text_path
from ..core.values import (
    SHARED_FACTS,
    Analysis,
    AnalysisFailure,
    CaptureDate,
    DateSource,
    FileKind,
    MediaFacts,
    MediaInfo,
    ScanEntry,
)
from .fixity import SCHEMA as FIXITY_SCHEMA
from .history import COLUMNS as HISTORY_COLUMNS
from .history import SCHEMA as HISTORY_SCHEMA
from .history import History
from .lock import STATE_DIR, UnsafeStateFile, refuse_link
from .phashes import SCHEMA as PHASHES_SCHEMA

log = logging.getLogger("photoorganiser")

CATALOG_NAME = "catalog.sqlite"
JOURNAL_SUFFIX = "-journal"  # SQLite's rollback journal beside the catalog

# SQLite's primary result codes (the low byte of sqlite3.Error.sqlite_errorcode).
_SQLITE_READONLY, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 8, 11, 13, 26

# Bump when what analysis finds changes (a better metadata reader): cached analyses
# of older versions are then read again.
# 2: Apple content identifiers (Live Photo pairs); 3: GPS positions; 4: issue 13's readers
# 5: the zone a photo's GPS time gives (gps_offset)
ANALYSIS_VERSION = 5

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
    # 2: what was imported, and what became of it (history.py)
    HISTORY_SCHEMA,
    # 3: where a file was taken (GPS, decimal degrees) and what scan took it for, as
    # columns; filled from the analysis records that already carry them
    """
    ALTER TABLE files ADD COLUMN latitude REAL;
    ALTER TABLE files ADD COLUMN longitude REAL;
    ALTER TABLE files ADD COLUMN kind TEXT;
    UPDATE files SET kind = json_extract(record, '$.kind'),
        latitude = json_extract(record, '$.media.latitude'),
        longitude = json_extract(record, '$.media.longitude');
    """,
    # 4: perceptual hashes of contents (phashes.py)
    PHASHES_SCHEMA,
    # 5: when each file was last verified, and what was found (fixity.py: `verify`)
    FIXITY_SCHEMA,
]
HISTORY_VERSION = 2  # the schema that has the history table
_CHUNK = 500  # values bound per query (SQLite's limit is far above)
_ROOMY_CACHE, _USUAL_CACHE = -65536, -2000  # PRAGMA cache_size: negative = KiB
_PUT_FILE = (
    "INSERT OR REPLACE INTO files (path, size, mtime_ns, inode, hash, captured_at,"
    " date_source, make, model, width, height, record, imported_at, run_id, source_path,"
    " latitude, longitude, kind)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_COLUMN = re.compile(r"\s*ALTER TABLE (\w+) ADD COLUMN (\w+)", re.IGNORECASE)


class CatalogError(Exception):
    """The catalog cannot be used as it is (written by a newer version...)."""


class CatalogUnavailable(Exception):
    """The catalog cannot be opened or written (read-only library, full disk...)."""


class CatalogDamaged(CatalogError):
    """The catalog file is damaged (a bad page, or not a database at all).

    Nothing in the library is touched; `sync --rebuild` sets the file aside and
    makes a new catalog from the disk, which is the truth.
    """

    def __init__(self, root: Path, reason: str) -> None:
        self.root = root
        self.reason = reason
        super().__init__(
            f"the catalog {catalog_path(root)} is damaged ({reason}); rebuild it from the"
            f" library with: photoorganiser sync --output {root} --rebuild"
        )


def is_damage(exc: BaseException) -> bool:
    """Whether an SQLite error means the file itself is damaged (not busy, full, read-only)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc)
    return "malformed" in text or "not a database" in text


def catalog_failure(exc: Exception, root: Path) -> CatalogDamaged | CatalogUnavailable:
    """What an SQLite (or OS) error on the catalog means for the user, as one line."""
    if is_damage(exc):
        return CatalogDamaged(root, str(exc))
    return CatalogUnavailable(f"cannot use the catalog {catalog_path(root)}: {_why(exc)}")


@dataclass(frozen=True, slots=True)
class FileRow:
    path: str  # relative, posix; as Python names it (text_path already applied)
    size: int
    mtime_ns: int
    hash: str


def catalog_path(root: Path) -> Path:
    return root / STATE_DIR / CATALOG_NAME


@dataclass(frozen=True, slots=True)
class Salvage:
    """What a catalog set aside by `sync --rebuild` still tells: the runs, and the
    transfers a killed run left half-way (its intents), so that they can still be
    finished or undone. Everything else is made again from the disk."""

    set_aside: Path | None  # where the old catalog now is (None: there was none)
    damaged: bool
    runs: tuple[tuple, ...] = ()  # (id, started_at, finished_at, command, status, report)
    intents: tuple[tuple, ...] = ()  # (run_id, action, source, destination, size, hash, record)
    history: tuple[tuple, ...] = ()  # history rows, as history.COLUMNS names them
    run_log: tuple[tuple, ...] = ()  # settled journal entries kept: the intents' columns + state


class Catalog:
    def __init__(self, conn: sqlite3.Connection, root: Path, readonly: bool) -> None:
        self.conn = conn
        self.root = root  # as given: what reports show
        # The library reached through a link (or moved since) must name its files
        # the same way: paths are made relative to the real folder too.
        self.realroot = Path(os.path.realpath(root))
        self.readonly = readonly
        self.fresh = False  # created by this open (schema 0): nothing catalogued yet
        # The journal's settlements not written yet (journal.py: Journal.settle), and the
        # function that writes them before the connection's next use (`defer`).
        self.unsettled: list[tuple] = []
        self.history = History(conn, present=False)  # set once the schema is known
        self._root_prefix = str(root).rstrip(os.sep) + os.sep
        self._real_prefix = str(self.realroot).rstrip(os.sep) + os.sep

    # --- opening and schema -------------------------------------------------------

    @classmethod
    def open(cls, root: Path, *, readonly: bool = False) -> Catalog | None:
        """The library's catalog; created when missing (None when missing and read-only)."""
        path = catalog_path(root)
        check_state_files(root)
        if readonly and _empty_or_missing(path):
            return None  # an empty file is a catalog never written: read the disk
        # By the real folder (checked not to be a link): what SQLite opens is what was checked.
        real = Path(os.path.realpath(path.parent)) / CATALOG_NAME
        conn = None
        try:
            if readonly:
                conn = _open_readonly(real)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    _uri(real), uri=True, isolation_level=None, timeout=30, factory=_Connection
                )
                # A rollback journal, not WAL: a dry run's read-only look then creates no
                # file at all (WAL readers create -shm/-wal), and commits are batched anyway.
                conn.execute("PRAGMA journal_mode=DELETE")
                conn.execute("PRAGMA synchronous=FULL")
            conn.row_factory = sqlite3.Row
            catalog = cls(conn, root, readonly)
            if readonly and catalog.version == 0:
                conn.close()
                return None  # created but never given a schema (killed at once)
            catalog._migrate()
            catalog.history = History(conn, present=catalog.version >= HISTORY_VERSION)
            catalog._probe()
            check_state_files(root)  # again, now that SQLite has opened the file
        except (CatalogError, UnsafeStateFile):
            if conn is not None:
                conn.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            if conn is not None:
                conn.close()
            if is_damage(exc):
                raise CatalogDamaged(root, str(exc)) from exc
            raise CatalogUnavailable(f"cannot open the catalog {path}: {_why(exc)}") from exc
        return catalog

    def close(self) -> None:
        try:
            if not self.readonly:
                self.write_pending()
        except (sqlite3.Error, OSError) as exc:  # the journal's intents are still there
            log.error("could not write the last settlements to the catalog: %s", exc)
        finally:
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
        self.fresh = version == 0
        if self.readonly:
            if version >= 1:  # read as it is (a dry run): what later schemas add is unknown
                log.info("the catalog has schema %d; a real run upgrades it", version)
                return
            raise CatalogError("the catalog needs an upgrade; run a real import or sync first")
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip() and not self._column_there(statement):
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    def _column_there(self, statement: str) -> bool:
        """Whether `statement` adds a column the table already has (a catalog whose
        schema number was set back by hand): then it is skipped, not an error."""
        m = _ADD_COLUMN.match(statement)
        if m is None:
            return False
        return any(r[1] == m[2] for r in self.conn.execute(f'PRAGMA table_info("{m[1]}")'))

    def _probe(self) -> None:
        """Walk every table's and index's tree once, decoding no row (count(*)).

        A damaged page is then found here, before anything is touched, rather than
        half-way through a run; this costs tens of milliseconds where PRAGMA
        quick_check, which decodes every row, costs seconds on a big catalog.
        """
        trees = self.conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
        ).fetchall()
        for kind, name, table in trees:
            how = "NOT INDEXED" if kind == "table" else f'INDEXED BY "{name}"'
            self.conn.execute(f'SELECT count(*) FROM "{table}" {how}').fetchone()

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def defer(self, write: Callable[[], None] | None) -> None:
        """Writes that need not reach the disk now (the journal's settlements: until they
        do, the intents they settle are there for recovery): `write` runs before anything
        else next uses the connection, or when the catalog is closed. None: nothing is
        pending any more (the caller writes it itself)."""
        self.conn.pending = write

    @contextlib.contextmanager
    def roomy(self) -> Iterator[None]:
        """A page cache big enough for a whole group of settlements (journal.py), for the
        transaction in this block: one bigger than the cache spills pages to the file
        mid-way, and writes them twice. The usual cache (2 MB) again after it."""
        self.conn.execute(f"PRAGMA cache_size={_ROOMY_CACHE}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA cache_size={_USUAL_CACHE}")

    def write_pending(self) -> None:
        """Make the deferred writes now, if any."""
        self.conn._write_pending()

    # --- library files ----------------------------------------------------------------

    def relative(self, path: Path | str) -> str:
        """`path` relative to the library root, '/'-separated (how the catalog names files).

        The library may be named through a link and its files by their real path (or
        the other way round): both name the same file, and give the same row. A path
        outside the library raises ValueError: a `..` in the catalog would name another
        file once the library moves.
        """
        text = str(path)
        # The common case with string operations only (os.path costs a tenth of a sync).
        for prefix in (self._root_prefix, self._real_prefix):
            if text.startswith(prefix):
                rel = text[len(prefix) :]
                if ".." not in rel or ".." not in rel.split(os.sep):
                    return rel.replace(os.sep, "/")
        folder, name = os.path.split(os.path.abspath(text))
        real = os.path.join(os.path.realpath(folder), name)
        if real.startswith(self._real_prefix):
            return real[len(self._real_prefix) :].replace(os.sep, "/")
        raise ValueError(f"{path} is not inside the library {self.root}")

    def count_files(self) -> int:
        return self.conn.execute("SELECT count(*) FROM files").fetchone()[0]

    def find_by_hash(self, content_hash: str) -> list[FileRow]:
        rows = self.conn.execute(
            "SELECT path, size, mtime_ns, hash FROM files WHERE hash = ? ORDER BY path",
            (content_hash,),
        )
        return [FileRow(text_path(r[0]), *r[1:]) for r in rows]

    def all_hashes(self) -> dict[str, tuple[int, str]]:
        """path -> (size, hash) of every catalogued file, in one query (as `file_hashes`)."""
        rows = self.conn.execute("SELECT path, size, hash FROM files")
        return {text_path(r[0]): (r[1], r[2]) for r in rows}

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
        """A library file's row. With a `source` this is an import: the history records
        it too (in the caller's transaction)."""
        self._put(
            path,
            size,
            mtime_ns,
            inode,
            analysis,
            datetime.now().isoformat(timespec="seconds"),
            run_id,
            path_text(source) if source else None,
        )
        if source is not None:
            self.history.record_import(
                analysis.hash, size, str(source), self.relative(path), run_id
            )

    def move_file(
        self, old: str, path: Path, size: int, mtime_ns: int, inode: int, analysis: Analysis
    ) -> None:
        """The file catalogued at `old` (relative) was moved or renamed to `path` inside
        the library: its row follows it (when and from where it came kept), and so does
        its history."""
        kept = self.conn.execute(
            "SELECT imported_at, run_id, source_path FROM files WHERE path = ?", (path_text(old),)
        ).fetchone()
        self.remove_files([old])
        imported_at, run_id, source = kept if kept is not None else (None, None, None)
        self._put(path, size, mtime_ns, inode, analysis, imported_at, run_id, source)
        self.history.moved(old, self.relative(path))

    def reread_file(
        self, path: Path, size: int, mtime_ns: int, inode: int, analysis: Analysis
    ) -> None:
        """A catalogued file read again (sync --reread): what its content says is updated,
        when and from where it came is kept."""
        kept = self.conn.execute(
            "SELECT imported_at, run_id, source_path FROM files WHERE path = ?",
            (path_text(self.relative(path)),),
        ).fetchone()
        imported_at, run_id, source = kept if kept is not None else (None, None, None)
        self._put(path, size, mtime_ns, inode, analysis, imported_at, run_id, source)

    def file_hashes(self, paths: Iterable[str]) -> dict[str, tuple[int, str]]:
        """path -> (size, hash) of these catalogued files (relative, as `relative` names them)."""
        found = {}
        for p in paths:
            row = self.conn.execute(
                "SELECT size, hash FROM files WHERE path = ?", (path_text(p),)
            ).fetchone()
            if row is not None:
                found[p] = (row[0], row[1])
        return found

    def file_record(self, path: str) -> dict | None:
        """One catalogued file's row as a dict (None when not catalogued), by its path
        relative to the library, as `relative` names it. Keys are the `files` columns
        (`path` as Python names it); `latitude`, `longitude` and `kind` are there even in a
        catalog read before schema 3 (from the analysis record, None when it has none)."""
        row = self.conn.execute("SELECT * FROM files WHERE path = ?", (path_text(path),)).fetchone()
        if row is None:
            return None
        found = dict(zip(row.keys(), tuple(row), strict=True))
        found["path"] = text_path(found["path"])
        if "kind" not in found:  # an older schema, read as it is (a dry run)
            record = json.loads(found["record"])
            media = record.get("media") or {}
            found["kind"] = record.get("kind")
            found["latitude"] = media.get("latitude")
            found["longitude"] = media.get("longitude")
        return found

    def put_files(
        self, files: list[tuple[Path, os.stat_result, Analysis, str | None, Path, str | None]]
    ) -> None:
        """Imported files' rows, (path, its stat, analysis, run id, source, the analysis
        as `encode` gives it or None) each, and their history, in a few statements (as
        many `put_file`s with a source, in the caller's transaction)."""
        if not files:
            return
        now = datetime.now().isoformat(timespec="seconds")
        self.conn.executemany(
            _PUT_FILE,
            [
                self._file_row(
                    p, st.st_size, st.st_mtime_ns, st.st_ino, a, now, run, path_text(s), record
                )
                for p, st, a, run, s, record in files
            ],
        )
        self.history.record_imports(
            [(a.hash, st.st_size, str(s), self.relative(p), run) for p, st, a, run, s, _r in files],
            now,
        )

    def _put(self, *row: object) -> None:
        """One file's row written (the arguments of `_file_row`)."""
        self.conn.execute(_PUT_FILE, self._file_row(*row))

    def _file_row(
        self,
        path: Path,
        size: int,
        mtime_ns: int,
        inode: int,
        analysis: Analysis,
        imported_at: str | None,
        run_id: str | None,
        source_text: str | None,
        record: str | None = None,
    ) -> tuple:
        captured = analysis.captured
        media = analysis.media
        return (
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
            encode(analysis) if record is None else record,
            imported_at,
            run_id,
            source_text,
            media.latitude,
            media.longitude,
            analysis.entry.kind.value,
        )

    def unfinished_moves(self) -> dict[str, str]:
        """source -> library path (relative) of moves whose verified copy is in the library
        but whose source could not be removed (the journal keeps them until finished)."""
        rows = self.conn.execute(
            "SELECT source, destination FROM journal WHERE state = 'unfinished-move'"
        )
        return {text_path(src): text_path(dst) for src, dst in rows}

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
        """The cached analyses of these files, unchanged since: one query per 500 files."""
        found = {}
        for start in range(0, len(entries), _CHUNK):
            chunk = {path_text(e.path): e for e in entries[start : start + _CHUNK]}
            marks = ", ".join("?" * len(chunk))
            rows = self.conn.execute(
                "SELECT path, size, mtime_ns, inode, options, record FROM sources"
                f" WHERE path IN ({marks})",
                list(chunk),
            )
            for text, size, mtime_ns, inode, stored, record in rows:
                entry = chunk.get(text)
                if entry is not None and (size, mtime_ns, inode, stored) == (
                    entry.size,
                    entry.mtime_ns,
                    entry.inode,
                    options,
                ):
                    found[entry.path] = decode(record, entry)
        return found

    def remember(self, results: Iterable[Analysis | AnalysisFailure], options: str) -> None:
        now = datetime.now().isoformat(timespec="seconds")
        # seen_at is when the file was first seen as it is: kept while it is unchanged
        # (a known failure read again with --retry-failed keeps its "first seen").
        self.conn.executemany(
            "INSERT INTO sources (path, size, mtime_ns, inode, options, record, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
            " seen_at = CASE WHEN (size, mtime_ns, inode) = (excluded.size, excluded.mtime_ns,"
            " excluded.inode) THEN seen_at ELSE excluded.seen_at END, size = excluded.size,"
            " mtime_ns = excluded.mtime_ns, inode = excluded.inode, options = excluded.options,"
            " record = excluded.record",
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

    def source_failures(self) -> list[tuple[Path, int, int, int, str, str]]:
        """(path, size, mtime_ns, inode, record, first seen) of every input file whose
        cached analysis is a failure: unreadable, or damaged content."""
        rows = self.conn.execute(
            "SELECT path, size, mtime_ns, inode, record, seen_at FROM sources"
            " WHERE json_extract(record, '$.error') IS NOT NULL"
            " OR json_array_length(record, '$.media.problems') > 0 ORDER BY path"
        )
        return [(Path(text_path(r[0])), *r[1:]) for r in rows]

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

    def restore(self, salvage: Salvage) -> None:
        """Put what was salvaged from an old catalog into this new one."""
        with self.transaction():
            self.conn.executemany(
                "INSERT OR IGNORE INTO runs (id, started_at, finished_at, command, status, report)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                salvage.runs,
            )
            self.conn.executemany(
                "INSERT INTO journal (run_id, action, source, destination, size, hash, record,"
                " state) VALUES (?, ?, ?, ?, ?, ?, ?, 'intent')",
                salvage.intents,
            )
            self.conn.executemany(
                "INSERT INTO journal (run_id, action, source, destination, size, hash, record,"
                " state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                salvage.run_log,
            )
            if self.history.present:
                self.conn.executemany(
                    f"INSERT INTO history ({HISTORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    salvage.history,
                )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception.

    The error that ended the transaction is the one raised: SQLite rolls back by
    itself on some errors (a full disk), and a second ROLLBACK would fail with
    "no transaction is active", hiding why.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        else:
            self._rollback()  # and the exception goes on

    def _rollback(self) -> None:
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the error being raised says more
            log.debug("rollback failed too: %s", exc)


class _Connection(sqlite3.Connection):
    """The catalog's connection: writes left pending (`Catalog.defer`) are made before
    anything else uses it, so that whoever reads the catalog reads them."""

    pending: Callable[[], None] | None = None

    def _write_pending(self) -> None:
        write, self.pending = self.pending, None
        if write is not None:
            write()

    def execute(self, *args):  # noqa: D102
        if self.pending is not None:
            self._write_pending()
        return super().execute(*args)

    def executemany(self, *args):  # noqa: D102
        if self.pending is not None:
            self._write_pending()
        return super().executemany(*args)

    def executescript(self, *args):  # noqa: D102
        if self.pending is not None:
            self._write_pending()
        return super().executescript(*args)

    def cursor(self, *args):  # noqa: D102
        if self.pending is not None:
            self._write_pending()
        return super().cursor(*args)

    def close(self) -> None:
        self.pending = None  # not written: recovery makes it again from the intents
        super().close()


# --- the analysis as JSON ---------------------------------------------------------------


def _date_json(c: CaptureDate | None) -> dict | None:
    if c is None:
        return None
    offset = None if c.utc_offset is None else int(c.utc_offset.total_seconds())
    return {"wall": c.wall.isoformat(), "source": c.source.value, "offset": offset}


def _seconds(offset: timedelta | None) -> int | None:
    return None if offset is None else int(offset.total_seconds())


def _date_from(d: dict | None) -> CaptureDate | None:
    if d is None:
        return None
    offset = None if d["offset"] is None else timedelta(seconds=d["offset"])
    return CaptureDate(datetime.fromisoformat(d["wall"]), DateSource(d["source"]), offset)


def encode(result: Analysis | AnalysisFailure) -> str:
    """The analysis as the catalog stores it (JSON; `decode` reads it back)."""
    if type(result) is Analysis and type(result.info) is MediaFacts:
        return _encode_plain(result)
    return _encode(result)


# A media that is only its date and its camera's facts (most files) is written from text
# made once per camera, as `_encode` would write it (the same text, key for key): a dict
# and json.dumps a file cost a first move of 100,000 small files ~17 microseconds a file.
_FACTS_JSON: dict[MediaFacts, str] = {}
_KIND_JSON = {k: json.dumps(k.value) for k in FileKind}
_SOURCE_JSON = {s: json.dumps(s.value) for s in DateSource}
_NO_PLACE = '"content_id": null, "latitude": null, "longitude": null, "gps_offset": null}'


def _encode_plain(result: Analysis) -> str:
    facts: MediaFacts = result.info  # type: ignore[assignment]
    held = _FACTS_JSON.get(facts)
    if held is None:
        held = json.dumps(_facts_json(facts))[1:-1]
        if len(_FACTS_JSON) < SHARED_FACTS:
            _FACTS_JSON[facts] = held
    media_date = result.info_date
    date = _date_text(media_date)
    captured = date if result.captured is media_date else _date_text(result.captured)
    return (
        f'{{"kind": {_KIND_JSON[result.entry.kind]}, "hash": {json.dumps(result.hash)},'
        f' "media": {{"captured": {date}, {held}, {_NO_PLACE}, "captured": {captured}}}'
    )


def _date_text(c: CaptureDate | None) -> str:
    """json.dumps(_date_json(c)), made directly (an isoformat is plain ASCII)."""
    if c is None:
        return "null"
    offset = "null" if c.utc_offset is None else int(c.utc_offset.total_seconds())
    source = _SOURCE_JSON[c.source]
    return f'{{"wall": "{c.wall.isoformat()}", "source": {source}, "offset": {offset}}}'


def _facts_json(facts: MediaFacts) -> dict:
    """A media's facts as the catalog stores them (in its media, after its date)."""
    return {
        "make": facts.make,
        "model": facts.model,
        "width": facts.width,
        "height": facts.height,
        "format": facts.format,
        "is_video": facts.is_video,
        "problems": list(facts.problems),
        "warnings": list(facts.warnings),
    }


def _encode(result: Analysis | AnalysisFailure) -> str:
    media = result.media
    media_json = None
    if media is not None:
        media_json = {
            "captured": _date_json(media.captured),
            **_facts_json(media.facts),
            "content_id": media.content_id,
            "latitude": media.latitude,
            "longitude": media.longitude,
            "gps_offset": _seconds(media.gps_offset),
        }
    kind = result.entry.kind.value
    if isinstance(result, AnalysisFailure):
        return json.dumps(
            {
                "kind": kind,
                "error": result.error,
                "hash": result.hash,
                "media": media_json,
                "no_content": result.no_content,
            }
        )
    return json.dumps(
        {
            "kind": kind,
            "hash": result.hash,
            "media": media_json,
            "captured": _date_json(result.captured),
        }
    )


_FACTS: dict[MediaFacts, MediaFacts] = {}  # one camera's facts: one value for all its files


def decode(text: str, entry: ScanEntry) -> Analysis | AnalysisFailure:
    d = json.loads(text)
    media = None
    if d.get("media") is not None:
        m = d["media"]
        facts = MediaFacts(
            m["make"],
            m["model"],
            m["width"],
            m["height"],
            m["format"],
            m["is_video"],
            tuple(m["problems"]),
            tuple(m["warnings"]),
        )
        media = MediaInfo(
            captured=_date_from(m["captured"]),
            facts=facts.shared_in(_FACTS),
            content_id=m.get("content_id"),
            latitude=m.get("latitude"),
            longitude=m.get("longitude"),
            gps_offset=None if m.get("gps_offset") is None else timedelta(seconds=m["gps_offset"]),
        )
    if "error" in d:
        return AnalysisFailure(
            entry, d["error"], hash=d["hash"], media=media, no_content=d.get("no_content", False)
        )
    return Analysis(entry, d["hash"], media or MediaInfo(), _date_from(d["captured"]))


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        if exc.errno == errno.ENOSPC:
            return "no space left on the library's disk"
        return exc.strerror
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == _SQLITE_FULL:
        return "no space left on the library's disk"
    if code is not None and code & 0xFF == _SQLITE_READONLY:
        return f"read-only ({exc})"
    return str(exc)


def check_state_files(root: Path) -> None:
    """Refuse a state folder, catalog or catalog journal that is a link (UnsafeStateFile).

    SQLite would write through it: into a file outside the library.
    """
    path = catalog_path(root)
    refuse_link(path.parent, folder=True)
    refuse_link(path)
    refuse_link(path.with_name(path.name + JOURNAL_SUFFIX))


def _empty_or_missing(path: Path) -> bool:
    try:
        return os.stat(path).st_size == 0
    except FileNotFoundError:
        return True


def _uri(path: Path, query: str = "") -> str:
    """The catalog's URI.

    SQLite's own refusal of links (SQLITE_OPEN_NOFOLLOW, 3.31) is a flag of
    sqlite3_open_v2 that Python's sqlite3 cannot pass (as a URI parameter it is
    silently ignored), so check_state_files' lstat checks, before and after the
    open, are what keep a link out."""
    return path.as_uri() + (f"?{query}" if query else "")


def _open_readonly(path: Path) -> sqlite3.Connection:
    """Read-only, creating nothing. On a read-only file system a catalog that still
    needs a journal replayed can only be read as an immutable file (nothing can be
    writing it there); elsewhere that is an interrupted run the next real run recovers."""
    conn = sqlite3.connect(_uri(path, "mode=ro"), uri=True, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if os.access(path.parent, os.W_OK) and not _read_only_fs(path.parent):
            raise
    return sqlite3.connect(_uri(path, "mode=ro&immutable=1"), uri=True, isolation_level=None)


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# --- setting a catalog aside (sync --rebuild) -------------------------------------------


def set_aside(root: Path) -> Salvage:
    """Move the catalog (and its journal) aside, never deleting it, and salvage from it.

    Named catalog.sqlite.damaged-YYYYmmdd-HHMMSS (or .before-rebuild-... when it
    was sound): kept for whoever wants to look at it or recover more by hand.
    """
    check_state_files(root)
    path = catalog_path(root)
    if not os.path.lexists(path):
        return Salvage(None, damaged=False)
    damaged = not _sound(path)
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    kind = "damaged" if damaged else "before-rebuild"
    target = path.with_name(f"{CATALOG_NAME}.{kind}-{stamp}")
    n = 1
    while os.path.lexists(target):
        target = path.with_name(f"{CATALOG_NAME}.{kind}-{stamp}-{n}")
        n += 1
    try:
        os.rename(path, target)
        journal = path.with_name(CATALOG_NAME + JOURNAL_SUFFIX)
        if os.path.lexists(journal):  # never replayed into the new catalog
            os.rename(journal, target.with_name(target.name + JOURNAL_SUFFIX))
    except OSError as exc:
        raise CatalogUnavailable(f"cannot set the catalog {path} aside: {_why(exc)}") from exc
    runs, intents, history, run_log = _salvage(target)
    log.warning(
        "the catalog was set aside as %s; salvaged %d run(s), %d unfinished transfer(s)"
        " and %d import(s) of its history",
        target,
        len(runs),
        len(intents),
        len(history),
    )
    return Salvage(target, damaged, tuple(runs), tuple(intents), tuple(history), tuple(run_log))


def _sound(path: Path) -> bool:
    """Whether the catalog passes SQLite's quick check (rebuilds only: it reads every row).

    Opened for writing so that a killed run's journal is rolled back first."""
    try:
        conn = sqlite3.connect(_uri(path), uri=True, isolation_level=None, timeout=30)
    except sqlite3.Error:
        return False
    try:
        return conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _salvage(path: Path) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    """The runs, the unfinished transfers, the history and the run log (the settled
    journal entries kept: what `undo` reads) that can still be read, row by row (the
    history says what was imported and deleted since: it cannot be made again from the
    disk)."""
    try:
        conn = sqlite3.connect(_uri(path, "mode=ro&immutable=1"), uri=True)
    except sqlite3.Error as exc:
        log.warning("nothing can be read from %s: %s", path, exc)
        return [], [], [], []
    try:
        runs = _readable_rows(conn, "runs", "id, started_at, finished_at, command, status, report")
        journal = _readable_rows(
            conn, "journal", "run_id, action, source, destination, size, hash, record, state"
        )
        history = _readable_rows(conn, "history", HISTORY_COLUMNS) if _has_history(conn) else []
    finally:
        conn.close()
    intents = [row[:-1] for row in journal if row[-1] == "intent"]
    return runs, intents, history, [row for row in journal if row[-1] in _RUN_LOG_STATES]


# The settled journal states kept as the run log (journal.LOGGED, and failed transfers).
_RUN_LOG_STATES = ("done", "record", "finish-move", "failed")


def _has_history(conn: sqlite3.Connection) -> bool:
    try:
        return (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history'"
            ).fetchone()
            is not None
        )
    except sqlite3.Error:
        return True  # the schema page is damaged: try the rows one by one


def _readable_rows(conn: sqlite3.Connection, table: str, columns: str) -> list[tuple]:
    """Every row of `table` that can be read: a scan, and past a damaged page, one
    row at a time by rowid (a damaged page loses its own rows, not the ones after)."""
    rows: dict[int, tuple] = {}
    try:
        for rowid, *row in conn.execute(f"SELECT rowid, {columns} FROM {table} ORDER BY rowid"):
            rows[rowid] = tuple(row)
    except sqlite3.Error:
        try:
            top = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
        except sqlite3.Error:
            top = max(rows, default=0) + 100_000
        for rowid in range(max(rows, default=0) + 1, top + 1):
            try:
                row = conn.execute(
                    f"SELECT {columns} FROM {table} WHERE rowid = ?", (rowid,)
                ).fetchone()
            except sqlite3.Error:
                continue
            if row is not None:
                rows[rowid] = tuple(row)
    return list(rows.values())

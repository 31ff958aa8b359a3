"""What the library browser shows, read from a catalog connection (read only).

The months of the library with their counts, one page of a month's files, the
filters' choices (cameras, kinds, date sources) and everything the catalog knows of
one file. Paths stay as the catalog stores them (`textsafe.path_text`): that text
names the file in links and is looked up as it is, never rebuilt from a display.

Every query is one pass over `files` at most (no index is needed, none is added):
on 100,000 files a page takes tens of milliseconds (tests/test_web_library.py).
GPS and the scan kind are columns since schema 3; an older catalog is read from the
analysis record instead.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

UNDATED = "undated"

# The kinds a page offers, and the scan kinds (FileKind values) each stands for.
KINDS = {
    "photo": ("image", "raw"),
    "raw": ("raw",),
    "video": ("video",),
    "sidecar": ("sidecar",),
}
MEDIA_KINDS = ("image", "raw", "video")  # shown when no kind is chosen


@dataclass(frozen=True, slots=True)
class Filters:
    """What the grid is narrowed to. `camera` is `camera_key(make, model)` or ""."""

    camera: str = ""
    kind: str = ""
    date_source: str = ""

    def params(self) -> dict[str, str]:
        return {"camera": self.camera, "kind": self.kind, "source": self.date_source}


@dataclass(frozen=True, slots=True)
class Month:
    year: str | None  # None: the undated files
    month: str | None
    count: int

    @property
    def key(self) -> str:
        return f"{self.year}-{self.month}" if self.year else UNDATED


@dataclass(frozen=True, slots=True)
class Item:
    path: str  # as the catalog stores it
    hash: str
    captured_at: str | None
    date_source: str | None
    make: str | None
    model: str | None
    width: int | None
    height: int | None
    kind: str  # photo / video / sidecar

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Facets:
    cameras: list[tuple[str, str, int]]  # (key, label, count), most files first
    kinds: list[tuple[str, int]]  # (kind as KINDS names it, count)
    date_sources: list[tuple[str, int]]  # ("" for undated, count)
    total: int


def camera_key(make: str | None, model: str | None) -> str:
    return json.dumps([make, model], ensure_ascii=False)


def camera_label(make: str | None, model: str | None) -> str:
    if not make and not model:
        return "unknown camera"
    if make and model and model.lower().startswith(make.lower()):
        return model  # "Canon" "Canon EOS 5D"
    return " ".join(p for p in (make, model) if p)


def _columns(conn: sqlite3.Connection) -> frozenset[str]:
    return frozenset(r[1] for r in conn.execute("PRAGMA table_info(files)"))


def _kind_sql(columns: frozenset[str]) -> str:
    return "kind" if "kind" in columns else "json_extract(record, '$.kind')"


def _where(filters: Filters, columns: frozenset[str]) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    kinds = KINDS.get(filters.kind, MEDIA_KINDS)
    clauses.append(f"{_kind_sql(columns)} IN ({', '.join('?' * len(kinds))})")
    args += kinds
    if filters.camera:
        try:
            make, model = json.loads(filters.camera)
        except (ValueError, TypeError):
            make, model = "\x00", "\x00"  # not a camera key: nothing matches
        clauses.append("make IS ? AND model IS ?")
        args += [make, model]
    if filters.date_source:
        if filters.date_source == UNDATED:
            clauses.append("date_source IS NULL")
        else:
            clauses.append("date_source = ?")
            args.append(filters.date_source)
    return clauses, args


def _month_range(month_key: str) -> tuple[str, list[object]]:
    """The clause selecting one month ("2021-06") or the undated files."""
    if month_key == UNDATED:
        return "captured_at IS NULL", []
    year, month = (int(p) for p in month_key.split("-"))
    after = f"{year + 1:04d}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"
    return "captured_at >= ? AND captured_at < ?", [f"{year:04d}-{month:02d}", after]


def valid_month(text: str) -> bool:
    if text == UNDATED:
        return True
    year, sep, month = text.partition("-")
    return bool(sep) and len(year) == 4 and year.isdigit() and month.isdigit() and len(month) == 2


def months(conn: sqlite3.Connection, filters: Filters = Filters()) -> list[Month]:
    """The months holding files (newest first), then the undated files."""
    clauses, args = _where(filters, _columns(conn))
    rows = conn.execute(
        "SELECT substr(captured_at, 1, 7) AS ym, count(*) FROM files"
        f" WHERE {' AND '.join(clauses)} GROUP BY ym ORDER BY ym DESC",
        args,
    ).fetchall()
    found = [Month(ym[:4], ym[5:7], n) for ym, n in rows if ym]
    undated = sum(n for ym, n in rows if not ym)
    if undated:
        found.append(Month(None, None, undated))
    return found


def _item(row: sqlite3.Row) -> Item:
    scan_kind = row["scan_kind"]
    kind = "video" if scan_kind == "video" or row["is_video"] else scan_kind or "photo"
    return Item(
        row["path"],
        row["hash"],
        row["captured_at"],
        row["date_source"],
        row["make"],
        row["model"],
        row["width"],
        row["height"],
        "photo" if kind in ("image", "raw") else kind,
    )


def _item_columns(columns: frozenset[str]) -> str:
    return (
        "path, hash, captured_at, date_source, make, model, width, height,"
        f" {_kind_sql(columns)} AS scan_kind,"
        " json_extract(record, '$.media.is_video') AS is_video"
    )


def items(
    conn: sqlite3.Connection,
    filters: Filters,
    month_key: str,
    limit: int = 200,
    offset: int = 0,
) -> list[Item]:
    """One page of a month's files (or the undated ones), oldest first."""
    columns = _columns(conn)
    clauses, args = _where(filters, columns)
    when, when_args = _month_range(month_key)
    rows = conn.execute(
        f"SELECT {_item_columns(columns)} FROM files"
        f" WHERE {when} AND {' AND '.join(clauses)}"
        " ORDER BY captured_at, path LIMIT ? OFFSET ?",
        [*when_args, *args, limit, offset],
    ).fetchall()
    return [_item(r) for r in rows]


def facets(conn: sqlite3.Connection) -> Facets:
    """The filters' choices with their counts, in one pass."""
    columns = _columns(conn)
    rows = conn.execute(
        f"SELECT make, model, {_kind_sql(columns)}, date_source, count(*) FROM files"
        " GROUP BY make, model, 3, date_source"
    ).fetchall()
    cameras: dict[tuple, int] = {}
    kinds: dict[str, int] = {}
    sources: dict[str, int] = {}
    total = 0
    for make, model, scan_kind, source, n in rows:
        for name, members in KINDS.items():
            if scan_kind in members:
                kinds[name] = kinds.get(name, 0) + n
        if scan_kind not in MEDIA_KINDS:
            continue
        total += n
        cameras[(make, model)] = cameras.get((make, model), 0) + n
        sources[source or UNDATED] = sources.get(source or UNDATED, 0) + n
    return Facets(
        cameras=[
            (camera_key(make, model), camera_label(make, model), n)
            for (make, model), n in sorted(
                cameras.items(), key=lambda kv: (-kv[1], camera_label(*kv[0]).lower())
            )
        ],
        kinds=[(k, kinds[k]) for k in KINDS if kinds.get(k)],
        date_sources=sorted(sources.items(), key=lambda kv: -kv[1]),
        total=total,
    )


def photo(conn: sqlite3.Connection, path: str) -> dict | None:
    """Everything the catalog knows of one file (by its stored path), or None.

    The `files` columns, plus `kind`, `latitude`, `longitude` (None when the catalog
    has no position for it), `media` (the analysis record's metadata: format, offset,
    problems...), `history` (its imports, newest first)."""
    columns = _columns(conn)
    row = conn.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
    if row is None:
        return None
    found = dict(zip(row.keys(), tuple(row), strict=True))
    found.pop("record")
    try:
        record = json.loads(row["record"])
    except (ValueError, TypeError):
        record = {}
    media = record.get("media") or {}
    found["media"] = media
    found["captured"] = record.get("captured") or {}
    scan_kind = found.get("kind") or record.get("kind")
    found["scan_kind"] = scan_kind
    found["kind"] = (
        "video"
        if scan_kind == "video" or media.get("is_video")
        else ("photo" if scan_kind in ("image", "raw", None) else scan_kind)
    )
    if "latitude" not in columns:
        found["latitude"] = media.get("latitude")
        found["longitude"] = media.get("longitude")
    found["history"] = _history(conn, row["hash"])
    return found


def _history(conn: sqlite3.Connection, content_hash: str) -> list[dict]:
    has = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history'"
    ).fetchone()
    if not has:
        return []
    rows = conn.execute(
        "SELECT source_path, library_path, run_id, imported_at, removed_at, moved_to"
        " FROM history WHERE hash = ? ORDER BY imported_at DESC, id DESC",
        (content_hash,),
    ).fetchall()
    return [dict(zip(r.keys(), tuple(r), strict=True)) for r in rows]


def neighbours(
    conn: sqlite3.Connection, filters: Filters, path: str, captured_at: str | None
) -> tuple[str | None, str | None]:
    """The files before and after this one in its month (the grid's order)."""
    columns = _columns(conn)
    clauses, args = _where(filters, columns)
    month_key = UNDATED if captured_at is None else captured_at[:7]
    if month_key != UNDATED and not valid_month(month_key):
        return None, None
    when, when_args = _month_range(month_key)
    where = f"{when} AND {' AND '.join(clauses)}"
    if captured_at is None:
        before = ("path < ?", [path], "path DESC")
        after = ("path > ?", [path], "path")
    else:
        key = [captured_at, path]
        before = ("(captured_at, path) < (?, ?)", key, "captured_at DESC, path DESC")
        after = ("(captured_at, path) > (?, ?)", key, "captured_at, path")
    found: list[str | None] = []
    for clause, extra, order in (before, after):
        row = conn.execute(
            f"SELECT path FROM files WHERE {where} AND {clause} ORDER BY {order} LIMIT 1",
            [*when_args, *args, *extra],
        ).fetchone()
        found.append(row[0] if row else None)
    return found[0], found[1]


def position(conn: sqlite3.Connection, filters: Filters, path: str, captured_at: str | None) -> int:
    """How many files come before this one in its month (for the grid's page)."""
    clauses, args = _where(filters, _columns(conn))
    month_key = UNDATED if captured_at is None else captured_at[:7]
    if month_key != UNDATED and not valid_month(month_key):
        return 0
    when, when_args = _month_range(month_key)
    if captured_at is None:
        clause, extra = "path < ?", [path]
    else:
        clause, extra = "(captured_at, path) < (?, ?)", [captured_at, path]
    return conn.execute(
        f"SELECT count(*) FROM files WHERE {when} AND {' AND '.join(clauses)} AND {clause}",
        [*when_args, *args, *extra],
    ).fetchone()[0]

"""What the library browser shows, read from a catalog connection (read only).

The months of the library with their counts, one page of a month's files, the
filters' choices (cameras, kinds, date sources) and everything the catalog knows of
one file. Paths stay as the catalog stores them (`textsafe.path_text`): that text
names the file in links and is looked up as it is, never rebuilt from a display.

Every query is one pass over `files` at most (no index is needed, none is added):
`groups` counts the whole library once for the timeline and the filters (a caller
may keep it while the catalog is unchanged), `items` reads one month's page.
GPS and the scan kind are columns since schema 3; an older catalog is read from the
analysis record instead.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

UNDATED = "undated"

# The kinds a page offers, and the scan kinds (FileKind values) each stands for. The
# photos, RAW photos and videos share no file: their counts add up to the library's
# photos and videos (a RAW counted as a photo and a RAW made them one more).
KINDS = {
    "photo": ("image",),
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


def normal_camera(text: str) -> str:
    """A camera key as `camera_key` writes it (a hand-written one may be spaced apart)."""
    try:
        make, model = json.loads(text)
    except (ValueError, TypeError):
        return text
    if not all(v is None or isinstance(v, str) for v in (make, model)):
        return text
    return camera_key(make, model)


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


@dataclass(frozen=True, slots=True)
class Group:
    """Files alike in what the filters and the timeline look at, and how many."""

    ym: str | None  # "2021-06", None: undated
    make: str | None
    model: str | None
    scan_kind: str | None
    date_source: str | None
    count: int

    def matches(self, filters: Filters) -> bool:
        if self.scan_kind not in KINDS.get(filters.kind, MEDIA_KINDS):
            return False
        if filters.camera and filters.camera != camera_key(self.make, self.model):
            return False
        if filters.date_source:
            return (self.date_source or UNDATED) == filters.date_source
        return True


def groups(conn: sqlite3.Connection) -> list[Group]:
    """The whole library in one pass, grouped: what `months` and `facets` count."""
    rows = conn.execute(
        f"SELECT substr(captured_at, 1, 7), make, model, {_kind_sql(_columns(conn))},"
        " date_source, count(*) FROM files GROUP BY 1, 2, 3, 4, 5"
    ).fetchall()
    return [Group(*tuple(r)) for r in rows]


def months(
    conn: sqlite3.Connection, filters: Filters = Filters(), found: list[Group] | None = None
) -> list[Month]:
    """The months holding files (newest first), then the undated files."""
    counts: dict[str, int] = {}
    for g in groups(conn) if found is None else found:
        if g.matches(filters):
            key = g.ym if g.ym and valid_month(g.ym) else ""
            counts[key] = counts.get(key, 0) + g.count
    listed = [Month(ym[:4], ym[5:7], n) for ym, n in sorted(counts.items(), reverse=True) if ym]
    if counts.get(""):
        listed.append(Month(None, None, counts[""]))
    return listed


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


def facets(conn: sqlite3.Connection, found: list[Group] | None = None) -> Facets:
    """The filters' choices with their counts."""
    cameras: dict[tuple, int] = {}
    kinds: dict[str, int] = {}
    sources: dict[str, int] = {}
    total = 0
    for g in groups(conn) if found is None else found:
        for name, members in KINDS.items():
            if g.scan_kind in members:
                kinds[name] = kinds.get(name, 0) + g.count
        if g.scan_kind not in MEDIA_KINDS:
            continue
        total += g.count
        cameras[(g.make, g.model)] = cameras.get((g.make, g.model), 0) + g.count
        source = g.date_source or UNDATED
        sources[source] = sources.get(source, 0) + g.count
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


def read_by_older_version(conn: sqlite3.Connection) -> int:
    """How many catalogued files were read by a version that did not look for GPS
    positions (their analysis record has no `latitude` at all, not even an empty one):
    `sync --reread` reads them again."""
    row = conn.execute(
        "SELECT COUNT(*) FROM files WHERE json_type(record, '$.media') = 'object'"
        " AND json_type(record, '$.media.latitude') IS NULL"
    ).fetchone()
    return int(row[0])

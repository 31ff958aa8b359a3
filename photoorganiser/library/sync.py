"""`photoorganiser sync`: make the catalog match the library on disk (the disk is the truth).

Rows of vanished files are removed, new files are read and added, changed files
(size or mtime) are read again. A file moved or renamed inside the library (a new
path with the content and size of a vanished one) is `moved`: its row and its
history follow it. The history records what left the library (history.py); files
found here were not imported, so nothing is recorded as imported. An unchanged
library costs one stat per file and reads no file content. The first import into a
library that has no catalog runs this to adopt the files already there.

`reread` reads every file again, changed or not: after an upgrade whose readers find more
(GPS positions, better dates), the catalog learns it. A file whose content is the same is
`reread` (its row updated, nothing else); one that cannot be read now keeps its row.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..core.progress import Progress
from ..core.reportfile import ReportHeader, ReportWriter
from ..core.textsafe import display_text, path_text
from ..core.values import WEAK_SOURCES, Analysis, AnalysisFailure
from ..media.analyse import AnalyseOptions, analyse, needs_analysis
from ..media.scan import scan
from .catalog import Catalog, decode


class Change(Enum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    FAILED = "failed"  # could not be read: not catalogued
    RECOVERED = "recovered"  # a killed run's transfer, finished or undone first
    MOVED = "moved"  # the same content under a new path, the old one gone (moved_from)
    REREAD = "reread"  # unchanged, read again (sync --reread): what is known of it updated


@dataclass(frozen=True, slots=True)
class SyncChange:
    path: Path
    change: Change
    size: int | None = None
    hash: str | None = None
    captured_at: str | None = None
    error: str | None = None
    moved_from: Path | None = None


@dataclass(frozen=True, slots=True)
class SyncResult:
    changes: list[SyncChange]
    unchanged: int
    rebuilt: bool = False  # a new catalog made from the disk (sync --rebuild)
    set_aside: Path | None = None  # where the old catalog was kept

    def count(self, change: Change) -> int:
        return sum(c.change is change for c in self.changes)


def sync_library(
    catalog: Catalog,
    options: AnalyseOptions,
    *,
    workers: int,
    progress: bool,
    reread: bool = False,
) -> SyncResult:
    known = catalog.file_stats()
    # The real folder: scan names files by their real paths, and a library reached
    # through a link then gives the same relative names either way.
    entries = [e for e in scan([catalog.realroot]) if needs_analysis(e)]
    seen: set[str] = set()
    to_read = []
    for entry in entries:
        rel = catalog.relative(entry.path)
        seen.add(rel)
        if reread or known.get(rel) != (entry.size, entry.mtime_ns):
            to_read.append(entry)
    vanished = sorted(set(known) - seen)

    with Progress("index", len(to_read), progress) as bar:
        results = list(analyse(to_read, options, workers=workers, progress=bar))
    results.sort(key=lambda r: str(r.entry.path))
    moves = _moves(catalog, vanished, results, known)
    before = catalog.all_hashes() if reread else {}  # one query, not one per file
    removed = [rel for rel in vanished if rel not in moves.values()]
    changes = [SyncChange(catalog.root / rel, Change.REMOVED) for rel in removed]
    with catalog.transaction():
        catalog.remove_files(removed)
        catalog.history.removed(removed)
        for r in results:
            old = moves.get(r.entry.path)
            if old is not None:
                changes.append(_move(catalog, old, r))
            elif _unchanged(catalog, r, known, before):
                changes.append(_reread(catalog, r))
            else:
                changes.append(_record(catalog, r, known))
    return SyncResult(changes, len(entries) - len(to_read))


def _unchanged(
    catalog: Catalog,
    r: Analysis | AnalysisFailure,
    known: dict[str, tuple[int, int]],
    before: dict[str, tuple[int, str]],
) -> bool:
    """A file read again only because of --reread: the same size, time and content."""
    e = r.entry
    rel = catalog.relative(e.path)
    if known.get(rel) != (e.size, e.mtime_ns) or rel not in before:
        return False
    if isinstance(r, AnalysisFailure):
        return True  # readable once and not changed since: the row stays
    return before[rel] == (e.size, r.hash)


def _reread(catalog: Catalog, r: Analysis | AnalysisFailure) -> SyncChange:
    e = r.entry
    if isinstance(r, AnalysisFailure):
        return SyncChange(e.path, Change.FAILED, e.size, r.hash, error=f"{r.error} (row kept)")
    r = _better_date_kept(catalog, catalog.relative(e.path), r)
    catalog.reread_file(e.path, e.size, e.mtime_ns, e.inode, r)
    captured = r.captured.isoformat() if r.captured else None
    return SyncChange(e.path, Change.REREAD, e.size, r.hash, captured)


def _better_date_kept(catalog: Catalog, rel: str, r: Analysis) -> Analysis:
    """The same content read again (--reread, or moved inside the library) keeps the date
    its import gave it when the file alone says less: a date from its sidecar (XMP, THM,
    Takeout's JSON) or from its Live Photo video or RAW partner is never replaced by a
    guess (its name, its modification time) or by none."""
    if r.captured is not None and r.captured.source not in WEAK_SOURCES:
        return r
    row = catalog.conn.execute("SELECT record FROM files WHERE path = ?", (path_text(rel),))
    found = row.fetchone()
    if found is None:
        return r
    try:
        stored = decode(found[0], r.entry)
    except (ValueError, KeyError, TypeError):
        return r  # a record this version cannot read: the file's own date
    if isinstance(stored, AnalysisFailure) or stored.captured is None:
        return r
    if stored.captured.source in WEAK_SOURCES:
        return r
    return dataclasses.replace(r, captured=stored.captured)


def _moves(
    catalog: Catalog,
    vanished: list[str],
    results: list[Analysis | AnalysisFailure],
    known: dict[str, tuple[int, int]],
) -> dict[Path, str]:
    """new path -> old (relative) of the files moved or renamed inside the library: a new
    path holding the content and size of a vanished one. Vanished and new files of one
    content are paired in path order."""
    if not vanished:
        return {}
    by_content: dict[tuple[int, str], list[str]] = {}
    for rel, content in sorted(catalog.file_hashes(vanished).items()):
        by_content.setdefault(content, []).append(rel)
    moves = {}
    for r in results:
        if isinstance(r, AnalysisFailure) or catalog.relative(r.entry.path) in known:
            continue
        olds = by_content.get((r.entry.size, r.hash))
        if olds:
            moves[r.entry.path] = olds.pop(0)
    return moves


def _move(catalog: Catalog, old: str, r: Analysis) -> SyncChange:
    e = r.entry
    r = _better_date_kept(catalog, old, r)
    catalog.move_file(old, e.path, e.size, e.mtime_ns, e.inode, r)
    captured = r.captured.isoformat() if r.captured else None
    return SyncChange(e.path, Change.MOVED, e.size, r.hash, captured, moved_from=catalog.root / old)


def _record(
    catalog: Catalog, r: Analysis | AnalysisFailure, known: dict[str, tuple[int, int]]
) -> SyncChange:
    e = r.entry
    rel = catalog.relative(e.path)
    if isinstance(r, AnalysisFailure):
        if rel in known:  # it was readable once; what is there now is not
            catalog.remove_files([rel])
            catalog.history.replaced(rel, None)
        return SyncChange(e.path, Change.FAILED, e.size, r.hash, error=r.error)
    if rel in known:  # what was imported there may have been replaced by other content
        catalog.history.replaced(rel, r.hash)
    catalog.put_file(e.path, e.size, e.mtime_ns, e.inode, r)
    captured = r.captured.isoformat() if r.captured else None
    change = Change.CHANGED if rel in known else Change.ADDED
    return SyncChange(e.path, change, e.size, r.hash, captured)


SYNC_COLUMNS = ["path", "change", "size", "hash", "captured_at", "error", "moved_from"]


def sync_cells(c) -> list[str]:
    """One row of a `sync` report (a sync.SyncChange)."""
    return [
        path_text(c.path),
        c.change.value,
        str(c.size or ""),
        c.hash or "",
        c.captured_at or "",
        display_text(c.error or ""),
        path_text(c.moved_from) if c.moved_from else "",
    ]


def write_sync_report(result, path: Path, header: ReportHeader | None = None) -> None:
    """One row per catalog change of a `sync` (a sync.SyncResult), header first."""
    with ReportWriter(path, header or ReportHeader("sync"), SYNC_COLUMNS) as writer:
        writer.write_rows(sync_cells(c) for c in result.changes)

"""`photoorganiser repair --output LIBRARY --from DIR [--from DIR ...] [--dryrun]`: bring
back the library files `verify` found damaged (other bytes than the catalog's hash: bit
rot, a failing disk, another program) or missing, from good copies elsewhere (a backup
drive, an old laptop), found by their content whatever their names.

    check     options, the report's place                       -> exit 2 before anything
    hold      the library: its lock, the catalog, this run       library/session
    select    the files the last verify found changed or missing  library/fixity
    look      each read again now: one holding its hash again is ok (put right by hand)
    search    the --from folders' files of a wanted size, hashed  core/hashing (threads)
              (a copy damaged too does not hold the hash: never used)
    act       per file, its intent journalled first: the damaged file set aside under
              LIBRARY/.photoorganiser/damaged/RUN/ (kept, never deleted), the good copy
              copied to its name (verified from the disk, never over another file), with
              the catalog's modification time; anything failing puts the damaged file back
    remember  verify's record of the file: ok, now                library/fixity
    report    a row per file; summary

A killed repair leaves at most a temporary file beside a name, removed by the next
repair, and a damaged file already set aside: the next repair finds the file missing and
copies it again. Only files, never the catalog's rows, change: the copy holds the bytes
the catalog says.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from ..core.hashing import hash_file
from ..core.parallel import tmap
from ..core.progress import Progress
from ..core.reportfile import (
    ReportHeader,
    ReportWriter,
    fallback_dirs,
    place_report,
    write_summary,
)
from ..core.textsafe import path_text
from ..importing.execute import (
    TransferError,
    forget_folders,
    make_folders,
    move_aside,
    restore_copy,
)
from ..library.catalog import STATE_DIR, catalog_path
from ..library.fixity import Catalogued, Fixity, Record, now_utc
from ..library.journal import pending, remove_temporaries
from ..library.session import open_library
from ..media.analyse import AnalyseOptions

log = logging.getLogger("photoorganiser")

COLUMNS = ["path", "result", "size", "hash", "from", "damaged_kept", "detail"]
DAMAGED_DIR = "damaged"  # under the library's state folder: the damaged files, kept
JOURNAL = "repair-journal.jsonl"


class RepairUsageError(ValueError):
    pass


class Outcome(Enum):
    RESTORED = "restored"  # a good copy is under the file's name again
    PLANNED = "planned"  # (dry run) would be restored from the copy named
    NO_COPY = "no-copy"  # no file of the --from folders holds its content
    OK_NOW = "ok"  # it holds its hash again (put right since the verify)
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RepairOptions:
    library: Path
    sources: tuple[Path, ...]
    dry_run: bool = False
    report: Path | None = None
    report_dir: Path = Path("reports")
    wait: bool = False
    workers: int = 2
    progress: bool = True
    command: str = "repair"


@dataclass(frozen=True, slots=True)
class Row:
    rel: str
    outcome: Outcome
    size: int
    hash: str
    source: str = ""
    kept: str = ""  # where the damaged file was set aside
    detail: str = ""

    def cells(self) -> list[str]:
        return [
            path_text(self.rel),
            self.outcome.value,
            str(self.size),
            self.hash,
            path_text(self.source),
            path_text(self.kept),
            self.detail,
        ]


@dataclass(frozen=True, slots=True)
class RepairResult:
    rows: list[Row]
    report: Path
    dry_run: bool

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.rows)

    @property
    def problems(self) -> int:
        return self.count(Outcome.NO_COPY) + self.count(Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class _Wanted:
    """A library file to bring back: the catalog's facts, and what is under its name now."""

    row: Catalogued
    now: str | None  # the hash of what is there now (None: nothing there)
    seen: os.stat_result | None


def run_repair(options: RepairOptions) -> RepairResult:
    started = datetime.now()
    root = Path(os.path.abspath(options.library))
    sources = _check(options, root)
    report = place_report(options.report, options.report_dir, started, "repair")
    header = ReportHeader(
        "repair",
        library=str(root),
        inputs=tuple(str(s) for s in sources),
        dryrun=options.dry_run,
        command=options.command,
        created=started.isoformat(timespec="seconds"),
    )
    writer = ReportWriter(report, header, COLUMNS, fallback_dirs(root, options.dry_run)).open()
    rows: list[Row] = []
    try:
        with open_library(
            root,
            command="repair",
            dry_run=options.dry_run,
            wait=options.wait,
            analyse_options=AnalyseOptions(),
            workers=options.workers,
            progress=options.progress,
        ) as lib:
            catalog = lib.catalog
            if catalog is None:
                raise RepairUsageError(f"{root} has no catalog that can be read")
            if pending(catalog):
                raise RepairUsageError(
                    "a killed run left transfers half-way in this library: run"
                    f" `photoorganiser sync --output {root}` first"
                )
            lib.note_report(writer.path)
            fixity = Fixity(catalog.conn)
            if not options.dry_run:
                _recover(root)
            wanted, fine = _select(root, fixity)
            rows += fine
            writer.write_rows(r.cells() for r in fine)
            found = _search(sources, root, wanted, options)
            stamp = started.strftime("%Y%m%d-%H%M%S")
            forget_folders()
            with _Intents(root, options.dry_run) as intents:
                for w in wanted:  # each row written as it is done: a run stopped by
                    row = _repair(root, w, found.get(w.row.hash), stamp, options, intents)
                    rows.append(row)  # anything says where every damaged file is kept
                    writer.write_rows([row.cells()])
            if not options.dry_run:
                ok = [r for r in rows if r.outcome in (Outcome.RESTORED, Outcome.OK_NOW)]
                _remember(catalog, fixity, ok, lib.run_id)
            writer.close()
            lib.finish(writer.path)
    finally:
        writer.close()
    result = RepairResult(rows, writer.path, options.dry_run)
    with contextlib.suppress(OSError):
        title = "Repair (dry run)" if options.dry_run else "Repair"
        write_summary(writer.path, summary_lines(result), title)
    return result


def _remember(catalog, fixity: Fixity, ok: Sequence[Row], run_id: str | None) -> None:
    """verify's record of the files now right: ok. Bookkeeping only: when the catalog
    cannot be written (a full disk), the files are repaired all the same and the next
    verify reads them again."""
    try:
        with catalog.transaction():
            fixity.record(
                [Record(r.rel, "ok", hash=r.hash, size=r.size) for r in ok], now_utc(), run_id
            )
    except sqlite3.Error as exc:
        log.warning("verify's record of the repaired files was not saved (%s)", exc)


def _check(options: RepairOptions, root: Path) -> list[Path]:
    """Bad usage: one line, before anything is created or read."""
    if not root.is_dir():
        raise RepairUsageError(f"library {options.library} is not a folder")
    path = catalog_path(root)
    if not path.is_file() or path.stat().st_size == 0:
        raise RepairUsageError(
            f"{root} has no catalog, so nothing to repair against (run verify on a library"
            " made by import or sync)"
        )
    if not options.sources:
        raise RepairUsageError("give at least one --from folder holding good copies")
    sources = []
    for given in options.sources:
        if not os.path.isdir(given):
            raise RepairUsageError(f"--from {given} is not a folder")
        real = Path(os.path.realpath(given))
        if real == Path(os.path.realpath(root)) or Path(os.path.realpath(root)) in real.parents:
            raise RepairUsageError(f"--from {given} is inside the library: give a backup")
        sources.append(Path(os.path.abspath(given)))
    if options.workers < 1:
        raise RepairUsageError(f"--workers {options.workers}: give at least 1")
    return sources


def _select(root: Path, fixity: Fixity) -> tuple[list[_Wanted], list[Row]]:
    """The files the last verify found changed or missing, read again now: those still
    wrong (to bring back), and those holding their hash again (ok)."""
    last = fixity.last()
    wrong = {rel for rel, v in last.items() if v.result in ("changed", "missing")}
    wanted: list[_Wanted] = []
    fine: list[Row] = []
    for row in fixity.catalogued():
        if row.rel not in wrong:
            continue
        path = root / row.rel
        try:
            seen = os.stat(path, follow_symlinks=False)
            now = hash_file(path) if stat.S_ISREG(seen.st_mode) else "not a regular file"
        except FileNotFoundError:
            seen, now = None, None
        except OSError as exc:
            seen, now = None, f"unreadable: {exc.strerror}"
        if now == row.hash:
            fine.append(
                Row(row.rel, Outcome.OK_NOW, row.size, row.hash, detail="holds its content again")
            )
        else:
            wanted.append(_Wanted(row, now, seen))
    return wanted, fine


def _search(
    sources: Sequence[Path], root: Path, wanted: Sequence[_Wanted], options: RepairOptions
) -> dict[str, Path]:
    """content hash -> a file of the --from folders holding it (the first by path): only
    files of a wanted size are read."""
    sizes = {w.row.size for w in wanted}
    hashes = {w.row.hash for w in wanted}
    if not sizes:
        return {}
    skip = {os.path.realpath(root)}
    by_size: dict[int, list[str]] = defaultdict(list)
    for source in sources:
        for path, size in _files(source, skip):
            if size in sizes:
                by_size[size].append(path)
    candidates = sorted(p for paths in by_size.values() for p in paths)
    found: dict[str, Path] = {}
    with Progress("search", len(candidates), options.progress) as bar:
        for path, digest in tmap(_hashed, candidates, workers=options.workers, progress=bar):
            if digest in hashes and (digest not in found or path < str(found[digest])):
                found[digest] = Path(path)
    return found


def _files(folder: Path, skip: set[str]) -> Iterator[tuple[str, int]]:
    """Every regular file under `folder` with its size, not following links, the
    library's own folder left out."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [
            d for d in dirnames if os.path.realpath(os.path.join(dirpath, d)) not in skip
        ]
        for name in filenames:
            path = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.stat(path, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    yield path, st.st_size


def _hashed(path: str) -> tuple[str, str | None]:
    try:
        return path, hash_file(path)
    except OSError:
        return path, None


def _repair(
    root: Path,
    w: _Wanted,
    source: Path | None,
    stamp: str,
    options: RepairOptions,
    intents: _Intents,
) -> Row:
    row = w.row
    there = "missing" if w.now is None else "damaged"
    if source is None:
        return Row(row.rel, Outcome.NO_COPY, row.size, row.hash,
                   detail=f"{there}: no file of the --from folders holds its content")  # fmt: skip
    path = root / row.rel
    aside = root / STATE_DIR / DAMAGED_DIR / stamp / row.rel if w.seen is not None else None
    if options.dry_run:
        return Row(row.rel, Outcome.PLANNED, row.size, row.hash, str(source),
                   str(aside or ""), f"{there}: would be copied back")  # fmt: skip
    intents.intend(path, aside)
    try:
        if aside is not None and w.seen is not None:
            if w.now is None or len(w.now) != len(row.hash):  # not read: cannot be moved checked
                raise TransferError(f"cannot be set aside ({w.now})")
            move_aside(path, aside, w.now, w.seen)
        try:
            mode = w.seen.st_mode if w.seen is not None else None
            make_folders(path.parent, root)  # (a missing file's folder may be gone too)
            restore_copy(path, source, row.hash, row.mtime_ns, mode)
        except (TransferError, OSError):
            if aside is not None:  # the damaged file back under its name: nothing lost
                with contextlib.suppress(TransferError, OSError):
                    move_aside(aside, path, w.now or "", os.stat(aside, follow_symlinks=False))
            raise
    except (TransferError, OSError) as exc:
        intents.settle()
        return Row(row.rel, Outcome.FAILED, row.size, row.hash, str(source), detail=str(exc))
    intents.settle()
    kept = f"; the damaged file is kept in {aside}" if aside is not None else ""
    return Row(row.rel, Outcome.RESTORED, row.size, row.hash, str(source), str(aside or ""),
               f"{there}: copied back, verified{kept}")  # fmt: skip


class _Intents:
    """The repair's journal: the name it is about to write (and where the damaged file
    goes), durable before; a killed repair's temporary files are removed by the next."""

    def __init__(self, root: Path, dry_run: bool) -> None:
        self.path = root / STATE_DIR / JOURNAL
        self.dry_run = dry_run
        self._fd: int | None = None

    def __enter__(self) -> _Intents:
        if not self.dry_run:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # every intent settled

    def intend(self, path: Path, aside: Path | None) -> None:
        self._put({"path": path_text(path), "aside": path_text(aside) if aside else ""})

    def settle(self) -> None:
        self._put({"settled": True})

    def _put(self, entry: dict) -> None:
        assert self._fd is not None
        os.write(self._fd, (json.dumps(entry) + "\n").encode("utf-8", "surrogateescape"))
        os.fsync(self._fd)


def _recover(root: Path) -> int:
    """A killed repair's temporary files (its copy's, and a set-aside's across disks)."""
    from ..core.textsafe import text_path

    removed = 0
    with (
        contextlib.suppress(FileNotFoundError),
        open(root / STATE_DIR / JOURNAL, encoding="utf-8", errors="surrogateescape") as f,
    ):
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            for name in (entry.get("path"), entry.get("aside")):
                if name:
                    removed += remove_temporaries(Path(text_path(name)))
    return removed


def summary_lines(result: RepairResult) -> list[tuple[str, int]]:
    return [(o.value, result.count(o)) for o in Outcome if result.count(o)]

"""`photoorganiser undo --quarantine DIR` (or `--journal DIR`): reverse a dedupe run.

A dedupe keeps a log of what it did beside its journal (`dedupe-runs.jsonl`, in the
quarantine folder's `.photoorganiser/`, in `--journal DIR`, or in the user's state
folder). Undo reads the last run (or the one named) and, file by file:

- a quarantined or trashed duplicate is moved back to where it was (the trash's
  `.trashinfo` goes too), after its content is checked against the hash dedupe
  recorded; a place now taken is never overwritten;
- a duplicate replaced by a hard link gets its own copy of the content again;
- a deleted duplicate cannot be brought back: said, row by row.

Every move is execute's own (verified, never overwriting); the undo is logged, so
the same run is not undone twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.hashing import holds
from ..core.reportfile import (
    ReportHeader,
    ReportUnwritable,
    ReportWriter,
    check_place,
    default_report_path,
    fallback_dirs,
)
from ..core.textsafe import path_text, text_path
from ..importing.execute import TransferError, move_aside, separate_link
from .dedupe import RUNLOG, DedupeJournal, append_log

COLUMNS = ("path", "action", "status", "from", "reason")


class UndoDedupeUsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class UndoDedupeOptions:
    folder: Path  # where the dedupe kept its journal (DIR/.photoorganiser, or --journal DIR)
    run: str | None = None
    dry_run: bool = False
    report: Path | None = None
    report_dir: Path = Path("reports")
    command: str = "undo"


@dataclass(frozen=True, slots=True)
class UndoDedupeResult:
    run_id: str
    rows: list[tuple[str, str, str, str, str]]
    report_path: Path

    @property
    def failed(self) -> int:
        return sum(r[2] == "failed" for r in self.rows)

    def count(self, status: str) -> int:
        return sum(r[2] == status for r in self.rows)


def journal_folder_of(quarantine: Path | None, journal: Path | None) -> Path:
    if quarantine is not None:
        return Path(os.path.abspath(quarantine)) / ".photoorganiser"
    if journal is not None:
        return Path(os.path.abspath(journal))
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "photoorganiser" / "dedupe"


def _read_log(folder: Path) -> tuple[dict[str, list[dict]], set[str]]:
    runs: dict[str, list[dict]] = {}
    undone: set[str] = set()
    try:
        with open(folder / RUNLOG, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill
                if "undone" in entry:
                    undone.add(entry["undone"])
                elif "run" in entry:
                    runs.setdefault(entry["run"], []).append(entry)
    except FileNotFoundError:
        pass
    return runs, undone


def run_undo_dedupe(options: UndoDedupeOptions) -> UndoDedupeResult:
    runs, undone = _read_log(options.folder)
    if options.run is not None:
        if options.run not in runs:
            raise UndoDedupeUsageError(f"no dedupe run {options.run} in {options.folder}")
        run_id = options.run
    else:
        left = [r for r in runs if r not in undone]
        if not left:
            raise UndoDedupeUsageError(f"no dedupe run left to undo in {options.folder}")
        run_id = sorted(left)[-1]
    if run_id in undone:
        raise UndoDedupeUsageError(f"dedupe run {run_id} was undone already")
    started = datetime.now()
    path = options.report or default_report_path(options.report_dir, started, "undo")
    try:
        check_place(Path(os.path.abspath(path)))
    except ReportUnwritable as exc:
        raise UndoDedupeUsageError(str(exc)) from None
    header = ReportHeader(
        "undo",
        dryrun=options.dry_run,
        command=options.command,
        created=started.isoformat(timespec="seconds"),
    )
    rows: list[tuple[str, str, str, str, str]] = []
    journal = DedupeJournal(options.folder)  # its lock: one run at a time on this folder
    journal.open()
    try:
        with ReportWriter(path, header, COLUMNS, fallback_dirs(None, True)) as writer:
            for entry in runs[run_id]:
                row = _undo_one(entry, options.dry_run)
                rows.append(row)
                writer.write_rows([list(row)])
            if not options.dry_run:
                append_log(options.folder / RUNLOG, [{"undone": run_id}])
            report_path = writer.path
    finally:
        journal.close()
    return UndoDedupeResult(run_id, rows, report_path)


def _undo_one(entry: dict, dry_run: bool) -> tuple[str, str, str, str, str]:
    path = Path(text_path(entry["path"]))
    where = Path(text_path(entry["destination"])) if entry.get("destination") else None
    how, content_hash, size = entry["how"], entry["hash"], entry["size"]
    shown = path_text(path)
    if how == "delete":
        return (shown, "none", "failed", "", "deleted by dedupe: it cannot be brought back")
    if how == "reflink":
        return (shown, "none", "done", "", "a reflinked copy is its own file already")
    try:
        if how in ("quarantine", "trash"):
            assert where is not None
            if not os.path.lexists(where) and holds(path, size, content_hash):
                return (shown, "restore", "done", path_text(where), "already back")
            if not holds(where, size, content_hash):
                raise TransferError(f"{where} no longer holds it (changed or gone): left alone")
            if os.path.lexists(path):
                raise TransferError("its place is taken by another file: left where it is")
            if dry_run:
                return (shown, "restore", "planned", path_text(where), "")
            move_aside(where, path, content_hash, os.stat(where, follow_symlinks=False))
            if how == "trash":
                info = where.parent.parent / "info" / f"{where.name}.trashinfo"
                if os.path.lexists(info):
                    os.unlink(info)
            return (shown, "restore", "done", path_text(where), "moved back")
        if how == "hardlink":
            keeper = Path(text_path(entry["keeper"]))
            if dry_run:
                return (shown, "unlink", "planned", path_text(keeper), "")
            separate_link(path, keeper, content_hash)
            return (shown, "unlink", "done", path_text(keeper), "its own copy again")
    except (TransferError, OSError) as exc:
        return (shown, how, "failed", path_text(where) if where else "", str(exc))
    return (shown, how, "failed", "", f"unknown dedupe action {how!r}")

"""`photoorganiser undo --quarantine DIR` (or `--journal DIR`): reverse a dedupe run.

A dedupe keeps a log of what it did beside its journal (`dedupe-runs.jsonl`, in the
quarantine folder's `.photoorganiser/`, in `--journal DIR`, or in the user's state
folder). Undo reads the last run (or the one named) and, file by file:

- a quarantined or trashed duplicate is moved back to where it was (the trash's
  `.trashinfo` goes too), after its content is checked against the hash dedupe
  recorded; a place now taken is never overwritten;
- a duplicate replaced by a hard link gets its own copy of the content again;
- a deleted duplicate (or sidecar) is copied back from its keeper, which holds the same
  bytes (checked), with its modification time; when the keeper no longer does, it
  cannot be brought back: said, row by row.

A file's sidecars taken along with it are logged after it, and put back the same way.

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
    ReportWriter,
    fallback_dirs,
    place_report,
)
from ..core.textsafe import path_text, text_path
from ..importing.execute import (
    TransferError,
    delete_duplicate,
    move_aside,
    replace_with_link,
    restore_copy,
    separate_link,
    trash_duplicate,
)
from .dedupe import ADOPTED, RUNLOG, DedupeJournal, append_log, recover, trash_folder
from .undo_rows import UndoRows

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


def run_undo_dedupe(options: UndoDedupeOptions) -> UndoRows:
    if not os.path.isdir(options.folder):
        raise UndoDedupeUsageError(f"no dedupe run in {options.folder} (no such folder)")
    journal = DedupeJournal(options.folder)  # its lock: one run at a time on this folder
    try:
        recover(journal.open(), options.folder)  # a killed dedupe's work, logged first
        return _undo(options, journal)
    finally:
        journal.close()


def _undo(options: UndoDedupeOptions, journal: DedupeJournal) -> UndoRows:
    runs, undone = _read_log(options.folder)
    if options.run is not None:
        if options.run not in runs:
            raise UndoDedupeUsageError(f"no dedupe run {options.run} in {options.folder}")
        run_id = options.run
    else:
        left = [r for r in runs if r not in undone]
        if not left:
            raise UndoDedupeUsageError(f"no dedupe run left to undo in {options.folder}")
        run_id = left[-1]  # the last in the log (ids made in one second sort by chance)
    if run_id in undone:
        raise UndoDedupeUsageError(f"dedupe run {run_id} was undone already")
    started = datetime.now()
    path = place_report(options.report, options.report_dir, started, "undo")
    header = ReportHeader(
        "undo",
        dryrun=options.dry_run,
        command=options.command,
        created=started.isoformat(timespec="seconds"),
    )
    rows: list[tuple[str, str, str, str, str]] = []
    with ReportWriter(path, header, COLUMNS, fallback_dirs(None, True)) as writer:
        redone: list[dict] = []  # this undo, as a run of its own: undoing it redoes
        for entry in runs[run_id]:
            row, again = _undo_one(entry, options.dry_run)
            rows.append(row)
            writer.write_rows([list(row)])
            if again is not None:
                redone.append({**again, "run": journal.run_id})
        if not options.dry_run:
            append_log(options.folder / RUNLOG, [*redone, {"undone": run_id}])
        report_path = writer.path
    return UndoRows(run_id, rows, report_path, "failed", _earlier(runs, undone, run_id))


def _earlier(runs: dict[str, list[dict]], undone: set[str], run_id: str) -> tuple[str, ...]:
    """The other dedupe runs of this folder not undone (a run killed, then run again: two
    runs), each said with how to undo it: the default undoes the last run only."""
    return tuple(
        f"dedupe run {other} ({len(entries)} file(s)) is not undone; undo it too with"
        f" `photoorganiser undo` on the same folder and the run id {other}"
        for other, entries in runs.items()
        if other != run_id
        and other not in undone
        and entries
        and not any(e.get("how", "").startswith(UNDO) for e in entries)
    )


UNDO = "undo-"  # a logged entry of an undo: undoing it does the dedupe's action again


def _undo_one(entry: dict, dry_run: bool) -> tuple[tuple[str, str, str, str, str], dict | None]:
    """Reverse one logged action; the row for the report, and the entry that reverses it in
    turn (None when nothing changed)."""
    how = entry["how"]
    if how.startswith(UNDO):
        return _redo_one(entry, how.removeprefix(UNDO), dry_run)
    path = Path(text_path(entry["path"]))
    where = Path(text_path(entry["destination"])) if entry.get("destination") else None
    content_hash, size = entry["hash"], entry["size"]
    shown = path_text(path)
    undone = {**entry, "how": UNDO + how}
    if how == "delete":
        return _undelete(entry, path, dry_run, undone)
    if how == "reflink":
        return (shown, "none", "done", "", "a reflinked copy is its own file already"), None
    try:
        if how in ("quarantine", "trash", ADOPTED):
            assert where is not None
            if not os.path.lexists(where) and holds(path, size, content_hash):
                return (shown, "restore", "done", path_text(where), "already back"), None
            if not holds(where, size, content_hash):
                raise TransferError(f"{where} no longer holds it (changed or gone): left alone")
            if os.path.lexists(path):
                raise TransferError("its place is taken by another file: left where it is")
            if dry_run:
                return (shown, "restore", "planned", path_text(where), ""), None
            move_aside(where, path, content_hash, os.stat(where, follow_symlinks=False))
            if how == "trash":
                info = where.parent.parent / "info" / f"{where.name}.trashinfo"
                if os.path.lexists(info):
                    os.unlink(info)
            return (shown, "restore", "done", path_text(where), "moved back"), undone
        if how == "hardlink":
            keeper = Path(text_path(entry["keeper"]))
            if dry_run:
                return (shown, "unlink", "planned", path_text(keeper), ""), None
            separate_link(path, keeper, content_hash, entry.get("mtime_ns"), entry.get("mode"))
            return (shown, "unlink", "done", path_text(keeper), "its own copy again"), undone
    except (TransferError, OSError) as exc:
        return (shown, how, "failed", path_text(where) if where else "", str(exc)), None
    return (shown, how, "failed", "", f"unknown dedupe action {how!r}"), None


def _undelete(
    entry: dict, path: Path, dry_run: bool, undone: dict
) -> tuple[tuple[str, str, str, str, str], dict | None]:
    """A deleted duplicate (or its sidecar) copied back from its keeper, which holds the
    same bytes: verified, never over a file that took its place, its time as it was."""
    shown = path_text(path)
    keeper = Path(text_path(entry["keeper"])) if entry.get("keeper") else None
    content_hash, size = entry["hash"], entry["size"]
    if holds(path, size, content_hash):
        return (shown, "restore", "done", path_text(keeper or ""), "already back"), None
    if keeper is None or not holds(keeper, size, content_hash):
        why = "deleted by dedupe, and its keeper no longer holds the same content"
        return (shown, "none", "failed", "", f"{why}: it cannot be brought back"), None
    if os.path.lexists(path):
        why = "its place is taken by another file: left as it is"
        return (shown, "restore", "failed", path_text(keeper), why), None
    if dry_run:
        return (shown, "restore", "planned", path_text(keeper), ""), None
    try:
        restore_copy(path, keeper, content_hash, entry.get("mtime_ns"), entry.get("mode"))
    except (TransferError, OSError) as exc:
        return (shown, "restore", "failed", path_text(keeper), str(exc)), None
    return (shown, "restore", "done", path_text(keeper), "copied back from its keeper"), undone


def _redo_one(
    entry: dict, how: str, dry_run: bool
) -> tuple[tuple[str, str, str, str, str], dict | None]:
    """Undo an undo: the dedupe's action once more, with the same checks."""
    path = Path(text_path(entry["path"]))
    shown = path_text(path)
    content_hash, size = entry["hash"], entry["size"]
    try:
        seen = os.stat(path, follow_symlinks=False)
        if not holds(path, size, content_hash):
            raise TransferError("changed since it was put back: left alone")
        if dry_run:
            return (shown, how, "planned", entry.get("destination", ""), ""), None
        redone = dict(entry, how=how)
        if how in ("quarantine", ADOPTED):
            where = Path(text_path(entry["destination"]))
            move_aside(path, where, content_hash, seen)
        elif how == "trash":
            stamp = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
            where = trash_duplicate(path, trash_folder(), content_hash, seen, stamp)
            redone["destination"] = path_text(where)
        elif how == "hardlink":
            keeper = Path(text_path(entry["keeper"]))
            kst = os.stat(keeper, follow_symlinks=False)
            replace_with_link(path, keeper, content_hash, seen, kst)
        elif how == "delete":
            keeper = Path(text_path(entry["keeper"]))
            if not holds(keeper, size, content_hash):
                raise TransferError(f"its keeper {keeper} no longer holds the same content")
            delete_duplicate(path, seen)
        else:
            raise TransferError(f"cannot do {how!r} again")
    except (TransferError, OSError) as exc:
        return (shown, how, "failed", "", str(exc)), None
    return (shown, how, "done", redone.get("destination", ""), "done again"), redone

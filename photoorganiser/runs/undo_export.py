"""`photoorganiser undo --export DIR`: remove what the last export into DIR created.

The export's log (DIR/.photoorganiser-export/exports.jsonl) names every file each run
wrote, with its hash. Undo takes the last run not undone yet (or the one named), and
removes each of its files that still holds what the export wrote; a file changed since
is left where it is and reported (exit 1). A file that replaced an earlier export's copy
is removed too (the earlier copy is not kept: the next export makes it again). Folders
left empty are removed. The undo is logged, so the log again says what DIR holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.hashing import holds
from ..core.reportfile import ReportHeader, ReportWriter, fallback_dirs, place_report
from ..core.textsafe import path_text
from .export import ExportLog, _remove_empty_folders
from .undo_rows import UndoRows

COLUMNS = ("output", "action", "status", "path", "reason")


class UndoExportUsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class UndoExportOptions:
    to: Path
    run: str | None = None
    dry_run: bool = False
    report: Path | None = None
    report_dir: Path = Path("reports")
    wait: bool = False
    command: str = "undo"


def run_undo_export(options: UndoExportOptions) -> UndoRows:
    to = Path(os.path.abspath(options.to))
    log = ExportLog(to)
    if not os.path.isfile(log.path):
        raise UndoExportUsageError(f"{to} holds no export of photoorganiser (no {log.path})")
    if not options.dry_run:
        log.lock(options.wait)
    try:
        log.read()
        if options.run is not None:
            if options.run not in log.entries:
                raise UndoExportUsageError(f"no export run {options.run} wrote files in {to}")
            run_id = options.run
        else:
            left = [r for r in log.runs if r not in log.undone]
            if not left:
                raise UndoExportUsageError(f"no export run left to undo in {to}")
            run_id = left[-1]
        if run_id in log.undone:
            raise UndoExportUsageError(f"export run {run_id} was undone already")
        started = datetime.now()
        path = place_report(options.report, options.report_dir, started, "undo")
        header = ReportHeader(
            "undo",
            output=str(to),
            dryrun=options.dry_run,
            mode="export",
            command=options.command,
            created=started.isoformat(timespec="seconds"),
        )
        rows: list[tuple[str, str, str, str, str]] = []
        if not options.dry_run:
            log.open()
        with ReportWriter(path, header, COLUMNS, fallback_dirs(None, True)) as writer:
            for entry in log.entries[run_id]:
                row = _undo_one(entry, log, to, run_id, options.dry_run)
                rows.append(row)
                writer.write_rows([list(row)])
            if not options.dry_run:
                log.write([{"undone": run_id}], durable=True)
            report_path = writer.path
    finally:
        log.close()
    return UndoRows(run_id, rows, report_path, "left")


def _undo_one(
    entry: dict, log: ExportLog, to: Path, run_id: str, dry_run: bool
) -> tuple[str, str, str, str, str]:
    output, source = entry["output"], path_text(entry["path"])
    shown = path_text(output)
    target = to / output
    owned = log.owned.get(output)
    if owned is not None and owned.run != run_id:
        return (shown, "remove", "skipped", source, "replaced or removed since by a later run")
    if not os.path.lexists(target):
        return (shown, "remove", "skipped", source, "already gone")
    if not holds(target, entry["out_size"], entry["out_hash"]):
        why = "changed since the export wrote it: left alone"
        if owned is None:
            why = "replaced or removed since by a later run"
        return (shown, "remove", "left" if owned is not None else "skipped", source, why)
    if dry_run:
        return (shown, "remove", "planned", source, "")
    if owned is not None:
        log.write([{"run": f"undo-{run_id}", "op": "remove", "output": shown}], durable=True)
    # (else its removal was recorded and the undo stopped before it: it still holds just
    # what this run wrote, and no run owns it since: finished now)
    os.unlink(target)
    log._forget(shown)
    _remove_empty_folders(target.parent, to)
    why = "it had replaced an earlier export" if entry.get("op") == "replace" else ""
    return (shown, "remove", "done", source, why)

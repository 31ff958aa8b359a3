"""`photoorganiser sync`: the catalog made to match the library on disk, with a report.

Like every run that holds the library, it first recovers a killed run (through
execute) and adopts a library without a catalog; `--rebuild` first sets a damaged
catalog aside and makes a new one from the disk.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ..core.reportfile import (
    ReportHeader,
    ReportWriter,
    fallback_dirs,
    place_report,
)
from ..core.values import Outcome, Status
from ..importing.report import reason_text
from ..library.session import open_library
from ..library.sync import SYNC_COLUMNS, Change, SyncChange, SyncResult, sync_cells, sync_library
from ..media.analyse import AnalyseOptions
from .settings import BadValue, check_timezone
from .startup import adopt, recover

log = logging.getLogger("photoorganiser")


class SyncUsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SyncOptions:
    library: Path
    workers: int = 1
    timezone: str | None = None
    report: Path | None = None
    report_dir: Path = Path("reports")
    progress: bool = True
    wait: bool = False
    rebuild: bool = False  # set the catalog aside and make a new one from the disk
    reread: bool = False  # read every file again (newer readers), not only changed ones


def run_sync(options: SyncOptions) -> tuple[SyncResult, Path]:
    """The catalog made to match the disk; the result and the report's path."""
    started = datetime.now()
    root = Path(os.path.abspath(options.library))
    if not root.is_dir():
        raise SyncUsageError(f"library {options.library} is not a folder")
    try:
        check_timezone(options.timezone)
    except BadValue as exc:
        raise SyncUsageError(str(exc)) from None
    path = place_report(options.report, options.report_dir, started, "sync")
    analyse_options = AnalyseOptions(options.timezone, use_mtime=True)
    header = ReportHeader("sync", library=str(root), created=started.isoformat(timespec="seconds"))
    writer = ReportWriter(path, header, SYNC_COLUMNS, fallback_dirs(root, dry_run=False)).open()
    recovered: list[SyncChange] = []

    def report_recovery(outcomes) -> None:
        changes = [_recovery_change(o) for o in outcomes]
        recovered.extend(changes)
        writer.write_rows(sync_cells(c) for c in changes)

    try:
        with open_library(
            root,
            command="sync",
            dry_run=False,
            wait=options.wait,
            analyse_options=analyse_options,
            workers=options.workers,
            progress=options.progress,
            rebuild=options.rebuild,
        ) as lib:
            assert lib.catalog is not None
            lib.note_report(writer.path)
            for line in recover(lib, report_recovery, dry_run=False):
                log.warning("%s", line)
            result = adopt(
                lib, analyse_options, workers=options.workers, progress=options.progress
            ) or sync_library(
                lib.catalog,
                analyse_options,
                workers=options.workers,
                progress=options.progress,
                reread=options.reread,
            )
            if lib.rebuilt is not None:
                result = replace(result, rebuilt=True, set_aside=lib.rebuilt.set_aside)
            writer.write_rows(sync_cells(c) for c in result.changes)
            result = replace(result, changes=recovered + result.changes)
            writer.close()
            lib.finish(writer.path)
    finally:
        writer.close()
    return result, writer.path


def _recovery_change(o: Outcome) -> SyncChange:
    d = o.decision
    change = Change.FAILED if o.status is Status.FAILED else Change.RECOVERED
    return SyncChange(d.destination or d.source, change, error=o.error or reason_text(d.reason))

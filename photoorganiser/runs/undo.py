"""Undo, as a list of stages: recover, find the run, plan its reversal, execute, report.

An undo is a run like any other: it holds the library, writes a report as it goes,
and changes files only through execute (journalled, verified, never overwriting), so
a killed undo is finished or undone by the next run, and an undo can itself be undone.
`list_runs` is the read-only look at the run log behind `photoorganiser runs`.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.progress import Progress
from ..core.reportfile import (
    ReportHeader,
    place_report,
)
from ..core.values import Action, Decision
from ..importing.execute import (
    Interrupted,
    execute,
    remove_emptied_library_folders,
    simulate,
)
from ..importing.undo import plan_undo, sidecars_staying
from ..library.catalog import STATE_DIR, Catalog
from ..library.lock import library_lock
from ..library.runlog import UNDOABLE, AmbiguousRun, RunInfo, find_run, list_runs, logged
from ..library.session import open_library
from ..media.analyse import AnalyseOptions
from .runreport import ImportResult, RunReport
from .startup import recover

log = logging.getLogger("photoorganiser")


class UndoUsageError(ValueError):
    """Nothing to undo: no library, no catalog, no such run."""


@dataclass(frozen=True, slots=True)
class UndoOptions:
    library: Path
    run: str | None = None  # a run id (or its unique beginning); default: the last one
    dry_run: bool = False
    report: Path | None = None
    report_dir: Path = Path("reports")
    progress: bool = True
    wait: bool = False
    command: str = "undo"


def library_runs(library: Path, *, wait: bool = False) -> list[RunInfo]:
    """The library's runs (read only: a shared look, nothing created)."""
    root = Path(os.path.abspath(library))
    if not root.is_dir():
        raise UndoUsageError(f"library {library} does not exist")
    with library_lock(root / STATE_DIR, "runs", shared=True, wait=wait):
        catalog = Catalog.open(root, readonly=True)
        if catalog is None:
            return []
        try:
            return list_runs(catalog)
        finally:
            catalog.close()


def _target(root: Path, wanted: str | None) -> RunInfo:
    """The run to undo, checked before the library is held (and again inside)."""
    catalog = Catalog.open(root, readonly=True)
    if catalog is None:
        raise UndoUsageError(f"{root} has no catalog: no run to undo")
    try:
        run = find_run(catalog, wanted)
    except AmbiguousRun as exc:  # a beginning several runs share: say which
        raise UndoUsageError(str(exc)) from None
    finally:
        catalog.close()
    if run is None:
        if wanted is None:
            raise UndoUsageError(
                "no finished import, apply, watch batch or undo to undo in this library"
            )
        raise UndoUsageError(f"no run {wanted} in this library (see `photoorganiser runs`)")
    if run.kind not in UNDOABLE:  # a sync or verify moved nothing: nothing to reverse
        raise UndoUsageError(
            f"run {run.id} is a {run.kind}: only an import, apply, watch batch or undo can be"
            " undone"
        )
    return run


def run_undo(options: UndoOptions) -> ImportResult:
    started = datetime.now()
    library = Path(os.path.abspath(options.library))
    if not library.is_dir():
        raise UndoUsageError(f"library {options.library} does not exist")
    report = place_report(options.report, options.report_dir, started, "undo")
    target = _target(library, options.run)
    header = ReportHeader(
        "undo",
        library=str(library),
        dryrun=options.dry_run,
        command=options.command,
        created=started.isoformat(timespec="seconds"),
    )
    title = f"Undo of run {target.id}"
    if options.dry_run:
        title = f"Dry run: nothing was changed ({title.lower()})"
    run = RunReport(report, options.report_dir, started, header, title)
    with (
        run,
        open_library(
            library,
            command=options.command,
            dry_run=options.dry_run,
            wait=options.wait,
            analyse_options=AnalyseOptions(),
            workers=1,
            progress=options.progress,
        ) as lib,
    ):
        run.attach(lib)
        try:
            run.notes += recover(lib, run.write, dry_run=options.dry_run)
            assert lib.catalog is not None  # checked above: a catalog exists
            decisions = plan_undo(target.id, logged(lib.catalog, target.id))
            log.info("undo of run %s: %d transfers to reverse", target.id, len(decisions))
            staying = sidecars_staying(decisions, library, lib.catalog.history.run_of)
            if staying:  # a row each, after the others; and a line on the terminal
                decisions += staying
                run.notes.append(_staying_note(staying))
            if options.dry_run:
                run.write(simulate(decisions))
            else:
                todo = sum(d.action.transfers for d in decisions)
                with Progress("undo", todo, options.progress) as bar:
                    outcomes = execute(
                        decisions, progress=bar, journal=lib.journal, report=run.write, root=library
                    )
                emptied = [
                    o.decision.source
                    for o in outcomes
                    if o.decision.action in (Action.RESTORE, Action.UNCOPY)
                ]
                remove_emptied_library_folders(emptied, library)
        except Interrupted as stop:
            run.interrupted = stop.signum
        except KeyboardInterrupt as stop:  # before execute: nothing was changed
            run.interrupted = getattr(stop, "signum", signal.SIGINT)
        run.close()
    return run.result


def _staying_note(staying: list[Decision]) -> str:
    """The terminal's line for the sidecars an undo leaves in the library."""
    runs = sorted({d.reason.detail for d in staying if d.reason.detail})
    by_hand = sum(not d.reason.detail for d in staying)
    why = []
    if runs:
        why.append(
            f"imported by run {', '.join(runs)}, not this one (undo it to take them out too)"
        )
    if by_hand:
        why.append(f"{by_hand} added in the library, by no run")
    return (
        f"{len(staying)} sidecar(s) of the files this undo takes out of the library stay there:"
        f" {'; '.join(why)}; see the report"
    )

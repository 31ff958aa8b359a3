"""The import, as a list of stages: scan, analyse, plan, resolve collisions, execute, report.

The dry run runs every stage but execute, so its report says exactly what the
real run does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..core import signals
from ..core.parallel import default_workers
from ..core.progress import Progress
from ..core.values import (
    Action,
    Analysis,
    AnalysisFailure,
    Decision,
    Outcome,
    ScanEntry,
    Status,
    TransferMode,
)
from ..library.journal import Recovered
from ..library.session import LibrarySession, open_library
from ..media.analyse import AnalyseOptions, analyse, needs_analysis
from ..media.scan import normalise_inputs, scan, settle
from ..media.timezones import UnknownTimezone, resolve_timezone
from .collisions import resolve
from .execute import Interrupted, execute, simulate
from .paths import DEFAULT_TEMPLATE, TemplateError, parse_template
from .plan import PlanOptions, plan
from .report import (
    COLUMNS,
    OutcomeReport,
    ReportHeader,
    ReportUnwritable,
    ReportWriter,
    check_place,
    default_report_path,
    fallback_dirs,
    summary_path_of,
    write_summary,
)

log = logging.getLogger("photoorganiser")


class ImportUsageError(ValueError):
    """The options cannot work (missing input, library inside a file, bad template...)."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    inputs: tuple[Path, ...]
    library: Path
    mode: TransferMode = TransferMode.MOVE
    dry_run: bool = False
    template: str = DEFAULT_TEMPLATE
    workers: int = field(default_factory=default_workers)
    timezone: str | None = None
    use_mtime: bool = True
    report: Path | None = None
    report_dir: Path = Path("reports")
    progress: bool = True
    wait: bool = False  # another run holds the library: wait for it instead of exiting
    settle: float = 0  # leave files modified in the last N seconds for the next run
    command: str = "import"  # what the lock and the catalog's run list say this run is


@dataclass(frozen=True, slots=True)
class ImportResult:
    outcomes: list[Outcome]
    report_path: Path
    summary_path: Path
    summary: list[tuple[str, int]]
    title: str
    interrupted: int | None = None  # the signal that stopped the run (2, 15, 1)
    notes: tuple[str, ...] = ()  # said on the terminal: where the report went, recovery

    @property
    def failed(self) -> int:
        return sum(o.status is Status.FAILED for o in self.outcomes)


def run_import(options: ImportOptions) -> ImportResult:
    """The stages, in order; the report is opened first and written as the run goes."""
    started = datetime.now()
    check_options(options)
    library = Path(os.path.abspath(options.library))
    analyse_options = AnalyseOptions(options.timezone, options.use_mtime)
    header = ReportHeader(
        "import",
        library=str(library),
        inputs=tuple(str(p) for p in normalise_inputs(options.inputs)),
        dryrun=options.dry_run,
        mode=options.mode.value,
        command=options.command,
        created=started.isoformat(timespec="seconds"),
    )
    title = "Dry run: nothing was changed" if options.dry_run else f"Import ({options.mode.value})"
    run = RunReport(options.report, options.report_dir, started, header, title)
    with (
        run,
        open_library(
            library,
            command=options.command,
            dry_run=options.dry_run,
            wait=options.wait,
            analyse_options=analyse_options,
            workers=options.workers,
            progress=options.progress,
        ) as lib,
    ):
        run.attach(lib)
        entries: list[ScanEntry] = []
        try:
            entries.extend(scan(options.inputs, exclude=[library]))
            entries[:] = settle(entries, options.settle, time.time_ns())
            log.info("scan: %d files", len(entries))

            analysed = _analyse(entries, lib, analyse_options, options)
            results = [analysed.get(e.path, e) for e in entries]

            template = parse_template(options.template)
            decisions = plan(results, PlanOptions(library, template, options.mode))
            decisions = resolve(decisions, lib.index, options.mode.action)
            for d in decisions:
                log.debug(
                    "%s %s -> %s: %s", d.action.value, d.source, d.destination or "-", d.reason
                )
            if options.dry_run:
                run.write(simulate(decisions))
            else:
                with Progress(options.mode.value, _transfers(decisions), options.progress) as bar:
                    execute(
                        decisions, progress=bar, journal=lib.journal, report=run.write, root=library
                    )
        except Interrupted as stop:  # execute reported every file, not-done ones included
            run.interrupted = stop.signum
        except KeyboardInterrupt as stop:  # before execute: nothing was changed
            run.write(_not_reached(e) for e in entries)
            run.interrupted = getattr(stop, "signum", signal.SIGINT)
        run.close()
    return run.result


def _analyse(
    entries: list[ScanEntry],
    lib: LibrarySession,
    analyse_options: AnalyseOptions,
    options: ImportOptions,
) -> dict[Path, Analysis | AnalysisFailure]:
    """Analysis of every media file: from the catalog when unchanged, else read once."""
    wanted = [e for e in entries if needs_analysis(e)]
    analysed = lib.cached(wanted)
    to_read = [e for e in wanted if e.path not in analysed]
    log.info("analyse: %d unchanged since last seen, %d to read", len(analysed), len(to_read))
    with Progress("analyse", len(to_read), options.progress) as bar:
        fresh = list(analyse(to_read, analyse_options, workers=options.workers, progress=bar))
    inputs = normalise_inputs(options.inputs)
    lib.remember(fresh, inputs, seen={e.path for e in entries})
    analysed.update((r.entry.path, r) for r in fresh)
    return analysed


def _transfers(decisions: list[Decision]) -> int:
    return sum(d.action.transfers for d in decisions)


def _not_reached(entry: ScanEntry) -> Outcome:
    reason = "the run was stopped before this file was looked at"
    return Outcome(Decision(entry.path, Action.IGNORE, reason, entry=entry), Status.NOT_DONE)


class RunReport:
    """A run's report from start to end, for every command that acts on files.

    Created before the library is touched (a bad place was refused before that),
    rows written as outcomes come, what recovery did first; `close()` (inside the
    library's hold) writes the summary beside it and records the run's end and its
    report in the catalog. A run that never got the library (locked) leaves no
    empty report behind.
    """

    def __init__(
        self,
        report: Path | None,
        report_dir: Path,
        started: datetime,
        header: ReportHeader,
        title: str,
    ) -> None:
        path = report or default_report_path(report_dir, started, header.kind)
        library = Path(header.library) if header.library else None
        self.writer = ReportWriter(path, header, COLUMNS, fallback_dirs(library, header.dryrun))
        self.report = OutcomeReport(self.writer)
        self.title = title
        self.outcomes: list[Outcome] = []
        self.lib: LibrarySession | None = None
        self.interrupted: int | None = None
        self.notes: list[str] = []
        self._result: ImportResult | None = None

    def __enter__(self) -> RunReport:
        self.writer.open()
        return self

    def attach(self, lib: LibrarySession) -> None:
        """The library is held: record where this run's report is, and what recovery did."""
        self.lib = lib
        lib.note_report(self.writer.path)
        if lib.recovered:
            self.write(recovery_outcome(r) for r in lib.recovered)
            self.notes += recovery_notes(lib.recovered)

    def write(self, outcomes: Iterable[Outcome]) -> None:
        outcomes = list(outcomes)
        self.outcomes += outcomes
        self.report.write(outcomes)

    def close(self) -> None:
        """The report closed, the summary beside it, the run's end in the catalog."""
        if self._result is not None:
            return
        with signals.deferred():  # written whatever signal comes now
            self.writer.close()
            if self.writer.moved_because:
                self.notes.append(
                    f"the report was written to {self.writer.path}: {self.writer.moved_because}"
                )
            summary = self.report.summary()
            title = self.title if self.interrupted is None else f"{self.title}: interrupted"
            try:
                summary_path = write_summary(self.writer.path, summary, title)
            except (OSError, ReportUnwritable) as exc:
                summary_path = summary_path_of(self.writer.path)
                self.notes.append(f"the summary could not be written: {exc}")
            if self.lib is not None:
                status = "finished" if self.interrupted is None else "interrupted"
                self.lib.finish(self.writer.path, status)
            log.info("%s: %s", title, ", ".join(f"{label} {n}" for label, n in summary))
            self._result = ImportResult(
                self.outcomes,
                self.writer.path,
                summary_path,
                summary,
                title,
                self.interrupted,
                tuple(self.notes),
            )
        signals.clear()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
            return False
        if issubclass(exc_type, KeyboardInterrupt):  # stopped while the library was opened
            self.interrupted = int(getattr(exc, "signum", signal.SIGINT))
            self.lib = None  # its hold is gone; open_library recorded the interruption
            self.close()
            return True
        with contextlib.suppress(OSError):  # could not start (locked...) or failed
            self.writer.close()
        if self.report.total == 0 and self.lib is None:
            with contextlib.suppress(OSError):
                os.unlink(self.writer.path)  # nothing happened: no empty report
        return False

    @property
    def result(self) -> ImportResult:
        assert self._result is not None, "the run's report was not closed"
        return self._result


def recovery_outcome(r: Recovered) -> Outcome:
    """A row of the report for one transfer a killed run left half-way."""
    d = Decision(r.source, Action.RECOVER, r.message, destination=r.destination)
    if r.state in ("recovered", "undone"):
        return Outcome(d, Status.DONE)
    return Outcome(d, Status.FAILED, r.message)


def recovery_notes(recovered: list[Recovered]) -> list[str]:
    """One line per interrupted run that was recovered (the details are report rows)."""
    by_run: dict[str, Counter[str]] = {}
    for r in recovered:
        by_run.setdefault(r.run_id or "?", Counter())[r.state] += 1
    notes = []
    for run_id, counts in by_run.items():
        parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        notes.append(f"recovered interrupted run {run_id}: {parts} (details in the report)")
    return notes


def write_outcomes(
    outcomes: list[Outcome],
    report: Path | None,
    report_dir: Path,
    started: datetime,
    title: str,
    header: ReportHeader,
) -> ImportResult:
    """A whole report at once, for runs that decide everything before writing."""
    with RunReport(report, report_dir, started, header, title) as run:
        run.write(outcomes)
    return run.result


def check_options(options: ImportOptions) -> None:
    """Refuse options that cannot work, before anything is read or written."""
    if not options.inputs:
        raise ImportUsageError("give at least one --input folder")
    library = Path(os.path.realpath(options.library))
    for given in options.inputs:
        if not given.exists():
            raise ImportUsageError(f"input folder {given} does not exist")
        if not given.is_dir():
            raise ImportUsageError(f"input {given} is not a folder")
        if not os.access(given, os.R_OK | os.X_OK):
            raise ImportUsageError(f"input folder {given} cannot be read (permission denied)")
        real = Path(os.path.realpath(given))
        if real == library or library in real.parents:
            raise ImportUsageError(f"input {given} is inside the library {options.library}")
    for parent in [library, *library.parents]:
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == library else f"is inside a file ({parent})"
                raise ImportUsageError(f"output {options.library} {what}")
            break
    report = options.report or default_report_path(options.report_dir, datetime.now())
    try:
        check_place(Path(os.path.abspath(report)))
    except ReportUnwritable as exc:
        raise ImportUsageError(str(exc)) from None
    try:
        parse_template(options.template)
    except TemplateError as exc:
        raise ImportUsageError(str(exc)) from None
    try:
        resolve_timezone(options.timezone)
    except UnknownTimezone as exc:
        raise ImportUsageError(str(exc)) from None
    if options.workers < 1:
        raise ImportUsageError("--workers must be at least 1")
    if options.settle < 0:
        raise ImportUsageError("--settle must be 0 or more seconds")

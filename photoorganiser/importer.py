"""The import, as a list of stages: scan, analyse, plan, resolve collisions, execute, report.

The dry run runs every stage but execute, so its report says exactly what the
real run does.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .analyse import AnalyseOptions, analyse, needs_analysis
from .collisions import resolve
from .execute import Interrupted, execute, simulate
from .library import LibrarySession, open_library
from .model import Analysis, AnalysisFailure, Decision, Outcome, ScanEntry, Status, TransferMode
from .parallel import default_workers
from .paths import DEFAULT_TEMPLATE, TemplateError, parse_template
from .plan import PlanOptions, plan
from .progress import Progress
from .report import default_report_path, render_summary, summarise, write_report
from .scan import normalise_inputs, scan, settle
from .timezones import UnknownTimezone, resolve_timezone

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

    @property
    def failed(self) -> int:
        return sum(o.status is Status.FAILED for o in self.outcomes)


def run_import(options: ImportOptions) -> ImportResult:
    started = datetime.now()
    check_options(options)
    library = Path(os.path.abspath(options.library))
    analyse_options = AnalyseOptions(options.timezone, options.use_mtime)
    with open_library(
        library,
        command=options.command,
        dry_run=options.dry_run,
        wait=options.wait,
        analyse_options=analyse_options,
        workers=options.workers,
        progress=options.progress,
    ) as lib:
        entries = list(scan(options.inputs, exclude=[library]))
        entries = settle(entries, options.settle, time.time_ns())
        log.info("scan: %d files", len(entries))

        analysed = _analyse(entries, lib, analyse_options, options)
        results = [analysed.get(e.path, e) for e in entries]

        template = parse_template(options.template)
        decisions = plan(results, PlanOptions(library, template, options.mode))
        decisions = resolve(decisions, lib.index)
        for d in decisions:
            log.debug("%s %s -> %s: %s", d.action.value, d.source, d.destination or "-", d.reason)

        if options.dry_run:
            outcomes = simulate(decisions)
        else:
            outcomes = _execute(decisions, lib, options, started)

        result = _write(outcomes, options, started)
        lib.finish(result.report_path)
        return result


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


def _execute(
    decisions: list[Decision], lib: LibrarySession, options: ImportOptions, started: datetime
) -> list[Outcome]:
    transfers = sum(d.action.transfers for d in decisions)
    try:
        with Progress(options.mode.value, transfers, options.progress) as bar:
            return execute(decisions, progress=bar, journal=lib.journal)
    except Interrupted as stop:  # still write the report of what was done
        stop.result = _write(stop.outcomes, options, started)
        raise


def _write(outcomes: list[Outcome], options: ImportOptions, started: datetime) -> ImportResult:
    title = "Dry run: nothing was changed" if options.dry_run else f"Import ({options.mode.value})"
    return write_outcomes(outcomes, options.report, options.report_dir, started, title, "import")


def write_outcomes(
    outcomes: list[Outcome],
    report: Path | None,
    report_dir: Path,
    started: datetime,
    title: str,
    prefix: str,
) -> ImportResult:
    """The CSV report and, beside it, the summary."""
    report_path = (report or default_report_path(report_dir, started, prefix)).absolute()
    write_report(outcomes, report_path)
    summary = summarise(outcomes)
    summary_path = report_path.with_suffix(".summary.txt")
    summary_path.write_text(render_summary(summary, title) + f"Report: {report_path}\n")
    log.info("%s: %s", title, ", ".join(f"{label} {n}" for label, n in summary))
    return ImportResult(outcomes, report_path, summary_path, summary, title)


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
        real = Path(os.path.realpath(given))
        if real == library or library in real.parents:
            raise ImportUsageError(f"input {given} is inside the library {options.library}")
    for parent in [library, *library.parents]:
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == library else f"is inside a file ({parent})"
                raise ImportUsageError(f"output {options.library} {what}")
            break
    if options.report is not None and options.report.is_dir():
        raise ImportUsageError(f"--report {options.report} is a folder; give a file name")
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

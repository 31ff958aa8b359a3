"""The import, as a list of stages: scan, analyse, plan, resolve collisions, skip what was
deleted from the library, execute, report.

The dry run runs every stage but execute, so its report says exactly what the
real run does.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..core import signals
from ..core.parallel import default_workers
from ..core.progress import Progress
from ..core.reportfile import (
    ReportHeader,
    place_report,
)
from ..core.values import (
    Action,
    Analysis,
    AnalysisFailure,
    Decision,
    Outcome,
    Reason,
    ScanEntry,
    Status,
    TransferMode,
    Why,
)
from ..importing.collisions import resolve
from ..importing.execute import Interrupted, execute, remove_emptied_folders, simulate
from ..importing.history import skip_deleted
from ..importing.paths import DEFAULT_TEMPLATE, parse_template
from ..importing.plan import PlanOptions, plan
from ..importing.report import reason_text
from ..library.session import LibrarySession, open_library
from ..media.analyse import AnalyseOptions, Feed, analyse, needs_analysis
from ..media.scan import normalise_inputs, scan, settle
from ..media.timezones import resolve_timezone
from .failures import known_failures, reporting_known, without_failures
from .runreport import ImportResult, RunReport
from .settings import BadValue, check_folder, check_template, check_timezone
from .startup import adopt, recover

log = logging.getLogger("photoorganiser")


# _LONG_LIVED: each stage's values (entries, analyses, decisions) live to the end of the
# run and hold no reference cycles, so they are moved out of the cyclic collector's sight
# (gc.freeze) once made: without it, every full collection walks all of them again, a
# time that grows faster than the number of files (10% of a 100,000-file dry run).
# Reference counting still frees them; gc.unfreeze() gives them back at the end. And
# the young generations are collected less often while the run makes them (a full
# collection 25 times less often): 2.8 s of gc at 100,000 files become 0.4 s.
_THRESHOLDS = (10_000, 50, 50)
REPORT_BATCH = 2048  # a dry run's outcomes reported at a time


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
    prefer: tuple[Path, ...] = ()  # among copies, keep those under these folders first
    leave_damaged: bool = False  # keep damaged but recognisable files out of the library
    reimport_deleted: bool = False  # import content removed from the library since its import
    retry_failed: bool = False  # read known failures again instead of trusting the cache


def run_import(options: ImportOptions) -> ImportResult:
    """The stages, in order; the report is opened first and written as the run goes."""
    started = datetime.now()
    check_options(options)
    report = place_report(options.report, options.report_dir, started, "import")
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
    run = RunReport(report, options.report_dir, started, header, title)
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
        decisions: list[Decision] = []
        fresh: list[Analysis | AnalysisFailure] = []  # to remember after execute
        reported = 0  # decisions reported so far (a dry run's batches, or execute's all)
        thresholds = gc.get_threshold()
        gc.set_threshold(*_THRESHOLDS)  # see _LONG_LIVED
        try:
            run.notes += recover(lib, run.write, dry_run=options.dry_run)
            adopt(lib, analyse_options, workers=options.workers, progress=options.progress)
            # A real --move remembers the analyses of the files it did not move after
            # execute: a moved file's is in the library's catalog, and a cache row for a
            # path that no longer exists would only be written to be dropped again.
            defer = not options.dry_run and options.mode is TransferMode.MOVE
            results, known, fresh = _scan_and_analyse(
                entries, lib, analyse_options, options, library, defer
            )
            gc.freeze()
            write = reporting_known(run.write, known)  # unchanged failures: `known`

            template = parse_template(options.template)
            plan_options = PlanOptions(
                library,
                template,
                options.mode,
                options.leave_damaged,
                timezone=resolve_timezone(options.timezone),  # phone videos' zones
            )
            decisions = plan(results, plan_options)
            del results  # the decisions hold what is needed of them
            entries.clear()  # ... their entries too (a stop reports from them now)
            prefer = [Path(os.path.abspath(p)) for p in options.prefer]
            gc.freeze()
            decisions = resolve(decisions, lib.index, options.mode.action, prefer)
            gc.freeze()
            if not options.reimport_deleted:
                history = lib.catalog.history if lib.catalog is not None else None
                decisions = skip_deleted(decisions, history, library)
            for d in decisions if log.isEnabledFor(logging.DEBUG) else ():
                log.debug(
                    "%s %s -> %s: %s",
                    d.action.value,
                    d.source,
                    d.destination or "-",
                    reason_text(d.reason, d.analysis.captured if d.analysis else None),
                )
            if options.dry_run:  # written in batches: a batch's decisions are then let go
                for start in range(0, len(decisions), REPORT_BATCH):
                    end = min(start + REPORT_BATCH, len(decisions))
                    with signals.deferred():  # a batch's rows are written whole
                        write(simulate(decisions[start:end]))
                        reported = end
                        decisions[start:end] = [None] * (end - start)  # (the length is kept)
                    signals.check()  # a stop asked for meanwhile: raised here
            else:
                with Progress(options.mode.value, _transfers(decisions), options.progress) as bar:
                    execute(
                        decisions, progress=bar, journal=lib.journal, report=write, root=library
                    )
                reported = len(decisions)  # execute reported every file: a stop now adds none
                if options.mode is TransferMode.MOVE:
                    inputs = normalise_inputs(options.inputs)
                    emptied = remove_emptied_folders(decisions, inputs)
                    if emptied:
                        log.info("removed %d inbox folders the run emptied", emptied)
        except Interrupted as stop:  # execute reported every file, not-done ones included
            run.interrupted = stop.signum
        except KeyboardInterrupt as stop:  # before execute (nothing was changed) or after
            # (a dry run stopped between report batches: the files not reported yet, whose
            # decisions are the ones still held: each scanned file has one; once planned,
            # the decisions hold the entries)
            if decisions:
                run.write(_not_reached(d.entry) for d in decisions[reported:])
            else:
                run.write(_not_reached(e) for e in entries)
            run.interrupted = getattr(stop, "signum", signal.SIGINT)
        finally:
            gc.unfreeze()  # the cyclic collector sees the run's objects again
            gc.set_threshold(*thresholds)
        if fresh:
            with signals.deferred():
                _remember_unmoved(lib, fresh, decisions, run.outcomes)
        run.close()
    return run.result


SCAN_CHUNK = 500  # scanned entries settled and looked up in the catalog at a time


def _scan_and_analyse(
    entries: list[ScanEntry],
    lib: LibrarySession,
    analyse_options: AnalyseOptions,
    options: ImportOptions,
    library: Path,
    defer: bool = False,
) -> tuple[list[ScanEntry | Analysis | AnalysisFailure], set[Path], list]:
    """Scan (into `entries`, the caller's: a stop reports what was found), and analyse
    each entry that needs it, in the entries' order (the entry itself when it needs
    none): from the catalog when unchanged, else read once. Also the files whose failure
    came from the catalog (known: unchanged since it was seen); and, with `defer`, the
    analyses read now, which the caller remembers (else they are remembered here).

    The scan feeds the pool as it goes (media/analyse.Feed): the workers start and read
    while the scan is still walking, instead of after it. Every SCAN_CHUNK entries are
    settled and looked up in the catalog; those it does not hold go to the pool."""
    results: list[ScanEntry | Analysis | AnalysisFailure] = []  # by the entries' positions
    read = array("q")  # the position of each entry given to the feed, in its order
    analysed: dict[Path, Analysis | AnalysisFailure] = {}  # from the catalog
    fresh: list[Analysis | AnalysisFailure] = []  # read now: remembered, unless nothing is
    keep = lib.remembers

    def put(first: int, got: list[Analysis | AnalysisFailure]) -> None:
        """A batch back from the pool: at its entries' places, and to be remembered."""
        _place(results, read, first, got)
        if keep:
            fresh.extend(got)

    with Feed(analyse_options, options.workers) as feed:

        def take(lo: int) -> None:
            """The entries scanned since `lo`: settled, looked up, given to the pool."""
            chunk = entries[lo:]
            if options.settle > 0:
                chunk = settle(chunk, options.settle, time.time_ns())
                entries[lo:] = chunk
            results.extend(chunk)
            wanted = [i for i, e in enumerate(chunk, lo) if needs_analysis(e)]
            if not wanted:
                return
            cached = lib.cached([entries[i] for i in wanted])
            if cached and options.retry_failed:
                cached = without_failures(cached)
            if cached:
                analysed.update(cached)
            for i in wanted:
                e = entries[i]
                r = cached.get(e.path) if cached else None
                if r is None:
                    feed.add(e)
                    read.append(i)
                else:
                    results[i] = r
            if feed.workers > 1:
                for first, got in feed.ready():  # put in place while the scan goes on
                    put(first, got)
            gc.freeze()  # see _LONG_LIVED

        lo = 0
        for e in scan(options.inputs, exclude=[library]):
            entries.append(e)
            if len(entries) - lo >= SCAN_CHUNK:
                take(lo)
                lo = len(entries)
        take(lo)
        log.info("scan: %d files", len(entries))
        log.info("analyse: %d unchanged since last seen, %d to read", len(analysed), feed.added)
        with Progress("analyse", feed.added, options.progress) as bar:
            if feed.started:
                bar.advance(feed.given)  # back during the scan
                for first, got in feed.finish():
                    put(first, got)
                    bar.advance(len(got))
            else:  # too few to start a pool for (or one worker): read here, as before
                held, feed.held = feed.held, []
                got = analyse(held, analyse_options, workers=options.workers, progress=bar)
                fresh = _join(results, entries, list(got))
    known = known_failures(analysed)
    inputs = normalise_inputs(options.inputs)
    seen = {e.path for e in entries} if lib.catalog is not None else None  # else unused
    lib.remember(() if defer else fresh, inputs, seen=seen)
    return results, known, fresh if defer else []


def _place(
    results: list[ScanEntry | Analysis | AnalysisFailure],
    read: array[int],
    first: int,
    got: list[Analysis | AnalysisFailure],
) -> None:
    """A batch's analyses at their entries' places: the feed's numbers first, first + 1..."""
    for i, r in zip(read[first : first + len(got)], got, strict=True):
        results[i] = r


def _join(
    results: list[ScanEntry | Analysis | AnalysisFailure],
    entries: list[ScanEntry],
    fresh: list[Analysis | AnalysisFailure],
) -> list[Analysis | AnalysisFailure]:
    """Put analyses made apart (in any order) at their entries' places in `results`.
    A result carries the very entry it was asked for (found by identity, no path hashed
    per file); one analysed apart in the pool carries a copy (found by its path)."""
    by_entry = {id(r.entry): r for r in fresh}
    for i, e in enumerate(entries):
        r = by_entry.pop(id(e), None)
        if r is not None:
            results[i] = r
    if by_entry:
        by_path = {r.entry.path: r for r in by_entry.values()}
        for i, r in enumerate(results):
            if isinstance(r, ScanEntry) and r.path in by_path:
                results[i] = by_path[r.path]
    return fresh


def _remember_unmoved(
    lib: LibrarySession,
    fresh: list[Analysis | AnalysisFailure],
    decisions: list[Decision],
    kept: list[Outcome],
) -> None:
    """Remember the analyses of the files a real --move left where they were: every
    failure, and every analysis but those of the files moved (decided MOVE, and not among
    the run's kept outcomes: failed, not done)."""
    left = {id(o.decision.analysis) for o in kept}
    moved = {id(d.analysis) for d in decisions if d.action is Action.MOVE} - left
    lib.remember([r for r in fresh if id(r) not in moved])


def _transfers(decisions: list[Decision]) -> int:
    return sum(d.action.transfers for d in decisions)


def _not_reached(entry: ScanEntry) -> Outcome:
    reason = Reason(Why.NOT_REACHED)
    return Outcome(Decision(entry.path, Action.IGNORE, reason, entry=entry), Status.NOT_DONE)


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
    for preferred in options.prefer:
        try:
            check_folder(preferred)
        except BadValue as exc:
            raise ImportUsageError(f"--prefer {exc}") from None
    for parent in [library, *library.parents]:
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == library else f"is inside a file ({parent})"
                raise ImportUsageError(f"output {options.library} {what}")
            break
    try:
        check_template(options.template)
        check_timezone(options.timezone)
    except BadValue as exc:
        raise ImportUsageError(str(exc)) from None
    if options.workers < 1:
        raise ImportUsageError("--workers must be at least 1")
    if options.settle < 0:
        raise ImportUsageError("--settle must be 0 or more seconds")

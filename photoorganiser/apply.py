"""`photoorganiser apply REPORT.csv --output LIBRARY`: carry out a reviewed dry-run plan, exactly.

The dry-run report is the plan. A person reads it, may delete rows they do not
want, and applies it: only the planned moves and copies it still lists happen,
to the destinations it names. Nothing is re-planned, and nothing is trusted
blindly:

- each source is read again and must have the size and hash the plan recorded
  (a file that changed since the review is left alone);
- each destination must lie inside the library, every part of it a safe name;
- content that reached the library since the review is skipped, not copied twice;
- execution is the import's own: journalled, never overwriting, verified.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .analyse import AnalyseOptions
from .execute import Interrupted, execute
from .hashing import hash_file
from .importer import ImportResult, write_outcomes
from .library import LibrarySession, open_library
from .model import (
    Action,
    Analysis,
    CaptureDate,
    DateSource,
    Decision,
    MediaInfo,
    ScanEntry,
)
from .parallel import tmap
from .paths import sanitise_component
from .progress import Progress
from .report import ReportRow, read_report
from .scan import classify


class ApplyUsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    plan: Path
    library: Path
    workers: int = 1
    report: Path | None = None
    report_dir: Path = Path("reports")
    progress: bool = True
    wait: bool = False


def run_apply(options: ApplyOptions) -> ImportResult:
    """Apply the reviewed plan; the outcomes and the report, as an import's."""
    started = datetime.now()
    if not options.plan.is_file():
        raise ApplyUsageError(f"plan {options.plan} is not a file")
    try:
        rows = read_report(options.plan)
    except (OSError, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ApplyUsageError(f"cannot read the plan {options.plan}: {exc}") from None
    library = Path(os.path.abspath(options.library))
    with open_library(
        library,
        command=f"apply {options.plan}",
        dry_run=False,
        wait=options.wait,
        analyse_options=AnalyseOptions(),
        workers=options.workers,
        progress=options.progress,
    ) as lib:
        decisions = [decision_from_row(row, library) for row in rows]
        decisions = _verify_sources(decisions, options)
        decisions = [_skip_if_in_library(d, lib) for d in decisions]
        transfers = sum(d.action.transfers for d in decisions)
        try:
            with Progress("apply", transfers, options.progress) as bar:
                outcomes = execute(decisions, progress=bar, journal=lib.journal)
        except Interrupted as stop:
            stop.result = write_outcomes(
                stop.outcomes, options.report, options.report_dir, started, "Apply", "apply"
            )
            raise
        result = write_outcomes(
            outcomes, options.report, options.report_dir, started, "Apply (reviewed plan)", "apply"
        )
        lib.finish(result.report_path)
    return result


def decision_from_row(row: ReportRow, library: Path) -> Decision:
    """A planned row as a Decision; anything else is carried through untouched."""
    source = Path(row.source)
    try:
        action = Action(row.action)
    except ValueError:
        return _error(source, f"unknown action {row.action!r} in the plan")
    if action is Action.ERROR:
        return Decision(source, action, row.reason, error=row.error or row.reason)
    if action.transfers and row.status != "planned":
        return Decision(source, Action.IGNORE, f"not applied (status {row.status}): {row.reason}")
    if not action.transfers:
        duplicate_of = Path(row.duplicate_of) if row.duplicate_of else None
        return Decision(source, action, row.reason, duplicate_of=duplicate_of)
    destination = Path(row.destination)
    problem = _unsafe_destination(destination, library)
    if problem:
        return _error(source, problem)
    try:
        st = os.stat(source, follow_symlinks=False)
    except OSError as exc:
        return _error(source, f"cannot read the source: {exc.strerror}")
    if str(st.st_size) != row.size:
        return _error(source, f"changed since the plan was made ({row.size} -> {st.st_size} bytes)")
    kind, _ = classify(source.name)
    entry = ScanEntry(source, kind, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    captured = _captured(row)
    media = MediaInfo(
        captured=captured,
        make=row.make or None,
        model=row.model or None,
        width=int(row.width) if row.width.isdigit() else None,
        height=int(row.height) if row.height.isdigit() else None,
        format=row.format or None,
    )
    return Decision(
        source,
        action,
        f"from the reviewed plan: {row.reason}",
        destination=destination,
        analysis=Analysis(entry, row.hash, media, captured),
        entry=entry,
        follows=Path(row.follows) if row.follows else None,
    )


def _error(source: Path, why: str) -> Decision:
    return Decision(source, Action.ERROR, f"left in place: {why}", error=why)


def _unsafe_destination(destination: Path, library: Path) -> str | None:
    if not destination.is_absolute() or not destination.is_relative_to(library):
        return f"destination {destination} is not inside the library {library}"
    parts = destination.relative_to(library).parts
    if not parts or parts[0] == ".photoorganiser":
        return f"destination {destination} is not a place for a photo"
    if any(part != sanitise_component(part, fallback="") for part in parts):
        return f"destination {destination} has a part that is not a safe file name"
    return None


def _captured(row: ReportRow) -> CaptureDate | None:
    if not row.captured_at:
        return None
    try:
        moment = datetime.fromisoformat(row.captured_at)
        source = DateSource(row.date_source)
    except ValueError:
        return None
    return CaptureDate(moment.replace(tzinfo=None), source, moment.utcoffset())


def _verify_sources(decisions: list[Decision], options: ApplyOptions) -> list[Decision]:
    """Read every source to be transferred: its content must be what was reviewed."""
    todo = [d for d in decisions if d.action.transfers]
    with Progress("verify", len(todo), options.progress) as bar:
        found = dict(
            tmap(_hash_of, [d.source for d in todo], workers=options.workers, progress=bar)
        )
    checked = []
    for d in decisions:
        if d.action.transfers and found.get(d.source) != d.analysis.hash:
            why = "changed since the plan was made (its content differs)"
            if found.get(d.source) is None:
                why = "cannot be read any more"
            d = _error(d.source, why)
        checked.append(d)
    return checked


def _hash_of(path: Path) -> tuple[Path, str | None]:
    try:
        return path, hash_file(path)
    except OSError:
        return path, None


def _skip_if_in_library(d: Decision, lib: LibrarySession) -> Decision:
    if not d.action.transfers or d.entry is None or d.entry.kind.value == "sidecar":
        return d
    found = lib.index.find_content(d.analysis.hash, d.entry.size, d.destination)
    if found is None:
        return d
    return dataclasses.replace(
        d,
        action=Action.SKIP_EXISTS,
        destination=None,
        duplicate_of=found,
        reason=f"already in the library as {found} (since the plan was made); left in place",
    )

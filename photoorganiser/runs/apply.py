"""`photoorganiser apply REPORT.csv --output LIBRARY`: carry out a reviewed dry-run plan, exactly.

The dry-run report is the plan. A person reads it, may delete rows they do not
want, and applies it: only the planned moves and copies it still lists happen,
to the destinations it names. Nothing is re-planned, and nothing is trusted
blindly:

- each source is read again and must have the size and hash the plan recorded
  (a file that changed since the review is left alone);
- each destination must lie inside the library, every part of it a safe name;
- a file that travels with another (a sidecar, a Live Photo video, a RAW's partner)
  must be named after it, in its folder: a follower's destination edited by hand
  apart from its file's is refused (nothing is re-derived);
- content that reached the library since the review is skipped, not copied twice;
- execution is the import's own: journalled, never overwriting, verified.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.hashing import hash_file
from ..core.parallel import tmap
from ..core.progress import Progress
from ..core.reportfile import (
    FORMAT,
    ReportHeader,
    place_report,
    read_header,
    report_columns,
)
from ..core.textsafe import text_path
from ..core.values import (
    Action,
    Analysis,
    CaptureDate,
    DateSource,
    Decision,
    FileKind,
    MediaInfo,
    Outcome,
    Reason,
    ScanEntry,
    Status,
    Why,
)
from ..importing.execute import Interrupted, execute
from ..importing.paths import sanitise_component
from ..importing.report import ReportRow, read_report
from ..importing.review import follower_name_problem, leaders, left_with_leader
from ..library.session import LibrarySession, open_library
from ..media.analyse import AnalyseOptions
from ..media.metadata import MetadataError, read_media
from ..media.scan import classify
from .failures import reporting_known
from .runreport import ImportResult, RunReport
from .startup import adopt, recover


class ApplyUsageError(ValueError):
    pass


PLAN_KINDS = ("import", "apply")  # reports whose rows are transfers apply can carry out
NEEDED_COLUMNS = ("source", "action", "status", "destination", "size", "hash")


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    plan: Path
    library: Path
    workers: int = 1
    report: Path | None = None
    report_dir: Path = Path("reports")
    progress: bool = True
    wait: bool = False
    rebase: bool = False  # put the plan's files in --output although it was made for another
    command: str = "apply"


@dataclass(frozen=True, slots=True)
class Plan:
    """A reviewed report, checked: what it was made for, and its rows."""

    header: ReportHeader
    rows: list[ReportRow]
    made_for: Path  # the library the plan names
    inputs: tuple[Path, ...]  # the folders it was made from: sources must lie under them


def read_plan(path: Path, library: Path, rebase: bool) -> Plan:
    """The plan, or ApplyUsageError with one line: nothing is created before this passes."""
    if not os.path.isfile(path) or os.path.islink(path):
        raise ApplyUsageError(f"plan {path} is not a file")
    header = read_header(path)
    if header is None:
        raise ApplyUsageError(
            f"{path} is not a photoorganiser plan (no report header line); make one with"
            " `photoorganiser import --dryrun`"
        )
    if header.kind not in PLAN_KINDS:
        raise ApplyUsageError(f"{path} is a {header.kind} report, not an import plan")
    if header.format > FORMAT:
        raise ApplyUsageError(f"{path} was written by a newer photoorganiser; upgrade to apply it")
    try:
        columns = report_columns(path)
        rows = read_report(path)
    except (OSError, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ApplyUsageError(f"cannot read the plan {path}: {exc}") from None
    missing = [c for c in NEEDED_COLUMNS if c not in columns]
    if missing:
        raise ApplyUsageError(f"{path} is not an import plan: no {', '.join(missing)} column")
    made_for = Path(header.library)
    if not header.library:
        raise ApplyUsageError(f"{path} does not say which library it was made for")
    if _real(made_for) != _real(library) and not rebase:
        raise ApplyUsageError(
            f"the plan was made for the library {made_for}, not {library}"
            " (give --rebase to put its files in this library instead)"
        )
    inputs = tuple(Path(p) for p in header.inputs)
    if not inputs:
        raise ApplyUsageError(f"{path} does not say which folders it was made from")
    return Plan(header, rows, made_for, inputs)


def _real(path: Path) -> str:
    return os.path.realpath(os.path.abspath(path))


def run_apply(options: ApplyOptions) -> ImportResult:
    """Apply the reviewed plan; the outcomes and the report, as an import's."""
    started = datetime.now()
    library = Path(os.path.abspath(options.library))
    plan = read_plan(options.plan, library, options.rebase)
    if os.path.lexists(library) and not os.path.isdir(library):
        raise ApplyUsageError(f"output {options.library} is not a folder")
    report = place_report(options.report, options.report_dir, started, "apply")
    header = ReportHeader(
        "apply",
        library=str(library),
        inputs=tuple(str(p) for p in plan.inputs),
        command=options.command,
        created=started.isoformat(timespec="seconds"),
    )
    run = RunReport(report, options.report_dir, started, header, "Apply (reviewed plan)")
    with (
        run,
        open_library(
            library,
            command=options.command,
            dry_run=False,
            wait=options.wait,
            analyse_options=AnalyseOptions(),
            workers=options.workers,
            progress=options.progress,
        ) as lib,
    ):
        run.attach(lib)
        decisions: list[Decision] = []
        try:
            run.notes += recover(lib, run.write, dry_run=False)
            adopt(lib, AnalyseOptions(), workers=options.workers, progress=options.progress)
            decisions = [decision_from_row(row, library, plan) for row in plan.rows]
            decisions = _named_after_their_leaders(decisions, plan)
            decisions = _once(decisions)
            decisions = _verify_sources(decisions, options)
            decisions = [_skip_if_in_library(d, lib) for d in decisions]
            decisions = _with_their_leaders(decisions, plan)
            transfers = sum(d.action.transfers for d in decisions)
            write = reporting_known(run.write, _known(plan))
            with Progress("apply", transfers, options.progress) as bar:
                execute(decisions, progress=bar, journal=lib.journal, report=write, root=library)
        except Interrupted as stop:
            run.interrupted = stop.signum
        except KeyboardInterrupt as stop:  # before execute: nothing was changed
            run.write(
                Outcome(
                    Decision(Path(text_path(r.source)), Action.IGNORE, Reason(Why.NOT_REACHED)),
                    Status.NOT_DONE,
                )
                for r in plan.rows
            )
            run.interrupted = getattr(stop, "signum", signal.SIGINT)
        run.close()
    return run.result


def _known(plan: Plan) -> set[Path]:
    """The plan's known failures (unchanged since an earlier run): known in its report too."""
    return {
        Path(text_path(r.source))
        for r in plan.rows
        if r.action == Action.ERROR.value and r.status == Status.KNOWN.value
    }


def decision_from_row(row: ReportRow, library: Path, plan: Plan | None = None) -> Decision:
    """A planned row as a Decision; anything else is carried through untouched."""
    source = Path(text_path(row.source))
    try:
        action = Action(row.action)
    except ValueError:
        return _error(source, f"unknown action {row.action!r} in the plan")
    if action is Action.ERROR:
        why = Reason(Why.FROM_PLAN, detail=row.reason)
        return Decision(source, action, why, error=row.error or row.reason)
    if action in (Action.RESTORE, Action.UNCOPY):  # only `undo` plans these, from its run log
        return _error(source, f"action {row.action!r} is undo's, not an import plan's")
    acts = action.transfers or action is Action.FINISH_MOVE  # it changes files: checked
    if acts and row.status not in ("planned", "not-done"):
        why = Reason(Why.NOT_APPLIED, detail=f"status {row.status}; {row.reason}")
        return Decision(source, Action.IGNORE, why)
    if not acts:
        duplicate_of = Path(text_path(row.duplicate_of)) if row.duplicate_of else None
        why = Reason(Why.FROM_PLAN, detail=row.reason)
        return Decision(source, action, why, duplicate_of=duplicate_of)
    destination = Path(text_path(row.destination))
    if plan is not None and _real(plan.made_for) != _real(library):
        if not destination.is_relative_to(plan.made_for):
            return _error(source, f"destination {destination} is not inside {plan.made_for}")
        destination = library / destination.relative_to(plan.made_for)
    problem = _unsafe_destination(destination, library)
    if problem:
        return _error(source, problem)
    if plan is not None:
        problem = _unsafe_source(source, plan.inputs)
        if problem:
            return _error(source, problem)
    try:
        st = os.stat(source, follow_symlinks=False)
    except FileNotFoundError:
        return _already_done(source, destination, row) or _error(source, "no longer exists")
    except OSError as exc:
        return _error(source, f"cannot read the source: {exc.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return _error(source, "not a regular file (a link, folder, pipe or device)")
    if str(st.st_size) != row.size:
        return _error(source, f"changed since the plan was made ({row.size} -> {st.st_size} bytes)")
    kind, _ = classify(source.name)
    if kind is FileKind.OTHER:
        return _error(source, "not a photo, video or sidecar")
    entry = ScanEntry(source, kind, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    captured = _captured(row)
    latitude, longitude = _position(source)
    media = MediaInfo(
        captured=captured,
        make=row.make or None,
        model=row.model or None,
        width=int(row.width) if row.width.isdigit() else None,
        height=int(row.height) if row.height.isdigit() else None,
        format=row.format or None,
        latitude=latitude,
        longitude=longitude,
    )
    return Decision(
        source,
        action,
        Reason(Why.FROM_PLAN, detail=row.reason),
        destination=destination,
        analysis=Analysis(entry, row.hash, media, captured),
        entry=entry,
        follows=Path(text_path(row.follows)) if row.follows else None,
    )


def _position(source: Path) -> tuple[float | None, float | None]:
    """Where it was taken (GPS): a report has no column for it, so the file's metadata is
    read again (a few small reads; the content itself is verified by execute)."""
    try:
        info = read_media(source, None, UTC)
    except MetadataError:
        return None, None
    return info.latitude, info.longitude


def _unsafe_source(source: Path, inputs: tuple[Path, ...]) -> str | None:
    """Only files under the folders the plan was made from, reached without links."""
    if not source.is_absolute() or ".." in source.parts:
        return f"{source} is not an absolute path"
    if not any(source.is_relative_to(folder) for folder in inputs):
        return f"{source} is not under the folders the plan was made from"
    if os.path.realpath(source.parent) != os.path.normpath(source.parent):
        return f"{source} is reached through a symbolic link; not followed"
    return None


def _already_done(source: Path, destination: Path, row: ReportRow) -> Decision | None:
    """The source is gone and the destination holds its content: an earlier apply did it."""
    try:
        same = str(os.stat(destination, follow_symlinks=False).st_size) == row.size
        if not same or hash_file(destination) != row.hash:
            return None
    except OSError:
        return None
    return Decision(
        source,
        Action.SKIP_EXISTS,
        Reason(Why.ALREADY_DONE, place=destination),
        duplicate_of=destination,
    )


def _once(decisions: list[Decision]) -> list[Decision]:
    """Each source and each content is carried out once, however often the plan lists it."""
    sources: set[Path] = set()
    contents: dict[str, Path] = {}
    checked = []
    for d in decisions:
        if d.action.transfers:
            if d.source in sources:
                d = Decision(d.source, Action.IGNORE, Reason(Why.LISTED_AGAIN))
            elif d.entry is not None and d.entry.kind is not FileKind.SIDECAR:
                first = contents.setdefault(d.analysis.hash, d.source)
                if first != d.source:
                    d = Decision(
                        d.source,
                        Action.SKIP_DUPLICATE,
                        Reason(Why.SAME_IN_PLAN, other=first),
                        duplicate_of=first,
                        entry=d.entry,
                        analysis=d.analysis,
                    )
            sources.add(d.source)
        checked.append(d)
    return checked


def _named_after_their_leaders(decisions: list[Decision], plan: Plan) -> list[Decision]:
    """A follower whose destination is not named after its leader's (the plan edited by
    hand: a sidecar given a name of its own) is refused, as a review refuses that edit:
    carried out, it would be an orphan in the library. Its leader goes on; the next
    import brings the follower to it. (`decisions` are the plan's rows', in its order.)"""
    out = list(decisions)
    for i, lead in leaders(plan.rows, plan.header.library).items():
        d = decisions[i]
        leader = decisions[lead] if lead is not None else None
        if (
            leader is None
            or not d.action.transfers
            or not leader.action.transfers
            or d.destination is None
            or leader.destination is None
        ):
            continue
        problem = follower_name_problem(
            str(leader.destination), str(d.destination), plan.rows[lead].source
        )
        if problem:
            out[i] = _error(d.source, problem)
    return out


def _with_their_leaders(decisions: list[Decision], plan: Plan) -> list[Decision]:
    """A file that travels with another (a sidecar, a Live Photo video, a RAW's partner)
    is left alone with it, as a review leaves it (importing/review.py): when the person
    removed that file's row from the plan, or a check leaves that file in place. It goes
    with it next time. (`decisions` are the plan's rows', in its order.)"""
    leader_of = leaders(plan.rows, plan.header.library)

    def refused(j: int) -> bool:
        return decisions[j].action is Action.ERROR

    out = list(decisions)
    for i, lead in leader_of.items():
        d = decisions[i]
        if not d.action.transfers or not left_with_leader(i, leader_of, refused):
            continue
        if lead is None:
            detail = "its row was removed from the plan"
        elif refused(lead):
            detail = f"it is not transferred ({decisions[lead].error})"
        else:
            detail = "it is left alone too"
        why = Reason(Why.LEADER_LEFT, other=Path(text_path(plan.rows[i].follows)), detail=detail)
        out[i] = Decision(d.source, Action.IGNORE, why)
    return out


def _error(source: Path, why: str) -> Decision:
    return Decision(source, Action.ERROR, Reason(Why.REFUSED, detail=why), error=why)


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
    todo = [d for d in decisions if d.action.transfers or d.action is Action.FINISH_MOVE]
    with Progress("verify", len(todo), options.progress) as bar:
        found = dict(
            tmap(_hash_of, [d.source for d in todo], workers=options.workers, progress=bar)
        )
    checked = []
    for d in decisions:
        acts = d.action.transfers or d.action is Action.FINISH_MOVE
        if acts and found.get(d.source) != d.analysis.hash:
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
    reason = Reason(Why.IN_LIBRARY_SINCE_PLAN, place=found)
    if found == d.destination:
        reason = Reason(Why.ALREADY_DONE, place=found)
    return dataclasses.replace(
        d, action=Action.SKIP_EXISTS, destination=None, duplicate_of=found, reason=reason
    )

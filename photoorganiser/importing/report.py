"""Stage 6, report: one row per scanned file (what happened and why) and its summary.

The rows are written as the run goes through `core.reportfile.ReportWriter`, after
a header line saying what the report was made for; `read_report` reads a reviewed
report back, so a dry-run report is data (`apply`), not just text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from ..core.reportfile import ReportHeader, ReportWriter, read_rows
from ..core.textsafe import display_text, path_text
from ..core.values import Action, CaptureDate, FileKind, Outcome, Reason, Status, Why
from .paths import UNDATED_FOLDER


@dataclass(frozen=True, slots=True)
class ReportRow:
    source: str
    action: str
    status: str
    destination: str
    reason: str
    duplicate_of: str
    follows: str
    size: str
    hash: str
    captured_at: str
    date_source: str
    make: str
    model: str
    width: str
    height: str
    format: str
    error: str
    why: str = ""  # the rule behind the decision (a `Why` value): a category, not text


COLUMNS = [f.name for f in fields(ReportRow)]


KNOWN_LABEL = "Known failures (unchanged since last run)"

LABELS = {
    (Action.MOVE, Status.DONE): "Moved",
    (Action.COPY, Status.DONE): "Copied",
    (Action.MOVE, Status.PLANNED): "To move",
    (Action.COPY, Status.PLANNED): "To copy",
    (Action.SKIP_EXISTS, Status.DONE): "Already in the library",
    (Action.SKIP_EXISTS, Status.PLANNED): "Already in the library",
    (Action.SKIP_DUPLICATE, Status.DONE): "Duplicate within this run",
    (Action.SKIP_DUPLICATE, Status.PLANNED): "Duplicate within this run",
    (Action.SKIP_DELETED, Status.DONE): "Deleted from the library before",
    (Action.SKIP_DELETED, Status.PLANNED): "Deleted from the library before",
    (Action.IGNORE, Status.DONE): "Ignored",
    (Action.IGNORE, Status.PLANNED): "Ignored",
    (Action.FINISH_MOVE, Status.DONE): "Earlier move finished",
    (Action.FINISH_MOVE, Status.PLANNED): "Earlier move to finish",
    (Action.RECOVER, Status.DONE): "Recovered from an interrupted run",
    (Action.RECOVER, Status.FAILED): "Recovered from an interrupted run",
    (Action.ERROR, Status.KNOWN): KNOWN_LABEL,
    (Action.RESTORE, Status.DONE): "Moved back",
    (Action.RESTORE, Status.PLANNED): "To move back",
    (Action.UNCOPY, Status.DONE): "Copy removed from the library",
    (Action.UNCOPY, Status.PLANNED): "Copy to remove from the library",
}


def row_of(outcome: Outcome) -> ReportRow:
    d = outcome.decision
    entry = d.entry or (d.analysis.entry if d.analysis else None)
    a = d.analysis
    media = a.media if a else None
    captured = a.captured if a else None
    return ReportRow(
        source=path_text(d.source),
        action=d.action.value,
        status=outcome.status.value,
        destination=path_text(d.destination_text) if d.destination_text is not None else "",
        reason=display_text(reason_text(d.reason, captured)),
        duplicate_of=path_text(d.duplicate_of) if d.duplicate_of else "",
        follows=path_text(d.follows) if d.follows else "",
        size=str(entry.size) if entry and entry.kind.value != "other" else "",
        hash=a.hash if a else "",
        captured_at=captured.isoformat() if captured else "",
        date_source=captured.source.value if captured else "",
        make=(media.make or "") if media else "",
        model=(media.model or "") if media else "",
        width=str(media.width) if media and media.width else "",
        height=str(media.height) if media and media.height else "",
        format=(media.format or "") if media else "",
        error=display_text(outcome.error or ""),
        why=d.reason.why.value,
    )


def outcome_cells(outcome: Outcome) -> list[str]:
    """`row_of(outcome)`'s cells in COLUMNS order, without building the row first."""
    d = outcome.decision
    a = d.analysis
    entry = d.entry or (a.entry if a else None)
    reason = d.reason
    captured = a.captured if a is not None else None
    when = captured.isoformat() if captured is not None else ""  # made once for two cells
    if reason.date is None or reason.date is captured:
        text = _reason_text(reason, when, captured)
    else:
        text = reason_text(reason)
    cells = [
        path_text(d.source),
        d.action._value_,  # (an enum's value: `.value` is a Python call, this is not)
        outcome.status._value_,
        path_text(d.destination_text) if d.destination_text is not None else "",
        display_text(text),
        path_text(d.duplicate_of) if d.duplicate_of else "",
        path_text(d.follows) if d.follows else "",
        str(entry.size) if entry and entry.kind is not FileKind.OTHER else "",
    ]
    if a is None:
        cells += ["", "", "", "", "", "", "", ""]
    else:
        facts = a.facts  # (its fields straight, not through MediaInfo's properties)
        cells += [
            a.hash,
            when,
            captured.source._value_ if captured else "",
            facts.make or "",
            facts.model or "",
            str(facts.width) if facts.width else "",
            str(facts.height) if facts.height else "",
            facts.format or "",
        ]
    cells += [display_text(outcome.error or ""), reason.why._value_]
    return cells


assert COLUMNS == [
    "source", "action", "status", "destination", "reason", "duplicate_of", "follows", "size",
    "hash", "captured_at", "date_source", "make", "model", "width", "height", "format",
    "error", "why",
]  # fmt: skip


def write_report(
    outcomes: Iterable[Outcome], path: Path, header: ReportHeader | None = None
) -> int:
    """Write a whole report at once (tests, small tools); returns the number of rows."""
    with ReportWriter(path, header or ReportHeader("import"), COLUMNS) as writer:
        writer.write_rows(outcome_cells(o) for o in outcomes)
        return writer.rows


def read_report(path: Path) -> list[ReportRow]:
    """Read a report back (the columns it has; missing ones are empty)."""
    _header, rows = read_rows(path)
    return [ReportRow(**{c: row.get(c) or "" for c in COLUMNS}) for row in rows]


def summarise(outcomes: Sequence[Outcome]) -> list[tuple[str, int]]:
    """(label, count) lines in a fixed order, errors last."""
    return _summary_lines(Counter(_label(o) for o in outcomes), len(outcomes))


NOT_DONE_LABEL = "Not done (interrupted)"
LATER_LABEL = "Left for the next run (being written, or changed since the scan)"


class OutcomeReport:
    """The report of a run that acts on files (import, apply): rows written as outcomes
    come, counts kept as they go, the summary written at the end."""

    def __init__(self, writer: ReportWriter) -> None:
        self.writer = writer
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.failed = 0

    @property
    def path(self) -> Path:
        return self.writer.path

    def write(self, outcomes: Iterable[Outcome]) -> None:
        outcomes = list(outcomes)
        for o in outcomes:
            self.counts[_label(o)] += 1
            self.failed += o.status is Status.FAILED
        self.total += len(outcomes)
        self.writer.write_rows(outcome_cells(o) for o in outcomes)

    def summary(self) -> list[tuple[str, int]]:
        return _summary_lines(self.counts, self.total)


def _label(o: Outcome) -> str:
    if o.decision.action is Action.RECOVER:
        return RECOVERED_LABEL
    if o.status is Status.FAILED:
        return "Errors"
    if o.status is Status.NOT_DONE:
        return NOT_DONE_LABEL
    if o.status is Status.LATER:
        return LATER_LABEL
    return LABELS.get((o.decision.action, o.status), o.decision.action.value)


RECOVERED_LABEL = "Recovered from an interrupted run"
_DATED = frozenset({Why.NEW, Why.MTIME})  # rules that name a date


def _summary_lines(counts: Counter[str], total: int) -> list[tuple[str, int]]:
    """The lines of the summary; "Total files" counts the files this run scanned (the
    rows about an earlier run's recovery are counted on their own line)."""
    order = [label for label in dict.fromkeys(LABELS.values()) if label != RECOVERED_LABEL]
    order += [NOT_DONE_LABEL, LATER_LABEL, "Errors"]
    lines = [(label, counts[label]) for label in order if counts[label]]
    lines += [
        (label, n)
        for label, n in counts.items()
        if label not in order and n and label != RECOVERED_LABEL
    ]
    lines.append(("Total files", total - counts[RECOVERED_LABEL]))
    if counts[RECOVERED_LABEL]:
        lines.append((RECOVERED_LABEL, counts[RECOVERED_LABEL]))
    return lines


# --- reasons, rendered: the one place a Reason becomes text --------------------------------


def _name(path) -> str:
    return path.name if path is not None else "?"


_FIXED = {
    Why.NO_DATE: f"no date in metadata or file name (--no-mtime): filed under {UNDATED_FOLDER}/",
    Why.SIDECAR_ALONE: "sidecar with no media file beside it; left in place",
    Why.NO_PHOTO: "its photo was not found",
    Why.LISTED_AGAIN: "listed again in the plan; done once",
    Why.NOT_REACHED: "the run was stopped before this file was looked at",
}


def _base_text(r: Reason, when: str, date: CaptureDate | None) -> str:
    """`date`: the date the reason names, `when` its isoformat."""
    w = r.why
    if w in _DATED and date is None:  # (a decision made without its analysis)
        return "new" if w is Why.NEW else "dated by file modification time"
    if w is Why.NEW:
        return f"new: taken {when} ({date.source.value})"
    if w is Why.MTIME:
        return f"no date in metadata or file name: dated by file modification time {when}"
    if w in _FIXED:
        return _FIXED[w]
    if w is Why.SIDECAR:
        return f"sidecar of {_name(r.other)}"
    if w is Why.SIDECAR_LEFT:
        return f"sidecar of {_name(r.other)}, which is not imported ({r.detail}); left in place"
    if w is Why.SIDECAR_JOINS:
        return f"sidecar of {_name(r.other)}, {r.detail} as {r.place}: goes beside it"
    if w is Why.SIDECAR_THERE:
        return f"sidecar of {_name(r.other)}: already beside it as {r.place}"
    if w is Why.SIDECAR_CLASH:
        return (
            f"sidecar of {_name(r.other)} ({r.detail} as {r.place}), which already has a"
            " different sidecar of this kind; left in place"
        )
    if w is Why.SIDECAR_NAME_TAKEN:
        return f"another sidecar of {_name(r.other)} takes the same name; left in place"
    if w is Why.DAMAGED:
        return f"damaged file, left in place: {r.detail}"
    if w in (Why.UNREADABLE, Why.REFUSED):
        return f"left in place: {r.detail}"
    if w is Why.NO_CONTENT:
        return f"{r.detail}: nothing to keep"
    if w in (Why.IGNORED, Why.SCAN_ERROR):
        return r.detail or "ignored"
    if w is Why.IN_LIBRARY:
        return f"already in the library as {r.place}; left in place"
    if w is Why.DELETED:
        if r.other is not None:  # the name is there, holding other content
            return f"imported on {r.detail} as {r.place}, which holds other content now"
        return f"imported on {r.detail} as {r.place}, removed from the library since"
    if w is Why.DUPLICATE:
        kept = f" ({r.detail})" if r.detail else ""
        return f"same content as {r.other}, imported in this run{kept}; left in place"
    if w is Why.ALREADY_DONE:
        return f"already done: {r.place} holds this file"
    if w is Why.IN_LIBRARY_SINCE_PLAN:
        return f"already in the library as {r.place} (since the plan was made); left in place"
    if w is Why.FROM_PLAN:
        return f"from the reviewed plan: {r.detail}"
    if w is Why.NOT_APPLIED:
        return f"not applied: {r.detail}"
    if w is Why.LEADER_LEFT:
        return f"left alone with {_name(r.other)}, which it travels with: {r.detail}"
    if w is Why.SAME_IN_PLAN:
        return f"the same content as {r.other}, which the plan imports; left in place"
    if w is Why.RECOVERY:
        return f"interrupted run {r.detail}"
    if w is Why.UNFINISHED_MOVE:
        return f"an earlier run moved it to {r.place} but could not remove it: removed now"
    if w is Why.UNDO:
        if r.place is not None:
            return f"undoes run {r.detail}: goes back to {r.place}"
        return f"undoes run {r.detail}: the original is still at {r.other}"
    if w is Why.UNDO_DONE:
        return f"run {r.detail} is undone here already ({r.place})"
    if w is Why.UNDO_CHANGED:
        return f"changed or gone since run {r.detail}; left alone"
    if w is Why.UNDO_TAKEN:
        return f"{r.place}, where it goes back, holds another file; nothing was overwritten"
    if w is Why.UNDO_ORIGINAL:
        return f"the original {r.other} is gone or changed; the library copy is kept"
    if w is Why.UNDO_SIDECAR_STAYS:
        if r.detail:
            return (
                f"sidecar of {_name(r.other)}, which this undo takes out of the library;"
                f" imported by run {r.detail}, not this one, so it stays"
                f" (`photoorganiser undo {r.detail}` takes it out too)"
            )
        return (
            f"sidecar of {_name(r.other)}, which this undo takes out of the library; not"
            " imported by a run (added in the library), so it stays"
        )
    raise ValueError(f"no text for {w}")  # pragma: no cover - every Why has one above


def reason_text(r: Reason, captured: CaptureDate | None = None) -> str:
    """The report's `reason`: the rule, its facts, and what modified it. `captured`: the
    date of the decision's analysis, which a NEW or MTIME reason names when it has no date
    of its own (planning's reasons: importing/plan.py `_DATED`)."""
    date = r.date or captured
    return _reason_text(r, date.isoformat() if date is not None else "", date)


def _reason_text(r: Reason, when: str, date: CaptureDate | None) -> str:
    text = _base_text(r, when, date)
    if r.leader is not None:
        what = "Live Photo video" if r.live_video else "pair"
        text = f"{what} of {r.leader.name}: filed beside it; {text}"
    if r.damaged:
        text = f"{text}; damaged: {r.damaged} (imported as it is)"
    if r.notes:
        text = f"{text}; note: {'; '.join(r.notes)}"
    if r.numbered is not None:
        text = f"{text}; numbered _{r.numbered}: the name was taken"
    return text

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
from ..core.values import Action, Outcome, Status


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


COLUMNS = [f.name for f in fields(ReportRow)]


LABELS = {
    (Action.MOVE, Status.DONE): "Moved",
    (Action.COPY, Status.DONE): "Copied",
    (Action.MOVE, Status.PLANNED): "To move",
    (Action.COPY, Status.PLANNED): "To copy",
    (Action.SKIP_EXISTS, Status.DONE): "Already in the library",
    (Action.SKIP_EXISTS, Status.PLANNED): "Already in the library",
    (Action.SKIP_DUPLICATE, Status.DONE): "Duplicate within this run",
    (Action.SKIP_DUPLICATE, Status.PLANNED): "Duplicate within this run",
    (Action.IGNORE, Status.DONE): "Ignored",
    (Action.IGNORE, Status.PLANNED): "Ignored",
    (Action.RECOVER, Status.DONE): "Recovered from an interrupted run",
    (Action.RECOVER, Status.FAILED): "Recovered from an interrupted run",
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
        destination=path_text(d.destination) if d.destination else "",
        reason=display_text(d.reason),
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
    )


def outcome_cells(outcome: Outcome) -> list[str]:
    row = row_of(outcome)
    return [getattr(row, c) for c in COLUMNS]


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
    return LABELS.get((o.decision.action, o.status), o.decision.action.value)


RECOVERED_LABEL = "Recovered from an interrupted run"


def _summary_lines(counts: Counter[str], total: int) -> list[tuple[str, int]]:
    """The lines of the summary; "Total files" counts the files this run scanned (the
    rows about an earlier run's recovery are counted on their own line)."""
    order = [label for label in dict.fromkeys(LABELS.values()) if label != RECOVERED_LABEL]
    order += [NOT_DONE_LABEL, "Errors"]
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

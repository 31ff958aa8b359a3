"""Stage 6, report: the CSV decision report (one row per scanned file) and its summary.

The CSV carries a header row and is read back by `read_report`, so a reviewed
dry-run report is data, not just text.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from .model import Action, Outcome, Status


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

# How the summary names each (action, status): the original tool printed
# "Copied" / "Image already exists".
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
}


def row_of(outcome: Outcome) -> ReportRow:
    d = outcome.decision
    entry = d.entry or (d.analysis.entry if d.analysis else None)
    a = d.analysis
    media = a.media if a else None
    captured = a.captured if a else None
    return ReportRow(
        source=str(d.source),
        action=d.action.value,
        status=outcome.status.value,
        destination=str(d.destination) if d.destination else "",
        reason=d.reason,
        duplicate_of=str(d.duplicate_of) if d.duplicate_of else "",
        follows=str(d.follows) if d.follows else "",
        size=str(entry.size) if entry and entry.kind.value != "other" else "",
        hash=a.hash if a else "",
        captured_at=captured.isoformat() if captured else "",
        date_source=captured.source.value if captured else "",
        make=(media.make or "") if media else "",
        model=(media.model or "") if media else "",
        width=str(media.width) if media and media.width else "",
        height=str(media.height) if media and media.height else "",
        format=(media.format or "") if media else "",
        error=outcome.error or "",
    )


def default_report_path(report_dir: Path, started: datetime, prefix: str = "import") -> Path:
    stamp = started.strftime("%Y%m%d-%H%M%S")
    path = report_dir / f"{prefix}-{stamp}.csv"
    number = 1
    while path.exists():
        number += 1
        path = report_dir / f"{prefix}-{stamp}-{number}.csv"
    return path


def write_report(outcomes: Iterable[Outcome], path: Path) -> int:
    """Write the CSV (UTF-8, header first); returns the number of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for outcome in outcomes:
            row = row_of(outcome)
            writer.writerow([getattr(row, c) for c in COLUMNS])
            count += 1
    tmp.replace(path)
    return count


def read_report(path: Path) -> list[ReportRow]:
    """Read a report back (the columns it has; missing ones are empty)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [ReportRow(**{c: row.get(c) or "" for c in COLUMNS}) for row in reader]


def summarise(outcomes: Sequence[Outcome]) -> list[tuple[str, int]]:
    """(label, count) lines in a fixed order, errors last."""
    counts: Counter[str] = Counter()
    for o in outcomes:
        if o.status is Status.FAILED:
            counts["Errors"] += 1
        else:
            counts[LABELS.get((o.decision.action, o.status), o.decision.action.value)] += 1
    order = list(dict.fromkeys(LABELS.values())) + ["Errors"]
    lines = [(label, counts[label]) for label in order if counts[label]]
    lines.append(("Total files", len(outcomes)))
    return lines


def summary_table(lines: Sequence[tuple[str, int]], title: str):
    """A rich Table of the summary (rich is imported only when a summary is shown)."""
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold", min_width=len(title) + 4)
    table.add_column("Result")
    table.add_column("Files", justify="right")
    for label, count in lines:
        table.add_row(label, f"{count:,}")
    return table


def render_summary(lines: Sequence[tuple[str, int]], title: str) -> str:
    """The summary as plain text, for the file beside the CSV."""
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=80, color_system=None).print(summary_table(lines, title))
    return buffer.getvalue()


SYNC_COLUMNS = ["path", "change", "size", "hash", "captured_at", "error"]


def write_sync_report(result, path: Path) -> None:
    """One row per catalog change of a `sync` (a sync.SyncResult), header first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(SYNC_COLUMNS)
        for c in result.changes:
            writer.writerow(
                [
                    c.path,
                    c.change.value,
                    c.size or "",
                    c.hash or "",
                    c.captured_at or "",
                    c.error or "",
                ]
            )

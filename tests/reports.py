"""Reading and editing reports in tests as a person would: the first line says what the
report is about (`pandas.read_csv(path, skiprows=1)` skips it); the rows follow."""

from __future__ import annotations

import csv
import io
from pathlib import Path

MARK = "# photoorganiser report"


def split(report: Path) -> tuple[str, str]:
    """The header line (empty if none) and the CSV that follows it."""
    text = report.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if first.lstrip('"').startswith(MARK):
        return first + "\n", rest
    return "", text


def rows(report: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(split(report)[1], newline="")))


def write_rows(path: Path, edited: list[dict[str, str]], header_from: Path | None = None) -> None:
    """Save edited rows as a spreadsheet would, keeping the report's header line."""
    header = split(header_from or path)[0] if (header_from or path).exists() else ""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(edited[0]))
    writer.writeheader()
    writer.writerows(edited)
    path.write_text(header + buffer.getvalue(), encoding="utf-8")

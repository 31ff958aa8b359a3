"""The find-duplicates report: CSV or JSON rows, reading them back, and the summary.

One row per file in a group (`group_id`, `kind`, `distance`, `path`, `size`, `width`,
`height`, `captured_at`, `keep`, `reason`, `hash`: the whole-content XXH3-128, `phash`:
the perceptual hash of a near duplicate, `measure`: a picture check's value), then
the pictures judged on their own, one row each in group 0: `blank`, `dark`, `blurred`
(--blanks, --dark, --blurred: keep no, the measure and its threshold as the reason) and
`flat` (--similar: an image too flat or tiny to compare, keep yes), then one
`unreadable` row per file that could not be read (group 0, the error as the reason).
With `--unique`, instead of the groups, one `unique` row (group 0, keep yes) per file
of the inputs the library lacks.

Cells are written so that any file name survives and no spreadsheet runs one: a path
as `textsafe.path_text` (a name that is not UTF-8 cannot otherwise be written), every
CSV cell through `textsafe.csv_cell`; `read_report` undoes both. A member's reason is
a value (values.py), rendered here to text for people (`reason_text`); written through
`display_text`, it is read back as that text and never parsed.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import Enum
from operator import attrgetter
from pathlib import Path
from typing import TextIO

from ..core import keeper
from ..core.reportfile import HEADER_MARK, ReportHeader, header_fields
from ..core.textsafe import csv_cell, display_text, from_csv_cell, path_text, text_path
from .values import (
    Burst,
    DuplicateGroup,
    ExactGroup,
    FindResult,
    Flagged,
    KeepReason,
    KeepRule,
    KeptCopy,
    Kind,
    LeftOut,
    LooksLike,
    Measure,
    NotInLibrary,
    PoorPicture,
    Reason,
    SameContent,
    SameFile,
    Turn,
)

COLUMNS = (
    "group_id",
    "kind",
    "distance",
    "path",
    "size",
    "width",
    "height",
    "captured_at",
    "keep",
    "reason",
    "hash",
    "phash",
    "measure",
)


class ReportFormat(Enum):
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class ReportRow:
    group_id: int
    kind: Kind
    distance: int | None
    path: str
    size: int | None
    width: int | None
    height: int | None
    captured_at: str | None
    keep: bool | None  # None for an unreadable file
    reason: str
    hash: str | None = None  # whole-content XXH3-128: dedupe checks the file still holds it
    phash: str | None = None  # perceptual hash, near-duplicate groups
    measure: float | None = None  # blank/dark/blurred rows: the deciding measure's value


@dataclass(frozen=True, slots=True)
class Summary:
    groups: int
    exact_groups: int
    similar_groups: int
    files: int
    reclaimable: int
    unreadable: int
    blank: int = 0
    dark: int = 0
    blurred: int = 0
    flat: int = 0


def rows_of(result: FindResult) -> list[ReportRow]:
    rows: list[ReportRow] = []
    if result.unique_report:
        rows.extend(
            ReportRow(
                0, Kind.UNIQUE, None, str(m.path), m.size, None, None, None, True,
                reason_text(m.reason),
            )
            for m in result.unique
        )  # fmt: skip
    else:
        for group in result.groups:
            rows.extend(_group_rows(group))
    rows.extend(_picture_row(f) for f in result.pictures)
    for failure in result.failures:
        rows.append(
            ReportRow(
                0, Kind.UNREADABLE, None, str(failure.path), None, None, None, None, None,
                failure.error,
            )
        )  # fmt: skip
    return rows


def _group_rows(group: DuplicateGroup | ExactGroup) -> list[ReportRow]:
    return [
        ReportRow(
            group.group_id,
            group.kind,
            m.distance,
            str(m.path),
            m.size,
            m.width,
            m.height,
            m.captured.isoformat() if m.captured else None,
            m.keep,
            reason_text(m.reason),
            m.hash,
            m.phash,
        )
        for m in group.members
    ]


def _picture_row(flagged: Flagged) -> ReportRow:
    m = flagged.member
    measure = None
    if isinstance(m.reason, PoorPicture) and m.reason.measures:
        measure = round(m.reason.measures[0].value, 3)
    return ReportRow(
        0, flagged.kind, None, str(m.path), m.size, m.width, m.height, None, m.keep,
        reason_text(m.reason), m.hash, None, measure,
    )  # fmt: skip


# --- reasons as text ---------------------------------------------------------------

KEEP_RULE_TEXT = {
    KeepRule.IN_LIBRARY: "the library's own copy",
    KeepRule.PREFERRED_FOLDER: "in preferred folder",
    KeepRule.LARGEST_RESOLUTION: "highest resolution",
    KeepRule.ORIGINAL_FORMAT: "camera original over a re-encoded copy",
    KeepRule.LARGEST_FILE: "largest file",
    KeepRule.OLDEST_DATE: "oldest capture date",
    KeepRule.SHORTEST_PATH: "shortest path",
    KeepRule.FIRST_BY_NAME: "first by name",
}

# Exact copies: core/keeper.py's rules, worded like the rules above.
COPY_RULE_TEXT = {
    **keeper.RULE_TEXT,
    keeper.KeepRule.ONLY: "only file",
    keeper.KeepRule.PREFERRED_FOLDER: "in preferred folder",
    keeper.KeepRule.HAS_SIDECARS: "the copy with its sidecars beside it",
    keeper.KeepRule.SHORTEST_PATH: "shortest path",
    keeper.KeepRule.FIRST_PATH: "first by name",
}

TURN_TEXT = {
    Turn.SAME_ORIENTATION: "same orientation",
    Turn.MIRRORED: "mirrored",
    Turn.FLIPPED: "flipped upside down",
    Turn.ROTATED_180: "rotated 180°",
    Turn.TRANSPOSED: "transposed",
    Turn.ROTATED_90: "rotated 90°",
    Turn.ROTATED_270: "rotated 270°",
    Turn.TRANSVERSED: "transversed",
}


def reason_text(reason: Reason) -> str:
    """A member's reason as the report's `reason` column says it."""
    match reason:
        case KeepReason():
            return keep_text(reason)
        case KeptCopy():
            return kept_copy_text(reason)
        case SameFile(kept):
            return f"hard link to {kept}: the same file, no space to reclaim"
        case SameContent(kept, None, in_library):
            return same_content_text(kept, in_library)
        case SameContent(kept, link_of, in_library):
            return f"hard link to {link_of}; {same_content_text(kept, in_library)}"
        case LooksLike():
            return looks_like_text(reason)
        case PoorPicture(measures):
            return "; ".join(measure_text(m) for m in measures)
        case LeftOut(width, height, tiny):
            what = (
                f"tiny ({width}x{height} pixels)"
                if tiny
                else f"near-flat ({width}x{height}, its grey levels hardly vary)"
            )
            return f"{what}: left out of the near-duplicate search (--blanks judges blank frames)"
        case NotInLibrary(library, similar):
            what = "the same content or looks like it" if similar else "the same content"
            return f"not in the library {library}: no file there has {what}"
    raise TypeError(f"not a reason: {reason!r}")  # pragma: no cover


MEASURE_TEXT = {
    Kind.BLANK: ("grey-level spread", "--blank-threshold"),
    Kind.DARK: ("mean grey level", "--dark-threshold"),
    Kind.BLURRED: ("sharpness (variance of the Laplacian)", "--blur-threshold"),
}


def measure_text(measure: Measure) -> str:
    what, option = MEASURE_TEXT[measure.kind]
    return (
        f"{measure.kind.value}: {what} {measure.value:.2f} under {measure.threshold:g} ({option})"
    )


def keep_text(reason: KeepReason) -> str:
    if reason.rule is KeepRule.ONLY_FILE:
        return "only file"
    text = KEEP_RULE_TEXT[reason.rule]
    if reason.rule is KeepRule.PREFERRED_FOLDER:
        text += f" {reason.folder}"
    elif reason.rule is KeepRule.LARGEST_RESOLUTION:
        text += f" ({reason.width}x{reason.height})"
    elif reason.rule is KeepRule.ORIGINAL_FORMAT:
        text += f" (camera {reason.make})"
    elif reason.rule is KeepRule.OLDEST_DATE and reason.captured is not None:
        text += f" ({reason.captured.isoformat()})"
    return f"keep: {text}"


def _in_library(in_library: bool) -> str:
    return "already in the library: " if in_library else ""


def same_content_text(kept: Path | str, in_library: bool) -> str:
    """`SameContent(kept, None, in_library)` said (`kept`: a Path, or the text of one)."""
    return f"{_in_library(in_library)}same content as {kept}"


def kept_copy_text(reason: KeptCopy) -> str:
    text = COPY_RULE_TEXT[reason.rule]
    if reason.rule is keeper.KeepRule.PREFERRED_FOLDER:
        text += f" {reason.folder}"
    elif reason.rule is keeper.KeepRule.HAS_SIDECARS:
        text += f" ({reason.sidecars})"
    elif reason.rule is keeper.KeepRule.OLDEST and reason.mtime_ns is not None:
        when = datetime.fromtimestamp(reason.mtime_ns / 1e9).isoformat(timespec="seconds")
        text += f" ({when})"
    return f"keep: {text}"


def looks_like_text(reason: LooksLike) -> str:
    how = TURN_TEXT[reason.turn]
    if reason.size is not None and reason.kept_size is not None:
        (w, h), (kw, kh) = reason.size, reason.kept_size
        how += f", {w}x{h} vs {kw}x{kh}"
    text = f"looks like {reason.kept} ({how}; {reason.distance} bits apart)"
    text = _in_library(reason.in_library) + text
    if reason.burst is not None:
        text += f"; {burst_text(reason.burst)}"
    if reason.kept_over not in (None, *_SAID_ALREADY):
        text += f"; kept over it: {KEEP_RULE_TEXT[reason.kept_over]}"
        if reason.sizes is not None:
            text += f" ({reason.sizes[1]:,} vs {reason.sizes[0]:,} bytes)"
    return text


# The rules a look-alike's reason says already (the library's copy; the sizes in pixels).
_SAID_ALREADY = (KeepRule.IN_LIBRARY, KeepRule.LARGEST_RESOLUTION)


def burst_text(burst: Burst) -> str:
    if burst.two_originals:
        return f"looks like a burst: two camera originals taken {burst.seconds:g} s apart"
    return f"looks like a burst: taken {burst.seconds:g} s apart"


def summarise(result: FindResult) -> Summary:
    return Summary(
        groups=len(result.groups),
        exact_groups=sum(g.kind is Kind.EXACT for g in result.groups),
        similar_groups=sum(g.kind is Kind.SIMILAR for g in result.groups),
        files=sum(len(g.copies if isinstance(g, ExactGroup) else g.members) for g in result.groups),
        reclaimable=result.reclaimable,
        unreadable=len(result.failures),
        blank=sum(f.kind is Kind.BLANK for f in result.pictures),
        dark=sum(f.kind is Kind.DARK for f in result.pictures),
        blurred=sum(f.kind is Kind.BLURRED for f in result.pictures),
        flat=sum(f.kind is Kind.FLAT for f in result.pictures),
    )


def default_report_path(report_dir: Path, fmt: ReportFormat, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return report_dir / f"duplicates-{stamp}.{fmt.value}"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return value.value
    return str(value)


def _stored(row: ReportRow) -> ReportRow:
    """`row` as written: its path as path_text, its reason without lone surrogates."""
    return replace(row, path=path_text(row.path), reason=display_text(row.reason))


def write_report(
    rows: list[ReportRow], path: Path, fmt: ReportFormat, header: ReportHeader | None = None
) -> Path:
    """Write `rows` to `path` (parents created), after a header saying what the report is
    (the CSV's first line; the JSON's first key). Only this file is written."""
    header = header or ReportHeader("duplicates")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.po-tmp-{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        if fmt is ReportFormat.CSV:
            _write_csv(rows, f, header)
        else:
            _write_json(rows, f, header)
    tmp.replace(path)
    return path


def write_result(
    result: FindResult, path: Path, fmt: ReportFormat, header: ReportHeader | None = None
) -> Path:
    """`write_report(rows_of(result), ...)`, the same file: a CSV's exact groups written
    from their compact rows (`ExactGroup`), without a row value per file."""
    if fmt is not ReportFormat.CSV:
        return write_report(rows_of(result), path, fmt, header)
    header = header or ReportHeader("duplicates")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.po-tmp-{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header.cells())
        writer.writerow(COLUMNS)
        if result.unique_report:
            _write_rows(rows_of(result), writer)
        else:
            for group in result.groups:
                if isinstance(group, ExactGroup):
                    writer.writerows(_exact_cells(group))
                else:
                    _write_rows(_group_rows(group), writer)
            rest = replace(result, groups=(), unique=())
            _write_rows(rows_of(rest), writer)  # the pictures and the unreadable files
    tmp.replace(path)
    return path


def _exact_cells(group: ExactGroup) -> list[list[str]]:
    """The CSV rows of an exact group, as `_write_csv` writes `_group_rows(group)`: the
    cells every member shares made once."""
    captured = group.captured.isoformat() if group.captured else None
    # group_id, kind, distance, path, size, width, height, captured_at, keep, reason, hash
    shared = [
        _text_cell(group.group_id), _text_cell(group.kind), "0", "", _text_cell(group.size),
        _text_cell(group.width), _text_cell(group.height), _text_cell(captured), "", "",
        _text_cell(group.hash), "", "",
    ]  # fmt: skip
    out = []
    copies = group.copies
    if all(path == ref for path, _device, _inode, ref, _lib in copies):  # no hard links
        # ExactGroup.reasons() then gives the kept copy `kept`, every other copy
        # SameContent(kept path, in_library=kept from the library, this copy not):
        # said here from the paths' text, without a Path or a reason value per group.
        keep_path, keep_lib = copies[0][0], copies[0][4]
        plain: dict[bool, str] = {}
        for i, (path, _device, _inode, _ref, in_library) in enumerate(copies):
            row = shared.copy()
            row[3] = csv_cell(path_text(path))
            if i == 0:
                row[8], row[9] = "yes", csv_cell(display_text(kept_copy_text(group.kept)))
            else:
                from_library = keep_lib and not in_library
                text = plain.get(from_library)
                if text is None:
                    said = same_content_text(keep_path, from_library)
                    text = plain[from_library] = csv_cell(display_text(said))
                row[8], row[9] = "no", text
            out.append(row)
        return out
    texts: dict[int, str] = {}  # a reason's text, said once per distinct value
    for i, ((path, *_rest), reason) in enumerate(zip(copies, group.reasons(), strict=True)):
        text = texts.get(id(reason))
        if text is None:
            text = texts[id(reason)] = csv_cell(display_text(reason_text(reason)))
        row = shared.copy()
        row[3] = csv_cell(path_text(path))
        row[8] = "yes" if i == 0 else "no"
        row[9] = text
        out.append(row)
    return out


def _text_cell(value: object) -> str:
    return "" if value is None else csv_cell(_cell(value))


_VALUES = attrgetter(*COLUMNS)
_PATH, _REASON = COLUMNS.index("path"), COLUMNS.index("reason")


def _write_csv(rows: list[ReportRow], f: TextIO, header: ReportHeader) -> None:
    writer = csv.writer(f)
    writer.writerow(header.cells())
    writer.writerow(COLUMNS)
    _write_rows(rows, writer)


def _write_rows(rows: list[ReportRow], writer) -> None:
    for row in rows:  # as _stored(row), without copying each row
        values = list(_VALUES(row))
        values[_PATH] = path_text(row.path)
        values[_REASON] = display_text(row.reason)
        writer.writerow(["" if v is None else csv_cell(_cell(v)) for v in values])


def _write_json(rows: list[ReportRow], f: TextIO, header: ReportHeader) -> None:
    items = []
    for row in map(_stored, rows):
        item = asdict(row)
        item["kind"] = row.kind.value
        items.append(item)
    document = {HEADER_MARK: header_fields(header), "columns": list(COLUMNS), "rows": items}
    json.dump(document, f, indent=1, ensure_ascii=False)
    f.write("\n")


def read_report(path: Path) -> list[ReportRow]:
    """Read a report written by `write_report` (CSV or JSON, by content) back into rows."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        return [_row_from_json(item) for item in json.loads(text)["rows"]]
    lines = text.splitlines()
    if lines and lines[0].lstrip('"').startswith(HEADER_MARK):
        lines = lines[1:]
    reader = csv.DictReader(lines)
    return [_row_from_csv({k: _uncell(v) for k, v in r.items()}) for r in reader]


def _uncell(value: object) -> object:
    return from_csv_cell(value) if isinstance(value, str) else value


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text not in (None, "") else None


def _row_from_csv(r: dict[str, str]) -> ReportRow:
    keep = {"yes": True, "no": False}.get(r["keep"])
    return ReportRow(
        int(r["group_id"]),
        Kind(r["kind"]),
        _int_or_none(r["distance"]),
        text_path(r["path"]),
        _int_or_none(r["size"]),
        _int_or_none(r["width"]),
        _int_or_none(r["height"]),
        r["captured_at"] or None,
        keep,
        r["reason"],
        r.get("hash") or None,
        r.get("phash") or None,
        float(r["measure"]) if r.get("measure") else None,
    )


def _row_from_json(item: dict[str, object]) -> ReportRow:
    item = {**item, "kind": Kind(item["kind"]), "path": text_path(str(item["path"]))}
    return ReportRow(**item)  # type: ignore[arg-type]


# --- the terminal summary --------------------------------------------------------------


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def library_verdict(result: FindResult) -> str:
    """--unique's answer in one line: is everything of the inputs in the library?"""
    drive = ", ".join(str(p) for p in result.inputs) or "the inputs"
    lacking = result.not_in_library
    if lacking == 0 and result.unchecked == 0:
        return f"everything on {drive} is in the library {result.library}"
    text = (
        f"{lacking} file{'s' if lacking != 1 else ''} of {drive}"
        f" {'are' if lacking != 1 else 'is'} not in the library {result.library}"
    )
    if result.unchecked:
        text += f"; {result.unchecked} could not be read, so were not checked"
    return text


def print_summary(result: FindResult, report: Path, file: TextIO, max_errors: int = 10) -> None:
    """The summary table, the unreadable files, and, last, the report's path."""
    from rich.console import Console
    from rich.table import Table

    s = summarise(result)
    console = Console(file=file, highlight=False, soft_wrap=True)
    table = Table(title="find-duplicates", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files scanned", str(result.files_scanned))
    table.add_row("duplicate groups", str(s.groups))
    table.add_row("  exact / similar", f"{s.exact_groups} / {s.similar_groups}")
    table.add_row("files in groups", str(s.files))
    table.add_row("reclaimable", f"{human_bytes(s.reclaimable)} ({s.reclaimable} bytes)")
    if s.blank or s.dark or s.blurred:
        table.add_row("blank / dark / blurred", f"{s.blank} / {s.dark} / {s.blurred}")
    if s.flat:
        table.add_row("flat or tiny, not compared", str(s.flat))
    table.add_row("unreadable files", str(s.unreadable))
    if result.library is not None:
        table.add_row("files of the inputs", str(result.input_files))
        table.add_row("  in the library", str(result.in_library))
        table.add_row("  not in the library", str(result.not_in_library))
        table.add_row("  not checked (unreadable)", str(result.unchecked))
    console.print(table)
    if result.library is not None:
        console.print(display_text(library_verdict(result)), markup=False)
    for failure in result.failures[:max_errors]:
        shown = display_text(f"unreadable: {failure.path}: {failure.error}")
        console.print(shown, markup=False)
    if len(result.failures) > max_errors:
        console.print(f"... and {len(result.failures) - max_errors} more unreadable (see report)")
    console.print(display_text(f"Report: {report}"), markup=False)

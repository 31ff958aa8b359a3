"""Report files, for every command: a header line saying what the report is for, rows
written as the run goes, a place checked before the run starts, a fallback when the
place fails mid-run, and a summary beside it. The rows themselves belong to each
command (importing/report.py, library/sync.py, duplicates/report.py).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import __version__
from .textsafe import csv_row, from_csv_cell, path_text, text_path


def default_report_path(report_dir: Path, started: datetime, prefix: str = "import") -> Path:
    stamp = started.strftime("%Y%m%d-%H%M%S")
    path = report_dir / f"{prefix}-{stamp}.csv"
    number = 1
    while os.path.lexists(path) or os.path.lexists(summary_path_of(path)):
        number += 1
        path = report_dir / f"{prefix}-{stamp}-{number}.csv"
    return path


def summary_path_of(report: Path) -> Path:
    return report.with_suffix(".summary.txt")


HEADER_MARK = "# photoorganiser report"


SUMMARY_MARK = "# photoorganiser summary"


FORMAT = 1


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """What a report was made for, written as its first CSV line so the report can be
    checked before it is acted on (`apply`). Spreadsheets show it as one row;
    pandas skips it with `pd.read_csv(path, skiprows=1)`."""

    kind: str  # import / apply / sync / duplicates / undo ...
    library: str = ""
    inputs: tuple[str, ...] = ()
    dryrun: bool = False
    output: str = ""  # where a run writes outside the library (an export's folder)
    mode: str = ""  # move / copy
    command: str = ""
    created: str = ""
    version: str = __version__
    format: int = FORMAT

    def cells(self) -> list[str]:
        cells = [
            HEADER_MARK,
            f"format={self.format}",
            f"kind={self.kind}",
            f"version={self.version}",
            f"created={self.created}",
            f"dryrun={'yes' if self.dryrun else 'no'}",
        ]
        if self.mode:
            cells.append(f"mode={self.mode}")
        if self.library:
            cells.append(f"library={path_text(self.library)}")
        cells += [f"input={path_text(p)}" for p in self.inputs]
        if self.output:
            cells.append(f"output={path_text(self.output)}")
        if self.command:
            cells.append(f"command={self.command}")
        return cells

    @classmethod
    def from_cells(cls, cells: Sequence[str]) -> ReportHeader | None:
        if not cells or cells[0] != HEADER_MARK:
            return None
        values: dict[str, str] = {}
        inputs: list[str] = []
        for cell in cells[1:]:
            key, _, value = cell.partition("=")
            if key == "input":
                inputs.append(text_path(value))
            else:
                values.setdefault(key, value)
        try:
            fmt = int(values.get("format", "0"))
        except ValueError:
            return None
        return cls(
            kind=values.get("kind", ""),
            library=text_path(values.get("library", "")),
            inputs=tuple(inputs),
            dryrun=values.get("dryrun") == "yes",
            output=text_path(values.get("output", "")),
            mode=values.get("mode", ""),
            command=values.get("command", ""),
            created=values.get("created", ""),
            version=values.get("version", ""),
            format=fmt,
        )


class ReportUnwritable(Exception):
    """The report cannot be written where asked: the run must not start."""


def header_fields(header: ReportHeader) -> dict[str, object]:
    """The header as a JSON object (a JSON report's first key is HEADER_MARK)."""
    fields: dict[str, object] = {
        "format": header.format,
        "kind": header.kind,
        "version": header.version,
        "created": header.created,
        "dryrun": header.dryrun,
        "mode": header.mode,
        "library": path_text(header.library) if header.library else "",
        "inputs": [path_text(p) for p in header.inputs],
        "command": header.command,
    }
    if header.output:
        fields["output"] = path_text(header.output)
    return fields


def _header_from_fields(d: dict) -> ReportHeader:
    return ReportHeader(
        kind=str(d.get("kind", "")),
        library=text_path(str(d.get("library", ""))),
        inputs=tuple(text_path(str(p)) for p in d.get("inputs", ())),
        dryrun=bool(d.get("dryrun", False)),
        output=text_path(str(d.get("output", ""))),
        mode=str(d.get("mode", "")),
        command=str(d.get("command", "")),
        created=str(d.get("created", "")),
        version=str(d.get("version", "")),
        format=int(d.get("format", 0)),
    )


def _head(path: Path, size: int) -> bytes | None:
    """The first `size` bytes of a regular file, opened without following a link or
    waiting on a pipe; None for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def _is_ours(path: Path, mark: str) -> bool:
    """A regular file that this tool wrote (its first line carries our mark)."""
    head = _head(path, len(mark) + 16)
    return head is not None and head.lstrip(b'{ \t\r\n"').startswith(mark.encode())


def check_place(path: Path, mark: str = HEADER_MARK) -> None:
    """Before anything is read: the report can be created at `path` and would replace
    nothing that this tool did not write. Raises ReportUnwritable with one line."""
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            raise ReportUnwritable(f"{path} is a folder; give a file name for the report")
        if not _is_ours(path, mark):
            raise ReportUnwritable(
                f"{path} exists and is not a photoorganiser report; refusing to replace it"
                " (choose another --report name)"
            )
    folder = path.parent
    existing = folder
    while not os.path.isdir(existing):
        if os.path.lexists(existing):
            raise ReportUnwritable(
                f"cannot create the report folder {folder}: {existing} is a file"
            )
        if existing.parent == existing:
            break
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "permission denied"
        with contextlib.suppress(OSError):
            if os.statvfs(existing).f_flag & os.ST_RDONLY:
                why = "it is on a read-only file system"
        raise ReportUnwritable(
            f"cannot write the report in {folder}: {why}"
            " (give --report FILE or --report-dir DIR somewhere writable)"
        )
    try:
        vfs = os.statvfs(existing)
    except OSError:
        return
    if vfs.f_bavail * vfs.f_frsize < MIN_FREE_BYTES:
        raise ReportUnwritable(f"no space left for the report in {folder}")


MIN_FREE_BYTES = 1 << 20


def place_report(report: Path | None, report_dir: Path, started: datetime, prefix: str) -> Path:
    """Where a run's report goes (the file given, else a new timestamped name in
    `report_dir`), checked before the run touches anything: ReportUnwritable otherwise,
    which the command line says in one line, exit 2."""
    path = Path(os.path.abspath(report or default_report_path(report_dir, started, prefix)))
    check_place(path)
    return path


def fallback_dirs(library: Path | None, dry_run: bool) -> list[Path]:
    """Where a report goes when its own place fails during the run: the library's own
    folder (never for a dry run, which creates nothing there), then the user's state
    folder, then the temporary folder."""
    dirs = []
    if library is not None and not dry_run:
        dirs.append(library / ".photoorganiser" / "reports")
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    dirs.append(Path(state) / "photoorganiser" / "reports")
    dirs.append(Path(tempfile.gettempdir()) / "photoorganiser-reports")
    return dirs


class ReportWriter:
    """A CSV report written as the run goes: header line, column row, then rows as they
    are decided, each batch flushed, so a run killed at any moment leaves a report of
    what it did. The file is created exclusively; replacing an earlier report of ours
    goes through a temporary name. If the report's disk fails mid-run, the report moves
    to a fallback folder (what was written is carried over) and `moved_because` says why.
    """

    def __init__(
        self,
        path: Path,
        header: ReportHeader,
        columns: Sequence[str],
        fallbacks: Sequence[Path] = (),
    ) -> None:
        self.path = Path(os.path.abspath(path))
        self.header = header
        self.columns = list(columns)
        self.fallbacks = list(fallbacks)
        self.moved_because: str | None = None
        self.rows = 0
        self._fd: int | None = None
        self._written = 0  # bytes known to be in the file
        self._tmp: Path | None = None

    # -- opening ---------------------------------------------------------------------

    def open(self) -> ReportWriter:
        check_place(self.path)
        os.makedirs(self.path.parent, exist_ok=True)
        self._fd, self._tmp = self._create(self.path)
        self._put(self._encode([self.header.cells(), self.columns]))
        return self

    def _create(self, path: Path) -> tuple[int, Path | None]:
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        if not os.path.lexists(path):
            try:
                return os.open(path, flags, 0o644), None
            except FileExistsError:
                pass
        if not _is_ours(path, HEADER_MARK):
            raise ReportUnwritable(f"{path} exists and is not a photoorganiser report")
        tmp = path.with_name(f".{path.name}.po-tmp-{os.getpid()}-{os.urandom(3).hex()}")
        return os.open(tmp, flags, 0o644), tmp

    def __enter__(self) -> ReportWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------

    def _encode(self, rows: Iterable[Sequence[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue().encode("utf-8", "surrogateescape")

    def _put(self, data: bytes) -> None:
        """Append a batch; if the disk fails, the batch is written again, whole, in the
        fallback (after what was already written before it)."""
        start = self._written
        view = memoryview(data)
        done = 0
        while done < len(data):
            try:
                n = os.write(self._fd, view[done:])
            except OSError as exc:
                self._move(exc, start)
                start, done = self._written, 0
                continue
            done += n
            self._written += n

    def write_rows(self, rows: Iterable[Sequence[str]]) -> None:
        rows = [csv_row(row) for row in rows]
        if rows:
            self._put(self._encode(rows))
            self.rows += len(rows)

    def _move(self, exc: OSError, keep: int) -> None:
        """The report's place failed mid-run: carry the first `keep` bytes (whole rows) to
        a fallback folder and go on writing there."""
        old_fd, old_path, old_tmp = self._fd, self.path, self._tmp
        done = b""
        with contextlib.suppress(OSError):
            done = os.pread(old_fd, keep, 0)
        if len(done) != keep:  # unreadable: start again with the header
            done = self._encode([self.header.cells(), self.columns])
        for folder in self.fallbacks:
            try:
                os.makedirs(folder, exist_ok=True)
                path = folder / old_path.name
                n = 1
                while os.path.lexists(path):
                    n += 1
                    path = folder / f"{old_path.stem}-{n}{old_path.suffix}"
                fd, _ = self._create(path)
            except (OSError, ReportUnwritable):
                continue
            try:
                written = 0
                while written < len(done):
                    written += os.write(fd, memoryview(done)[written:])
            except OSError:
                os.close(fd)
                continue
            with contextlib.suppress(OSError):
                os.close(old_fd)
            self._fd, self.path, self._tmp, self._written = fd, path, None, len(done)
            self.fallbacks.remove(folder)
            if old_tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(old_tmp)
            self.moved_because = f"{old_path} could not be written ({_strerror(exc)})"
            return
        raise ReportUnwritable(f"cannot write the report anywhere: {_strerror(exc)}") from exc

    def close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.fsync(fd)
        os.close(fd)
        if self._tmp is not None:
            os.replace(self._tmp, self.path)
            self._tmp = None


def _strerror(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on its disk"
    return exc.strerror or str(exc)


def read_rows(path: Path) -> tuple[ReportHeader | None, list[dict[str, str]]]:
    """The header and the rows of a report, tolerating a last row cut by a kill."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "surrogateescape")
    lines = text.splitlines(keepends=True)
    header = None
    reader = csv.reader(lines)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error:  # a row cut in the middle of a quoted cell: the run was killed
        pass
    if rows and rows[0] and rows[0][0] == HEADER_MARK:
        header = ReportHeader.from_cells(rows.pop(0))
    if not rows:
        return header, []
    names = rows.pop(0)
    return header, [
        {name: from_csv_cell(value) for name, value in zip(names, row, strict=False)}
        for row in rows
        if row
    ]


def read_header(path: Path) -> ReportHeader | None:
    """What a report says it was made for; None for a file that has no such line."""
    raw = _head(path, 1 << 16)
    if raw is None:
        return None
    head = raw.decode("utf-8", "surrogateescape")
    if head.lstrip().startswith("{"):  # a JSON report: its first key is the header
        try:
            with open(path, encoding="utf-8") as f:
                fields = json.load(f).get(HEADER_MARK)
        except (OSError, ValueError, AttributeError):
            return None
        return _header_from_fields(fields) if isinstance(fields, dict) else None
    try:
        first = next(csv.reader(head.splitlines()[:1]), [])
    except csv.Error:
        return None
    return ReportHeader.from_cells(first)


def report_columns(path: Path) -> list[str]:
    """The column names of a report (its first row after the header line)."""
    _header, rows = read_rows(path)
    return list(rows[0]) if rows else []


def write_summary(
    report: Path, lines: Sequence[tuple[str, int]], title: str, extra: str = ""
) -> Path:
    """The summary beside the report (`NAME.summary.txt`), replacing only our own."""
    path = summary_path_of(report)
    text = f"{SUMMARY_MARK}\n{render_summary(lines, title)}{extra}Report: {report}\n"
    tmp = path.with_name(f".{path.name}.po-tmp-{os.getpid()}-{os.urandom(3).hex()}")
    if os.path.lexists(path) and not _is_ours(path, SUMMARY_MARK):
        raise ReportUnwritable(f"{path} exists and is not a photoorganiser summary")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


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

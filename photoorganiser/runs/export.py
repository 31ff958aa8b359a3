"""`photoorganiser export --output LIBRARY --to DIR`: smaller copies of the library's
photos in DIR, in the library's own folder layout; incremental; the library only read.

    check options, DIR not in the library, the report's place   -> exit 2, nothing touched
    read the catalog           under the library's shared lock (never while a run writes)
    lock DIR, read its log     DIR/.photoorganiser-export/exports.jsonl: what earlier
                               exports wrote (library path, hash, options, output, its hash)
    plan                       a file unchanged since its last export with the same options
                               is `skipped`; names in the way that this tool did not write
                               are `refused`; outputs of files gone from the library `stale`
    convert / copy (pool)      media/convert.py; each output written under a temporary name
                               in DIR/.photoorganiser-export/tmp, then renamed into place
                               (an intent logged first), never over a file it did not write
    prune (--prune)            stale outputs removed, each checked against its hash first
    report                     a row per library file (kind export), bytes in and out

`undo --export DIR` (runs/undo_export.py) removes what the last export created.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import sqlite3
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import xxhash

from ..core import signals
from ..core.hashing import CHUNK_SIZE, holds, open_regular_file, read_and_hash
from ..core.parallel import pmap
from ..core.progress import Progress
from ..core.reportfile import (
    ReportHeader,
    ReportUnwritable,
    ReportWriter,
    fallback_dirs,
    place_report,
    write_summary,
)
from ..core.textsafe import path_text, text_path
from ..library.catalog import STATE_DIR, Catalog, CatalogUnavailable
from ..library.lock import library_lock
from ..media.convert import (
    ConvertError,
    ConvertSpec,
    NoPreview,
    can_write,
    convert,
    is_animated,
    transcode,
)

STATE_FOLDER = ".photoorganiser-export"  # in DIR: the log, the lock, temporary files
LOG_NAME = "exports.jsonl"
LOCK_NAME = "export.lock"
TMP_NAME = "tmp"
MAX_READ = 256 << 20  # photos larger than this are not decoded (copied when under min-size)
SETTLE_EVERY = 32  # log lines flushed at least this often

COLUMNS = (
    "path",
    "action",
    "status",
    "output",
    "size",
    "output_size",
    "hash",
    "reason",
)

STATUSES = ("exported", "copied", "skipped", "planned", "failed", "refused", "stale", "pruned",
            "not-done")  # fmt: skip


class ExportUsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ExportOptions:
    library: Path
    to: Path
    spec: ConvertSpec = ConvertSpec()
    min_size: int = 0  # bytes: photos smaller than this are copied as they are
    prune: bool = False
    video_transcode: bool = False  # videos made H.264 MP4 by ffmpeg (else copied)
    dry_run: bool = False
    workers: int = 1
    report: Path | None = None
    report_dir: Path = Path("reports")
    progress: bool = True
    wait: bool = False
    command: str = "export"

    @property
    def key(self) -> str:
        """What an output depends on besides its photo: a change redoes everything."""
        s = self.spec
        size = f"{s.max_size[0]}x{s.max_size[1]}" if s.max_size else "-"
        return (
            f"v1|{s.format.value}|q{s.quality}|{size}|ratio={int(s.keep_ratio)}"
            f"|gps={int(not s.strip_gps)}|min={self.min_size}"
            + ("|video=h264" if self.video_transcode else "")
        )


@dataclass(frozen=True, slots=True)
class Source:
    """One catalogued library file."""

    path: str  # relative to the library, as Python names it
    size: int
    hash: str
    kind: str  # image / raw / video / sidecar
    format: str
    captured_at: str | None
    mtime_ns: int
    damaged: str = ""  # what the catalog records it has lost ("truncated: ..."), if anything


@dataclass(frozen=True, slots=True)
class Owned:
    """An output this tool wrote, as its log tells."""

    output: str  # relative to DIR
    path: str  # the library file it was made from
    hash: str  # that file's hash then
    options: str
    out_hash: str
    out_size: int
    run: str


@dataclass(frozen=True, slots=True)
class Row:
    path: str
    action: str  # export / copy / skip / prune
    status: str
    output: str = ""
    size: int | None = None
    output_size: int | None = None
    hash: str = ""
    reason: str = ""

    def cells(self) -> list[str]:
        return [
            path_text(self.path),
            self.action,
            self.status,
            path_text(self.output),
            "" if self.size is None else str(self.size),
            "" if self.output_size is None else str(self.output_size),
            self.hash,
            self.reason,
        ]


@dataclass
class ExportResult:
    rows: list[Row]
    report_path: Path
    dry_run: bool
    interrupted: int | None = None
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def failed(self) -> int:
        return self.count("failed") + self.count("refused")

    @property
    def bytes_in(self) -> int:
        done = ("exported", "copied", "planned")
        return sum(r.size or 0 for r in self.rows if r.status in done)

    @property
    def bytes_out(self) -> int:
        return sum(r.output_size or 0 for r in self.rows if r.status in ("exported", "copied"))

    @property
    def summary(self) -> list[tuple[str, int]]:
        labels = {
            "exported": "Exported (converted)",
            "copied": "Copied as they are",
            "skipped": "Skipped (unchanged since the last export; RAW without preview)",
            "planned": "To export (dry run)",
            "failed": "Failed",
            "refused": "Refused (a file this tool did not write is in the way)",
            "stale": "Stale (their photo left the library; --prune removes them)",
            "pruned": "Stale exports removed (--prune)",
            "not-done": "Not done (stopped)",
        }
        return [(labels[s], self.count(s)) for s in STATUSES if self.count(s)]

    @property
    def title(self) -> str:
        return "Export (dry run)" if self.dry_run else "Export"

    def bytes_line(self) -> str:
        ratio = f", {self.bytes_out / self.bytes_in:.1%} of the size" if self.bytes_in else ""
        if self.dry_run:
            return f"Bytes to read: {self.bytes_in:,}\n"
        return f"Bytes in: {self.bytes_in:,}, bytes out: {self.bytes_out:,}{ratio}\n"


# --- the export's own state: its log ------------------------------------------------------


def state_folder(to: Path) -> Path:
    return to / STATE_FOLDER


class ExportLog:
    """What exports into DIR wrote, from the JSON-lines log (see the module's docstring).

    Lines: {"run", "begin", "options"}; {"run", "op": "intent"|"create"|"replace", "path",
    "hash", "options", "output", "out_hash", "out_size"}; {"run", "op": "remove", "output"};
    {"undone": RUN}. An intent left without its create/replace (a kill between them) counts
    as written when the file on disk holds its hash."""

    def __init__(self, to: Path) -> None:
        self.to = to
        self.folder = state_folder(to)
        self.path = self.folder / LOG_NAME
        self.owned: dict[str, Owned] = {}  # output -> what it holds
        self.by_path: dict[str, str] = {}  # library path -> its current output
        self.runs: list[str] = []  # runs that wrote something, in order
        self.entries: dict[str, list[dict]] = {}  # run -> its create/replace entries
        self.undone: set[str] = set()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._buffer: list[dict] = []

    def read(self) -> ExportLog:
        intents: dict[str, dict] = {}
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as f:
                lines = f.readlines()
        except FileNotFoundError:
            return self
        except OSError as exc:
            raise ExportUsageError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill
            if not isinstance(entry, dict):
                continue
            if "undone" in entry:
                self.undone.add(entry["undone"])
                continue
            op = entry.get("op")
            if op == "intent":
                intents[entry["output"]] = entry
            elif op in ("create", "replace"):
                intents.pop(entry["output"], None)
                self._own(entry)
            elif op == "remove":
                self._forget(entry["output"])
        for entry in intents.values():  # a kill between rename and its line: look at the disk
            target = self.to / text_path(entry["output"])
            if holds(target, entry["out_size"], entry["out_hash"]):
                self._own(dict(entry, op=entry.get("then", "create")))
        return self

    def _own(self, entry: dict) -> None:
        output, path = text_path(entry["output"]), text_path(entry["path"])
        run = entry.get("run", "")
        self.owned[output] = Owned(
            output, path, entry["hash"], entry["options"], entry["out_hash"],
            int(entry["out_size"]), run,
        )  # fmt: skip
        self.by_path[path] = output
        if run not in self.entries:
            self.runs.append(run)
        self.entries.setdefault(run, []).append(dict(entry, output=output, path=path))

    def _forget(self, output_text: str) -> None:
        output = text_path(output_text)
        gone = self.owned.pop(output, None)
        if gone is not None and self.by_path.get(gone.path) == output:
            del self.by_path[gone.path]

    # -- writing (under the lock) --------------------------------------------------------

    def lock(self, wait: bool = False) -> None:
        """Hold DIR for this run (one export or undo at a time); makes the state folder."""
        for folder in (self.to, self.folder):
            if os.path.islink(folder):
                raise ExportUsageError(f"{folder} is a symbolic link; not followed")
        os.makedirs(self.folder, exist_ok=True)
        fd = os.open(
            self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise ExportUsageError(
                f"another export or undo is using {self.to}; try later (or --wait)"
            ) from None
        self._lock_fd = fd

    def open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o644)

    def write(self, entries: Iterable[dict], *, durable: bool) -> None:
        self._buffer.extend(entries)
        if durable or len(self._buffer) >= SETTLE_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._fd is None or not self._buffer:
            return
        data = "".join(json.dumps(e) + "\n" for e in self._buffer)
        self._buffer.clear()
        os.write(self._fd, data.encode("utf-8", "surrogateescape"))
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.flush()
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def log_entry(run: str, op: str, owned: Owned) -> dict:
    return {
        "run": run,
        "op": op,
        "path": path_text(owned.path),
        "hash": owned.hash,
        "options": owned.options,
        "output": path_text(owned.output),
        "out_hash": owned.out_hash,
        "out_size": owned.out_size,
    }


def clean_temporaries(folder: Path) -> None:
    """What a killed run left half-written in DIR/.photoorganiser-export/tmp."""
    tmp = folder / TMP_NAME
    if os.path.isdir(tmp) and not os.path.islink(tmp):
        shutil.rmtree(tmp, ignore_errors=True)


# --- options --------------------------------------------------------------------------------


def check_options(options: ExportOptions) -> tuple[Path, Path]:
    """The library and DIR as absolute paths, or ExportUsageError with one line."""
    root = Path(os.path.abspath(options.library))
    to = Path(os.path.abspath(options.to))
    spec = options.spec
    if not root.is_dir():
        raise ExportUsageError(f"library {options.library} is not a folder")
    if os.path.lexists(to) and not os.path.isdir(to):
        raise ExportUsageError(f"--to {options.to} exists and is not a folder")
    real_root, real_to = Path(os.path.realpath(root)), Path(os.path.realpath(to))
    if real_to.is_relative_to(real_root):
        raise ExportUsageError(
            f"--to {options.to} is inside the library {root}: export somewhere else"
        )
    if real_root.is_relative_to(real_to):
        raise ExportUsageError(f"--to {options.to} holds the library {root}: export elsewhere")
    if not 1 <= spec.quality <= 100:
        raise ExportUsageError("--quality must be between 1 and 100")
    if spec.max_size is not None and min(spec.max_size) < 1:
        raise ExportUsageError("--max-size needs a width and height of at least 1 pixel")
    if options.min_size < 0:
        raise ExportUsageError("--min-size cannot be negative")
    if options.workers < 1:
        raise ExportUsageError("--workers must be at least 1")
    if options.video_transcode and shutil.which("ffmpeg") is None:
        raise ExportUsageError("--video-transcode needs ffmpeg, which is not installed")
    if not can_write(spec.format):
        raise ExportUsageError(
            f"--format {spec.format.value}: this machine's Pillow has no {spec.format.value}"
            " encoder (AVIF needs Pillow >= 11.2 built with libavif); choose webp or jpeg"
        )
    return root, to


def parse_size(text: str) -> tuple[int, int]:
    """`WxH` (or a single number N for NxN); ValueError otherwise."""
    w, sep, h = text.lower().partition("x")
    if not sep:
        h = w
    width, height = int(w), int(h)
    if width < 1 or height < 1:
        raise ValueError(text)
    return width, height


# --- reading the library -------------------------------------------------------------------


def read_catalog(root: Path, wait: bool) -> list[Source]:
    """Every catalogued file, read under the library's shared lock (never mid-import)."""
    with library_lock(root / STATE_DIR, "export", wait=wait, shared=True):
        try:
            catalog = Catalog.open(root, readonly=True)
        except CatalogUnavailable as exc:
            raise ExportUsageError(str(exc)) from None
        if catalog is None:
            raise ExportUsageError(
                f"{root} has no catalog: import into it, or run"
                f" `photoorganiser sync --output {root}` first"
            )
        try:
            rows = catalog.conn.execute(
                "SELECT path, size, hash, json_extract(record, '$.kind'),"
                " json_extract(record, '$.media.format'), captured_at, mtime_ns,"
                " json_extract(record, '$.media.problems')"
                " FROM files ORDER BY path"
            ).fetchall()
        except sqlite3.Error as exc:
            raise ExportUsageError(f"cannot read the catalog of {root}: {exc}") from None
        finally:
            catalog.close()
    return [
        Source(text_path(r[0]), r[1], r[2], r[3] or "", r[4] or "", r[5], r[6] or 0,
               _problems(r[7]))
        for r in rows
    ]  # fmt: skip


def _problems(text: str | None) -> str:
    """The catalog's record of a damaged file's problems (a JSON list), as one line."""
    try:
        problems = json.loads(text) if text else []
    except ValueError:
        return ""
    if not isinstance(problems, list):
        return ""
    return "; ".join(str(p) for p in problems if p)


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    """One library file to export, as a worker gets it (picklable)."""

    source: str  # absolute
    path: str  # relative to the library
    size: int
    hash: str
    fmt: str
    how: str  # convert / copy
    output: str  # relative to DIR (a convert that finds an animation copies to `path`)
    tmp: str  # absolute temporary name in DIR/.photoorganiser-export/tmp
    spec: ConvertSpec
    mtime: float  # the capture time, set on the output
    damaged: str = ""  # the catalog records it damaged: what it has lost


def _mtime_of(source: Source) -> float:
    if source.captured_at:
        try:
            return datetime.fromisoformat(source.captured_at).timestamp()
        except (ValueError, OverflowError, OSError):
            pass
    return source.mtime_ns / 1e9


def _copied_as_is(source: Source, options: ExportOptions) -> bool:
    if source.kind == "video":
        return not options.video_transcode
    return source.kind == "sidecar" or (
        source.kind in ("image", "raw") and source.size < options.min_size
    )


_PHOTO_EXTENSIONS_KINDS = ("image", "raw")


def plan(
    sources: list[Source], log: ExportLog, options: ExportOptions, root: Path, to: Path, run: str
) -> tuple[list[Row], list[Task]]:
    """Rows for files left as they are (skipped, refused), and the tasks to run."""
    key = options.key
    ext = options.spec.format.extension
    rows: list[Row] = []
    tasks: list[Task] = []
    # names taken: every output kept, every file copied as it is
    used: dict[str, str] = {}  # casefolded output -> library path
    todo: list[Source] = []
    for s in sources:
        if s.kind not in ("image", "raw", "video", "sidecar"):
            continue
        current = log.by_path.get(s.path)
        owned = log.owned.get(current) if current else None
        if owned is not None and owned.hash == s.hash and owned.options == key:
            try:
                st = os.stat(to / owned.output, follow_symlinks=False)
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == owned.out_size:
                used[owned.output.casefold()] = s.path
                rows.append(Row(s.path, "skip", "skipped", owned.output, s.size, owned.out_size,
                                s.hash, "unchanged since the last export"))  # fmt: skip
                continue
        todo.append(s)

    def ext_of(s: Source) -> str:
        return ".mp4" if s.kind == "video" else ext

    for s in todo:  # a copy keeps its name; a photo already in the format keeps its own
        natural = _natural(s.path, ext_of(s))
        if _copied_as_is(s, options) or natural.casefold() == s.path.casefold():
            used.setdefault(s.path.casefold(), s.path)
    converted_to: dict[str, str] = {}  # library photo -> its output
    tmp_folder = state_folder(to) / TMP_NAME
    for s in todo:
        if _copied_as_is(s, options):
            how, output = "copy", _sidecar_output(s.path, converted_to, log)
        else:
            how = "transcode" if s.kind == "video" else "convert"
            folder, _, name = s.path.rpartition("/")
            out_ext = ext_of(s)
            natural = output = _natural(s.path, out_ext)
            taken = used.get(natural.casefold())
            if taken is not None and taken != s.path:
                output = f"{folder}/{name}{out_ext}" if folder else f"{name}{out_ext}"
            owner = log.owned.get(output)
            if owner is not None and owner.path != s.path and owner.path in log.by_path:
                output = f"{folder}/{name}{out_ext}" if folder else f"{name}{out_ext}"
            converted_to[s.path] = output
        used[output.casefold()] = s.path
        why = _in_the_way(to / output, log.owned.get(output))
        if why:
            rows.append(Row(s.path, "copy" if how == "copy" else "export", "refused", output,
                            s.size, None, s.hash, why))  # fmt: skip
            continue
        tmp = tmp_folder / f"{len(tasks)}-{secrets.token_hex(4)}"
        tasks.append(
            Task(str(root / s.path), s.path, s.size, s.hash, s.format, how, output, str(tmp),
                 options.spec, _mtime_of(s), s.damaged)
        )  # fmt: skip
    return rows, tasks


def _natural(path: str, ext: str) -> str:
    """The output name of a converted photo: its name with the format's extension."""
    folder, _, name = path.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{folder}/{stem}{ext}" if folder else f"{stem}{ext}"


def _sidecar_output(path: str, converted_to: dict[str, str], log: ExportLog) -> str:
    """A sidecar named after its photo's full name (`IMG_1.HEIC.xmp`) follows the photo's
    new name (`IMG_1.jpg.xmp`); `IMG_1.xmp` stays beside `IMG_1.jpg` as it is."""
    head, dot, sidecar_ext = path.rpartition(".")
    if not dot:
        return path
    photo_output = converted_to.get(head) or log.by_path.get(head)
    if photo_output and photo_output != head:
        return f"{photo_output}.{sidecar_ext}"
    return path


def _in_the_way(target: Path, owned: Owned | None) -> str:
    """Why `target` cannot be written ("" when it can): a file there that this tool did
    not write (or wrote and someone changed since)."""
    if STATE_FOLDER in target.parts:
        return f"its name would be in the export's own {STATE_FOLDER} folder"
    try:
        st = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        return _link_on_the_way(target)
    except OSError as exc:
        return f"cannot look at {target}: {exc.strerror or exc}"
    if owned is None:
        return "a file this tool did not write is in the way; left untouched"
    if not stat.S_ISREG(st.st_mode) or st.st_size != owned.out_size:
        return "the earlier export there was changed since; left untouched"
    return _link_on_the_way(target)


def _link_on_the_way(target: Path) -> str:
    folder = target.parent
    while not os.path.lexists(folder):
        folder = folder.parent
    for parent in (folder, *folder.parents):
        if os.path.islink(parent):
            return f"{parent} is a symbolic link; not followed"
        if os.path.isdir(parent / STATE_FOLDER) or parent == parent.parent:
            break
    return ""


# --- the pool's work -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    task: Task
    status: str  # exported / copied / skipped (nothing to export) / failed
    output: str = ""
    out_hash: str = ""
    out_size: int = 0
    reason: str = ""


def export_one(task: Task) -> Done:
    """Read one library file (a regular file only, checked against the catalog's hash),
    convert or copy it to its temporary name, set its time. Never raises for a bad file."""
    try:
        # The temporary name is this task's own (random): a file there was left by a worker
        # that died while it had the task in hand, which pmap then gave to another
        with contextlib.suppress(FileNotFoundError):
            os.unlink(task.tmp)
        if task.how == "copy":
            return _copy(task)
        if task.how == "transcode":
            return _transcode(task)
        if task.size > MAX_READ:
            return Done(task, "failed", reason=f"larger than {MAX_READ >> 20} MiB: not decoded")
        content = read_and_hash(task.source, keep_limit=MAX_READ, expected_size=task.size)
        if content.hash != task.hash or content.data is None:
            return Done(task, "failed", reason=_CHANGED)
        if is_animated(content.data):
            data, status, output = content.data, "copied", task.path
            reason = "an animation: copied as it is"
        else:
            damaged = bool(task.damaged)
            try:
                data = convert(content.data, task.fmt, task.spec, damaged=damaged).data
            except NoPreview as exc:
                return Done(task, "skipped", reason=str(exc))
            except ConvertError as exc:
                if not damaged:
                    return Done(task, "failed", reason=str(exc))
                # known damaged (imported as it is), and nothing of it decodes: the export
                # holds it as the library does, rather than failing every night
                data, status, output = content.data, "copied", task.path
                reason = f"damaged ({task.damaged}); {exc}: copied as it is"
            else:
                status, output = "exported", task.output
                reason = f"damaged ({task.damaged}): exported what can be decoded of it"
                reason = reason if damaged else ""
        _write_tmp(task.tmp, data)
        os.utime(task.tmp, (task.mtime, task.mtime))
        return Done(task, status, output, xxhash.xxh3_128_hexdigest(data), len(data), reason)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(task.tmp)
        if isinstance(exc, FileNotFoundError) and exc.filename == task.source:
            return Done(task, "failed", reason="no longer in the library (run sync)")
        return Done(task, "failed", reason=f"cannot read or write it: {exc.strerror or exc}")
    except Exception as exc:  # a bug or a pathological file: one row, never the run
        with contextlib.suppress(OSError):
            os.unlink(task.tmp)
        return Done(task, "failed", reason=f"{type(exc).__name__}: {exc}")


def _not_exported(task: Task, why: str) -> Done:
    """A file whose converting process died on it (pmap's `lost`): failed, saying so;
    what the dead process had written of it under its temporary name removed."""
    with contextlib.suppress(OSError):
        os.unlink(task.tmp)
    return Done(task, "failed", reason=why)


_CHANGED = "changed since it was catalogued: run `photoorganiser sync` first"
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _write_tmp(tmp: str, data: bytes) -> None:
    fd = os.open(tmp, _TMP_FLAGS, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _transcode(task: Task) -> Done:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return Done(task, "failed", reason="ffmpeg is not installed: cannot transcode")
    before = os.stat(task.source, follow_symlinks=False)
    content = read_and_hash(task.source, keep_limit=0, expected_size=task.size)
    if content.hash != task.hash or content.size != task.size:
        return Done(task, "failed", reason=_CHANGED)
    try:
        transcode(task.source, task.tmp, task.spec, ffmpeg)
    except ConvertError as exc:
        with contextlib.suppress(OSError):
            os.unlink(task.tmp)
        return Done(task, "failed", reason=str(exc))
    after = os.stat(task.source, follow_symlinks=False)
    if (before.st_ino, before.st_size, before.st_mtime_ns) != (
        after.st_ino,
        after.st_size,
        after.st_mtime_ns,
    ):
        os.unlink(task.tmp)
        return Done(task, "failed", reason=_CHANGED)
    out = read_and_hash(task.tmp, keep_limit=0)
    os.utime(task.tmp, (task.mtime, task.mtime))
    return Done(task, "exported", task.output, out.hash, out.size, "transcoded (H.264)")


def _copy(task: Task) -> Done:
    hasher = xxhash.xxh3_128()
    total = 0
    with open_regular_file(task.source, buffering=0) as src:
        fd = os.open(task.tmp, _TMP_FLAGS, 0o644)
        try:
            while chunk := src.read(min(CHUNK_SIZE, task.size + 1 - total)):
                hasher.update(chunk)
                total += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                if total > task.size:
                    break
            os.fsync(fd)
        finally:
            os.close(fd)
    if total != task.size or hasher.hexdigest() != task.hash:
        os.unlink(task.tmp)
        return Done(task, "failed", reason=_CHANGED)
    os.utime(task.tmp, (task.mtime, task.mtime))
    return Done(task, "copied", task.output, task.hash, total)


# --- the run ---------------------------------------------------------------------------------


def run_export(options: ExportOptions) -> ExportResult:
    started = datetime.now()
    root, to = check_options(options)
    report = place_report(options.report, options.report_dir, started, "export")
    sources = read_catalog(root, options.wait)
    header = ReportHeader(
        "export",
        library=str(root),
        output=str(to),
        dryrun=options.dry_run,
        mode=options.spec.format.value,
        command=options.command,
        created=started.isoformat(timespec="seconds"),
    )
    log = ExportLog(to)
    run = f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    writer = ReportWriter(report, header, COLUMNS, fallback_dirs(None, options.dry_run))
    result = ExportResult([], report, options.dry_run)
    try:
        if not options.dry_run:
            log.lock(options.wait)
            clean_temporaries(log.folder)
        log.read()
        rows, tasks = plan(sources, log, options, root, to, run)
        writer.open()
        writer.write_rows(r.cells() for r in rows)
        result.rows += rows
        if options.dry_run:
            planned = [
                Row(t.path, "copy" if t.how == "copy" else "export", "planned", t.output, t.size,
                    None, t.hash)
                for t in tasks
            ]  # fmt: skip
            writer.write_rows(r.cells() for r in planned)
            result.rows += planned
            stale = _stale(log, sources)
            writer.write_rows(r.cells() for r in stale)
            result.rows += stale
        else:
            log.open()
            if tasks:
                begin = {"run": run, "begin": started.isoformat(timespec="seconds")}
                log.write([begin | {"options": options.key}], durable=True)
            result.interrupted = _execute(tasks, log, options, to, run, writer, result)
            if result.interrupted is None:
                stale = _stale(log, sources)
                if options.prune:
                    stale = [_prune(r, log, to, run) for r in stale]
                writer.write_rows(r.cells() for r in stale)
                result.rows += stale
    finally:
        writer.close()
        if not options.dry_run:
            clean_temporaries(log.folder)
        log.close()
    result.report_path = writer.path
    with contextlib.suppress(OSError, ReportUnwritable):
        write_summary(writer.path, result.summary, result.title, result.bytes_line())
    return result


def _execute(
    tasks: list[Task],
    log: ExportLog,
    options: ExportOptions,
    to: Path,
    run: str,
    writer: ReportWriter,
    result: ExportResult,
) -> int | None:
    """Convert in the pool, put each output in place as it comes; the signal that stopped
    it, if one did."""
    if tasks:
        os.makedirs(log.folder / TMP_NAME, exist_ok=True)
    finished: set[str] = set()
    dirty: set[Path] = set()
    try:
        with signals.deferred(), Progress("export", len(tasks), options.progress) as bar:
            exports = pmap(
                export_one, tasks, workers=options.workers, progress=bar, lost=_not_exported
            )
            for done in exports:
                row = _place(done, log, options, to, run, dirty)
                writer.write_rows([row.cells()])
                result.rows.append(row)
                finished.add(done.task.tmp)
                signals.check()
    except KeyboardInterrupt as stop:
        rest = [
            Row(t.path, "copy" if t.how == "copy" else "export", "not-done", t.output, t.size,
                None, t.hash, "the run was stopped before this file")
            for t in tasks
            if t.tmp not in finished
        ]  # fmt: skip
        writer.write_rows(r.cells() for r in rest)
        result.rows += rest
        signals.clear()
        return int(getattr(stop, "signum", 2))
    finally:
        log.flush()
        for folder in dirty:
            _fsync_dir(folder)
    signals.clear()
    return None


def _place(done: Done, log: ExportLog, options: ExportOptions, to: Path, run: str, dirty) -> Row:
    """Rename a worker's temporary file into place: never over a file this tool did not
    write; an intent logged (durably) first, so a kill leaves nothing unaccounted for."""
    t = done.task
    action = "copy" if done.status == "copied" else "export"
    if done.status in ("failed", "skipped"):
        output = t.output if done.status == "failed" else ""
        return Row(t.path, action, done.status, output, t.size, None, t.hash, done.reason)
    target = to / done.output
    owned_before = log.owned.get(done.output)
    why = _in_the_way(target, owned_before)
    if (
        not why
        and owned_before is not None
        and os.path.lexists(target)
        and not holds(target, owned_before.out_size, owned_before.out_hash)
    ):
        why = "the earlier export there was changed since; left untouched"
    if why:
        with contextlib.suppress(OSError):
            os.unlink(t.tmp)
        return Row(t.path, action, "refused", done.output, t.size, None, t.hash, why)
    owned = Owned(done.output, t.path, t.hash, options.key, done.out_hash, done.out_size, run)
    op = "replace" if os.path.lexists(target) else "create"
    log.write([dict(log_entry(run, "intent", owned), then=op)], durable=True)
    try:
        os.makedirs(target.parent, exist_ok=True)
        if op == "replace":
            os.replace(t.tmp, target)
        else:
            _rename_noreplace(Path(t.tmp), target)
    except FileExistsError:
        with contextlib.suppress(OSError):
            os.unlink(t.tmp)
        return Row(t.path, action, "refused", done.output, t.size, None, t.hash,
                   "a file appeared in the way during the export; left untouched")  # fmt: skip
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(t.tmp)
        return Row(t.path, action, "failed", done.output, t.size, None, t.hash,
                   f"cannot write it: {exc.strerror or exc}")  # fmt: skip
    dirty.add(target.parent)
    log.write([log_entry(run, op, owned)], durable=False)
    log._own(log_entry(run, op, owned))
    reason = done.reason or ("replaces its earlier export" if op == "replace" else "")
    return Row(t.path, action, done.status, done.output, t.size, done.out_size, t.hash, reason)


def _rename_noreplace(src: Path, dst: Path) -> None:
    from ..importing.execute import rename_noreplace

    try:
        rename_noreplace(src, dst)
    except FileExistsError:
        raise
    except OSError as exc:
        if type(exc).__name__ != "_Unsupported":
            raise
        os.link(src, dst)  # no renameat2 here: link(2) never replaces either
        os.unlink(src)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _stale(log: ExportLog, sources: list[Source]) -> list[Row]:
    """Outputs this tool wrote whose library file is gone, or now exported elsewhere."""
    present = {s.path for s in sources}
    rows = []
    for owned in sorted(log.owned.values(), key=lambda o: o.output):
        if owned.path in present and log.by_path.get(owned.path) == owned.output:
            continue
        why = (
            "its library file is no longer in the library"
            if owned.path not in present
            else f"its library file is now exported as {log.by_path.get(owned.path, '?')}"
        )
        rows.append(Row(owned.path, "prune", "stale", owned.output, None, owned.out_size,
                        owned.hash, why))  # fmt: skip
    return rows


def _prune(row: Row, log: ExportLog, to: Path, run: str) -> Row:
    owned = log.owned[row.output]
    target = to / row.output
    if not os.path.lexists(target):
        log.write([{"run": run, "op": "remove", "output": path_text(row.output)}], durable=True)
        log._forget(path_text(row.output))
        return replace(row, status="pruned", reason="already gone")
    if not holds(target, owned.out_size, owned.out_hash):
        return replace(row, reason=row.reason + "; changed since it was exported: left untouched")
    log.write([{"run": run, "op": "remove", "output": path_text(row.output)}], durable=True)
    os.unlink(target)
    log._forget(path_text(row.output))
    _remove_empty_folders(target.parent, to)
    return replace(row, status="pruned", reason=row.reason + "; removed")


def _remove_empty_folders(folder: Path, to: Path) -> None:
    while folder != to and folder.is_relative_to(to):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = folder.parent

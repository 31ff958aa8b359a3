"""The job queue: the commands that change files, run from the web app.

A job runs the existing command line in a child process (`python -m photoorganiser
COMMAND ...`), so it stops as the command stops on Ctrl-C (the file in hand finished,
files not reached `not-done`, the report written), holds the library as the command
holds it (`--wait`: a nightly run is waited for, not failed on) and says its errors in
its one line. The JSON options of a request become the command's arguments through an
explicit table per command (`COMMANDS`): unknown fields, wrong types and relative paths
are refused before anything is queued. The server chooses what the client may not: the
library (`--output`, the served one) and the report's place
(`LIBRARY/.photoorganiser/reports/<command>-<id>.csv`). An import is a dry run unless
`"dryrun": false` is given.

One job runs at a time per library (the serve that holds `jobs/.runner.lock` runs
them, the oldest queued first). Each job is a JSON file in `LIBRARY/.photoorganiser/
jobs/` (`<id>.json`, written atomically, never through a link, only by serve) with the
command's output in `<id>.log`, its progress in `<id>.progress.json` (written by the
command: core/progress.py) and its pids and exit status in `<id>.run.json` (written
by the wrapper, web/jobrun.py, which is what serve starts, in a session of its own: a
job outlives serve, and a new serve follows it to its end). A job left running whose
processes are gone is failed ("serve or the machine stopped during the job").
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import math
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from ..core.progress import SINK_ENV
from ..core.reportfile import read_rows
from ..core.textsafe import path_text, text_path
from ..library.catalog import STATE_DIR
from ..library.lock import UnsafeStateFile, refuse_link
from .access import Access, Refused
from .jobrun import read_json, start_ticks, write_json

log = logging.getLogger("photoorganiser")

JOBS_DIR = "jobs"
RUNNER_LOCK = ".runner.lock"
TICK = 0.2  # seconds between two looks at the running job
ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,99}$")
STOP_CODES = {128 + signal.SIGINT, 128 + signal.SIGTERM, 128 + signal.SIGHUP}
EXIT_OK, EXIT_FILE_ERRORS = 0, 1  # cli.py's statuses (web does not import cli)
FINISHED = ("done", "failed", "cancelled")
# what a finished job's record may say besides (an older record lacks them): `outcome`,
# its report's rows counted by status ({"done": 11, "left-alone": 5, ...})
OPTIONAL_KEYS = ("outcome",)
STATE_KEYS = (  # what a record's file says of a job's state (its progress is in memory)
    "status",
    "started",
    "finished",
    "exit_code",
    "error",
    "pid",
    "pid_start",
    "cancel_requested",
    "cancel_sent",
)


class JobRequestError(Exception):
    """A request the queue refuses: `status` is the HTTP status (400, 403, 404, 409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- the options each command takes -----------------------------------------------------


class Kind(Enum):
    FLAG = "true or false"
    TEXT = "a string"
    INT = "an integer"
    NUMBER = "a number"
    PATH = "an absolute path"
    PATHS = "a list of absolute paths"
    PATH_OR_TRUE = "an absolute path or true"
    REPORT = "a report: its ref ('0:name.csv') or an absolute path"
    RUN = "a run id"
    CHOICE = "one of"


@dataclass(frozen=True, slots=True)
class Option:
    kind: Kind
    flag: str | None  # None: a positional argument (first, after the command)
    required: bool = False
    minimum: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandSpec:
    options: dict[str, Option]
    output: bool  # the command takes --output LIBRARY (and --wait)
    one_of: tuple[str, ...] = ()  # exactly one of these must be given (dedupe's how)
    at_most_one: tuple[str, ...] = ()
    default_dryrun: bool = False


def _flag(name: str) -> Option:
    return Option(Kind.FLAG, name)


WORKERS = Option(Kind.INT, "--workers", minimum=1)

COMMANDS: dict[str, CommandSpec] = {
    "import": CommandSpec(
        {
            "inputs": Option(Kind.PATHS, "--input", required=True),
            "dryrun": _flag("--dryrun"),
            "move": _flag("--move"),
            "copy": _flag("--copy"),
            "template": Option(Kind.TEXT, "--template"),
            "workers": WORKERS,
            "timezone": Option(Kind.TEXT, "--timezone"),
            "no_mtime": _flag("--no-mtime"),
            "prefer": Option(Kind.PATHS, "--prefer"),
            "leave_damaged": _flag("--leave-damaged"),
            "settle": Option(Kind.NUMBER, "--settle", minimum=0),
            "reimport_deleted": _flag("--reimport-deleted"),
            "retry_failed": _flag("--retry-failed"),
            "debug": _flag("--debug"),
        },
        output=True,
        at_most_one=("move", "copy"),
        default_dryrun=True,
    ),
    "apply": CommandSpec(
        {
            "report": Option(Kind.REPORT, None, required=True),
            "rebase": _flag("--rebase"),
            "workers": WORKERS,
            "debug": _flag("--debug"),
        },
        output=True,
    ),
    "find-duplicates": CommandSpec(
        {
            "inputs": Option(Kind.PATHS, "--input", required=True),
            "format": Option(Kind.CHOICE, "--format", choices=("csv", "json")),
            "similar": _flag("--similar"),
            "hash_size": Option(Kind.INT, "--hash-size", minimum=4),
            "threshold": Option(Kind.INT, "--threshold", minimum=0),
            "include_empty": _flag("--include-empty"),
            "include_bursts": _flag("--include-bursts"),
            "blanks": _flag("--blanks"),
            "dark": _flag("--dark"),
            "blurred": _flag("--blurred"),
            "blank_threshold": Option(Kind.NUMBER, "--blank-threshold", minimum=0),
            "dark_threshold": Option(Kind.NUMBER, "--dark-threshold", minimum=0),
            "blur_threshold": Option(Kind.NUMBER, "--blur-threshold", minimum=0),
            "prefer": Option(Kind.PATHS, "--prefer"),
            "library": _flag("--library"),  # true: compare with the served library
            "unique": _flag("--unique"),
            "workers": WORKERS,
            "debug": _flag("--debug"),
        },
        output=False,
    ),
    "dedupe": CommandSpec(
        {
            "report": Option(Kind.REPORT, None, required=True),
            "quarantine": Option(Kind.PATH, "--quarantine"),
            "trash": _flag("--trash"),
            "hardlink": _flag("--hardlink"),
            "delete": _flag("--delete"),
            "reflink": _flag("--reflink"),
            "yes": _flag("--yes"),
            "dryrun": _flag("--dryrun"),
            "reference": Option(Kind.PATHS, "--reference"),
            "keep_copies": Option(Kind.INT, "--keep-copies", minimum=1),
            "same_folder": _flag("--same-folder"),
            "sidecars_to_keeper": _flag("--sidecars-to-keeper"),
            "journal": Option(Kind.PATH, "--journal"),
            "workers": WORKERS,
        },
        output=False,
        one_of=("quarantine", "trash", "hardlink", "delete", "reflink"),
    ),
    "sync": CommandSpec(
        {
            "workers": WORKERS,
            "timezone": Option(Kind.TEXT, "--timezone"),
            "rebuild": _flag("--rebuild"),
            "reread": _flag("--reread"),
            "debug": _flag("--debug"),
        },
        output=True,
    ),
    "verify": CommandSpec(
        {
            "older_than": Option(Kind.NUMBER, "--older-than", minimum=0),
            "sample": Option(Kind.NUMBER, "--sample", minimum=0),
            "seed": Option(Kind.INT, "--seed"),
            "manifest": Option(Kind.PATH, "--manifest"),
            "workers": WORKERS,
            "debug": _flag("--debug"),
        },
        output=True,
    ),
    "export": CommandSpec(
        {
            "to": Option(Kind.PATH, "--to", required=True),
            "format": Option(Kind.CHOICE, "--format", choices=("jpeg", "webp", "avif")),
            "max_size": Option(Kind.TEXT, "--max-size"),  # "2048x2048"
            "quality": Option(Kind.INT, "--quality", minimum=1),
            "min_size": Option(Kind.NUMBER, "--min-size", minimum=0),
            "no_ratio": _flag("--no-ratio"),
            "strip_gps": _flag("--strip-gps"),
            "prune": _flag("--prune"),
            "video_transcode": _flag("--video-transcode"),
            "dryrun": _flag("--dryrun"),
            "workers": WORKERS,
            "debug": _flag("--debug"),
        },
        output=True,
    ),
    "undo": CommandSpec(
        {
            "run": Option(Kind.RUN, None),
            "dryrun": _flag("--dryrun"),
            "quarantine": Option(Kind.PATH, "--quarantine"),  # a dedupe's undo
            "journal": Option(Kind.PATH_OR_TRUE, "--journal"),  # a dedupe's undo
            "export": Option(Kind.PATH, "--export"),  # an export's undo
            "debug": _flag("--debug"),
        },
        output=True,  # unless quarantine, journal or export names what to undo
        at_most_one=("quarantine", "journal", "export"),
    ),
}


def describe_commands() -> dict[str, dict]:
    """The table as JSON: for each command, each field and what it must be."""
    described = {}
    for command, spec in COMMANDS.items():
        fields = {}
        for name, option in spec.options.items():
            what = option.kind.value
            if option.kind is Kind.CHOICE:
                what = f"one of {', '.join(option.choices)}"
            if option.minimum is not None:
                what += f", at least {option.minimum:g}"
            fields[name] = what + (" (required)" if option.required else "")
        if spec.default_dryrun:
            fields["dryrun"] += " (default true: a dry run unless false)"
        described[command] = {"fields": fields}
        if spec.one_of:
            described[command]["exactly_one_of"] = list(spec.one_of)
    return described


def _absolute(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise JobRequestError(400, f"{name}: expected {Kind.PATH.value}")
    if "\x00" in value:
        raise JobRequestError(400, f"{name}: a path with a NUL character")
    path = text_path(value)
    if not os.path.isabs(path):
        raise JobRequestError(400, f"{name}: not an absolute path: {value!r}")
    if ".." in Path(path).parts:
        raise JobRequestError(400, f"{name}: a path with '..': {value!r}")
    return path


def _check(name: str, option: Option, value: object) -> object:
    """The value checked against its option's kind (400 when it is not one)."""
    kind = option.kind
    wrong = JobRequestError(400, f"{name}: expected {kind.value}")
    if kind is Kind.FLAG:
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind in (Kind.INT, Kind.NUMBER):
        ok = int if kind is Kind.INT else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok) or not math.isfinite(value):
            raise wrong
        if option.minimum is not None and value < option.minimum:
            raise JobRequestError(400, f"{name}: at least {option.minimum:g}")
        return value
    if kind is Kind.TEXT:
        if not isinstance(value, str) or "\x00" in value or not value:
            raise wrong
        return value
    if kind is Kind.CHOICE:
        if value not in option.choices:
            raise JobRequestError(400, f"{name}: one of {', '.join(option.choices)}")
        return value
    if kind is Kind.PATH:
        return _absolute(name, value)
    if kind is Kind.PATH_OR_TRUE:
        return True if value is True else _absolute(name, value)
    if kind is Kind.PATHS:
        if not isinstance(value, list) or not value:
            raise JobRequestError(400, f"{name}: expected {kind.value}")
        return [_absolute(name, v) for v in value]
    if kind is Kind.RUN:
        if not isinstance(value, str) or not RUN_ID_PATTERN.match(value):
            raise JobRequestError(400, f"{name}: not a run id: {value!r}")
        return value
    if kind is Kind.REPORT:
        if not isinstance(value, str) or not value:
            raise wrong
        return value
    raise AssertionError(kind)  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Request:
    """A job request checked: the arguments after the command, the report it writes."""

    command: str
    options: dict
    arguments: list[str]
    report_name: str


def build_request(
    command: object, options: dict, job_id: str, library: Path, access: Access
) -> Request:
    """The command's arguments from a request's JSON options (JobRequestError otherwise)."""
    if not isinstance(command, str) or command not in COMMANDS:
        raise JobRequestError(
            400, f"unknown command {command!r}: one of {', '.join(sorted(COMMANDS))}"
        )
    spec = COMMANDS[command]
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise JobRequestError(
            400,
            f"{command} takes no option {unknown[0]!r}; it takes: {', '.join(spec.options)}",
        )
    values = {name: _check(name, spec.options[name], v) for name, v in options.items()}
    if spec.default_dryrun:
        values.setdefault("dryrun", True)
    for name, option in spec.options.items():
        if option.required and name not in values:
            raise JobRequestError(400, f"{command} needs {name!r} ({option.kind.value})")
    given = [n for n in spec.one_of if values.get(n) not in (None, False)]
    if spec.one_of and len(given) != 1:
        raise JobRequestError(400, f"{command} needs exactly one of: {', '.join(spec.one_of)}")
    given = [n for n in spec.at_most_one if values.get(n) not in (None, False)]
    if len(given) > 1:
        raise JobRequestError(400, f"{command}: {' and '.join(given)} cannot go together")
    if command == "dedupe" and values.get("delete") and not values.get("yes"):
        raise JobRequestError(400, 'dedupe "delete" deletes for good: it needs "yes": true')
    if command == "find-duplicates" and values.get("unique") and not values.get("library"):
        raise JobRequestError(400, 'find-duplicates "unique" needs "library": true')

    suffix = ".json" if values.get("format") == "json" else ".csv"
    report_name = f"{command}-{job_id}{suffix}"
    report_path = access.new_report_path(report_name)
    arguments: list[str] = []
    for name, option in spec.options.items():
        if name not in values:
            continue
        value = values[name]
        if option.kind is Kind.REPORT:
            arguments.insert(0, str(_report_path(name, value, access)))
        elif option.flag is None:
            arguments.insert(0, value)
        elif name == "library" and command == "find-duplicates":
            if value:
                arguments.append(f"--library={library}")
        elif option.kind is Kind.FLAG:
            if value:
                arguments.append(option.flag)
        elif option.kind is Kind.PATHS:
            arguments.extend(f"{option.flag}={v}" for v in value)
        elif value is True:  # PATH_OR_TRUE: the option's own default folder
            arguments.append(option.flag)
        else:
            arguments.append(f"{option.flag}={value}")
    elsewhere = ("quarantine", "journal", "export")  # an undo of a dedupe or an export
    dedupe_undo = command == "undo" and any(k in values for k in elsewhere)
    if spec.output and not dedupe_undo:
        arguments += [f"--output={library}", "--wait"]
    arguments.append(f"--report={report_path}")
    return Request(command, options, arguments, report_name)


def _report_path(name: str, value: str, access: Access) -> Path:
    """The report a request names: a ref from the report folders, or a path the app may
    read (404 for a ref that names nothing, 403 for a path outside what may be read)."""
    if value.startswith("/"):
        try:
            return access.readable(value)
        except Refused as exc:
            raise JobRequestError(403, f"{name}: {exc}") from None
    number, sep, rest = value.partition(":")
    if not sep or not number.isdigit():
        raise JobRequestError(400, f"{name}: expected {Kind.REPORT.value}, not {value!r}")
    if "/" in rest or "\\" in rest or rest in ("", ".", "..") or "\x00" in rest:
        raise JobRequestError(400, f"{name}: not a report name: {rest!r}")
    try:
        return access.report(value).path
    except Refused as exc:
        raise JobRequestError(404, f"{name}: {exc}") from None


# --- the queue ------------------------------------------------------------------------


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def _alive(pid: object, started: object) -> bool:
    """Whether process `pid` that started at `started` (ticks) still runs (not a zombie)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    ticks = start_ticks(pid)
    if ticks is None:
        return False
    return started is None or ticks == started


def _exit_code(code: int) -> int:
    return 128 - code if code < 0 else code  # killed by signal N: as a shell says it


class Jobs:
    """The job queue of one library; `start()` runs its runner thread, `stop()` ends it
    (jobs running go on; a new Jobs on the library follows them)."""

    def __init__(self, library: Path, access: Access) -> None:
        self.library = Path(library).absolute()
        self.access = access
        self.state = access.library_real / STATE_DIR
        self.folder = self.state / JOBS_DIR
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, dict] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._runner_fd: int | None = None
        self._python = sys.executable
        self._load()

    # -- files -----------------------------------------------------------------------

    def _ensure_folder(self) -> None:
        refuse_link(self.state, folder=True)
        refuse_link(self.folder, folder=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        refuse_link(self.folder, folder=True)

    def _path(self, job_id: str, suffix: str) -> str:
        return str(self.folder / f"{job_id}{suffix}")

    def _save(self, job: dict) -> None:
        self._ensure_folder()
        write_json(self._path(job["id"], ".json"), job)

    def _load(self) -> None:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            job_id = name[: -len(".json")]
            if not name.endswith(".json") or not ID_PATTERN.match(job_id):
                continue
            if job_id in self._jobs:
                continue
            job = read_json(self._path(job_id, ".json"))
            if _valid(job, job_id):
                self._jobs[job_id] = job

    # -- what the routes ask ---------------------------------------------------------

    def submit(self, command: object, options: object) -> str:
        """Queue a job; its id. JobRequestError (nothing queued) for a bad request."""
        if not isinstance(options, dict):
            raise JobRequestError(400, "the options must be a JSON object")
        with self._lock:
            job_id = self._new_id()
            request = build_request(command, options, job_id, self.library, self.access)
            report = self.access.new_report_path(request.report_name)
            job = {
                "id": job_id,
                "command": request.command,
                "options": request.options,
                "argv": [path_text(a) for a in ("photoorganiser", command, *request.arguments)],
                "args": [request.command, *request.arguments],
                "status": "queued",
                "stage": None,
                "done": None,
                "total": None,
                "eta_s": None,
                "report": f"0:{request.report_name}",
                "report_path": path_text(report),
                "log": f"{job_id}.log",
                "created": _now(),
                "created_ts": time.time(),
                "started": None,
                "finished": None,
                "exit_code": None,
                "error": None,
                "pid": None,
                "pid_start": None,
                "cancel_requested": False,
                "cancel_sent": False,
            }
            try:
                self._save(job)
            except (OSError, UnsafeStateFile) as exc:
                raise JobRequestError(500, f"cannot record the job: {exc}") from None
            self._jobs[job_id] = job
            self._wake.notify_all()
        return job_id

    def _new_id(self) -> str:
        while True:
            job_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
            if job_id not in self._jobs and not os.path.lexists(self._path(job_id, ".json")):
                return job_id

    def list(self) -> list[dict]:
        """Every job, newest first."""
        with self._lock:
            self._load()
            jobs = sorted(self._jobs.values(), key=_order, reverse=True)
            return [self._view(self._current(j)) for j in jobs]

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._find(job_id)
            return None if job is None else self._view(self._current(job))

    def _current(self, job: dict) -> dict:
        """A job as it is now. The serve that runs the jobs knows; another serve on the
        library (its jobs run by the first) reads the record and the progress again."""
        if self._runner_fd is None and job["status"] not in FINISHED:
            self._sync_from_disk(job)
            if job["status"] == "running":
                self._read_progress(job)
        return job

    def _sync_from_disk(self, job: dict) -> None:
        """The record's state as written (every change of it is written at once, so the
        file is never behind this serve's copy; it is ahead when another serve ran it)."""
        disk = read_json(self._path(job["id"], ".json"))
        if disk is None or disk.get("id") != job["id"]:
            return
        for key in (*STATE_KEYS, *OPTIONAL_KEYS):
            if key in disk:
                job[key] = disk[key]

    def _find(self, job_id: str) -> dict | None:
        if not ID_PATTERN.match(job_id):
            return None
        if job_id not in self._jobs:
            self._load()
        return self._jobs.get(job_id)

    def _view(self, job: dict) -> dict:
        view = {k: v for k, v in job.items() if k not in ("args", "pid_start", "created_ts")}
        view["report_exists"] = _regular(job["report_path"])
        return view

    def report_path(self, job_id: str) -> Path | None:
        """The job's report, once it exists and may be read (else None)."""
        with self._lock:
            job = self._find(job_id)
        if job is None:
            raise JobRequestError(404, f"no such job: {job_id}")
        try:  # only in the library's report folder, where the job writes it
            return self.access.readable(job["report_path"], [self.state / "reports"])
        except Refused:
            return None

    def log_path(self, job_id: str) -> Path:
        with self._lock:
            job = self._find(job_id)
        if job is None:
            raise JobRequestError(404, f"no such job: {job_id}")
        return Path(self._path(job_id, ".log"))

    def cancel(self, job_id: str) -> dict:
        """A queued job is cancelled at once; a running one is sent SIGINT (Ctrl-C) and is
        cancelled when its command has stopped; a finished one: 409."""
        with self._lock:
            job = self._find(job_id)
            if job is None:
                raise JobRequestError(404, f"no such job: {job_id}")
            self._sync_from_disk(job)
            if job["status"] in FINISHED:
                raise JobRequestError(409, f"the job is {job['status']} already")
            job["cancel_requested"] = True
            if job["status"] == "queued":
                job["status"] = "cancelled"
                job["finished"] = _now()
                job["error"] = "cancelled before it started"
            else:
                self._send_cancel(job)
            try:
                self._save(job)
            except (OSError, UnsafeStateFile) as exc:
                raise JobRequestError(500, f"cannot record the job: {exc}") from None
            self._wake.notify_all()
            return self._view(job)

    # -- the runner --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="photoorganiser-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._runner_fd is not None:
            os.close(self._runner_fd)  # releases the flock
            self._runner_fd = None
        with self._lock, _DETACHED_LOCK:  # jobs running go on; reaped when they end
            _DETACHED.extend(self._procs.values())
            self._procs.clear()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                try:
                    self._tick()
                except Exception:  # the runner must go on; one line in serve's log
                    log.exception("the job runner failed a step")
                self._wake.wait(TICK)

    def _hold_runner(self) -> bool:
        """Whether this serve runs the library's jobs (another serve on it may)."""
        if self._runner_fd is not None:
            return True
        try:
            self._ensure_folder()
            fd = os.open(
                self._path(RUNNER_LOCK, ""),
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
            )
        except (OSError, UnsafeStateFile):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._runner_fd = fd
        return True

    def _tick(self) -> None:
        with _DETACHED_LOCK:
            _DETACHED[:] = [p for p in _DETACHED if p.poll() is None]
        if not self._hold_runner():
            return
        self._load()
        running = [j for j in self._jobs.values() if j["status"] == "running"]
        for job in running:
            self._follow(job)
        if any(j["status"] == "running" for j in self._jobs.values()):
            return
        for job in sorted((j for j in self._jobs.values() if j["status"] == "queued"), key=_order):
            if self._stopping.is_set():
                return
            self._sync_from_disk(job)  # cancelled by another serve on the library?
            if job["status"] == "queued":
                self._launch(job)
                return

    def _launch(self, job: dict) -> None:
        job_id = job["id"]
        run_file = self._path(job_id, ".run.json")
        progress = self._path(job_id, ".progress.json")
        command = [self._python, "-m", "photoorganiser", *job["args"]]
        wrapper = [self._python, "-m", "photoorganiser.web.jobrun", run_file, "--", *command]
        env = dict(os.environ)
        env[SINK_ENV] = progress
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self._ensure_folder()
            for stale in (run_file, progress):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(stale)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
            log_fd = os.open(self._path(job_id, ".log"), flags, 0o644)
            try:
                if not stat.S_ISREG(os.fstat(log_fd).st_mode):
                    raise OSError(errno.EINVAL, "the job's log is not a regular file")
                proc = subprocess.Popen(
                    wrapper,
                    stdin=subprocess.DEVNULL,
                    stdout=log_fd,
                    stderr=log_fd,
                    cwd=str(self.state),
                    env=env,
                    start_new_session=True,
                )
            finally:
                os.close(log_fd)
        except (OSError, UnsafeStateFile) as exc:
            job.update(status="failed", finished=_now(), error=f"cannot start the job: {exc}")
            self._save(job)
            return
        self._procs[job_id] = proc
        job.update(
            status="running",
            started=_now(),
            pid=proc.pid,
            pid_start=start_ticks(proc.pid),
        )
        self._save(job)

    def _follow(self, job: dict) -> None:
        """Look at a running job: its progress, a cancel to pass on, its end."""
        job_id = job["id"]
        self._sync_from_disk(job)
        run = read_json(self._path(job_id, ".run.json")) or {}
        if job["cancel_requested"] and not job["cancel_sent"]:
            self._send_cancel(job, run)
        proc = self._procs.get(job_id)
        if proc is not None:
            wrapper_alive = proc.poll() is None
        else:
            wrapper_alive = _alive(job.get("pid"), job.get("pid_start"))
        # the command itself too: a wrapper killed alone leaves it running (and holding
        # the library), so the job is not over before it is
        ended = not wrapper_alive and not _alive(run.get("child"), run.get("child_start"))
        self._read_progress(job)
        if not ended:
            return
        self._procs.pop(job_id, None)
        run = read_json(self._path(job_id, ".run.json")) or {}
        self._finish(
            job, run.get("exit_code"), wrapper_failed=proc is not None and "child" not in run
        )

    def _send_cancel(self, job: dict, run: dict | None = None) -> None:
        """SIGINT to the wrapper, which passes it on to the command, once the command runs
        (before, the wrapper might not be ready: the next look sends it)."""
        if run is None:
            run = read_json(self._path(job["id"], ".run.json")) or {}
        if "child" not in run:
            return
        if _alive(job.get("pid"), job.get("pid_start")):
            target = job["pid"]
        elif _alive(run.get("child"), run.get("child_start")):
            target = run["child"]
        else:
            return
        with contextlib.suppress(OSError):
            os.kill(target, signal.SIGINT)
        job["cancel_sent"] = True
        self._save(job)

    def _read_progress(self, job: dict) -> None:
        state = read_json(self._path(job["id"], ".progress.json"))
        if not state:
            return
        done, total, started = state.get("done"), state.get("total"), state.get("started")
        job["stage"] = state.get("stage")
        job["done"] = done if isinstance(done, int) else None
        job["total"] = total if isinstance(total, int) else None
        job["eta_s"] = _eta(job["done"], job["total"], started)

    def _finish(self, job: dict, code: object, *, wrapper_failed: bool = False) -> None:
        self._read_progress(job)  # where the command was when it ended
        job["finished"] = _now()
        job["eta_s"] = None
        if not isinstance(code, int):
            if wrapper_failed:  # the command never started: the wrapper says why in the log
                error = self._last_line(job["id"]) or "the job could not be started"
            else:
                error = "serve or the machine stopped during the job (see its log and report)"
            job.update(status="failed", error=error)
            self._save(job)
            return
        code = _exit_code(code)
        job["exit_code"] = code
        has_report = _regular(job["report_path"])
        if code in STOP_CODES:
            name = {130: "Ctrl-C", 143: "SIGTERM", 129: "SIGHUP"}[code]
            if job["cancel_requested"]:
                job["status"] = "cancelled"
                job["error"] = (
                    "cancelled; files not reached are untouched (see the report)"
                    if has_report
                    else "cancelled before the command had begun"
                )
            else:
                job["status"] = "failed"
                job["error"] = f"stopped by {name}; files not reached are untouched"
        elif code == EXIT_OK:
            job["status"] = "done"
        elif code == EXIT_FILE_ERRORS and has_report:
            job["status"] = "done"
            job["error"] = "some files failed: see the report"
        else:
            job["status"] = "failed"
            job["error"] = self._last_line(job["id"]) or f"the command ended with status {code}"
        if has_report:
            job["outcome"] = report_outcome(job["report_path"])
        self._save(job)

    def _last_line(self, job_id: str) -> str | None:
        try:
            with open(self._path(job_id, ".log"), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 8192))
                tail = f.read()
        except OSError:
            return None
        lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line]
        return lines[-1][:500] if lines else None


# The wrappers a stopped Jobs started, still running: kept here so that they are reaped
# (not left as zombies, nor warned about) when they end, by any Jobs of this process.
_DETACHED: list[subprocess.Popen] = []
_DETACHED_LOCK = threading.Lock()


def _valid(job: dict | None, job_id: str) -> bool:
    """A job record as serve writes it (anything else in the folder is left alone)."""
    return (
        job is not None
        and job.get("id") == job_id
        and job.get("command") in COMMANDS
        and job.get("status") in ("queued", "running", *FINISHED)
        and isinstance(job.get("args"), list)
        and all(isinstance(a, str) for a in job["args"])
        and isinstance(job.get("report_path"), str)
        and all(key in job for key in STATE_KEYS)
    )


def report_outcome(path_text_: str) -> dict[str, int] | None:
    """A report's rows counted by their `status` (done, left-alone, failed, ...): what a
    finished job did, which its progress (the files it got to) does not say. None when
    the report cannot be read or has no status column."""
    try:
        _header, rows = read_rows(Path(text_path(path_text_)))
    except (OSError, ValueError):
        return None
    counts = Counter(row.get("status") or "" for row in rows)
    counts.pop("", None)
    return dict(counts) if counts else None


def _regular(path_text_: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(text_path(path_text_)).st_mode)
    except OSError:
        return False


def _order(job: dict) -> tuple:
    return (job.get("created_ts") or 0, job["id"])


def _eta(done: int | None, total: int | None, started: object) -> float | None:
    """Seconds left in the current stage at its rate so far (None when unknown)."""
    if not done or not total or not isinstance(started, (int, float)) or done >= total:
        return 0.0 if done and total and done >= total else None
    elapsed = time.time() - started
    if elapsed <= 0:
        return None
    return round((total - done) * elapsed / done, 1)

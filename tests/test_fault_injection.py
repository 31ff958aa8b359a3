"""Fault injection over real transfers: kill -9, a full disk or an I/O error at every
system call an import makes on the user's files, then a normal run; nothing is lost.

A wrapper (WRAPPER below, written to a temporary folder) runs `photoorganiser.cli.main`
in a process of its own after patching, in that process only, the `os` functions that
touch files (and execute's `renameat2`), so that the Nth call on a path or an fd inside
the library or the inbox kills the process at once (SIGKILL: no finally, no atexit) or
fails with ENOSPC or EIO. Calls on the catalog, the lock and the reports are not counted,
so N walks through the import's own work on the photos: the analysis opening them, the
folders made, every open, read, write, fsync, utime, chmod, rename and unlink of a
transfer. A clean run first counts those calls; then every N from 1 to that count is a
trial: the faulty run, the invariants, a normal run, the invariants again.

Each run is a child forked from a warm server process (the wrapper with --serve), so
that hundreds of runs take seconds. To reproduce one trial by hand, write its spec
(see the wrapper's docstring) to a file and run `python po_fault.py SPEC.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from media import make_jpeg

REPO = Path(__file__).resolve().parents[1]
TEMP_MARK = ".po-tmp-"
CLAIM_MARK = b"\0photoorganiser claim "
STATE = ".photoorganiser"
FAULTS = ("kill", "ENOSPC", "EIO")
MODES = ("move", "move-other-fs", "copy")

WRAPPER = r'''"""Run photoorganiser's CLI with a fault at the Nth system call on the user's files.

    python po_fault.py SPEC.json             one run, described by SPEC (see below)
    python po_fault.py --serve               a fork server: one JSON spec a line on stdin,
                                             each run in a forked child, one JSON result
                                             a line on stdout ({"rc": status or -signal})

SPEC: {"argv": [...], "cwd": DIR, "roots": [LIBRARY, INBOX], "skip": [DIR...],
       "nth": N (0: no fault), "fault": "kill" | "ENOSPC" | "EIO",
       "funcs": [names] (default: all), "stdout": FILE, "stderr": FILE, "log": FILE,
       "modules": FILE}

Only calls on a path (or an fd open on a path) inside one of `roots` and not inside
one of `skip` (the catalog, the lock, the reports) are counted. The Nth such call
either kills the process at once with SIGKILL (no finally, no atexit) or raises
OSError(ENOSPC / EIO) without doing anything. `log` receives every counted call
(name and path), one JSON list, when the run ends normally; `modules` the names of
the modules imported (the server then imports them too, for the next runs).
"""

import ctypes
import errno
import importlib
import json
import os
import signal
import sys

PATH_ARGS = {  # name -> positions of the path arguments; "fd": the first is an fd
    "open": (0,),
    "read": "fd",
    "readv": "fd",
    "write": "fd",
    "fsync": "fd",
    "rename": (0, 1),
    "replace": (0, 1),
    "link": (0, 1),
    "unlink": (0,),
    "utime": (0,),
    "chmod": (0,),
    "mkdir": (0,),
}
RENAMEAT2 = "renameat2"  # photoorganiser's execute._rename (two bytes paths)
EXECUTE_MODULES = ("photoorganiser.execute", "photoorganiser.importing.execute")


def install(spec):
    roots = [os.path.realpath(r) for r in spec["roots"]]
    skip = [os.path.realpath(s) for s in spec.get("skip", ())]
    funcs = set(spec.get("funcs") or [*PATH_ARGS, RENAMEAT2])
    nth, fault = spec.get("nth", 0), spec.get("fault", "kill")
    calls = []
    readlink, fspath, getcwd = os.readlink, os.fspath, os.getcwd

    def where(arg, dir_fd=None):
        if isinstance(arg, int):
            try:
                return readlink(f"/proc/self/fd/{arg}")
            except OSError:
                return None
        try:
            path = os.fsdecode(fspath(arg))
        except TypeError:
            return None
        if not os.path.isabs(path):
            base = getcwd()
            if dir_fd is not None:
                try:
                    base = readlink(f"/proc/self/fd/{dir_fd}")
                except OSError:
                    return None
            path = os.path.join(base, path)
        return os.path.normpath(path)

    def inside(path, folder):
        return path == folder or path.startswith(folder.rstrip("/") + "/")

    def concerned(paths):
        return any(
            p is not None
            and any(inside(p, r) for r in roots)
            and not any(inside(p, s) for s in skip)
            for p in paths
        )

    def hit(name, paths):
        """Count the call; True: it must fail (the process is killed here for 'kill')."""
        if name not in funcs or not concerned(paths):
            return False
        calls.append([name, *[p for p in paths if p is not None]])
        if len(calls) != nth:
            return False
        if fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        return True

    def error(paths):
        code = getattr(errno, fault)
        return OSError(code, os.strerror(code), *paths[:1])

    def wrap(name, real):
        positions = PATH_ARGS[name]

        def patched(*args, **kwargs):
            if positions == "fd":
                paths = [where(args[0])] if args else []
            else:
                dir_fd = kwargs.get("dir_fd", kwargs.get("src_dir_fd"))
                paths = [where(args[i], dir_fd) for i in positions if i < len(args)]
            if hit(name, paths):
                raise error([] if positions == "fd" else paths)  # as the real call would
            return real(*args, **kwargs)

        patched.__wrapped__ = real
        return patched

    for name in PATH_ARGS:
        setattr(os, name, wrap(name, getattr(os, name)))

    for module_name in EXECUTE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        real_rename = getattr(module, "_rename", None)
        if not callable(real_rename):
            continue

        def renameat2(a, b, real=real_rename):
            if hit(RENAMEAT2, [where(a), where(b)]):
                ctypes.set_errno(getattr(errno, fault))
                return -1
            return real(a, b)

        module._rename = renameat2
    return calls


def run(spec):
    """In this process: patch, run the CLI, return its exit status."""
    os.chdir(spec["cwd"])
    for fd, key in ((1, "stdout"), (2, "stderr")):
        if spec.get(key):
            out = os.open(spec[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
            os.close(out)
    from photoorganiser.cli import main

    calls = install(spec)
    try:
        status = main(spec["argv"])
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    if spec.get("log"):
        with open(spec["log"], "w") as f:
            json.dump(calls, f)
    if spec.get("modules"):
        with open(spec["modules"], "w") as f:
            json.dump(sorted(sys.modules), f)
    return status or 0


def preload(names):
    """Import modules once in the server, so that each forked run starts warm."""
    for name in names:
        if name.split(".")[-1] in ("__main__", "__mp_main__") or name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except BaseException:
            pass


def serve():
    preload(["photoorganiser.cli"])  # then what the first run imported (its "modules")
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # as in a process of its own
            try:
                status = run(spec)
            except BaseException:
                import traceback

                traceback.print_exc()
                status = 70
            os._exit(status if isinstance(status, int) else 1)
        hung = []

        def end_it(signum, frame, pid=pid):  # a run that hangs ends, not the tests
            hung.append(pid)
            os.kill(pid, signal.SIGKILL)

        signal.signal(signal.SIGALRM, end_it)
        signal.alarm(120)
        _, wait = os.waitpid(pid, 0)
        signal.alarm(0)
        rc = -os.WTERMSIG(wait) if os.WIFSIGNALED(wait) else os.WEXITSTATUS(wait)
        rc = "hung for 120 s" if hung else rc
        if spec.get("modules"):  # what a run imports lazily (the report's rendering...)
            with open(spec["modules"]) as f:
                preload(json.load(f))
        sys.stdout.write(json.dumps({"rc": rc}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        with open(sys.argv[1]) as f:
            sys.exit(run(json.load(f)))
'''


class Server:
    """The wrapper in --serve mode: each `run` is one CLI run in a freshly forked child."""

    def __init__(self, folder: Path) -> None:
        self.script = folder / "po_fault.py"
        self.script.write_text(WRAPPER)
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(self.script), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def run(self, spec: dict) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the fault-injection server died"
        return json.loads(line)["rc"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(tmp_path_factory.mktemp("wrapper"))
    yield srv
    srv.close()


@pytest.fixture
def tmpfs(tmp_path: Path):
    """Mount small tmpfs file systems (None where mounting is not allowed)."""
    points: list[Path] = []

    def mount(name: str) -> Path | None:
        point = tmp_path / name
        point.mkdir()
        try:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point)],
                capture_output=True,
            )
        except OSError:  # no mount command
            return None
        if done.returncode != 0:
            return None
        points.append(point)
        return point

    yield mount
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> dict[Path, bytes]:
    """Every regular file below root but the library's state folder: path -> bytes."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != STATE]
        for name in names:
            path = Path(folder) / name
            found[path] = path.read_bytes()
    return found


def is_final(path: Path) -> bool:
    return TEMP_MARK not in path.name


class Trials:
    """One mode's inbox, library and reports; `trial` runs one faulty run and checks."""

    def __init__(self, server: Server, base: Path, mode: str, library: Path) -> None:
        self.server, self.base, self.mode, self.library = server, base, mode, library
        self.template, self.inbox = base / "template", base / "inbox"
        self.report = base / "report.csv"
        old = datetime(2019, 6, 1).timestamp()
        for i in range(3):
            photo = make_jpeg(
                self.template / f"IMG_{i:04d}.jpg", datetime(2020 + i, 1, 2, 3, 4, 5), seed=i
            )
            os.utime(photo, (old, old))
        sidecar = self.template / "IMG_0000.xmp"
        sidecar.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
        os.utime(sidecar, (old, old))
        self.originals = {
            digest(data): path.name for path, data in files_under(self.template).items()
        }
        assert len(self.originals) == 4
        self.template_state = self.state_of(self.template)

    @staticmethod
    def state_of(root: Path) -> dict[str, tuple[bytes, int]]:
        return {
            str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    def reset(self) -> None:
        shutil.rmtree(self.inbox, ignore_errors=True)
        shutil.copytree(self.template, self.inbox)  # copy2: the same mtimes
        if self.library.is_mount():
            for child in self.library.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(self.library, ignore_errors=True)
        self.report.unlink(missing_ok=True)

    def spec(self, nth: int = 0, fault: str = "kill", log: Path | None = None) -> dict:
        flag = "--copy" if self.mode == "copy" else "--move"
        return {
            "argv": ["import", "--input", str(self.inbox), "--output", str(self.library), flag,
                     "--workers", "1", "--quiet", "--report", str(self.report)],
            "cwd": str(self.base),
            "roots": [str(self.library), str(self.inbox)],
            "skip": [str(self.library / STATE)],  # the catalog and the lock
            "nth": nth,
            "fault": fault,
            "stdout": str(self.base / "stdout.txt"),
            "stderr": str(self.base / "stderr.txt"),
            "log": str(log) if log else None,
        }  # fmt: skip

    def count(self) -> list[list[str]]:
        """The counted calls of a clean import (which also proves the checks hold)."""
        self.reset()
        log = self.base / "calls.json"
        spec = {**self.spec(log=log), "modules": str(self.base / "modules.json")}
        assert self.server.run(spec) == 0, self.stderr()
        self.check_finished()
        calls = json.loads(log.read_text())
        assert calls and any(c[0] == "renameat2" for c in calls), calls
        return calls

    def stderr(self) -> str:
        return (self.base / "stderr.txt").read_text(errors="replace")

    def trial(self, nth: int, fault: str) -> int:
        """The faulty run at call `nth`, then a normal run; returns the faulty run's status."""
        self.reset()
        status = self.server.run(self.spec(nth, fault))
        err = self.stderr()
        if fault == "kill":
            assert status == -9, f"not killed (status {status}): {err}"
        else:
            assert status in (0, 1), f"status {status}: {err}"
            assert "Traceback" not in err, err
        self.check_nothing_lost()
        again = self.server.run(self.spec())
        err = self.stderr()
        assert again == 0 and "Traceback" not in err, f"the next run: status {again}: {err}"
        self.check_finished()
        return status

    def check_nothing_lost(self) -> None:
        """Right after the fault: every photo in the inbox or the library, nothing partial
        or doubled under a final name (temporary files and a claim may wait for the next run)."""
        inbox, library = files_under(self.inbox), files_under(self.library)
        for path, data in inbox.items():
            assert digest(data) in self.originals, f"the inbox's {path} was changed"
        final: dict[str, Path] = {}
        for path, data in library.items():
            if not is_final(path) or data.startswith(CLAIM_MARK):
                continue
            key = digest(data)
            assert key in self.originals, f"{path} holds a partial or foreign file"
            assert key not in final, f"{path} and {final[key]} hold the same content"
            final[key] = path
        present = {digest(d) for d in inbox.values()} | set(final)
        lost = [name for key, name in self.originals.items() if key not in present]
        assert not lost, f"lost: {lost}"

    def check_finished(self) -> None:
        inbox, library = files_under(self.inbox), files_under(self.library)
        leftovers = [p for p in [*inbox, *library] if not is_final(p)]
        leftovers += [p for p, d in [*inbox.items(), *library.items()] if CLAIM_MARK in d[:64]]
        assert not leftovers, f"left behind: {leftovers}"
        placed = {}
        for path, data in library.items():
            key = digest(data)
            assert key in self.originals, f"{path} holds a partial or foreign file"
            assert key not in placed, f"{path} and {placed[key]} hold the same content"
            placed[key] = path
        assert set(placed) == set(self.originals), "not every photo is in the library"
        if self.mode == "copy":
            assert self.state_of(self.inbox) == self.template_state, "the inbox was changed"
        else:
            assert not inbox, f"still in the inbox: {sorted(inbox)}"
        by_name = {name: placed[key] for key, name in self.originals.items()}
        photo, sidecar = by_name["IMG_0000.jpg"], by_name["IMG_0000.xmp"]
        assert (sidecar.parent, sidecar.stem) == (photo.parent, photo.stem)
        on_disk = {str(p.relative_to(self.library)): len(d) for p, d in library.items()}
        uri = (self.library / STATE / "catalog.sqlite").as_uri() + "?mode=ro"
        with sqlite3.connect(uri, uri=True) as conn:
            catalog = dict(conn.execute("SELECT path, size FROM files"))
            intents = conn.execute("SELECT count(*) FROM journal WHERE state = 'intent'")
            assert intents.fetchone()[0] == 0, "intents left in the journal"
        conn.close()
        assert catalog == on_disk


def where(calls: list[list[str]], nth: int) -> str:
    name, *paths = calls[nth - 1]
    return f"call {nth} {name}({', '.join(Path(p).name for p in paths)})"


def transfers_start(calls: list[list[str]], inbox: Path) -> int:
    """The index (from 1) of the first call after the analysis (which only opens the inbox's
    files): where the execute stage begins."""
    analysing = [c[0] == "open" and Path(c[1]).parent == inbox for c in calls]
    return analysing.index(False, analysing.index(True)) + 1


def photo_transfer(calls: list[list[str]], inbox: Path) -> list[int]:
    """The calls of the first photo's transfer (IMG_0000.jpg, whose sidecar follows it):
    from the first folder made to the rename giving it its final name."""
    start = transfers_start(calls, inbox)
    end = next(
        i
        for i, c in enumerate(calls, 1)
        if c[0] == "renameat2" and c[-1].endswith("_IMG_0000.jpg") and TEMP_MARK in c[1]
    )
    return list(range(start, end + 1))


def source_removals(calls: list[list[str]], inbox: Path) -> list[int]:
    """The unlink of each source once its verified copy is in place (a move to another
    file system)."""
    return [i for i, c in enumerate(calls, 1) if c[0] == "unlink" and Path(c[1]).parent == inbox]


@dataclass(frozen=True)
class Regression:
    """A bug this suite found (now fixed): its trials are run on their own too."""

    mode: str
    faults: tuple[str, ...]
    trials: Callable[[list[list[str]], Path], list[int]]  # the calls whose fault showed it
    reason: str


REGRESSIONS = {
    "sidecar-copied-twice": Regression(
        "copy",
        ("ENOSPC", "EIO"),
        photo_transfer,
        "--copy: when the transfer of a photo fails (ENOSPC or EIO at any call from making its"
        " folder to the renameat2 publishing it: mkdir, open, readv, write, fsync, utime,"
        " chmod, renameat2), its .xmp sidecar is copied into the library all the same, beside"
        " no photo; the next run then files the photo as 20200102_030405_IMG_0000_1.jpg and"
        " copies the sidecar a second time as 20200102_030405_IMG_0000_1.xmp: the library"
        " holds the sidecar twice, one copy orphaned",
    ),
    "source-kept-after-failed-unlink": Regression(
        "move-other-fs",
        ("ENOSPC", "EIO"),
        source_removals,
        "--move to another file system: when unlinking a source fails after its verified copy"
        " was published (EIO or ENOSPC at os.unlink of the inbox file), the run says 'copied"
        " and verified into the library, but the original could not be removed' (right), but"
        " every later run files that source as skip-exists 'already in the library; left in"
        " place' and never removes it, although the catalog records that very source as the"
        " one copied (after a kill -9 at the same call, recovery does remove it): the move"
        " never completes and the inbox keeps the photo for ever",
    ),
}


def known(mode: str, fault: str, calls: list[list[str]], inbox: Path) -> set[int]:
    return {
        nth
        for bug in REGRESSIONS.values()
        if bug.mode == mode and fault in bug.faults
        for nth in bug.trials(calls, inbox)
    }


def setup_trials(server: Server, tmp_path: Path, tmpfs, mode: str) -> Trials:
    # On a tmpfs, fsync costs nothing: the hundreds of runs stay fast (the file systems'
    # calls are real all the same). Without mount rights, the same-fs trials run in tmp_path.
    work = tmpfs("work") or tmp_path
    library = work / "library"
    if mode == "move-other-fs":
        library = tmpfs("library")
        if library is None:
            pytest.skip("cannot mount a tmpfs for the library here (needs root)")
    return Trials(server, work, mode, library)


@pytest.mark.kill
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("mode", MODES)
def test_a_fault_at_any_call_loses_nothing(
    server: Server, tmp_path: Path, tmpfs, mode: str, fault: str
) -> None:
    trials = setup_trials(server, tmp_path, tmpfs, mode)
    calls = trials.count()
    skipped: set[int] = set()  # every call, the fixed bugs' included
    harmless, failures = [], []
    for nth in range(1, len(calls) + 1):
        try:
            if trials.trial(nth, fault) == 0 and fault != "kill":
                harmless.append(nth)
        except AssertionError as exc:
            failures.append(f"{where(calls, nth)}: {exc}")
    assert not failures, "\n".join(failures)
    # A fault the run may shrug off: only flushing a folder (not every file system can).
    for nth in harmless:
        name, path = calls[nth - 1][:2]
        assert name in ("open", "fsync") and Path(path).is_dir(), where(calls, nth)
    print(
        f"{mode} {fault}: {len(calls) - len(skipped)} trials; exit 0 at"
        f" {[where(calls, nth) for nth in harmless]}"
    )


@pytest.mark.kill
@pytest.mark.parametrize(
    "bug, fault",
    [
        pytest.param(name, fault, id=f"{name}-{fault}")
        for name, bug in REGRESSIONS.items()
        for fault in bug.faults
    ],
)
def test_a_bug_it_found_stays_fixed(
    server: Server, tmp_path: Path, tmpfs, bug: str, fault: str
) -> None:
    mode = REGRESSIONS[bug].mode
    trials = setup_trials(server, tmp_path, tmpfs, mode)
    calls = trials.count()
    failures = []
    for nth in sorted(known(mode, fault, calls, trials.inbox)):
        try:
            trials.trial(nth, fault)
        except AssertionError as exc:
            failures.append(f"{where(calls, nth)}: {exc}")
    assert not failures, "\n".join(failures)

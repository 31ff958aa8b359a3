"""The tiny process between `serve` and a job's command:
`python -m photoorganiser.web.jobrun RUNFILE -- python -m photoorganiser COMMAND ...`.

serve starts it in a session of its own, so the job goes on when serve stops (a closed
terminal, a restart). It starts the command (its stdout and stderr are the job's log,
inherited), records in RUNFILE (JSON, replaced atomically) its own pid, the command's
pid and, when the command ends, its exit status: serve cannot wait() for a process that
is not its child, so after a restart it reads the exit status here. SIGINT and SIGTERM
are not its own: they are forwarded to the command (a job cancelled stops as Ctrl-C
stops it: the file in hand finished, the report written); SIGHUP is ignored.

Only the standard library, imported quickly: this runs before every job.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time


def write_json(path: str, data: dict) -> None:
    """`data` as JSON at `path`, atomically: a temporary file created exclusively, never
    through a link, then renamed over `path` (a link there is replaced, never followed)."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644)
    try:
        try:
            os.write(fd, json.dumps(data, indent=1).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: str) -> dict | None:
    """The JSON object at `path` (a regular file, not followed through a link), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        data = json.loads(b"".join(chunks))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22), or
    None when it is gone or a zombie: with the pid, it names one process (pids are reused)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()
    if not fields or fields[0] == b"Z":
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m photoorganiser.web.jobrun RUNFILE -- COMMAND...", file=sys.stderr)
        return 2
    run_file, command = argv[0], argv[2:]
    child: subprocess.Popen | None = None
    pending: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if child is None:
            pending.append(signum)
        else:
            with contextlib.suppress(OSError):
                child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    me = {"wrapper": os.getpid(), "wrapper_start": start_ticks(os.getpid())}
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, restore_signals=True)
    except OSError as exc:
        print(f"photoorganiser: cannot start the job: {exc}", file=sys.stderr, flush=True)
        write_json(run_file, me | {"exit_code": 127, "finished": time.time()})
        return 0
    for signum in pending:
        with contextlib.suppress(OSError):
            child.send_signal(signum)
    me |= {"child": child.pid, "child_start": start_ticks(child.pid), "started": time.time()}
    write_json(run_file, me)
    code = child.wait()
    write_json(run_file, me | {"exit_code": code, "finished": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

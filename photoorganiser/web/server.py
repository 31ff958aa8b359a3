"""`photoorganiser serve`: the web app on 127.0.0.1, a free port if asked (`--port 0`),
a random token; its first line of output is the address to open."""

from __future__ import annotations

import signal
import socket
import sys
import webbrowser
from pathlib import Path

import uvicorn

from ..library.catalog import STATE_DIR
from .app import create_app
from .context import WebConfig
from .security import new_token


class ServeError(Exception):
    """serve cannot start (a library that is not a folder, a port taken)."""


def report_dirs_of(library: Path, extra: list[Path]) -> tuple[Path, ...]:
    dirs = [library / STATE_DIR / "reports", *extra]
    seen: list[Path] = []
    for d in dirs:
        if d.absolute() not in seen:
            seen.append(d.absolute())
    return tuple(seen)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


def serve(
    library: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    report_dirs: list[Path] | None = None,
    open_browser: bool = False,
    token: str | None = None,
) -> int:
    if not library.is_dir():
        raise ServeError(f"--output {library}: not a folder (import into it first)")
    sock = bind(host, port)
    port = sock.getsockname()[1]
    config = WebConfig(
        library=library.absolute(),
        report_dirs=report_dirs_of(library.absolute(), report_dirs or []),
        token=token or new_token(),
        host=host,
        port=port,
    )
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/?token={config.token}"
    print(address, flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}, not only this machine", file=sys.stderr)
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    if open_browser:
        webbrowser.open(address)
    # uvicorn stops gracefully on SIGINT/SIGTERM (jobs keep running: they are their own
    # processes), then raises the signal again for the handlers it found: a stop asked
    # for is a clean exit, so those are quiet here.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped)
    server.run(sockets=[sock])
    return 0


def _stopped(signum, frame) -> None:
    pass

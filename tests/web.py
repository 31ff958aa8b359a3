"""Helpers for the web app's tests: an app with a known token (TestClient), a live
server in a thread (for the browser), and Debian's Chromium through Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from starlette.testclient import TestClient

from photoorganiser.web.app import create_app
from photoorganiser.web.context import WebConfig
from photoorganiser.web.server import report_dirs_of

TOKEN = "test-token-0123456789"
PORT = 8765
ARTIFACTS = Path(
    os.environ.get("PHOTOORGANISER_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)


def config_for(library: Path, reports: list[Path] | None = None, port: int = PORT) -> WebConfig:
    return WebConfig(
        library=library.absolute(),
        report_dirs=report_dirs_of(library.absolute(), reports or []),
        token=TOKEN,
        host="127.0.0.1",
        port=port,
    )


@contextlib.contextmanager
def client(
    library: Path, reports: list[Path] | None = None, *, auth: bool = True, start_jobs: bool = True
) -> Iterator[TestClient]:
    """A TestClient on the app; `auth` sends the token as a Bearer header."""
    app = create_app(config_for(library, reports), start_jobs=start_jobs)
    headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}", headers=headers) as c:
        yield c


@contextlib.contextmanager
def live_server(library: Path, reports: list[Path] | None = None) -> Iterator[str]:
    """The app served by uvicorn in a thread; yields the address with the token."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(config_for(library, reports, port=port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/?token={TOKEN}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(page, name: str) -> Path:
    """Keep a screenshot as a test artefact (test-artifacts/screenshots/NAME.png)."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- jobs -------------------------------------------------------------------------

FINISHED = ("done", "failed", "cancelled")


def submit(c: TestClient, command: str, **options: object) -> str:
    r = c.post("/api/jobs", json={"command": command, **options})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait(c: TestClient, job_id: str, until=FINISHED, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in until:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)

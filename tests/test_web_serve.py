"""`photoorganiser serve`: its first line is the address with the token, it listens on
127.0.0.1 only, refuses a bad library or a taken port with one line, stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ADDRESS = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{32,})$")


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "photoorganiser", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_first_line_is_the_address_and_sigterm_stops_it(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    proc = start("--output", str(lib), "--port", "0")
    try:
        line = proc.stdout.readline().rstrip("\n")
        m = ADDRESS.match(line)
        assert m, line
        port, token = int(m.group(1)), m.group(2)
        with urllib.request.urlopen(line, timeout=10) as r:
            assert r.status == 200
            assert "photoorganiser" in r.read().decode()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
            raise AssertionError("served without the token")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        # 127.0.0.1 only: not on the machine's other addresses
        with socket.socket() as s:
            s.settimeout(2)
            for host in {
                a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
            }:
                if host.startswith("127."):
                    continue
                assert s.connect_ex((host, port)) != 0
        second = start("--output", str(lib), "--port", "0")
        other = second.stdout.readline()
        second.send_signal(signal.SIGTERM)
        second.wait(30)  # (a loaded machine: a server starts and stops slowly)
        assert ADDRESS.match(other.strip()).group(2) != token  # a new token each time
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_a_bad_library_or_a_taken_port_is_one_line(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "photoorganiser", "serve", "--output", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert len(missing.stderr.strip().splitlines()) == 1 and "not a folder" in missing.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [
                sys.executable,
                "-m",
                "photoorganiser",
                "serve",
                "--output",
                str(tmp_path),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert busy.returncode == 2
    assert len(busy.stderr.strip().splitlines()) == 1 and "cannot listen" in busy.stderr

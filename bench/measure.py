"""Shared by the benchmarks: run a command, time it, sample the peak memory of its
whole process tree (pool workers included), and print comparison tables."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    label: str
    seconds: float
    peak_rss_mb: float  # the process tree's summed resident memory, sampled every 20 ms
    returncode: int
    stdout: str = ""


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found = []
        for task in tasks:
            text = (task / "children").read_text().split()
            found.extend(int(c) for c in text)
        return found
    except OSError:
        return []


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(_children(pid))
    return total


def run(label: str, cmd: list[str], *, cwd: Path | None = None, shell: bool = False) -> Run:
    """Run `cmd` to completion; wall time and peak tree RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd if not shell else " ".join(cmd),
        cwd=cwd,
        shell=shell,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return Run(label, seconds, peak / 1024, proc.returncode, out)


def drop_caches() -> bool:
    """Empty the page cache (root only) so a run reads from the disk. False if not allowed."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def table(rows: list[Run], files: int, megabytes: float, baseline: str) -> str:
    """Files/s, MB/s, peak memory and the ratio of wall time to the baseline row."""
    base = next((r.seconds for r in rows if r.label == baseline), None)
    lines = [
        f"{'run':<44} {'seconds':>8} {'files/s':>9} {'MB/s':>8} {'peak MB':>8}"
        f" {'x ' + baseline:>12}",
        "-" * 94,
    ]
    for r in rows:
        ratio = f"{r.seconds / base:.2f}" if base else "-"
        flag = "" if r.returncode == 0 else f"  (exit {r.returncode})"
        lines.append(
            f"{r.label:<44} {r.seconds:>8.2f} {files / r.seconds:>9.0f} "
            f"{megabytes / r.seconds:>8.1f} {r.peak_rss_mb:>8.0f} {ratio:>12}{flag}"
        )
    return "\n".join(lines)

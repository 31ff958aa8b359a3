"""dedupe: the time to act on a find-duplicates report, by quarantine and by hard link.

    python bench/bench_dedupe.py [--files 60000] [--workers N] [--tmp DIR]

Generates the tree (bench/make_tree.py, without the big files), runs find-duplicates
once, then on a fresh copy of the tree each time (hard links of the pristine tree are
not used: cp -a), times `dedupe --quarantine` and `dedupe --hardlink` (wall time, warm
cache, every duplicate read again and checked against the report's hash, journalled).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def po(*args: str, env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "photoorganiser", *args, "--quiet"],
        check=True,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def main() -> None:
    from make_tree import make_tree

    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tmp", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        base = Path(tmp)
        pristine = base / "pristine"
        make_tree(pristine, args.files, big=False)
        report = base / "dups.csv"
        found = po("find-duplicates", "--input", str(pristine), "--report", str(report),
                   "--workers", str(args.workers))  # fmt: skip
        from photoorganiser.duplicates.report import read_report

        rows = read_report(report)
        dups = sum(r.keep is False for r in rows)
        print(f"tree: {args.files} files, {dups} duplicates to act on"
              f" (find-duplicates {found:.1f} s)")  # fmt: skip
        env = {**os.environ, "XDG_STATE_HOME": str(base / "state")}
        for how in ("quarantine", "hardlink"):
            tree = base / "in"
            if tree.exists():
                shutil.rmtree(tree)
            subprocess.run(["cp", "-a", str(pristine), str(tree)], check=True)
            edited = base / f"dups-{how}.csv"
            text = report.read_text(encoding="utf-8").replace(str(pristine), str(tree))
            edited.write_text(text, encoding="utf-8")
            for path in tree.rglob("*"):  # warm the page cache
                if path.is_file():
                    path.read_bytes()
            action = ["--quarantine", str(base / "q")] if how == "quarantine" else ["--hardlink"]
            seconds = po("dedupe", str(edited), *action, "--report", str(base / f"{how}.csv"),
                         "--workers", str(args.workers), env=env)  # fmt: skip
            print(f"dedupe --{how}: {dups} duplicates in {seconds:.1f} s"
                  f" ({dups / seconds:,.0f} files/s)")  # fmt: skip


if __name__ == "__main__":
    main()

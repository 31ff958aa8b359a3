"""Execute's two rows of the table, paired against another checkout (e.g. main).

    python bench/bench_execute.py move --base /path/to/main-checkout [--files 30000] [--runs 3]
    python bench/bench_execute.py copy --base /path/to/main-checkout [--photos 500] [--runs 3]
    python bench/bench_execute.py move-other --base /path/to/main-checkout [--photos 500]

move: a first `import --move` of many small files (bench_table's row 5) by this checkout and
by --base, and the Python os.rename loop, each from a fresh copy of the same tree.
copy: `import --copy` + sync of ~2.5 MB JPEGs (row 3) by both, and `cp -r` + sync; each
side starts alike: no copy on the disk (removals synced, a second for the discards), the
photos in the page cache.
move-other: `import --move` of the same photos from another file system (a tmpfs, like a
memory card whose reads cost no disk time; needs root to mount it) into a library on this
disk, each copy verified before its source is removed, against `mv` + sync from the same
tmpfs; each side starts from a fresh copy of the photos on the tmpfs.

The order of the two checkouts alternates run by run; medians of the runs; ratios to the
peer, and the CPU seconds of each run's process tree (steadier than wall time on a shared
machine: wall time = CPU + waiting for the disk and for a core).
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MOVER = (
    "import os,sys\n"
    "src,dst=sys.argv[1:]\n"
    "for d,_,names in os.walk(src):\n"
    "  t=os.path.join(dst,os.path.relpath(d,src));os.makedirs(t,exist_ok=True)\n"
    "  for n in names: os.rename(os.path.join(d,n),os.path.join(t,n))\n"
)


def timed(cmd: list[str] | str, env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the whole process tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, shell=isinstance(cmd, str), capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed ({done.returncode}): {done.stderr[-800:]!r}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("row", choices=["move", "copy", "move-other"])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--files", type=int, default=30_000)
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    checkouts = {"this": HERE.parent, "base": args.base.resolve()}
    for tree in checkouts.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "photoorganiser")],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="po-execute-", dir=args.workdir))
    wall: dict[str, list[float]] = {"this": [], "base": [], "peer": []}
    cpu: dict[str, list[float]] = {"this": [], "base": []}
    mounted: list[Path] = []

    def po(name: str, *more: str) -> tuple[list[str], dict]:
        env = {**os.environ, "PYTHONPATH": str(checkouts[name])}
        cmd = [sys.executable, "-m", "photoorganiser", "import", "--quiet", "--workers", "2",
               "--report-dir", str(work / "reports"), *more]  # fmt: skip
        return cmd, env

    def record(name: str, seconds: tuple[float, float]) -> None:
        wall[name].append(seconds[0])
        if name in cpu:
            cpu[name].append(seconds[1])

    def synced_runs(start, source: Path, lib: Path, flag: str, peer_cmd: str, check=None) -> None:
        """Each checkout's `import FLAG` of `source` and the peer's command, each followed by
        sync and each after `start()`, in an order that alternates from run to run."""
        for i in range(args.runs):
            sides = ("this", "base", "peer") if i % 2 == 0 else ("peer", "base", "this")
            for name in sides:
                start()
                if name == "peer":
                    record(name, timed(f"{peer_cmd} && sync"))
                    continue
                cmd, env = po(name, "--input", str(source), "--output", str(lib), flag)
                record(name, timed(shlex.join(cmd) + " && sync", env))
                if check is not None:
                    check(name)

    try:
        if args.row == "move":
            from bench_nightly import base_jpeg
            from bench_nightly import generate as generate_small

            tiny, src, lib, out = work / "tiny", work / "in", work / "lib", work / "out"
            generate_small(tiny, args.files, 0, base_jpeg(1))

            def fresh() -> None:
                for p in (src, lib, out):
                    shutil.rmtree(p, ignore_errors=True)
                subprocess.run(["cp", "-r", str(tiny), str(src)], check=True)
                os.sync()

            for i in range(args.runs):
                for name in ("this", "base") if i % 2 == 0 else ("base", "this"):
                    fresh()
                    cmd, env = po(name, "--input", str(src), "--output", str(lib), "--move")
                    record(name, timed(cmd, env))
                    if any(p.is_file() for p in src.rglob("*")):
                        raise SystemExit(f"{name}: import --move left files in the inbox")
                fresh()
                record("peer", timed([sys.executable, "-c", MOVER, str(src), str(out)]))
            peer = f"os.rename loop, {args.files:,} files"
        elif args.row == "move-other":
            from bench_import import generate as generate_photos

            card, lib, mv_out = work / "card", work / "lib", work / "mv"
            card.mkdir()
            size = f"size={int(args.photos * 2.5 * 2.2) + 64}m"
            if subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(card)]).returncode:
                raise SystemExit("move-other needs to mount a tmpfs (root)")
            mounted.append(card)
            master, inbox = card / "master", card / "in"
            generate_photos(master, args.photos, 2.5)

            def fresh_card() -> None:
                for p in (lib, mv_out, inbox):
                    shutil.rmtree(p, ignore_errors=True)
                subprocess.run(["cp", "-r", str(master), str(inbox)], check=True)
                os.sync()
                time.sleep(1)

            def emptied(name: str) -> None:
                if any(p.is_file() for p in inbox.rglob("*")):
                    raise SystemExit(f"{name}: import --move left files on the card")

            synced_runs(fresh_card, inbox, lib, "--move", f"mv {inbox} {mv_out}", emptied)
            peer = f"mv (tmpfs to disk) + sync, {args.photos} photos"
        else:
            from bench_import import generate as generate_photos

            photos, lib, cp_out = work / "photos", work / "lib", work / "cp"
            generate_photos(photos, args.photos, 2.5)
            warm = f"find {photos} -type f -print0 | xargs -0 cat > /dev/null"

            def same_start() -> None:
                for p in (lib, cp_out):
                    shutil.rmtree(p, ignore_errors=True)
                os.sync()
                time.sleep(1)
                subprocess.run(warm, shell=True, check=True)

            synced_runs(same_start, photos, lib, "--copy", f"cp -r {photos} {cp_out}")
            peer = f"cp -r + sync, {args.photos} photos"
        med = {k: statistics.median(v) for k, v in wall.items()}
        print(f"{args.row}: medians of {args.runs} (wall s): " + ", ".join(
            f"{k} {v:.2f}" for k, v in med.items()))  # fmt: skip
        for name in ("this", "base"):
            seconds = ", ".join(f"{c:.2f}" for c in cpu[name])
            print(f"  {name}: {med[name] / med['peer']:.2f}x {peer}; CPU s of its runs {seconds}")
        for name, runs in wall.items():  # the noise: each run's wall time, in order
            print(f"  {name} runs (wall s): " + ", ".join(f"{w:.2f}" for w in runs))
        pairs = [t / b for t, b in zip(wall["this"], wall["base"], strict=True)]
        print("  this / base, run by run: " + ", ".join(f"{r:.2f}" for r in pairs))
        print(f"  this / base: {med['this'] / med['base']:.2f}")
    finally:
        for point in mounted:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

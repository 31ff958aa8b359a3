"""Exact duplicates: photoorganiser vs jdupes vs rmlint on one generated tree.

    python bench/bench_duplicates.py [--files 20000] [--no-big] [--runs 3] [--tree DIR]
                                     [--against CHECKOUT]

Generates the tree (bench/make_tree.py) in a temp dir, warms the page cache, then
runs the tools in turn, `--runs` rounds (paired: one run of each tool per round, so a
busy moment of the machine hits them all; medians, warm cache; a tool that is not
installed is left out, and the bench says so), checks that each finds exactly the
tree's true duplicate groups, and prints files/s, MB/s, CPU seconds (user + system,
the fairer figure on a busy machine), peak memory (RUSAGE_CHILDREN of a wrapper
process around each run: the largest process) and the wall-time ratios. `--against` adds
photoorganiser from another checkout (e.g. a worktree of main) to every round, so two
versions are measured paired, under the same load; the load average is printed before
and after (2 shared cores: quote ratios, and repeat when it is high). Last, the fixed
cost of photoorganiser (and of `--against`): the same command on an empty folder, which
is start-up, imports and exit only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def measure(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> dict[str, float]:
    """Run `cmd` in a fresh wrapper process; its wall time, CPU time and peak RSS (MB).
    Run in `cwd`: a folder without a package in it (`python -m` looks in its working
    folder first, before PYTHONPATH)."""
    wrapper = (
        "import json,resource,subprocess,sys,time\n"
        "t=time.perf_counter()\n"
        "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL)\n"
        "w=time.perf_counter()-t\n"
        "u=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "m=u.ru_maxrss/1024\n"
        "c=u.ru_utime+u.ru_stime\n"
        "print(json.dumps({'wall':w,'cpu':c,'rss':m,'rc':r.returncode}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd],
        check=True, capture_output=True, text=True, env=env, cwd=cwd,
    )  # fmt: skip
    return json.loads(out.stdout)


def ours_groups(report: Path) -> set[frozenset[str]]:
    from photoorganiser.duplicates.report import read_report

    groups: dict[int, set[str]] = defaultdict(set)
    for row in read_report(report):
        if row.kind.value == "exact":
            groups[row.group_id].add(row.path)
    return {frozenset(g) for g in groups.values()}


def jdupes_groups(root: Path) -> set[frozenset[str]]:
    out = subprocess.run(["jdupes", "-r", "-q", str(root)], capture_output=True, text=True)
    groups, current = set(), []
    for line in out.stdout.splitlines() + [""]:
        if line.strip():
            current.append(line)
        elif current:
            groups.add(frozenset(current))
            current = []
    return groups


def rmlint_groups(json_path: Path) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for item in json.loads(json_path.read_text()):
        if item.get("type") == "duplicate_file":
            groups[item["checksum"]].add(item["path"])
    return {frozenset(g) for g in groups.values()}


def warm(root: Path) -> tuple[int, int]:
    files = total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                while chunk := f.read(8 << 20):
                    total += len(chunk)
            files += 1
    return files, total


def fixed_costs(
    tools: dict[str, list[str]], envs: dict[str, dict[str, str]], root: Path, tmp: Path, runs: int
) -> None:
    """What photoorganiser costs before and after the work (start-up, imports, exit): the
    same command on an empty folder, paired as the rounds are; medians of wall and CPU."""
    empty, report = tmp / "empty", tmp / "empty.csv"
    empty.mkdir(exist_ok=True)
    mine = [name for name in ("photoorganiser", "against") if name in tools]
    done: dict[str, list[dict[str, float]]] = {name: [] for name in mine}
    for round_ in range(runs):
        for name in mine if round_ % 2 == 0 else mine[::-1]:
            cmd = [str(empty) if c == str(root) else c for c in tools[name]]
            cmd[cmd.index("--report") + 1] = str(report)
            done[name].append(measure(cmd, envs.get(name, {**os.environ}), cwd=tmp))
    said = ", ".join(
        f"{name} {statistics.median(r['wall'] for r in runs_):.3f} s"
        f" (cpu {statistics.median(r['cpu'] for r in runs_):.3f} s)"
        for name, runs_ in done.items()
    )
    print(f"fixed cost (the same command on an empty folder, median of {runs}): {said}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--no-big", action="store_true", help="leave out the 50-200 MB files")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--tree", type=Path, help="generate (or reuse) the tree here")
    parser.add_argument(
        "--against", type=Path, metavar="CHECKOUT",
        help="also run photoorganiser from this checkout (its repository folder), paired",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    from make_tree import make_tree

    tmp = Path(tempfile.mkdtemp(prefix="bench-dups-"))
    root = (args.tree or tmp / "tree").resolve()
    try:
        t = time.perf_counter()
        expected_rel = make_tree(root, args.files, big=not args.no_big)
        expected = {frozenset(str(root / p) for p in g) for g in expected_rel}
        print(f"tree: {root} (made in {time.perf_counter() - t:.1f} s)")
        files, total = warm(root)
        print(f"{files} files, {total / 1e6:.0f} MB, {len(expected)} true duplicate groups")

        report = tmp / "ours.csv"
        rm_json = tmp / "rmlint.json"
        ours = [sys.executable, "-m", "photoorganiser", "find-duplicates", "--input", str(root),
                "--report", str(report), "--quiet"]  # fmt: skip
        if args.workers:
            ours += ["--workers", str(args.workers)]
        tools = {
            "photoorganiser": ours,
            "jdupes -r": ["jdupes", "-r", "-q", str(root)],
            "rmlint": ["rmlint", "-T", "df", "-o", f"json:{rm_json}", str(root)],
        }
        envs: dict[str, dict[str, str]] = {}
        their_report = tmp / "against.csv"
        if args.against:  # the same command, its package from the other checkout
            other = args.against.resolve()
            theirs = [*ours]
            theirs[theirs.index(str(report))] = str(their_report)
            tools = {"photoorganiser": ours, "against": theirs, **dict(list(tools.items())[1:])}
            envs["against"] = {**os.environ, "PYTHONPATH": str(other)}
            package = str(other / "photoorganiser")
            subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        for name, cmd in list(tools.items())[1:]:
            if name != "against" and shutil.which(cmd[0]) is None:
                print(f"{name}: {cmd[0]} is not installed, left out")
                del tools[name]
        os.environ["PYTHONPATH"] = str(REPO)
        # Byte-compiled first, as an installed package is: with PYTHONDONTWRITEBYTECODE set
        # (some shells and CI set it) every run would compile our modules again (~0.1 s).
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "photoorganiser")],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in tools}
        for round_ in range(args.runs):  # paired: each round runs every tool once,
            order = list(tools.items())  # in turn first and last (no tool always follows
            shift = round_ % len(order)  # another's heavy run)
            for name, cmd in order[shift:] + order[:shift]:
                if name == "photoorganiser":  # each run writes its report anew
                    report.unlink(missing_ok=True)
                elif name == "against":
                    their_report.unlink(missing_ok=True)
                # (os.environ carries PYTHONPATH=REPO; "against" its own)
                run = measure(cmd, envs.get(name, {**os.environ}), cwd=tmp)
                if name in ("photoorganiser", "against") and run["rc"] != 0:
                    sys.exit(f"{name} failed (exit status {run['rc']:.0f})")
                runs[name].append(run)
        results = {
            name: {
                "wall": statistics.median(r["wall"] for r in done),
                "cpu": statistics.median(r["cpu"] for r in done),
                "rss": max(r["rss"] for r in done),
            }
            for name, done in runs.items()
        }
        readers = {
            "photoorganiser": lambda: ours_groups(report),
            "against": lambda: ours_groups(their_report),
            "jdupes -r": lambda: jdupes_groups(root),
            "rmlint": lambda: rmlint_groups(rm_json),
        }
        found = {name: readers[name]() for name in tools}
        base = results["photoorganiser"]["wall"]
        base_cpu = results["photoorganiser"]["cpu"]
        print(f"\n{'tool':<16}{'wall s':>8}{'files/s':>10}{'MB/s':>9}{'cpu s':>8}{'peak MB':>9}"
              f"{'x ours':>8}{'cpu x':>7}  groups")  # fmt: skip
        for name, r in results.items():
            ok = "same as truth" if found[name] == expected else "DIFFERENT"
            print(
                f"{name:<16}{r['wall']:>8.2f}{files / r['wall']:>10.0f}"
                f"{total / 1e6 / r['wall']:>9.0f}{r['cpu']:>8.2f}{r['rss']:>9.0f}"
                f"{r['wall'] / base:>8.2f}{r['cpu'] / base_cpu:>7.2f}  {len(found[name])} {ok}"
            )
        for name, done in runs.items():
            walls = " ".join(f"{r['wall']:.2f}" for r in done)
            cpus = " ".join(f"{r['cpu']:.2f}" for r in done)
            print(f"  {name}: wall {walls}; cpu {cpus}")
        for name, r in results.items():
            if name != "photoorganiser":
                print(f"photoorganiser / {name}: wall {base / r['wall']:.2f}x,"
                      f" cpu {base_cpu / r['cpu']:.2f}x")  # fmt: skip
        if any(g != expected for g in found.values()):
            for name, g in found.items():
                print(name, "missing", len(expected - g), "extra", len(g - expected))
            sys.exit(1)
        fixed_costs(tools, envs, root, tmp, args.runs)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"\n(median of {args.runs} warm-cache runs; cpu total {usage.ru_utime:.1f} s user;"
              f" load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())})")  # fmt: skip
        if args.against:
            print(f"against = photoorganiser from {args.against.resolve()}")
    finally:
        if args.tree is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

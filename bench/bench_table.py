"""The whole performance table of issue 14, in one run: photoorganiser beside its peers.

    python bench/bench_table.py [--scale small|full] [--workdir DIR] [--workers 2] [--runs N]
                                [--only photos tiny dups similar] [--tiny N ...]
                                [--copy-to DIR] [--copies K]

Generates its trees in a temp folder (never the repository; --workdir picks where), then
times each row side by side (paired runs: ours, then the peer, N times; medians) and prints
one markdown table: the work, photoorganiser's seconds, the peer or floor and its seconds,
the ratio (ours / peer) and photoorganiser's peak resident memory of its whole process tree
(pool workers included, sampled every 20 ms by bench/measure.py).

  1. import --dryrun, warm cache               vs xxhsum -H2 over the same files
  2. the same, cold cache (root only)          vs xxhsum -H2, cold
  3. import --copy + sync                      vs cp -r + sync
  4. import --dryrun over many tiny files      vs xxhsum -H2 (and bytes of peak memory per file)
  5. first import --move of many small files   vs a Python os.rename loop (one rename per file)
     (and the catalog's size, and write_bytes of the process tree from /proc/PID/io)
  6. find-duplicates (exact)                   vs jdupes -r and rmlint (group counts checked)
  7. near-duplicate search, synthetic hashes   index vs all pairs (bench_similar_index.py)
  8. perceptual hashing, images/s              vs imagehash.phash (one process) and czkawka
     (its PyPI binding: hashing and grouping in Rust on every core)

--scale small is a smoke run (one run per row, a couple of minutes on 2 cores); --scale full
uses the issue's sizes and 3 paired runs per row. A peer that is not installed shows as
"n/a (not installed)".

--copies K adds, after each tiny dry run, the same run over a tree of as many files made of
1/K of them in K copies each (`cp -r`: each copy its own file): a library of "duplicates of
duplicates", where every copy gets a decision of its own.

--copy-to puts row 3's copies (ours and cp's) in DIR, another file system: the library's
disk. A RAM-backed ext4 shows what is left when the disk costs nothing (as root:
truncate -s 8G /dev/shm/fast.img && mkfs.ext4 -q /dev/shm/fast.img && mount -o loop,discard
/dev/shm/fast.img /mnt/fast), where the copy's flush and read-back are only CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from bench_duplicates import jdupes_groups, ours_groups, rmlint_groups, warm  # noqa: E402
from bench_import import generate as generate_photos  # noqa: E402
from bench_nightly import base_jpeg  # noqa: E402
from bench_nightly import generate as generate_small  # noqa: E402
from make_tree import make_tree  # noqa: E402
from measure import Run, drop_caches, run  # noqa: E402

SCALES = {
    "small": dict(
        photos=200, photo_mb=2.5, tiny=[10_000], move=10_000, dup_files=5000, dup_big=False,
        hashes=[10_000], phash=64, runs=1,
    ),
    "full": dict(
        photos=2000, photo_mb=2.5, tiny=[100_000, 1_000_000], move=100_000, dup_files=20_000,
        dup_big=True, hashes=[10_000, 100_000], phash=500, runs=3,
    ),
}  # fmt: skip
NA = "n/a (not installed)"
# photos: rows 1-3 and 8; tiny: rows 4-5; dups: row 6; similar: row 7
SECTIONS = ("photos", "tiny", "dups", "similar")


@dataclass
class Row:
    work: str
    ours: list[float]
    peer: str
    theirs: list[float]
    peak_mb: float
    note: str = ""

    def cells(self) -> list[str]:
        ours = statistics.median(self.ours) if self.ours else None
        theirs = statistics.median(self.theirs) if self.theirs else None
        ratio = f"{ours / theirs:.2f}" if ours and theirs else "-"
        return [
            self.work,
            f"{ours:.2f}" if ours is not None else "-",
            self.peer,
            f"{theirs:.2f}" if theirs is not None else "-",
            ratio,
            f"{self.peak_mb:.0f}" if self.peak_mb else "-",
            self.note,
        ]


def checked(r: Run) -> Run:
    if r.returncode != 0:
        raise SystemExit(f"{r.label} failed (exit {r.returncode}):\n{r.stdout[-1500:]}")
    return r


def shell(label: str, script: str) -> Run:
    return checked(run(label, ["sh", "-c", script]))


def xxhsum_cmd(listing: Path) -> str:
    return f"xargs -0 xxhsum -H2 < {shlex.quote(str(listing))} > /dev/null"


def listing_of(root: Path, out: Path) -> Path:
    out.write_text("\0".join(sorted(str(p) for p in root.rglob("*") if p.is_file())))
    return out


def io_wrapped(cmd: list[str]) -> list[str]:
    """`cmd` under sh, which then prints its own /proc io: reaped children's I/O included."""
    script = '"$@"; rc=$?; grep write_bytes /proc/$$/io; exit $rc'
    return ["sh", "-c", script, "sh", *cmd]


def write_bytes(r: Run) -> int | None:
    for line in r.stdout.splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return None


def child_phash(folder: str, count: int, workers: int) -> None:
    from photoorganiser.duplicates import similar
    from photoorganiser.duplicates.stage import StageContext

    files = sorted(Path(folder).rglob("*.JPG"))[:count]
    t0 = time.perf_counter()
    out = similar.hash_images(files, 8, StageContext(workers=workers))
    seconds = time.perf_counter() - t0
    ok = sum(isinstance(r, similar.ImageHash) for r in out)
    print(json.dumps({"seconds": seconds, "images": len(files), "hashed": ok}))


def child_imagehash(folder: str, count: int) -> None:
    import imagehash
    from PIL import Image

    files = sorted(Path(folder).rglob("*.JPG"))[:count]
    t0 = time.perf_counter()
    for f in files:
        with Image.open(f) as im:
            imagehash.phash(im)
    print(json.dumps({"seconds": time.perf_counter() - t0, "images": len(files)}))


def child_czkawka(folder: str, count: int) -> None:
    """czkawka's image similarity (Rust, every core) over the same images: hashing and
    grouping, as one call (it has no hash-only entry point over a folder)."""
    from czkawka import ImageSimilarity

    files = sorted(Path(folder).rglob("*.JPG"))[:count]
    same = Path(tempfile.mkdtemp(prefix="czkawka-", dir=Path(folder).parent))
    try:
        for i, f in enumerate(files):
            os.link(f, same / f"{i:06d}.JPG")
        finder = ImageSimilarity()
        finder.set_directories([same])
        finder.set_similarity(10)
        t0 = time.perf_counter()
        finder.find_similar()
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(same, ignore_errors=True)
    print(json.dumps({"seconds": seconds, "images": len(files)}))


def dry_runs(
    cmd: list[str], listing: Path, runs: int, have: dict
) -> tuple[list[float], list[float], float]:
    """`runs` paired runs of the dry run `cmd` and of xxhsum over `listing`'s files: our
    seconds, xxhsum's, our peak MB."""
    ours, theirs, peak = [], [], 0.0
    for _ in range(runs):
        r = checked(run("dryrun", cmd))
        ours.append(r.seconds)
        peak = max(peak, r.peak_rss_mb)
        if have["xxhsum"]:
            theirs.append(shell("xxhsum", xxhsum_cmd(listing)).seconds)
    return ours, theirs, peak


def copies_row(
    tree: Path, tiny: Path, count: int, k: int, runs: int, cmd: list[str], have: dict
) -> Row:
    """The tiny dry run (`cmd`) over `count` files: count/k of `tiny`'s in k copies each."""
    folders = sorted(tiny.iterdir())[: -(-(count // k) // 1000)]  # (1,000 a folder)
    unique = sum(1 for folder in folders for _ in folder.iterdir())
    for c in range(k):
        (tree / f"c{c}").mkdir(parents=True)
        subprocess.run(["cp", "-r", *map(str, folders), str(tree / f"c{c}")], check=True)
    listing = listing_of(tree, tree.parent / "tiny-copies.txt")
    shell("warm-up", f"xargs -0 cat < {shlex.quote(str(listing))} > /dev/null")
    at = cmd.index("--input") + 1
    cmd = [*cmd[:at], str(tree), *cmd[at + 1 :]]
    ours, theirs, peak = dry_runs(cmd, listing, runs, have)
    files = unique * k
    note = f"{peak * 2**20 / files:,.0f} bytes/file peak"
    label = f"import --dryrun, {files:,} tiny files, {unique:,} in {k} copies each"
    return Row(label, ours, "xxhsum -H2, warm" if have["xxhsum"] else NA, theirs, peak, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=None, help="paired runs per row")
    parser.add_argument("--keep", action="store_true", help="keep the generated trees")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        metavar="SECTION",
        help=f"measure only these sections ({', '.join(SECTIONS)}; default: all)",
    )
    parser.add_argument(
        "--tiny",
        type=int,
        nargs="+",
        metavar="N",
        help="the tiny-file dry runs' sizes (default: the scale's)",
    )
    parser.add_argument(
        "--copy-to", type=Path, default=None, metavar="DIR",
        help="row 3's copies go to DIR (another disk) instead of the work folder",
    )  # fmt: skip
    parser.add_argument(
        "--copies", type=int, default=1, metavar="K",
        help="also dry-run each tiny size as 1/K of the files in K copies (e.g. 10: 90%% copies)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, count = args.child
        if kind == "phash":
            return child_phash(folder, int(count), args.workers)
        if kind == "czkawka":
            return child_czkawka(folder, int(count))
        return child_imagehash(folder, int(count))

    s = dict(SCALES[args.scale])
    if args.tiny:
        s["tiny"] = args.tiny
    only = set(args.only)
    # Byte-compiled first, as an installed package is: with PYTHONDONTWRITEBYTECODE set (some
    # shells and CI set it) every run would compile our modules again (~0.1 s a run).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "photoorganiser")],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    runs = args.runs or s["runs"]
    work = Path(tempfile.mkdtemp(prefix="po-table-", dir=args.workdir)).resolve()
    if REPO in work.parents:
        raise SystemExit("--workdir must be outside the repository")
    os.environ["PYTHONPATH"] = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
    po = [sys.executable, "-m", "photoorganiser"]
    common = ["--quiet", "--workers", str(args.workers), "--report-dir", str(work / "reports")]
    have = {tool: shutil.which(tool) is not None for tool in ("xxhsum", "jdupes", "rmlint")}
    rows: list[Row] = []

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def done(row: Row) -> None:
        rows.append(row)
        log("  " + " | ".join(row.cells()))

    try:
        # --- rows 1-3: N photos of ~2.5 MB ------------------------------------------------
        inbox, library = work / "photos", work / "library"
        if "photos" in only:
            log(f"generating {s['photos']} photos of ~{s['photo_mb']} MB in {work} ...")
            mb = generate_photos(inbox, s["photos"], s["photo_mb"])
            listing = listing_of(inbox, work / "photos.txt")
            n = s["photos"]
            size = f"{n} JPEGs, {mb:.0f} MB"
            dry = [*po, "import", "--input", str(inbox), "--output", str(library), *common]
            copies = work
            if args.copy_to:
                copies = Path(tempfile.mkdtemp(prefix="po-copies-", dir=args.copy_to))
            copied = [*po, "import", "--input", str(inbox), "--output", str(copies / "library"),
                      *common]  # fmt: skip
            for cold in (False, True):
                if cold and not drop_caches():
                    done(Row(f"import --dryrun, {size}, cold", [], "xxhsum -H2, cold", [], 0,
                             "skipped: cannot drop caches (not root)"))  # fmt: skip
                    continue
                if not cold:
                    shell("warm-up", f"xargs -0 cat < {shlex.quote(str(listing))} > /dev/null")
                ours, theirs, peak = [], [], 0.0
                for _ in range(runs):
                    if cold:
                        drop_caches()
                    r = checked(run("dryrun", [*dry, "--dryrun"]))
                    ours.append(r.seconds)
                    peak = max(peak, r.peak_rss_mb)
                    if have["xxhsum"]:
                        if cold:
                            drop_caches()
                        theirs.append(shell("xxhsum", xxhsum_cmd(listing)).seconds)
                cache = "cold" if cold else "warm"
                peer = f"xxhsum -H2, {cache}" if have["xxhsum"] else NA
                done(Row(f"import --dryrun, {size}, {cache}", ours, peer, theirs, peak))

            ours, theirs, peak = [], [], 0.0
            copy = shlex.join([*copied, "--copy"]) + " && sync"
            cp_dest = copies / "cp-copy"
            cp = f"cp -r {shlex.quote(str(inbox))} {shlex.quote(str(cp_dest))} && sync"
            for i in range(runs):
                # Each side starts alike (was: cp ran with our library just removed, we with
                # cp's copy still cached): no copy on the disk, its removal and discards
                # flushed, the photos cached; the order alternates.
                for side in ("ours", "cp") if i % 2 == 0 else ("cp", "ours"):
                    for folder in (copies / "library", cp_dest):
                        shutil.rmtree(folder, ignore_errors=True)
                    os.sync()
                    time.sleep(1)
                    shell("warm-up", f"xargs -0 cat < {shlex.quote(str(listing))} > /dev/null")
                    if side == "cp":
                        theirs.append(shell("cp", cp).seconds)
                        continue
                    r = shell("copy", copy)
                    ours.append(r.seconds)
                    peak = max(peak, r.peak_rss_mb)
            shutil.rmtree(cp_dest, ignore_errors=True)
            shutil.rmtree(copies / "library", ignore_errors=True)
            if copies != work:
                shutil.rmtree(copies, ignore_errors=True)
            # The medians' ratio is the row's; each pair's ratio shows how noisy the disk was.
            pairs = "/".join(f"{a / b:.2f}" for a, b in zip(ours, theirs, strict=True))
            note = f"each run: {pairs}" if runs > 1 else ""
            where = f" to {args.copy_to}" if args.copy_to else ""
            done(Row(f"import --copy + sync, {size}{where}", ours, "cp -r + sync", theirs, peak,
                     note))  # fmt: skip
            shutil.rmtree(library, ignore_errors=True)

            # --- row 8 (on the same photos): perceptual hashing -------------------------------
            k = min(s["phash"], n)
            me = [sys.executable, __file__, "--workers", str(args.workers), "--child"]
            ours, theirs, peak = [], [], 0.0
            try:
                import imagehash  # noqa: F401

                has_ih = True
            except ImportError:
                has_ih = False
            for _ in range(runs):
                r = checked(run("phash", [*me, "phash", str(inbox), str(k)]))
                out = json.loads(r.stdout.strip().splitlines()[-1])
                if out["hashed"] != k:
                    raise SystemExit(f"phash: {out['hashed']} of {k} images hashed")
                ours.append(out["seconds"])
                peak = max(peak, r.peak_rss_mb)
                if has_ih:
                    r = checked(run("imagehash", [*me, "imagehash", str(inbox), str(k)]))
                    theirs.append(json.loads(r.stdout.strip().splitlines()[-1])["seconds"])
            rate = f"ours {k / statistics.median(ours):.1f} images/s"
            if theirs:
                rate += f", imagehash {k / statistics.median(theirs):.1f}"
            peer = "imagehash.phash, 1 process" if has_ih else NA
            phash_row = Row(f"perceptual hash, {k} of those JPEGs", ours, peer, theirs, peak, rate)
            log("  " + " | ".join(phash_row.cells()))
            czkawka_row = None
            try:
                import czkawka  # noqa: F401

                czk = []
                for _ in range(runs):
                    r = checked(run("czkawka", [*me, "czkawka", str(inbox), str(k)]))
                    czk.append(json.loads(r.stdout.strip().splitlines()[-1])["seconds"])
                theirs_rate = k / statistics.median(czk)
                ours_rate = k / statistics.median(ours)
                rate = f"ours {ours_rate:.1f}, czkawka {theirs_rate:.1f} images/s"
                peer = "czkawka find_similar (Rust, all cores)"
                label = f"perceptual hash, {k} of those JPEGs"
                czkawka_row = Row(label, ours, peer, czk, peak, rate)
            except ImportError:
                czkawka_row = Row(f"perceptual hash, {k} of those JPEGs", ours, NA, [], peak)
            log("  " + " | ".join(czkawka_row.cells()))
            shutil.rmtree(inbox, ignore_errors=True)

        # --- rows 4-5: many tiny files ----------------------------------------------------
        if "tiny" in only:
            base = base_jpeg(1)
            made = 0
            tiny = work / "tiny"
            for count in sorted(set(s["tiny"]) | {s["move"]}):
                log(f"generating {count} tiny photos ...")
                generate_small(tiny, count - made, made, base)
                made = count
                tiny_list = listing_of(tiny, work / "tiny.txt")
                if count in s["tiny"]:
                    shell("warm-up", f"xargs -0 cat < {shlex.quote(str(tiny_list))} > /dev/null")
                    cmd = [*po, "import", "--input", str(tiny), "--output", str(library),
                           *common, "--dryrun"]  # fmt: skip
                    ours, theirs, peak = dry_runs(cmd, tiny_list, runs, have)
                    peer = "xxhsum -H2, warm" if have["xxhsum"] else NA
                    note = f"{peak * 2**20 / count:,.0f} bytes/file peak"
                    label = f"import --dryrun, {count:,} tiny files"
                    done(Row(label, ours, peer, theirs, peak, note))
                    if args.copies > 1:
                        copied = work / "tiny-copies"
                        done(copies_row(copied, tiny, count, args.copies, runs, cmd, have))
                        shutil.rmtree(copied, ignore_errors=True)
                if count == s["move"]:
                    ours, theirs, peak, written, catalog = [], [], 0.0, [], 0
                    mover = (
                        "import os,sys\n"
                        "src,dst=sys.argv[1:]\n"
                        "for d,_,names in os.walk(src):\n"
                        "  t=os.path.join(dst,os.path.relpath(d,src))\n"
                        "  os.makedirs(t,exist_ok=True)\n"
                        "  for n in names: os.rename(os.path.join(d,n),os.path.join(t,n))\n"
                    )
                    for _ in range(runs):
                        src, lib, dst = work / "move-in", work / "move-lib", work / "mv-out"
                        for p in (src, lib, dst):
                            shutil.rmtree(p, ignore_errors=True)
                        subprocess.run(["cp", "-r", str(tiny), str(src)], check=True)
                        os.sync()
                        cmd = [*po, "import", "--input", str(src), "--output", str(lib), *common,
                               "--move"]  # fmt: skip
                        r = checked(run("move", io_wrapped(cmd)))
                        ours.append(r.seconds)
                        peak = max(peak, r.peak_rss_mb)
                        if (wb := write_bytes(r)) is not None:
                            written.append(wb)
                        state = lib / ".photoorganiser"
                        catalog = sum(p.stat().st_size for p in state.glob("catalog.sqlite*"))
                        left = sum(1 for p in src.rglob("*") if p.is_file())
                        if left:
                            raise SystemExit(f"import --move left {left} files in the inbox")
                        shutil.rmtree(src)
                        subprocess.run(["cp", "-r", str(tiny), str(src)], check=True)
                        os.sync()
                        r = checked(
                            run("rename loop", [sys.executable, "-c", mover, str(src), str(dst)])
                        )
                        theirs.append(r.seconds)
                        for p in (src, lib, dst):
                            shutil.rmtree(p, ignore_errors=True)
                    note = f"catalog {catalog / 1e6:.1f} MB ({catalog / count:,.0f} B/file)"
                    if written:
                        wb = statistics.median(written)
                        note += f"; tree write_bytes {wb / 1e6:.1f} MB"
                        if catalog:
                            note += f" = {wb / catalog:.1f}x the catalog"
                    done(Row(f"first import --move, {count:,} small files", ours,
                             "Python os.rename loop", theirs, peak, note))  # fmt: skip
            shutil.rmtree(tiny, ignore_errors=True)

        # --- row 6: exact duplicates ------------------------------------------------------
        if "dups" in only:
            root = work / "dups"
            log(f"generating a duplicate tree of {s['dup_files']} files ...")
            truth = make_tree(root, s["dup_files"], big=s["dup_big"])
            files, total = warm(root)
            report, rm_json = work / "dups.csv", work / "rmlint.json"
            ours_cmd = [*po, "find-duplicates", "--input", str(root), "--report", str(report),
                        "--quiet", "--workers", str(args.workers)]  # fmt: skip
            peers = {
                "jdupes -r": (have["jdupes"], ["jdupes", "-r", "-q", str(root)],
                              lambda: jdupes_groups(root)),
                "rmlint": (have["rmlint"],
                           ["rmlint", "-T", "df", "-o", f"json:{rm_json}", str(root)],
                           lambda: rmlint_groups(rm_json)),
            }  # fmt: skip
            times: dict[str, list[float]] = {name: [] for name in peers}
            ours, peak = [], 0.0
            for _ in range(runs):
                report.unlink(missing_ok=True)
                r = checked(run("find-duplicates", ours_cmd))
                ours.append(r.seconds)
                peak = max(peak, r.peak_rss_mb)
                for name, (present, cmd, _read) in peers.items():
                    if present:
                        times[name].append(run(name, cmd).seconds)
            found = len(ours_groups(report))
            work_label = f"find-duplicates, {files:,} files, {total / 1e6:.0f} MB"
            for name, (present, _cmd, read) in peers.items():
                if not present:
                    done(Row(work_label, ours, NA.replace("n/a", f"{name}: n/a"), [], peak))
                    continue
                theirs_found = len(read())
                same = "same" if theirs_found == found == len(truth) else "DIFFERENT"
                note = f"groups: ours {found}, {name} {theirs_found}, truth {len(truth)} ({same})"
                done(Row(work_label, ours, name, times[name], peak, note))
            shutil.rmtree(root, ignore_errors=True)

        # --- row 7: near-duplicate search -------------------------------------------------
        if "similar" in only:
            from photoorganiser.duplicates import similar

            threshold = similar.default_threshold(8)
            for count in s["hashes"]:
                got: dict[str, list[dict]] = {"index": [], "pairs": []}
                peak = 0.0
                for _ in range(runs):
                    for method in ("index", "pairs"):
                        cmd = [sys.executable, str(HERE / "bench_similar_index.py"), "--child",
                               str(count), method, "--threshold", str(threshold),
                               "--workers", str(args.workers)]  # fmt: skip
                        r = checked(run(method, cmd))
                        got[method].append(json.loads(r.stdout.strip().splitlines()[-1]))
                        if method == "index":
                            peak = max(peak, r.peak_rss_mb)
                same = got["index"][0]["digest"] == got["pairs"][0]["digest"]
                note = f"{got['index'][0]['pairs']:,} pairs, same pairs: {'yes' if same else 'NO'}"
                done(Row(f"near-duplicate search, {count:,} hashes ({threshold} bits)",
                         [g["seconds"] for g in got["index"]], "all pairs (same code)",
                         [g["seconds"] for g in got["pairs"]], peak, note))  # fmt: skip

        if "photos" in only:
            rows.append(phash_row)  # row 8, measured on the photos before they were removed
            rows.append(czkawka_row)

        # --- the table --------------------------------------------------------------------
        head = ["work", "photoorganiser s", "peer / floor", "peer s", "ratio", "peak MB", "notes"]
        plural = "s" if runs > 1 else ""
        print(
            f"\n### photoorganiser vs peers (--scale {args.scale}, "
            f"median of {runs} paired run{plural}, {args.workers} workers)\n"
        )
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for row in rows:
            print("| " + " | ".join(row.cells()) + " |")
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(
            "\nratio = photoorganiser / peer (below 1: faster); "
            "peak MB = photoorganiser's process tree."
        )
        print(f"machine: nproc {os.cpu_count()}, RAM {ram:.1f} GiB; {when}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

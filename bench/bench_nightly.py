"""The nightly run: what the catalog costs and saves, at library scale.

    python bench/bench_nightly.py --library-files 50000 --new 100 [--workdir DIR]

1. first import of N photos into an empty library (its wall time and peak memory);
2. a nightly run: 100 new photos into that N-file library, with yesterday's
   skipped duplicates still in the inbox (all from the catalog);
3. the same 100 photos into an empty library: the difference is the catalog's cost;
4. `sync` of the unchanged library: time, and how many library files it opened
   (strace, when installed: it must be 0: one stat per file, no content read);
5. the stat floor: `find LIBRARY -type f | wc -l`.

Photos are small distinct JPEGs (a base image with its own EXIF each), so the
figures are about per-file costs, not bytes.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import piexif
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from measure import Run, run  # noqa: E402


def base_jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (160, 120), rng.randbytes(160 * 120 * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def generate(folder: Path, count: int, start: int, base: bytes) -> None:
    when = datetime(2010, 1, 1)
    for i in range(start, start + count):
        exif = piexif.dump(
            {
                "0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"EOS 80D"},
                "Exif": {
                    piexif.ExifIFD.DateTimeOriginal: (when + timedelta(minutes=53 * i))
                    .strftime("%Y:%m:%d %H:%M:%S")
                    .encode(),
                    piexif.ExifIFD.ImageUniqueID: f"{i:032x}".encode(),
                },
            }
        )
        out = io.BytesIO()
        piexif.insert(exif, base, out)
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"IMG_{i:06d}.JPG").write_bytes(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library-files", type=int, default=50_000)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="po-nightly-", dir=args.workdir))
    library, empty = work / "library", work / "empty-library"
    first, nightly = work / "first-inbox", work / "nightly-inbox"
    base = base_jpeg(1)
    n, new = args.library_files, args.new
    po = [sys.executable, "-m", "photoorganiser"]
    common = ["--quiet", "--workers", str(args.workers), "--report-dir", str(work / "reports")]
    try:
        print(f"generating {n} + {new} photos in {work} ...", flush=True)
        generate(first, n, 0, base)
        generate(nightly, new, n, base)
        # Yesterday's duplicates stay in the inbox: 1,000 copies of library photos.
        for p in sorted(first.rglob("*.JPG"))[:1000]:
            dup = nightly / "already" / p.name
            dup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dup)

        runs: list[Run] = []

        def timed(label: str, cmd: list[str]) -> Run:
            r = run(label, cmd)
            runs.append(r)
            status = "ok" if r.returncode == 0 else f"exit {r.returncode}: {r.stdout[-400:]}"
            print(
                f"  {label:<58} {r.seconds:8.2f} s  peak {r.peak_rss_mb:6.0f} MB  {status}",
                flush=True,
            )
            return r

        timed(
            f"first import of {n} photos (move)",
            [*po, "import", "--input", str(first), "--output", str(library), *common],
        )
        timed(
            "find LIBRARY -type f (the stat floor)",
            ["sh", "-c", f"find '{library}' -type f | wc -l"],
        )
        timed(
            f"nightly: {new} new + 1000 known, into the {n}-file library (copy)",
            [*po, "import", "--input", str(nightly), "--output", str(library), "--copy", *common],
        )
        library_run = runs[-1]
        # The same inbox again: the copies are in now; everything is known.
        timed(
            "nightly again: nothing new (copy)",
            [*po, "import", "--input", str(nightly), "--output", str(library), "--copy", *common],
        )
        shutil.rmtree(nightly / "already")
        timed(
            f"the same {new} into an empty library (copy)",
            [*po, "import", "--input", str(nightly), "--output", str(empty), "--copy", *common],
        )
        empty_run = runs[-1]
        timed(
            f"sync of the unchanged {n}-file library",
            [*po, "sync", "--output", str(library), *common],
        )

        opened = None
        if shutil.which("strace"):
            trace = work / "strace.txt"
            subprocess.run(
                [
                    "strace",
                    "-f",
                    "-qq",
                    "-e",
                    "trace=openat",
                    "-o",
                    str(trace),
                    *po,
                    "sync",
                    "--output",
                    str(library),
                    *common,
                ],
                check=True,
            )
            media = re.compile(re.escape(str(library)) + r"/\d{4}/.*\.jpg", re.I)
            opened = sum(1 for line in trace.read_text().splitlines() if media.search(line))

        print()
        print(f"{'run':<62} {'seconds':>8} {'files/s':>9} {'peak MB':>8}")
        print("-" * 90)
        for r in runs:
            files = (
                n
                if "first import" in r.label or "sync" in r.label or "find" in r.label
                else (new + 1000 if "nightly" in r.label else new)
            )
            print(
                f"{r.label:<62} {r.seconds:>8.2f} {files / r.seconds:>9.0f} {r.peak_rss_mb:>8.0f}"
            )
        extra = library_run.seconds - empty_run.seconds
        print(
            f"\ncatalog's cost on top, {n}-file library vs empty: {extra:+.2f} s"
            f" ({library_run.seconds / empty_run.seconds:.2f}x)"
        )
        if opened is not None:
            print(f"sync of the unchanged library opened {opened} library photos (strace openat)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

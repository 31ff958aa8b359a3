"""Import throughput: dry run and real runs, against the I/O floor, in one run.

    python bench/bench_import.py --files 2000 --size-mb 3 [--workdir DIR] [--cold]

Generates N distinct JPEG photos of about SIZE MB (noise pixels, so they don't
compress away, each with its own EXIF date and camera), then times, side by side:

  cat                       every byte read once, no work      (the I/O floor)
  xxhsum -H2                XXH128 of every byte, one core       (the hash floor)
  exiftool -fast            dates of every file (for scale)
  import --dryrun           scan + analyse + plan + collisions + report
  cp -r; sync               the copy floor
  import --copy; sync       ... and copy + fsync + verified read-back (+ sync, as cp)
  the same without the read-back (bench/noverify.py: what --no-verify would save)
  import --copy (re-run)    everything already in the library
  import --move             same file system: atomic renames
  import --move, another disk: the inbox on a tmpfs (a card), the library here; vs
                            cp -r from that tmpfs; sync (root only: mount)

--cold drops the page cache before each run (root only); otherwise the cache is
warm (each run reads files the previous one just read). Quote the ratios.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import piexif
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from measure import Run, drop_caches, run, table  # noqa: E402

CAMERAS = [("Canon", "Canon EOS 5D Mark IV"), ("Apple", "iPhone 13"), ("SONY", "ILCE-7M3")]


def base_jpegs(size_mb: float, count: int = 6) -> list[bytes]:
    """A few distinct noise JPEGs of about size_mb each (q=85 noise: ~0.75 bytes/pixel)."""
    pixels = int(size_mb * 1e6 / 0.75)
    width = int((pixels * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    out = []
    for seed in range(count):
        rng = random.Random(seed)
        img = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def generate(inbox: Path, files: int, size_mb: float) -> float:
    """N distinct photos in dated camera folders; returns total MB."""
    bases = base_jpegs(size_mb)
    start = datetime(2015, 1, 1, 8, 0, 0)
    total = 0
    for i in range(files):
        make, model = CAMERAS[i % len(CAMERAS)]
        when = start + timedelta(minutes=37 * i)
        exif = piexif.dump(
            {
                "0th": {piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Model: model.encode()},
                "Exif": {
                    piexif.ExifIFD.DateTimeOriginal: when.strftime("%Y:%m:%d %H:%M:%S").encode(),
                    piexif.ExifIFD.ImageUniqueID: f"{i:032x}".encode(),
                },
            }
        )
        out = io.BytesIO()
        piexif.insert(exif, bases[i % len(bases)], out)
        folder = inbox / f"{make}-{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = out.getvalue()
        (folder / f"IMG_{i:05d}.JPG").write_bytes(data)
        total += len(data)
    return total / 1e6


def other_disk(work: Path, inbox: Path, po: list[str], timed) -> None:
    """A move from another disk: the inbox copied to a tmpfs (like a memory card: reading
    it costs no disk time), moved into a library on this disk; the floor is cp -r from
    the same tmpfs, then sync. Needs root (mount); skipped otherwise."""
    card = work / "card"
    card.mkdir()
    size = sum(p.stat().st_size for p in inbox.rglob("*") if p.is_file())
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size * 5 // 4 + (64 << 20)}", "tmpfs", str(card)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        print("  (cannot mount a tmpfs: no move from another disk)", flush=True)
        return
    try:
        shutil.copytree(inbox, card / "inbox")
        timed(
            "cp -r from another disk + sync",
            ["cp", "-r", "--preserve=timestamps", str(card / "inbox"), str(work / "cp-copy"),
             "&&", "sync"],
            shell=True,
        )  # fmt: skip
        shutil.rmtree(work / "cp-copy")
        moved = [*po, "--move"]
        moved[moved.index("--input") + 1] = str(card / "inbox")
        library = Path(moved[moved.index("--output") + 1])
        timed("photoorganiser import --move, another disk; sync", [*moved, "&&", "sync"],
              shell=True)  # fmt: skip
        shutil.rmtree(library)
    finally:
        subprocess.run(["umount", "-l", str(card)], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-mb", type=float, default=3.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="po-bench-", dir=args.workdir))
    inbox, library, reports = work / "inbox", work / "library", work / "reports"
    try:
        print(f"generating {args.files} photos of ~{args.size_mb} MB in {work} ...", flush=True)
        megabytes = generate(inbox, args.files, args.size_mb)
        files = sorted(str(p) for p in inbox.rglob("*.JPG"))
        listing = work / "files.txt"
        listing.write_text("\0".join(files))
        print(
            f"{len(files)} files, {megabytes:.0f} MB; workers={args.workers};"
            f" cache={'cold' if args.cold else 'warm'}\n",
            flush=True,
        )

        po = [
            sys.executable,
            "-m",
            "photoorganiser",
            "import",
            "--input",
            str(inbox),
            "--output",
            str(library),
            "--quiet",
            "--workers",
            str(args.workers),
            "--report-dir",
            str(reports),
        ]
        runs: list[Run] = []

        def timed(label: str, cmd: list[str], shell: bool = False) -> Run:
            if args.cold and not drop_caches():
                print("cannot drop caches (not root?): measuring warm", file=sys.stderr)
                args.cold = False
            r = run(label, cmd, shell=shell)
            runs.append(r)
            status = "ok" if r.returncode == 0 else f"exit {r.returncode}: {r.stdout[-300:]}"
            print(f"  {label:<44} {r.seconds:7.2f} s  {status}", flush=True)
            return r

        if not args.cold:  # warm the cache once so every run starts equal
            run("warm-up", ["xargs", "-0", "cat", "<", str(listing), ">", "/dev/null"], shell=True)
        timed(
            "cat (I/O floor)",
            ["xargs", "-0", "cat", "<", str(listing), ">", "/dev/null"],
            shell=True,
        )
        if shutil.which("xxhsum"):
            timed(
                "xxhsum -H2 (XXH128, 1 core)",
                ["xargs", "-0", "xxhsum", "-H2", "<", str(listing), ">", "/dev/null"],
                shell=True,
            )
        if shutil.which("exiftool"):
            timed(
                "exiftool -fast -r -DateTimeOriginal",
                [
                    "exiftool",
                    "-fast",
                    "-r",
                    "-q",
                    "-DateTimeOriginal",
                    str(inbox),
                    ">",
                    "/dev/null",
                ],
                shell=True,
            )
        timed("photoorganiser import --dryrun", [*po, "--dryrun"])
        timed(
            "cp -r + sync (the copy floor)",
            ["cp", "-r", "--preserve=timestamps", str(inbox), str(work / "cp-copy"), "&&", "sync"],
            shell=True,
        )
        shutil.rmtree(work / "cp-copy")
        timed("photoorganiser import --copy; sync", [*po, "--copy", "&&", "sync"], shell=True)
        timed("photoorganiser import --copy (re-run, all present)", [*po, "--copy"])
        shutil.rmtree(library)
        shutil.rmtree(reports, ignore_errors=True)
        noverify = [sys.executable, str(Path(__file__).parent / "noverify.py"), *po[3:]]
        timed("  the same without the read-back (no-verify)", [*noverify, "--copy", "&&", "sync"],
              shell=True)  # fmt: skip
        shutil.rmtree(library)
        other_disk(work, inbox, po, timed)
        timed("photoorganiser import --move (same disk)", [*po, "--move"])

        print()
        print(table(runs, len(files), megabytes, baseline="cat (I/O floor)"))
        moved = sum(1 for p in library.rglob("*") if p.suffix.lower() == ".jpg")
        left = sum(1 for p in inbox.rglob("*") if p.suffix.lower() == ".jpg")
        print(f"\nafter --move: {moved} files in the library, {left} left in the inbox")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

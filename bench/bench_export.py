"""`export` throughput: photos/s and MB/s for jpeg / webp / avif at 2048 px, against
ImageMagick's `convert` (when the real one is installed) and a plain Pillow loop.

    python bench/bench_export.py [--corpus DIR] [--generated 24] [--workers 2] [--size 2048]

Two sets of photos, each imported (copied) into a library in a temp dir: the corpus's
JPEGs of at least 100 KB (never copied into the repository), and `--generated` 12 MP
camera-like JPEGs (gradients, shapes and sensor noise, quality 92, EXIF date). Each
format is exported with `photoorganiser export --max-size SIZExSIZE` (a fresh DIR each
time, so every photo is converted); the peers do the same work (fit in SIZE x SIZE,
upright, same quality) one file at a time: ImageMagick `convert -auto-orient -resize`
(run N at once with --workers), and Pillow open/exif_transpose/thumbnail/save.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photoorganiser.cli import main  # noqa: E402
from photoorganiser.media.convert import OutFormat, can_write  # noqa: E402


def camera_like(path: Path, seed: int, size: tuple[int, int] = (4032, 3024)) -> None:
    """A JPEG that compresses like a photo: smooth gradients, shapes, a little noise."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    base = np.stack(
        [
            120 + 100 * np.sin(3 * x + seed) * np.cos(2 * y),
            110 + 90 * np.cos(2 * x - y * 3 + seed),
            100 + 80 * np.sin(5 * y + x),
        ],
        axis=-1,
    )
    base += rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    r = random.Random(seed)
    for _ in range(40):
        x0, y0 = r.randrange(w), r.randrange(h)
        colour = tuple(r.randrange(256) for _ in range(3))
        draw.ellipse((x0, y0, x0 + r.randrange(50, 600), y0 + r.randrange(50, 600)), fill=colour)
    exif = Image.Exif()
    exif[0x0112] = 1
    exif.get_ifd(0x8769)[0x9003] = f"2020:05:{1 + seed % 28:02d} 12:00:00"
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=92, exif=exif.tobytes())


def imagemagick() -> str | None:
    exe = shutil.which("convert")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if "ImageMagick" in out.stdout.split("\n", 1)[0] else None


def pillow_one(args: tuple[Path, Path, str, int, int]) -> None:
    import warnings

    from PIL import Image, ImageOps

    warnings.simplefilter("ignore")

    src, dst, fmt, size, quality = args
    try:
        with Image.open(src) as img:
            exif = img.getexif()
            pic = ImageOps.exif_transpose(img)
            pic.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
            exif[0x0112] = 1
            pic.save(dst, fmt.upper(), quality=quality, exif=exif.tobytes())
    except Exception:  # an undecodable corpus file: ours reports it as failed too
        pass


def magick_one(args: tuple[str, Path, Path, int, int]) -> None:
    exe, src, dst, size, quality = args
    subprocess.run(
        [exe, str(src), "-auto-orient", "-resize", f"{size}x{size}>", "-quality", str(quality),
         str(dst)],
        check=True, capture_output=True,
    )  # fmt: skip


def _quiet_magick(args) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):
        magick_one(args)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_set(name: str, files: list[Path], work: Path, args) -> None:
    if not files:
        print(f"{name}: no photos")
        return
    inbox = work / f"{name}-inbox"
    for i, f in enumerate(files):
        dst = inbox / f"{i:04d}{f.suffix.lower()}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dst)
    lib = work / f"{name}-lib"
    report = str(work / f"{name}-import.csv")
    main(["import", "--input", str(inbox), "--output", str(lib), "--copy", "--quiet",
          "--workers", str(args.workers), "--report", report])  # fmt: skip
    photos = [p for p in lib.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts]
    mb = sum(p.stat().st_size for p in photos) / 1e6
    n = len(photos)
    size = f"{args.size}x{args.size}"
    print(f"\n{name}: {n} photos, {mb:.1f} MB, --max-size {size}, workers {args.workers}")
    head = f"{'photos/s':>9} {'MB/s':>7} {'out MB':>7} {'vs ours':>8}"
    print(f"{'format':6} {'tool':22} {'s':>7} {head}")
    magick = imagemagick()
    for fmt in OutFormat:
        if not can_write(fmt):
            print(f"{fmt.value:6} (no encoder on this machine)")
            continue
        to = work / f"{name}-{fmt.value}"
        report = work / f"{name}-{fmt.value}.csv"
        ours = timed(
            lambda fmt=fmt, to=to, report=report: main(
                ["export", "--output", str(lib), "--to", str(to), "--format", fmt.value,
                 "--max-size", f"{args.size}x{args.size}", "--quality", str(args.quality),
                 "--workers", str(args.workers), "--quiet", "--report", str(report)]
            )
        )  # fmt: skip
        out_mb = sum(p.stat().st_size for p in to.rglob("*") if p.is_file()
                     and ".photoorganiser-export" not in p.parts) / 1e6  # fmt: skip
        rows = [("photoorganiser export", ours, out_mb)]
        peer = work / f"{name}-{fmt.value}-pillow"
        peer.mkdir()
        ext = fmt.extension
        jobs = [
            (p, peer / f"{i}{ext}", fmt.value, args.size, args.quality)
            for i, p in enumerate(photos)
        ]
        with ThreadPoolExecutor(args.workers) as pool:  # Pillow releases the GIL while coding
            t = timed(lambda jobs=jobs: list(pool.map(pillow_one, jobs)))
        rows.append(
            (
                "Pillow loop (threads)",
                t,
                sum(j[1].stat().st_size for j in jobs if j[1].exists()) / 1e6,
            )
        )
        if magick:
            peer = work / f"{name}-{fmt.value}-magick"
            peer.mkdir()
            jobs2 = [
                (magick, p, peer / f"{i}{ext}", args.size, args.quality)
                for i, p in enumerate(photos)
            ]
            with ThreadPoolExecutor(args.workers) as pool:
                t = timed(lambda jobs2=jobs2: list(pool.map(_quiet_magick, jobs2)))
            rows.append(
                (
                    "ImageMagick convert",
                    t,
                    sum(j[2].stat().st_size for j in jobs2 if j[2].exists()) / 1e6,
                )
            )
        for tool, secs, out in rows:
            print(f"{fmt.value:6} {tool:22} {secs:7.2f} {n / secs:9.2f} {mb / secs:7.1f}"
                  f" {out:7.2f} {secs / ours:7.2f}x")  # fmt: skip
    if not magick:
        print("(ImageMagick's convert is not installed: apt-get install imagemagick to compare)")


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus" / "real")
    parser.add_argument("--generated", type=int, default=24, help="12 MP photos to make")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--quality", type=int, default=80)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        work = Path(tmp)
        corpus = sorted(
            p for p in args.corpus.rglob("*")
            if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file() and p.stat().st_size >= 100_000
        ) if args.corpus.is_dir() else []  # fmt: skip
        if not corpus:
            print(f"no corpus JPEGs at {args.corpus}")
        bench_set("corpus", corpus, work, args)
        made = []
        for i in range(args.generated):
            camera_like(work / "made" / f"IMG_{i:04d}.jpg", i)
            made.append(work / "made" / f"IMG_{i:04d}.jpg")
        bench_set("generated", made, work, args)


if __name__ == "__main__":
    main_bench()

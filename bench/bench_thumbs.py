"""Benchmark make_thumbnail on the corpus's JPEGs, against plain Pillow and ImageMagick.

    python bench/bench_thumbs.py [--corpus DIR] [--size 320] [--repeat N] [--no-convert]

Ours: media/thumbs.make_thumbnail (hash-free, read once, JPEG draft decoding, orientation,
JPEG q80). Peers on the same files, one process each way: Pillow without draft mode
(open, exif_transpose, thumbnail, save), and ImageMagick's `convert -auto-orient
-thumbnail SxS` when installed (one process per file, as a web app shelling out would).
Timings on a shared machine are noisy: quote the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photoorganiser.media.thumbs import make_thumbnail  # noqa: E402

CORPUS = Path(os.environ.get("PHOTOORGANISER_CORPUS", REPO.parent / "shared" / "corpus" / "real"))


def jpegs(corpus: Path) -> list[Path]:
    with open(corpus / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [corpus / r["path"] for r in rows if r["file_type"] == "JPEG"]


def plain_pillow(path: Path, size: int) -> bytes | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((size, size))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=80)
            return out.getvalue()
    except Exception:
        return None


def imagemagick(path: Path, size: int) -> bytes | None:
    done = subprocess.run(
        ["convert", f"{path}[0]", "-auto-orient", "-thumbnail", f"{size}x{size}", "jpg:-"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.stdout if done.returncode == 0 and done.stdout else None


def real_imagemagick() -> bool:
    """`convert` is ImageMagick itself (not a stand-in script of the same name)."""
    if not shutil.which("convert"):
        return False
    try:
        done = subprocess.run(["convert", "-version"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    if b"ImageMagick" not in done.stdout:
        print("(convert is not ImageMagick here: no ImageMagick comparison)")
        return False
    return True


def timed(label: str, make, files: list[Path], size: int, repeat: int) -> float:
    best = float("inf")
    made = 0
    for _ in range(repeat):
        started = time.perf_counter()
        made = sum(make(p, size) is not None for p in files)
        best = min(best, time.perf_counter() - started)
    rate = len(files) / best
    print(f"{label:<28} {best:7.2f} s  {rate:8.1f} files/s  ({made}/{len(files)} made)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-convert", action="store_true")
    args = parser.parse_args()
    files = jpegs(args.corpus)
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    print(f"{len(files)} JPEGs, {megabytes:.1f} MB, thumbnails of {args.size} px")
    ours = timed("photoorganiser", make_thumbnail, files, args.size, args.repeat)
    pillow = timed("Pillow, no draft", plain_pillow, files, args.size, args.repeat)
    print(f"ratio: photoorganiser is {ours / pillow:.2f}x plain Pillow")
    if not args.no_convert and real_imagemagick():
        magick = timed("ImageMagick convert", imagemagick, files, args.size, 1)
        print(f"ratio: photoorganiser is {ours / magick:.2f}x ImageMagick (a process per file)")


if __name__ == "__main__":
    main()

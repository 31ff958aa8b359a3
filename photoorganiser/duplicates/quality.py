"""Blank and poor pictures: near-uniform frames, and very dark or very blurred ones.

Each image is decoded small and upright as the near-duplicate hash decodes it
(similar.load_square: JPEG draft mode, EXIF orientation), to a 256x256 grey square,
and measured three ways:

- blank: the standard deviation of the grey levels of the 32x32 picture (the 256
  square averaged 8x8; the size similar.py's flat guard looks at): a lens cap, a
  pocket shot, a black, white or grey frame hardly varies, sensor noise averages out;
- dark: the mean grey level (0-255) of the picture;
- blurred: the variance of the Laplacian of the 256x256 grey picture. Measured at one
  size for every picture, so a 40-megapixel photo and a 1-megapixel one are judged
  alike; a picture smaller than 256 pixels on a side is not judged (enlarging it
  would blur it).

A picture under a threshold is flagged with every measure that flagged it; the first
(blank, then dark, then blurred) is its report row's kind. The thresholds' defaults
(values.py) were measured on the real corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.parallel import pmap
from ..core.progress import Progress
from ..core.values import ScanEntry
from .similar import decoded, load_square
from .stage import BATCH_FILES, StageContext
from .values import (
    FindOptions,
    Flagged,
    Kind,
    Measure,
    Member,
    PoorPicture,
    ReadFailure,
    not_read,
)

MEASURE_SIDE = 256  # the grey square every picture is measured on
BLANK_SIDE = 32  # the small picture whose spread says "blank"


@dataclass(frozen=True, slots=True)
class PictureMeasures:
    """One picture's measures: `spread` (grey-level standard deviation of the 32x32
    picture), `brightness` (mean grey level, 0-255), `sharpness` (variance of the
    Laplacian at 256x256; None for a picture too small to judge)."""

    path: Path
    width: int
    height: int
    spread: float
    brightness: float
    sharpness: float | None


def measure_pixels(
    pixels: np.ndarray, width: int, height: int
) -> tuple[float, float, float | None]:
    """(spread, brightness, sharpness) of a MEASURE_SIDE square grey picture."""
    p = pixels.astype(np.float64)
    k = p.shape[0] // BLANK_SIDE
    small = p.reshape(BLANK_SIDE, k, BLANK_SIDE, k).mean(axis=(1, 3))
    spread = float(small.std())
    brightness = float(p.mean())
    sharpness = None
    if min(width, height) >= MEASURE_SIDE:
        lap = 4 * p[1:-1, 1:-1] - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
        sharpness = float(lap.var())
    return spread, brightness, sharpness


def measure_image(path: str | Path) -> PictureMeasures:
    pixels, width, height = load_square(path, MEASURE_SIDE)
    spread, brightness, sharpness = measure_pixels(pixels, width, height)
    return PictureMeasures(Path(path), width, height, spread, brightness, sharpness)


def measure_worker(path: str) -> PictureMeasures | ReadFailure:
    """Pool worker: measure one image; a failure as a value."""
    return decoded(measure_image, path)


def measure_images(paths: Sequence[Path], ctx: StageContext) -> list[PictureMeasures]:
    """Every image measured (failures go to ctx.failures), in path order."""
    step = BATCH_FILES // 16  # decoding is slow: small tasks spread evenly
    out: list[PictureMeasures] = []
    with Progress("measure", len(paths), ctx.show_progress) as progress:
        workers = ctx.workers if len(paths) >= 64 else 1
        # one image an item (`step` of them a task): a worker that dies on one costs that one
        measured = pmap(
            measure_worker,
            [str(p) for p in paths],
            workers=workers,
            progress=progress,
            chunksize=step,
            lost=not_read,
        )
        for r in measured:
            if isinstance(r, ReadFailure):
                ctx.failures.append(r)
            else:
                out.append(r)
    out.sort(key=lambda m: str(m.path))
    return out


def judge(m: PictureMeasures, options: FindOptions) -> tuple[Measure, ...]:
    """The measures of `m` under the thresholds of the checks asked for, in kind order."""
    found = []
    if options.blanks and m.spread < options.blank_threshold:
        found.append(Measure(Kind.BLANK, m.spread, options.blank_threshold))
    if options.dark and m.brightness < options.dark_threshold:
        found.append(Measure(Kind.DARK, m.brightness, options.dark_threshold))
    if options.blurred and m.sharpness is not None and m.sharpness < options.blur_threshold:
        found.append(Measure(Kind.BLURRED, m.sharpness, options.blur_threshold))
    return tuple(found)


def poor_pictures(
    entries: Sequence[ScanEntry], options: FindOptions, ctx: StageContext
) -> list[Flagged]:
    """The blank, dark and blurred pictures among `entries` (images), one row each:
    keep no, its measures as the reason (the content hash is added later)."""
    images = sorted((e for e in entries if e.size > 0), key=lambda e: str(e.path))
    by_path = {e.path: e for e in images}
    measured = measure_images([e.path for e in images], ctx)
    out: list[Flagged] = []
    for m in measured:
        measures = judge(m, options)
        if not measures:
            continue
        e = by_path[m.path]
        member = Member(
            m.path,
            e.size,
            keep=False,
            reason=PoorPicture(measures),
            width=m.width,
            height=m.height,
            device=e.device,
            inode=e.inode,
        )
        out.append(Flagged(measures[0].kind, member))
    counts = {k: sum(f.kind is k for f in out) for k in (Kind.BLANK, Kind.DARK, Kind.BLURRED)}
    ctx.note(
        f"{'pictures':>10}: {len(measured)} measured;"
        f" {counts[Kind.BLANK]} blank, {counts[Kind.DARK]} dark, {counts[Kind.BLURRED]} blurred"
    )
    return out

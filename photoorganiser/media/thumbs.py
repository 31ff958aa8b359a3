"""Thumbnails: a small upright JPEG of a photo, a RAW file or a video.

`make_thumbnail(path, size)` gives a JPEG (quality 80) whose longest side is `size` (an
image smaller than that keeps its size), or None when the file cannot be thumbnailed
(damaged, unsupported, a video without ffmpeg). It never raises for a bad file.

    photos   Pillow (+ pillow-heif for HEIC/HEIF), JPEGs decoded at reduced size
             (Image.draft), turned upright by their EXIF orientation
    RAW      the largest embedded JPEG preview that decodes (previews.py), turned upright
             by its own orientation, else by the RAW's
    videos   a frame one second in (the first frame of a shorter clip) through ffmpeg,
             when ffmpeg is installed; scaled by ffmpeg, read from its stdout (no files)

The format is told by the content (metadata.read_media), never the name. The file is
opened as a regular file only (core/hashing.open_regular: no links, pipes or devices)
and read once; Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS) stays, and a
file larger than MAX_READ is not read at all. ffmpeg runs with a time limit; a Pillow
decode is bounded by the pixel limit (it cannot be interrupted), and no further candidate
is tried once the time limit has passed.

`thumbnail(...)` is the same with what a cache needs to know: the content hash of the
bytes the thumbnail was made from, and whether a failure is the content's own (worth
remembering) or only of this machine or moment (no ffmpeg, a file that changed).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import stat
import subprocess
import time
import warnings
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from ..core.hashing import hash_file, read_and_hash
from .heif import register_heif
from .metadata import MetadataError, read_media
from .previews import TIFF_BASED, is_raw, orientation, previews

log = logging.getLogger("photoorganiser")

FFMPEG = shutil.which("ffmpeg")
QUALITY = 80
TIME_LIMIT = 20.0  # seconds per file
MAX_READ = 256 << 20  # photos and RAW files larger than this are not read
MAX_PREVIEWS = 4  # embedded JPEGs tried per RAW file
_PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF")
_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}  # EXIF orientation -> Image.Transpose


@dataclass(frozen=True, slots=True)
class Thumbnail:
    jpeg: bytes | None  # None: no thumbnail
    content_hash: str | None = None  # XXH3-128 of the content it was made from (when asked)
    final: bool = True  # a None that says something about the content (worth remembering)


_NOT_READ = Thumbnail(None, final=False)


def make_thumbnail(
    path: Path, size: int = 320, *, ffmpeg: str | None = FFMPEG, time_limit: float = TIME_LIMIT
) -> bytes | None:
    """A JPEG whose longest side is `size` (see the module's docstring), or None."""
    return thumbnail(path, size, ffmpeg=ffmpeg, time_limit=time_limit).jpeg


def thumbnail(
    path: Path,
    size: int = 320,
    *,
    ffmpeg: str | None = FFMPEG,
    time_limit: float = TIME_LIMIT,
    content_hash: str | None = None,
) -> Thumbnail:
    """make_thumbnail, and the facts a cache needs. With `content_hash`, the content is
    hashed (a photo as it is read for decoding) and nothing is decoded unless it matches:
    the result's `content_hash` is then the one found, and `final` is False."""
    deadline = time.monotonic() + time_limit
    try:
        before = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(before.st_mode):
            return _NOT_READ
        try:
            info = read_media(path, None, UTC)
        except MetadataError:  # not a photo or video we know
            return _checked(path, content_hash, None)
        if info.is_video:
            return _video_thumbnail(path, before, size, ffmpeg, deadline, content_hash)
        if before.st_size > MAX_READ:
            return _checked(path, content_hash, None)
        content = read_and_hash(path, keep_limit=MAX_READ, expected_size=before.st_size)
    except (OSError, ValueError) as exc:  # gone, a link, unreadable...
        log.debug("no thumbnail for %s: %s", path, exc)
        return _NOT_READ
    data = content.data
    if data is None or len(data) != before.st_size:
        return _NOT_READ  # it changed while it was read
    if content_hash is not None and content.hash != content_hash:
        return Thumbnail(None, content.hash, final=False)
    try:
        jpeg = _photo(data, info.format or "", size, deadline)
    except Exception as exc:  # a bug or a pathological file: never crash the caller
        log.debug("no thumbnail for %s: %s: %s", path, type(exc).__name__, exc)
        jpeg = None
    return Thumbnail(jpeg, content.hash if content_hash is not None else None)


def _checked(path: Path, content_hash: str | None, jpeg: bytes | None) -> Thumbnail:
    """The result for content that was not read for decoding: hashed when asked."""
    if content_hash is None:
        return Thumbnail(jpeg)
    found = hash_file(path)
    return Thumbnail(jpeg, found, final=found == content_hash)


def _video_thumbnail(
    path: Path,
    before: os.stat_result,
    size: int,
    ffmpeg: str | None,
    deadline: float,
    content_hash: str | None,
) -> Thumbnail:
    if ffmpeg is None:  # another machine may have it; nothing to check the content for
        return Thumbnail(None, final=False)
    found = None
    if content_hash is not None:
        found = hash_file(path)  # the whole video: what ffmpeg reads is what was asked for
        if found != content_hash:
            return Thumbnail(None, found, final=False)
    jpeg = _video(path, size, ffmpeg, deadline)
    if not _same_file(path, before):  # what was hashed is not what ffmpeg read
        return Thumbnail(None, found, final=False)
    return Thumbnail(jpeg, found)


def _same_file(path: Path, before: os.stat_result) -> bool:
    """Still the same file, unchanged."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns")
    return all(getattr(now, f) == getattr(before, f) for f in fields)


# --- photos and RAW previews -------------------------------------------------------------


def _photo(data: bytes, fmt: str, size: int, deadline: float) -> bytes | None:
    if not is_raw(data, fmt):
        jpeg = _decode(data, size, fallback_orientation=1)
        if jpeg is not None or fmt not in TIFF_BASED:
            return jpeg
    turn = orientation(data, fmt)
    for preview in previews(data, fmt)[:MAX_PREVIEWS]:
        if time.monotonic() > deadline:
            return None
        jpeg = _decode(preview, size, fallback_orientation=turn, formats=("JPEG",))
        if jpeg is not None:
            return jpeg
    return None


def _decode(
    data: bytes, size: int, *, fallback_orientation: int, formats: tuple[str, ...] = _PILLOW_FORMATS
) -> bytes | None:
    """Decode, shrink, turn upright and encode one image; None when Pillow cannot."""
    from PIL import Image

    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, odd TIFF tags...
            with Image.open(io.BytesIO(data), formats=formats) as img:
                tagged = _orientation_of(img)
                turn = tagged or fallback_orientation
                if img.format in ("JPEG", "MPO"):
                    img.draft("RGB", (size, size))
                img.load()
                if tagged and not _orientation_of(img):
                    turn = 1  # Pillow turned it upright as it loaded it (its TIFF plugin does)
                small = _rgb(img)
        small.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        method = _TRANSPOSE.get(turn)
        if method is not None:
            small = small.transpose(Image.Transpose(method))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=QUALITY)
        return out.getvalue()
    except (Image.DecompressionBombError, MemoryError):
        return None
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, ...)
        log.debug("cannot decode an image: %s: %s", type(exc).__name__, exc)
        return None


def _orientation_of(img) -> int:
    try:
        value = int(img.getexif().get(0x0112, 0))
    except Exception:
        return 0
    return value if 1 <= value <= 8 else 0


def _rgb(img):
    """The image as RGB (or L): palettes, alpha, CMYK and 16-bit greys made displayable."""
    from PIL import Image

    if img.mode in ("RGB", "L"):
        return img.copy()
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if img.mode == "F":
        return img.convert("L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


# --- videos --------------------------------------------------------------------------------


def _video(path: Path, size: int, ffmpeg: str | None, deadline: float) -> bytes | None:
    """A poster frame through ffmpeg (1 s in, else the first frame), or None."""
    if ffmpeg is None:
        return None
    source = "file:" + os.path.abspath(path)  # never read as an option or another protocol
    # no larger than the frame, nor than size x size; the aspect kept
    box = f"w='min({size},iw)':h='min({size},ih)'"
    scale = f"scale={box}:force_original_aspect_ratio=decrease:force_divisible_by=2"
    for seek in (["-ss", "1"], []):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        command = [
            ffmpeg,
            *("-nostdin", "-hide_banner", "-loglevel", "error"),
            *("-protocol_whitelist", "file"),
            *seek,
            *("-i", source),
            *("-map", "0:v:0", "-an", "-sn", "-dn", "-frames:v", "1", "-vf", scale),
            *("-f", "image2pipe", "-c:v", "ppm", "pipe:1"),
        ]
        try:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, timeout=left, check=False
            )
        except subprocess.TimeoutExpired:
            log.debug("ffmpeg took more than %.0f s on %s", TIME_LIMIT, path)
            return None
        except OSError as exc:  # ffmpeg vanished, not executable...
            log.debug("cannot run ffmpeg: %s", exc)
            return None
        if done.returncode == 0 and done.stdout:
            return _decode(done.stdout, size, fallback_orientation=1, formats=("PPM",))
    return None

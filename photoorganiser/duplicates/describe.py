"""Describing a file for the keep policy and the report: pixels, date, camera, format.

Headers only (`media.metadata.read_media`), with Pillow for what those do not tell
(pixel size as displayed, EXIF make and date); HEIF opens through pillow-heif, which
`register_heif` registers once per process. Many files go through the worker pool.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from ..core.hashing import open_scanned
from ..core.parallel import pmap
from ..core.progress import Progress
from ..core.values import CaptureDate
from .exact import pread_upto
from .stage import StageContext
from .values import FileInfo, ReadFailure, cannot_read, not_read

log = logging.getLogger(__name__)

# Below this many files a process pool costs more than it saves: starting it takes
# ~0.3 s (more on a busy machine), while one process hashes ~1 GB/s of cached data.
IN_PROCESS_DESCRIBE = 5000  # files to describe (headers only) before using the pool


def describe(paths: Sequence[Path], ctx: StageContext) -> dict[Path, FileInfo]:
    """FileInfo for every path (failures go to ctx.failures)."""
    infos: dict[Path, FileInfo] = {}
    with Progress("describe", len(paths), ctx.show_progress) as progress:
        workers = ctx.workers if len(paths) >= IN_PROCESS_DESCRIBE else 1
        for result in pmap(
            describe_worker,
            [str(p) for p in paths],
            workers=workers,
            progress=progress,
            lost=not_read,
        ):
            if isinstance(result, ReadFailure):
                ctx.failures.append(result)
            else:
                infos[result.path] = result
    return infos


# A file of up to this many bytes is read whole, in one read, and described from its bytes
# (as the import's analysis does); a larger one is read where its readers look.
WHOLE_DESCRIBE = 256 << 10


def describe_files(files: Sequence[tuple[str, int]], ctx: StageContext) -> dict[str, FileInfo]:
    """FileInfo of each (path, size the scan saw), by path (failures go to
    ctx.failures): `describe`, for the exact groups' files, which the stages have just
    read. In this process, below IN_PROCESS_DESCRIBE files."""
    infos: dict[str, FileInfo] = {}
    with Progress("describe", len(files), ctx.show_progress) as progress:
        workers = ctx.workers if len(files) >= IN_PROCESS_DESCRIBE else 1
        for result in pmap(
            describe_sized,
            files,
            workers=workers,
            progress=progress,
            lost=lambda item, why: not_read(item[0], why),
        ):
            if isinstance(result, ReadFailure):
                ctx.failures.append(result)
            else:
                infos[str(result.path)] = result
    return infos


def describe_sized(item: tuple[str, int]) -> FileInfo | ReadFailure:
    """`describe_worker` for a file the scan saw (`item`: its path and size), in fewer
    steps: opened as the exact stages open it (a regular file only), and, when small,
    read whole and described from those bytes. Anything unusual (it cannot be opened, it
    changed size since the scan) goes the usual way, `describe_worker`."""
    path, size = item
    if size > WHOLE_DESCRIBE:
        return describe_worker(path)
    try:
        fd, end = open_scanned(path)
        try:
            data = pread_upto(fd, size + 1, 0, end)
        finally:
            os.close(fd)
    except OSError:
        return describe_worker(path)
    if len(data) != size:
        return describe_worker(path)
    return describe_bytes(path, data)


def describe_bytes(path: str, data: bytes) -> FileInfo:
    """`describe_worker` of a file whose bytes, all of them, are `data` (read whole by
    `describe_sized`, or by the exact stages: exact.sample_worker)."""
    info = FileInfo(Path(path), len(data))
    try:
        media = _read_media()(info.path, data, _local_zone())
    except Exception as exc:  # not media it knows (or damaged): an unknown date, no sizes
        log.debug("read_media(%s) failed: %s", path, exc)
        return info
    return _with_media(info, media)


@functools.cache
def _read_media():
    """media.metadata.read_media, imported once (its readers: only when a file is read)."""
    from ..media.metadata import read_media

    return read_media


@functools.cache
def _local_zone():
    """This machine's zone, for video dates in UTC (media.timezones), found once."""
    from ..media.timezones import resolve_timezone

    return resolve_timezone(None)


def _with_media(info: FileInfo, media) -> FileInfo:
    info = replace(
        info,
        width=media.width,
        height=media.height,
        captured=media.captured,
        make=media.make,
        format=media.format,
    )
    if info.width is None or info.format is None:
        info = _pillow_describe(info)
    return info


def describe_worker(path: str) -> FileInfo | ReadFailure:
    """Pool worker: pixel size, capture date, camera make and format of one file."""
    p = Path(path)
    try:
        size = os.stat(p, follow_symlinks=False).st_size
    except OSError as exc:
        return ReadFailure(p, cannot_read(exc))
    info = FileInfo(p, size)
    try:
        media = _read_media()(p, None, _local_zone())
    except Exception as exc:  # not media it knows (or damaged): an unknown date, no sizes
        log.debug("read_media(%s) failed: %s", p, exc)
        return info
    return _with_media(info, media)


def _pillow_describe(info: FileInfo) -> FileInfo:
    try:
        from PIL import Image

        from ..media.heif import register_heif

        register_heif()
        with Image.open(info.path) as img:
            width, height = display_size(img)
            exif = img.getexif()
            make = exif.get(0x010F)
            make = make.strip("\0 ").strip() if isinstance(make, str) else None
            captured = info.captured
            if captured is None:
                captured = _exif_date(exif)
            return replace(
                info,
                width=info.width or width,
                height=info.height or height,
                make=info.make or make or None,
                format=info.format or img.format,
                captured=captured,
            )
    except Exception as exc:  # not an image Pillow knows: sizes stay unknown
        log.debug("Pillow cannot describe %s: %s", info.path, exc)
        return info


def _exif_date(exif) -> CaptureDate | None:
    from ..core.values import DateSource

    try:
        text = exif.get_ifd(0x8769).get(0x9003) or None
        if not text:
            return None
        return CaptureDate(
            datetime.strptime(text.strip("\0 "), "%Y:%m:%d %H:%M:%S"),
            DateSource.EXIF_DATETIME_ORIGINAL,
        )
    except Exception:
        return None


def display_size(img) -> tuple[int, int]:
    """Width and height as shown, i.e. after the EXIF orientation is applied."""
    width, height = img.size
    if upright_on_open(img):
        return width, height
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    if orientation in (5, 6, 7, 8):
        return height, width
    return width, height


def upright_on_open(img) -> bool:
    """Whether Pillow gives this image upright already: its TIFF plugin (Pillow 10.1 and
    later) reports the size after the EXIF orientation and turns the pixels as it loads
    them; turning it again would lay it on its side."""
    return img.format == "TIFF" and _pillow_turns_tiffs()


@functools.cache
def _pillow_turns_tiffs() -> bool:
    """Asked of the Pillow at hand: a 2x1 TIFF tagged orientation 6 opens as 1x2."""
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("L", (2, 1)).save(buf, "TIFF", exif=exif)
    buf.seek(0)
    with Image.open(buf) as img:
        return img.size == (1, 2)

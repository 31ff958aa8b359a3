"""Read capture date, camera make/model and pixel size from a media file's content.

`read_media(path, data, tz)` decides the format from magic bytes (never the extension) and
hands the file to its reader, which reads only metadata: JPEG segments up to the scan,
PNG/RIFF/EBML chunks, TIFF IFDs, ISO BMFF boxes (MP4/MOV/HEIF/AVIF/CR3), skipping pixel and
media data. It never decodes an image. Which date wins is the date policy (policy.py).

    images.py      JPEG (+IPTC), EXV, MPO, PNG, GIF, WebP, BMP, JPEG XL
    containers.py  AVI, ASF/WMV, Matroska/WebM, MPEG-TS/M2TS (AVCHD, .tod), MPEG-PS
                   (.mpg, .vob, .mod), DV
    raw.py         TIFF-based RAW, CRW (ciff.py), X3F, RAF, MRW
    quicktime.py   ISO BMFF (bmff.py): HEIC/HEIF/AVIF, CR3, MP4/MOV/3GP
    found.py       what the readers fill in; MetadataError
    policy.py      the date chain, make/model/size: Found -> MediaInfo
"""

from __future__ import annotations

import os
from datetime import tzinfo
from pathlib import Path

from ..core.values import MediaInfo
from .bmff import Source
from .containers import read_asf, read_avi, read_dv, read_m2ts, read_mkv, read_mpeg_ps
from .found import Found, MetadataError
from .images import read_bmp, read_gif, read_jpeg, read_jxl, read_png, read_webp
from .policy import finish
from .quicktime import read_quicktime
from .raw import read_crw, read_mrw, read_raf, read_tiff, read_x3f

__all__ = ["MetadataError", "read_media"]

HEAD = 64 * 1024


def read_media(
    path: Path | str, data: bytes | None, tz: tzinfo, name: str | None = None
) -> MediaInfo:
    """What the content of `path` says: capture date, make/model, size, format.

    `data` is the whole file when the caller already read it; when None, only the needed
    parts of `path` are read. `name`: the file's name, when the caller has it already.
    Raises MetadataError (only) when the file is not readable media.
    """
    if name is None:
        name = path.name if isinstance(path, Path) else os.path.basename(path)
    try:
        with Source(path, data) as src:
            found = _read(src)
            return finish(found, tz, name)
    except MetadataError:
        raise
    except OSError as exc:
        raise MetadataError(f"cannot read the file: {exc.strerror or exc}") from exc
    except Exception as exc:  # a bug or a pathological file: never crash the import
        raise MetadataError(f"unreadable metadata ({type(exc).__name__}: {exc})") from exc


_BMFF_FIRST = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid"}
_JXL_BOX = b"\0\0\0\x0cJXL \r\n\x87\n"
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def _read(src: Source) -> Found:
    """Sniff the format from the first bytes and run its reader."""
    if src.size == 0:
        raise MetadataError("empty file (0 bytes)")
    head = src.read(0, HEAD)
    if not head.strip(b"\0"):
        data = src.data
        if data is not None and data.count(0) == len(data):
            raise MetadataError(f"all zero bytes ({len(data)} bytes, no content)")
        if len(head) == src.size:
            raise MetadataError(f"all zero bytes ({src.size} bytes, no content)")
        raise MetadataError("starts with zero bytes only: not a recognised media format")
    if head[:3] == b"\xff\xd8\xff":
        return read_jpeg(src, 0, "JPEG")
    if head[:7] == b"\xff\x01Exiv2":
        return read_jpeg(src, 7, "EXV", exv=True)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return read_png(src)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return read_gif(head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return read_webp(src)
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return read_avi(src)
    if head[:4] in (b"II*\0", b"MM\0*", b"IIRO", b"IIU\0", b"IIRS", b"MMOR"):
        return read_tiff(src, head)
    if head[:16] == b"FUJIFILMCCD-RAW ":
        return read_raf(src)
    if head[:4] == b"\0MRM":
        return read_mrw(src)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return read_mkv(src)
    if head[:16] == _ASF_GUID:
        return read_asf(src)
    if len(head) >= 8 and head[4:8] in _BMFF_FIRST:
        return read_quicktime(src)
    if _is_mpeg_ts(head):
        return read_m2ts(src, head)
    if head[:4] in (b"\0\0\1\xba", b"\0\0\1\xb3"):
        return read_mpeg_ps(src)
    if head[:2] == b"\xff\x0a" or head[:12] == _JXL_BOX:
        return read_jxl(src)
    if head[:14] == b"II\x1a\0\0\0HEAPCCDR":
        return read_crw(src)
    if head[:4] == b"FOVb":
        return read_x3f(src, head)
    if head[:3] == b"\x1f\x07\x00" and len(head) >= 480:
        return read_dv(src, head)
    if head[:2] == b"BM" and len(head) >= 26:
        return read_bmp(head)
    raise MetadataError("unrecognised content: not a known image or video format")


def _is_mpeg_ts(head: bytes) -> bool:
    for start, step in ((0, 188), (4, 192)):
        if len(head) >= start + 3 * step and all(head[start + i * step] == 0x47 for i in range(3)):
            return True
    return False

"""Camera RAW files: TIFF-based (CR2, NEF, ARW, DNG, ORF, RW2, PEF, IIQ, TIFF itself),
Canon CRW (CIFF), Sigma X3F and Fujifilm RAF (via their preview JPEG), Minolta MRW.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta

from ..core.values import CaptureDate, DateSource
from .bmff import Source
from .ciff import read_ciff
from .exif import (
    RW2_BORDERS,
    T_DNG_VERSION,
    T_EXIF_HEIGHT,
    T_EXIF_WIDTH,
    T_HEIGHT,
    T_SUBFILE_TYPE,
    T_WIDTH,
    T_XMP,
    ExifFormatError,
    ExifInfo,
    parse_tiff,
)
from .found import Found, MetadataError
from .images import read_jpeg
from .previews import holds_sensor_data

TIFF_HEAD = 4 * 1024 * 1024  # TIFF-based RAW: IFDs are read from the first 4 MiB


def read_tiff(src: Source, head: bytes, fmt: str | None = None, base: int = 0) -> Found:
    buf = src.data if base == 0 and src.data is not None else src.read(base, TIFF_HEAD)
    magic = buf[:4]
    if fmt is None:
        fmt = "TIFF"
        if magic == b"IIU\0":
            fmt = "RW2"
        elif magic in (b"IIRO", b"IIRS", b"MMOR"):
            fmt = "ORF"
        elif buf[8:10] == b"CR":
            fmt = "CR2"
        elif buf[8:16] == b"IIIICwaR":
            fmt = "IIQ"
    found = Found(fmt)
    if magic[:2] == b"II" and magic[2:4] not in (b"*\0",):
        buf = b"II*\0" + buf[4:]  # RW2/ORF: a TIFF with another magic number
    elif magic == b"MMOR":
        buf = b"MM\0*" + buf[4:]
    try:
        info = parse_tiff(buf)
    except (ExifFormatError, struct.error, IndexError) as exc:
        raise MetadataError(f"not a readable {fmt}: {exc}") from exc
    found.exif = info
    found.problems.extend(info.problems)
    if fmt == "TIFF":
        make = (info.make or "").upper()
        if T_DNG_VERSION in info.ifd0:
            fmt = "DNG"
        elif not holds_sensor_data(buf):
            pass  # a plain TIFF, whatever camera its EXIF names
        elif make.startswith("NIKON"):
            fmt = "NEF"
        elif make.startswith("SONY"):
            fmt = "ARW"
        elif make.startswith("PENTAX") or make.startswith("RICOH"):
            fmt = "PEF"
        found.format = fmt
    xmp = info.ifd0.get(T_XMP)
    if isinstance(xmp, bytes):
        found.xmp = xmp
    _tiff_size(found, info, fmt)
    return found


def _tiff_size(found: Found, info: ExifInfo, fmt: str) -> None:
    """exiftool's ImageSize for TIFF-based files (see its Composite:ImageSize)."""
    if fmt == "RW2":
        top, left, bottom, right = (info.ifd0.get(t) for t in RW2_BORDERS)
        if all(isinstance(v, int) for v in (top, left, bottom, right)):
            found.width, found.height = right - left, bottom - top  # type: ignore[operator]
            return
    if fmt in ("CR2", "IIQ"):
        w, h = info.exif.get(T_EXIF_WIDTH), info.exif.get(T_EXIF_HEIGHT)
        if isinstance(w, int) and isinstance(h, int):
            found.width, found.height = w, h
            return
    candidates = [info.ifd0, *info.subifds]
    best = info.ifd0
    if info.ifd0.get(T_SUBFILE_TYPE, 0) != 0:
        for ifd in candidates[1:]:
            if ifd.get(T_SUBFILE_TYPE, 0) == 0 and T_WIDTH in ifd:
                best = ifd
                break
    w, h = best.get(T_WIDTH), best.get(T_HEIGHT)
    if isinstance(w, int) and isinstance(h, int):
        found.width, found.height = w, h


def read_crw(src: Source) -> Found:
    found = Found("CRW")
    read_ciff(src.read(0, TIFF_HEAD), found, sizes=True)
    return found


def read_x3f(src: Source, head: bytes) -> Found:
    """Sigma X3F: pixel size in the header; make, model and date in the PROP section
    (older cameras, SD9/SD10/SD14); newer files carry a JPEG preview with EXIF too."""
    found = Found("X3F")
    if len(head) >= 36:
        found.width, found.height = struct.unpack_from("<II", head, 28)
    props = _x3f_properties(src)
    found.make, found.model = props.get("CAMMANUF"), props.get("CAMMODEL")
    stamp = props.get("TIME", "")
    if stamp.isascii() and stamp.isdigit() and 0 < int(stamp) < 2**33:
        wall = datetime(1970, 1, 1) + timedelta(seconds=int(stamp))
        found.others.append(CaptureDate(wall, DateSource.SIGMA_RAW_DATE))
    at = head.find(b"\xff\xd8\xff")
    if at >= 0:
        inner = read_jpeg(Source("", src.read(at, 1024 * 1024)), 0, "JPEG")
        found.exif, found.xmp = inner.exif, inner.xmp
    elif not props:
        found.warnings.append("Sigma X3F metadata is not read (no PROP section, no EXIF)")
    return found


def _x3f_properties(src: Source) -> dict[str, str]:
    """The PROP section's name=value pairs (UTF-16LE), found through the directory whose
    offset the file's last 4 bytes give."""
    if src.size < 16:
        return {}
    dir_off = struct.unpack("<I", src.read(src.size - 4, 4))[0]
    head = src.read(dir_off, 12)
    if len(head) < 12 or head[:4] != b"SECd":
        return {}
    count = min(struct.unpack_from("<I", head, 8)[0], 256)
    entries = src.read(dir_off + 12, 12 * count)
    out: dict[str, str] = {}
    for i in range(len(entries) // 12):
        off, length, kind = struct.unpack_from("<II4s", entries, 12 * i)
        if kind != b"PROP" or length > 1024 * 1024:
            continue
        sec = src.read(off, length)
        if len(sec) < 24 or sec[:4] != b"SECp":
            continue
        num = min(struct.unpack_from("<I", sec, 8)[0], 4096)
        chars_at = 24 + 8 * num
        text = sec[chars_at:].decode("utf-16-le", "replace")
        for j in range(num):
            if 24 + 8 * j + 8 > len(sec):
                break
            name_off, value_off = struct.unpack_from("<II", sec, 24 + 8 * j)
            name = text[name_off : text.find("\0", name_off)] if name_off < len(text) else ""
            value = text[value_off : text.find("\0", value_off)] if value_off < len(text) else ""
            if name:
                out.setdefault(name, value)
    return out


def read_raf(src: Source) -> Found:
    head = src.read(0, 100)
    if len(head) < 92:
        raise MetadataError("not a readable RAF: header cut short")
    jpeg_off, jpeg_len = struct.unpack_from(">II", head, 84)
    jpeg = src.read(jpeg_off, min(jpeg_len, 256 * 1024))
    found = Found("RAF")
    if jpeg[:3] == b"\xff\xd8\xff":
        inner = read_jpeg(Source("", jpeg), 0, "JPEG")
        found.exif, found.xmp = inner.exif, inner.xmp
    else:
        found.problems.append("RAF preview JPEG not found")
    if len(head) >= 100:
        # the RAF directory: the sensor's size (cropped as exiftool's ImageSize), not the
        # preview's EXIF size
        dir_off = struct.unpack_from(">I", head, 92)[0]
        sizes = _raf_sizes(src.read(dir_off, 4 + 64 * 1024))
        size = sizes.get(0x111) or sizes.get(0x100)
        if size:
            found.height, found.width = size
    return found


def _raf_sizes(block: bytes) -> dict[int, tuple[int, int]]:
    if len(block) < 4:
        return {}
    count = min(struct.unpack_from(">I", block, 0)[0], 1000)
    pos, out = 4, {}
    for _ in range(count):
        if pos + 4 > len(block):
            break
        tag, size = struct.unpack_from(">HH", block, pos)
        if tag in (0x100, 0x111) and size == 4 and pos + 8 <= len(block):
            h, w = struct.unpack_from(">HH", block, pos + 4)
            if h and w:
                out[tag] = (h, w)
        pos += 4 + size
    return out


def read_mrw(src: Source) -> Found:
    found = Found("MRW")
    head = src.read(0, 8)
    if len(head) < 8:
        raise MetadataError("not a readable MRW: header cut short")
    end = 8 + struct.unpack_from(">I", head, 4)[0]
    pos = 8
    for _ in range(64):
        if pos + 8 > min(end, src.size):
            break
        kind, length = struct.unpack(">4sI", src.read(pos, 8))
        if kind == b"\0PRD" and length >= 12:
            p = src.read(pos + 8, 16)
            if len(p) == 16:  # firmware id, sensor height/width, image height/width
                found.height, found.width = struct.unpack_from(">HH", p, 12)
        elif kind == b"\0TTW":
            try:
                found.exif = parse_tiff(src.read(pos + 8, length))
            except (ExifFormatError, struct.error, IndexError) as exc:
                found.warnings.append(f"corrupt EXIF block ({exc})")
        pos += 8 + length
    return found

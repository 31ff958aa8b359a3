"""Read capture date, camera make/model and pixel size from a media file's content.

`read_media(path, data, tz)` decides the format from magic bytes (never the extension) and
reads only metadata: JPEG segments up to the scan, PNG/RIFF/EBML chunks, TIFF IFDs, ISO BMFF
boxes (MP4/MOV/HEIF/AVIF/CR3), skipping pixel and media data. It never decodes an image.

Date priority (first valid one wins; zero, blank and impossible dates are skipped):

1. EXIF DateTimeOriginal (+ OffsetTimeOriginal, SubSecTimeOriginal)
2. EXIF CreateDate (DateTimeDigitized, + OffsetTimeDigitized, SubSecTimeDigitized)
3. the video's own date: Apple Keys CreationDate (local + zone), UserData `date` (local +
   zone), then QuickTime mvhd CreateDate / mdhd MediaCreateDate (UTC by spec, converted to
   wall time in `tz`; when an XMP date with a zone names the same instant within 2 minutes,
   that XMP date is used instead, since it also knows the local zone); RIFF/AVI, Matroska,
   H.264 (AVCHD) dates
4. XMP: exif:DateTimeOriginal, xmp:CreateDate, photoshop:DateCreated
5. others: IPTC DateCreated+TimeCreated, PNG "Creation Time", ASF CreationDate, and last
   EXIF ModifyDate (IFD0 DateTime)
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from ..core.values import CaptureDate, DateSource, MediaInfo
from .bmff import BmffInfo, Source, read_bmff
from .dates import (
    apply_subsec,
    make_datetime,
    parse_datetime,
    parse_rfc_date,
    parse_zone,
    utc_to_local,
)
from .exif import (
    RW2_BORDERS,
    T_CREATE,
    T_DATETIME,
    T_DNG_VERSION,
    T_DTO,
    T_EXIF_HEIGHT,
    T_EXIF_WIDTH,
    T_HEIGHT,
    T_MAKERNOTE,
    T_OFFSET_DIGI,
    T_OFFSET_ORIG,
    T_SUBFILE_TYPE,
    T_SUBSEC_DIGI,
    T_SUBSEC_ORIG,
    T_WIDTH,
    T_XMP,
    ExifFormatError,
    ExifInfo,
    apple_content_id,
    parse_exif_ifd,
    parse_tiff,
)
from .xmp import parse_xmp

__all__ = ["MetadataError", "read_media"]

HEAD = 64 * 1024
TIFF_HEAD = 4 * 1024 * 1024  # TIFF-based RAW: IFDs are read from the first 4 MiB
_QT_EPOCH = datetime(1904, 1, 1)
# utc_offset marker of an internal CaptureDate whose `wall` is a UTC instant still to be
# converted to wall time in the caller's tz (see _localise); never returned to callers.
_IS_UTC = timedelta.max
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\0"


class MetadataError(Exception):
    """The file cannot be read as media at all; str(exc) says why, for a person."""


@dataclass
class _Found:
    format: str
    is_video: bool = False
    width: int | None = None
    height: int | None = None
    make: str | None = None
    model: str | None = None
    exif: ExifInfo | None = None
    xmp: bytes | None = None
    video: CaptureDate | None = None  # the container's own date (step 3)
    others: list[CaptureDate] = field(default_factory=list)  # step 5
    xmp_extra: dict[str, str] = field(default_factory=dict)  # PNG tEXt "xmp:CreateDate"...
    qt_utc: datetime | None = None  # mvhd (UTC), to match an XMP date against
    problems: list[str] = field(default_factory=list)  # the content itself is damaged
    warnings: list[str] = field(default_factory=list)  # only metadata is unreadable
    content_id: str | None = None  # Apple's Live Photo identifier (videos: the Keys entry)


def read_media(path: Path, data: bytes | None, tz: tzinfo) -> MediaInfo:
    """What the content of `path` says: capture date, make/model, size, format.

    `data` is the whole file when the caller already read it; when None, only the needed
    parts of `path` are read. Raises MetadataError (only) when the file is not readable media.
    """
    try:
        with Source(path, data) as src:
            found = _read(src)
            return _finish(found, tz)
    except MetadataError:
        raise
    except OSError as exc:
        raise MetadataError(f"cannot read the file: {exc.strerror or exc}") from exc
    except Exception as exc:  # a bug or a pathological file: never crash the import
        raise MetadataError(f"unreadable metadata ({type(exc).__name__}: {exc})") from exc


# --- sniffing ------------------------------------------------------------------------

_BMFF_FIRST = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid"}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def _read(src: Source) -> _Found:
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
        return _read_jpeg(src, 0, "JPEG")
    if head[:7] == b"\xff\x01Exiv2":
        return _read_jpeg(src, 7, "EXV", exv=True)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _read_png(src)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _read_gif(head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _read_webp(src)
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return _read_avi(src)
    if head[:4] in (b"II*\0", b"MM\0*", b"IIRO", b"IIU\0", b"IIRS", b"MMOR"):
        return _read_tiff(src, head)
    if head[:16] == b"FUJIFILMCCD-RAW ":
        return _read_raf(src)
    if head[:4] == b"\0MRM":
        return _read_mrw(src)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _read_mkv(src)
    if head[:16] == _ASF_GUID:
        return _read_asf(src)
    if len(head) >= 8 and head[4:8] in _BMFF_FIRST:
        return _read_bmff(src)
    if _is_mpeg_ts(head):
        return _read_m2ts(src, head)
    if head[:14] == b"II\x1a\0\0\0HEAPCCDR":
        found = _Found("CRW")
        _read_ciff(src.read(0, TIFF_HEAD), found, sizes=True)
        return found
    if head[:4] == b"FOVb":
        return _read_x3f(src, head)
    if head[:3] == b"\x1f\x07\x00" and len(head) >= 480:
        return _read_dv(src, head)
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack_from("<ii", head, 18)
        return _Found("BMP", width=abs(w), height=abs(h))
    raise MetadataError("unrecognised content: not a known image or video format")


def _is_mpeg_ts(head: bytes) -> bool:
    for start, step in ((0, 188), (4, 192)):
        if len(head) >= start + 3 * step and all(head[start + i * step] == 0x47 for i in range(3)):
            return True
    return False


# --- JPEG ----------------------------------------------------------------------------

_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _read_jpeg(src: Source, start: int, fmt: str, exv: bool = False) -> _Found:
    found = _Found(fmt)
    pos = start + 2 if not exv else start
    sos = None
    iptc: bytes | None = None
    count = 0
    while pos + 4 <= src.size and count < 10_000:
        count += 1
        hdr = src.read(pos, 4)
        if hdr[0] != 0xFF:
            found.problems.append(f"corrupt JPEG: marker expected at byte {pos}")
            break
        marker = hdr[1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            break
        length = struct.unpack_from(">H", hdr, 2)[0]
        if length < 2:
            found.problems.append(f"corrupt JPEG: bad segment length at byte {pos}")
            break
        end = pos + 2 + length
        if end > src.size:
            found.problems.append("truncated: JPEG header segment cut short")
        if marker == 0xDA:
            sos = pos
            break
        if marker in _SOF or marker in (0xE0, 0xE1, 0xE2, 0xED):
            payload = src.read(pos + 4, length - 2)
            if marker == 0xE1 and payload[:6] == b"Exif\0\0" and found.exif is None:
                try:
                    found.exif = parse_tiff(payload[6:])
                except (ExifFormatError, struct.error, IndexError) as exc:
                    found.warnings.append(f"corrupt EXIF block ({exc})")
            elif marker == 0xE1 and payload.startswith(_XMP_JPEG) and found.xmp is None:
                found.xmp = payload[len(_XMP_JPEG) :]
            elif marker == 0xED and payload.startswith(b"Photoshop 3.0\0"):
                iptc = payload
            elif marker == 0xE0 and payload[6:10] == b"HEAP":
                _read_ciff(payload, found, sizes=False)
            elif marker == 0xE2 and payload[:4] == b"MPF\0" and fmt == "JPEG":
                found.format = "MPO"
            elif marker in _SOF and found.width is None and len(payload) >= 5:
                found.height, found.width = struct.unpack_from(">HH", payload, 1)
        pos = end
    if exv:
        found.width = found.height = None
        return found
    if sos is None:
        if found.width is None and found.exif is None and found.xmp is None:
            raise MetadataError("not a readable JPEG: no frame header or metadata found")
        found.problems.append("truncated: JPEG has no image data (no start-of-scan marker)")
    else:
        data = src.data
        if data is not None:
            ends = data.rfind(b"\xff\xd9", sos) >= 0
        else:
            tail_start = max(sos, src.size - 1024 * 1024)
            ends = src.read(tail_start, src.size - tail_start).rfind(b"\xff\xd9") >= 0
        if not ends:
            found.problems.append("truncated: JPEG data ends before the end-of-image marker")
    if iptc is not None:
        date = _iptc_date(iptc)
        if date is not None:
            found.others.append(date)
    return found


def _iptc_date(payload: bytes) -> CaptureDate | None:
    """IPTC 2:55 DateCreated + 2:60 TimeCreated from a Photoshop APP13 segment."""
    pos = payload.find(b"8BIM\x04\x04")
    if pos < 0:
        return None
    values: dict[int, bytes] = {}
    i = payload.find(b"\x1c\x02", pos)
    guard = 0
    while i >= 0 and i + 5 <= len(payload) and payload[i] == 0x1C and guard < 1000:
        guard += 1
        record, dataset, n = (
            payload[i + 1],
            payload[i + 2],
            struct.unpack_from(">H", payload, i + 3)[0],
        )
        if n & 0x8000:
            break
        if record == 2:
            values.setdefault(dataset, payload[i + 5 : i + 5 + n])
        i += 5 + n
    d = values.get(55, b"").decode("latin-1")
    if not re.fullmatch(r"\d{8}", d):
        return None
    t = values.get(60, b"").decode("latin-1").strip("\x00 ")
    m = re.match(r"(\d{2}):?(\d{2}):?(\d{2})([+-]\d{2}:?\d{2})?(?!\d)", t)
    if t and not m:  # a damaged time: not midnight of that day (see dates.py)
        return None
    hh, mi, ss, zone = (
        (int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)) if m else (0, 0, 0, None)
    )
    wall = make_datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), hh, mi, ss)
    if wall is None:
        return None
    return CaptureDate(wall, DateSource.IPTC_DATE_CREATED, parse_zone(zone))


# --- PNG / GIF / WEBP ----------------------------------------------------------------


def _read_png(src: Source) -> _Found:
    found = _Found("PNG")
    pos = 8
    count = 0
    seen_end = False
    while pos + 8 <= src.size and count < 100_000:
        count += 1
        length, kind = struct.unpack(">I4s", src.read(pos, 8))
        end = pos + 12 + length
        if end > src.size:
            found.problems.append(f"truncated: PNG chunk '{kind.decode('latin-1')}' cut short")
        if kind == b"IHDR" and length >= 8 and pos + 16 <= src.size:
            found.width, found.height = struct.unpack(">II", src.read(pos + 8, 8))
        elif kind == b"IEND":
            seen_end = True
            break
        elif kind in (b"eXIf", b"tEXt", b"iTXt", b"zTXt") and length <= 16 * 1024 * 1024:
            _png_text(found, kind, src.read(pos + 8, length))
        elif kind not in (b"IDAT", b"PLTE", b"IHDR") and not kind.isalpha():
            found.problems.append("corrupt PNG chunk list")
            break
        pos = end
    if found.width is None:
        raise MetadataError("not a readable PNG: no IHDR header")
    if not seen_end and not any(p.startswith("truncated") for p in found.problems):
        found.problems.append("truncated: PNG has no IEND chunk")
    return found


def _png_text(found: _Found, kind: bytes, payload: bytes) -> None:
    if kind == b"eXIf":
        if found.exif is None:
            found.exif = _tiff_or_problem(payload, found)
        return
    key, _, rest = payload.partition(b"\0")
    try:
        if kind == b"zTXt":
            text = zlib.decompressobj().decompress(rest[1:], 16 * 1024 * 1024)
        elif kind == b"iTXt":
            compressed = rest[:1] == b"\x01"
            rest = rest[2:]
            rest = rest.split(b"\0", 2)[-1]  # skip language tag and translated keyword
            text = zlib.decompressobj().decompress(rest, 16 * 1024 * 1024) if compressed else rest
        else:
            text = rest
    except zlib.error:
        found.warnings.append(f"corrupt PNG {kind.decode()} chunk")
        return
    if key == b"XML:com.adobe.xmp" and found.xmp is None:
        found.xmp = text
    elif key == b"Raw profile type xmp" and found.xmp is None:
        found.xmp = _imagemagick_profile(text)
    elif re.fullmatch(rb"(xmp|exif|photoshop|tiff):\w+", key):
        found.xmp_extra.setdefault(key.decode(), text.decode("utf-8", "replace").strip())
    elif key in (b"Raw profile type exif", b"Raw profile type APP1") and found.exif is None:
        raw = _imagemagick_profile(text)
        if raw is not None:
            start = raw.find(b"Exif\0\0")
            found.exif = _tiff_or_problem(raw[start + 6 :] if start >= 0 else raw, found)
    elif key == b"Creation Time":
        parsed = parse_datetime(text) or parse_rfc_date(text)
        if parsed:
            found.others.append(CaptureDate(parsed[0], DateSource.PNG_CREATION_TIME, parsed[1]))


def _imagemagick_profile(text: bytes) -> bytes | None:
    # "\nexif\n    1234\n4578696600..." : name, length, hex digits
    parts = text.split(None, 2)
    if len(parts) < 3:
        return None
    try:
        return bytes.fromhex(parts[2].decode("latin-1").replace("\n", "").replace(" ", ""))
    except ValueError:
        return None


def _read_gif(head: bytes) -> _Found:
    if len(head) < 10:
        raise MetadataError("not a readable GIF: header cut short")
    w, h = struct.unpack_from("<HH", head, 6)
    return _Found("GIF", width=w, height=h)


def _riff_chunks(src: Source, start: int, end: int, found: _Found):
    pos = start
    count = 0
    while pos + 8 <= end and count < 100_000:
        count += 1
        kind, length = struct.unpack("<4sI", src.read(pos, 8))
        if pos + 8 + length > src.size:
            found.problems.append(f"truncated: RIFF chunk '{kind.decode('latin-1')}' cut short")
        yield kind, pos + 8, min(pos + 8 + length, end)
        pos += 8 + length + (length & 1)


def _read_webp(src: Source) -> _Found:
    found = _Found("WEBP")
    for kind, start, end in _riff_chunks(src, 12, src.size, found):
        if kind == b"VP8X" and end - start >= 10:
            p = src.read(start, 10)
            found.width = int.from_bytes(p[4:7], "little") + 1
            found.height = int.from_bytes(p[7:10], "little") + 1
        elif kind == b"VP8 " and found.width is None and end - start >= 10:
            p = src.read(start, 10)
            w, h = struct.unpack_from("<HH", p, 6)
            found.width, found.height = w & 0x3FFF, h & 0x3FFF
        elif kind == b"VP8L" and found.width is None and end - start >= 5:
            p = src.read(start, 5)
            bits = int.from_bytes(p[1:5], "little")
            found.width, found.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif kind == b"EXIF" and found.exif is None:
            raw = src.read(start, end - start)
            if raw.startswith(b"Exif\0\0"):
                raw = raw[6:]
            found.exif = _tiff_or_problem(raw, found)
        elif kind == b"XMP " and found.xmp is None:
            found.xmp = src.read(start, end - start)
    if found.width is None:
        raise MetadataError("not a readable WEBP: no image header")
    return found


def _tiff_or_problem(raw: bytes, found: _Found) -> ExifInfo | None:
    try:
        return parse_tiff(raw)
    except (ExifFormatError, struct.error, IndexError) as exc:
        found.warnings.append(f"corrupt EXIF block ({exc})")
        return None


# --- AVI / ASF / Matroska / MPEG-TS -----------------------------------------------------


def _read_avi(src: Source) -> _Found:
    found = _Found("AVI", is_video=True)
    stack = [(12, src.size)]
    steps = 0
    while stack and steps < 10_000:
        start, end = stack.pop()
        for kind, s, e in _riff_chunks(src, start, end, found):
            steps += 1
            if kind == b"LIST":
                sub = src.read(s, 4)
                if sub in (b"hdrl", b"INFO", b"strl"):
                    stack.append((s + 4, e))
                elif sub == b"movi":
                    break
            elif kind == b"avih" and e - s >= 40 and found.width is None:
                found.width, found.height = struct.unpack("<II", src.read(s + 32, 8))
            elif kind in (b"IDIT", b"ICRD") and e - s < 256:
                text = src.read(s, e - s)
                parsed = parse_rfc_date(text) or parse_datetime(text)
                if parsed and found.video is None:
                    found.video = CaptureDate(parsed[0], DateSource.RIFF_DATETIME_ORIGINAL)
            elif kind == b"strd" and found.exif is None and e - s < 1024 * 1024:
                raw = src.read(s, e - s)
                at = max(raw.find(b"II*\0"), raw.find(b"MM\0*"))
                if at >= 0:
                    found.exif = _tiff_or_problem(raw[at:], found)
    return found


_ASF_FILE_PROPS = bytes.fromhex("a1dcab8c47a9cf118ee400c00c205365")
_ASF_STREAM_PROPS = bytes.fromhex("9107dcb7b7a9cf118ee600c00c205365")
_ASF_VIDEO = bytes.fromhex("c0ef19bc4d5bcf11a8fd00805f5c442b")


def _read_asf(src: Source) -> _Found:
    found = _Found("WMV", is_video=True)
    head = src.read(0, min(src.size, 1024 * 1024))
    if len(head) < 30:
        raise MetadataError("not a readable ASF/WMV: header cut short")
    count = struct.unpack_from("<I", head, 24)[0]
    pos = 30
    for _ in range(min(count, 1000)):
        if pos + 24 > len(head):
            break
        guid, size = head[pos : pos + 16], struct.unpack_from("<Q", head, pos + 16)[0]
        if size < 24:
            break
        if guid == _ASF_FILE_PROPS and pos + 56 <= len(head):
            ticks = struct.unpack_from("<Q", head, pos + 48)[0]
            if ticks:
                utc = datetime(1601, 1, 1) + timedelta(microseconds=ticks // 10)
                if make_datetime(utc.year, utc.month, utc.day):
                    found.others.append(CaptureDate(utc, DateSource.ASF_CREATION_DATE, _IS_UTC))
        elif (
            guid == _ASF_STREAM_PROPS
            and head[pos + 24 : pos + 40] == _ASF_VIDEO
            and found.width is None
            and pos + 86 <= len(head)
        ):
            found.width, found.height = struct.unpack_from("<II", head, pos + 78)
        pos += size
    return found


def _ebml_vint(buf: bytes, pos: int, is_id: bool) -> tuple[int, int]:
    first = buf[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(buf):
        raise ValueError("bad EBML number")
    value = first if is_id else first & (mask - 1)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    if not is_id and value == (1 << (7 * length)) - 1:
        value = -1  # unknown size
    return value, pos + length


def _read_mkv(src: Source) -> _Found:
    found = _Found("MKV", is_video=True)
    buf = src.read(0, min(src.size, 4 * 1024 * 1024))
    date_utc: datetime | None = None

    def walk(start: int, end: int, depth: int) -> None:
        nonlocal date_utc
        pos = start
        steps = 0
        while pos < end and steps < 10_000 and depth < 8:
            steps += 1
            ident, p = _ebml_vint(buf, pos, True)
            size, p = _ebml_vint(buf, p, False)
            stop = end if size < 0 else min(p + size, end)
            if ident == 0x4282:  # DocType
                if buf[p:stop].rstrip(b"\0") == b"webm":
                    found.format = "WEBM"
            elif ident in (0x18538067, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0):
                walk(p, stop, depth + 1)  # Segment, Info, Tracks, TrackEntry, Video
            elif ident == 0x4461 and stop - p == 8:  # DateUTC, ns since 2001
                ns = struct.unpack(">q", buf[p:stop])[0]
                date_utc = datetime(2001, 1, 1) + timedelta(microseconds=ns // 1000)
            elif ident == 0xB0 and found.width is None:
                found.width = int.from_bytes(buf[p:stop], "big")
            elif ident == 0xBA and found.height is None:
                found.height = int.from_bytes(buf[p:stop], "big")
            elif ident == 0x1F43B675:  # Cluster: media data starts
                return
            if size < 0 and ident not in (0x18538067,):
                return
            pos = stop

    try:
        walk(0, len(buf), 0)
    except (ValueError, IndexError, struct.error, OverflowError):
        found.problems.append("corrupt Matroska header")
    if date_utc is not None and make_datetime(date_utc.year, date_utc.month, date_utc.day):
        found.video = CaptureDate(date_utc, DateSource.MATROSKA_DATE, _IS_UTC)
    return found


_H264_MAKERS = {0x0103: "Panasonic", 0x0108: "Sony", 0x1011: "Canon", 0x1104: "JVC"}
_MDPM = bytes.fromhex("17ee8c60f84d11d98cd60800200c9a66") + b"MDPM"


def _read_m2ts(src: Source, head: bytes) -> _Found:
    found = _Found("M2TS", is_video=True)
    buf = src.read(0, min(src.size, 2 * 1024 * 1024))
    at = buf.find(_MDPM)
    if at < 0:
        return found
    # the SEI payload is an H.264 NAL unit: drop its emulation-prevention bytes
    buf = buf[at : at + 1024].replace(b"\x00\x00\x03", b"\x00\x00")
    pos = len(_MDPM)
    if pos >= len(buf):
        return found
    n = buf[pos]
    pos += 1
    tags: dict[int, bytes] = {}
    for _ in range(n):
        if pos + 5 > len(buf):
            break
        tags.setdefault(buf[pos], buf[pos + 1 : pos + 5])
        pos += 5
    a, b = tags.get(0x18), tags.get(0x19)
    if a and b:
        digits = (a[1:] + b).hex()
        try:
            wall = make_datetime(
                int(digits[0:4]),
                int(digits[4:6]),
                int(digits[6:8]),
                int(digits[8:10]),
                int(digits[10:12]),
                int(digits[12:14]),
            )
        except ValueError:  # not BCD
            wall = None
        offset = None
        tzb = a[0]
        if not tzb & 0x80:  # bit 6 DST, bit 5 sign, bits 4-1 hours, bit 0 half hour
            offset = timedelta(hours=(tzb >> 1) & 0x0F, minutes=30 if tzb & 1 else 0)
            if tzb & 0x20:
                offset = -offset
        if wall is not None:
            found.video = CaptureDate(wall, DateSource.H264_DATETIME_ORIGINAL, offset)
    maker = tags.get(0xE0)
    if maker:
        found.make = _H264_MAKERS.get(struct.unpack_from(">H", maker)[0])
    return found


# --- TIFF-based RAW ------------------------------------------------------------------


def _read_tiff(src: Source, head: bytes, fmt: str | None = None, base: int = 0) -> _Found:
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
    found = _Found(fmt)
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


def _tiff_size(found: _Found, info: ExifInfo, fmt: str) -> None:
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


def _read_ciff(buf: bytes, found: _Found, sizes: bool) -> None:
    """Canon CIFF (CRW files, PowerShot JPEG APP0): MakeModel, TimeStamp, ImageInfo."""
    if buf[:2] != b"II" or len(buf) < 14:
        return
    hlen = struct.unpack_from("<I", buf, 2)[0]
    heaps = [(hlen, len(buf))]
    guard = 0
    while heaps and guard < 256:
        guard += 1
        start, end = heaps.pop()
        if end - start < 6 or end > len(buf):
            continue
        table = start + struct.unpack_from("<I", buf, end - 4)[0]
        if not start <= table < end - 2:
            continue
        count = struct.unpack_from("<H", buf, table)[0]
        for i in range(min(count, 1000)):
            pos = table + 2 + 10 * i
            if pos + 10 > end:
                break
            tag, size, off = struct.unpack_from("<HII", buf, pos)
            if tag & 0xC000 == 0x4000:
                data_at, size = pos + 2, min(size, 8)
            else:
                data_at = start + off
            if data_at + size > end:
                continue
            ident = tag & 0x3FFF
            if tag & 0x3800 in (0x2800, 0x3000):
                heaps.append((data_at, data_at + size))
            elif ident == 0x080A and found.make is None:
                parts = buf[data_at : data_at + size].split(b"\0")
                if len(parts) >= 2:
                    found.make, found.model = (
                        _clean(parts[0].decode("latin-1")),
                        _clean(parts[1].decode("latin-1")),
                    )
            elif ident == 0x180E and size >= 4 and found.video is None:
                stamp = struct.unpack_from("<I", buf, data_at)[0]
                when = datetime(1970, 1, 1) + timedelta(seconds=stamp)
                if stamp and make_datetime(when.year, when.month, when.day):
                    found.video = CaptureDate(when, DateSource.CANON_RAW_DATE)
            elif ident == 0x1810 and size >= 8 and sizes and found.width is None:
                found.width, found.height = struct.unpack_from("<II", buf, data_at)


def _bcd(byte: int, mask: int) -> int:
    byte &= mask
    hi, lo = byte >> 4, byte & 15
    if hi > 9 or lo > 9:
        raise ValueError("not BCD")
    return hi * 10 + lo


def _read_dv(src: Source, head: bytes) -> _Found:
    """Raw DV: 80-byte DIF blocks; the VAUX section holds recording date (0x62) and time
    (0x63) packs."""
    found = _Found("DV", is_video=True, width=720, height=576 if head[3] & 0x80 else 480)
    buf = src.read(0, 150 * 1024)
    packs: dict[int, bytes] = {}
    for pos in range(0, len(buf) - 79, 80):
        if buf[pos] >> 5 != 2:  # VAUX section
            continue
        for i in range(15):
            pack = buf[pos + 3 + 5 * i : pos + 8 + 5 * i]
            if pack[0] in (0x62, 0x63) and pack[1:] != b"\xff\xff\xff\xff":
                packs.setdefault(pack[0], pack)
        if len(packs) == 2:
            break
    d, t = packs.get(0x62), packs.get(0x63)
    if d and t:
        try:
            year = _bcd(d[4], 0xFF)
            wall = make_datetime(
                year + (1900 if year >= 70 else 2000),
                _bcd(d[3], 0x1F),
                _bcd(d[2], 0x3F),
                _bcd(t[4], 0x3F),
                _bcd(t[3], 0x7F),
                _bcd(t[2], 0x7F),
            )
        except ValueError:
            wall = None
        if wall is not None:
            found.video = CaptureDate(wall, DateSource.DV_DATETIME_ORIGINAL)
    return found


def _read_x3f(src: Source, head: bytes) -> _Found:
    """Sigma X3F: newer files carry a JPEG preview with EXIF in the header area."""
    at = head.find(b"\xff\xd8\xff")
    if at < 0:
        return _Found("X3F", warnings=["Sigma X3F metadata is not read (no EXIF preview)"])
    inner = _read_jpeg(Source("", src.read(at, 1024 * 1024)), 0, "JPEG")
    inner.format = "X3F"
    inner.problems = []
    return inner


def _read_raf(src: Source) -> _Found:
    head = src.read(0, 100)
    if len(head) < 92:
        raise MetadataError("not a readable RAF: header cut short")
    jpeg_off, jpeg_len = struct.unpack_from(">II", head, 84)
    jpeg = src.read(jpeg_off, min(jpeg_len, 256 * 1024))
    found = _Found("RAF")
    if jpeg[:3] == b"\xff\xd8\xff":
        inner = _read_jpeg(Source("", jpeg), 0, "JPEG")
        found.exif, found.xmp = inner.exif, inner.xmp
    else:
        found.problems.append("RAF preview JPEG not found")
    return found


def _read_mrw(src: Source) -> _Found:
    found = _Found("MRW")
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


# --- ISO BMFF ------------------------------------------------------------------------

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2", b"heif"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _bmff_format(b: BmffInfo) -> tuple[str, bool]:
    brand = b.major_brand
    brands = {brand, *b.compatible}
    if brand == b"crx ":
        return "CR3", False
    if b.heif is not None and b.heif.primary is not None or brand in _HEIC_BRANDS | _AVIF_BRANDS:
        if brand in _AVIF_BRANDS or (brand not in _HEIC_BRANDS and brands & _AVIF_BRANDS):
            return "AVIF", False
        return ("HEIC" if brand in _HEIC_BRANDS else "HEIF"), False
    if brand in _HEIF_BRANDS and not b.tracks:
        return "HEIF", False
    if brand == b"qt  " or not brand:
        return "MOV", True
    if brand.startswith(b"3g2"):
        return "3G2", True
    if brand.startswith(b"3g"):
        return "3GP", True
    if brand.startswith(b"M4V"):
        return "M4V", True
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return "M4A", False
    return "MP4", True


def _read_bmff(src: Source) -> _Found:
    b = read_bmff(src)
    fmt, is_video = _bmff_format(b)
    found = _Found(fmt, is_video=is_video)
    found.problems.extend(dict.fromkeys(b.problems))
    found.xmp = b.xmp
    if fmt == "CR3":
        cmt1, cmt2 = b.canon_cmt.get(b"CMT1"), b.canon_cmt.get(b"CMT2")
        if cmt1:
            found.exif = _tiff_or_problem(cmt1, found)
            if found.exif is not None:
                w, h = found.exif.ifd0.get(T_WIDTH), found.exif.ifd0.get(T_HEIGHT)
                if isinstance(w, int) and isinstance(h, int):
                    found.width, found.height = w, h
        if cmt2:
            try:
                exif_ifd = parse_exif_ifd(cmt2)
                if found.exif is None:
                    found.exif = exif_ifd
                else:
                    found.exif.exif = exif_ifd.exif
            except (ExifFormatError, struct.error, IndexError) as exc:
                found.warnings.append(f"corrupt EXIF block ({exc})")
    elif b.heif is not None and not is_video:
        heif = b.heif
        size = heif.item_size(heif.primary)
        if size is None:
            sizes = [heif.item_size(i) for i in heif.item_types]
            size = next((s for s in sizes if s), None)
        if size:
            found.width, found.height = size
        raw = b.canon_cmt.get(b"Exif")
        if raw:
            at = [i for i in (raw.find(b"II*\0"), raw.find(b"MM\0*")) if i >= 0]
            if at:
                found.exif = _tiff_or_problem(raw[min(at) :], found)
        if heif.primary is None:
            found.problems.append("HEIF has no primary image")
    if is_video or fmt == "CR3":
        if not b.has_moov and is_video:
            found.problems.append("no 'moov' box: not a playable video (truncated?)")
        _bmff_video(found, b)
    if found.format in ("MP4", "MOV") and not b.has_moov and not b.major_brand and not b.has_mdat:
        raise MetadataError("unrecognised content: not a known image or video format")
    return found


def _qt_time(seconds: int) -> datetime | None:
    if seconds <= 0:
        return None
    try:
        when = _QT_EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None
    return when if make_datetime(when.year, when.month, when.day) else None


def _bmff_video(found: _Found, b: BmffInfo) -> None:
    video = next((t for t in b.tracks if t.handler == b"vide" and t.width and t.height), None)
    if found.is_video and video is not None:
        found.width, found.height = video.width, video.height
    keys = b.keys
    found.content_id = keys.get("com.apple.quicktime.content.identifier") or None
    found.make = keys.get("com.apple.quicktime.make") or b.udta.get(b"\xa9mak")
    found.model = keys.get("com.apple.quicktime.model") or b.udta.get(b"\xa9mod")
    parsed = parse_datetime(keys.get("com.apple.quicktime.creationdate"))
    if parsed:
        found.video = CaptureDate(parsed[0], DateSource.QUICKTIME_CREATION_DATE, parsed[1])
        return
    parsed = parse_datetime(b.udta.get(b"date"))
    if parsed:
        found.video = CaptureDate(parsed[0], DateSource.QUICKTIME_DATETIME_ORIGINAL, parsed[1])
        return
    utc = _qt_time(b.mvhd_created)
    if utc is not None:
        found.qt_utc = utc
        found.video = CaptureDate(utc, DateSource.QUICKTIME_CREATE_DATE, _IS_UTC)
        return
    for track in b.tracks:
        utc = _qt_time(track.created)
        if utc is not None:
            found.qt_utc = utc
            found.video = CaptureDate(utc, DateSource.QUICKTIME_MEDIA_CREATE_DATE, _IS_UTC)
            return
    parsed = parse_datetime(b.udta.get(b"\xa9day"))
    if parsed:
        found.video = CaptureDate(parsed[0], DateSource.QUICKTIME_CONTENT_CREATE_DATE, parsed[1])


# --- the date chain --------------------------------------------------------------------


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) else None


def _exif_dates(exif: ExifInfo) -> list[CaptureDate]:
    out = []
    for tag, off_tag, sub_tag, source in (
        (T_DTO, T_OFFSET_ORIG, T_SUBSEC_ORIG, DateSource.EXIF_DATETIME_ORIGINAL),
        (T_CREATE, T_OFFSET_DIGI, T_SUBSEC_DIGI, DateSource.EXIF_CREATE_DATE),
    ):
        parsed = parse_datetime(_text(exif.exif.get(tag)))
        if parsed:
            wall = apply_subsec(parsed[0], _text(exif.exif.get(sub_tag)))
            offset = parse_zone(_text(exif.exif.get(off_tag))) or parsed[1]
            out.append(CaptureDate(wall, source, offset))
    return out


_XMP_SOURCES = {
    "DateTimeOriginal": DateSource.XMP_DATETIME_ORIGINAL,
    "CreateDate": DateSource.XMP_CREATE_DATE,
    "DateCreated": DateSource.XMP_DATE_CREATED,
}


def _localise(date: CaptureDate, tz: tzinfo) -> CaptureDate:
    """Dates marked utc_offset="UTC" (a UTC instant) become wall time in tz."""
    if date.utc_offset != _IS_UTC:
        return date
    wall, offset = utc_to_local(date.wall, tz)
    return CaptureDate(wall, date.source, offset)


def _finish(found: _Found, tz: tzinfo) -> MediaInfo:
    exif = found.exif
    xmp = parse_xmp(found.xmp or b"") if found.xmp or found.xmp_extra else None
    if xmp is not None:
        for key, value in found.xmp_extra.items():
            xmp.values.setdefault(key, value)
    chain: list[CaptureDate] = []
    if exif is not None:
        # Inside a JPEG/HEIF/PNG the EXIF is only metadata; a TIFF-based file's own
        # structure problems were already counted as damage by _read_tiff.
        found.warnings.extend(p for p in exif.problems if p not in found.problems)
        chain.extend(_exif_dates(exif))
    xmp_date = None
    if xmp is not None:
        got = xmp.capture_date(date_created=False)
        if got:
            xmp_date = CaptureDate(got[0], _XMP_SOURCES[got[2]], got[1])
    if found.video is not None:
        video = found.video
        if (
            found.qt_utc is not None
            and xmp_date is not None
            and xmp_date.utc_offset is not None
            and abs((xmp_date.wall - xmp_date.utc_offset) - found.qt_utc) <= timedelta(minutes=2)
        ):
            video = xmp_date  # same instant, and it knows the local zone
        chain.append(video)
    if xmp_date is not None:
        chain.append(xmp_date)
    chain.extend(found.others)
    if xmp is not None:
        got = xmp.date_created()
        if got:
            chain.append(CaptureDate(got[0], DateSource.XMP_DATE_CREATED, got[1]))
    if exif is not None:
        parsed = parse_datetime(_text(exif.ifd0.get(T_DATETIME)))
        if parsed:
            chain.append(CaptureDate(parsed[0], DateSource.EXIF_MODIFY_DATE, parsed[1]))
    captured = _localise(chain[0], tz) if chain else None

    make = found.make or (exif.make if exif else None) or (xmp.make if xmp else None)
    model = found.model or (exif.model if exif else None) or (xmp.model if xmp else None)
    width, height = found.width, found.height
    if (width is None or height is None) and exif is not None:
        w, h = exif.exif.get(T_EXIF_WIDTH), exif.exif.get(T_EXIF_HEIGHT)
        if isinstance(w, int) and isinstance(h, int) and w and h:
            width, height = w, h
    return MediaInfo(
        captured=captured,
        make=_clean(make),
        model=_clean(model),
        width=width or None,
        height=height or None,
        format=found.format,
        is_video=found.is_video,
        problems=tuple(dict.fromkeys(found.problems)),
        warnings=tuple(w for w in dict.fromkeys(found.warnings) if w not in found.problems),
        content_id=found.content_id
        or (apple_content_id(exif.exif.get(T_MAKERNOTE)) if exif is not None else None),
    )


def _clean(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace("\0", "").strip()
    return value or None

"""Still-image formats: JPEG (with IPTC; also EXV and MPO), PNG, GIF, WebP, BMP.

Each reader walks the file's segments or chunks up to the image data and fills a `Found`.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib

from ..core.values import CaptureDate, DateSource
from .bmff import Source
from .ciff import read_ciff
from .containers import riff_chunks
from .dates import make_datetime, parse_datetime, parse_rfc_date, parse_zone
from .exif import ExifFormatError, parse_tiff
from .found import Found, MetadataError, tiff_or_problem

_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\0"


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_READ_MARKERS = _SOF | {0xE0, 0xE1, 0xE2, 0xED}  # the segments whose payload is looked at
_U16 = struct.Struct(">H").unpack_from


def read_jpeg(src: Source, start: int, fmt: str, exv: bool = False) -> Found:
    found = Found(fmt)
    pos = start + 2 if not exv else start
    sos = None
    iptc: list[bytes] = []
    ciff: Found | None = None  # a Canon CIFF block in APP0: the EXIF's make, if any, wins
    count = 0
    data = src.data  # in memory (the usual case): segment headers read without a copy
    while pos + 4 <= src.size and count < 10_000:
        count += 1
        hdr = data if data is not None else src.read(pos, 4)
        at = pos if data is not None else 0
        if hdr[at] != 0xFF:
            # libjpeg (and so Pillow) skips stray bytes up to the next marker, as exiftool
            # does ("[minor] Skipped unknown N bytes"): a segment a few bytes short is not
            # damage. Only a file with no marker in reach is.
            nxt = _next_marker(src, pos)
            if nxt is None:
                found.problems.append(f"corrupt JPEG: marker expected at byte {pos}")
                break
            found.warnings.append(f"JPEG: skipped {nxt - pos} stray bytes at byte {pos}")
            pos = nxt
            continue
        marker = hdr[at + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            break
        length = _U16(hdr, at + 2)[0]
        if length < 2:
            found.problems.append(f"corrupt JPEG: bad segment length at byte {pos}")
            break
        end = pos + 2 + length
        if end > src.size:
            found.problems.append("truncated: JPEG header segment cut short")
        if marker == 0xDA:
            sos = pos
            break
        if marker in _READ_MARKERS:
            payload = src.read(pos + 4, length - 2)
            if marker == 0xE1 and payload[:6] == b"Exif\0\0" and found.exif is None:
                try:
                    found.exif = parse_tiff(payload[6:])
                except (ExifFormatError, struct.error, IndexError) as exc:
                    found.warnings.append(f"corrupt EXIF block ({exc})")
            elif marker == 0xE1 and payload.startswith(_XMP_JPEG) and found.xmp is None:
                found.xmp = payload[len(_XMP_JPEG) :]
            elif marker == 0xED and payload.startswith(b"Photoshop 3.0\0"):
                iptc.append(payload)
            elif marker == 0xE1 and payload[:5] == b"QVCI\0":
                _casio_date(payload, found)
            elif marker == 0xE0 and payload[6:10] == b"HEAP" and ciff is None:
                ciff = Found("CIFF")
                read_ciff(payload, ciff, sizes=False)
            elif marker == 0xE2 and payload[:4] == b"MPF\0" and fmt == "JPEG":
                found.format = "MPO"
            elif marker in _SOF and found.width is None and len(payload) >= 5:
                found.height, found.width = struct.unpack_from(">HH", payload, 1)
        pos = end
    if ciff is not None:
        if not (found.exif is not None and found.exif.make):
            found.make, found.model = ciff.make, ciff.model
        found.video = found.video or ciff.video
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
    if iptc:
        _read_iptc(iptc, found)
    return found


def _casio_date(payload: bytes, found: Found) -> None:
    """Casio QV cameras (1990s): `1998.10.24.12.08.57` in a QVCI APP1 segment."""
    m = re.search(rb"(\d{4})\.(\d{2})\.(\d{2})\.(\d{2})\.(\d{2})\.(\d{2})", payload[:256])
    if m:
        wall = make_datetime(*(int(g) for g in m.groups()))
        if wall is not None:
            found.others.append(CaptureDate(wall, DateSource.CASIO_DATE))


_SKIP_LIMIT = 64 * 1024  # how far past a segment's end a marker is looked for


def _next_marker(src: Source, pos: int) -> int | None:
    """Where the next marker (0xFF, then a byte not 0x00 and not 0xFF) starts after pos."""
    window = src.read(pos, min(_SKIP_LIMIT, src.size - pos))
    i = window.find(b"\xff")
    while 0 <= i < len(window) - 1:
        j = i
        while j < len(window) - 1 and window[j + 1] == 0xFF:
            j += 1  # fill bytes
        if j + 1 < len(window) and window[j + 1] != 0x00:
            return pos + j
        i = window.find(b"\xff", j + 1)
    return None


def _read_iptc(segments: list[bytes], found: Found) -> None:
    """IPTC 2:55 DateCreated + 2:60 TimeCreated from the Photoshop APP13 segments: one
    IPTC block may be split over several segments, or each segment may hold its own."""
    values: dict[int, bytes] = {}
    for payload in segments:
        _iptc_values(payload, values)
    if 55 not in values:  # a block split over segments: its records run on
        _iptc_values(segments[0] + b"".join(p[14:] for p in segments[1:]), values)
    date = _iptc_date(values)
    if date is not None:
        found.iptc.append(date)
        found.iptc_date_only = not values.get(60, b"").strip(b"\x00 ")
        resources = _photoshop_resources(b"".join(p[14:] for p in segments))
        digest, block = resources.get(0x0425), resources.get(0x0404)
        if digest is not None and block is not None and len(digest) == 16:
            # MWG: an IPTCDigest that no longer matches says an editor changed the XMP
            # after the IPTC; the XMP's photoshop:DateCreated is then trusted first
            found.iptc_stale = hashlib.md5(block, usedforsecurity=False).digest() != digest


def _photoshop_resources(stream: bytes) -> dict[int, bytes]:
    """Photoshop image resources (`8BIM`, id, Pascal name, size, data) by id, first wins."""
    out: dict[int, bytes] = {}
    pos = 0
    for _ in range(1000):
        if pos + 12 > len(stream) or stream[pos : pos + 4] != b"8BIM":
            break
        rid = struct.unpack_from(">H", stream, pos + 4)[0]
        name = (stream[pos + 6] + 2) & ~1  # length byte + name, padded to even
        at = pos + 6 + name
        if at + 4 > len(stream):
            break
        size = struct.unpack_from(">I", stream, at)[0]
        out.setdefault(rid, stream[at + 4 : at + 4 + size])
        pos = at + 4 + size + (size & 1)
    return out


def _iptc_values(payload: bytes, values: dict[int, bytes]) -> None:
    """The record-2 datasets of the IPTC block (Photoshop resource 0x0404) in payload."""
    pos = payload.find(b"8BIM\x04\x04")
    if pos < 0:
        return
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


def _iptc_date(values: dict[int, bytes]) -> CaptureDate | None:
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


def read_png(src: Source) -> Found:
    found = Found("PNG")
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


_PNG_KEYS = frozenset(
    {
        b"XML:com.adobe.xmp",
        b"Raw profile type xmp",
        b"Raw profile type exif",
        b"Raw profile type APP1",
        b"Creation Time",
    }
)


def _png_text(found: Found, kind: bytes, payload: bytes) -> None:
    if kind == b"eXIf":
        if found.exif is None:
            found.exif = tiff_or_problem(payload, found)
        return
    key, _, rest = payload.partition(b"\0")
    if not (key in _PNG_KEYS or re.fullmatch(rb"(xmp|exif|photoshop|tiff):\w+", key)):
        return  # text nobody reads here is not decompressed (a zlib bomb stays shut)
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
            found.exif = tiff_or_problem(raw[start + 6 :] if start >= 0 else raw, found)
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


def read_gif(head: bytes) -> Found:
    if len(head) < 10:
        raise MetadataError("not a readable GIF: header cut short")
    w, h = struct.unpack_from("<HH", head, 6)
    return Found("GIF", width=w, height=h)


def read_webp(src: Source) -> Found:
    found = Found("WEBP")
    for kind, start, end in riff_chunks(src, 12, src.size, found):
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
            found.exif = tiff_or_problem(raw, found)
        elif kind == b"XMP " and found.xmp is None:
            found.xmp = src.read(start, end - start)
    if found.width is None:
        raise MetadataError("not a readable WEBP: no image header")
    return found


def read_bmp(head: bytes) -> Found:
    if struct.unpack_from("<I", head, 14)[0] == 12:  # OS/2 1.x BITMAPCOREHEADER: 16-bit
        w, h = struct.unpack_from("<HH", head, 18)
    else:
        w, h = struct.unpack_from("<ii", head, 18)
    return Found("BMP", width=abs(w), height=abs(h))


_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def read_jxl(src: Source) -> Found:
    """JPEG XL: a bare codestream (FF 0A) or ISO BMFF-style boxes around it, with `Exif`
    and `xml ` (XMP) boxes. The size comes from the codestream's SizeHeader."""
    found = Found("JXL")
    head = src.read(0, 64)
    if head[:2] == b"\xff\x0a":
        _jxl_size(head[2:], found)
        return found
    pos, count = 0, 0
    while pos + 8 <= src.size and count < 10_000:
        count += 1
        size, kind = struct.unpack(">I4s", src.read(pos, 8))
        header = 8
        if size == 1:
            if pos + 16 > src.size:
                break
            size, header = struct.unpack(">Q", src.read(pos + 8, 8))[0], 16
        elif size == 0:
            size = src.size - pos
        if size < header:
            found.problems.append(f"corrupt JPEG XL box size at byte {pos}")
            break
        body = pos + header
        length = min(size - header, src.size - body)
        if kind == b"jxlc" and found.width is None:
            _jxl_size(src.read(body, 64)[2:], found)
        elif kind == b"jxlp" and found.width is None:
            _jxl_size(src.read(body + 4, 64)[2:], found)
        elif kind == b"Exif" and found.exif is None and length <= 16 * 1024 * 1024:
            raw = src.read(body, length)
            if len(raw) >= 4:
                skip = struct.unpack_from(">I", raw)[0]
                found.exif = tiff_or_problem(raw[4 + skip :] if skip < len(raw) else b"", found)
        elif kind == b"xml " and found.xmp is None and length <= 16 * 1024 * 1024:
            found.xmp = src.read(body, length)
        if pos + size > src.size:
            found.problems.append("truncated: JPEG XL box cut short")
            break
        pos += size
    if found.width is None:
        raise MetadataError("not a readable JPEG XL: no codestream header")
    return found


def _jxl_size(data: bytes, found: Found) -> None:
    """SizeHeader, bits read least-significant first (ISO/IEC 18181-1, A.3.1)."""
    value, at = int.from_bytes(data, "little"), 0
    limit = 8 * len(data)

    def bits(n: int) -> int:
        nonlocal at
        if at + n > limit:
            raise ValueError("cut short")
        out = (value >> at) & ((1 << n) - 1)
        at += n
        return out

    def u32() -> int:
        return 1 + bits((9, 13, 18, 30)[bits(2)])

    try:
        small = bits(1)
        height = 8 * (1 + bits(5)) if small else u32()
        ratio = bits(3)
        if ratio:
            num, den = _JXL_RATIOS[ratio]
            width = height * num // den
        else:
            width = 8 * (1 + bits(5)) if small else u32()
    except ValueError:
        return
    found.width, found.height = width, height

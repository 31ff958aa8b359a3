"""A bounds-checked TIFF/EXIF IFD reader for the few tags photoorganiser needs.

Works on a TIFF structure (`II*\\0` / `MM\\0*` header) in memory: an EXIF APP1 payload, a
HEIF Exif item, a TIFF-based RAW's head, a PNG eXIf chunk. Every offset is checked, every
IFD is visited at most once and entry counts are capped, so garbage cannot loop or crash.
"""

from __future__ import annotations

import contextlib
import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_MAX_ENTRIES = 1000
_MAX_IFDS = 64

# IFD0 / SubIFD tags
T_SUBFILE_TYPE = 0x00FE
T_WIDTH = 0x0100
T_HEIGHT = 0x0101
T_MAKE = 0x010F
T_MODEL = 0x0110
T_DATETIME = 0x0132
T_SUBIFDS = 0x014A
T_XMP = 0x02BC
T_EXIF_IFD = 0x8769
T_GPS_IFD = 0x8825
T_DNG_VERSION = 0xC612
# ExifIFD tags
T_DTO = 0x9003
T_CREATE = 0x9004
T_OFFSET = 0x9010
T_OFFSET_ORIG = 0x9011
T_OFFSET_DIGI = 0x9012
T_SUBSEC_ORIG = 0x9291
T_SUBSEC_DIGI = 0x9292
T_EXIF_WIDTH = 0xA002
T_EXIF_HEIGHT = 0xA003
T_MAKERNOTE = 0x927C


class ExifFormatError(ValueError):
    pass


@dataclass
class IfdInfo:
    """The interesting tags of one IFD."""

    tags: dict[int, object] = field(default_factory=dict)


@dataclass(slots=True)
class ExifInfo:
    ifd0: dict[int, object] = field(default_factory=dict)
    exif: dict[int, object] = field(default_factory=dict)
    subifds: list[dict[int, object]] = field(default_factory=list)  # SubIFDs and IFD1...
    gps: dict[int, object] = field(default_factory=dict)  # GPS IFD: _WANTED_GPS (gps.py)
    problems: list[str] = field(default_factory=list)

    def text(self, tag: int) -> str | None:
        """A text tag from IFD0, else (misplaced by some writers) from the EXIF IFD."""
        for ifd in (self.ifd0, self.exif):
            value = ifd.get(tag)
            if isinstance(value, str) and value:
                return value
        return None

    @property
    def make(self) -> str | None:
        return self.text(T_MAKE)

    @property
    def model(self) -> str | None:
        return self.text(T_MODEL)


RW2_BORDERS = (0x0004, 0x0005, 0x0006, 0x0007)  # Panasonic sensor top/left/bottom/right
_WANTED_IFD0 = {
    *RW2_BORDERS,
    T_SUBFILE_TYPE,
    T_WIDTH,
    T_HEIGHT,
    T_MAKE,
    T_MODEL,
    T_DATETIME,
    T_SUBIFDS,
    T_XMP,
    T_EXIF_IFD,
    T_GPS_IFD,
    T_DNG_VERSION,
    0x9003,  # DateTimeOriginal, misplaced in IFD0 by some writers
}
_WANTED_EXIF = {
    T_DTO,
    T_CREATE,
    T_OFFSET,
    T_OFFSET_ORIG,
    T_OFFSET_DIGI,
    T_SUBSEC_ORIG,
    T_SUBSEC_DIGI,
    T_EXIF_WIDTH,
    T_EXIF_HEIGHT,
    T_MAKE,
    T_MODEL,
    T_MAKERNOTE,
}
_WANTED_SUB = {T_SUBFILE_TYPE, T_WIDTH, T_HEIGHT}
# GPSLatitudeRef, GPSLatitude, GPSLongitudeRef, GPSLongitude, GPSTimeStamp, GPSDateStamp
_WANTED_GPS = {1, 2, 3, 4, 7, 0x1D}


def _decode_text(raw: bytes) -> str:
    raw = raw.split(b"\0", 1)[0] if raw.count(b"\0") != len(raw) else b""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip()


@functools.lru_cache(maxsize=256)
def _entries(e: str, count: int) -> Callable[[bytes, int], tuple[int, ...]]:
    """The unpacker of `count` IFD entries as flat (tag, type, count, value) fields."""
    return struct.Struct(e + "HHII" * count).unpack_from


class _Tiff:
    def __init__(self, buf: bytes, tolerant_pointer: bool = True):
        if len(buf) < 8:
            raise ExifFormatError("TIFF header cut short")
        order = buf[:2]
        if order == b"II":
            self.e = "<"
        elif order == b"MM":
            self.e = ">"
        else:
            raise ExifFormatError("no TIFF byte order mark")
        self.buf = buf
        self.magic = struct.unpack(self.e + "H", buf[2:4])[0]
        self.first = struct.unpack(self.e + "I", buf[4:8])[0]

    def u16(self, off: int) -> int:
        return struct.unpack_from(self.e + "H", self.buf, off)[0]

    def u32(self, off: int) -> int:
        return struct.unpack_from(self.e + "I", self.buf, off)[0]

    def read_ifd(self, off: int, wanted: set[int], problems: list[str]) -> tuple[dict, int]:
        """(tags, next IFD offset). Unreadable entries are skipped."""
        buf = self.buf
        if off < 8 or off + 2 > len(buf):
            raise ExifFormatError(f"IFD offset {off} outside the data")
        count = self.u16(off)
        if count > _MAX_ENTRIES:
            raise ExifFormatError(f"IFD with {count} entries")
        tags: dict[int, object] = {}
        pos = off + 2
        whole = min(count, (len(buf) - pos) // 12)  # the entries that are all there
        # every entry's (tag, type, count, value or offset) in one unpack
        fields = _entries(self.e, whole)(buf, pos)
        for i in range(0, 4 * whole, 4):
            tag = fields[i]
            if tag in wanted:
                typ = fields[i + 1]
                if typ in _TYPE_SIZE:
                    n = fields[i + 2]
                    size = _TYPE_SIZE[typ] * n
                    vpos = pos + 3 * i + 8 if size <= 4 else fields[i + 3]
                    if n and vpos + size <= len(buf) and size <= 4 * 1024 * 1024:
                        tags[tag] = self._value(typ, n, vpos)
        if whole < count:
            problems.append("EXIF directory cut short")
            return tags, 0
        pos += 12 * count
        nxt = self.u32(pos) if pos + 4 <= len(buf) else 0
        return tags, nxt

    def _value(self, typ: int, n: int, pos: int) -> object:
        buf = self.buf
        if typ == 2:
            return _decode_text(buf[pos : pos + n])
        if typ in (1, 6, 7):
            return bytes(buf[pos : pos + n]) if n > 1 or typ == 7 else buf[pos]
        if typ in (3, 8):
            fmt = self.e + ("H" if typ == 3 else "h") * min(n, 64)
            vals = struct.unpack_from(fmt, buf, pos)
        elif typ in (4, 9, 13):
            fmt = self.e + ("I" if typ != 9 else "i") * min(n, 64)
            vals = struct.unpack_from(fmt, buf, pos)
        elif typ in (5, 10):  # rationals: (numerator, denominator) pairs
            flat = struct.unpack_from(self.e + ("II" if typ == 5 else "ii") * min(n, 64), buf, pos)
            vals = tuple(zip(flat[::2], flat[1::2], strict=True))
        else:
            return None
        return vals[0] if n == 1 else list(vals)


def parse_tiff(buf: bytes) -> ExifInfo:
    """Parse IFD0 (+ExifIFD, SubIFDs, IFD1) of a TIFF structure. Raises ExifFormatError when
    not even IFD0 can be read; later damage goes into `problems`."""
    t = _Tiff(buf)
    info = ExifInfo()
    seen: set[int] = set()
    info.ifd0, next_ifd = t.read_ifd(t.first, _WANTED_IFD0, info.problems)
    seen.add(t.first)
    exif_ptr = info.ifd0.get(T_EXIF_IFD)
    if isinstance(exif_ptr, list):
        exif_ptr = exif_ptr[0] if exif_ptr else None
    if isinstance(exif_ptr, int) and exif_ptr not in seen:
        seen.add(exif_ptr)
        try:
            info.exif, _ = t.read_ifd(exif_ptr, _WANTED_EXIF, info.problems)
        except (ExifFormatError, struct.error) as exc:
            info.problems.append(f"corrupt EXIF sub-directory ({exc})")
    gps_ptr = info.ifd0.get(T_GPS_IFD)
    if isinstance(gps_ptr, int) and gps_ptr not in seen:
        seen.add(gps_ptr)
        # an unreadable GPS IFD is no position, not a damaged file
        with contextlib.suppress(ExifFormatError, struct.error):
            info.gps, _ = t.read_ifd(gps_ptr, _WANTED_GPS, [])
    subs = info.ifd0.get(T_SUBIFDS)
    pointers = subs if isinstance(subs, list) else [subs] if isinstance(subs, int) else []
    if next_ifd:
        pointers = [*pointers, next_ifd]
    for ptr in pointers[:_MAX_IFDS]:
        if not isinstance(ptr, int) or ptr in seen:
            continue
        seen.add(ptr)
        try:
            tags, _ = t.read_ifd(ptr, _WANTED_SUB, [])
        except (ExifFormatError, struct.error):
            continue
        info.subifds.append(tags)
    return info


def parse_tiff_safe(buf: bytes) -> ExifInfo | None:
    """parse_tiff that returns None (not raises) for garbage."""
    try:
        return parse_tiff(buf)
    except (ExifFormatError, struct.error, IndexError, ValueError):
        return None


def parse_exif_ifd(buf: bytes) -> ExifInfo:
    """A TIFF structure whose first IFD is an EXIF IFD (Canon CR3's CMT2 box)."""
    t = _Tiff(buf)
    info = ExifInfo()
    info.exif, _ = t.read_ifd(t.first, _WANTED_EXIF, info.problems)
    return info


def parse_gps_ifd(buf: bytes) -> dict[int, object]:
    """A TIFF structure whose first IFD is a GPS IFD (Canon CR3's CMT4 box); {} for garbage."""
    try:
        t = _Tiff(buf)
        return t.read_ifd(t.first, _WANTED_GPS, [])[0]
    except (ExifFormatError, struct.error):
        return {}


_APPLE_MAKERNOTE = b"Apple iOS\0"
_APPLE_CONTENT_ID = 0x0011  # exiftool: MediaGroupUUID / ContentIdentifier


def apple_content_id(makernote: object) -> str | None:
    """The Live Photo identifier in an Apple MakerNote (the same UUID as the video's
    com.apple.quicktime.content.identifier), or None. Offsets are relative to the note."""
    if not isinstance(makernote, bytes) or not makernote.startswith(_APPLE_MAKERNOTE):
        return None
    buf = makernote
    if len(buf) < 16 or buf[12:14] not in (b"MM", b"II"):
        return None
    e = ">" if buf[12:14] == b"MM" else "<"
    count = struct.unpack_from(e + "H", buf, 14)[0]
    for i in range(min(count, _MAX_ENTRIES)):
        pos = 16 + 12 * i
        if pos + 12 > len(buf):
            return None
        tag, typ, n = struct.unpack_from(e + "HHI", buf, pos)
        if tag != _APPLE_CONTENT_ID or typ != 2 or not 0 < n <= 256:
            continue
        off = struct.unpack_from(e + "I", buf, pos + 8)[0] if n > 4 else pos + 8
        if off + n > len(buf):
            return None
        text = buf[off : off + n].split(b"\0")[0].decode("ascii", "replace").strip()
        return text or None
    return None

"""Video containers other than ISO BMFF: AVI (and the RIFF chunk walk WebP shares),
ASF/WMV, Matroska/WebM, MPEG-TS/M2TS (AVCHD's H.264 MDPM date) and raw DV.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta

from ..core.values import CaptureDate, DateSource
from .bmff import Source
from .dates import make_datetime, parse_datetime, parse_rfc_date
from .found import IS_UTC, Found, MetadataError, tiff_or_problem


def riff_chunks(src: Source, start: int, end: int, found: Found):
    pos = start
    count = 0
    while pos + 8 <= end and count < 100_000:
        count += 1
        kind, length = struct.unpack("<4sI", src.read(pos, 8))
        if pos + 8 + length > src.size:
            found.problems.append(f"truncated: RIFF chunk '{kind.decode('latin-1')}' cut short")
        yield kind, pos + 8, min(pos + 8 + length, end)
        pos += 8 + length + (length & 1)


def read_avi(src: Source) -> Found:
    found = Found("AVI", is_video=True)
    stack = [(12, src.size)]
    steps = 0
    while stack and steps < 10_000:
        start, end = stack.pop()
        for kind, s, e in riff_chunks(src, start, end, found):
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
                    found.exif = tiff_or_problem(raw[at:], found)
    return found


_ASF_FILE_PROPS = bytes.fromhex("a1dcab8c47a9cf118ee400c00c205365")
_ASF_STREAM_PROPS = bytes.fromhex("9107dcb7b7a9cf118ee600c00c205365")
_ASF_VIDEO = bytes.fromhex("c0ef19bc4d5bcf11a8fd00805f5c442b")


def read_asf(src: Source) -> Found:
    found = Found("WMV", is_video=True)
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
                    found.others.append(CaptureDate(utc, DateSource.ASF_CREATION_DATE, IS_UTC))
        elif (
            guid == _ASF_STREAM_PROPS
            and head[pos + 24 : pos + 40] == _ASF_VIDEO
            and found.width is None
            and pos + 86 <= len(head)
        ):
            found.width, found.height = struct.unpack_from("<II", head, pos + 78)
        pos += size
    _asf_xmp(src, found)
    return found


_ASF_XMP = bytes.fromhex("cbcf7abea997e8429c71999491e3afac")


def _asf_xmp(src: Source, found: Found) -> None:
    """An XMP packet (Adobe's tools) in a top-level object after the header and data."""
    pos = 0
    for _ in range(64):
        top = src.read(pos, 24)
        if len(top) < 24:
            return
        size = struct.unpack_from("<Q", top, 16)[0]
        if size < 24:
            return
        if top[:16] == _ASF_XMP and size - 24 <= 16 * 1024 * 1024:
            found.xmp = src.read(pos + 24, size - 24)
            return
        pos += size


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


def read_mkv(src: Source) -> Found:
    found = Found("MKV", is_video=True)
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
        found.video = CaptureDate(date_utc, DateSource.MATROSKA_DATE, IS_UTC)
    return found


_H264_MAKERS = {0x0103: "Panasonic", 0x0108: "Sony", 0x1011: "Canon", 0x1104: "JVC"}
_MDPM = bytes.fromhex("17ee8c60f84d11d98cd60800200c9a66") + b"MDPM"


def read_m2ts(src: Source, head: bytes) -> Found:
    found = Found("M2TS", is_video=True)
    buf = src.read(0, min(src.size, 2 * 1024 * 1024))
    size = _m2ts_size(buf)
    if size is not None:
        found.width, found.height = size
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
        if found.make == "Sony":  # the model's name in three 4-byte tags
            name = b"".join(tags.get(t, b"") for t in (0xE4, 0xE5, 0xE6))
            found.model = name.split(b"\0", 1)[0].decode("latin-1").strip() or None
    return found


def _m2ts_size(buf: bytes) -> tuple[int, int] | None:
    """The picture size from the first H.264 sequence parameter set found in buf."""
    at = 0
    for _ in range(64):
        at = buf.find(b"\x00\x00\x01", at)
        if at < 0 or at + 4 >= len(buf):
            return None
        at += 3
        if buf[at] & 0x9F == 0x07:  # forbidden bit 0, nal_unit_type 7 (any nal_ref_idc)
            size = h264_sps_size(buf[at + 1 : at + 257])
            if size is not None:
                return size
    return None


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = 8 * len(data)

    def u(self, n: int) -> int:
        if n > self.left:
            raise ValueError("SPS cut short")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def h264_sps_size(sps: bytes) -> tuple[int, int] | None:
    """(width, height) from an H.264 SPS payload (after the NAL header byte), or None."""
    raw = sps.replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention
    try:
        b = _Bits(raw)
        profile = b.u(8)
        b.u(16)  # constraint flags, level
        b.ue()  # seq_parameter_set_id
        chroma = 1
        if profile in _HIGH_PROFILES:
            chroma = b.ue()
            if chroma == 3:
                b.u(1)
            b.ue()
            b.ue()
            b.u(1)
            if b.u(1):  # scaling matrices
                for i in range(8 if chroma != 3 else 12):
                    if b.u(1):
                        last = nxt = 8
                        for _ in range(16 if i < 6 else 64):
                            if nxt:
                                nxt = (last + b.se() + 256) % 256
                            last = nxt or last
        b.ue()  # log2_max_frame_num_minus4
        poc = b.ue()
        if poc == 0:
            b.ue()
        elif poc == 1:
            b.u(1)
            b.se()
            b.se()
            for _ in range(min(b.ue(), 255)):
                b.se()
        b.ue()  # max_num_ref_frames
        b.u(1)
        w_mbs, h_units = b.ue() + 1, b.ue() + 1
        frame_mbs_only = b.u(1)
        if not frame_mbs_only:
            b.u(1)
        b.u(1)
        width, height = 16 * w_mbs, 16 * h_units * (2 - frame_mbs_only)
        if b.u(1):  # frame cropping
            left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
            unit_x = 2 if chroma in (1, 2) else 1
            unit_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
            width -= unit_x * (left + right)
            height -= unit_y * (top + bottom)
    except ValueError:
        return None
    if not (0 < width <= 16384 and 0 < height <= 16384):
        return None
    return width, height


def read_mpeg_ps(src: Source) -> Found:
    """MPEG-1/2 program stream (.mpg, .vob, JVC/Panasonic .mod): the picture size from the
    first video sequence header. The stream has no capture date."""
    found = Found("MPEG", is_video=True)
    buf = src.read(0, min(src.size, 1024 * 1024))
    at = buf.find(b"\x00\x00\x01\xb3")
    if at >= 0 and at + 7 <= len(buf):
        b = buf[at + 4 : at + 7]
        width, height = (b[0] << 4) | (b[1] >> 4), ((b[1] & 0x0F) << 8) | b[2]
        if width and height:
            found.width, found.height = width, height
    return found


def _bcd(byte: int, mask: int) -> int:
    byte &= mask
    hi, lo = byte >> 4, byte & 15
    if hi > 9 or lo > 9:
        raise ValueError("not BCD")
    return hi * 10 + lo


def read_dv(src: Source, head: bytes) -> Found:
    """Raw DV: 80-byte DIF blocks; the VAUX section holds recording date (0x62) and time
    (0x63) packs."""
    found = Found("DV", is_video=True, width=720, height=576 if head[3] & 0x80 else 480)
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

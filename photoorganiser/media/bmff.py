"""A bounds-checked ISO BMFF / QuickTime box reader (MP4, MOV, 3GP, HEIF/HEIC, AVIF, CR3).

Only the boxes that hold dates, camera names and sizes are read: `ftyp`, `moov` (mvhd,
trak/tkhd, trak/mdia/mdhd+hdlr, meta keys+ilst, udta, Canon's CR3 uuid), the HEIF `meta`
box (pitm, iinf, iloc, iprp/ipco/ipma, idat) and XMP `uuid` boxes. Big boxes (`mdat`) are
skipped by offset, so a 2 GB video costs a few small reads. Every size is checked against
its parent and the file, and loops are capped.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..core.hashing import open_regular_file

XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
MAX_BOXES = 100_000
MAX_META_BYTES = 64 * 1024 * 1024  # moov / meta boxes larger than this are not read
MAX_ITEM_BYTES = 16 * 1024 * 1024  # Exif / XMP items


class Source:
    """Random access to a file's bytes: in memory (`data`) or by seeking in `path`."""

    def __init__(self, path: os.PathLike | str, data: bytes | None):
        self._data = data
        self._file: BinaryIO | None = None
        if data is None:
            # a regular file only: the path may have become a FIFO or device since the scan
            self._file = open_regular_file(path)
            self.size = os.fstat(self._file.fileno()).st_size
        else:
            self.size = len(data)

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        length = min(length, self.size - offset)
        if self._data is not None:
            return self._data[offset : offset + length]
        assert self._file is not None
        self._file.seek(offset)
        return self._file.read(length)

    @property
    def data(self) -> bytes | None:
        return self._data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_boxes(
    buf: bytes, start: int, end: int, problems: list[str] | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in buf[start:end]."""
    pos = start
    end = min(end, len(buf))
    count = 0
    while pos + 8 <= end and count < MAX_BOXES:
        count += 1
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                break
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            if problems is not None:
                problems.append(f"invalid box size in '{_name(kind)}'")
            return
        box_end = pos + size
        if box_end > end:
            if problems is not None:
                problems.append(f"truncated '{_name(kind)}' box")
            box_end = end
        yield kind, pos + header, box_end
        pos = box_end


def _name(kind: bytes) -> str:
    return kind.decode("latin-1").replace("\0", "\\0")


@dataclass
class Track:
    handler: bytes = b""
    width: int = 0
    height: int = 0
    created: int = 0  # mdhd, seconds since 1904 (UTC)
    tkhd_created: int = 0


@dataclass
class HeifInfo:
    primary: int | None = None
    item_types: dict[int, bytes] = field(default_factory=dict)
    content_types: dict[int, str] = field(default_factory=dict)
    locations: dict[int, tuple[int, list[tuple[int, int]]]] = field(default_factory=dict)
    properties: list[tuple[bytes, bytes]] = field(default_factory=list)  # ipco children
    associations: dict[int, list[int]] = field(default_factory=dict)  # item -> 1-based
    idat_offset: int = 0  # absolute offset of idat payload

    def item_size(self, item: int | None) -> tuple[int, int] | None:
        if item is None:
            return None
        size = None
        for index in self.associations.get(item, []):
            if not 1 <= index <= len(self.properties):
                continue
            kind, payload = self.properties[index - 1]
            if kind == b"ispe" and len(payload) >= 12 and size is None:
                size = struct.unpack_from(">II", payload, 4)
        if size is None:
            return None
        # As stored, like exiftool's ImageSize: neither irot nor clap (crop) is applied.
        # (Encoders pad to the coding block size and crop with clap; phones rarely do.)
        return size[0], size[1]

    def find_items(self, item_type: bytes, content_type: str | None = None) -> list[int]:
        found = []
        for item, kind in self.item_types.items():
            if kind != item_type:
                continue
            if content_type is not None and self.content_types.get(item) != content_type:
                continue
            found.append(item)
        return found


@dataclass
class BmffInfo:
    major_brand: bytes = b""
    compatible: list[bytes] = field(default_factory=list)
    has_moov: bool = False
    has_mdat: bool = False
    mvhd_created: int = 0
    tracks: list[Track] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # Apple mdta keys
    udta: dict[bytes, str] = field(default_factory=dict)  # ©mak ©mod ©day date ©xyz ...
    loci: bytes | None = None  # 3GPP location box payload (gps.loci_position)
    xmp: bytes | None = None
    canon_cmt: dict[bytes, bytes] = field(default_factory=dict)  # CR3 CMT1/CMT2/CMT4 (GPS)
    heif: HeifInfo | None = None
    top_level: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _text(raw: bytes) -> str:
    raw = raw.rstrip(b"\0")
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def read_bmff(src: Source) -> BmffInfo:
    """Walk the top-level boxes of src, reading only ftyp/moov/meta/uuid payloads."""
    info = BmffInfo()
    pos = 0
    count = 0
    while pos + 8 <= src.size and count < MAX_BOXES:
        count += 1
        head = src.read(pos, 16)
        size, kind = struct.unpack_from(">I4s", head, 0)
        header = 8
        if size == 1:
            if len(head) < 16:
                info.problems.append("truncated box header")
                break
            size = struct.unpack_from(">Q", head, 8)[0]
            header = 16
        elif size == 0:
            size = src.size - pos
        if size < header:
            info.problems.append(f"invalid box size in '{_name(kind)}'")
            break
        if not all(32 <= c < 127 for c in kind) and kind[:1] != b"\xa9":
            info.problems.append("garbage after the last box")
            break
        info.top_level.append(kind)
        end = pos + size
        if end > src.size:
            info.problems.append(f"truncated: '{_name(kind)}' box ends past the end of the file")
            end = src.size
        pstart = pos + header
        plen = end - pstart
        if kind == b"ftyp":
            payload = src.read(pstart, min(plen, 1024))
            if len(payload) >= 4:
                info.major_brand = payload[:4]
                info.compatible = [payload[i : i + 4] for i in range(8, len(payload) - 3, 4)]
        elif kind == b"moov" and plen <= MAX_META_BYTES:
            info.has_moov = True
            _parse_moov(src.read(pstart, plen), info)
        elif kind == b"meta" and plen <= MAX_META_BYTES:
            _parse_heif_meta(src, src.read(pstart, plen), pstart, info)
        elif kind == b"uuid" and plen <= MAX_ITEM_BYTES:
            payload = src.read(pstart, plen)
            if payload[:16] == XMP_UUID and info.xmp is None:
                info.xmp = payload[16:]
        elif kind == b"mdat":
            info.has_mdat = True
        pos = pos + size
    return info


def _parse_moov(buf: bytes, info: BmffInfo) -> None:
    for kind, start, end in iter_boxes(buf, 0, len(buf), info.problems):
        if kind == b"mvhd":
            info.mvhd_created = _created(buf, start, end)
        elif kind == b"trak":
            info.tracks.append(_parse_trak(buf, start, end))
        elif kind == b"meta":
            _parse_qt_meta(buf, start, end, info)
        elif kind == b"udta":
            _parse_udta(buf, start, end, info)
        elif kind == b"uuid" and buf[start : start + 16] == CANON_UUID:
            for sub, s, e in iter_boxes(buf, start + 16, end):
                if sub in (b"CMT1", b"CMT2", b"CMT4") and sub not in info.canon_cmt:
                    info.canon_cmt[sub] = buf[s:e]
        elif kind == b"uuid" and buf[start : start + 16] == XMP_UUID and info.xmp is None:
            info.xmp = buf[start + 16 : end]


def _created(buf: bytes, start: int, end: int) -> int:
    if end - start < 12:
        return 0
    if buf[start] == 1:
        return struct.unpack_from(">Q", buf, start + 4)[0] if end - start >= 12 else 0
    return struct.unpack_from(">I", buf, start + 4)[0]


def _parse_trak(buf: bytes, start: int, end: int) -> Track:
    track = Track()
    for kind, s, e in iter_boxes(buf, start, end):
        if kind == b"tkhd" and e - s >= 12:
            track.tkhd_created = _created(buf, s, e)
            at = s + (88 if buf[s] == 1 else 76)
            if at + 8 <= e:
                w, h = struct.unpack_from(">II", buf, at)
                track.width, track.height = w >> 16, h >> 16
        elif kind == b"mdia":
            for sub, ss, se in iter_boxes(buf, s, e):
                if sub == b"mdhd":
                    track.created = _created(buf, ss, se)
                elif sub == b"hdlr" and se - ss >= 12:
                    track.handler = buf[ss + 8 : ss + 12]
    return track


def _meta_children_start(buf: bytes, start: int, end: int) -> int:
    # ISO meta is a full box (4 bytes version/flags); QuickTime's is a plain container.
    if end - start >= 8 and buf[start + 4 : start + 8] in (b"hdlr", b"keys", b"ilst"):
        return start
    return start + 4


def _parse_qt_meta(buf: bytes, start: int, end: int, info: BmffInfo) -> None:
    keys: list[str] = []
    values: dict[int, str] = {}
    for kind, s, e in iter_boxes(buf, _meta_children_start(buf, start, end), end):
        if kind == b"keys" and e - s >= 8:
            count = struct.unpack_from(">I", buf, s + 4)[0]
            pos = s + 8
            for _ in range(min(count, 10_000)):
                if pos + 8 > e:
                    break
                size = struct.unpack_from(">I", buf, pos)[0]
                if size < 8 or pos + size > e:
                    break
                keys.append(buf[pos + 8 : pos + size].decode("utf-8", "replace"))
                pos += size
        elif kind == b"ilst":
            for item, s2, e2 in iter_boxes(buf, s, e):
                index = struct.unpack(">I", item)[0]
                for sub, s3, e3 in iter_boxes(buf, s2, e2):
                    if sub == b"data" and e3 - s3 >= 8:
                        if struct.unpack_from(">I", buf, s3)[0] & 0xFFFFFF == 1:  # UTF-8
                            values[index] = _text(buf[s3 + 8 : e3])
                        break
    for index, value in values.items():
        if 1 <= index <= len(keys):
            info.keys.setdefault(keys[index - 1], value)


_UDTA_TEXT = {b"\xa9mak", b"\xa9mod", b"\xa9day", b"date", b"\xa9xyz"}


def _parse_udta(buf: bytes, start: int, end: int, info: BmffInfo) -> None:
    for kind, s, e in iter_boxes(buf, start, end):
        if kind in (b"XMP_",) and info.xmp is None:
            info.xmp = buf[s:e]
        if kind == b"loci" and info.loci is None:
            info.loci = buf[s:e]
        if kind not in _UDTA_TEXT or kind in info.udta:
            continue
        raw = buf[s:e]
        if kind[:1] == b"\xa9":
            if raw[4:8] == b"data" and len(raw) >= 16:  # iTunes style
                raw = raw[16:]
            elif len(raw) >= 4:
                n = struct.unpack_from(">H", raw, 0)[0]
                raw = raw[4 : 4 + n]
        info.udta[kind] = _text(raw)


def _uint(buf: bytes, pos: int, size: int) -> int:
    if size == 0:
        return 0
    if pos + size > len(buf):
        raise ValueError("box cut short")
    return int.from_bytes(buf[pos : pos + size], "big")


def _parse_heif_meta(src: Source, buf: bytes, abs_start: int, info: BmffInfo) -> None:
    heif = HeifInfo()
    info.heif = heif
    for kind, s, e in iter_boxes(buf, 4, len(buf), info.problems):
        try:
            if kind == b"pitm" and e - s >= 6:
                heif.primary = (
                    struct.unpack_from(">H", buf, s + 4)[0]
                    if buf[s] == 0
                    else struct.unpack_from(">I", buf, s + 4)[0]
                )
            elif kind == b"iinf":
                first = s + (6 if buf[s] == 0 else 8)
                for sub, ss, se in iter_boxes(buf, first, e):
                    if sub == b"infe":
                        _parse_infe(buf, ss, se, heif)
            elif kind == b"iloc":
                _parse_iloc(buf, s, e, heif)
            elif kind == b"iprp":
                for sub, ss, se in iter_boxes(buf, s, e):
                    if sub == b"ipco":
                        for prop, ps, pe in iter_boxes(buf, ss, se):
                            heif.properties.append((prop, buf[ps:pe] if pe - ps < 4096 else b""))
                    elif sub == b"ipma":
                        _parse_ipma(buf, ss, se, heif)
            elif kind == b"idat":
                heif.idat_offset = abs_start + s
        except (struct.error, ValueError, IndexError):
            info.problems.append(f"corrupt HEIF '{_name(kind)}' box")
    # Exif and XMP items
    for item in heif.find_items(b"Exif")[:1]:
        data = _read_item(src, heif, item)
        if data:
            info.canon_cmt.setdefault(b"Exif", data)
    for item in heif.find_items(b"mime", "application/rdf+xml")[:1]:
        data = _read_item(src, heif, item)
        if data and info.xmp is None:
            info.xmp = data


def _parse_infe(buf: bytes, s: int, e: int, heif: HeifInfo) -> None:
    version = buf[s]
    if version < 2:
        return
    if version == 2:
        item = struct.unpack_from(">H", buf, s + 4)[0]
        pos = s + 8
    else:
        item = struct.unpack_from(">I", buf, s + 4)[0]
        pos = s + 10
    kind = buf[pos : pos + 4]
    heif.item_types[item] = kind
    if kind == b"mime":
        rest = buf[pos + 4 : e].split(b"\0")
        if len(rest) >= 2:
            heif.content_types[item] = rest[1].decode("latin-1").strip()


def _parse_iloc(buf: bytes, s: int, e: int, heif: HeifInfo) -> None:
    version = buf[s]
    sizes = buf[s + 4]
    offset_size, length_size = sizes >> 4, sizes & 15
    sizes2 = buf[s + 5]
    base_size = sizes2 >> 4
    index_size = sizes2 & 15 if version in (1, 2) else 0
    pos = s + 6
    id_size = 2 if version < 2 else 4  # item ids and the count: 16 bits before version 2
    count = _uint(buf, pos, id_size)
    pos += id_size
    for _ in range(min(count, 100_000)):
        if pos >= e:
            break
        item = _uint(buf, pos, id_size)
        pos += id_size
        method = 0
        if version in (1, 2):
            method = struct.unpack_from(">H", buf, pos)[0] & 15
            pos += 2
        pos += 2  # data_reference_index
        base = _uint(buf, pos, base_size)
        pos += base_size
        extents_n = struct.unpack_from(">H", buf, pos)[0]
        pos += 2
        extents = []
        for _ in range(extents_n):
            pos += index_size
            off = _uint(buf, pos, offset_size)
            pos += offset_size
            length = _uint(buf, pos, length_size)
            pos += length_size
            extents.append((base + off, length))
        heif.locations[item] = (method, extents)


def _parse_ipma(buf: bytes, s: int, e: int, heif: HeifInfo) -> None:
    version, flags = buf[s], int.from_bytes(buf[s + 1 : s + 4], "big")
    count = struct.unpack_from(">I", buf, s + 4)[0]
    pos = s + 8
    id_size = 2 if version < 1 else 4
    for _ in range(min(count, 100_000)):
        if pos >= e:
            break
        item = _uint(buf, pos, id_size)
        pos += id_size
        n = buf[pos]
        pos += 1
        indices = []
        for _ in range(n):
            if flags & 1:
                indices.append(struct.unpack_from(">H", buf, pos)[0] & 0x7FFF)
                pos += 2
            else:
                indices.append(buf[pos] & 0x7F)
                pos += 1
        heif.associations.setdefault(item, indices)


def _read_item(src: Source, heif: HeifInfo, item: int) -> bytes:
    method, extents = heif.locations.get(item, (0, []))
    if method not in (0, 1):
        return b""
    out = bytearray()
    for off, length in extents[:64]:
        if method == 1:
            off += heif.idat_offset
        if length == 0:
            length = src.size - off
        if length <= 0 or len(out) + length > MAX_ITEM_BYTES:
            break
        out += src.read(off, length)
    return bytes(out)

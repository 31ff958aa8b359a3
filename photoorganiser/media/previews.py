"""The JPEG previews a camera embeds in its RAW files, and the RAW's own orientation.

A RAW file's sensor data needs a RAW developer; every camera also stores one or more
ordinary JPEGs of the picture, which is what a thumbnail is made from:

    TIFF-based (CR2, NEF, ARW, DNG, ORF, RW2, PEF, IIQ...)  JPEGInterchangeFormat (0x0201)
        or a single JPEG strip (Compression 6/7) in IFD0, IFD1..., the SubIFDs and the EXIF
        IFD; Panasonic's JpgFromRaw (0x002E)
    RAF   the header's JPEG offset and length (as raw.read_raf reads it)
    CR3   the PRVW box in Canon's preview uuid box, else THMB in the moov uuid box
    CRW   the CIFF heap's JpgFromRaw (0x2007) or ThumbnailImage (0x2008)
    X3F   the JPEG in the header area (as raw.read_x3f finds it)

`previews(data, fmt)` lists the candidates, largest first (some are lossless JPEG that
Pillow cannot decode: the caller tries the next); `orientation(data, fmt)` is the RAW's
EXIF orientation (1-8), for previews that carry none. Everything is bounds-checked;
nothing here decodes an image.

`is_raw(data, fmt)` says whether to show a file by its previews at all. CR2, RW2, ORF and
IIQ are known by their signature, DNG by its DNGVersion tag; NEF, ARW and PEF only by the
camera make in an ordinary TIFF header, which a plain TIFF from that camera (or scanned,
edited, saved by software that keeps the make) has too. Those are RAW only when they hold
sensor data (`holds_sensor_data`): a CFA or LinearRaw image (PhotometricInterpretation
32803/34892), or an IFD0 that is only a reduced-resolution copy (NewSubfileType bit 0),
as every camera writes its RAW; a plain TIFF is decoded as the photo it is.
"""

from __future__ import annotations

import struct

from .bmff import CANON_UUID, iter_boxes
from .ciff import ciff_records

CR3_PREVIEW_UUID = bytes.fromhex("eaf42b5e1c984b88b9fbb7dc406e4d16")
TIFF_BASED = frozenset({"TIFF", "CR2", "NEF", "ARW", "DNG", "ORF", "RW2", "PEF", "IIQ"})
RAW_FORMATS = TIFF_BASED - {"TIFF"} | {"RAF", "CR3", "CRW", "X3F", "MRW"}
MAKE_GUESSED = frozenset({"NEF", "ARW", "PEF"})  # a TIFF named after its camera's make

_MAX_IFDS = 64
_MAX_ENTRIES = 1000
_T_SUBFILE_TYPE = 0x00FE
_T_COMPRESSION = 0x0103
_T_PHOTOMETRIC = 0x0106
_T_STRIP_OFFSETS = 0x0111
_T_ORIENTATION = 0x0112
_T_STRIP_COUNTS = 0x0117
_T_SUBIFDS = 0x014A
_T_JPEG_OFFSET = 0x0201
_T_JPEG_LENGTH = 0x0202
_T_RW2_JPEG = 0x002E
_T_EXIF_IFD = 0x8769
_SENSOR_PHOTOMETRIC = (32803, 34892)  # CFA, LinearRaw
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _tiff_ifds(buf: bytes) -> list[dict[int, tuple[int, int, int]]]:
    """Every IFD of a TIFF structure (IFD0 chain, SubIFDs, EXIF IFD), each as
    tag -> (type, count, offset of the value); empty for garbage."""
    if len(buf) < 8 or buf[:2] not in (b"II", b"MM"):
        return []
    e = "<" if buf[:2] == b"II" else ">"
    todo = [struct.unpack_from(e + "I", buf, 4)[0]]
    seen: set[int] = set()
    ifds = []
    while todo and len(seen) < _MAX_IFDS:
        off = todo.pop(0)
        if off in seen or off < 8 or off + 2 > len(buf):
            continue
        seen.add(off)
        count = struct.unpack_from(e + "H", buf, off)[0]
        if count > _MAX_ENTRIES:
            continue
        tags: dict[int, tuple[int, int, int]] = {}
        pos = off + 2
        for _ in range(count):
            if pos + 12 > len(buf):
                break
            tag, typ, n = struct.unpack_from(e + "HHI", buf, pos)
            size = _TYPE_SIZE.get(typ, 0) * n
            tags[tag] = (
                typ,
                n,
                pos + 8 if size <= 4 else struct.unpack_from(e + "I", buf, pos + 8)[0],
            )
            pos += 12
        ifds.append(tags)
        for pointer in (_T_SUBIFDS, _T_EXIF_IFD):
            todo.extend(_ints(buf, e, tags.get(pointer))[:_MAX_IFDS])
        if pos + 4 <= len(buf):
            nxt = struct.unpack_from(e + "I", buf, pos)[0]
            if nxt:
                todo.append(nxt)
    return ifds


def _ints(buf: bytes, e: str, entry: tuple[int, int, int] | None) -> list[int]:
    if entry is None:
        return []
    typ, n, at = entry
    fmt = {3: "H", 4: "I", 13: "I"}.get(typ)
    n = min(n, _MAX_IFDS)
    if fmt is None or at + n * struct.calcsize(fmt) > len(buf):
        return []
    return list(struct.unpack_from(e + fmt * n, buf, at))


def _tiff_previews(buf: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the JPEG streams in a TIFF structure."""
    if len(buf) < 8:
        return []
    e = "<" if buf[:2] == b"II" else ">"
    found = []
    for tags in _tiff_ifds(buf):
        offsets, lengths = (
            _ints(buf, e, tags.get(_T_JPEG_OFFSET)),
            _ints(buf, e, tags.get(_T_JPEG_LENGTH)),
        )
        if offsets and lengths:
            found.append((offsets[0], lengths[0]))
        strips, counts = (
            _ints(buf, e, tags.get(_T_STRIP_OFFSETS)),
            _ints(buf, e, tags.get(_T_STRIP_COUNTS)),
        )
        if _ints(buf, e, tags.get(_T_COMPRESSION))[:1] in ([6], [7]) and len(strips) == 1:
            found.append((strips[0], counts[0] if counts else 0))
        rw2 = tags.get(_T_RW2_JPEG)
        if rw2 is not None and rw2[0] == 7:
            found.append((rw2[2], rw2[1]))
    return found


def _cr3_previews(buf: bytes) -> list[tuple[int, int]]:
    found = []
    for kind, start, end in iter_boxes(buf, 0, len(buf)):
        if kind == b"uuid" and buf[start : start + 16] == CR3_PREVIEW_UUID:
            for sub, s, e in iter_boxes(buf, start + 16 + 8, end):
                if sub == b"PRVW":
                    found.append((s, e - s))
        elif kind == b"moov":
            for sub, s, e in iter_boxes(buf, start, end):
                if sub == b"uuid" and buf[s : s + 16] == CANON_UUID:
                    for thumb, ts, te in iter_boxes(buf, s + 16, e):
                        if thumb == b"THMB":
                            found.append((ts, te - ts))
    out = []
    for start, length in found:  # a small header (size, flags) before the JPEG itself
        at = buf.find(b"\xff\xd8\xff", start, start + 64)
        if at >= 0:
            out.append((at, length - (at - start)))
    return out


def _crw_previews(buf: bytes) -> list[tuple[int, int]]:
    """Canon CRW: JpgFromRaw (0x2007) and ThumbnailImage (0x2008) in the CIFF heaps."""
    return [
        (data_at, size)
        for tag, data_at, size in ciff_records(buf)
        if tag & 0x3FFF in (0x2007, 0x2008)
    ]


def _as_tiff(data: bytes) -> bytes:
    """RW2/ORF: a TIFF with another magic number, read as the TIFF it is."""
    if data[:4] in (b"IIU\0", b"IIRO", b"IIRS"):
        return b"II*\0" + data[4:]
    if data[:4] == b"MMOR":
        return b"MM\0*" + data[4:]
    return data


def holds_sensor_data(data: bytes) -> bool:
    """Whether a TIFF-based file is a camera's RAW: some IFD holds a CFA or LinearRaw
    image, or IFD0 is a reduced-resolution copy of an image kept elsewhere."""
    buf = _as_tiff(data)
    ifds = _tiff_ifds(buf)
    if not ifds:
        return False
    e = "<" if buf[:2] == b"II" else ">"
    if (_ints(buf, e, ifds[0].get(_T_SUBFILE_TYPE)) or [0])[0] & 1:
        return True
    return any(
        (_ints(buf, e, tags.get(_T_PHOTOMETRIC)) or [0])[0] in _SENSOR_PHOTOMETRIC for tags in ifds
    )


def is_raw(data: bytes, fmt: str) -> bool:
    """Whether the file (`fmt` as metadata.read_media names it, or as a catalog recorded
    it) is a camera RAW, shown by its embedded previews, rather than an image Pillow
    decodes: a NEF/ARW/PEF that is a plain TIFF with its camera's make is not."""
    if fmt in MAKE_GUESSED:
        return holds_sensor_data(data)
    return fmt in RAW_FORMATS


def previews(data: bytes, fmt: str) -> list[bytes]:
    """The embedded JPEGs of a RAW file's bytes (`fmt` as metadata.read_media names it),
    largest first; [] when there is none."""
    spans: list[tuple[int, int]] = []
    if fmt in TIFF_BASED:
        spans = _tiff_previews(_as_tiff(data))
    elif fmt == "RAF" and len(data) >= 92:
        spans = [struct.unpack_from(">II", data, 84)]
    elif fmt == "CR3":
        spans = _cr3_previews(data)
    elif fmt == "CRW":
        spans = _crw_previews(data)
    elif fmt == "X3F":
        at = data.find(b"\xff\xd8\xff", 0, 64 * 1024)
        spans = [(at, len(data) - at)] if at >= 0 else []
    out = []
    for start, length in spans:
        if 0 < start < len(data) and length > 0 and data[start : start + 3] == b"\xff\xd8\xff":
            out.append(data[start : start + length])
    out.sort(key=len, reverse=True)
    return out


def orientation(data: bytes, fmt: str) -> int:
    """The RAW file's EXIF orientation (1-8; 1 when it says none)."""
    buf = data
    if fmt == "CR3":  # CMT1, the IFD0 of a CR3, inside Canon's moov uuid box
        buf = b""
        for kind, start, end in iter_boxes(data, 0, len(data)):
            if kind != b"moov":
                continue
            for sub, s, e in iter_boxes(data, start, end):
                if sub == b"uuid" and data[s : s + 16] == CANON_UUID:
                    for cmt, cs, ce in iter_boxes(data, s + 16, e):
                        if cmt == b"CMT1":
                            buf = data[cs:ce]
    elif fmt not in TIFF_BASED:
        return 1
    buf = _as_tiff(buf)
    ifds = _tiff_ifds(buf)
    if not ifds:
        return 1
    e = "<" if buf[:2] == b"II" else ">"
    value = _ints(buf, e, ifds[0].get(_T_ORIENTATION))
    return value[0] if value and 1 <= value[0] <= 8 else 1

"""Canon CIFF heaps: the whole of a CRW file, and the APP0 block of PowerShot JPEGs."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime, timedelta

from ..core.values import CaptureDate, DateSource
from .dates import make_datetime
from .found import Found, clean


def ciff_records(buf: bytes) -> Iterator[tuple[int, int, int]]:
    """Every record of a Canon CIFF file's heaps, sub-heaps walked: (tag, data offset,
    size), each inside its heap and the buffer (at most 256 heaps, 1,000 records each)."""
    if buf[:2] != b"II" or len(buf) < 14:
        return
    heaps = [(struct.unpack_from("<I", buf, 2)[0], len(buf))]
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
            if tag & 0xC000 == 0x4000:  # the value in the record itself
                data_at, size = pos + 2, min(size, 8)
            else:
                data_at = start + off
            if data_at + size > end:
                continue
            if tag & 0x3800 in (0x2800, 0x3000):  # a sub-heap
                heaps.append((data_at, data_at + size))
            else:
                yield tag, data_at, size


def read_ciff(buf: bytes, found: Found, sizes: bool) -> None:
    """Canon CIFF (CRW files, PowerShot JPEG APP0): MakeModel, TimeStamp, ImageInfo."""
    for tag, data_at, size in ciff_records(buf):
        ident = tag & 0x3FFF
        if ident == 0x080A and found.make is None:
            parts = buf[data_at : data_at + size].split(b"\0")
            if len(parts) >= 2:
                found.make, found.model = (
                    clean(parts[0].decode("latin-1")),
                    clean(parts[1].decode("latin-1")),
                )
        elif ident == 0x180E and size >= 4 and found.video is None:
            stamp = struct.unpack_from("<I", buf, data_at)[0]
            when = datetime(1970, 1, 1) + timedelta(seconds=stamp)
            if stamp and make_datetime(when.year, when.month, when.day):
                found.video = CaptureDate(when, DateSource.CANON_RAW_DATE)
        elif ident == 0x1810 and size >= 8 and sizes and found.width is None:
            found.width, found.height = struct.unpack_from("<II", buf, data_at)

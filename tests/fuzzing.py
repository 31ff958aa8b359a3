"""Mutations of real files for the readers' fuzz test (tests/test_fuzz_readers.py) and
benchmark (bench/fuzz_readers.py): bit flips, truncations, huge and looping offsets, box,
chunk and segment sizes of 0, 1 and 2^64-1.

`check(data, name)` runs read_media on one mutated file and returns what went wrong
(an exception that escaped a reader, a read over the time limit, an allocation over the
limit), or None.
"""

from __future__ import annotations

import random
import re
import struct
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from photoorganiser.media.metadata import MetadataError, read_media

UTC = ZoneInfo("UTC")
TIME_LIMIT = 1.0  # seconds a read may take
# a read may hold the file, a copy of it and a few bounded windows (1-4 MiB) at once
ALLOC_SLACK = 16 * 1024 * 1024

# a 4CC box/chunk type: ISO BMFF (big-endian size before it), RIFF (little-endian after)
_FOURCC = re.compile(rb"(?=([a-zA-Z0-9 ]{4}))")
_HUGE = (0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0)


def bit_flips(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 16)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def huge_offset(data: bytes, rng: random.Random) -> bytes:
    """A 4-byte field (either byte order) set to a huge value."""
    out = bytearray(data)
    i = rng.randrange(max(1, len(out) - 4))
    fmt = rng.choice(("<I", ">I"))
    out[i : i + 4] = struct.pack(fmt, rng.choice(_HUGE))
    return bytes(out[: len(data)])


def looping_offset(data: bytes, rng: random.Random) -> bytes:
    """A 4-byte field set to point at itself (or just before it, or at the start): an IFD
    or box chain that loops."""
    out = bytearray(data)
    i = rng.randrange(max(1, len(out) - 4))
    target = rng.choice((i, max(0, i - 2), max(0, i - 8), 0, 8))
    fmt = rng.choice(("<I", ">I"))
    if target < 2**32:
        out[i : i + 4] = struct.pack(fmt, target)
    if data[:4] in (b"II*\0", b"MM\0*") or b"Exif\0\0" in data[:64]:
        # the TIFF's own IFD0 offset and next-IFD pointers: loop them
        base = 0 if data[:4] in (b"II*\0", b"MM\0*") else data.find(b"Exif\0\0") + 6
        if base + 8 <= len(out):
            fmt = "<I" if out[base : base + 2] == b"II" else ">I"
            out[base + 4 : base + 8] = struct.pack(fmt, rng.choice((0, 4, 8, len(data))))
    return bytes(out[: len(data)])


def size_field(data: bytes, rng: random.Random) -> bytes:
    """A box, chunk or segment size set to 0, 1 (with a 64-bit size of 2^64-1), or huge."""
    out = bytearray(data)
    spots = []
    for m in _FOURCC.finditer(data[: 1 << 20]):
        spots.append(m.start())
        if len(spots) > 2000:
            break
    jpeg = [m.start() for m in re.finditer(rb"\xff[\xc0-\xfe]", data[: 1 << 20])][:2000]
    if jpeg and rng.random() < 0.3:
        i = rng.choice(jpeg)
        if i + 4 <= len(out):
            out[i + 2 : i + 4] = struct.pack(">H", rng.choice((0, 1, 2, 3, 0xFFFF)))
        return bytes(out)
    if not spots:
        return huge_offset(data, rng)
    i = rng.choice(spots)
    value = rng.choice((0, 1, 1, 2**32 - 1, 7))
    if i >= 4 and rng.random() < 0.7:  # ISO BMFF: size before the type
        out[i - 4 : i] = struct.pack(">I", value)
        if value == 1 and i + 12 <= len(out):
            out[i + 4 : i + 12] = struct.pack(">Q", rng.choice((2**64 - 1, 0, 1, 2**63)))
    elif i + 8 <= len(out):  # RIFF: size after the id
        out[i + 4 : i + 8] = struct.pack("<I", value)
    return bytes(out[: len(data)])


MUTATORS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bit flips": bit_flips,
    "truncation": truncation,
    "huge offset": huge_offset,
    "looping offset": looping_offset,
    "size 0/1/2^64-1": size_field,
}


def mutations(data: bytes, count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    kinds = list(MUTATORS)
    for n in range(count):
        kind = kinds[n % len(kinds)]
        yield kind, MUTATORS[kind](data, rng)


@dataclass
class Outcome:
    seconds: float
    raised: bool  # MetadataError (the readers' one error): fine
    fault: str | None  # an escaped exception, a read too slow or too greedy
    peak: int | None = None


def check(data: bytes, name: str, measure_memory: bool = False) -> Outcome:
    """One read of a mutated file, as the importer does it (bytes in memory)."""
    if measure_memory:
        tracemalloc.start()
    start = time.perf_counter()
    raised, fault = False, None
    try:
        read_media(Path(name), data, UTC)
    except MetadataError as exc:
        raised = True
        if str(exc).startswith("unreadable metadata"):  # read_media's catch-all: a bug
            fault = str(exc)
    except Exception as exc:  # noqa: BLE001 - anything else escaping is the fault sought
        fault = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    peak = None
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if peak > 3 * len(data) + ALLOC_SLACK:
            fault = fault or f"allocated {peak} bytes reading {len(data)}"
    elif seconds > TIME_LIMIT:
        fault = fault or f"took {seconds:.2f} s"
    return Outcome(seconds, raised, fault, peak)

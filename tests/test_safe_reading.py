"""Reading hostile or damaged input safely: linear XMP parsing, damaged EXIF times,
only regular files opened with bounded reads, a time limit per file, quiet workers."""

from __future__ import annotations

import contextlib
import signal
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from media import box, make_jpeg, make_mp4

from photoorganiser import metadata, xmp
from photoorganiser.dates import date_from_xmp_sidecar
from photoorganiser.model import DateSource

MiB = 1 << 20
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite for minutes) when the body overruns: SIGALRM
    interrupts even a regex match in progress."""

    def on_alarm(signum: int, frame: object) -> None:
        raise _TooSlow(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed(fn: Callable[[], object], limit: float = 1.0) -> tuple[object, float]:
    start = time.perf_counter()
    with deadline(limit * 5):
        result = fn()
    elapsed = time.perf_counter() - start
    assert elapsed < limit, f"took {elapsed:.2f} s"
    return result, elapsed


# --- 1. XMP parsing is linear --------------------------------------------------------

_DATE = "<exif:DateTimeOriginal>2019-05-04T05:53:00+02:00</exif:DateTimeOriginal>"


def _fill(unit: str, size: int) -> str:
    return unit * (size // len(unit))


def _shapes(size: int) -> dict[str, str]:
    """Packets that made the old regexes quadratic (each position rescanned a long run)."""
    head = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
    return {
        # a run of name characters: every `.`/`-` was a word boundary, each rescanning it
        "name-run": head + _fill("abc.def-ghi", size),
        # many element starts with no `>`: each scanned to the end for one
        "open-tags": head + _fill("<a:DateTimeOriginal ", size),
        # an element followed by a huge text node without `<`: backtracking split it n^2 ways
        "huge-text": head + "<xmp:CreateDate>" + " " * size,
        # a huge attribute value with a date attribute after it
        "huge-attribute": head + 'dc:description="' + "x" * size + '" ',
        # a long rdf:Bag of keywords
        "long-bag": head + "><dc:subject><rdf:Bag>" + _fill("<rdf:li>holiday</rdf:li>", size),
        # many attributes, none of them a date
        "many-attributes": head + _fill('xmp:Rating="5" ', size),
        # unterminated quoted values
        "open-quotes": head + _fill("exif:Make='x exif:Model=", size),
        "entities": head + "<tiff:Make>" + _fill("&amp;", size),
    }


@pytest.mark.parametrize("size", [MiB, 4 * MiB], ids=["1MiB", "4MiB"])
@pytest.mark.parametrize("shape", list(_shapes(16)))
def test_xmp_parsing_is_linear(shape: str, size: int) -> None:
    # Nothing after the junk: a closing `<` or `>` there would let the old regexes match
    # early and hide their quadratic scans.
    packet = "<rdf:Description>" + _DATE + "</rdf:Description>" + _shapes(size)[shape]
    info, _ = timed(lambda: xmp.parse_xmp(packet.encode()))
    wall, offset = datetime(2019, 5, 4, 5, 53), timedelta(hours=2)
    assert info.capture_date() == (wall, offset, "DateTimeOriginal")


def test_xmp_sidecar_of_4mib_is_fast() -> None:
    """The date after 4 MiB of junk is still found: the whole packet is read."""
    packet = _shapes(4 * MiB)["name-run"] + "><rdf:Description>" + _DATE + "</rdf:Description>"
    got, _ = timed(lambda: date_from_xmp_sidecar(packet.encode()))
    assert got is not None and got.wall == datetime(2019, 5, 4, 5, 53)
    assert got.source is DateSource.XMP_SIDECAR


def test_xmp_in_a_video_is_fast(tmp_path: Path) -> None:
    """The XMP of an MP4 (a top-level uuid box) goes through the same reader."""
    path = make_mp4(tmp_path / "clip.mp4", None)
    packet = (_DATE + _shapes(MiB)["huge-text"]).encode()
    path.write_bytes(path.read_bytes() + box(b"uuid", XMP_UUID + packet))
    media, _ = timed(lambda: metadata.read_media(path, path.read_bytes(), UTC))
    assert media.captured is not None
    assert media.captured.source is DateSource.XMP_DATETIME_ORIGINAL
    assert media.captured.wall == datetime(2019, 5, 4, 5, 53)


def test_xmp_in_a_jpeg_is_fast(tmp_path: Path) -> None:
    """A JPEG APP1 XMP segment (at most 64 KiB) of the worst shape."""
    path = make_jpeg(tmp_path / "a.jpg")
    data = path.read_bytes()
    payload = b"http://ns.adobe.com/xap/1.0/\0" + _fill("abc.def-ghi", 60_000).encode()
    payload += _DATE.encode()
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    path.write_bytes(data[:2] + segment + data[2:])
    media, elapsed = timed(lambda: metadata.read_media(path, path.read_bytes(), UTC))
    assert elapsed < 0.2
    assert media.captured is not None and media.captured.wall == datetime(2019, 5, 4, 5, 53)


def test_xmp_normal_packet_still_read() -> None:
    packet = (
        '<x:xmpmeta><rdf:RDF><rdf:Description xap:CreateDate="2018-01-02T03:04:05"'
        " tiff:Make=\"Canon\" tiff:Model = 'EOS 5D'>"
        "<photoshop:DateCreated>\n  <rdf:Seq>\n   <rdf:li>2017-06-07</rdf:li></rdf:Seq>"
        "</photoshop:DateCreated></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    info = xmp.parse_xmp(packet)
    assert info.make == "Canon" and info.model == "EOS 5D"
    assert info.capture_date() == (datetime(2018, 1, 2, 3, 4, 5), None, "CreateDate")
    assert info.date_created() == (datetime(2017, 6, 7), None, "DateCreated")

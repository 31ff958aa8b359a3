"""Reading hostile or damaged input safely: linear XMP parsing, damaged EXIF times,
only regular files opened with bounded reads, a time limit per file, quiet workers."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hanging import no_hang
from media import box, exif_bytes, make_heic, make_jpeg, make_mp4, noise_image

from photoorganiser.core import hashing
from photoorganiser.core.hashing import (
    NotRegularFile,
    hash_bytes,
    hash_file,
    hash_sample,
    read_and_hash,
)
from photoorganiser.core.values import Analysis, AnalysisFailure, DateSource, FileKind, ScanEntry
from photoorganiser.media import analyse as analyse_module
from photoorganiser.media import metadata, xmp
from photoorganiser.media.analyse import AnalyseOptions, analyse_entry
from photoorganiser.media.dates import parse_datetime
from photoorganiser.media.xmp import date_from_xmp_sidecar

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
    """`fn()` and the CPU time it took (this process's: not how busy the machine is with
    other tests), which must be under `limit`; a wall-clock deadline of 5x stops a hang."""
    start = time.process_time()
    with deadline(limit * 5):
        result = fn()
    elapsed = time.process_time() - start
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


# --- 2. a damaged time is no date: the next tag is used --------------------------------


@pytest.mark.parametrize(
    "broken",
    [
        "2003:08:04 21:!3:58",  # a damaged digit
        "2003:08:04 21:13:5",  # cut short
        "2003:08:04 21:13:",
        "2003:08:04 21:1",
        "2003:08:04 2?:13:58",
        "2003:08:04 21:13:589",
        "2003:08:04   :  :  ",  # a blank time
    ],
)
def test_damaged_datetime_original_falls_back_to_create_date(tmp_path: Path, broken: str) -> None:
    path = make_jpeg(tmp_path / "a.jpg", broken, digitized="2005:06:07 08:09:10")
    media = metadata.read_media(path, path.read_bytes(), UTC)
    assert media.captured is not None
    assert media.captured.source is DateSource.EXIF_CREATE_DATE
    assert media.captured.source.value == "EXIF:CreateDate"
    assert media.captured.wall == datetime(2005, 6, 7, 8, 9, 10)


def test_damaged_exif_times_fall_back_to_xmp_then_modify_date(tmp_path: Path) -> None:
    path = make_jpeg(
        tmp_path / "a.jpg",
        "2003:08:04 21:!3:58",
        digitized="2003:08:04 21:13:5",
        modify="2010:01:01 10:00:00",
    )
    media = metadata.read_media(path, path.read_bytes(), UTC)
    assert media.captured is not None
    assert media.captured.source is DateSource.EXIF_MODIFY_DATE
    assert media.captured.wall == datetime(2010, 1, 1, 10)


def test_damaged_heic_datetime_original_falls_back(tmp_path: Path) -> None:
    path = make_heic(tmp_path / "a.heic", "2003:08:04 21:!3:58", digitized="2005:06:07 08:09:10")
    media = metadata.read_media(path, path.read_bytes(), UTC)
    assert media.captured is not None
    assert media.captured.source is DateSource.EXIF_CREATE_DATE
    assert media.captured.wall == datetime(2005, 6, 7, 8, 9, 10)


def test_date_only_value_is_still_midnight(tmp_path: Path) -> None:
    """exiftool's convention, kept: a date with no time at all is 00:00:00 of that day."""
    path = make_jpeg(tmp_path / "a.jpg", "2003:08:04", digitized="2005:06:07 08:09:10")
    media = metadata.read_media(path, path.read_bytes(), UTC)
    assert media.captured is not None
    assert media.captured.source is DateSource.EXIF_DATETIME_ORIGINAL
    assert media.captured.wall == datetime(2003, 8, 4)


@pytest.mark.parametrize(
    ("text", "wall"),
    [
        ("2003:08:04 21:13:58", datetime(2003, 8, 4, 21, 13, 58)),
        ("2003:08:04 21:13", datetime(2003, 8, 4, 21, 13)),
        ("2003:08:04  9:13:58", datetime(2003, 8, 4, 9, 13, 58)),
        ("2003-08-04T21:13:58.5Z", datetime(2003, 8, 4, 21, 13, 58, 500000)),
        ("2003:08:04 21:13:58 DST", datetime(2003, 8, 4, 21, 13, 58)),
    ],
)
def test_whole_times_still_parse(text: str, wall: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed is not None and parsed[0] == wall


def test_damaged_xmp_date_falls_back_to_next_xmp_date() -> None:
    packet = (
        b'<rdf:Description exif:DateTimeOriginal="2003-08-04T21:!3:58"'
        b' xmp:CreateDate="2005-06-07T08:09:10"/>'
    )
    assert xmp.parse_xmp(packet).capture_date() == (
        datetime(2005, 6, 7, 8, 9, 10),
        None,
        "CreateDate",
    )
    sidecar = date_from_xmp_sidecar(
        b'<rdf:Description exif:DateTimeOriginal="2003-08-04T21:13:5"'
        b' photoshop:DateCreated="2004-01-02T03:04:05"/>'
    )
    assert sidecar is not None and sidecar.wall == datetime(2004, 1, 2, 3, 4, 5)


def _iptc_segment(date: bytes, time_: bytes) -> bytes:
    def dataset(number: int, value: bytes) -> bytes:
        return b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(value)) + value

    iptc = dataset(55, date) + dataset(60, time_)
    resource = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(iptc)) + iptc
    payload = b"Photoshop 3.0\0" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


@pytest.mark.parametrize(
    ("time_", "expected"),
    [
        (b"211358+0200", datetime(2003, 8, 4, 21, 13, 58)),
        (b"", datetime(2003, 8, 4)),  # no time: midnight, as before
        (b"21!358", None),  # damaged: not midnight
        (b"21135", None),  # cut short
    ],
)
def test_iptc_damaged_time(tmp_path: Path, time_: bytes, expected: datetime | None) -> None:
    path = tmp_path / "a.jpg"
    noise_image().save(path, "JPEG")
    data = path.read_bytes()
    path.write_bytes(data[:2] + _iptc_segment(b"20030804", time_) + data[2:])
    media = metadata.read_media(path, path.read_bytes(), UTC)
    if expected is None:
        assert media.captured is None
    else:
        assert media.captured is not None
        assert media.captured.source is DateSource.IPTC_DATE_CREATED
        assert media.captured.wall == expected


def test_exif_bytes_helper_writes_the_broken_value() -> None:
    """Guard for the tests above: piexif really stores the damaged string as given."""
    raw = exif_bytes("2003:08:04 21:!3:58")
    assert b"2003:08:04 21:!3:58" in raw


# --- 3. only regular files are opened, reads are bounded ------------------------------


def _entry(path: Path, size: int, kind: FileKind = FileKind.IMAGE) -> ScanEntry:
    """What scan recorded for `path` while it was still a regular file of `size` bytes."""
    return ScanEntry(path, kind, size=size, mtime_ns=time.time_ns())


def test_fifo_swapped_in_after_scan_fails_quickly(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    entry = _entry(path, path.stat().st_size)
    path.unlink()
    os.mkfifo(path)
    result = no_hang(lambda: analyse_entry(entry, AnalyseOptions()), fifo=path)
    assert isinstance(result, AnalysisFailure)
    assert "not a regular file (a pipe, device or socket)" in result.error
    assert not result.transient  # the content is the problem, not a passing read error


def test_symlink_swapped_in_after_scan_fails(tmp_path: Path) -> None:
    real = make_jpeg(tmp_path / "real.jpg", "2020:01:02 03:04:05")
    path = tmp_path / "a.jpg"
    path.symlink_to(real)
    result = no_hang(lambda: analyse_entry(_entry(path, real.stat().st_size), AnalyseOptions()))
    assert isinstance(result, AnalysisFailure)
    assert "symbolic link" in result.error
    assert not result.transient


def test_symlink_refused_even_between_lstat_and_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_NOFOLLOW catches a link that appears after the lstat check (ELOOP)."""
    real = make_jpeg(tmp_path / "real.jpg")
    path = tmp_path / "a.jpg"
    path.symlink_to(real)
    monkeypatch.setattr(hashing.os, "lstat", lambda p: os.stat(real))
    with pytest.raises(NotRegularFile) as caught:
        hashing.open_regular(path)
    assert caught.value.errno == errno.ELOOP
    assert caught.value.strerror == "not a regular file (a symbolic link)"


def test_device_is_refused_not_read(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile) as caught:
        no_hang(lambda: read_and_hash("/dev/zero", expected_size=10))
    assert isinstance(caught.value, OSError)
    assert caught.value.strerror == "not a regular file (a pipe, device or socket)"
    with pytest.raises(NotRegularFile):
        no_hang(lambda: hash_file("/dev/zero"))
    with pytest.raises(NotRegularFile):
        no_hang(lambda: hash_sample("/dev/zero", 10))


def test_device_refused_after_open_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """fstat on the opened fd is what decides (a swap right after lstat)."""
    monkeypatch.setattr(hashing.os, "lstat", lambda p: os.stat(__file__))
    with pytest.raises(NotRegularFile):
        no_hang(lambda: read_and_hash("/dev/zero", expected_size=10))


def test_every_reader_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "a.mp4"
    os.mkfifo(fifo)
    for fn in (
        lambda: read_and_hash(fifo),
        lambda: hash_file(fifo),
        lambda: hash_sample(fifo, 100),
        lambda: hashing.open_regular_file(fifo),
    ):
        with pytest.raises(NotRegularFile):
            no_hang(fn, fifo=fifo)
    with pytest.raises(metadata.MetadataError, match="not a regular file"):
        no_hang(lambda: metadata.read_media(fifo, None, UTC), fifo=fifo)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile, match="a directory"):
        hash_file(tmp_path)


def test_read_is_bounded_by_expected_size(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(9 * MiB + 5)
    path.write_bytes(data)
    got = read_and_hash(path, keep_limit=0, expected_size=5 * MiB)
    assert got.size == 5 * MiB + 1  # one byte past: enough to see it grew
    assert got.hash == hash_bytes(data[: 5 * MiB + 1])
    small = read_and_hash(path, expected_size=100)
    assert (small.size, small.data) == (101, data[:101])
    whole = read_and_hash(path, keep_limit=0)
    assert (whole.size, whole.hash) == (len(data), hash_bytes(data))
    exact = read_and_hash(path, expected_size=len(data))
    assert (exact.size, exact.hash, exact.data) == (len(data), hash_bytes(data), data)
    assert hash_file(path) == hash_bytes(data)


def test_file_that_grew_is_a_size_mismatch(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    entry = _entry(path, path.stat().st_size)
    with path.open("ab") as f:
        f.write(b"\0" * 10 * MiB)
    result = analyse_entry(entry, AnalyseOptions())
    assert isinstance(result, AnalysisFailure)
    assert "changed while being read" in result.error
    assert f"{entry.size + 1} read" in result.error  # stopped one byte past the scan's size
    assert result.transient


def test_unchanged_file_still_analysed(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    result = analyse_entry(_entry(path, path.stat().st_size), AnalyseOptions())
    assert isinstance(result, Analysis)
    assert result.hash == hash_bytes(path.read_bytes())
    assert result.captured is not None and result.captured.wall == datetime(2020, 1, 2, 3, 4, 5)


# --- 4. a time limit on one file's parse ----------------------------------------------


def _spin(*args: object) -> object:
    """A parser stuck in a pure-Python loop (what a pathological structure can cause)."""
    while True:
        pass


def _sleepy(*args: object) -> object:
    time.sleep(30)
    raise AssertionError("not interrupted")


@pytest.mark.parametrize("slow", [_spin, _sleepy], ids=["busy", "blocked"])
def test_parse_time_limit_gives_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: Callable[..., object]
) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    monkeypatch.setattr(analyse_module, "PARSE_TIME_LIMIT", 0.2)
    monkeypatch.setattr(metadata, "read_media", slow)
    start = time.monotonic()
    with deadline(10):  # our own timer and handler: put back by the limit afterwards
        results = list(
            analyse_module.analyse([_entry(path, path.stat().st_size)], AnalyseOptions(), workers=1)
        )
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 8 < remaining <= 10  # the outer timer still runs, less the time spent
        assert signal.getsignal(signal.SIGALRM) is not analyse_module._on_alarm
    assert time.monotonic() - start < 3
    [result] = results
    assert isinstance(result, AnalysisFailure)
    assert result.error == ("gave up reading its metadata after 0.2 s (damaged or hostile file?)")
    assert result.hash == hash_bytes(path.read_bytes())
    assert not result.transient


def test_parse_time_limit_covers_sidecars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.xmp"
    path.write_bytes(b"<x:xmpmeta/>")
    monkeypatch.setattr(analyse_module, "PARSE_TIME_LIMIT", 0.2)
    monkeypatch.setattr(analyse_module.xmp, "date_from_xmp_sidecar", _spin)
    with deadline(10):
        result = analyse_entry(
            _entry(path, path.stat().st_size, FileKind.SIDECAR), AnalyseOptions()
        )
    assert isinstance(result, AnalysisFailure) and "gave up" in result.error


def test_parse_time_limit_leaves_signals_as_they_were(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    before = signal.getsignal(signal.SIGALRM)
    result = analyse_entry(_entry(path, path.stat().st_size), AnalyseOptions())
    assert isinstance(result, Analysis)
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_parse_time_limit_is_skipped_outside_the_main_thread(tmp_path: Path) -> None:
    """signal.signal only works in the main thread: elsewhere the parse runs unlimited
    (rather than failing every file)."""
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    result = no_hang(lambda: analyse_entry(_entry(path, path.stat().st_size), AnalyseOptions()))
    assert isinstance(result, Analysis)


# --- 5. Ctrl-C: no tracebacks from pool workers ------------------------------------------

_PMAP_SCRIPT = """
import sys, time
from photoorganiser.core.parallel import pmap

if __name__ == "__main__":
    print("starting", flush=True)
    try:
        for done, _ in enumerate(pmap(time.sleep, [0.2] * 200, workers=2), 1):
            if done == 1:
                print("running", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    sys.exit(0)
"""


@pytest.mark.parametrize(
    ("when", "delay"), [("starting", 0.02), ("starting", 0.1), ("running", 0.3)]
)
def test_ctrl_c_gives_no_worker_tracebacks(tmp_path: Path, when: str, delay: float) -> None:
    """Ctrl-C sends SIGINT to the whole process group: while the workers start up
    ("starting": a moment after the pool is asked for) and while they work."""
    script = tmp_path / "job.py"
    script.write_text(_PMAP_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killpg must not reach pytest
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        while (line := proc.stdout.readline().strip()) != when:
            assert line, "the script ended early"
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in err, err
    assert "SpawnPoolWorker" not in err, err
    assert "KeyboardInterrupt" not in err, err
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted"


# --- 6. damaged files: only MetadataError, and quickly --------------------------------


def _box_size_variants(data: bytes, kinds: tuple[bytes, ...]) -> Iterator[bytes]:
    """`data` with the size of each box of `kinds` set to 0 (to the end), 1 (a 64-bit size
    follows: 2**64-1 and 0 are written there), 7 (smaller than its header) and 2**32-1."""
    for kind in kinds:
        at = data.find(kind, 4)
        if at < 4:
            continue
        start = at - 4
        for size in (0, 7, 0xFFFFFFFF):
            yield data[:start] + struct.pack(">I", size) + data[at:]
        for large in (2**64 - 1, 0):
            yield (
                data[:start]
                + struct.pack(">I", 1)
                + kind
                + struct.pack(">Q", large)
                + data[at + 12 :]
            )


def _damaged(data: bytes, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for cut in (1, 7, 16, 100, len(data) // 3, len(data) // 2, len(data) - 2):
        yield data[:cut]
    for _ in range(60):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            # mostly in the metadata near the start, where structure is
            pos = rng.randrange(min(len(data), 4096) if rng.random() < 0.8 else len(data))
            flipped[pos] ^= 1 << rng.randrange(8)
        yield bytes(flipped)


_BOXES = (b"ftyp", b"moov", b"mvhd", b"trak", b"tkhd", b"mdia", b"mdhd", b"hdlr", b"mdat")
_HEIF_BOXES = (b"meta", b"pitm", b"iinf", b"infe", b"iloc", b"iprp", b"ipco", b"ipma", b"ispe")


def test_damaged_files_give_metadata_errors_only(tmp_path: Path) -> None:
    jpeg = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05", make="Canon").read_bytes()
    heic = make_heic(tmp_path / "a.heic", "2020:01:02 03:04:05").read_bytes()
    mp4 = make_mp4(
        tmp_path / "a.mp4",
        datetime(2020, 1, 2, 3, 4, 5),
        apple_creation_date="2020-01-02T03:04:05+0100",
    ).read_bytes()
    variants = [
        *_damaged(jpeg, 1),
        *_damaged(heic, 2),
        *_damaged(mp4, 3),
        *_box_size_variants(mp4, _BOXES),
        *_box_size_variants(heic, _BOXES + _HEIF_BOXES),
    ]
    path = tmp_path / "damaged"
    started = time.process_time()  # CPU time: not how busy the machine is with other tests
    for i, data in enumerate(variants):
        path.write_bytes(data)
        for given in (data, None):  # in memory, and read from the file by offset
            t = time.process_time()
            try:
                with deadline(5):
                    metadata.read_media(path, given, UTC)
            except metadata.MetadataError as exc:
                assert "still running" not in str(exc), f"variant {i}: too slow"
            took = time.process_time() - t
            assert took < 1, f"variant {i} took {took:.2f} s"
    assert time.process_time() - started < 10

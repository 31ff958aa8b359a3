"""What the analysis pool's workers do per file: one safe open and one read of a small
file, the next big file asked of the disk ahead (never a link, pipe or device), a batch
analysed straight from packed tuples to compact ones (the same values as analyse_entry
gives), and the parse time limit kept by a ticking timer per batch."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hanging import no_hang
from media import make_heic, make_jpeg, make_mp4, make_png

from photoorganiser.core import hashing
from photoorganiser.core.hashing import NotRegularFile, hash_bytes, prefetch, read_and_hash
from photoorganiser.core.values import Analysis, AnalysisFailure, FileKind, ScanEntry
from photoorganiser.media import analyse as analyse_module
from photoorganiser.media import metadata
from photoorganiser.media.analyse import AnalyseOptions, analyse_batch, analyse_entry

KiB = 1 << 10


def entry_of(path: Path, kind: FileKind = FileKind.IMAGE, size: int | None = None) -> ScanEntry:
    st = path.lstat()
    return ScanEntry(
        path, kind, st.st_size if size is None else size, st.st_mtime_ns, st.st_ino, st.st_dev
    )


def big_jpeg(path: Path, date: str = "2020:01:02 03:04:05", seed: int = 0) -> Path:
    """A JPEG of more than hashing.PREFETCH_MIN bytes (noise compresses badly)."""
    make_jpeg(path, date, seed=seed, size=(640, 480), quality=95)
    assert path.stat().st_size >= hashing.PREFETCH_MIN
    return path


def a_device(tmp_path: Path) -> Path:
    """A character device node (like /dev/zero: endless) inside tmp_path, or /dev/zero."""
    node = tmp_path / "dev.jpg"
    try:
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except OSError:  # not root: the real one
        return Path("/dev/zero")
    return node


@contextlib.contextmanager
def counting(monkeypatch: pytest.MonkeyPatch, *names: str) -> Iterator[dict[str, int]]:
    calls = dict.fromkeys(names, 0)
    for name in names:
        real = getattr(os, name)

        def wrapper(*args: object, _real: Callable[..., object] = real, _name: str = name):
            calls[_name] += 1
            return _real(*args)

        monkeypatch.setattr(os, name, wrapper)
    yield calls


# --- 1. one safe open, one read ------------------------------------------------------------


def test_small_file_costs_one_open_one_fstat_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    data = path.read_bytes()
    with counting(monkeypatch, "open", "fstat", "read", "lstat", "stat") as calls:
        got = read_and_hash(path, hashing.KEEP_LIMIT, len(data))
    assert (got.size, got.hash, got.data) == (len(data), hash_bytes(data), data)
    assert calls == {"open": 1, "fstat": 1, "read": 1, "lstat": 0, "stat": 0}


def test_short_reads_before_the_end_are_read_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read may come back short before the end (a network file system): only a short
    read at the size fstat gave is the end."""
    data = os.urandom(300 * KiB)
    path = tmp_path / "a.bin"
    path.write_bytes(data)
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: real(fd, min(n, 7000)))
    for expected in (len(data), None):
        got = read_and_hash(path, hashing.KEEP_LIMIT, expected)
        assert (got.size, got.hash, got.data) == (len(data), hash_bytes(data), data)
    got = read_and_hash(path, 0, len(data))
    assert (got.size, got.hash, got.data) == (len(data), hash_bytes(data), None)


def _fstat_says(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """fstat reports `size` bytes: the file changed between fstat and the read."""
    real = os.fstat

    def fstat(fd: int) -> os.stat_result:
        st = list(real(fd))
        st[stat.ST_SIZE] = size
        return os.stat_result(st)

    monkeypatch.setattr(os, "fstat", fstat)


def test_file_grown_after_fstat_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    scanned = path.stat().st_size
    entry = entry_of(path)
    with path.open("ab") as f:
        f.write(b"\0" * 5000)  # grew after the scan ...
    _fstat_says(monkeypatch, scanned)  # ... and after fstat
    got = read_and_hash(path, hashing.KEEP_LIMIT, scanned)
    assert got.size == scanned + 1  # one byte past the scan's size: enough to see it
    result = analyse_entry(entry, AnalyseOptions())
    assert isinstance(result, AnalysisFailure) and "changed while being read" in result.error
    [(_, [compact])] = [analyse_batch((0, [analyse_module._pack(entry)]), AnalyseOptions())]
    assert isinstance(compact, AnalysisFailure) and "changed while being read" in compact.error
    assert compact.entry.path == path and compact.transient


def test_file_shrunk_after_fstat_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    entry = entry_of(path)
    data = path.read_bytes()
    path.write_bytes(data[:1000])  # cut short (rewritten) after fstat
    _fstat_says(monkeypatch, len(data))
    got = read_and_hash(path, hashing.KEEP_LIMIT, len(data))
    assert (got.size, got.data) == (1000, data[:1000])
    result = analyse_entry(entry, AnalyseOptions())
    assert isinstance(result, AnalysisFailure)
    assert f"{len(data)} bytes when scanned, 1000 read" in result.error


def test_nonblocking_read_refused_by_a_file_system_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_NONBLOCK stays set on the fd; a file system that honours it with EAGAIN gets the
    read again with it cleared, instead of a failed file."""
    data = os.urandom(5000)
    path = tmp_path / "a.bin"
    path.write_bytes(data)
    real = os.read

    def read(fd: int, n: int) -> bytes:
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real(fd, n)

    monkeypatch.setattr(os, "read", read)
    got = read_and_hash(path, hashing.KEEP_LIMIT, len(data))
    assert (got.size, got.hash) == (len(data), hash_bytes(data))


# --- 2. never a link, pipe or device --------------------------------------------------------


def test_read_refuses_fifo_link_device_and_directory(tmp_path: Path) -> None:
    real = make_jpeg(tmp_path / "real.jpg", "2020:01:02 03:04:05")
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    link = tmp_path / "link.jpg"
    link.symlink_to(real)
    for path, why in (
        (fifo, "a pipe, device or socket"),
        (a_device(tmp_path), "a pipe, device or socket"),
        (link, "a symbolic link"),
        (tmp_path, "a directory"),
    ):
        with pytest.raises(NotRegularFile) as caught:
            no_hang(lambda p=path: read_and_hash(p, hashing.KEEP_LIMIT, 10))
        assert caught.value.strerror == f"not a regular file ({why})"


def test_prefetch_advises_regular_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = big_jpeg(tmp_path / "real.jpg")
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    link = tmp_path / "link.jpg"
    link.symlink_to(real)
    advised: list[tuple[int, int, int]] = []
    real_advise = os.posix_fadvise
    monkeypatch.setattr(
        os,
        "posix_fadvise",
        lambda fd, o, n, a: advised.append((o, n, a)) or real_advise(fd, o, n, a),
    )
    for path in (fifo, link, a_device(tmp_path), tmp_path, tmp_path / "gone.jpg"):
        no_hang(lambda p=path: prefetch(p))  # never blocks, never raises
    assert advised == []
    prefetch(real)
    assert advised == [(0, real.stat().st_size, os.POSIX_FADV_WILLNEED)]


def test_batch_with_swapped_paths_refuses_them_and_reads_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch where paths became a FIFO, a link and a device since the scan: each is a
    failure (never waited on, followed or read, not even advised), the others are read."""
    good = [big_jpeg(tmp_path / f"g{i}.jpg", seed=i) for i in range(3)]
    entries = [entry_of(p) for p in good]
    swapped = []
    for name, make in (
        ("fifo.jpg", lambda p: os.mkfifo(p)),
        ("link.jpg", lambda p: p.symlink_to(good[0])),
    ):
        path = big_jpeg(tmp_path / name, seed=9)
        entry = entry_of(path)
        path.unlink()
        make(path)
        swapped.append(entry)
    device = a_device(tmp_path)
    swapped.append(ScanEntry(device, FileKind.IMAGE, 1 << 20, 1))
    batch = [entries[0], swapped[0], entries[1], swapped[1], swapped[2], entries[2]]
    advised: list[int] = []
    real_advise = os.posix_fadvise
    monkeypatch.setattr(
        os, "posix_fadvise", lambda fd, o, n, a: advised.append(n) or real_advise(fd, o, n, a)
    )
    packed = [analyse_module._pack(e) for e in batch]
    number, out = no_hang(lambda: analyse_batch((7, packed), AnalyseOptions()))
    assert number == 7 and len(out) == len(batch)
    for entry, result in zip(batch, out, strict=True):
        if entry in swapped:
            assert isinstance(result, AnalysisFailure)
            assert result.error.startswith("not read: not a regular file")
            assert result.entry == entry and not result.transient
        else:
            assert not isinstance(result, AnalysisFailure)
            assert result[0] == hash_bytes(entry.path.read_bytes())
    # the regular files after the first were asked for ahead; nothing else was
    assert sorted(advised) == sorted(e.size for e in entries[1:])


# --- 3. the batch path gives what analyse_entry gives -----------------------------------


def test_batch_results_are_analyse_entry_s(tmp_path: Path) -> None:
    files = [
        (make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05"), FileKind.IMAGE),
        (make_jpeg(tmp_path / "IMG_20190304_050607.jpg"), FileKind.IMAGE),  # date in the name
        (make_jpeg(tmp_path / "sub.jpg", "2020:01:02 03:04:05.123"), FileKind.IMAGE),
        (make_jpeg(tmp_path / "none.jpg"), FileKind.IMAGE),  # mtime
        (make_heic(tmp_path / "b.heic", "2021:06:07 08:09:10"), FileKind.IMAGE),
        (make_png(tmp_path / "c.png"), FileKind.IMAGE),
        (make_mp4(tmp_path / "d.mp4", datetime(2019, 5, 6, 7, 8, 9)), FileKind.VIDEO),
        (tmp_path / "e.jpg", FileKind.IMAGE),  # not media
        (tmp_path / "zero.jpg", FileKind.IMAGE),  # every byte zero
        (tmp_path / "empty.jpg", FileKind.IMAGE),
        (tmp_path / "s.xmp", FileKind.SIDECAR),
    ]
    (tmp_path / "e.jpg").write_bytes(b"not a photo at all")
    (tmp_path / "zero.jpg").write_bytes(bytes(4000))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "s.xmp").write_bytes(
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        b'exif:DateTimeOriginal="2018-01-02T03:04:05"/></rdf:RDF></x:xmpmeta>'
    )
    for options in (AnalyseOptions(), AnalyseOptions("Asia/Tokyo", use_mtime=False)):
        entries = [entry_of(p, kind) for p, kind in files]
        _, out = analyse_batch((0, [analyse_module._pack(e) for e in entries]), options)
        analysed = 0
        for entry, compact in zip(entries, out, strict=True):
            expected = analyse_entry(entry, options)
            assert analyse_module._expand(entry, compact, {}) == expected
            analysed += isinstance(expected, Analysis)
        assert analysed == 8


def test_batch_agrees_with_analyse_entry_on_the_corpus(corpus: Path) -> None:
    kinds = {".xmp": FileKind.SIDECAR, ".json": FileKind.SIDECAR, ".aae": FileKind.SIDECAR}
    entries = [
        entry_of(p, kinds.get(p.suffix.lower(), FileKind.IMAGE))
        for p in sorted(corpus.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name not in ("manifest.csv", "README.md")
    ]
    assert len(entries) > 400
    options = AnalyseOptions("Europe/Paris")
    _, out = analyse_batch((0, [analyse_module._pack(e) for e in entries]), options)
    for entry, compact in zip(entries, out, strict=True):
        assert analyse_module._expand(entry, compact, {}) == analyse_entry(entry, options), entry


# --- 4. the parse time limit in a batch ------------------------------------------------------


def _sleepy(*args: object) -> object:
    time.sleep(30)
    raise AssertionError("not interrupted")


def test_parse_time_limit_in_a_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a worker's batch the limit is a ticking timer: the stuck file fails in about the
    limit, the files after it are analysed, and the handler and timer are put back."""
    slow = make_jpeg(tmp_path / "slow.jpg", "2020:01:02 03:04:05")
    fast = make_jpeg(tmp_path / "fast.jpg", "2021:01:02 03:04:05", seed=1)
    real_read = metadata.read_media
    monkeypatch.setattr(analyse_module, "PARSE_TIME_LIMIT", 0.3)
    monkeypatch.setattr(
        metadata,
        "read_media",
        lambda path, *a: (_sleepy if str(path).endswith("slow.jpg") else real_read)(path, *a),
    )
    before = signal.getsignal(signal.SIGALRM)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    packed = [analyse_module._pack(entry_of(p)) for p in (fast, slow, fast)]
    start = time.monotonic()
    _, out = analyse_batch((0, packed), AnalyseOptions())
    assert time.monotonic() - start < 3
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert isinstance(out[1], AnalysisFailure)
    assert out[1].error == "gave up reading its metadata after 0.3 s (damaged or hostile file?)"
    assert out[1].hash == hash_bytes(slow.read_bytes()) and not out[1].transient
    for compact in (out[0], out[2]):
        assert not isinstance(compact, AnalysisFailure)
        assert compact[1][0][0].year == 2021


def test_unknown_time_zone_fails_each_file_not_the_batch(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05")
    packed = [analyse_module._pack(entry_of(path))] * 2
    _, out = analyse_batch((0, packed), AnalyseOptions("Nowhere/Atlantis"))
    assert all(isinstance(r, AnalysisFailure) and "unknown time zone" in r.error for r in out)
    assert metadata.read_media(path, None, UTC).captured is not None

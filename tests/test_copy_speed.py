"""Copies made side by side (execute.Copies): a batch's copies are written, flushed and read
back from the disk by a few threads, then named in order; every guarantee of a copy made
one at a time still holds. Real files, through the CLI."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser.cli import main
from photoorganiser.core import hashing, signals
from photoorganiser.importing import execute
from reports import rows

D0 = datetime(2020, 1, 2, 3, 4, 5)
STATE = ".photoorganiser"


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default reports/ lands in tmp_path, not the repo


def run(*args: str | Path) -> int:
    return main(["import", *map(str, args), "--workers", "1", "--quiet"])


def make_inbox(root: Path, count: int) -> Path:
    old = datetime(2019, 6, 1).timestamp()
    for i in range(count):
        photo = make_jpeg(root / f"f{i % 7}" / f"IMG_{i:04d}.jpg", D0 + timedelta(hours=i), seed=i)
        os.utime(photo, (old + i, old + i))
        os.chmod(photo, 0o640 if i % 2 else 0o604)
    return root


def photos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jpg") if p.is_file() and STATE not in p.parts)


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if execute.TEMP_MARK in p.name]


def by_content(paths: list[Path]) -> dict[str, Path]:
    return {hashing.hash_file(p): p for p in paths}


def catalog_state(library: Path) -> tuple[dict[str, int], int]:
    """The catalog's files (path -> size) and how many journal entries are still intents."""
    with sqlite3.connect(library / STATE / "catalog.sqlite") as conn:
        files = dict(conn.execute("SELECT path, size FROM files"))
        (intents,) = conn.execute("SELECT count(*) FROM journal WHERE state = 'intent'").fetchone()
    conn.close()
    return files, intents


def on_disk(library: Path) -> dict[str, int]:
    return {str(p.relative_to(library)): p.stat().st_size for p in photos(library)}


def another_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library as if on another disk: moves are copies, batched as copies."""
    monkeypatch.setattr(execute, "_move_in_place", lambda *a: False)
    monkeypatch.setattr(execute, "_device", lambda root: None)


@pytest.fixture
def copy_threads(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The names of the threads that made copies (execute._copy_verified's callers).
    Each copy takes 5 ms at least: a copy onto a tmpfs could end before the next was
    handed over, and one thread would make them all (a pool starts a thread only when
    none is idle)."""
    names: set[str] = set()
    real = execute._copy_verified

    def recorded(source, tmp, expected, st):
        names.add(threading.current_thread().name)
        time.sleep(0.005)
        return real(source, tmp, expected, st)

    monkeypatch.setattr(execute, "_copy_verified", recorded)
    return names


def test_a_hundred_copies_made_side_by_side_are_all_verified_and_kept_as_they_were(
    tmp_path: Path, copy_threads: set[str]
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 100), tmp_path / "lib"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in photos(inbox)}
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
    assert len(copy_threads) > 1 and all(n.startswith("po-copy") for n in copy_threads)
    got = rows(report)
    assert [r["status"] for r in got] == ["done"] * 100
    placed = {r["source"]: library / r["destination"] for r in got}
    for src, (data, mtime, mode) in before.items():
        copy = placed[str(src)]
        assert copy.read_bytes() == data
        assert copy.stat().st_mtime_ns == mtime
        assert copy.stat().st_mode == mode
        assert src.read_bytes() == data and src.stat().st_mtime_ns == mtime  # left as it was
    assert not temporaries(library)
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0


def test_a_move_to_another_disk_copies_side_by_side_then_removes_the_sources(
    tmp_path: Path, small_fs, copy_threads: set[str]
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 90), small_fs("64m") / "lib"
    before = Counter(hashing.hash_file(p) for p in photos(inbox))
    mtimes = sorted(p.stat().st_mtime_ns for p in photos(inbox))
    assert run("--input", inbox, "--output", library) == 0  # a real EXDEV: copy, verify, unlink
    assert len(copy_threads) > 1
    assert photos(inbox) == []
    assert Counter(hashing.hash_file(p) for p in photos(library)) == before
    assert sorted(p.stat().st_mtime_ns for p in photos(library)) == mtimes
    assert not temporaries(library)
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0


@pytest.mark.parametrize("mode", ["--copy", "--move"])
def test_a_source_changed_during_a_parallel_batch_is_caught_and_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    another_disk(monkeypatch)
    inbox, library = make_inbox(tmp_path / "in", 40), tmp_path / "lib"
    victim = inbox / "f3" / "IMG_0017.jpg"
    real = execute._open_source

    def changed_meanwhile(src, st, **how):
        if src == victim:
            # after the plan, before its copy: a program rewrites a few bytes in place,
            # keeping its size and time, so only the content tells (before the source is
            # opened under its lease: in this process, a write would wait for the lease)
            data = bytearray(victim.read_bytes())
            data[-100] ^= 0xFF
            with open(victim, "r+b") as f:
                f.write(data)
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        return real(src, st, **how)

    monkeypatch.setattr(execute, "_open_source", changed_meanwhile)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, mode, "--report", report) == 1
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert got["IMG_0017.jpg"]["status"] == "failed"
    assert "changed while being copied" in got["IMG_0017.jpg"]["error"]
    assert victim.exists()  # the changed source is left as it is now
    assert sum(r["status"] == "done" for r in got.values()) == 39
    assert len(photos(library)) == 39 and not temporaries(library)
    if mode == "--move":
        assert photos(inbox) == [victim]
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0


def _fail_writes(monkeypatch: pytest.MonkeyPatch, names: set[str], code: int) -> None:
    """os.write fails with `code` for the temporary files of `names` (in whichever
    thread writes them); everything else is written."""
    real_write = os.write

    def failing(fd, data):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if execute.TEMP_MARK in target and any(f"_{n}{execute.TEMP_MARK}" in target for n in names):
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(execute.os, "write", failing)


def test_an_io_error_in_one_threads_copy_leaves_the_others_right_and_the_journal_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    another_disk(monkeypatch)
    inbox, library = make_inbox(tmp_path / "in", 70), tmp_path / "lib"  # two batches
    originals = Counter(hashing.hash_file(p) for p in photos(inbox))
    _fail_writes(monkeypatch, {"IMG_0005.jpg", "IMG_0066.jpg"}, errno.EIO)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    got = {Path(r["source"]).name: r for r in rows(report)}
    failed = {name for name, r in got.items() if r["status"] == "failed"}
    assert failed == {"IMG_0005.jpg", "IMG_0066.jpg"}
    assert all("cannot copy" in got[n]["error"] for n in failed)
    assert {p.name for p in photos(inbox)} == failed  # their sources stay, the rest moved
    assert len(photos(library)) == 68 and not temporaries(library)
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0
    monkeypatch.undo()
    assert run("--input", inbox, "--output", library) == 0  # the next run finishes them
    assert Counter(hashing.hash_file(p) for p in photos(library)) == originals
    assert photos(inbox) == []


def test_a_full_disk_is_reported_per_file_and_leaves_nothing_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 30), tmp_path / "lib"
    full = {f"IMG_{i:04d}.jpg" for i in range(0, 30, 3)}
    _fail_writes(monkeypatch, full, errno.ENOSPC)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 1
    got = {Path(r["source"]).name: r for r in rows(report)}
    for name, r in got.items():
        if name in full:
            assert r["status"] == "failed" and "no space left" in r["error"], r
        else:
            assert r["status"] == "done", r
    assert len(photos(library)) == 20 and not temporaries(library)
    assert len(photos(inbox)) == 30
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0


def test_a_stop_while_copies_are_in_flight_finishes_or_undoes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    another_disk(monkeypatch)
    inbox, library = make_inbox(tmp_path / "in", 100), tmp_path / "lib"
    originals = Counter(hashing.hash_file(p) for p in photos(inbox))
    real = execute._copy_verified
    started, after_stop = [], set()

    def stopped_meanwhile(source, tmp, expected, st):
        if signals.requested() is not None:  # begun once the stop was seen
            after_stop.add(tmp.name.split(execute.TEMP_MARK)[0].split("_", 2)[2])
        started.append(tmp)
        if len(started) == 80:  # SIGTERM arrives while the second batch's copies are made
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 10
            while signals.requested() is None and time.monotonic() < deadline:
                time.sleep(0.001)  # the main thread's handler has seen it
        return real(source, tmp, expected, st)

    monkeypatch.setattr(execute, "_copy_verified", stopped_meanwhile)
    report = tmp_path / "r.csv"
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert run("--input", inbox, "--output", library, "--report", report) == 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    got = rows(report)
    assert len(got) == 100
    statuses = {Path(r["source"]).name: r["status"] for r in got}
    assert set(statuses.values()) == {"done", "not-done"}
    assert statuses[started[79].name.split(execute.TEMP_MARK)[0].split("_", 2)[2]] == "not-done"
    done = [r for r in got if r["status"] == "done"]
    # the copies made before the stop, named (the other threads go on until the main
    # thread's handler has run: how many they finish meanwhile is the machine's timing);
    # the copy in flight and every one begun after the stop was seen, undone
    assert all(statuses[name] == "not-done" for name in after_stop)
    # the queued copies are not begun once it is seen (at most the other threads were
    # between that check and their copy's first byte)
    assert len(after_stop) <= execute.COPY_THREADS - 1
    assert 60 <= len(done) <= len(started) - len(after_stop) - 1
    assert len(photos(library)) == len(done) and len(photos(inbox)) == 100 - len(done)
    assert not temporaries(library)
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0
    monkeypatch.undo()
    capsys.readouterr()
    assert run("--input", inbox, "--output", library) == 0
    assert "recovered" not in capsys.readouterr().err  # a clean stop: nothing to recover
    assert Counter(hashing.hash_file(p) for p in photos(library)) == originals


def test_a_sidecar_waits_for_its_photos_copy_made_in_parallel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    another_disk(monkeypatch)
    inbox, library = make_inbox(tmp_path / "in", 20), tmp_path / "lib"
    for i in range(0, 20, 2):
        sidecar = inbox / f"f{i % 7}" / f"IMG_{i:04d}.xmp"
        sidecar.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    _fail_writes(monkeypatch, {"IMG_0004.jpg"}, errno.EIO)  # a leader whose copy fails
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert got["IMG_0004.jpg"]["status"] == "failed"
    assert got["IMG_0004.xmp"]["status"] == "failed"
    assert "travels with" in got["IMG_0004.xmp"]["error"]
    assert (inbox / "f4" / "IMG_0004.xmp").exists()
    sidecars = sorted(library.rglob("*.xmp"))
    assert len(sidecars) == 9
    assert all(s.with_suffix(".jpg").exists() for s in sidecars)
    files, intents = catalog_state(library)
    assert files == on_disk(library) | {str(s.relative_to(library)): 37 for s in sidecars}
    assert intents == 0


def test_hash_from_disk_agrees_with_hash_file(tmp_path: Path) -> None:
    for size in (0, 1, 4095, 4096, hashing.CHUNK_SIZE, hashing.CHUNK_SIZE + 7):
        path = tmp_path / f"f{size}"
        path.write_bytes(os.urandom(size))
        assert hashing.hash_from_disk(path) == hashing.hash_file(path)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "f1")
    with pytest.raises(hashing.NotRegularFile):
        hashing.hash_from_disk(link)


def test_when_the_journal_fails_the_batch_before_still_names_its_verified_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photoorganiser.library import journal

    monkeypatch.setattr(execute, "BATCH", 64)
    inbox, library = make_inbox(tmp_path / "in", 70), tmp_path / "lib"
    real_intend, calls = journal.Journal.intend, []

    def full_on_the_second_batch(self, transfers):
        calls.append(1)
        if len(calls) == 2:  # while the first batch's copies are still in flight
            raise execute.JournalError("cannot write the library's journal (disk full)")
        return real_intend(self, transfers)

    monkeypatch.setattr(journal.Journal, "intend", full_on_the_second_batch)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 1
    got = rows(report)
    assert [r["status"] for r in got] == ["done"] * 64 + ["failed"] * 6
    assert all("journal" in r["error"] for r in got[64:])
    assert len(photos(library)) == 64 and not temporaries(library)
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0


def test_the_copy_threads_leave_a_stop_to_the_main_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SIGTERM the kernel gave a copy thread ran no handler while the main thread waited
    # for the batch's copies: the stop was seen only once they were all made.
    another_disk(monkeypatch)
    inbox, library = make_inbox(tmp_path / "in", 6), tmp_path / "lib"
    real, masks = execute._copy_verified, []

    def noting_the_mask(source, tmp, expected, st):
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        return real(source, tmp, expected, st)

    monkeypatch.setattr(execute, "_copy_verified", noting_the_mask)
    assert run("--input", inbox, "--output", library, "--report", tmp_path / "r.csv") == 0
    assert len(masks) == 6
    assert all(set(signals.HANDLED) <= mask for mask in masks)
    assert not set(signals.HANDLED) & signal.pthread_sigmask(signal.SIG_BLOCK, [])  # main's


def test_a_stop_after_execute_adds_no_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C while the emptied inbox folders are removed: every file was moved and
    # reported already; the stop adds no second row for any of them.
    from photoorganiser.runs import importer

    inbox, library = make_inbox(tmp_path / "in", 5), tmp_path / "lib"

    def stopped(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(importer, "remove_emptied_folders", stopped)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--move", "--report", report) == 130
    got = rows(report)
    assert len(got) == 5 and {r["status"] for r in got} == {"done"}
    assert len(photos(library)) == 5

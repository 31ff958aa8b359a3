"""find-duplicates' fixed costs (issue 14): a plain `find-duplicates FOLDER` imports no
catalog (nor sqlite3) and, when it finds nothing to describe, no metadata reader; a
group's first file, read whole by the sample stage, is described from those bytes and not
read again, saying exactly what reading it again says; the garbage collector is left as
it was found. Each is checked on real files, in a real process where it is about one."""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from media import make_jpeg, make_png

from photoorganiser.core import keeper
from photoorganiser.core.reportfile import ReportHeader
from photoorganiser.duplicates import describe, exact, find
from photoorganiser.duplicates import report as dupreport
from photoorganiser.duplicates.find import find_duplicates, library_roots
from photoorganiser.duplicates.stage import StageContext
from photoorganiser.duplicates.values import (
    DuplicateGroup,
    ExactGroup,
    FindOptions,
    FindResult,
    KeptCopy,
    Kind,
)
from photoorganiser.library.catalog import catalog_path
from photoorganiser.library.lock import STATE_DIR

REPO = Path(__file__).resolve().parents[1]


def imported(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime -m photoorganiser ARGS` as a person would (its own
    process, its own command line); the modules it imported."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "photoorganiser", *args],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    modules = set(re.findall(r"^import time:.*\|\s*(\S+)$", done.stderr, re.MULTILINE))
    assert "photoorganiser.duplicates.find" in modules  # (the check itself sees imports)
    return done, modules


def test_a_plain_folder_imports_no_catalog_and_no_reader(tmp_path: Path) -> None:
    """No library, no duplicate: neither the catalog (sqlite3) nor any metadata reader."""
    folder = tmp_path / "photos"
    make_jpeg(folder / "a.jpg", "2020:01:02 03:04:05", seed=1)
    make_png(folder / "b.png", seed=2)
    report = tmp_path / "r.csv"
    done, modules = imported(tmp_path, "find-duplicates", "--input", str(folder),
                             "--report", str(report), "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert report.is_file() and dupreport.read_report(report) == []
    assert not {"sqlite3", "photoorganiser.library.catalog"} & modules
    assert not {
        m
        for m in modules
        if m.startswith("photoorganiser.media.") and m != "photoorganiser.media.scan"
    }


def test_groups_need_the_readers_but_never_the_catalog(tmp_path: Path) -> None:
    """Identical files are described (the readers are imported then), and the report is
    complete and flushed when the process exits (its collector frozen first)."""
    folder = tmp_path / "photos"
    make_jpeg(folder / "a.jpg", "2020:01:02 03:04:05", seed=1, size=(64, 48))
    (folder / "b").mkdir()
    shutil.copy2(folder / "a.jpg", folder / "b" / "a copy.jpg")
    report = tmp_path / "r.csv"
    done, modules = imported(tmp_path, "find-duplicates", "--input", str(folder),
                             "--report", str(report), "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "photoorganiser.media.metadata" in modules
    assert not {"sqlite3", "photoorganiser.library.catalog"} & modules
    rows = dupreport.read_report(report)
    assert [(Path(r.path).name, r.keep, r.width, r.height) for r in rows] == [
        ("a.jpg", True, 64, 48),
        ("a copy.jpg", False, 64, 48),
    ]
    assert rows[0].captured_at == "2020-01-02T03:04:05" and rows[0].hash == rows[1].hash


def test_a_library_is_still_found_by_its_catalog(tmp_path: Path) -> None:
    """An input is a library (or lies in one) when the folder holds a catalog; a state
    folder without one (review drafts, a config) does not make it one."""
    plain, drafts, library = tmp_path / "plain", tmp_path / "drafts", tmp_path / "library"
    for folder in (plain, drafts / "x", library / "2020" / "01"):
        folder.mkdir(parents=True)
    (drafts / STATE_DIR / "reviews").mkdir(parents=True)
    catalog_path(library).parent.mkdir()
    catalog_path(library).write_bytes(b"")
    assert library_roots([plain, drafts / "x"], None) == []
    assert library_roots([library / "2020" / "01"], None) == [library]
    assert library_roots([plain], library) == [library]


def real_files(corpus: Path, limit: int = 40) -> list[Path]:
    """Real camera/phone files the sample stage reads whole (up to exact.WHOLE_BYTES), of
    every format there is, a few of each."""
    chosen: dict[str, list[Path]] = {}
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and path.suffix and 0 < path.stat().st_size <= exact.WHOLE_BYTES:
            chosen.setdefault(path.suffix.lower(), []).append(path)
    files = [p for paths in chosen.values() for p in paths[:6]]
    return files[:limit]


def copies_of(files: list[Path], root: Path) -> Path:
    """Each file twice: one copy in a/, another in b/ (names kept, so sidecars pair)."""
    for i, path in enumerate(files):
        for side in ("a", "b"):
            target = root / side / f"{i:02d}-{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return root


def test_real_files_described_from_the_sample_bytes_as_when_read_again(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The groups and the report are exactly those of describing each group's first
    file by reading it again (nothing handed on: PAIR_BYTES 0), on real files of every
    format; and those first files are not read again."""
    root = copies_of(real_files(corpus), tmp_path / "tree")
    options = FindOptions((root,), workers=1, show_progress=False)
    read_again: list[str] = []
    real_sized = describe.describe_sized

    def counted(item: tuple[str, int]):
        read_again.append(item[0])
        return real_sized(item)

    monkeypatch.setattr(describe, "describe_sized", counted)
    handed_on = find_duplicates(options)
    assert read_again == []  # every group's first file came with the sample's bytes
    monkeypatch.setattr(exact, "PAIR_BYTES", 0)
    read = find_duplicates(options)
    assert len(read_again) == len(read.groups) > 20
    assert handed_on == read
    described = [g for g in read.groups if isinstance(g, ExactGroup) and g.width]
    assert len(described) > len(read.groups) // 2  # real pictures, their pixels known
    assert any(g.captured for g in described)
    fmt, header = dupreport.ReportFormat.CSV, ReportHeader("duplicates")
    ours = dupreport.write_result(handed_on, tmp_path / "ours.csv", fmt, header)
    theirs = dupreport.write_result(read, tmp_path / "theirs.csv", fmt, header)
    assert ours.read_bytes() == theirs.read_bytes()


def test_the_sample_worker_hands_on_the_first_file_of_each_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its bytes, once, for a file with a later peer of the same size and hash in the
    batch; nothing for a lone file, a large file, one that changed size since the scan, or
    once the kept bytes of a size would pass PAIR_BYTES. The hashes are those without."""

    def put(name: str, data: bytes) -> tuple[str, int]:
        (tmp_path / name).write_bytes(data)
        return str(tmp_path / name), len(data)

    a, b, c = put("a", b"A" * 500), put("b", b"A" * 500), put("c", b"C" * 500)
    b2 = put("b2", b"A" * 500)  # a third copy: nothing more handed on
    d, e = put("d", b"D" * 700), put("e", b"D" * 700)
    grown = put("grown", b"G" * 300)
    grown_peer = put("grown peer", b"G" * 300)
    big = [put(f"big{i}", b"B" * (exact.WHOLE_BYTES + 1)) for i in range(2)]
    with open(grown[0], "ab") as f:
        f.write(b"more")  # since the scan: no longer what the scan saw
    batch = (a, c, b, b2, d, e, grown, grown_peer, *big)
    pairs: list[tuple[str, bytes]] = []
    got = exact.sample_worker(batch, on_pair=lambda p, data: pairs.append((p, data)))
    assert got == exact.sample_worker(batch)
    assert pairs == [(a[0], b"A" * 500), (d[0], b"D" * 700)]
    monkeypatch.setattr(exact, "PAIR_BYTES", 1000)  # a's 500 bytes kept, not c's or d's
    pairs.clear()
    exact.sample_worker((a, c, b, d, e), on_pair=lambda p, data: pairs.append((p, data)))
    assert pairs == [(a[0], b"A" * 500), (d[0], b"D" * 700)]  # (a new size starts anew)
    pairs.clear()
    exact.sample_worker((c, a, b), on_pair=lambda p, data: pairs.append((p, data)))
    assert pairs == [(a[0], b"A" * 500)]
    monkeypatch.setattr(exact, "PAIR_BYTES", 900)
    pairs.clear()
    exact.sample_worker((c, a, b), on_pair=lambda p, data: pairs.append((p, data)))
    assert pairs == []  # c's bytes kept, a's would pass the bound


def test_a_failed_read_hands_nothing_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "x").write_bytes(b"X" * 10)
    pairs: list[tuple[str, bytes]] = []
    got = exact.sample_worker(
        ((str(tmp_path / "x"), 10), (str(fifo), 10), (str(tmp_path / "x"), 10)),
        on_pair=lambda p, data: pairs.append((p, data)),
    )
    assert got[1][1] is None and got[0][1] == got[2][1]
    assert pairs == [(str(tmp_path / "x"), b"X" * 10)]


def test_the_collector_is_left_as_it_was_found(tmp_path: Path) -> None:
    """Running, paused; after, running again with nothing left frozen (what the stages
    made went to its oldest generation); paused by the caller, still paused."""
    make_jpeg(tmp_path / "a.jpg", "2020:01:02 03:04:05", seed=1)
    shutil.copy2(tmp_path / "a.jpg", tmp_path / "b.jpg")
    options = FindOptions((tmp_path,), workers=1, show_progress=False)
    seen: list[bool] = []
    real = find.exact_groups

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    assert gc.isenabled()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(find, "exact_groups", watched)
        assert len(find_duplicates(options).groups) == 1
    assert seen == [False] and gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        assert len(find_duplicates(options).groups) == 1
        assert not gc.isenabled()
    finally:
        gc.enable()
    frozen = gc.get_freeze_count()
    gc.freeze()  # the program froze its objects (e.g. before forking): left frozen
    try:
        assert gc.get_freeze_count() > frozen
        frozen = gc.get_freeze_count()
        assert len(find_duplicates(options).groups) == 1
        assert gc.get_freeze_count() >= frozen and gc.isenabled()
    finally:
        gc.unfreeze()


def test_only_the_process_own_command_line_freezes_at_exit() -> None:
    from photoorganiser import cli

    assert cli._exiting(3, ["find-duplicates"]) == 3
    assert gc.get_freeze_count() == 0  # a test (or any caller passing argv) goes on
    code = "import gc\nfrom photoorganiser import cli\ncli._exiting(0, None)\n"
    code += "print(gc.get_freeze_count())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert int(done.stdout) > 0, done.stderr


def test_stage_context_hands_nothing_on_by_default() -> None:
    assert StageContext().on_pair is None


def test_a_group_without_hard_links_is_said_as_its_reasons_say(tmp_path: Path) -> None:
    """write_result's rows of a group without hard links (said from the paths' text) are
    those of its Member values: a library copy kept (the other library copy not said to
    be in it), odd names, and a plain group."""
    odd = '=cmd \udcff\\name, "quoted"\n.jpg'
    library = ExactGroup(
        1, 1234, "ab" * 16, 640, 480, None, KeptCopy(keeper.KeepRule.IN_LIBRARY),
        (("/lib/a.jpg", 1, 10, "/lib/a.jpg", True), (f"/in/{odd}", 1, 11, f"/in/{odd}", False),
         ("/lib/b.jpg", 1, 12, "/lib/b.jpg", True), ("/in/c.jpg", 1, 13, "/in/c.jpg", False)),
    )  # fmt: skip
    plain = ExactGroup(
        2, 7, "cd" * 16, None, None, None, KeptCopy(keeper.KeepRule.OLDEST, mtime_ns=10**18),
        (("/in/x.jpg", 1, 20, "/in/x.jpg", False), ("/in/y.jpg", 1, 21, "/in/y.jpg", False)),
    )  # fmt: skip
    as_members = DuplicateGroup(3, Kind.EXACT, library.members)
    result = FindResult((library, plain, as_members), (), 8)
    fmt, header = dupreport.ReportFormat.CSV, ReportHeader("duplicates", created="2026-11-30")
    expected = dupreport.write_report(dupreport.rows_of(result), tmp_path / "rows.csv", fmt, header)
    got = dupreport.write_result(result, tmp_path / "compact.csv", fmt, header)
    assert got.read_bytes() == expected.read_bytes()
    reasons = [r.reason for r in dupreport.read_report(got)]
    assert reasons[1] == reasons[3] == "already in the library: same content as /lib/a.jpg"
    assert reasons[2] == "same content as /lib/a.jpg" and reasons[5] == "same content as /in/x.jpg"


def test_a_free_core_is_one_no_thread_runs_on_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cores_free reads the threads runnable now (/proc/loadavg's "running/total", this
    one included), not the minute's average a finished tool still weighs on; without
    that count, the load average as before."""
    real = exact.running_threads
    if os.path.exists("/proc/loadavg"):  # the real one: this thread at least
        assert (real() or 0) >= 1
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("3.10 2.50 1.20 1/345 6789\n")
    assert exact.running_threads(str(loadavg)) == 1
    for text in ("", "3.10 2.50 1.20\n", "a b c x/y 1\n", "0.1 0.1 0.1 0/9 1\n"):
        loadavg.write_text(text)
        assert exact.running_threads(str(loadavg)) is None, text
    assert exact.running_threads(str(tmp_path / "none")) is None
    monkeypatch.setattr(exact, "default_workers", lambda: 2)
    for running, free in ((1, True), (2, False), (5, False)):
        monkeypatch.setattr(exact, "running_threads", lambda running=running: running)
        assert exact.cores_free() is free
    monkeypatch.setattr(exact, "running_threads", lambda: None)
    monkeypatch.setattr(exact.os, "getloadavg", lambda: (3.1, 2.5, 1.2))
    assert exact.cores_free() is False  # a minute's average of 3.1 on 2 cores
    monkeypatch.setattr(exact.os, "getloadavg", lambda: (0.9, 2.5, 1.2))
    assert exact.cores_free() is True

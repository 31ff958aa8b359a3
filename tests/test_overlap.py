"""The scan feeds the pool as it goes (issue 14): the workers start and read while the
scan is still walking. The report is the same as without the overlap, row for row and
in the same order; settle, the library folder, scan errors and stops still work."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hanging import no_hang
from media import make_jpeg, make_png

from photoorganiser.cli import main
from photoorganiser.core import parallel
from photoorganiser.core.values import FileKind, ScanEntry
from photoorganiser.media import analyse as analyse_module
from photoorganiser.runs import importer
from reports import rows, split

D1 = datetime(2020, 1, 2, 3, 4, 5)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 2 files and chunks of 7 entries, so that a few dozen files are fed to
    the pool during the scan (from 2 x 2 workers x 8 = 32 files on), in many batches."""
    monkeypatch.setattr(analyse_module, "BATCH", 2)
    monkeypatch.setattr(importer, "SCAN_CHUNK", 7)


def _long_folder(root: Path) -> Path:
    """A folder whose path is longer than the system allows to open (a real 'cannot list
    folder' scan error, even for root): made one level at a time, relative to its parent."""
    root.mkdir(parents=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    path = root
    try:
        while len(str(path)) < 4200:
            os.mkdir("d" * 200, dir_fd=fd)
            child = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            path = path / ("d" * 200)
    finally:
        os.close(fd)
    return path


def _inbox(root: Path) -> Path:
    """Media in several folders (some the same content), sidecars, files that are not
    media, an empty and a broken photo, the library inside the input, and a folder the
    scan cannot list."""
    for i in range(36):
        make_jpeg(root / f"f{i % 3}" / f"IMG_{i:04d}.JPG", D1 + timedelta(minutes=i), seed=i)
    shutil.copy(root / "f0" / "IMG_0000.JPG", root / "f2" / "copy of IMG_0000.JPG")
    make_png(root / "f1" / "plain.png", seed=99)
    (root / "f1" / "IMG_0001.JPG.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    (root / "f1" / "notes.txt").write_text("not a photo")
    (root / "f1" / "empty.jpg").write_bytes(b"")
    (root / "f2" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / ".hidden").mkdir()
    make_jpeg(root / ".hidden" / "h.jpg", D1, seed=500)
    make_jpeg(root / "library" / "2020" / "01" / "20200102_030405_IMG_0000.JPG", D1, seed=0)
    _long_folder(root / "deep")
    return root


def _dry_run(inbox: Path, library: Path, report: Path, workers: int, *more: str) -> int:
    args = ["import", "--input", str(inbox), "--output", str(library), "--dryrun"]
    return main([*args, "--report", str(report), "--workers", str(workers), "--quiet", *more])


def test_the_report_is_the_same_with_the_scan_feeding_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_batches: None
) -> None:
    inbox = _inbox(tmp_path / "inbox")
    library = inbox / "library"
    submitted: list[int] = []  # entries scanned when each batch went to the pool
    scanned: list[int] = [0]
    submit = parallel.WorkerPool.submit
    scan = importer.scan

    def counting_scan(*args, **kwargs):
        for e in scan(*args, **kwargs):
            scanned[0] += 1
            yield e

    def noting_submit(self, fn, item):
        submitted.append(scanned[0])
        return submit(self, fn, item)

    monkeypatch.setattr(importer, "scan", counting_scan)
    monkeypatch.setattr(parallel.WorkerPool, "submit", noting_submit)
    assert _dry_run(inbox, library, tmp_path / "two.csv", 2) == 1  # broken.jpg
    total = scanned[0]
    assert len(submitted) > 10 and submitted[0] < total  # fed while the scan went on
    before = len(submitted)
    assert _dry_run(inbox, library, tmp_path / "one.csv", 1) == 1
    assert len(submitted) == before  # one worker: no pool
    one, two = split(tmp_path / "one.csv")[1], split(tmp_path / "two.csv")[1]
    assert one == two
    got = rows(tmp_path / "two.csv")
    assert len(got) == total
    by_name = {Path(r["source"]).name: r for r in got}
    assert by_name["library"]["why"] and by_name["library"]["action"] == "ignore"
    assert "never scanned" in by_name["library"]["reason"]
    assert "cannot list folder" in by_name["d" * 200]["reason"]
    assert by_name["broken.jpg"]["action"] == "error"
    assert by_name["IMG_0000.JPG"]["action"] == "skip-exists"
    assert sum(r["action"] == "move" for r in got) == 35 + 2  # the png and the xmp too


def test_settle_still_leaves_recent_files_when_the_scan_feeds_the_pool(
    tmp_path: Path, small_batches: None
) -> None:
    inbox = tmp_path / "inbox"
    old = time.time() - 3600
    for i in range(40):
        path = make_jpeg(inbox / f"IMG_{i:04d}.JPG", D1 + timedelta(minutes=i), seed=i)
        if i % 4:
            os.utime(path, (old, old))
    report = tmp_path / "r.csv"
    assert _dry_run(inbox, tmp_path / "lib", report, 2, "--settle", "300") == 0
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert len(got) == 40
    for i in range(40):
        row = got[f"IMG_{i:04d}.JPG"]
        if i % 4:
            assert row["action"] == "move", row
        else:
            assert row["action"] == "ignore" and "--settle 300" in row["reason"], row


def test_the_catalogs_analyses_and_new_files_mix_in_order(
    tmp_path: Path, small_batches: None
) -> None:
    """A library whose catalog knows some of the inputs (an earlier --copy): those come
    from the catalog, the others are read during the scan; the same rows either way."""
    inbox, library = tmp_path / "inbox", tmp_path / "lib"
    for i in range(20):
        make_jpeg(inbox / f"a{i:02d}.jpg", D1 + timedelta(hours=i), seed=i)
    args = ["import", "--input", str(inbox), "--output", str(library), "--copy", "--quiet"]
    assert main([*args, "--report", str(tmp_path / "first.csv"), "--workers", "2"]) == 0
    for i in range(40):
        make_jpeg(inbox / f"b{i:02d}.jpg", D1 + timedelta(days=1, hours=i), seed=100 + i)
    (inbox / "b05.jpg").write_bytes(b"\xff\xd8 broken")
    assert _dry_run(inbox, library, tmp_path / "two.csv", 2, "--copy") == 1
    assert _dry_run(inbox, library, tmp_path / "one.csv", 1, "--copy") == 1
    assert split(tmp_path / "one.csv")[1] == split(tmp_path / "two.csv")[1]
    got = rows(tmp_path / "two.csv")
    assert [Path(r["source"]).name for r in got] == sorted(p.name for p in inbox.iterdir())
    actions = {Path(r["source"]).name: r["action"] for r in got}
    assert {actions[f"a{i:02d}.jpg"] for i in range(20)} == {"skip-exists"}
    assert actions["b05.jpg"] == "error" and actions["b06.jpg"] == "copy"


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_during_the_overlapped_scan_reports_every_file_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_batches: None, signum: int, status: int
) -> None:
    """The signal lands in the scan while the pool is reading what it found: the workers
    are ended, every file found has its not-reached row, the run says it was stopped."""
    inbox = tmp_path / "inbox"
    for i in range(60):
        make_jpeg(inbox / f"IMG_{i:04d}.JPG", D1 + timedelta(minutes=i), seed=i)
    scan = importer.scan
    pools: list[parallel.WorkerPool] = []
    enter = parallel.WorkerPool.__enter__

    def noting_enter(self):
        pools.append(self)
        return enter(self)

    def stopping_scan(*args, **kwargs):
        for n, e in enumerate(scan(*args, **kwargs)):
            if n == 50:  # batches are in the pool (from 32 files on)
                assert pools and pools[0].pending
                os.kill(os.getpid(), signum)
                time.sleep(0.05)  # the handler raises here, in the scan
            yield e

    monkeypatch.setattr(parallel.WorkerPool, "__enter__", noting_enter)
    monkeypatch.setattr(importer, "scan", stopping_scan)
    report = tmp_path / "r.csv"
    try:
        code = _dry_run(inbox, tmp_path / "lib", report, 2)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert code == status
    got = rows(report)
    assert [Path(r["source"]).name for r in got] == [f"IMG_{i:04d}.JPG" for i in range(50)]
    assert {(r["status"], r["why"]) for r in got} == {("not-done", "not-reached")}
    assert "interrupted" in report.with_name(report.stem + ".summary.txt").read_text()
    assert pools and not pools[0]._procs  # closed
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()  # no worker left behind


def test_one_worker_and_few_files_never_start_a_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pool(self):
        raise AssertionError("a pool was started")

    monkeypatch.setattr(parallel.WorkerPool, "__enter__", no_pool)
    inbox = tmp_path / "inbox"
    for i in range(5):
        make_jpeg(inbox / f"IMG_{i}.JPG", D1 + timedelta(minutes=i), seed=i)
    (inbox / "notes.txt").write_text("x")
    assert _dry_run(inbox, tmp_path / "lib", tmp_path / "r1.csv", 1) == 0
    assert len(rows(tmp_path / "r1.csv")) == 6
    # four workers, three files to read: as before the overlap, read by `analyse`
    few = tmp_path / "few"
    for i in range(3):
        make_jpeg(few / f"IMG_{i}.JPG", D1 + timedelta(minutes=i), seed=i)
    used = []
    analyse = importer.analyse

    def noting(entries, *args, **kwargs):
        used.append(len(entries))
        return analyse(entries, *args, **{**kwargs, "workers": 1})

    monkeypatch.setattr(importer, "analyse", noting)
    assert _dry_run(few, tmp_path / "lib", tmp_path / "r4.csv", 4) == 0
    assert used == [3] and {r["action"] for r in rows(tmp_path / "r4.csv")} == {"move"}


def test_the_feed_gives_each_entry_its_analysis_once(tmp_path: Path, small_batches: None) -> None:
    """Entries added one by one, results asked for now and then: every tag comes back
    once with its own entry's analysis, whatever the batches and their order."""
    files = []
    for i in range(70):
        files.append(make_jpeg(tmp_path / f"IMG_{i:03d}.jpg", D1 + timedelta(seconds=i), seed=i))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 bad")
    files.append(tmp_path / "bad.jpg")
    entries = [
        ScanEntry(p, FileKind.IMAGE, size=p.stat().st_size, mtime_ns=p.stat().st_mtime_ns)
        for p in files
    ]
    options = analyse_module.AnalyseOptions()
    got: dict[object, object] = {}

    def take(batches) -> None:
        for first, results in batches:
            for n, result in enumerate(results, first):
                assert f"t{n}" not in got
                got[f"t{n}"] = result

    with analyse_module.Feed(options, 2, in_flight=3) as feed:
        assert not feed.started
        for n, e in enumerate(entries):
            feed.add(e)
            if n % 5 == 0:
                take(feed.ready())
        assert feed.started
        take(feed.finish())
    assert sorted(got) == sorted(f"t{n}" for n in range(len(entries)))
    for n, e in enumerate(entries):
        assert got[f"t{n}"].entry is e
    assert got[f"t{len(entries) - 1}"].error  # the broken one
    assert got["t3"].captured.wall == D1 + timedelta(seconds=3)
    alone = [analyse_module.analyse_entry(e, options) for e in entries]
    assert [got[f"t{n}"] for n in range(len(entries))] == alone


def test_a_worker_pool_never_blocks_on_big_tasks_or_results_and_says_when_a_worker_dies() -> None:
    """Tasks and results far bigger than a pipe, many at a time, one that raises, then a
    worker that dies: every result comes back, the error is raised where it is taken, and
    the death is an error instead of a wait for ever."""
    big = b"x" * (3 << 20)
    with parallel.WorkerPool(2) as pool:
        for i in range(6):
            pool.submit(len, big)  # each bigger than a pipe holds
            pool.submit(bytes, 2 << 20)  # a result bigger than a pipe holds
            pool.submit(abs, -i)
        pool.submit(int, "not a number")
        got, errors = [], []
        while pool.pending:
            try:
                got.append(pool.wait())
            except ValueError as exc:
                errors.append(exc)
        assert sorted(r for r in got if isinstance(r, int)) == [0, 1, 2, 3, 4, 5] + [3 << 20] * 6
        assert [len(r) for r in got if isinstance(r, bytes)] == [2 << 20] * 6
        assert len(errors) == 1 and "not a number" in str(errors[0])
        pool.submit(os._exit, 3)
        with pytest.raises(parallel.WorkerDied, match="exit code 3"):
            while True:
                pool.wait()
    assert not multiprocessing.active_children()


def test_analyses_made_apart_with_copies_of_their_entries_find_their_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too few files for the feed's pool (four workers, three to read): `analyse` reads
    them, and a result carrying a copy of its entry (not the very one) is still put at
    its entry's place, found by its path."""
    import dataclasses

    inbox = tmp_path / "inbox"
    for i in range(3):
        make_jpeg(inbox / f"IMG_{i}.JPG", D1 + timedelta(minutes=i), seed=i)
    (inbox / "a.txt").write_text("x")
    analyse = importer.analyse
    copied = []

    def copying(entries, *args, **kwargs):
        for r in analyse(entries, *args, **{**kwargs, "workers": 1}):
            copied.append(r.entry.path)
            yield dataclasses.replace(r, entry=dataclasses.replace(r.entry))

    monkeypatch.setattr(importer, "analyse", copying)
    report = tmp_path / "r.csv"
    assert _dry_run(inbox, tmp_path / "lib", report, 4) == 0
    assert len(copied) == 3
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert [got[f"IMG_{i}.JPG"]["captured_at"] for i in range(3)] == [
        f"2020-01-02T03:0{4 + i}:05" for i in range(3)
    ]
    assert got["a.txt"]["action"] == "ignore"


def _dies_on_the_first_batch(numbered: tuple[int, list]) -> tuple[int, list]:
    """A pool worker that dies (as a reader's crash or the OOM killer would end it) on the
    batch of entries 0, 1..., and reads the others as the real worker does."""
    if numbered[0] == 0:
        os._exit(9)
    return analyse_module.analyse_batch(numbered, analyse_module.AnalyseOptions())


def _always_dies(numbered: tuple[int, list]) -> tuple[int, list]:
    os._exit(9)


def _fed(entries: list[ScanEntry], worker) -> tuple[dict[int, object], int]:
    got: dict[int, object] = {}
    with analyse_module.Feed(analyse_module.AnalyseOptions(), 2, in_flight=3) as feed:
        feed._worker = worker
        for e in entries:
            feed.add(e)
            for first, results in feed.ready():
                for n, result in enumerate(results, first):
                    assert n not in got
                    got[n] = result
        for first, results in feed.finish():
            for n, result in enumerate(results, first):
                assert n not in got
                got[n] = result
    return got, feed.deaths


def test_a_worker_that_dies_costs_its_batches_not_the_run(
    tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-run on one file's batch: the files of the batches in the pool
    then are read again one at a time by a new pool, so only the file that kills its
    reader is a transient failure (read again by the next run); every entry gets its one
    result, and nothing waits for ever. Workers that keep dying stop being replaced
    (MAX_DEATHS): the files left are failures too."""
    files = [
        make_jpeg(tmp_path / f"IMG_{i:03d}.jpg", D1 + timedelta(seconds=i), seed=i)
        for i in range(40)
    ]
    entries = [
        ScanEntry(p, FileKind.IMAGE, size=p.stat().st_size, mtime_ns=p.stat().st_mtime_ns)
        for p in files
    ]
    got, deaths = _fed(entries, _dies_on_the_first_batch)
    assert sorted(got) == list(range(len(entries))) and deaths == 2  # among others, alone
    failed = [n for n, r in got.items() if getattr(r, "error", None)]
    assert failed == [0]  # the file it died on, named; its batch's others are read
    assert got[0].transient and "ended unexpectedly (exit code 9)" in got[0].error
    read = [n for n in got if n not in failed]
    options = analyse_module.AnalyseOptions()
    assert all(got[n] == analyse_module.analyse_entry(entries[n], options) for n in read)

    monkeypatch.setattr(analyse_module, "MAX_DEATHS", 3)  # (each death starts a pool)
    got, deaths = _fed(entries, _always_dies)
    assert sorted(got) == list(range(len(entries))) and deaths == analyse_module.MAX_DEATHS
    assert all(r.transient and "not read" in r.error for r in got.values())
    assert not multiprocessing.active_children()


def _doubled(x: int) -> int:
    return 2 * x


def _dies_on_3(x: int) -> int:
    if x == 3:
        os._exit(7)
    return 2 * x


class _Counted:
    def __init__(self) -> None:
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n


def test_pmap_gives_every_result_once_and_says_when_a_worker_dies() -> None:
    """pmap runs on WorkerPool: every item's result once, the progress advanced by each
    item's weight; a worker that dies is WorkerDied, not a wait for ever (a Pool waits for
    the lost task for ever, and a nightly run would hold the library's lock)."""
    counted = _Counted()
    got = parallel.pmap(_doubled, range(100), workers=2, chunksize=3, progress=counted)
    assert sorted(got) == [2 * i for i in range(100)] and counted.done == 100
    counted = _Counted()
    got = parallel.pmap(_doubled, range(10), workers=2, weight=lambda i: i, progress=counted)
    assert sorted(got) == [2 * i for i in range(10)] and counted.done == sum(range(10))
    with pytest.raises(parallel.WorkerDied, match="exit code 7"):
        no_hang(lambda: list(parallel.pmap(_dies_on_3, range(100), workers=2, chunksize=2)), 60)
    assert not multiprocessing.active_children()


def test_a_worker_that_died_ends_a_command_with_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not an "internal error": what happened, in one line, and exit status 1."""
    from photoorganiser import cli

    def died(args: object) -> int:
        raise parallel.WorkerDied(-9)

    monkeypatch.setattr(cli, "cmd_find_duplicates", died)
    assert main(["find-duplicates", "--input", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "ended unexpectedly (exit code -9); the run stopped there" in err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1

"""`photoorganiser watch`: the real command in a subprocess, real files dropped in an inbox."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser.cli import build_parser, main
from photoorganiser.core.reportfile import read_rows
from photoorganiser.library.lock import library_lock
from photoorganiser.runs import watch
from photoorganiser.runs.undo import library_runs

REPO = Path(__file__).resolve().parents[1]


class Watcher:
    """`python -m photoorganiser watch` on tmp/inbox -> tmp/lib, its output collected."""

    def __init__(self, tmp: Path, *extra: str, settle: str = "0.3") -> None:
        self.inbox, self.lib = tmp / "inbox", tmp / "lib"
        self.inbox.mkdir(exist_ok=True)
        command = [sys.executable, "-m", "photoorganiser", "watch", "--input", str(self.inbox),
                   "--output", str(self.lib), "--settle", settle, "--workers", "1",
                   *extra]  # fmt: skip
        path = [p for p in (os.environ.get("PYTHONPATH"), str(REPO)) if p]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        self.proc = subprocess.Popen(
            command, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=_collect, args=(stream, lines), daemon=True).start()

    def until(self, condition, timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"watch ended: {self.err}"
            assert time.monotonic() < deadline, f"timed out; stdout {self.out} stderr {self.err}"
            time.sleep(0.02)

    def started(self) -> Watcher:
        self.until(lambda: any(line.startswith("watching ") for line in self.out))
        return self

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 8.0) -> int:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        time.sleep(0.05)  # the reader threads see the last lines
        return code

    def library_files(self) -> list[Path]:
        state = self.lib / ".photoorganiser"
        return sorted(p for p in self.lib.rglob("*.jpg") if state not in p.parents)

    def reports(self) -> list[Path]:
        # in the order written: two batches in one second are import-T.csv, import-T-2.csv
        found = (self.lib / ".photoorganiser" / "reports").glob("import-*[0-9].csv")
        return sorted(found, key=lambda p: p.stat().st_mtime_ns)


def _collect(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


@pytest.fixture
def watcher(tmp_path: Path):
    started: list[Watcher] = []

    def start(*extra: str, settle: str = "0.3") -> Watcher:
        w = Watcher(tmp_path, *extra, settle=settle)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_photo_dropped_in_the_inbox_reaches_the_library(tmp_path: Path, watcher) -> None:
    w = watcher().started()
    assert w.reports() == []  # an empty inbox: no catch-up report
    staged = make_jpeg(tmp_path / "staging" / "IMG_0001.jpg", "2021:06:07 08:09:10", seed=1)
    want = digest(staged)
    again = tmp_path / "staging" / "again.jpg"
    again.write_bytes(staged.read_bytes())
    os.rename(staged, w.inbox / "IMG_0001.jpg")
    w.until(lambda: w.library_files())
    [placed] = w.library_files()
    assert placed.relative_to(w.lib) == Path("2021/06/20210607_080910_IMG_0001.jpg")
    assert digest(placed) == want
    w.until(lambda: any(" 1 moved, 0 left" in line for line in w.out))
    assert not (w.inbox / "IMG_0001.jpg").exists()
    assert len(w.reports()) == 1
    # deleted stays deleted: the same photo synced in again after the user deleted it
    placed.unlink()
    again.rename(w.inbox / "IMG_0001 again.jpg")
    w.until(lambda: len(w.reports()) == 2)
    time.sleep(0.6)  # it stays in the inbox, and does not wake the watch again
    assert len(w.reports()) == 2
    assert "skip-deleted" in w.reports()[-1].read_text()
    assert (w.inbox / "IMG_0001 again.jpg").exists()
    assert w.library_files() == []
    assert w.stop() == 0


def test_a_file_written_slowly_is_imported_only_when_complete(tmp_path: Path, watcher) -> None:
    w = watcher().started()
    whole = make_jpeg(tmp_path / "staging" / "slow.jpg", "2020:01:02 03:04:05", seed=2,
                      size=(320, 240)).read_bytes()  # fmt: skip
    target = w.inbox / "slow.jpg"
    with open(target, "wb") as f:  # open for writing all along, quiet for > settle twice
        for part in (whole[:1000], whole[1000:3000], whole[3000:]):
            f.write(part)
            f.flush()
            time.sleep(0.6)
            assert w.library_files() == []  # nothing half-written ever reaches the library
    w.until(lambda: w.library_files())
    [placed] = w.library_files()
    assert placed.read_bytes() == whole
    assert not target.exists()
    assert w.stop() == 0


def test_a_burst_is_one_batch(tmp_path: Path, watcher) -> None:
    w = watcher(settle="0.5").started()
    staged = [make_jpeg(tmp_path / "staging" / f"b{i:02}.jpg", "2022:03:04 05:06:07", seed=100 + i)
              for i in range(20)]  # fmt: skip
    for path in staged:  # arriving over ~0.4 s: each arrival extends the wait
        os.rename(path, w.inbox / path.name)
        time.sleep(0.02)
    w.until(lambda: len(w.library_files()) == 20)
    w.until(lambda: any(" 20 moved" in line for line in w.out))
    time.sleep(0.6)  # the batch's own moves wake the watch: it finds nothing to do
    assert len(w.reports()) == 1
    assert [line for line in w.out if " moved, " in line] == [
        line for line in w.out if " 20 moved, 0 left for the next batch, 0 failed" in line
    ]
    assert w.stop() == 0


def test_files_already_there_are_caught_up_and_idle_sigterm_exits_cleanly(
    tmp_path: Path, watcher
) -> None:
    make_jpeg(tmp_path / "inbox" / "old" / "early.jpg", "2019:05:06 07:08:09", seed=3)
    w = watcher()
    w.until(lambda: w.library_files())
    w.until(lambda: not (w.inbox / "old").exists())  # emptied: removed, as import does
    w.started()
    begun = time.monotonic()
    assert w.stop(signal.SIGTERM) == 0  # a requested stop is how a watch ends
    assert time.monotonic() - begun < 3
    assert not any("Traceback" in line for line in w.err)
    assert any("stopped by SIGTERM" in line for line in w.err)


def test_the_import_section_of_the_library_config_counts_for_watch(tmp_path: Path, watcher) -> None:
    """Each batch is exactly an import: `[import] mode = "copy"` and its template hold
    for watch too (the inbox keeps its photos), unless `[watch]` says otherwise."""
    config = tmp_path / "lib" / ".photoorganiser" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[import]\nmode = "copy"\ntemplate = "{year}/{stem}{ext}"\n')
    early = make_jpeg(tmp_path / "inbox" / "early.jpg", "2019:05:06 07:08:09", seed=3)
    w = watcher().started()
    w.until(lambda: w.library_files())
    assert [p.relative_to(w.lib) for p in w.library_files()] == [Path("2019/early.jpg")]
    w.until(lambda: any(" 1 copied, 0 left" in line for line in w.out))
    staged = make_jpeg(tmp_path / "staging" / "late.jpg", "2020:01:02 03:04:05", seed=4)
    os.rename(staged, w.inbox / "late.jpg")
    w.until(lambda: len(w.library_files()) == 2)
    assert w.stop() == 0
    assert early.exists() and (w.inbox / "late.jpg").exists()  # copied, not moved
    assert (w.lib / "2020" / "late.jpg").read_bytes() == (w.inbox / "late.jpg").read_bytes()
    # [watch] wins over [import]
    config.write_text('[import]\nmode = "copy"\n[watch]\nmode = "move"\n')
    make_jpeg(tmp_path / "inbox" / "moved.jpg", "2021:01:02 03:04:05", seed=5)
    w = watcher()
    w.until(lambda: any(" 1 moved, 0 left" in line for line in w.out))
    assert w.stop() == 0
    assert not (w.inbox / "moved.jpg").exists()


def test_sigterm_during_a_batch_leaves_every_file_exactly_once(tmp_path: Path, watcher) -> None:
    staging = tmp_path / "staging"
    files = [make_jpeg(staging / f"big{i:02}.jpg", "2018:01:01 00:00:00", seed=200 + i,
                       size=(800, 600), quality=95) for i in range(30)]  # fmt: skip
    hashes = sorted(digest(p) for p in files)
    w = watcher().started()
    for path in files:
        os.rename(path, w.inbox / path.name)
    w.until(lambda: w.reports(), timeout=15)  # the batch has begun: its report is open
    assert w.stop() == 0
    left = sorted(w.inbox.glob("*.jpg"))
    placed = w.library_files()
    assert left  # the batch was stopped: not everything was moved
    assert sorted(digest(p) for p in (*left, *placed)) == hashes  # each exactly once, intact
    [report] = w.reports()
    summary = report.with_suffix(".summary.txt").read_text()
    assert "interrupted" in summary
    assert not any("Traceback" in line for line in w.err)
    assert not [p for p in tmp_path.rglob("*") if "po-tmp" in p.name]


def test_a_locked_library_is_waited_for(tmp_path: Path, watcher) -> None:
    make_jpeg(tmp_path / "inbox" / "waiting.jpg", "2017:02:03 04:05:06", seed=4)
    state = tmp_path / "lib" / ".photoorganiser"
    state.mkdir(parents=True)
    with library_lock(state, "import --input nightly"):
        w = watcher()
        w.until(lambda: any("waiting for" in line for line in w.err))
        assert any("import --input nightly" in line for line in w.err)
        time.sleep(0.3)
        assert w.library_files() == []
        assert (w.inbox / "waiting.jpg").exists()
    w.until(lambda: w.library_files())
    assert w.stop() == 0
    assert not (w.inbox / "waiting.jpg").exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (["--settle", "-1"], "--settle must be 0 or more"),
        (["--max-wait", "0.1", "--settle", "1"], "--max-wait must be at least"),
        (["--template", "{nope}"], "nope"),
        (["--damaged-wait", "1", "--settle", "2"], "--damaged-wait must be at least"),
    ],
)
def test_bad_options_are_one_line_exit_2(tmp_path: Path, capsys, args, says) -> None:
    (tmp_path / "inbox").mkdir()
    code = main(["watch", "--input", str(tmp_path / "inbox"), "--output", str(tmp_path / "lib"),
                 *args])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    assert not (tmp_path / "lib").exists()


def test_import_leaves_a_file_still_open_for_writing(tmp_path: Path) -> None:
    """The rename within one file system takes a read lease first, as the copy does: a
    file another program is still writing stays in the inbox (the watch relies on it)."""
    inbox, lib = tmp_path / "inbox", tmp_path / "lib"
    whole = make_jpeg(tmp_path / "staging" / "open.jpg", "2016:01:02 03:04:05", seed=5)
    inbox.mkdir()
    os.rename(whole, inbox / "open.jpg")
    args = ["import", "--input", str(inbox), "--output", str(lib), "--workers", "1", "--quiet",
            "--report", str(tmp_path / "r.csv")]  # fmt: skip
    with open(inbox / "open.jpg", "ab"):  # held open for writing, nothing written
        assert main(args) == 0  # left for the next run: not an error
    assert (inbox / "open.jpg").exists()
    assert "open for writing; left for the next run" in (tmp_path / "r.csv").read_text()
    assert not list(lib.rglob("*.jpg"))
    args[-1] = str(tmp_path / "again.csv")
    assert main(args) == 0  # closed: imported
    assert not (inbox / "open.jpg").exists()
    assert len(list(lib.rglob("*.jpg"))) == 1


def test_no_inotify_falls_back_to_polling_in_one_line(tmp_path: Path, monkeypatch, caplog) -> None:
    import errno

    from watchdog.observers import Observer

    def no_watches(self) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(Observer, "start", no_watches)
    monkeypatch.setattr(watch, "POLL_EVERY", 0.2)
    caplog.set_level(logging.WARNING, logger="photoorganiser")
    nudges = watch._Nudges([])
    observer, how = watch._start_observer([tmp_path], nudges, poll=False)
    try:
        assert how == "polling"
        (tmp_path / "new.jpg").write_bytes(b"x")
        assert nudges.wake.wait(watch.POLL_EVERY + 3)  # the polling observer saw it
    finally:
        watch._stop_observer(observer)
    [warning] = [r.getMessage() for r in caplog.records if "inotify" in r.getMessage()]
    assert "inotify watch limit reached" in warning and "polling the inbox" in warning


def test_a_file_too_fresh_at_catch_up_is_taken_once_it_settles(tmp_path: Path, watcher) -> None:
    """Left by the catch-up batch as not settled, it never changes again: no event comes.
    It is tried again after the settle time, not at the 10-minute rescan."""
    photo = make_jpeg(tmp_path / "inbox" / "fresh.jpg", "2019:05:06 07:08:09", seed=4)
    os.utime(photo)  # written just now
    w = watcher(settle="1.5")
    w.until(lambda: any("1 left for the next batch" in line for line in w.out), timeout=10)
    w.until(lambda: w.library_files(), timeout=10)
    assert not photo.exists()
    assert w.stop() == 0


def test_undo_without_a_run_reverses_the_last_watch_batch(tmp_path: Path, watcher) -> None:
    # README: each batch is a run of its own, and `undo` reverses it like any import. The
    # default run to undo skipped watch batches: none found, or an older import undone.
    make_jpeg(tmp_path / "first" / "OLD.jpg", "2018:01:02 03:04:05", seed=4)
    imp = ["import", "--input", str(tmp_path / "first"), "--output", str(tmp_path / "lib"),
           "--workers", "1", "--quiet", "--report", str(tmp_path / "import.csv")]  # fmt: skip
    assert main(imp) == 0
    make_jpeg(tmp_path / "inbox" / "early.jpg", "2019:05:06 07:08:09", seed=3)
    w = watcher()
    w.until(lambda: len(w.library_files()) == 2 and not (w.inbox / "early.jpg").exists())
    w.started()
    assert w.stop() == 0
    report = tmp_path / "undo.csv"
    assert main(["undo", "--output", str(w.lib), "--report", str(report), "--quiet"]) == 0
    assert (w.inbox / "early.jpg").exists()
    assert [p.name for p in w.library_files()] == ["20180102_030405_OLD.jpg"]


def _rows(report: Path) -> list[dict[str, str]]:
    _header, rows = read_rows(report)
    return rows


def test_a_transfer_that_stalls_longer_than_settle_is_taken_whole(tmp_path: Path, watcher) -> None:
    """A resumed transfer: the first part written and closed, a pause longer than the
    settle time, then the rest appended. The first part reads as a truncated JPEG: it is
    left in the inbox (not imported as damaged), and the whole photo is taken once it is
    there. (It was moved into the library as "damaged", the rest an "unrecognised" error.)"""
    w = watcher().started()  # the default --damaged-wait: far longer than this test
    whole = make_jpeg(tmp_path / "staging" / "photo.jpg", "2020:01:02 03:04:05", seed=2,
                      size=(320, 240)).read_bytes()  # fmt: skip
    target = w.inbox / "photo.jpg"
    target.write_bytes(whole[:3000])
    w.until(lambda: any("1 damaged: taken as it is once unchanged" in line for line in w.out))
    [first] = w.reports()
    [row] = _rows(first)
    assert row["action"] == "error" and "truncated" in row["reason"]
    assert target.exists() and w.library_files() == []
    time.sleep(1.0)  # stalled: three settle times
    assert w.library_files() == [] and len(w.reports()) == 1
    with open(target, "ab") as f:
        f.write(whole[3000:])
    w.until(lambda: w.library_files())
    [placed] = w.library_files()
    assert placed.read_bytes() == whole
    assert not target.exists()
    assert w.stop() == 0
    assert all("damaged" not in r["reason"] for r in _rows(w.reports()[-1]))


def test_a_damaged_file_unchanged_for_the_damaged_wait_is_imported_as_it_is(
    tmp_path: Path, watcher
) -> None:
    """Really damaged (it never grows): left while it might still be arriving, then moved
    into the library as it is, byte for byte, its row saying so. A sound photo beside it
    is not held back; --leave-damaged keeps such files out for good, as import does."""
    whole = make_jpeg(tmp_path / "staging" / "cut.jpg", "2020:01:02 03:04:05", seed=2,
                      size=(320, 240)).read_bytes()  # fmt: skip
    w = watcher("--damaged-wait", "2.5").started()
    started = time.monotonic()
    (w.inbox / "cut.jpg").write_bytes(whole[:3000])
    make_jpeg(w.inbox / "fine.jpg", "2021:01:02 03:04:05", seed=3)
    w.until(lambda: any(" 1 moved, 1 left for the next batch (1 damaged" in line for line in w.out))
    assert [p.name for p in w.library_files()] == ["20210102_030405_fine.jpg"]
    assert (w.inbox / "cut.jpg").exists()
    w.until(lambda: len(w.library_files()) == 2, timeout=12)
    assert time.monotonic() - started >= 2.5
    assert not (w.inbox / "cut.jpg").exists()
    [placed] = [p for p in w.library_files() if p.name.endswith("_cut.jpg")]
    assert placed.read_bytes() == whole[:3000]
    assert w.stop() == 0
    [row] = [r for r in _rows(w.reports()[-1]) if r["source"].endswith("cut.jpg")]
    assert row["action"] == "move" and row["status"] == "done"
    assert "damaged: truncated" in row["reason"] and "imported as it is" in row["reason"]

    # --leave-damaged: left for good (an error, then known), as import --leave-damaged does
    (w.inbox / "again.jpg").write_bytes(whole[:2500])
    w2 = Watcher(tmp_path, "--damaged-wait", "0.5", "--leave-damaged")
    try:
        w2.until(lambda: any(" 0 moved, 0 left for the next batch, 1 failed" in x for x in w2.out))
        time.sleep(1.5)
        assert (w.inbox / "again.jpg").exists() and len(w2.library_files()) == 2
    finally:
        assert w2.stop() == 0


def test_damaged_wait_is_the_cli_default(tmp_path: Path) -> None:
    args = build_parser(only="watch").parse_args(
        ["watch", "--input", str(tmp_path), "--output", str(tmp_path / "lib")]
    )
    assert args.damaged_wait == watch.DEFAULT_DAMAGED_WAIT


def test_undo_of_a_photo_whose_sidecar_came_in_a_later_batch_says_the_sidecar_stays(
    tmp_path: Path, watcher, capsys
) -> None:
    """The photo in one batch, its XMP sidecar (joining it in the library) in the next.
    Each run is undone on its own: undoing the photo's batch moves the photo back and
    leaves the sidecar, which the report (a row) and the terminal (a line) now say, naming
    the batch that imported it; undoing that batch then takes it out too."""
    w = watcher().started()
    make_jpeg(tmp_path / "staging" / "IMG_7.jpg", "2021:06:07 08:09:10", seed=7)
    os.rename(tmp_path / "staging" / "IMG_7.jpg", w.inbox / "IMG_7.jpg")
    w.until(lambda: len(w.reports()) == 1 and not (w.inbox / "IMG_7.jpg").exists())
    (w.inbox / "IMG_7.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    w.until(lambda: len(w.reports()) == 2 and not (w.inbox / "IMG_7.jpg.xmp").exists())
    assert w.stop() == 0
    photo = w.lib / "2021" / "06" / "20210607_080910_IMG_7.jpg"
    sidecar = photo.with_name(photo.name + ".xmp")
    assert photo.exists() and sidecar.exists()
    photo_run, sidecar_run = [r.id for r in library_runs(w.lib)]  # the two batches

    capsys.readouterr()
    report = tmp_path / "undo.csv"
    assert main(["undo", photo_run, "--output", str(w.lib), "--report", str(report)]) == 0
    assert (w.inbox / "IMG_7.jpg").exists() and not photo.exists()
    assert sidecar.exists()  # another run's: it stays...
    rows = {Path(r["source"]).name: r for r in _rows(report)}
    row = rows[sidecar.name]  # ... and the report says so
    assert row["action"] == "ignore" and row["why"] == "undo-sidecar-stays"
    assert f"imported by run {sidecar_run}" in row["reason"] and "stays" in row["reason"]
    err = capsys.readouterr().err
    assert "1 sidecar(s)" in err and sidecar_run in err

    assert main(["undo", sidecar_run, "--output", str(w.lib), "--report", str(report)]) == 0
    assert (w.inbox / "IMG_7.jpg.xmp").exists() and not sidecar.exists()
    assert "undo-sidecar-stays" not in report.read_text()

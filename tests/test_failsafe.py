"""Fail safe and say so: attacks on the import and apply, each one a test.

Every run writes a report (even when stopped by a signal, or when the report's own
disk fails), bad options and plans are refused before anything moves, and no attack
loses, damages or silently leaves behind a photo.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from media import make_heic, make_jpeg, make_mov

from photoorganiser.cli import main
from photoorganiser.core.hashing import hash_file
from photoorganiser.core.reportfile import read_header
from photoorganiser.importing import execute
from photoorganiser.importing.report import read_report
from photoorganiser.library import journal
from reports import rows, split, write_rows

REPO = Path(__file__).resolve().parents[1]
D1 = datetime(2020, 1, 2, 3, 4, 5)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(*args: str | Path) -> int:
    return main(["import", *map(str, args), "--workers", "1", "--quiet"])


def apply(*args: str | Path) -> int:
    return main(["apply", *map(str, args), "--workers", "1", "--quiet"])


def inbox_of(root: Path, count: int = 3) -> Path:
    for i in range(count):
        make_jpeg(root / f"IMG_{i:04d}.jpg", D1 + timedelta(minutes=i), seed=i)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".photoorganiser" not in p.parts
    }


def media_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jpg") if ".photoorganiser" not in p.parts)


# --- a report for every run ---------------------------------------------------------------


def test_a_report_folder_that_cannot_be_written_stops_the_run_before_anything_moves(
    tmp_path: Path, small_fs, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    readonly = small_fs("1m")
    subprocess.run(["mount", "-o", "remount,ro", str(readonly)], check=True)
    before = tree(inbox)
    assert run("--input", inbox, "--output", library, "--report-dir", readonly / "r") == 2
    assert run("--input", inbox, "--output", library, "--report", readonly / "r.csv") == 2
    find = ["find-duplicates", "--input", str(inbox), "--report", str(readonly / "d.csv")]
    assert main([*find, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("report" in line for line in err), err
    assert tree(inbox) == before and not library.exists()


def test_a_report_folder_under_a_file_is_refused(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    (tmp_path / "afile").write_text("x")
    assert run("--input", inbox, "--output", library, "--report-dir", tmp_path / "afile/r") == 2
    assert not library.exists() and len(media_in(inbox)) == 3


def test_a_report_never_replaces_a_file_the_tool_did_not_write(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    photo = inbox / "IMG_0002.jpg"
    before = tree(inbox)
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", photo) == 2
    assert run("--input", inbox, "--output", library, "--report", photo) == 2
    assert tree(inbox) == before and not library.exists()
    # Its own report may be written again (a cron line with a fixed --report).
    report = tmp_path / "last.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", report) == 0
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", report) == 0
    assert len(rows(report)) == 3
    assert not [p for p in tmp_path.iterdir() if "po-tmp" in p.name]


def test_the_log_file_is_only_ever_a_log(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    photo = inbox / "IMG_0001.jpg"
    before = tree(inbox)
    assert run("--input", inbox, "--output", library, "--dryrun", "--log-file", photo) == 2
    assert tree(inbox) == before
    log = tmp_path / "po.log"
    for _ in range(2):
        assert run("--input", inbox, "--output", library, "--dryrun", "--log-file", log) == 0
    assert log.read_text().count("Dry run") == 2  # appended, a line per run at least


def test_the_report_is_written_as_the_run_goes_and_carries_its_header(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    header = read_header(report)
    assert header is not None and header.kind == "import" and not header.dryrun
    assert header.library == str(library) and header.inputs == (str(inbox),)
    assert header.mode == "move" and "--input" in header.command
    # pandas-style reading: skip one line, then a normal CSV
    assert split(report)[1].startswith("source,action,status")
    assert len(read_report(report)) == 3
    with sqlite(library) as conn:
        assert conn.execute("SELECT report FROM runs").fetchone()[0] == str(report)


def sqlite(library: Path):
    import sqlite3

    return sqlite3.connect(library / ".photoorganiser" / "catalog.sqlite")


def test_a_report_whose_disk_fills_moves_to_the_library(
    tmp_path: Path, small_fs, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = small_fs("2m")
    inbox, library = tmp_path / "in", tmp_path / "lib"
    for i in range(120):
        make_jpeg(inbox / f"a_rather_long_folder_name_{i:03d}" / f"IMG_{i:04d}.jpg", D1, seed=i)
    real_transfer = execute.transfer

    def another_program_fills_the_disk(d, *args):
        if not (disk / "filler").exists():
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            (disk / "filler").write_bytes(b"x" * (free - 4096))
        real_transfer(d, *args)

    monkeypatch.setattr(execute, "transfer", another_program_fills_the_disk)
    assert run("--input", inbox, "--output", library, "--report", disk / "r.csv") == 0
    err = capsys.readouterr().err
    assert "the report was written to" in err and "Traceback" not in err
    (moved,) = (library / ".photoorganiser" / "reports").glob("r*.csv")
    assert len(read_report(moved)) == 120
    assert read_header(moved).kind == "import"
    assert len(media_in(library)) == 120 and media_in(inbox) == []


def test_the_readmes_cron_line_on_a_full_library_disk_is_one_line_and_loses_nothing(
    tmp_path: Path, small_fs, capsys: pytest.CaptureFixture[str]
) -> None:
    library = small_fs("2m")
    inbox = inbox_of(tmp_path / "in", 3)
    state = library / ".photoorganiser"
    cron = [
        "import", "--input", str(inbox), "--output", str(library), "--settle", "0", "--quiet",
        "--log-file", str(state / "nightly.log"), "--report-dir", str(state / "reports"),
    ]  # fmt: skip
    assert main([*cron, "--workers", "1"]) == 0  # a first night
    make_jpeg(inbox / "new.jpg", D1, seed=99)
    free = os.statvfs(library).f_bavail * os.statvfs(library).f_frsize
    (library / "filler").write_bytes(b"x" * free)  # the disk fills up
    capsys.readouterr()
    for _night in range(2):
        assert main([*cron, "--workers", "1"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "no space" in err
    assert (inbox / "new.jpg").exists()
    assert not [p for p in library.rglob("*") if "po-tmp" in p.name or p.suffix == ".partial"]
    (library / "filler").unlink()
    assert main([*cron, "--workers", "1"]) == 0
    assert not (inbox / "new.jpg").exists() and len(media_in(library)) == 4


# --- signals ----------------------------------------------------------------------------


def _cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "photoorganiser", *map(str, args)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_a_run_like_ctrl_c(
    tmp_path: Path, signum: int, status: int
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    for i in range(200):
        make_jpeg(inbox / f"IMG_{i:04d}.jpg", D1, seed=i, size=(320, 240))
    report = tmp_path / "r.csv"
    cmd = _cli("import", "--input", inbox, "--output", library, "--copy", "--report", report)
    proc = subprocess.Popen(
        [*cmd, "--workers", "1", "--quiet"], env=_env(), stderr=subprocess.PIPE, text=True
    )
    while proc.poll() is None and len(media_in(library)) < 3:
        time.sleep(0.005)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err and "stopped by" in err
    got = rows(report)
    assert len(got) == 200  # one row per file, those not reached included
    statuses = {r["status"] for r in got}
    assert statuses <= {"done", "not-done"} and "not-done" in statuses
    assert sum(r["status"] == "done" for r in got) == len(media_in(library))
    assert not [p for p in library.rglob("*") if "po-tmp" in p.name]
    summary = report.with_suffix(".summary.txt").read_text()
    assert "interrupted" in summary and "Not done (interrupted)" in summary
    assert "Errors" not in summary
    # A clean stop leaves nothing for the next run to recover: it just goes on.
    again = tmp_path / "again.csv"
    done = subprocess.run(
        [*_cli("import", "--input", inbox, "--output", library, "--copy", "--report", again),
         "--workers", "1", "--quiet"],
        env=_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0 and "recovered" not in done.stderr, done.stderr
    assert {r["action"] for r in rows(again)} == {"copy", "skip-exists"}
    assert len(media_in(library)) == 200


def test_ctrl_c_during_analysis_reports_every_file_as_not_done(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    for i in range(300):
        make_jpeg(inbox / f"IMG_{i:04d}.jpg", D1, seed=i, size=(320, 240))
    for attempt, delay in enumerate((0.05, 0.15, 0.3, 0.0, 0.5)):
        library, report = tmp_path / f"lib{attempt}", tmp_path / f"r{attempt}.csv"
        cmd = _cli("import", "--input", inbox, "--output", library, "--dryrun", "--report", report)
        proc = subprocess.Popen(
            [*cmd, "--workers", "2", "--quiet"],
            env=_env(),
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        while proc.poll() is None and not report.exists():
            time.sleep(0.002)
        time.sleep(delay)  # the pool is starting, or reading
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err and "SpawnPoolWorker" not in err, err
        if proc.returncode == 130:
            break
        assert proc.returncode == 0, err  # finished before the signal: try sooner
    else:
        pytest.skip("every run finished before the signal (a very fast machine)")
    got = rows(report)
    assert len(got) == 300 and {r["status"] for r in got} == {"not-done"}
    assert len(media_in(inbox)) == 300 and not library.exists()


def test_a_stop_while_the_report_is_created_still_leaves_it_closed_with_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM lands while the report's file is being created (a watch's batch, stopped
    the moment its report appears): the run ends there, nothing touched, and the report
    it made is closed with an `interrupted` summary, never left without one."""
    from photoorganiser.core.reportfile import ReportWriter

    inbox = tmp_path / "in"
    make_jpeg(inbox / "IMG_0001.jpg", D1, seed=1)
    put = ReportWriter._put
    sent = []

    def put_then_signal(self, data: bytes) -> None:
        put(self, data)
        if not sent:  # the header is on disk: the signal comes before the report is open
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler runs here, inside the report's opening

    monkeypatch.setattr(ReportWriter, "_put", put_then_signal)
    library, report = tmp_path / "lib", tmp_path / "r.csv"
    try:
        code = main(["import", "--input", str(inbox), "--output", str(library),
                     "--report", str(report), "--quiet"])  # fmt: skip
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert sent and code == 128 + signal.SIGTERM
    assert report.exists() and rows(report) == []
    summary = report.with_name(report.stem + ".summary.txt").read_text()
    assert "interrupted" in summary
    assert media_in(inbox) == [inbox / "IMG_0001.jpg"] and not library.exists()


# --- apply checks the plan before anything -------------------------------------------------


def _plan(tmp_path: Path, inbox: Path, library: Path, name: str = "plan.csv") -> Path:
    plan = tmp_path / name
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", plan) == 0
    return plan


def test_apply_refuses_what_is_not_a_plan_for_this_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library, other = inbox_of(tmp_path / "in"), tmp_path / "lib", tmp_path / "other"
    plan = _plan(tmp_path, inbox, library)
    dup = tmp_path / "dups.csv"
    assert main(["find-duplicates", "--input", str(inbox), "--report", str(dup), "--quiet"]) == 0
    tsv = tmp_path / "plan.tsv"
    tsv.write_text(plan.read_text().replace(",", "\t"))
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(os.urandom(2000))
    headerless = tmp_path / "old.csv"
    headerless.write_text(split(plan)[1])
    capsys.readouterr()
    for bad in (dup, tsv, garbage, headerless, tmp_path / "missing.csv", tmp_path):
        assert apply(bad, "--output", library) == 2, bad
    assert apply(plan, "--output", other) == 2  # made for another library
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 7, err
    assert "made for the library" in err[-1] and "--rebase" in err[-1]
    assert not library.exists() and not other.exists() and len(media_in(inbox)) == 3
    # --rebase puts the plan's files in the other library, at the same places
    assert apply(plan, "--output", other, "--rebase") == 0
    assert len(media_in(other)) == 3 and media_in(inbox) == []
    assert not library.exists()


def test_applying_a_plan_twice_says_already_done(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    plan = _plan(tmp_path, inbox, library)
    assert apply(plan, "--output", library, "--report", tmp_path / "a1.csv") == 0
    assert apply(plan, "--output", library, "--report", tmp_path / "a2.csv") == 0
    again = rows(tmp_path / "a2.csv")
    assert [r["action"] for r in again] == ["skip-exists"] * 3
    assert all(r["reason"].startswith("already done") for r in again)


def test_apply_moves_only_regular_media_files_under_the_plans_inputs(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "notes.txt").write_text("not a photo")
    stray = make_jpeg(outside / "stray.jpg", D1, seed=50)
    (inbox / "link.jpg").symlink_to(stray)
    plan = _plan(tmp_path, inbox, library)
    planned = rows(plan)
    template = next(r for r in planned if r["action"] == "move")
    edited = [r for r in planned if r["action"] == "move"]
    dest = Path(template["destination"])

    def row(source: Path, name: str, **changes: str) -> dict[str, str]:
        return {
            **template,
            "source": str(source),
            "destination": str(dest.with_name(name)),
            "size": str(source.lstat().st_size),
            "hash": template["hash"] if source.is_symlink() else hash_file(source),
            **changes,
        }

    edited += [
        row(outside / "notes.txt", "notes.txt"),  # another folder, not media
        row(stray, "stray.jpg"),  # media, but not under the plan's inputs
        row(inbox / "link.jpg", "link.jpg", size=str((inbox / "link.jpg").lstat().st_size)),
        {**edited[0], "destination": str(dest.with_name("twice.jpg"))},  # the same row again
    ]
    write_rows(plan, edited)
    report = tmp_path / "applied.csv"
    assert apply(plan, "--output", library, "--report", report) == 1
    got = rows(report)
    assert len(got) == len(edited)
    by_source = {}
    for r in got:
        by_source.setdefault(r["source"], []).append(r)
    assert "not under the folders" in by_source[str(outside / "notes.txt")][0]["error"]
    assert "not under the folders" in by_source[str(stray)][0]["error"]
    assert by_source[str(inbox / "link.jpg")][0]["status"] == "failed"
    assert [r["action"] for r in by_source[edited[0]["source"]]] == ["move", "ignore"]
    assert (outside / "notes.txt").exists() and stray.exists()
    assert (inbox / "link.jpg").is_symlink()
    assert len(media_in(library)) == 3 and not (dest.with_name("twice.jpg")).exists()


XMP = "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"


def travelling_inbox(root: Path) -> Path:
    """A photo with its sidecar, a Live Photo (a still and its video), and a photo alone."""
    make_jpeg(root / "DSC_1.JPG", D1, seed=11)
    (root / "DSC_1.JPG.xmp").write_text(XMP)
    make_heic(root / "IMG_7943.HEIC", D1 + timedelta(hours=1), seed=12)
    make_mov(root / "IMG_7943.MOV", D1 + timedelta(hours=2), seed=13)
    make_jpeg(root / "IMG_0001.jpg", D1 + timedelta(hours=3), seed=14)
    return root


def test_apply_leaves_a_file_alone_with_the_one_whose_row_was_deleted(tmp_path: Path) -> None:
    """A person deletes a photo's row (and a Live Photo still's) from the plan: its sidecar
    (and the video) stay with it in the inbox, each row saying why, never moved apart."""
    inbox, library = travelling_inbox(tmp_path / "in"), tmp_path / "lib"
    before = tree(inbox)
    plan = _plan(tmp_path, inbox, library)
    planned = rows(plan)
    by_name = {Path(r["source"]).name: r for r in planned}
    assert by_name["DSC_1.JPG.xmp"]["follows"] == str(inbox / "DSC_1.JPG")
    assert by_name["IMG_7943.MOV"]["follows"] == str(inbox / "IMG_7943.HEIC")
    removed = {str(inbox / "DSC_1.JPG"), str(inbox / "IMG_7943.HEIC")}
    reviewed = [r for r in planned if r["source"] not in removed]
    write_rows(plan, reviewed)
    report = tmp_path / "applied.csv"
    assert apply(plan, "--output", library, "--report", report) == 0
    got = rows(report)
    assert sorted(r["source"] for r in got) == sorted(r["source"] for r in reviewed)
    outcome = {Path(r["source"]).name: r for r in got}
    for name, leader in (("DSC_1.JPG.xmp", "DSC_1.JPG"), ("IMG_7943.MOV", "IMG_7943.HEIC")):
        assert outcome[name]["action"] == "ignore" and outcome[name]["destination"] == ""
        assert outcome[name]["reason"] == (
            f"left alone with {leader}, which it travels with: its row was removed from the plan"
        )
        assert outcome[name]["why"] == "leader-left"
    assert outcome["IMG_0001.jpg"]["action"] == "move"
    assert outcome["IMG_0001.jpg"]["status"] == "done"
    assert {k: v for k, v in before.items() if k != "IMG_0001.jpg"} == tree(inbox)
    library_files = [p.name for p in library.rglob("*") if p.is_file()
                     and ".photoorganiser" not in p.parts]  # fmt: skip
    assert len(library_files) == 1 and library_files[0].endswith("IMG_0001.jpg")


def test_apply_moves_a_file_with_the_one_it_travels_with(tmp_path: Path) -> None:
    """The plan as planned: the sidecar and the Live Photo video go with their photos."""
    inbox, library = travelling_inbox(tmp_path / "in"), tmp_path / "lib"
    plan = _plan(tmp_path, inbox, library)
    report = tmp_path / "applied.csv"
    assert apply(plan, "--output", library, "--report", report) == 0
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert {r["action"] for r in got.values()} == {"move"}
    assert {r["status"] for r in got.values()} == {"done"}
    assert not any(p.is_file() for p in inbox.rglob("*"))
    jpg, xmp = Path(got["DSC_1.JPG"]["destination"]), Path(got["DSC_1.JPG.xmp"]["destination"])
    assert xmp == jpg.with_name(jpg.name + ".xmp") and jpg.is_file() and xmp.is_file()
    heic, mov = Path(got["IMG_7943.HEIC"]["destination"]), Path(got["IMG_7943.MOV"]["destination"])
    assert heic.stem == mov.stem and heic.is_file() and mov.is_file()


def test_apply_leaves_a_sidecar_alone_with_a_photo_changed_since_the_plan(tmp_path: Path) -> None:
    """The photo is refused (changed since the review): its sidecar is not moved without it."""
    inbox, library = travelling_inbox(tmp_path / "in"), tmp_path / "lib"
    plan = _plan(tmp_path, inbox, library)
    make_jpeg(inbox / "DSC_1.JPG", D1, seed=99)  # another picture now
    report = tmp_path / "applied.csv"
    assert apply(plan, "--output", library, "--report", report) == 1
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert got["DSC_1.JPG"]["status"] == "failed"
    assert got["DSC_1.JPG.xmp"]["action"] == "ignore"
    assert got["DSC_1.JPG.xmp"]["reason"].startswith(
        "left alone with DSC_1.JPG, which it travels with: it is not transferred (changed since"
    )
    assert (inbox / "DSC_1.JPG").is_file() and (inbox / "DSC_1.JPG.xmp").is_file()
    assert got["IMG_7943.MOV"]["status"] == "done"


def test_apply_never_opens_a_pipe_or_a_device(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    plan = _plan(tmp_path, inbox, library)
    planned = rows(plan)
    fifo = Path(planned[0]["source"])
    fifo.unlink()
    os.mkfifo(fifo)  # a pipe where the photo was: opening it would wait forever
    device = Path(planned[1]["source"])
    device.unlink()
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # like /dev/zero
    except PermissionError:
        device.symlink_to("/dev/zero")
    planned[0]["size"] = planned[1]["size"] = "0"
    write_rows(plan, planned)
    report = tmp_path / "applied.csv"
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(apply(plan, "--output", library, "--report", report)),
        daemon=True,
    )
    worker.start()
    worker.join(30)
    assert result == [1], "apply hung on a pipe or a device"
    got = {r["source"]: r for r in rows(report)}
    assert got[str(fifo)]["status"] == got[str(device)]["status"] == "failed"
    assert got[planned[2]["source"]]["status"] == "done"


# --- execute: attacks on the transfer -------------------------------------------------------


def test_bytes_appended_during_a_move_across_disks_are_never_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "_move_in_place", lambda *a: False)  # another disk
    real_copy = execute._copy_verified

    writers: list[subprocess.Popen] = []

    def copy_then_someone_appends(source, tmp, expected, st):
        real_copy(source, tmp, expected, st)
        # a sync client still writing it: another process, whose open waits on our lease
        # (in this process it would wait for the kernel's lease-break-time, 45 s)
        script = "import sys; open(sys.argv[1], 'ab').write(b'more bytes')"
        writers.append(
            subprocess.Popen([sys.executable, "-c", script, str(inbox / "IMG_0000.jpg")])
        )
        time.sleep(0.5)  # the writer has started and is waiting to open

    monkeypatch.setattr(execute, "_copy_verified", copy_then_someone_appends)
    inbox, library = inbox_of(tmp_path / "in", 1), tmp_path / "lib"
    original = (inbox / "IMG_0000.jpg").read_bytes()
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    assert [w.wait(60) for w in writers] == [0]
    (row,) = rows(report)
    assert "original was kept" in row["error"]
    assert (inbox / "IMG_0000.jpg").read_bytes() == original + b"more bytes"
    (copy,) = media_in(library)
    assert copy.read_bytes() == original


def test_a_source_open_for_writing_is_not_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "_move_in_place", lambda *a: False)  # another disk
    inbox, library = inbox_of(tmp_path / "in", 1), tmp_path / "lib"
    src = inbox / "IMG_0000.jpg"
    original = src.read_bytes()
    (inbox / "IMG_0000.jpg.xmp").write_text("<x:xmpmeta>its caption</x:xmpmeta>")
    report = tmp_path / "r.csv"
    with open(src, "ab"):  # another program holds it open for writing (a copy coming in)
        # left for the next run, with its sidecar: not an error, exit 0 (a nightly job
        # does not mail about a copy in progress)
        assert run("--input", inbox, "--output", library, "--report", report) == 0
    got = {Path(r["source"]).name: r for r in rows(report)}
    row, sidecar = got["IMG_0000.jpg"], got["IMG_0000.jpg.xmp"]
    assert row["status"] == "later" and "open for writing" in row["error"], row
    assert sidecar["status"] == "later" and "it goes with it next time" in sidecar["error"]
    assert src.read_bytes() == original and media_in(library) == []
    summary = report.with_suffix(".summary.txt").read_text()
    assert "Left for the next run" in summary and "Errors" not in summary
    # the next run takes both
    assert run("--input", inbox, "--output", library, "--report", tmp_path / "r2.csv") == 0
    assert [r["status"] for r in rows(tmp_path / "r2.csv")] == ["done", "done"]


def test_a_library_folder_swapped_for_a_link_during_a_run_is_not_followed(
    tmp_path: Path,
) -> None:
    """A folder checked earlier in the run, then moved away and a link put in its place
    (pointing outside the library): the next file for that folder is refused, not put
    where the link points (its check is remembered only with the folder's identity)."""
    library, outside = tmp_path / "lib", tmp_path / "outside"
    (outside / "01").mkdir(parents=True)
    library.mkdir()
    execute.forget_folders()
    execute.make_folders(library / "2020" / "01", library)
    execute.make_folders(library / "2020" / "01", library)  # remembered: no walk
    (library / "2020").rename(library / "2020.old")
    (library / "2020").symlink_to(outside)
    with pytest.raises(execute.TransferError, match="is a symbolic link"):
        execute.make_folders(library / "2020" / "01", library)
    # the same folder moved and another made in its place: walked again, and taken
    (library / "2020").unlink()
    (library / "2020" / "01").mkdir(parents=True)
    execute.make_folders(library / "2020" / "01", library)


def test_a_folder_in_the_library_that_is_a_link_is_never_followed(tmp_path: Path) -> None:
    inbox, library, outside = inbox_of(tmp_path / "in"), tmp_path / "lib", tmp_path / "outside"
    outside.mkdir()
    library.mkdir()
    (library / "2020").symlink_to(outside)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    assert list(outside.iterdir()) == []
    assert all("symbolic link" in r["error"] for r in rows(report))
    assert len(media_in(inbox)) == 3


def _no_atomic_primitives(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system like exFAT over FUSE: no renameat2(NOREPLACE), no link(2)."""
    monkeypatch.setattr(execute, "_rename", None)

    def no_link(*args):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(execute.os, "link", no_link)


def test_without_atomic_renames_a_crash_leaves_no_final_name_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_atomic_primitives(monkeypatch)
    inbox, library = inbox_of(tmp_path / "in", 2), tmp_path / "lib"
    real_replace = os.replace

    class Killed(BaseException):
        pass

    def killed_after_the_claim(src, dst):
        if ".po-tmp-" in str(src):
            raise Killed  # the process dies between the claim and the rename
        return real_replace(src, dst)

    monkeypatch.setattr(execute.os, "replace", killed_after_the_claim)
    with pytest.raises(Killed):
        run("--input", inbox, "--output", library, "--copy")
    (claimed,) = media_in(library)  # the claimed name, holding only a placeholder
    assert claimed.read_bytes().startswith(journal.CLAIM_MARK)
    monkeypatch.setattr(execute.os, "replace", real_replace)
    assert run("--input", inbox, "--output", library, "--copy") == 0
    names = sorted(p.name for p in media_in(library))
    # the first photo gets its own name, not NAME_1: recovery cleared the claim
    assert names == ["20200102_030405_IMG_0000.jpg", "20200102_030505_IMG_0001.jpg"]
    assert sorted(hash_file(p) for p in media_in(library)) == sorted(
        hash_file(p) for p in media_in(inbox)
    )


def test_a_sidecar_left_behind_joins_its_photo_on_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, library = inbox_of(tmp_path / "in", 1), tmp_path / "lib"
    (inbox / "IMG_0000.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    real_transfer = execute.transfer

    def sidecar_cut(d, *args):
        if d.source.suffix == ".xmp":
            raise execute.TransferError("I/O error")
        real_transfer(d, *args)

    monkeypatch.setattr(execute, "transfer", sidecar_cut)
    assert run("--input", inbox, "--output", library) == 1
    monkeypatch.setattr(execute, "transfer", real_transfer)
    assert (inbox / "IMG_0000.xmp").exists() and not (inbox / "IMG_0000.jpg").exists()
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    (row,) = rows(report)
    assert row["action"] == "move" and "earlier run" in row["reason"]
    (photo,) = media_in(library)
    assert photo.with_suffix(".xmp").exists() and not (inbox / "IMG_0000.xmp").exists()


def test_recovery_that_cannot_remove_a_source_is_a_report_row_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = inbox_of(tmp_path / "in", 3), tmp_path / "lib"
    originals = {hash_file(p) for p in media_in(inbox)}
    real_unlink = os.unlink

    class Killed(BaseException):
        pass

    def killed_before_removing(path, *a, **k):  # the run dies before removing the sources
        if str(path).startswith(str(inbox)):
            raise Killed
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(execute, "_move_in_place", lambda *a: False)
    monkeypatch.setattr(execute.os, "unlink", killed_before_removing)
    with pytest.raises(Killed):
        run("--input", inbox, "--output", library)
    monkeypatch.undo()

    def read_only(path, *a, **k):  # the card is read-only now
        if str(path).startswith(str(inbox)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(journal.os, "unlink", read_only)
    capsys.readouterr()
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("recovered interrupted run") == 1  # one line per run, not per file
    recovered = [r for r in rows(report) if r["action"] == "recover"]
    assert len(recovered) >= 1 and "could not be removed" in recovered[0]["error"]
    everything = {hash_file(p) for p in media_in(inbox) + media_in(library)}
    assert everything == originals  # nothing lost
    assert run("--input", inbox, "--output", library) == 1  # still read-only: still said
    monkeypatch.undo()  # the card is writable again: the next night finishes the move
    again = tmp_path / "again.csv"
    assert run("--input", inbox, "--output", library, "--report", again) == 0
    assert "finish-move" in {r["action"] for r in rows(again)}
    assert media_in(inbox) == [] and {hash_file(p) for p in media_in(library)} == originals


def test_after_a_journal_failure_only_transfers_are_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "BATCH", 64)  # two batches of these 70 renames
    inbox, library = inbox_of(tmp_path / "in", 70), tmp_path / "lib"
    (inbox / "zz_notes.txt").write_text("not a photo")
    real_intend, calls = journal.Journal.intend, []

    def full_on_the_second_batch(self, transfers):
        calls.append(1)
        if len(calls) == 2:
            raise execute.JournalError("cannot write the library's journal (disk full)")
        return real_intend(self, transfers)

    monkeypatch.setattr(journal.Journal, "intend", full_on_the_second_batch)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert got["zz_notes.txt"]["status"] == "done" and got["zz_notes.txt"]["action"] == "ignore"
    failed = [r for r in got.values() if r["status"] == "failed"]
    assert failed and all(r["action"] == "move" for r in failed)
    assert len(media_in(library)) + len(media_in(inbox)) == 70


# --- options refused before anything, one case each ------------------------------------


@pytest.mark.parametrize(
    "case, message",
    [
        ("input is a file", "is not a folder"),
        ("input is the library", "inside the library"),
        ("input inside the library", "inside the library"),
        ("input missing", "does not exist"),
        ("input unreadable", "cannot be read"),
        ("unknown zone", "time zone"),
    ],
)
def test_inputs_that_cannot_work_are_refused_before_anything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    library.mkdir()
    make_jpeg(library / "kept.jpg", D1, seed=42)
    args = {
        "input is a file": ["--input", inbox / "IMG_0000.jpg", "--output", library],
        "input is the library": ["--input", library, "--output", library],
        "input inside the library": ["--input", library / ".", "--output", library / ".."],
        "input missing": ["--input", tmp_path / "nope", "--output", library],
        "input unreadable": ["--input", inbox, "--output", library],
        "unknown zone": ["--input", inbox, "--output", library, "--timezone", "Mars/Olympus"],
    }[case]
    if case == "input inside the library":
        args = ["--input", library, "--output", tmp_path]
    if case == "input unreadable":  # as root every folder is readable: say it is not
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode, **k: Path(p) != inbox and real_access(p, mode, **k)
        )
    before_in, before_lib = tree(inbox), tree(library)
    assert run(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert tree(inbox) == before_in and tree(library) == before_lib
    assert not (library / ".photoorganiser").exists() and not (tmp_path / "reports").exists()


def test_formulas_in_metadata_never_reach_a_report_cell_as_formulas(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "a.jpg", D1, seed=1, make='=HYPERLINK("http://x","y")', model="+SUM(1,2)")
    make_jpeg(inbox / "@b.jpg", D1, seed=2, make="@SUM(1)", model="-2+3")
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", report) == 0
    raw = split(report)[1]
    for formula in ("=HYPERLINK", "+SUM(1,2)", "@SUM(1)", "-2+3"):
        assert f",{formula}" not in raw and f'"{formula}' not in raw
    got = {Path(r.source).name: r for r in read_report(report)}
    assert got["a.jpg"].make == '=HYPERLINK("http://x","y")' and got["a.jpg"].model == "+SUM(1,2)"
    assert got["@b.jpg"].make == "@SUM(1)" and got["@b.jpg"].model == "-2+3"


def test_a_name_that_hides_its_extension_is_cleaned(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "photo\u202egpj.exe.jpg", D1, seed=1)
    assert run("--input", inbox, "--output", library) == 0
    (placed,) = media_in(library)
    assert "\u202e" not in str(placed) and placed.name.endswith("photogpj.exe.jpg")


def test_a_linked_move_whose_source_cannot_go_is_placed_and_catalogued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "_rename", None)  # link(2) and unlink(2) instead of renameat2
    inbox, library = inbox_of(tmp_path / "in", 1), tmp_path / "lib"
    real_unlink = os.unlink

    def read_only_source(path, *a, **k):
        if str(path).startswith(str(inbox)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(execute.os, "unlink", read_only_source)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    (row,) = rows(report)
    assert "placed in the library, but the original could not be removed" in row["error"]
    (placed,) = media_in(library)
    with sqlite(library) as conn:
        (path,) = conn.execute("SELECT path FROM files").fetchone()
    assert library / path == placed


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_find_duplicates_writes_its_report_again_and_apply_knows_what_it_is(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = inbox_of(tmp_path / "in", 2)
    (inbox / "copy.jpg").write_bytes((inbox / "IMG_0000.jpg").read_bytes())
    report = tmp_path / f"dups{suffix}"
    for _ in range(2):  # a cron line with a fixed --report
        assert main(["find-duplicates", "--input", str(inbox), "--report", str(report)]) == 0
    header = read_header(report)
    assert header is not None and header.kind == "duplicates"
    assert header.inputs == (str(inbox),)
    capsys.readouterr()
    assert apply(report, "--output", tmp_path / "lib") == 2
    assert "is a duplicates report, not an import plan" in capsys.readouterr().err
    (tmp_path / "foreign.json").write_text('{"rows": []}')
    foreign = ["find-duplicates", "--input", str(inbox), "--report", str(tmp_path / "foreign.json")]
    assert main(foreign) == 2  # never replaces a file it did not write
    assert (tmp_path / "foreign.json").read_text() == '{"rows": []}'

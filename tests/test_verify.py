"""`photoorganiser verify`: a real library (JPEGs made with EXIF, imported by the command
line), then damaged the ways a disk and other programs damage one, and read again.

What a careful person checks: every kind of damage is found and told apart (bit rot from
an edit), nothing is changed but the verification state, a stopped verify resumes, the
manifest passes the real `sha256sum -c`."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import tree_state
from media import make_jpeg

from photoorganiser.cli import main
from photoorganiser.core.manifest import read_manifest, write_manifest
from photoorganiser.library import verify as verify_module
from photoorganiser.library.catalog import catalog_path
from photoorganiser.runs import verify as run_module
from reports import rows as report_rows

FILES = 30
D0 = datetime(2019, 5, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of FILES imported JPEGs, made once for the module (tests copy it)."""
    base = tmp_path_factory.mktemp("built")
    inbox = base / "inbox"
    for i in range(FILES):
        make_jpeg(inbox / f"IMG_{i:04d}.jpg", D0 + timedelta(days=i), seed=i)
    library = base / "library"
    code = main(
        ["import", "--input", str(inbox), "--output", str(library), "--workers", "1", "--quiet"]
        + ["--report", str(base / "import.csv")]
    )
    assert code == 0
    return library


@pytest.fixture
def library(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "library"
    shutil.copytree(built, copy, symlinks=True)  # copy2: modification times kept
    return copy


def photos(library: Path) -> list[Path]:
    return sorted(p for p in library.rglob("*.jpg") if ".photoorganiser" not in p.parts)


def verify(library: Path, *args: str | Path, report: str = "verify.csv") -> tuple[int, dict]:
    """Run verify; the exit status and the report's rows by file name."""
    code = main(
        ["verify", "--output", str(library), "--workers", "1", "--quiet", "--report", report]
        + [str(a) for a in args]
    )
    rows = (
        {Path(r["path"]).name: r for r in report_rows(Path(report))}
        if Path(report).exists()
        else {}
    )
    return code, rows


def files_table(library: Path) -> list[tuple]:
    with sqlite3.connect(catalog_path(library)) as conn:
        return conn.execute("SELECT * FROM files ORDER BY path").fetchall()


def verified_table(library: Path) -> dict[str, tuple]:
    with sqlite3.connect(catalog_path(library)) as conn:
        rows = conn.execute("SELECT path, result, hash, sha256 FROM verified").fetchall()
    return {Path(r[0]).name: r[1:] for r in rows}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file verify opens (workers=1: the checks run in this process)."""
    opened: list[str] = []
    real = verify_module.open_regular

    def counting(path):
        opened.append(str(path))
        return real(path)

    monkeypatch.setattr(verify_module, "open_regular", counting)
    return opened


def test_a_sound_library_is_all_ok_and_nothing_but_the_state_changes(
    library: Path, reads: list[str]
) -> None:
    before_files, before_tree = files_table(library), tree_state(library / "2019")
    code, rows = verify(library)
    assert code == 0
    assert len(rows) == FILES and {r["result"] for r in rows.values()} == {"ok"}
    assert all(r["expected_hash"] == r["found_hash"] and r["found_hash"] for r in rows.values())
    assert len(reads) == FILES
    assert files_table(library) == before_files  # no catalog row changed
    assert tree_state(library / "2019") == before_tree  # no user file changed
    state = verified_table(library)
    assert len(state) == FILES and {s[0] for s in state.values()} == {"ok"}
    summary = Path("verify.summary.txt").read_text()
    assert "ok" in summary and "MB/s" in summary


def test_bit_rot_another_program_missing_and_unreadable_are_told_apart(library: Path) -> None:
    rot, edited, gone, piped, linked = photos(library)[:5]
    st = rot.stat()
    data = bytearray(rot.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped, size and time as they were
    rot.write_bytes(bytes(data))
    os.utime(rot, ns=(st.st_atime_ns, st.st_mtime_ns))
    make_jpeg(edited, D0, seed=999)  # rewritten by another program: new bytes, new time
    gone.unlink()
    piped.unlink()
    os.mkfifo(piped)  # a pipe where a photo was: never waited on
    linked.unlink()
    linked.symlink_to(library / "nowhere.jpg")  # a dangling link: never followed
    code, rows = verify(library, "--workers", "2")  # the process pool
    assert code == 1
    assert rows[rot.name]["result"] == "changed"
    assert "bit rot" in rows[rot.name]["detail"]
    assert rows[rot.name]["found_hash"] != rows[rot.name]["expected_hash"]
    assert rows[edited.name]["result"] == "changed"
    assert "changed by another program" in rows[edited.name]["detail"]
    assert rows[gone.name]["result"] == "missing"
    assert rows[piped.name]["result"] == "unreadable"
    assert "pipe" in rows[piped.name]["detail"]
    assert rows[linked.name]["result"] == "unreadable"
    assert "symbolic link" in rows[linked.name]["detail"]
    assert sum(r["result"] == "ok" for r in rows.values()) == FILES - 5
    assert verified_table(library)[rot.name][0] == "changed"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_it_may_not_read_is_unreadable(library: Path) -> None:
    locked = photos(library)[0]
    locked.chmod(0)
    try:
        code, rows = verify(library)
    finally:
        locked.chmod(0o644)
    assert code == 1
    assert rows[locked.name]["result"] == "unreadable"
    assert "ermission" in rows[locked.name]["detail"]


def test_a_media_file_the_catalog_lacks_is_not_catalogued(library: Path) -> None:
    stray = make_jpeg(library / "2019" / "stray.jpg", D0, seed=500)
    (library / "notes.txt").write_text("not a photo")
    code, rows = verify(library)
    assert code == 1
    assert rows[stray.name]["result"] == "not-catalogued"
    assert "sync" in rows[stray.name]["detail"]
    assert "notes.txt" not in rows
    assert main(["sync", "--output", str(library), "--quiet", "--report", "sync.csv"]) == 0
    assert verify(library, report="again.csv")[0] == 0


def test_older_than_skips_files_verified_recently(library: Path, reads: list[str]) -> None:
    assert verify(library)[0] == 0
    assert len(reads) == FILES
    reads.clear()
    code, rows = verify(library, "--older-than", "7", report="second.csv")
    assert code == 0
    assert reads == [] and rows == {}  # nothing read at all
    assert "verified ok recently" in Path("second.summary.txt").read_text()
    # A file the catalog has with other content since (sync after an edit) is read again.
    edited = photos(library)[3]
    make_jpeg(edited, D0, seed=777)
    assert main(["sync", "--output", str(library), "--quiet", "--report", "sync.csv"]) == 0
    code, rows = verify(library, "--older-than", "7", report="third.csv")
    assert code == 0 and list(rows) == [edited.name]
    reads.clear()  # more days than the calendar has: everything verified ok counts
    assert verify(library, "--older-than", "1e12", report="huge.csv")[0] == 0
    assert reads == []
    # --older-than 0: everything is older than now.
    reads.clear()
    assert verify(library, "--older-than", "0", report="fourth.csv")[0] == 0
    assert len(reads) == FILES


def test_a_stopped_verify_resumes_where_it_stopped(
    library: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "BATCH_FILES", 4)
    real = run_module.check_files
    batches = []

    def stopping(jobs):  # Ctrl-C after three batches (twelve files)
        if len(batches) == 3:
            raise KeyboardInterrupt
        batches.append(jobs)
        return real(jobs)

    monkeypatch.setattr(run_module, "check_files", stopping)
    code, rows = verify(library)
    assert code == 130
    assert sum(r["result"] == "ok" for r in rows.values()) == 12
    assert sum(r["result"] == "not-done" for r in rows.values()) == FILES - 12
    assert len(verified_table(library)) == 12  # what was checked was saved
    monkeypatch.setattr(run_module, "check_files", real)
    reads.clear()
    code, rows = verify(library, report="resumed.csv")
    assert code == 0
    assert len(reads) == FILES - 12 and len(rows) == FILES - 12  # only the rest was read
    assert "Resumed" in Path("resumed.summary.txt").read_text()
    reads.clear()
    assert verify(library, report="next.csv")[0] == 0  # the pass ended: a new one reads all
    assert len(reads) == FILES


def test_a_sigint_stops_a_real_verify_cleanly(library: Path) -> None:
    """The real command in its own process, stopped by SIGINT while it reads a big file."""
    big = library / "2019" / "big.mov"
    with open(big, "wb") as f:  # sparse: costs no space, takes a while to read
        f.truncate(8 << 30)
    st = big.stat()
    with sqlite3.connect(catalog_path(library)) as conn:
        conn.execute(
            "INSERT INTO files (path, size, mtime_ns, hash, record) VALUES (?, ?, ?, ?, '{}')",
            ("2019/big.mov", st.st_size, st.st_mtime_ns, "0" * 32),
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "photoorganiser", "verify", "--output", str(library)]
        + ["--workers", "1", "--quiet", "--report", "stopped.csv"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not Path("stopped.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    if proc.returncode == 1:
        pytest.skip("the verify finished before the signal came")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    results = [r["result"] for r in report_rows(Path("stopped.csv"))]
    assert "not-done" in results
    assert "Verify" in Path("stopped.summary.txt").read_text()


def test_sample_reads_about_the_percentage_least_recently_verified_first(
    library: Path, reads: list[str]
) -> None:
    code, rows = verify(library, "--sample", "10")
    assert code == 0
    assert len(rows) == 3 and len(reads) == 3
    header = Path("verify.csv").read_text().splitlines()[0]
    assert "--seed" in header  # the seed drawn is in the header: the draw can be repeated
    first = set(rows)
    code, rows = verify(library, "--sample", "10", "--seed", "7", report="second.csv")
    assert code == 0 and len(rows) == 3
    assert not first & set(rows)  # files never verified come before ones verified today
    assert "not in this sample" in Path("second.summary.txt").read_text()


def test_the_manifest_passes_the_real_sha256sum(library: Path, reads: list[str]) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("no sha256sum (coreutils)")
    manifest = library / "manifest-sha256.txt"
    code, _rows = verify(library, "--manifest", manifest)
    assert code == 0
    assert len(reads) == FILES  # one read a file: the SHA-256 came from the same bytes
    lines = manifest.read_bytes().splitlines()
    names = [line.partition(b"  ")[2] for line in lines]
    assert len(lines) == FILES and names == sorted(names)
    done = subprocess.run(
        ["sha256sum", "--check", "--strict", manifest.name], cwd=library, capture_output=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(b": OK") == FILES
    # A later run with --older-than reads nothing and still writes the whole manifest.
    reads.clear()
    manifest.unlink()
    code, _rows = verify(library, "--older-than", "30", "--manifest", manifest, report="2.csv")
    assert code == 0 and reads == []
    assert len(manifest.read_bytes().splitlines()) == FILES
    # The damaged file is left out, and sha256sum agrees with what is there.
    rot = photos(library)[0]
    data = bytearray(rot.read_bytes())
    data[100] ^= 0x80
    rot.write_bytes(bytes(data))
    code, rows = verify(library, "--manifest", manifest, report="3.csv")
    assert code == 1 and rows[rot.name]["result"] == "changed"
    assert len(manifest.read_bytes().splitlines()) == FILES - 1
    done = subprocess.run(["sha256sum", "-c", manifest.name], cwd=library, capture_output=True)
    assert done.returncode == 0


def test_manifest_names_are_escaped_as_sha256sum_escapes_them(tmp_path: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("no sha256sum (coreutils)")
    import hashlib

    names = [b"plain.jpg", b"back\\slash.jpg", b"new\nline.jpg", b"caf\xe9.jpg", b"sp ace.jpg"]
    for i, name in enumerate(names):
        (tmp_path / os.fsdecode(name)).write_bytes(bytes([i]) * 10)
    entries = [(n, hashlib.sha256(bytes([i]) * 10).hexdigest()) for i, n in enumerate(names)]
    manifest = tmp_path / "m.txt"
    write_manifest(manifest, entries)
    ours = subprocess.run(
        ["sha256sum", *[os.fsdecode(n) for n in sorted(names)]], cwd=tmp_path, capture_output=True
    ).stdout
    assert manifest.read_bytes() == ours  # byte for byte what sha256sum writes
    done = subprocess.run(["sha256sum", "-c", "m.txt"], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_manifest(manifest) == dict(entries)


def test_bad_usage_is_one_line_and_touches_nothing(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = photos(library)[0]
    before = photo.read_bytes()
    for args in (
        ["--sample", "0"],
        ["--sample", "150"],
        ["--older-than", "-1"],
        ["--older-than", "nan"],
        ["--sample", "nan"],
        ["--manifest", str(photo)],  # a photo given by a typo is never replaced
        ["--max-duration", "soon"],
        ["--max-duration", "0"],
        ["--max-duration=-5m"],
        ["--max-duration", ""],
    ):
        capsys.readouterr()
        code = main(["verify", "--output", str(library), "--quiet", *args])
        assert code == 2, args
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert photo.read_bytes() == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["verify", "--output", str(empty), "--quiet"]) == 2
    assert not (empty / ".photoorganiser").exists()  # nothing created


def test_a_read_only_library_is_verified_without_saving_state(
    built: Path, tmp_path: Path, small_fs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mount = small_fs("32m")
    library = mount / "library"
    shutil.copytree(built, library, symlinks=True)
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    code, rows = verify(library)
    assert code == 0
    assert len(rows) == FILES and {r["result"] for r in rows.values()} == {"ok"}
    assert "not saved" in Path("verify.summary.txt").read_text()
    assert verified_table(library) == {}


def test_a_read_error_is_unreadable_with_the_os_reason(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing disk: the read itself fails (EIO) for one file; the others are checked."""
    bad = photos(library)[2]
    real = os.readv
    bad_inode = bad.stat().st_ino

    def failing(fd, buffers):
        if os.fstat(fd).st_ino == bad_inode:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd, buffers)

    monkeypatch.setattr(verify_module.os, "readv", failing)
    code, rows = verify(library)
    assert code == 1
    assert rows[bad.name]["result"] == "unreadable"
    assert "Input/output error" in rows[bad.name]["detail"]
    assert sum(r["result"] == "ok" for r in rows.values()) == FILES - 1


def test_a_stopped_verify_too_old_to_resume_starts_anew(
    library: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = run_module.check_files
    monkeypatch.setattr(run_module, "BATCH_FILES", 5)
    calls = []

    def stopping(jobs):
        if calls:
            raise KeyboardInterrupt
        calls.append(jobs)
        return real(jobs)

    monkeypatch.setattr(run_module, "check_files", stopping)
    assert verify(library)[0] == 130
    monkeypatch.setattr(run_module, "check_files", real)
    long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat(timespec="seconds")
    with sqlite3.connect(catalog_path(library)) as conn:
        conn.execute("UPDATE verify_passes SET started_at = ?", (long_ago,))
        conn.execute("UPDATE verified SET verified_at = ?", (long_ago,))
    reads.clear()
    assert verify(library, report="later.csv")[0] == 0
    assert len(reads) == FILES
    assert "Resumed" not in Path("later.summary.txt").read_text()


def test_max_duration_reads_the_least_recently_verified_until_the_time_is_up(
    library: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nightly window: verify stops reading when --max-duration is up (after the batch
    it is reading), reports no row for the files it did not reach, counts them, exits 0, and
    the next verify reads those first."""
    assert verify(library)[0] == 0
    monkeypatch.setattr(run_module, "BATCH_FILES", 4)
    names = [p.name for p in photos(library)]
    # Each file last verified on another day: files 20-29 the longest ago, then 0-9.
    now = datetime.now(UTC)
    with sqlite3.connect(catalog_path(library)) as conn:
        for i, name in enumerate(names):
            days = 60 + i if i >= 20 else (50 + i if i < 10 else 40 + i)
            when = (now - timedelta(days=days)).isoformat(timespec="seconds")
            conn.execute(
                "UPDATE verified SET verified_at = ? WHERE path LIKE ?", (when, f"%/{name}")
            )
    reads.clear()
    # The time is up as soon as it starts: the first batch is read, and no more.
    code, rows = verify(library, "--older-than", "30", "--max-duration", "0.001s")
    assert code == 0
    oldest = names[26:30][::-1]  # 89, 88, 87, 86 days ago
    assert [Path(p).name for p in reads] == oldest
    assert sorted(rows) == sorted(oldest) and {r["result"] for r in rows.values()} == {"ok"}
    summary = Path("verify.summary.txt").read_text()
    assert "left for the next verify" in summary and f"{FILES - 4}" in summary
    reads.clear()
    code, rows = verify(library, "--older-than", "30", "--max-duration", "0.001", report="b.csv")
    assert code == 0 and [Path(p).name for p in reads] == names[22:26][::-1]
    reads.clear()
    code, rows = verify(library, "--older-than", "30", report="rest.csv")  # no limit: the rest
    assert code == 0 and len(reads) == FILES - 8 and len(rows) == FILES - 8


def test_a_full_verify_stopped_by_max_duration_resumes_and_keeps_no_manifest(
    library: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "BATCH_FILES", 8)
    manifest = library.parent / "manifest.txt"
    code, rows = verify(library, "--max-duration", "0.001", "--manifest", manifest)
    assert code == 0 and len(reads) == 8 and len(rows) == 8  # one batch, no rows for the rest
    assert not manifest.exists()
    assert "--max-duration was up" in Path("verify.summary.txt").read_text()
    reads.clear()
    code, rows = verify(library, report="resumed.csv")  # the same pass, on from there
    assert code == 0 and len(reads) == FILES - 8
    assert "Resumed" in Path("resumed.summary.txt").read_text()
    reads.clear()
    assert verify(library, report="next.csv")[0] == 0  # that pass ended: a new one reads all
    assert len(reads) == FILES


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("45s", 45), ("90m", 5400), ("2h", 7200), ("1h30m", 5400),
     ("1.5h", 5400), ("1d", 86400), (" 2H ", 7200)],
)  # fmt: skip
def test_max_duration_takes_times_as_people_write_them(text: str, seconds: float) -> None:
    assert run_module.parse_duration(text) == seconds

"""Nightly runs: the catalog, incremental re-runs, one run at a time, surviving a kill."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from media import make_jpeg
from recovering import recover

from photoorganiser.cli import main
from photoorganiser.core import hashing
from photoorganiser.core.hashing import hash_file
from photoorganiser.core.values import TransferMode
from photoorganiser.importing.collisions import resolve
from photoorganiser.importing.execute import TEMP_MARK, temp_path
from photoorganiser.importing.paths import DEFAULT_TEMPLATE, parse_template
from photoorganiser.importing.plan import PlanOptions, plan
from photoorganiser.library import index
from photoorganiser.library.catalog import MIGRATIONS, Catalog, catalog_path
from photoorganiser.library.index import CatalogLibrary
from photoorganiser.library.journal import Journal
from photoorganiser.library.lock import library_lock
from photoorganiser.media import analyse
from photoorganiser.media.analyse import AnalyseOptions, analyse_entry
from photoorganiser.media.scan import scan
from reports import rows as report_rows
from reports import write_rows

REPO = Path(__file__).resolve().parents[1]
D0 = datetime(2019, 5, 1, 10, 0, 0)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(*args: str | Path) -> int:
    return main(["import", *map(str, args), "--workers", "1", "--quiet"])


def rows(report: Path) -> list[dict[str, str]]:
    return report_rows(report)


def make_inbox(root: Path, count: int, size: tuple[int, int] = (64, 48)) -> Path:
    for i in range(count):
        make_jpeg(
            root / f"d{i % 7}" / f"IMG_{i:04d}.jpg", D0 + timedelta(minutes=i), seed=i, size=size
        )
    return root


def photos(root: Path) -> list[Path]:
    """Media files under root, outside the library's bookkeeping, temporaries included."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and ".photoorganiser" not in p.parts
        and p.suffix != ".csv"
        and not p.name.endswith(".txt")
    )


def catalog_rows(library: Path) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(catalog_path(library)) as conn:
        return {p: (s, h) for p, s, h in conn.execute("SELECT path, size, hash FROM files")}


def disk_rows(library: Path) -> dict[str, tuple[int, str]]:
    return {
        p.relative_to(library).as_posix(): (p.stat().st_size, hash_file(p)) for p in photos(library)
    }


def pending_intents(library: Path) -> int:
    with sqlite3.connect(catalog_path(library)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM journal WHERE state = 'intent'").fetchone()[0]
        except sqlite3.OperationalError:  # killed while the schema was being created
            return 0


# --- the catalog and incremental runs ---------------------------------------------------


def test_catalog_has_a_row_per_library_file_with_relative_paths(tmp_path: Path) -> None:
    inbox, library = make_inbox(tmp_path / "in", 6), tmp_path / "lib"
    assert run("--input", inbox, "--output", library) == 0
    assert catalog_rows(library) == disk_rows(library)
    with sqlite3.connect(catalog_path(library)) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM files ORDER BY path LIMIT 1").fetchone()
        assert not row["path"].startswith("/")
        assert row["captured_at"] == "2019-05-01T10:00:00"
        assert row["date_source"] == "EXIF:DateTimeOriginal"
        assert row["source_path"].endswith("IMG_0000.jpg") and row["run_id"]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "finished"


def test_a_dry_run_on_a_catalogued_library_changes_nothing(tmp_path: Path) -> None:
    from conftest import tree_state

    inbox, library = make_inbox(tmp_path / "in", 3), tmp_path / "lib"
    assert run("--input", inbox, "--output", library, "--copy") == 0
    make_jpeg(inbox / "new.jpg", D0 + timedelta(days=9), seed=42)
    before_lib, before_in = tree_state(library), tree_state(inbox)
    report = tmp_path / "dry.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", report) == 0
    assert tree_state(library) == before_lib  # its catalog and lock included
    assert tree_state(inbox) == before_in
    assert Counter(r["action"] for r in rows(report)) == {"skip-exists": 3, "move": 1}


def test_unchanged_inbox_files_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 5), tmp_path / "lib"
    assert run("--input", inbox, "--output", library, "--copy") == 0
    reads: list[Path] = []
    real = analyse.read_and_hash
    monkeypatch.setattr(analyse, "read_and_hash", lambda p, *a: reads.append(p) or real(p, *a))
    monkeypatch.setattr(index, "hash_file", lambda p: pytest.fail(f"hashed {p}"))
    report = tmp_path / "again.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
    assert reads == []  # a stat per file, nothing read
    assert Counter(r["action"] for r in rows(report)) == {"skip-exists": 5}
    # A changed file is read again, and only that one.
    changed = inbox / "d0" / "IMG_0000.jpg"
    make_jpeg(changed, D0, seed=99)
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
    assert reads == [changed]


def test_files_gone_from_the_inbox_leave_the_analysis_cache(tmp_path: Path) -> None:
    inbox, library = make_inbox(tmp_path / "in", 3), tmp_path / "lib"
    assert run("--input", inbox, "--output", library, "--copy") == 0
    gone = photos(inbox)[0]
    gone.unlink()
    assert run("--input", inbox, "--output", library, "--copy") == 0
    with sqlite3.connect(catalog_path(library)) as conn:
        cached = {Path(p) for (p,) in conn.execute("SELECT path FROM sources")}
    assert cached == {p.resolve() for p in photos(inbox)}


def test_a_move_caches_only_the_analyses_of_files_it_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A moved file's analysis is in the library's catalog: a cache row for its old path
    is not written (it would be written only to be deleted when the move settles: 100,000
    rows of JSON on a first import). A file the move left where it was (a failure) is
    cached: the next run does not read it again."""
    inbox, library = make_inbox(tmp_path / "in", 4), tmp_path / "lib"
    broken = inbox / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a photo")
    written: list[str] = []
    real = Catalog.remember

    def remember(self, results, options):
        results = list(results)
        written.extend(r.entry.path.name for r in results)
        return real(self, results, options)

    monkeypatch.setattr(Catalog, "remember", remember)
    assert run("--input", inbox, "--output", library) == 1
    with sqlite3.connect(catalog_path(library)) as conn:
        cached = {Path(p).name for (p,) in conn.execute("SELECT path FROM sources")}
        files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    assert files == 4 and photos(inbox) == [broken]
    assert written == ["broken.jpg"] and cached == {"broken.jpg"}
    # A copy leaves every file where it was: all of them are cached.
    written.clear()
    again = make_inbox(tmp_path / "again", 3, size=(32, 24))
    assert run("--input", again, "--output", library, "--copy") == 0
    assert sorted(written) == sorted(p.name for p in photos(again))


def test_already_in_the_library_is_decided_for_the_whole_library(tmp_path: Path) -> None:
    inbox, library = make_inbox(tmp_path / "in", 3), tmp_path / "lib"
    assert run("--input", inbox, "--output", library, "--copy") == 0
    report = tmp_path / "r.csv"
    # Another template would file them elsewhere: the catalog still knows them.
    assert (
        run(
            "--input",
            inbox,
            "--output",
            library,
            "--copy",
            "--report",
            report,
            "--template",
            "{make}/{hash8}_{stem}{ext}",
        )
        == 0
    )
    assert {r["action"] for r in rows(report)} == {"skip-exists"}
    assert all("/2019/05/" in r["duplicate_of"] for r in rows(report))


def test_first_import_adopts_an_existing_library(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    old = make_jpeg(library / "Holidays 2018" / "beach.jpg", D0, seed=1)
    make_jpeg(library / "Holidays 2018" / "sunset.jpg", D0, seed=2)
    inbox = tmp_path / "in"
    (inbox).mkdir()
    shutil.copy2(old, inbox / "DSC_0001.jpg")  # a copy of a photo the library has
    make_jpeg(inbox / "new.jpg", D0 + timedelta(days=1), seed=3)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert got["DSC_0001.jpg"]["action"] == "skip-exists"
    assert got["DSC_0001.jpg"]["duplicate_of"] == str(old)
    assert got["new.jpg"]["action"] == "move"
    assert catalog_rows(library) == disk_rows(library)
    assert "Holidays 2018/beach.jpg" in catalog_rows(library)


def test_sync_makes_the_catalog_match_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 4), tmp_path / "lib"
    assert run("--input", inbox, "--output", library) == 0
    files = photos(library)
    files[0].unlink()  # vanished
    make_jpeg(files[1], D0, seed=50)  # changed
    make_jpeg(library / "added by hand" / "x.jpg", D0, seed=51)  # new
    report = tmp_path / "sync.csv"
    assert (
        main(
            ["sync", "--output", str(library), "--report", str(report), "--quiet", "--workers", "1"]
        )
        == 0
    )
    changes = {Path(r["path"]).name: r["change"] for r in rows(report)}
    assert changes == {files[0].name: "removed", files[1].name: "changed", "x.jpg": "added"}
    assert catalog_rows(library) == disk_rows(library)
    # Unchanged: one stat per file, no content read at all.
    monkeypatch.setattr(analyse, "read_and_hash", lambda *a: pytest.fail("read a file"))
    monkeypatch.setattr(hashing, "read_and_hash", lambda *a: pytest.fail("read a file"))
    assert (
        main(
            ["sync", "--output", str(library), "--report", str(report), "--quiet", "--workers", "1"]
        )
        == 0
    )
    assert rows(report) == []


def test_settle_leaves_files_still_being_written(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    old = make_jpeg(inbox / "old.jpg", D0, seed=1)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    make_jpeg(inbox / "fresh.jpg", D0, seed=2)  # written just now
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--settle", "300", "--report", report) == 0
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert got["old.jpg"]["action"] == "move"
    assert got["fresh.jpg"]["action"] == "ignore" and "--settle 300" in got["fresh.jpg"]["reason"]
    assert (inbox / "fresh.jpg").exists()


def test_a_catalog_from_a_newer_version_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 1), tmp_path / "lib"
    assert run("--input", inbox, "--output", library, "--copy") == 0
    with sqlite3.connect(catalog_path(library)) as conn:
        conn.execute("PRAGMA user_version = 99")
    assert run("--input", inbox, "--output", library, "--copy") == 2
    assert "newer photoorganiser" in capsys.readouterr().err


def test_an_old_catalog_is_migrated(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    catalog_path(library).parent.mkdir(parents=True)
    sqlite3.connect(catalog_path(library)).close()  # schema 0: an empty database
    catalog = Catalog.open(library)
    assert catalog.version == len(MIGRATIONS)
    assert catalog.count_files() == 0
    catalog.close()


# --- one run at a time ----------------------------------------------------------------

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from photoorganiser.library.lock import library_lock
    with library_lock(Path(sys.argv[1]), "holder"):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def _hold_lock(library: Path, seconds: float) -> subprocess.Popen:
    (library / ".photoorganiser").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(library / ".photoorganiser"), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_exits_at_once_with_75(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 2), tmp_path / "lib"
    holder = _hold_lock(library, 30)
    try:
        started = time.monotonic()
        assert run("--input", inbox, "--output", library) == 75
        assert time.monotonic() - started < 10
        err = capsys.readouterr().err
        assert "another photoorganiser run" in err and "holder" in err and "--wait" in err
        assert len(photos(inbox)) == 2  # nothing touched
        assert main(["sync", "--output", str(library), "--quiet"]) == 75
    finally:
        holder.kill()
        holder.wait()


def test_wait_waits_for_the_other_run(tmp_path: Path) -> None:
    inbox, library = make_inbox(tmp_path / "in", 2), tmp_path / "lib"
    holder = _hold_lock(library, 1.5)
    try:
        started = time.monotonic()
        assert run("--input", inbox, "--output", library, "--wait") == 0
        assert time.monotonic() - started >= 1.0
        assert photos(inbox) == []
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_run_is_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 2), tmp_path / "lib"
    holder = _hold_lock(library, 60)
    holder.kill()  # SIGKILL: no clean-up, the lock file still names it
    holder.wait()
    assert "holder" in (library / ".photoorganiser" / "lock").read_text()
    assert main(["import", "--input", str(inbox), "--output", str(library), "--workers", "1"]) == 0
    assert "run that died" in capsys.readouterr().err
    assert photos(inbox) == []


def test_lock_is_held_within_one_process_too(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    (library / ".photoorganiser").mkdir(parents=True)
    inbox = make_inbox(tmp_path / "in", 1)
    with library_lock(library / ".photoorganiser", "test"):
        assert run("--input", inbox, "--output", library) == 75
        assert run("--input", inbox, "--output", library, "--dryrun") == 75
    assert run("--input", inbox, "--output", library) == 0


# --- recovery of a killed run, state by state ---------------------------------------------


def _intend_one(tmp_path: Path, mode: TransferMode):
    inbox, library = tmp_path / "in", tmp_path / "lib"
    src = make_jpeg(inbox / "a.jpg", D0, seed=1)
    entries = list(scan([inbox]))
    results = [analyse_entry(e, AnalyseOptions()) for e in entries]
    catalog = Catalog.open(library)
    options = PlanOptions(library, parse_template(DEFAULT_TEMPLATE), mode)
    (decision,) = resolve(plan(results, options), CatalogLibrary(catalog))
    Journal(catalog, "killed-run").intend([decision])
    return catalog, decision, src


def test_recovery_finishes_a_move_killed_after_the_copy(tmp_path: Path) -> None:
    catalog, d, src = _intend_one(tmp_path, TransferMode.MOVE)
    d.destination.parent.mkdir(parents=True)
    shutil.copy2(src, d.destination)  # copied and published, killed before removing the source
    (done,) = recover(catalog)
    assert done.state == "recovered"
    assert not src.exists() and d.destination.exists()
    assert catalog.count_files() == 1


def test_recovery_undoes_a_transfer_killed_before_it_started(tmp_path: Path) -> None:
    catalog, d, src = _intend_one(tmp_path, TransferMode.MOVE)
    d.destination.parent.mkdir(parents=True)
    tmp = temp_path(d.destination)
    tmp.write_bytes(src.read_bytes()[:100])  # killed half-way through the copy
    (done,) = recover(catalog)
    assert done.state == "undone"
    assert src.exists() and not d.destination.exists() and not tmp.exists()
    assert catalog.count_files() == 0


def test_recovery_never_touches_a_file_that_is_not_ours(tmp_path: Path) -> None:
    catalog, d, src = _intend_one(tmp_path, TransferMode.COPY)
    d.destination.parent.mkdir(parents=True)
    d.destination.write_bytes(b"someone else's file")
    (done,) = recover(catalog)
    assert done.state == "abandoned"
    assert d.destination.read_bytes() == b"someone else's file" and src.exists()
    assert catalog.count_files() == 0


# --- real file systems: full, read-only, another device --------------------------------


def test_a_full_disk_loses_nothing_and_the_next_run_finishes(tmp_path: Path, small_fs) -> None:
    library = small_fs("1m")
    inbox = make_inbox(tmp_path / "in", 24, size=(320, 240))  # ~5 MB of noise JPEGs
    originals = Counter(hash_file(p) for p in photos(inbox))
    report = tmp_path / "full.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    got = rows(report)
    assert len(got) == 24
    failed = [r for r in got if r["status"] == "failed"]
    assert failed and all("space" in r["error"] or "full" in r["error"] for r in failed)
    everywhere = Counter(hash_file(p) for p in photos(inbox) + photos(library))
    assert set(everywhere) == set(originals)  # every photo somewhere, none lost
    assert not [p for p in library.rglob(f"*{TEMP_MARK}*")]  # no partial file left
    subprocess.run(["mount", "-o", "remount,size=64m", str(library)], check=True)
    assert run("--input", inbox, "--output", library) == 0
    assert Counter(hash_file(p) for p in photos(library)) == originals
    assert photos(inbox) == []
    assert catalog_rows(library) == disk_rows(library)


def test_a_read_only_library_is_a_clear_error(
    tmp_path: Path, small_fs, capsys: pytest.CaptureFixture[str]
) -> None:
    library = small_fs("8m")
    inbox = make_inbox(tmp_path / "in", 2)
    assert run("--input", inbox, "--output", library, "--copy") == 0
    make_jpeg(inbox / "new.jpg", D0, seed=77)
    subprocess.run(["mount", "-o", "remount,ro", str(library)], check=True)
    before = disk_rows(library)
    assert run("--input", inbox, "--output", library) == 1
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert disk_rows(library) == before and (inbox / "new.jpg").exists()
    report = tmp_path / "dry.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", report) == 0
    actions = Counter(r["action"] for r in rows(report))
    assert actions == {"skip-exists": 2, "move": 1}


# --- kill -9 at random moments ------------------------------------------------------------


def _wait_for_photos(library: Path, proc: subprocess.Popen, count: int) -> float:
    """Poll until `count` photos are in the library (or the run ends); when that was."""
    while proc.poll() is None:
        found = 0
        for _folder, dirs, files in os.walk(library):
            dirs[:] = [d for d in dirs if d != ".photoorganiser"]
            found += sum(f.endswith(".jpg") for f in files)
        if found >= count:
            break
        time.sleep(0.002)
    return time.monotonic()


def _import_cmd(inbox: Path, library: Path, mode: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "photoorganiser",
        "import",
        "--input",
        str(inbox),
        "--output",
        str(library),
        mode,
        "--quiet",
        "--workers",
        "1",
        "--report-dir",
        str(inbox.parent),
    ]


@pytest.mark.kill
@pytest.mark.parametrize(
    "mode, device", [("--move", "same"), ("--copy", "same"), ("--move", "other")]
)
def test_killed_at_any_moment_nothing_is_lost(
    tmp_path: Path, small_fs, mode: str, device: str
) -> None:
    # Renames within one disk are quick: more of them, so that kills can land mid-way.
    count = 600 if (mode, device) == ("--move", "same") else 150
    template = make_inbox(tmp_path / "template", count, size=(96, 72))
    originals = Counter(hash_file(p) for p in photos(template))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    where = small_fs("64m") if device == "other" else tmp_path
    rng = random.Random(f"{mode}{device}")

    def fresh(n: int) -> tuple[Path, Path]:
        inbox, library = tmp_path / f"in{n}", where / f"lib{n}"
        shutil.copytree(template, inbox)
        return inbox, library

    inbox, library = fresh(0)  # how long does a run take, and when do files move?
    started = time.monotonic()
    proc = subprocess.Popen(_import_cmd(inbox, library, mode), env=env)
    first_file = _wait_for_photos(library, proc, 1)
    moving = _wait_for_photos(library, proc, count) - first_file
    assert proc.wait() == 0
    whole = time.monotonic() - started

    # Ten trials; more (up to 30) if fewer than 3 kills landed mid-transfer (a busy machine).
    trials, mid_transfer, intents_left, n = 10, 0, 0, 0
    while n < trials or (mid_transfer < 3 and n < 30):
        n += 1
        inbox, library = fresh(n)
        proc = subprocess.Popen(_import_cmd(inbox, library, mode), env=env)
        if n <= 3:  # anywhere: start-up, scan, analysis, planning, transfers
            time.sleep(rng.uniform(0.1, whole))
        else:  # while files are moving
            _wait_for_photos(library, proc, 1)
            time.sleep(rng.uniform(0, max(0.005, moving)))
        proc.kill()
        proc.wait()
        # Right after the kill: every photo is somewhere; the library holds only whole files.
        in_library = [p for p in photos(library) if TEMP_MARK not in p.name]
        everywhere = Counter(hash_file(p) for p in photos(inbox) + in_library)
        assert set(everywhere) == set(originals), f"trial {n}: a photo is lost"
        assert {hash_file(p) for p in in_library} <= set(originals), f"trial {n}: partial file"
        mid_transfer += 0 < len(in_library) < len(originals)
        if catalog_path(library).exists():
            intents_left += pending_intents(library) > 0

        done = subprocess.run(
            _import_cmd(inbox, library, mode), env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"trial {n}: {done.stderr}"
        assert Counter(hash_file(p) for p in photos(library)) == originals, f"trial {n}"
        if mode == "--move":
            assert photos(inbox) == [], f"trial {n}: left in the inbox"
        else:
            assert Counter(hash_file(p) for p in photos(inbox)) == originals
        assert catalog_rows(library) == disk_rows(library), f"trial {n}: catalog != disk"
        assert pending_intents(library) == 0
        shutil.rmtree(inbox)
        shutil.rmtree(library)
    # The kills must land while files are moving, not only before or after.
    assert mid_transfer >= 3, f"only {mid_transfer} of {n} kills landed mid-run"
    print(f"{mode} {device}: {mid_transfer} of {n} kills mid-transfer, {intents_left} left intents")


# --- applying a reviewed plan -------------------------------------------------------------


def apply_plan(plan_csv: Path, library: Path, report: Path) -> int:
    args = ["apply", str(plan_csv), "--output", str(library), "--report", str(report)]
    return main([*args, "--quiet", "--workers", "1"])


def test_apply_carries_out_exactly_the_reviewed_plan(tmp_path: Path) -> None:
    inbox, library = make_inbox(tmp_path / "in", 4), tmp_path / "lib"
    plan_csv = tmp_path / "plan.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", plan_csv) == 0
    planned = rows(plan_csv)
    # The reviewer strikes one row out, and a new photo arrives after the review.
    struck = planned.pop(1)
    write_rows(plan_csv, planned)
    make_jpeg(inbox / "late.jpg", D0, seed=123)
    report = tmp_path / "applied.csv"
    assert apply_plan(plan_csv, library, report) == 0
    applied = rows(report)
    assert [r["source"] for r in applied] == [r["source"] for r in planned]
    assert {r["status"] for r in applied} == {"done"}
    for r in applied:
        assert Path(r["destination"]).exists() and not Path(r["source"]).exists()
    assert Path(struck["source"]).exists()  # struck out: untouched
    assert (inbox / "late.jpg").exists()  # not in the plan: untouched
    assert catalog_rows(library) == disk_rows(library)


def test_apply_refuses_what_changed_or_escapes_the_library(tmp_path: Path) -> None:
    inbox, library = make_inbox(tmp_path / "in", 3), tmp_path / "lib"
    plan_csv = tmp_path / "plan.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", plan_csv) == 0
    planned = rows(plan_csv)
    changed = Path(planned[0]["source"])
    data = bytearray(changed.read_bytes())
    data[-10] ^= 0xFF  # same size, other content
    changed.write_bytes(bytes(data))
    planned[1]["destination"] = str(tmp_path / "elsewhere" / "x.jpg")  # edited to escape
    write_rows(plan_csv, planned)
    report = tmp_path / "applied.csv"
    assert apply_plan(plan_csv, library, report) == 1
    got = {r["source"]: r for r in rows(report)}
    assert "changed since the plan" in got[str(changed)]["error"]
    assert "not inside the library" in got[planned[1]["source"]]["error"]
    assert got[planned[2]["source"]]["status"] == "done"
    assert changed.exists() and Path(planned[1]["source"]).exists()
    assert not (tmp_path / "elsewhere").exists()

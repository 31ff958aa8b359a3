"""The choices a careful person makes: what was deleted from the library stays deleted, and
a failure that is not new does not wake anyone up.

Real JPEGs, the real command (in-process), the report read as a person would.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser.cli import main
from photoorganiser.core.hashing import hash_file
from photoorganiser.library.catalog import MIGRATIONS, catalog_path
from photoorganiser.media import analyse
from reports import rows as report_rows

D0 = datetime(2021, 6, 7, 8, 9, 10)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(*args: str | Path) -> int:
    return main(["import", *map(str, args), "--workers", "1", "--quiet"])


def sync(library: Path, report: Path) -> int:
    return main(
        ["sync", "--output", str(library), "--report", str(report), "--workers", "1", "--quiet"]
    )


def by_name(report: Path) -> dict[str, dict[str, str]]:
    return {Path(r["source"]).name: r for r in report_rows(report)}


def photos(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and ".photoorganiser" not in p.parts and p.suffix in (".jpg", ".xmp")
    )


def history(library: Path) -> list[sqlite3.Row]:
    with sqlite3.connect(catalog_path(library)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM history ORDER BY id").fetchall()


def summary(report: Path) -> str:
    return report.with_name(report.stem + ".summary.txt").read_text()


# --- deleted stays deleted ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["--move", "--copy"])
def test_a_photo_deleted_from_the_library_is_not_imported_again(tmp_path: Path, mode: str) -> None:
    inbox, library, spare = tmp_path / "in", tmp_path / "lib", tmp_path / "spare"
    photo = make_jpeg(inbox / "IMG_0001.jpg", D0, seed=1)
    make_jpeg(inbox / "IMG_0002.jpg", D0 + timedelta(minutes=1), seed=2)
    spare.mkdir()
    shutil.copy2(photo, spare / photo.name)  # the same photo, to come back later
    assert run("--input", inbox, "--output", library, mode) == 0
    imported = [p for p in photos(library) if p.name.endswith("IMG_0001.jpg")]
    assert len(imported) == 1
    imported[0].unlink()  # the user deleted it from the library, by hand

    if mode == "--move":
        shutil.copy2(spare / photo.name, inbox / photo.name)  # the same photo arrives again
    dry = tmp_path / "dry.csv"
    assert run("--input", inbox, "--output", library, mode, "--dryrun", "--report", dry) == 0
    got = by_name(dry)["IMG_0001.jpg"]
    assert (got["action"], got["status"]) == ("skip-deleted", "planned")
    assert got["reason"] == (
        f"imported on {date.today().isoformat()} as {imported[0]}, removed from the library since"
    )
    assert got["destination"] == ""

    report = tmp_path / "real.csv"
    assert run("--input", inbox, "--output", library, mode, "--report", report) == 0
    got = by_name(report)["IMG_0001.jpg"]
    assert (got["action"], got["status"]) == ("skip-deleted", "done")
    if mode == "--copy":
        assert by_name(report)["IMG_0002.jpg"]["action"] == "skip-exists"
    assert not imported[0].exists()
    assert not any(p.name.endswith("IMG_0001.jpg") for p in photos(library))
    assert (inbox / "IMG_0001.jpg").exists()  # left where it is
    assert "Deleted from the library before" in summary(report)


def test_reimport_deleted_brings_it_back(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "IMG_0001.jpg", D0, seed=1)
    assert run("--input", inbox, "--output", library, "--copy") == 0
    (first,) = photos(library)
    content = hash_file(first)
    first.unlink()
    report = tmp_path / "r.csv"
    args = ("--input", inbox, "--output", library, "--copy", "--report", report)
    assert run(*args, "--reimport-deleted") == 0
    assert by_name(report)["IMG_0001.jpg"]["action"] == "copy"
    (back,) = photos(library)
    assert hash_file(back) == content
    # Back in the library: the next night it is simply already there.
    assert run(*args) == 0
    assert by_name(report)["IMG_0001.jpg"]["action"] == "skip-exists"


def test_the_catalog_remembers_each_import(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    source = make_jpeg(inbox / "IMG_0001.jpg", D0, seed=1)
    content = hash_file(source)
    assert run("--input", inbox, "--output", library) == 0
    (placed,) = photos(library)
    (row,) = history(library)
    assert (row["hash"], row["size"]) == (content, placed.stat().st_size)
    assert row["source_path"] == str(source)
    assert row["library_path"] == placed.relative_to(library).as_posix()
    assert row["run_id"] and row["imported_at"].startswith(date.today().isoformat())
    assert row["removed_at"] is None and row["moved_to"] is None
    with sqlite3.connect(catalog_path(library)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_sync_records_a_removal_and_adopted_files_are_not_imports(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(library / "by hand" / "old.jpg", D0, seed=9)  # there before: adopted
    make_jpeg(inbox / "IMG_0001.jpg", D0, seed=1)
    assert run("--input", inbox, "--output", library) == 0
    assert [r["library_path"] for r in history(library)] != ["by hand/old.jpg"]
    assert len(history(library)) == 1  # the adopted file was not imported by us
    for p in photos(library):
        p.unlink()
    report = tmp_path / "sync.csv"
    assert sync(library, report) == 0
    assert Counter(r["change"] for r in report_rows(report)) == {"removed": 2}
    (row,) = history(library)
    assert row["removed_at"] is not None


def test_a_file_renamed_in_the_library_is_moved_and_stays_known(tmp_path: Path) -> None:
    inbox, library, spare = tmp_path / "in", tmp_path / "lib", tmp_path / "spare"
    photo = make_jpeg(inbox / "IMG_0001.jpg", D0, seed=1)
    spare.mkdir()
    shutil.copy2(photo, spare / photo.name)
    assert run("--input", inbox, "--output", library) == 0
    (placed,) = photos(library)
    renamed = library / "Holidays" / "beach.jpg"
    renamed.parent.mkdir()
    placed.rename(renamed)  # the user files it elsewhere, by hand

    report = tmp_path / "sync.csv"
    assert sync(library, report) == 0
    (change,) = report_rows(report)
    assert (change["change"], change["path"], change["moved_from"]) == (
        "moved",
        str(renamed),
        str(placed),
    )
    with sqlite3.connect(catalog_path(library)) as conn:
        files = conn.execute("SELECT path, source_path, run_id FROM files").fetchall()
    assert files == [("Holidays/beach.jpg", str(photo), history(library)[0]["run_id"])]
    (row,) = history(library)
    assert row["moved_to"] == "Holidays/beach.jpg" and row["removed_at"] is None

    # Its source again: in the library now, so skip-exists (never imported twice).
    shutil.copy2(spare / photo.name, inbox / photo.name)
    imp = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", imp) == 0
    got = by_name(imp)["IMG_0001.jpg"]
    assert (got["action"], got["duplicate_of"]) == ("skip-exists", str(renamed))
    assert photos(library) == [renamed]

    # Deleted after the move: skip-deleted, and sync records the removal.
    renamed.unlink()
    assert sync(library, report) == 0
    assert [r["change"] for r in report_rows(report)] == ["removed"]
    assert history(library)[0]["removed_at"] is not None
    assert run("--input", inbox, "--output", library, "--report", imp) == 0
    assert by_name(imp)["IMG_0001.jpg"]["action"] == "skip-deleted"


def test_a_nightly_copy_from_a_phone_folder_does_not_bring_a_deleted_photo_back(
    tmp_path: Path,
) -> None:
    phone, library = tmp_path / "phone", tmp_path / "lib"
    for i in range(3):
        make_jpeg(phone / "DCIM" / f"IMG_{i:04d}.jpg", D0 + timedelta(minutes=i), seed=i)
    nightly = ("--input", phone, "--output", library, "--copy", "--settle", "0")
    assert run(*nightly) == 0
    assert len(photos(library)) == 3
    unwanted = next(p for p in photos(library) if p.name.endswith("IMG_0001.jpg"))
    unwanted.unlink()  # a blurred photo, deleted by the user
    for night in (2, 3):
        report = tmp_path / f"night{night}.csv"
        assert run(*nightly, "--report", report) == 0, f"night {night}"
        got = by_name(report)
        assert got["IMG_0001.jpg"]["action"] == "skip-deleted", f"night {night}"
        assert {got[n]["action"] for n in ("IMG_0000.jpg", "IMG_0002.jpg")} == {"skip-exists"}
        assert len(photos(library)) == 2 and not unwanted.exists(), f"night {night}"
    assert len(photos(phone)) == 3  # the phone's folder is untouched


def test_a_sidecar_of_a_deleted_photo_stays_where_it_is(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "DSC_1.jpg", D0, seed=1)
    (inbox / "DSC_1.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    assert run("--input", inbox, "--output", library, "--copy") == 0
    for p in photos(library):
        p.unlink()  # the photo and its sidecar
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
    got = by_name(report)
    assert got["DSC_1.jpg"]["action"] == "skip-deleted"
    assert got["DSC_1.xmp"]["action"] == "ignore"
    assert "skip-deleted" in got["DSC_1.xmp"]["reason"]
    assert photos(library) == []


def test_a_second_copy_of_a_deleted_photo_in_one_run_is_skip_deleted_too(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    photo = make_jpeg(inbox / "a" / "IMG_0001.jpg", D0, seed=1)
    assert run("--input", inbox, "--output", library, "--copy") == 0
    shutil.copy2(photo, inbox / "b.jpg")
    for p in photos(library):
        p.unlink()
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
    assert Counter(r["action"] for r in report_rows(report)) == {"skip-deleted": 2}


def test_a_rebuilt_catalog_keeps_the_history(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "IMG_0001.jpg", D0, seed=1)
    make_jpeg(inbox / "IMG_0002.jpg", D0 + timedelta(minutes=1), seed=2)
    assert run("--input", inbox, "--output", library, "--copy") == 0
    next(p for p in photos(library) if p.name.endswith("IMG_0001.jpg")).unlink()
    rebuilt = main(
        ["sync", "--output", str(library), "--rebuild", "--workers", "1", "--quiet"]
        + ["--report", str(tmp_path / "s.csv")]
    )
    assert rebuilt == 0
    assert len(history(library)) == 2
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
    got = by_name(report)
    assert got["IMG_0001.jpg"]["action"] == "skip-deleted"
    assert got["IMG_0002.jpg"]["action"] == "skip-exists"


def test_a_dry_run_reads_a_catalog_of_the_older_schema(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "IMG_0001.jpg", D0, seed=1)
    assert run("--input", inbox, "--output", library, "--copy") == 0
    with sqlite3.connect(catalog_path(library)) as conn:  # as the version before wrote it
        conn.execute("DROP TABLE history")
        conn.execute("PRAGMA user_version = 1")
    make_jpeg(inbox / "IMG_0002.jpg", D0 + timedelta(minutes=1), seed=2)
    report = tmp_path / "dry.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--dryrun", "--report", report) == 0
    assert Counter(r["action"] for r in report_rows(report)) == {"skip-exists": 1, "copy": 1}
    assert run("--input", inbox, "--output", library, "--copy") == 0  # upgrades it
    with sqlite3.connect(catalog_path(library)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert len(history(library)) == 1  # the import of this run


# --- quiet, honest nights -------------------------------------------------------------------


def truncated_jpeg(path: Path, seed: int = 7) -> Path:
    """A file named like a photo whose content no reader recognises (a truncated but
    recognisable JPEG is imported, flagged damaged: it would not fail night after night)."""
    import random

    path.parent.mkdir(parents=True, exist_ok=True)
    noise = random.Random(seed).randbytes(20_000)
    path.write_bytes(b"GARBAGE" + noise)
    return path


def test_a_known_failure_is_reported_but_not_a_new_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    broken = truncated_jpeg(inbox / "broken.jpg")
    (inbox / "notes.jpg").write_bytes(b"this is not a picture at all\n" * 20)
    make_jpeg(inbox / "good.jpg", D0, seed=1)
    night1, night2 = tmp_path / "n1.csv", tmp_path / "n2.csv"
    assert run("--input", inbox, "--output", library, "--report", night1) == 1
    assert {r["status"] for r in report_rows(night1) if r["action"] == "error"} == {"failed"}
    assert "2 file(s) failed" in capsys.readouterr().err

    assert run("--input", inbox, "--output", library, "--report", night2) == 0
    got = by_name(night2)
    for name in ("broken.jpg", "notes.jpg"):
        assert (got[name]["action"], got[name]["status"]) == ("error", "known"), name
        assert got[name]["error"] == by_name(night1)[name]["error"]
    assert "Known failures (unchanged since last run)" in summary(night2)
    assert capsys.readouterr().err == ""  # cron stays quiet
    assert broken.exists()  # left where it is, every night

    # A dry run says the same.
    dry = tmp_path / "dry.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", dry) == 0
    assert by_name(dry)["broken.jpg"]["status"] == "known"

    # Changed (copied again, still broken): a new failure.
    truncated_jpeg(broken, seed=8)
    night3 = tmp_path / "n3.csv"
    assert run("--input", inbox, "--output", library, "--report", night3) == 1
    got = by_name(night3)
    assert got["broken.jpg"]["status"] == "failed" and got["notes.jpg"]["status"] == "known"


def test_failures_lists_the_known_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    broken = truncated_jpeg(inbox / "broken.jpg")
    make_jpeg(inbox / "good.jpg", D0, seed=1)
    assert run("--input", inbox, "--output", library) == 1
    capsys.readouterr()
    assert main(["failures", "--output", str(library)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "path,size,error,first_seen"
    assert len(lines) == 2 and lines[1].startswith(f"{broken},{broken.stat().st_size},")
    report = tmp_path / "failures.csv"
    assert main(["failures", "--output", str(library), "--report", str(report)]) == 0
    (row,) = report_rows(report)
    assert row["path"] == str(broken) and row["error"]
    assert row["first_seen"].startswith(date.today().isoformat())

    # Fixed by hand (replaced by a good copy): no longer a known failure.
    make_jpeg(broken, D0 + timedelta(hours=1), seed=3)
    assert main(["failures", "--output", str(library), "--report", str(report)]) == 0
    assert report_rows(report) == []


def test_retry_failed_reads_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    broken = truncated_jpeg(inbox / "broken.jpg")
    assert run("--input", inbox, "--output", library, "--copy") == 1
    main(["failures", "--output", str(library), "--report", str(tmp_path / "f1.csv")])
    (first,) = report_rows(tmp_path / "f1.csv")
    reads: list[Path] = []
    real = analyse.read_and_hash
    monkeypatch.setattr(analyse, "read_and_hash", lambda p, *a: reads.append(p) or real(p, *a))
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
    assert reads == []  # known: not read again
    assert run("--input", inbox, "--output", library, "--copy", "--retry-failed") == 1
    assert reads == [broken]  # read again, and still broken: said as a failure
    main(["failures", "--output", str(library), "--report", str(tmp_path / "f2.csv")])
    (again,) = report_rows(tmp_path / "f2.csv")
    assert again["first_seen"] == first["first_seen"]  # the same failure, first seen then


def test_a_read_error_is_never_a_known_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    flaky = make_jpeg(inbox / "flaky.jpg", D0, seed=1)
    real = analyse.read_and_hash

    def failing(path, *args):
        if path == flaky:
            raise OSError(errno.EIO, "Input/output error")
        return real(path, *args)

    monkeypatch.setattr(analyse, "read_and_hash", failing)
    for night in (1, 2):
        report = tmp_path / f"n{night}.csv"
        assert run("--input", inbox, "--output", library, "--report", report) == 1, night
        assert by_name(report)["flaky.jpg"]["status"] == "failed", night
    monkeypatch.setattr(analyse, "read_and_hash", real)  # the disk recovered
    report = tmp_path / "n3.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    assert by_name(report)["flaky.jpg"]["action"] == "move"


def test_apply_keeps_a_known_failure_known(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    truncated_jpeg(inbox / "broken.jpg")
    assert run("--input", inbox, "--output", library) == 1
    make_jpeg(inbox / "new.jpg", D0, seed=1)
    plan = tmp_path / "plan.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", plan) == 0
    assert by_name(plan)["broken.jpg"]["status"] == "known"
    applied = tmp_path / "applied.csv"
    args = ["apply", str(plan), "--output", str(library), "--report", str(applied)]
    assert main([*args, "--workers", "1", "--quiet"]) == 0
    got = by_name(applied)
    assert got["broken.jpg"]["status"] == "known" and got["new.jpg"]["status"] == "done"


def test_a_photo_edited_in_place_in_the_library_is_said_to_be_changed_not_removed(
    tmp_path: Path,
) -> None:
    """A library photo rewritten by an editor (other bytes, the same name), then synced:
    its original, imported again, is skipped (the person kept the edited one), and the
    reason says the name holds other content now, not that it was removed."""
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "IMG_0001.jpg", D0, seed=1)
    assert run("--input", inbox, "--output", library, "--copy") == 0
    (imported,) = photos(library)
    with open(imported, "ab") as f:
        f.write(b"edited")  # an editor saved it over itself
    assert sync(library, tmp_path / "sync.csv") == 0
    dry = tmp_path / "dry.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--dryrun", "--report", dry) == 0
    got = by_name(dry)["IMG_0001.jpg"]
    assert (got["action"], got["status"]) == ("skip-deleted", "planned")
    assert got["reason"] == (
        f"imported on {date.today().isoformat()} as {imported}, which holds other content now"
    )

"""The choices a careful person makes: what was deleted from the library stays deleted, and
a failure that is not new does not wake anyone up.

Real JPEGs, the real command (in-process), the report read as a person would.
"""

from __future__ import annotations

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

"""The import command end to end, with real files in tmp_path, through the CLI."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from conftest import tree_state
from media import apple_makernote, make_heic, make_jpeg, make_mov, make_mp4, make_png

from photoorganiser.cli import main
from photoorganiser.core import hashing
from photoorganiser.core.hashing import hash_file
from photoorganiser.importing import execute
from photoorganiser.importing.report import COLUMNS, read_report
from reports import rows as report_rows

D1 = datetime(2020, 1, 2, 3, 4, 5)
D2 = datetime(2021, 6, 7, 8, 9, 10)


def run(*args: str | Path, workers: int = 1) -> int:
    return main(["import", *map(str, args), "--workers", str(workers), "--quiet"])


def rows(report: Path) -> list[dict[str, str]]:
    return report_rows(report)


def by_name(report: Path) -> dict[str, dict[str, str]]:
    return {Path(r["source"]).name: r for r in rows(report)}


def photos_state(library: Path) -> dict[str, tuple[bytes, int]]:
    """The library's tree without its own bookkeeping (.photoorganiser/)."""
    return {k: v for k, v in tree_state(library).items() if not k.startswith(".photoorganiser")}


def library_files(library: Path) -> list[Path]:
    return sorted(p for p in library.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts)


def contents(paths: list[Path]) -> Counter:
    return Counter(hash_file(p) for p in paths)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default reports/ lands in tmp_path, not the repo


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """A small inbox with the usual mess: photos, a video, a duplicate, junk."""
    root = tmp_path / "inbox"
    make_jpeg(root / "phone" / "IMG_0001.JPG", D1, seed=1, make="Apple", model="iPhone 12")
    make_jpeg(root / "camera" / "IMG_0001.JPG", D2, seed=2, make="Canon", model="EOS 5D")
    make_jpeg(root / "zcopies" / "copy of first.jpg", D1, seed=1, make="Apple", model="iPhone 12")
    make_heic(root / "phone" / "IMG_0002.HEIC", D2, seed=3, make="Apple", model="iPhone 12")
    make_png(root / "screens" / "Screenshot_2019-05-21-10-45-52.png", seed=4)
    make_mp4(root / "phone" / "VID_0003.mp4", datetime(2022, 3, 4, 5, 6, 7), seed=5)
    (root / "phone" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "notes.txt").write_text("not a photo")
    return root


def test_dry_run_changes_nothing_and_reports_every_file(inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    report = tmp_path / "plan.csv"
    before_in, before_lib = tree_state(inbox), tree_state(library)

    assert run("--input", inbox, "--output", library, "--dryrun", "--report", report) == 0

    assert tree_state(inbox) == before_in
    assert tree_state(library) == before_lib
    assert not library.exists()
    assert len(rows(report)) == 8  # one row per scanned file, ignored ones included
    got = by_name(report)
    assert {r["status"] for r in got.values()} == {"planned"}
    assert got["notes.txt"]["action"] == "ignore"
    assert got[".DS_Store"]["action"] == "ignore"
    assert got["copy of first.jpg"]["action"] == "skip-duplicate"
    assert got["copy of first.jpg"]["duplicate_of"].endswith("IMG_0001.JPG")
    assert got["IMG_0002.HEIC"]["captured_at"] == "2021-06-07T08:09:10"
    assert got["IMG_0002.HEIC"]["date_source"] == "EXIF:DateTimeOriginal"
    assert list(rows(report)[0]) == COLUMNS
    assert len(read_report(report)) == 8


def test_dry_run_report_matches_the_real_run(inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    assert (
        run("--input", inbox, "--output", library, "--dryrun", "--report", tmp_path / "a.csv") == 0
    )
    assert run("--input", inbox, "--output", library, "--report", tmp_path / "b.csv") == 0
    planned, done = rows(tmp_path / "a.csv"), rows(tmp_path / "b.csv")
    strip = [(r["source"], r["action"], r["destination"], r["reason"]) for r in planned]
    assert strip == [(r["source"], r["action"], r["destination"], r["reason"]) for r in done]
    assert {r["status"] for r in done if r["action"] == "move"} == {"done"}


def test_move_puts_every_content_in_the_library_exactly_once(inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    report = tmp_path / "r.csv"
    media = [p for p in inbox.rglob("*") if p.suffix.lower() in (".jpg", ".heic", ".png", ".mp4")]
    wanted = set(contents(media))

    assert run("--input", inbox, "--output", library, "--report", report) == 0

    in_library = contents(library_files(library))
    assert set(in_library) == wanted
    assert all(n == 1 for n in in_library.values())
    # The inbox holds exactly what the report says was left.
    left = {Path(r["source"]) for r in rows(report) if r["action"] not in ("move", "copy")}
    remaining = {p for p in inbox.rglob("*") if p.is_file()}
    assert remaining == left
    got = by_name(report)
    dest = Path(got["IMG_0002.HEIC"]["destination"])
    assert dest.relative_to(library).as_posix() == "2021/06/20210607_080910_IMG_0002.heic"
    assert dest.exists()
    # Screenshots with no EXIF take the date in their name; the video its QuickTime date.
    assert got["Screenshot_2019-05-21-10-45-52.png"]["date_source"] == "filename"
    assert "/2019/05/20190521_104552_" in got["Screenshot_2019-05-21-10-45-52.png"]["destination"]
    assert got["VID_0003.mp4"]["date_source"].startswith("QuickTime:")


def test_moved_files_keep_their_mtime(tmp_path: Path) -> None:
    src = make_jpeg(tmp_path / "in" / "a.jpg", D1, seed=7)
    os.utime(src, ns=(1_500_000_000_000_000_000, 1_500_000_000_123_456_789))
    library = tmp_path / "lib"
    assert run("--input", tmp_path / "in", "--output", library, "--copy") == 0
    (copied,) = library_files(library)
    assert copied.stat().st_mtime_ns == 1_500_000_000_123_456_789


def test_second_run_imports_nothing(inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    assert run("--input", inbox, "--output", library, "--copy", "--report", tmp_path / "1.csv") == 0
    first = photos_state(library)
    assert run("--input", inbox, "--output", library, "--copy", "--report", tmp_path / "2.csv") == 0
    assert photos_state(library) == first
    actions = Counter(r["action"] for r in rows(tmp_path / "2.csv"))
    assert actions["copy"] == 0
    assert actions["skip-exists"] == 6  # the in-run twin is in the library too
    for r in rows(tmp_path / "2.csv"):
        if r["action"] == "skip-exists":
            assert Path(r["duplicate_of"]).is_relative_to(library)


def test_files_put_back_in_the_inbox_are_not_imported_twice(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "a.jpg", D1, seed=1)
    assert run("--input", inbox, "--output", library) == 0
    (imported,) = library_files(library)
    (inbox / "again.jpg").write_bytes(imported.read_bytes())  # same content, other name
    make_jpeg(inbox / "a.jpg", D1, seed=1)  # same name, same content
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    got = by_name(report)
    assert got["a.jpg"]["action"] == "skip-exists"
    assert got["a.jpg"]["duplicate_of"] == str(imported)
    assert by_name(report)["again.jpg"]["action"] == "skip-exists"  # found by content anywhere
    assert by_name(report)["again.jpg"]["duplicate_of"] == str(imported)
    assert len(library_files(library)) == 1
    assert (inbox / "a.jpg").exists()


def test_two_photos_of_the_same_second_both_survive(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "a" / "IMG_0001.JPG", D1, seed=1)
    make_jpeg(inbox / "b" / "IMG_0001.JPG", D1, seed=2)
    make_jpeg(inbox / "c" / "img_0001.jpg", D1, seed=3)  # differs only by case
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    names = sorted(p.name for p in library_files(library))
    assert names == [
        "20200102_030405_IMG_0001.jpg",
        "20200102_030405_IMG_0001_1.jpg",
        "20200102_030405_img_0001_2.jpg",
    ]
    assert len(contents(library_files(library))) == 3
    assert "numbered _1" in by_name_path(report, "b")["reason"]


def by_name_path(report: Path, folder: str) -> dict[str, str]:
    return next(r for r in rows(report) if Path(r["source"]).parent.name == folder)


def test_same_name_different_content_in_two_folders_both_survive(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "2019" / "IMG_0001.JPG", D1, seed=1)
    make_jpeg(inbox / "2020" / "IMG_0001.JPG", D2, seed=2)
    assert run("--input", inbox, "--output", library) == 0
    assert len(library_files(library)) == 2
    assert not any(inbox.rglob("*.JPG"))


def test_plan_is_stable_across_runs(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    for i, folder in enumerate("dcba"):
        make_jpeg(inbox / folder / "IMG.jpg", D1, seed=i)
    plans = []
    for n in range(2):
        report = tmp_path / f"{n}.csv"
        assert run("--input", inbox, "--output", library, "--dryrun", "--report", report) == 0
        plans.append([(r["source"], r["destination"]) for r in rows(report)])
    assert plans[0] == plans[1]
    assert plans[0][0][1].endswith("_IMG.jpg")  # folder a, first by source path, unnumbered


def test_identical_file_in_two_folders_is_imported_once(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "x" / "one.jpg", D1, seed=9)
    make_jpeg(inbox / "y" / "two.jpg", D1, seed=9)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    assert len(library_files(library)) == 1
    got = by_name(report)
    assert got["one.jpg"]["action"] == "move"
    assert got["two.jpg"]["action"] == "skip-duplicate"
    assert got["two.jpg"]["duplicate_of"] == str(inbox / "x" / "one.jpg")
    assert (inbox / "y" / "two.jpg").exists()  # a duplicate is reported, never deleted


def test_bad_files_give_error_rows_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "good.jpg", D1, seed=1)
    (inbox / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 3)
    (inbox / "empty.jpg").write_bytes(b"")
    locked = make_jpeg(inbox / "locked.jpg", D2, seed=2)
    if os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads anything: make the read fail the way a permission problem does
        real_open = open

        def refusing_open(path, *args, **kwargs):
            if Path(path) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(hashing, "open", refusing_open, raising=False)
        real_os_open = os.open  # the analysis opens by os.open (hashing.open_scanned)

        def refusing_os_open(path, *args, **kwargs):
            if isinstance(path, (str, Path)) and Path(path) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_os_open(path, *args, **kwargs)

        monkeypatch.setattr(hashing.os, "open", refusing_os_open)
    report = tmp_path / "r.csv"
    try:
        assert run("--input", inbox, "--output", library, "--report", report) == 1
    finally:
        locked.chmod(0o644)
    got = by_name(report)
    assert got["good.jpg"]["action"] == "move" and got["good.jpg"]["status"] == "done"
    for name in ("corrupt.jpg", "locked.jpg"):
        assert got[name]["action"] == "error", name
        assert got[name]["status"] == "failed"
        assert got[name]["error"], name
        assert (inbox / name).exists(), name
    # an empty file holds nothing to keep: ignored, not an error, and left where it is
    assert got["empty.jpg"]["action"] == "ignore" and "no content" in got["empty.jpg"]["reason"]
    assert (inbox / "empty.jpg").exists()
    assert "ermission denied" in got["locked.jpg"]["error"]
    assert len(library_files(library)) == 1


def test_worker_pool_gives_the_same_plan_as_in_process(inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib"
    reports = []
    for workers in (1, 2):
        report = tmp_path / f"w{workers}.csv"
        code = run(
            "--input", inbox, "--output", library, "--dryrun", "--report", report, workers=workers
        )
        assert code == 0
        reports.append(
            [(r["source"], r["action"], r["destination"], r["hash"]) for r in rows(report)]
        )
    assert reports[0] == reports[1]


def test_library_inside_the_input_is_not_scanned(tmp_path: Path) -> None:
    inbox = tmp_path / "photos"
    library = inbox / "Library"
    make_jpeg(library / "2020" / "01" / "old.jpg", D1, seed=1)
    make_jpeg(inbox / "new.jpg", D2, seed=2)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    got = by_name(report)
    assert "old.jpg" not in got
    assert got["Library"]["action"] == "ignore"
    assert (library / "2020" / "01" / "old.jpg").exists()


def test_hidden_system_and_symlinked_files_are_ignored_with_a_reason(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    make_jpeg(inbox / "real.jpg", D1, seed=1)
    (inbox / "Thumbs.db").write_bytes(b"x")
    (inbox / "._real.jpg").write_bytes(b"x")
    (inbox / "link.jpg").symlink_to(inbox / "real.jpg")
    make_jpeg(inbox / "@eaDir" / "thumb.jpg", D1, seed=2)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", tmp_path / "lib", "--report", report) == 0
    got = by_name(report)
    assert got["Thumbs.db"]["reason"] == "system file"
    assert "resource fork" in got["._real.jpg"]["reason"]
    assert "symbolic link" in got["link.jpg"]["reason"]
    assert "system folder" in got["@eaDir"]["reason"]
    assert (inbox / "link.jpg").is_symlink()


def test_no_mtime_files_undatable_photos_under_undated(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_png(inbox / "holiday.png", seed=1)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--no-mtime", "--report", report) == 0
    assert (library / "undated" / "holiday.png").exists()
    assert "undated" in by_name(report)["holiday.png"]["reason"]


def test_mtime_is_the_last_resort_and_says_so(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    png = make_png(inbox / "holiday.png", seed=1)
    os.utime(png, (1_600_000_000, 1_600_000_000))
    report = tmp_path / "r.csv"
    code = run(
        "--input",
        inbox,
        "--output",
        tmp_path / "lib",
        "--dryrun",
        "--report",
        report,
        "--timezone",
        "UTC",
    )
    assert code == 0
    row = by_name(report)["holiday.png"]
    assert row["date_source"] == "mtime"
    assert row["captured_at"] == "2020-09-13T12:26:40+00:00"
    assert "modification time" in row["reason"]


def test_template_values_are_sanitised(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "a.jpg", D1, seed=1, make="../../etc", model="EOS/5D\x07 Mark II")
    report = tmp_path / "r.csv"
    assert (
        run(
            "--input",
            inbox,
            "--output",
            library,
            "--report",
            report,
            "--template",
            "{make}/{model}/{stem}{ext}",
        )
        == 0
    )
    (dest,) = library_files(library)
    rel = dest.relative_to(library)
    assert rel.parts == ("_._etc", "EOS_5D_ Mark II", "a.jpg")


def test_live_photo_and_sidecars_travel_together(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_heic(inbox / "IMG_7943.HEIC", datetime(2026, 3, 23, 15, 57, 20), seed=1)
    # The video's own date differs by a second (its UTC date, a zone away): the still
    # decides the name. (Months apart, they would be two recordings: tests/test_pairs.py.)
    make_mov(inbox / "IMG_7943.MOV", datetime(2026, 3, 23, 14, 57, 21), seed=2)
    make_jpeg(inbox / "DSC_1.JPG", D1, seed=3)
    (inbox / "DSC_1.JPG.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    (inbox / "DSC_1.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'></x:xmpmeta>")
    (inbox / "orphan.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    got = by_name(report)
    heic, mov = Path(got["IMG_7943.HEIC"]["destination"]), Path(got["IMG_7943.MOV"]["destination"])
    assert heic.stem == mov.stem and heic.parent == mov.parent
    assert heic.name == "20260323_155720_IMG_7943.heic"
    assert got["IMG_7943.MOV"]["follows"] == str(inbox / "IMG_7943.HEIC")
    jpg = Path(got["DSC_1.JPG"]["destination"])
    assert Path(got["DSC_1.JPG.xmp"]["destination"]) == jpg.with_name(jpg.name + ".xmp")
    assert Path(got["DSC_1.xmp"]["destination"]) == jpg.with_suffix(".xmp")
    assert got["DSC_1.xmp"]["follows"] == str(inbox / "DSC_1.JPG")
    for name in ("IMG_7943.MOV", "DSC_1.JPG.xmp", "DSC_1.xmp"):
        assert Path(got[name]["destination"]).exists(), name
    assert got["orphan.xmp"]["action"] == "ignore"
    assert (inbox / "orphan.xmp").exists()


def test_of_two_copies_the_one_with_its_sidecar_is_imported_with_it(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "a" / "P1.jpg", D1, seed=1)
    make_jpeg(inbox / "b" / "P1.jpg", D1, seed=1)  # same content; this one has the edits
    (inbox / "b" / "P1.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    got = {r["source"]: r for r in rows(report)}
    assert got[str(inbox / "b" / "P1.jpg")]["action"] == "move"
    assert got[str(inbox / "b" / "P1.jpg.xmp")]["action"] == "move"
    skipped = got[str(inbox / "a" / "P1.jpg")]
    assert skipped["action"] == "skip-duplicate" and "with its sidecars" in skipped["reason"]
    assert not (inbox / "b" / "P1.jpg.xmp").exists()


def test_legacy_import_script_with_original_flags(inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib"
    before = tree_state(inbox)
    script = Path(sys.executable).with_name("import.py")
    cmd = (
        [str(script)]
        if script.exists()
        else [
            sys.executable,
            "-c",
            "import sys; from photoorganiser.cli import legacy_import_main as m; sys.exit(m())",
        ]
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    dry = subprocess.run(
        [
            *cmd,
            "--input",
            str(inbox),
            "--output",
            str(library),
            "--dryrun",
            "true",
            "--debug",
            "false",
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert dry.returncode == 0, dry.stderr
    assert tree_state(inbox) == before
    assert dry.stdout.strip().splitlines()[-1].startswith("Report: ")
    report = Path(dry.stdout.strip().splitlines()[-1].removeprefix("Report: "))
    assert report.exists() and report.parent == tmp_path / "reports"
    assert report.with_suffix(".summary.txt").exists()
    real = subprocess.run(
        [*cmd, "--input", str(inbox), "--output", str(library), "--dryrun", "false"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert real.returncode == 0, real.stderr
    assert len(library_files(library)) == 5
    module = subprocess.run(
        [
            sys.executable,
            "-m",
            "photoorganiser",
            "import",
            "--input",
            str(inbox),
            "--output",
            str(library),
            "--dryrun",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert module.returncode == 0, module.stderr
    assert "Already in the library" in module.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "{tmp}/missing", "--output", "{tmp}/lib"], "does not exist"),
        (["--input", "{tmp}/in", "--output", "{tmp}/file.txt"], "is a file"),
        (["--input", "{tmp}/in", "--output", "{tmp}/file.txt/lib"], "inside a file"),
        (["--input", "{tmp}/in", "--output", "{tmp}/in/.."], "inside the library"),
        (
            ["--input", "{tmp}/in", "--output", "{tmp}/lib", "--template", "{nope}.jpg"],
            "unknown field",
        ),
        (["--input", "{tmp}/in", "--output", "{tmp}/lib", "--template", "../{stem}{ext}"], "'..'"),
        (["--input", "{tmp}/in", "--output", "{tmp}/lib", "--timezone", "Mars/Base"], "time zone"),
        (["--input", "{tmp}/in", "--output", "{tmp}/lib", "--dryrun", "maybe"], "true or false"),
        (["--output", "{tmp}/lib"], "--input"),
    ],
)
def test_bad_usage_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SystemExit) as exc_info:
        raise SystemExit(main(["import", *(a.replace("{tmp}", str(tmp_path)) for a in args)]))
    assert exc_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# --- execute: never overwrite, verify, survive a full disk ------------------------------


def _plan_one(tmp_path: Path, mode: str = "--move") -> tuple[Path, Path, Path]:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    src = make_jpeg(inbox / "a.jpg", D1, seed=1)
    report = tmp_path / "plan.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", report, mode) == 0
    return src, Path(rows(report)[0]["destination"]), library


def test_a_name_taken_after_planning_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    src = make_jpeg(inbox / "a.jpg", D1, seed=1)
    intruder = library / "2020" / "01" / "20200102_030405_a.jpg"
    real_make_folders = execute.make_folders

    def make_folders_then_race(path, *args, **kwargs):  # someone writes the name meanwhile
        real_make_folders(path, *args, **kwargs)
        if Path(path) == intruder.parent and not intruder.exists():
            intruder.write_bytes(b"someone else's file")

    monkeypatch.setattr(execute, "make_folders", make_folders_then_race)
    for mode in ("--move", "--copy"):
        report = tmp_path / f"r{mode}.csv"
        assert run("--input", inbox, "--output", library, "--report", report, mode) == 1
        (row,) = rows(report)
        assert row["status"] == "failed" and "already exists" in row["error"]
        assert intruder.read_bytes() == b"someone else's file"
        assert src.exists()
        assert not [p for p in intruder.parent.iterdir() if execute.TEMP_MARK in p.name]
        intruder.unlink()


def test_move_across_file_systems_copies_verifies_then_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "_move_in_place", lambda *a: False)  # another disk
    inbox, library = tmp_path / "in", tmp_path / "lib"
    src = make_jpeg(inbox / "a.jpg", D1, seed=1)
    os.utime(src, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_007))
    content = src.read_bytes()
    assert run("--input", inbox, "--output", library) == 0
    (dest,) = library_files(library)
    assert dest.read_bytes() == content
    assert dest.stat().st_mtime_ns == 1_600_000_000_000_000_007
    assert not src.exists()


def test_a_copy_that_does_not_verify_keeps_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "_move_in_place", lambda *a: False)  # another disk
    monkeypatch.setattr(execute, "hash_file", lambda p: "0" * 32)  # the read-back differs
    inbox, library = tmp_path / "in", tmp_path / "lib"
    src = make_jpeg(inbox / "a.jpg", D1, seed=1)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    (row,) = rows(report)
    assert "does not match" in row["error"]
    assert src.exists()
    assert library_files(library) == []
    assert not [p for p in library.rglob("*.jpg*") if p.is_file()]  # no temporary file left


def test_disk_full_leaves_no_partial_file_and_keeps_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "_move_in_place", lambda *a: False)  # another disk

    real_write = os.write
    inbox, library = tmp_path / "in", tmp_path / "lib"

    def full(fd, data):  # the library's disk is full; the report's is not
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(library)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(execute.os, "write", full)
    src = make_jpeg(inbox / "a.jpg", D1, seed=1)
    make_jpeg(inbox / "b.jpg", D2, seed=2)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    assert all("no space left" in r["error"] for r in rows(report))
    assert src.exists() and (inbox / "b.jpg").exists()
    assert not [p for p in library.rglob("*.jpg*") if p.is_file()]


def test_a_source_changed_after_planning_is_left_alone(tmp_path: Path) -> None:
    from photoorganiser.core.values import Status, TransferMode
    from photoorganiser.importing.collisions import resolve
    from photoorganiser.importing.paths import DEFAULT_TEMPLATE, parse_template
    from photoorganiser.importing.plan import PlanOptions, plan
    from photoorganiser.library.index import DiskLibrary
    from photoorganiser.media.analyse import AnalyseOptions, analyse_entry
    from photoorganiser.media.scan import scan

    inbox, library = tmp_path / "in", tmp_path / "lib"
    src = make_jpeg(inbox / "a.jpg", D1, seed=1)
    entries = list(scan([inbox]))
    results = [analyse_entry(e, AnalyseOptions()) for e in entries]
    options = PlanOptions(library, parse_template(DEFAULT_TEMPLATE), TransferMode.MOVE)
    decisions = resolve(plan(results, options), DiskLibrary(library))
    with open(src, "ab") as f:
        f.write(b"appended by a sync client")
    (outcome,) = execute.execute(decisions)
    assert outcome.status is Status.LATER and "changed since" in outcome.error  # next run
    assert src.exists() and library_files(library) == []


# --- the real corpus ------------------------------------------------------------------


def test_dry_run_over_the_real_corpus(corpus: Path, tmp_path: Path) -> None:
    report = tmp_path / "corpus.csv"
    before = sum(1 for p in corpus.rglob("*") if p.is_file())
    code = run(
        "--input", corpus, "--output", tmp_path / "lib", "--dryrun", "--report", report, workers=2
    )
    assert code in (0, 1)  # the corpus holds broken files on purpose
    got = rows(report)
    assert len(got) == before
    assert len({r["source"] for r in got}) == before
    assert not (tmp_path / "lib").exists()
    actions = Counter(r["action"] for r in got)
    assert actions["move"] > 300
    for r in got:
        if r["action"] == "error":
            assert r["error"] and "Traceback" not in r["error"], r


def test_sidecar_dates_date_media_that_has_none(tmp_path: Path) -> None:
    import json

    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_mp4(inbox / "MVI_0001.mp4", None, seed=1)  # zero QuickTime dates
    make_jpeg(inbox / "MVI_0001.THM", datetime(2009, 8, 7, 6, 5, 4), seed=2, make="Canon")
    make_jpeg(inbox / "takeout.jpg", seed=3)  # no EXIF; Takeout knows when it was taken
    taken = {"photoTakenTime": {"timestamp": "1262347200", "formatted": "1 Jan 2010, 12:00:00 UTC"}}
    (inbox / "takeout.jpg.json").write_text(json.dumps(taken))
    make_jpeg(inbox / "quirk(1).jpg", seed=4)
    (inbox / "quirk.jpg(1).json").write_text(json.dumps(taken))
    make_png(inbox / "scan.png", seed=5)
    (inbox / "scan.png.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
        'syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        'exif:DateTimeOriginal="1998-07-06T05:04:03"/></rdf:RDF></x:xmpmeta>'
    )
    report = tmp_path / "r.csv"
    code = run("--input", inbox, "--output", library, "--report", report, "--timezone", "UTC")
    assert code == 0
    got = by_name(report)
    assert got["MVI_0001.mp4"]["date_source"] == "THM:DateTimeOriginal"
    assert got["MVI_0001.mp4"]["captured_at"] == "2009-08-07T06:05:04"
    assert (
        Path(got["MVI_0001.THM"]["destination"]).stem
        == Path(got["MVI_0001.mp4"]["destination"]).stem
    )
    assert got["takeout.jpg"]["date_source"] == "Takeout:photoTakenTime"
    assert got["takeout.jpg"]["captured_at"] == "2010-01-01T12:00:00+00:00"
    assert got["quirk(1).jpg"]["date_source"] == "Takeout:photoTakenTime"
    assert got["quirk.jpg(1).json"]["follows"] == str(inbox / "quirk(1).jpg")
    assert got["scan.png"]["date_source"] == "XMP-sidecar:DateTimeOriginal"
    assert "/1998/07/19980706_050403_scan.png" in got["scan.png"]["destination"]
    assert Path(got["scan.png.xmp"]["destination"]).name == "19980706_050403_scan.png.xmp"
    # the catalog keeps those dates when sync reads the files again, or finds them moved
    # (the file alone says only its name's date, or its modification time)
    import sqlite3

    from photoorganiser.library.catalog import catalog_path

    def dates() -> dict[str, tuple[str, str]]:
        with sqlite3.connect(catalog_path(library)) as conn:
            rows = conn.execute("SELECT path, captured_at, date_source FROM files")
            return {Path(p).name: (c, s) for p, c, s in rows if not p.endswith((".THM", ".json"))}

    before = dates()
    assert {s for _, s in before.values()} >= {
        "XMP-sidecar:DateTimeOriginal",
        "THM:DateTimeOriginal",
    }
    assert main(["sync", "--output", str(library), "--reread", "--quiet",
                 "--report", str(tmp_path / "s1.csv")]) == 0  # fmt: skip
    assert dates() == before
    moved = library / "moved"
    moved.mkdir()
    for name in ("scan.png", "takeout.jpg"):
        (placed,) = library.rglob(f"*_{name}")
        placed.rename(moved / placed.name)
    assert main(["sync", "--output", str(library), "--quiet",
                 "--report", str(tmp_path / "s2.csv")]) == 0  # fmt: skip
    assert dates() == before


def test_ctrl_c_still_writes_a_report_of_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    for i in range(4):
        make_jpeg(inbox / f"p{i}.jpg", D1, seed=i)
    real_transfer, calls = execute.transfer, []

    def interrupted_on_the_second(d, *args):
        calls.append(d)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_transfer(d, *args)

    monkeypatch.setattr(execute, "transfer", interrupted_on_the_second)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 130
    got = rows(report)
    assert len(got) == 4
    assert [r["status"] for r in got] == ["done", "not-done", "not-done", "not-done"]
    assert all("interrupted" in r["error"] for r in got[1:])
    assert len(library_files(library)) == 1
    assert sorted(p.name for p in inbox.iterdir()) == ["p1.jpg", "p2.jpg", "p3.jpg"]


def test_a_photo_with_corrupt_exif_is_imported_with_a_note(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    data = bytearray(make_jpeg(tmp_path / "src.jpg", D1, seed=1).read_bytes())
    at = data.find(b"Exif\0\0")
    data[at + 6 : at + 8] = b"XX"  # the TIFF byte-order mark is gone: EXIF unreadable
    (inbox).mkdir()
    (inbox / "IMG_20190304_050607.jpg").write_bytes(bytes(data))
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    (row,) = rows(report)
    assert row["action"] == "move" and row["status"] == "done"
    assert row["date_source"] == "filename" and row["captured_at"] == "2019-03-04T05:06:07"
    assert "note: corrupt EXIF block" in row["reason"]


def test_a_real_iphone_live_photo_stays_together(corpus: Path, tmp_path: Path) -> None:
    folder = corpus / "pigallery2" / "live_photo"  # IMG_7943.HEIC + IMG_7943_HEVC.MOV
    report = tmp_path / "live.csv"
    assert run("--input", folder, "--output", tmp_path / "lib", "--dryrun", "--report", report) == 0
    got = by_name(report)
    still, video = got["IMG_7943.HEIC"], got["IMG_7943_HEVC.MOV"]
    assert video["follows"] == still["source"]
    assert Path(video["destination"]) == Path(still["destination"]).with_suffix(".mov")
    assert "/2026/03/20260323_155720_" in still["destination"]  # the still's day, not May's


def test_live_photos_renamed_apart_stay_together_by_apples_identifier(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    uuid = "9B539AB8-A668-4FA6-9207-EB653A5E7E3C"
    when = datetime(2023, 8, 1, 9, 30, 0)
    make_heic(inbox / "phone" / "IMG_1234 (1).HEIC", when, seed=1, makernote=apple_makernote(uuid))
    make_mov(
        inbox / "phone" / "IMG_1234.MOV",
        datetime(2023, 8, 2, 7, 0),
        seed=2,
        apple_keys={"com.apple.quicktime.content.identifier": uuid},
    )
    make_mov(inbox / "phone" / "IMG_1234 (1).MOV", datetime(2023, 8, 3, 7, 0), seed=3)  # another
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--dryrun", "--report", report) == 0
    got = by_name(report)
    still, video = got["IMG_1234 (1).HEIC"], got["IMG_1234.MOV"]
    assert video["follows"] == still["source"]
    assert Path(video["destination"]) == Path(still["destination"]).with_suffix(".mov")
    assert got["IMG_1234 (1).MOV"]["follows"] == ""  # same stem as the still, but not its video

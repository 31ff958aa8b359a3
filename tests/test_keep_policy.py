"""find-duplicates keeps what a careful person keeps (core/keeper.py), and compares a
drive with the library (--library, --unique): real files, through the command line.

Each rule's test is built so that the old policy (shortest path first) keeps the other
copy: the copy sits in the shorter path, and where it matters it is the older one too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from media import make_jpeg, rot
from PIL import Image

from photoorganiser import cli
from photoorganiser.core import keeper
from photoorganiser.duplicates import exact
from photoorganiser.duplicates import find as find_module
from photoorganiser.duplicates import report as dupreport
from photoorganiser.duplicates.find import find_duplicates
from photoorganiser.duplicates.report import ReportRow
from photoorganiser.duplicates.values import FindOptions, Kind

OLD, NEW = 1_000_000_000 * 10**9, 1_500_000_000 * 10**9  # mtimes (2001, 2017), in ns


def copy(src: Path, dst: Path, mtime_ns: int | None = None) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    if mtime_ns is not None:
        os.utime(dst, ns=(mtime_ns, mtime_ns))
    return dst


def touch(path: Path, mtime_ns: int) -> Path:
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def run(tmp_path: Path, *args: str) -> tuple[int, list[ReportRow]]:
    report = tmp_path / "report.csv"
    status = cli.main(
        ["find-duplicates", *args, "--report", str(report), "--workers", "1", "--quiet"]
    )
    return status, dupreport.read_report(report) if report.exists() else []


def kept(rows: list[ReportRow]) -> dict[int, ReportRow]:
    """group id -> its keep row (exactly one per group)."""
    out: dict[int, ReportRow] = {}
    for r in rows:
        if r.keep and r.kind in (Kind.EXACT, Kind.SIMILAR):
            assert r.group_id not in out, f"two keepers in group {r.group_id}"
            out[r.group_id] = r
    assert set(out) == {r.group_id for r in rows if r.kind in (Kind.EXACT, Kind.SIMILAR)}
    return out


def rel(row: ReportRow, root: Path) -> str:
    return str(Path(row.path).relative_to(os.path.realpath(root)))


# --- exact groups: core/keeper.py's rules ----------------------------------------------


def test_the_name_without_a_copy_marker_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "in"
    photo = make_jpeg(root / "Pictures" / "2004 Christmas" / "IMG_0001.JPG", seed=1)
    touch(photo, NEW)
    # The copy: a shorter path, first by name, and older: only its name gives it away.
    copy(photo, root / "Desktop" / "New folder" / "IMG_0001 (1).JPG", OLD)
    status, rows = run(tmp_path, "--input", str(root))
    assert status == 0
    (keep,) = kept(rows).values()
    assert rel(keep, root) == "Pictures/2004 Christmas/IMG_0001.JPG"
    assert keep.reason == "keep: the name without a copy marker"
    other = next(r for r in rows if not r.keep)
    assert other.reason == f"same content as {keep.path}"


def test_the_copy_marker_underscore_copy(tmp_path: Path) -> None:
    root = tmp_path / "in"
    photo = make_jpeg(root / "Photos from 2005" / "DSCN0010.JPG", seed=2)
    copy(photo, root / "a" / "DSCN0010_copy.JPG")
    _, rows = run(tmp_path, "--input", str(root))
    (keep,) = kept(rows).values()
    assert rel(keep, root) == "Photos from 2005/DSCN0010.JPG"
    assert keep.reason == "keep: the name without a copy marker"


@pytest.mark.parametrize(
    "media, sidecar",
    [
        ("IMG_0002.JPG", "IMG_0002.AAE"),
        ("IMG_0002.JPG", "img_0002.aae"),  # any case
        ("IMG_0002.JPG", "IMG_0002.xmp"),
        ("IMG_0002.JPG", "IMG_0002.JPG.xmp"),
        ("IMG_0002.JPG", "IMG_0002.JPG.json"),
        ("IMG_0002.JPG", "IMG_0002.THM"),
        ("IMG_0002(1).JPG", "IMG_0002.JPG(1).json"),  # Google Takeout's own way
    ],
)
def test_the_copy_with_its_sidecar_is_kept(tmp_path: Path, media: str, sidecar: str) -> None:
    root = tmp_path / "in"
    original = make_jpeg(root / "Pictures" / "iPhone" / media, seed=3)
    touch(original, NEW)
    (original.parent / sidecar).write_text("<edits/>")
    copy(original, root / "x" / media, OLD)  # shorter path, older, no sidecar
    _, rows = run(tmp_path, "--input", str(root))
    (keep,) = kept(rows).values()
    assert rel(keep, root) == f"Pictures/iPhone/{media}"
    assert keep.reason == "keep: the copy with its sidecars beside it (1)"


def test_the_oldest_copy_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "in"
    first = make_jpeg(root / "a" / "photo.jpg", seed=4)
    touch(first, NEW)
    copy(first, root / "b" / "photo.jpg", OLD)  # same length, later by name, older
    _, rows = run(tmp_path, "--input", str(root))
    (keep,) = kept(rows).values()
    assert rel(keep, root) == "b/photo.jpg"
    assert keep.reason.startswith("keep: the oldest modification time (2001-09-")


def test_prefer_wins_over_names_and_sidecars(tmp_path: Path) -> None:
    root = tmp_path / "in"
    photo = make_jpeg(root / "Pictures" / "IMG_0003.JPG", seed=5)
    (root / "Pictures" / "IMG_0003.AAE").write_text("<edits/>")
    copy(photo, root / "Best" / "IMG_0003 - Copy.JPG")
    _, rows = run(tmp_path, "--input", str(root), "--prefer", str(root / "Best"))
    (keep,) = kept(rows).values()
    assert rel(keep, root) == "Best/IMG_0003 - Copy.JPG"
    assert keep.reason == f"keep: in preferred folder {os.path.realpath(root / 'Best')}"


def test_prefer_through_a_link_still_counts(tmp_path: Path) -> None:
    """The scan names files by their real path: --prefer is compared the same way."""
    real = tmp_path / "real"
    photo = make_jpeg(real / "long folder name" / "photo.jpg", seed=6)
    copy(photo, real / "b" / "photo.jpg")
    (tmp_path / "link").symlink_to(real)
    link = tmp_path / "link"
    _, rows = run(tmp_path, "--input", str(link), "--prefer", str(link / "long folder name"))
    (keep,) = kept(rows).values()
    assert rel(keep, real) == "long folder name/photo.jpg"


def test_the_rules_in_the_order_of_core_keeper() -> None:
    """Sidecar names as core.keeper.sidecar_names gives them (case folded)."""
    assert keeper.sidecar_names("IMG_1.JPG") >= {
        "img_1.xmp", "img_1.jpg.xmp", "img_1.aae", "img_1.thm", "img_1.jpg.json"
    }  # fmt: skip
    assert "img_1.jpg(1).json" in keeper.sidecar_names("IMG_1(1).jpg")
    assert "img_2.aae" not in keeper.sidecar_names("IMG_1.JPG")


# --- a library among the inputs, and --library ------------------------------------------


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A real library (imported, with its catalog) of three photos."""
    src = tmp_path / "src"
    for seed, date in ((11, "2004:12:24 18:30:05"), (12, "2005:01:01 00:00:01"), (13, None)):
        make_jpeg(src / f"IMG_{seed}.JPG", date, seed=seed)
    lib = tmp_path / "Library"
    status = cli.main(
        ["import", "--input", str(src), "--output", str(lib), "--quiet", "--workers", "1",
         "--report-dir", str(tmp_path / "reports")]
    )  # fmt: skip
    assert status == 0
    assert (lib / ".photoorganiser" / "catalog.sqlite").is_file()
    return lib


def library_files(lib: Path) -> list[Path]:
    found = (p for p in lib.rglob("*") if p.suffix.lower() == ".jpg")
    return sorted(p for p in found if ".photoorganiser" not in p.parts)


def state(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` (the library's own folder too) with size and mtime."""
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def inbox(tmp_path: Path, library: Path) -> Path:
    """Copies of every library photo in an inbox, each looking like the better copy to
    the old policy (short path, older), plus one photo the library lacks."""
    box = tmp_path / "in"
    for n, photo in enumerate(library_files(library)):
        copy(photo, box / f"{n}.JPG", OLD)
    copy(library_files(library)[0], box / "sub" / "again.JPG", OLD)
    make_jpeg(box / "new.JPG", seed=99)
    return box


def test_the_library_copy_is_kept_when_the_library_is_an_input(
    tmp_path: Path, library: Path, inbox: Path
) -> None:
    status, rows = run(tmp_path, "--input", str(library), "--input", str(inbox))
    assert status == 0
    keeps = kept(rows)
    assert len(keeps) == 3
    for keep in keeps.values():  # every group
        assert Path(keep.path).is_relative_to(os.path.realpath(library))
        assert keep.reason == "keep: the library's own copy"


def test_library_option_reports_the_inputs_against_the_library(
    tmp_path: Path, library: Path, inbox: Path
) -> None:
    before = state(library)
    status, rows = run(tmp_path, "--library", str(library), "--input", str(inbox))
    assert status == 0
    assert state(library) == before  # no catalog write, no lock file, nothing
    keeps = kept(rows)
    assert len(keeps) == 3
    lib = os.path.realpath(library)
    for group, keep in keeps.items():
        assert Path(keep.path).is_relative_to(lib)
        for r in rows:
            if r.group_id == group and not r.keep:
                assert r.reason == f"already in the library: same content as {keep.path}"
    assert not any(r.path.endswith("new.JPG") for r in rows)


def test_unique_lists_what_the_library_lacks(
    tmp_path: Path, library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive = tmp_path / "OLD DRIVE"
    photos = library_files(library)
    copy(photos[0], drive / "DCIM" / "100CANON" / "IMG_0001.JPG")  # other names, folders
    copy(photos[1], drive / "Backup 2005" / "holiday.JPG")
    make_jpeg(drive / "DCIM" / "100CANON" / "IMG_0002.JPG", seed=77)  # not in the library
    before = state(library)
    report = tmp_path / "in-library.csv"
    args = ["find-duplicates", "--library", str(library), "--input", str(drive), "--workers", "1"]
    assert cli.main([*args, "--report", str(report)]) == 0
    rows = dupreport.read_report(report)
    keeps = kept(rows)
    assert len(keeps) == 2
    lib = os.path.realpath(library)
    assert all(Path(k.path).is_relative_to(lib) for k in keeps.values())
    on_drive = sorted(rel(r, drive) for r in rows if not r.keep)
    assert on_drive == ["Backup 2005/holiday.JPG", "DCIM/100CANON/IMG_0001.JPG"]
    capsys.readouterr()

    unique = tmp_path / "unique.csv"
    assert cli.main([*args, "--unique", "--report", str(unique)]) == 0
    (row,) = dupreport.read_report(unique)
    assert row.kind is Kind.UNIQUE and row.keep is True
    assert rel(row, drive) == "DCIM/100CANON/IMG_0002.JPG"
    assert row.reason == f"not in the library {lib}: no file there has the same content"
    out = capsys.readouterr().out
    assert f"1 file of {os.path.realpath(drive)} is not in the library" in out
    assert state(library) == before


def copied_to_a_drive(library: Path, tmp_path: Path) -> Path:
    """An old drive holding a copy of each of the library's photos, under other names."""
    drive = tmp_path / "drive"
    for n, photo in enumerate(library_files(library)):
        copy(photo, drive / f"{n}.jpg")
    return drive


def unique(library: Path, drive: Path, report: Path) -> int:
    return cli.main(
        ["find-duplicates", "--library", str(library), "--input", str(drive), "--unique",
         "--report", str(report), "--workers", "1"]
    )  # fmt: skip


def test_unique_when_everything_is_in_the_library(
    tmp_path: Path, library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive = copied_to_a_drive(library, tmp_path)
    report = tmp_path / "u.csv"
    assert unique(library, drive, report) == 0
    assert dupreport.read_report(report) == []
    assert f"everything on {os.path.realpath(drive)} is in the library" in capsys.readouterr().out


def test_unique_never_counts_a_copy_verify_found_damaged(
    tmp_path: Path, library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The library's only copy of a photo rots (one byte, its size and time kept) and
    verify says so. The drive's copy is then the good one: `--unique` lists it as not in
    the library (it said "everything is in the library", and the drive would be wiped),
    without trusting the catalog's hash for the damaged file."""
    drive = copied_to_a_drive(library, tmp_path)
    photos = library_files(library)
    rot(photos[0], photos[0].stat().st_size // 2)
    verify = ["verify", "--output", str(library), "--quiet", "--report", str(tmp_path / "v.csv")]
    assert cli.main(verify) == 1
    report = tmp_path / "u.csv"
    assert unique(library, drive, report) == 0
    (row,) = dupreport.read_report(report)
    assert row.kind is Kind.UNIQUE and rel(row, drive) == "0.jpg"
    out = capsys.readouterr()
    assert f"1 file of {os.path.realpath(drive)} is not in the library" in out.out
    assert "found damaged or missing are read again" in out.err


def test_the_catalog_saves_reading_the_library(
    tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = tmp_path / "drive"
    photos = library_files(library)
    for n, photo in enumerate(photos):
        copy(photo, drive / f"{n}.jpg")
    read: list[Path] = []
    real_sample, real_full = exact._sample_hash, exact.hash_file
    monkeypatch.setattr(
        exact, "_sample_hash", lambda p, *a: read.append(Path(p)) or real_sample(p, *a)
    )
    monkeypatch.setattr(exact, "hash_file", lambda p: read.append(Path(p)) or real_full(p))
    options = FindOptions((drive,), library=library, workers=1, show_progress=False)
    assert find_duplicates(options).in_library == 3
    lib = Path(os.path.realpath(library))
    assert read and not any(p.is_relative_to(lib) for p in read)
    # A library file changed since the catalog saw it is read like any other.
    touch(photos[0], NEW)
    read.clear()
    assert find_duplicates(options).in_library == 3
    assert [p for p in read if p.is_relative_to(lib)] == [lib / photos[0].relative_to(library)]


def test_unique_needs_a_library(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["find-duplicates", "--input", str(tmp_path), "--unique"])
    assert status == cli.EXIT_USAGE
    assert "--unique needs --library" in capsys.readouterr().err
    status = cli.main(["find-duplicates", "--input", str(tmp_path), "--library", "/nope"])
    assert status == cli.EXIT_USAGE


# --- near duplicates: the library's copy, then --prefer, then the better picture ---------


def test_similar_keeps_the_library_copy_over_a_bigger_one(tmp_path: Path, library: Path) -> None:
    drive = tmp_path / "drive"
    small = library_files(library)[2]
    drive.mkdir()
    with Image.open(small) as img:  # the same picture, twice as large: the old keeper
        img.resize((img.width * 2, img.height * 2)).save(drive_file := drive / "big.jpg")
    make_jpeg(drive / "other.jpg", seed=55)
    args = ["--library", str(library), "--input", str(drive), "--similar"]
    status, rows = run(tmp_path, *args)
    assert status == 0
    (keep,) = kept(rows).values()
    assert keep.path == os.path.realpath(small) and keep.reason == "keep: the library's own copy"
    other = next(r for r in rows if not r.keep)
    assert other.path == os.path.realpath(drive_file)
    assert other.reason.startswith(f"already in the library: looks like {keep.path}")
    status, rows = run(tmp_path, *args, "--unique")
    assert [rel(r, drive) for r in rows] == ["other.jpg"]
    assert rows[0].reason.endswith("no file there has the same content or looks like it")


def test_similar_prefer_comes_before_resolution(tmp_path: Path) -> None:
    root = tmp_path / "in"
    photo = make_jpeg(root / "big" / "photo.jpg", seed=21, size=(256, 192))
    (root / "keep").mkdir()
    with Image.open(photo) as img:
        img.resize((128, 96)).save(root / "keep" / "small.jpg")
    _, rows = run(tmp_path, "--input", str(root), "--similar", "--prefer", str(root / "keep"))
    (keep,) = kept(rows).values()
    assert rel(keep, root) == "keep/small.jpg"


def test_a_library_without_a_catalog_is_read_and_left_as_it_is(tmp_path: Path) -> None:
    lib = tmp_path / "Pictures"
    photo = make_jpeg(lib / "2004" / "IMG_0001.JPG", seed=31)
    drive = tmp_path / "d"
    copy(photo, drive / "a.jpg", OLD)
    make_jpeg(drive / "b.jpg", seed=32)
    before = state(lib)
    status, rows = run(tmp_path, "--library", str(lib), "--input", str(drive), "--unique")
    assert status == 0
    assert state(lib) == before  # no .photoorganiser folder made
    assert [rel(r, drive) for r in rows] == ["b.jpg"]


def test_an_unreadable_drive_file_is_not_called_safe(
    tmp_path: Path,
    library: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    drive = tmp_path / "drive"
    copy(library_files(library)[0], drive / "in.jpg")
    secret = make_jpeg(drive / "secret.jpg", seed=41)
    copy(secret, drive / "secret2.jpg")  # same size: it has to be read
    real_scan = find_module.scan_rows

    def scan_then_vanish(inputs):
        found = real_scan(inputs)
        secret.unlink()  # gone between scan and read
        return found

    monkeypatch.setattr(find_module, "scan_rows", scan_then_vanish)
    report = tmp_path / "u.csv"
    status = cli.main(
        ["find-duplicates", "--library", str(library), "--input", str(drive), "--unique",
         "--report", str(report), "--workers", "1"]
    )  # fmt: skip
    assert status == cli.EXIT_FILE_ERRORS
    rows = dupreport.read_report(report)
    assert {(r.kind, rel(r, drive)) for r in rows} == {
        (Kind.UNIQUE, "secret2.jpg"),
        (Kind.UNREADABLE, "secret.jpg"),
    }
    out = capsys.readouterr().out
    assert "1 file of" in out and "1 could not be read, so were not checked" in out


def test_unique_rows_round_trip_in_json(tmp_path: Path, library: Path) -> None:
    drive = tmp_path / "drive"
    make_jpeg(drive / "new.jpg", seed=51)
    report = tmp_path / "u.json"
    status = cli.main(
        ["find-duplicates", "--library", str(library), "--input", str(drive), "--unique",
         "--report", str(report), "--workers", "1", "--quiet"]
    )  # fmt: skip
    assert status == 0
    (row,) = dupreport.read_report(report)
    assert row.kind is Kind.UNIQUE and row.keep is True and rel(row, drive) == "new.jpg"


def test_each_look_alike_says_which_rule_put_the_keeper_before_it(tmp_path: Path) -> None:
    """Three encodings of one picture at the same resolution: the keeper is the largest
    file, and between the two largest (same size, other bytes) the shortest path decides.
    The group's reason names that last rule; each dropped file's row names the rule that
    put the keeper before it, with the sizes (a shorter name dropped for a smaller file
    reads as a mistake otherwise)."""
    from test_similar import scene

    picture = scene(4, (300, 200))
    root = tmp_path / "in"
    root.mkdir()
    picture.save(root / "scene.jpg", quality=80)
    picture.save(root / "scene_resaved_q95.jpg", quality=95, comment=b"first")
    picture.save(root / "scene_resaved_q95_again.jpg", quality=95, comment=b"again")
    report = tmp_path / "r.csv"
    args = ["find-duplicates", "--input", str(root), "--similar", "--report", str(report)]
    assert cli.main([*args, "--workers", "1", "--quiet"]) == 0
    rows = {Path(r.path).name: r for r in dupreport.read_report(report) if r.kind is Kind.SIMILAR}
    small, big = (
        (root / "scene.jpg").stat().st_size,
        (root / "scene_resaved_q95.jpg").stat().st_size,
    )
    assert rows["scene_resaved_q95.jpg"].keep and rows["scene_resaved_q95.jpg"].reason == (
        "keep: shortest path"
    )
    assert rows["scene.jpg"].reason.endswith(
        f"; kept over it: largest file ({big:,} vs {small:,} bytes)"
    )
    assert rows["scene_resaved_q95_again.jpg"].reason.endswith("; kept over it: shortest path")

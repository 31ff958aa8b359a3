"""export: smaller copies of a real library's photos, incremental, never over a file it did
not write; undo --export removes what an export created."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import piexif
import pytest
from conftest import tree_state
from media import make_heic, make_jpeg, make_mp4, noise_image
from PIL import Image

from photoorganiser.cli import main
from photoorganiser.core.hashing import read_and_hash
from photoorganiser.core.reportfile import read_rows
from photoorganiser.media.convert import OutFormat, can_write

D1 = datetime(2021, 6, 5, 14, 30, 0)
D2 = datetime(2021, 6, 6, 9, 15, 0)
D3 = datetime(2022, 1, 2, 3, 4, 5)
D4 = datetime(2022, 1, 3, 8, 0, 0)
LAT = ((48, 1), (51, 1), (0, 1))
XMP = "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF/></x:xmpmeta>"


def make_turned(path: Path, date: datetime) -> Path:
    """An 800x400 landscape JPEG whose EXIF says "turn 90° clockwise" (orientation 6): a
    portrait photo as phones write them."""
    exif = piexif.dump(
        {
            "0th": {piexif.ImageIFD.Orientation: 6, piexif.ImageIFD.Make: b"Phone"},
            "Exif": {piexif.ExifIFD.DateTimeOriginal: date.strftime("%Y:%m:%d %H:%M:%S").encode()},
            "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: LAT},
            "1st": {},
            "thumbnail": None,
        }
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    img = noise_image((800, 400), 11)
    img.paste((255, 0, 0), (0, 0, 100, 100))  # a red corner: top-left as stored
    img.save(path, "JPEG", quality=92, exif=exif)
    return path


def library(tmp_path: Path) -> Path:
    """A real library, imported: a turned JPEG with GPS, a plain JPEG, a HEIC, a small JPEG
    (under --min-size), a video, an XMP sidecar."""
    inbox = tmp_path / "inbox"
    make_turned(inbox / "phone" / "IMG_0001.jpg", D1)
    (inbox / "phone" / "IMG_0001.xmp").write_text(XMP)
    make_jpeg(inbox / "cam" / "DSC_0002.jpg", D2, size=(640, 480), seed=2, quality=95)
    make_heic(inbox / "phone" / "IMG_0003.heic", D3, size=(512, 384), seed=3)
    make_jpeg(inbox / "cam" / "tiny.jpg", D4, size=(16, 16), seed=4)
    make_mp4(inbox / "phone" / "VID_0005.mp4", datetime(2022, 1, 4, 10, 0, tzinfo=UTC))
    lib = tmp_path / "lib"
    code = main(["import", "--input", str(inbox), "--output", str(lib), "--workers", "1",
                 "--quiet", "--template", "{year}/{month}/{stem}{ext}",
                 "--report", str(tmp_path / "import.csv")])  # fmt: skip
    assert code == 0
    return lib


def export(tmp_path: Path, lib: Path, to: Path, *extra: str, name: str = "") -> tuple[int, dict]:
    report = tmp_path / f"export-{name or len(list(tmp_path.glob('export-*.csv')))}.csv"
    code = main(["export", "--output", str(lib), "--to", str(to), "--report", str(report),
                 "--workers", "1", "--quiet", *extra])  # fmt: skip
    rows = {}
    if report.exists():
        _header, found = read_rows(report)
        rows = {r["path"]: r for r in found if r["action"] != "prune"}
    return code, rows


WEBP = ("--format", "webp", "--max-size", "200x200", "--min-size", "0.002")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("export")
    lib = library(tmp_path)
    before = tree_state(lib)
    to = tmp_path / "small"
    code, rows = export(tmp_path, lib, to, *WEBP)
    return tmp_path, lib, to, before, code, rows


def test_export_mirrors_the_library_smaller_upright_and_dated(exported) -> None:
    tmp_path, lib, to, before, code, rows = exported
    assert code == 0
    assert tree_state(lib) == before  # the library only read
    header, _ = read_rows(tmp_path / "export-0.csv")  # its folder named as where it wrote
    assert (header.library, header.output, header.inputs) == (str(lib), str(to), ())
    status = {p: r["status"] for p, r in rows.items()}
    assert status == {
        "2021/06/IMG_0001.jpg": "exported",
        "2021/06/IMG_0001.xmp": "copied",
        "2021/06/DSC_0002.jpg": "exported",
        "2022/01/IMG_0003.heic": "exported",
        "2022/01/tiny.jpg": "copied",
        "2022/01/VID_0005.mp4": "copied",
    }
    files = sorted(str(p.relative_to(to)) for p in to.rglob("*") if p.is_file()
                   and ".photoorganiser-export" not in p.parts)  # fmt: skip
    assert files == [
        "2021/06/DSC_0002.webp",
        "2021/06/IMG_0001.webp",
        "2021/06/IMG_0001.xmp",
        "2022/01/IMG_0003.webp",
        "2022/01/VID_0005.mp4",
        "2022/01/tiny.jpg",
    ]
    for name in ("2021/06/DSC_0002.webp", "2021/06/IMG_0001.webp", "2022/01/IMG_0003.webp"):
        with Image.open(to / name) as img:
            assert img.format == "WEBP" and max(img.size) <= 200
    # turned upright: the 800x400 landscape stored turned is a portrait, the tag reset
    with Image.open(to / "2021/06/IMG_0001.webp") as img:
        assert img.size == (100, 200)
        exif = img.getexif()
        assert exif.get(0x0112) == 1
        assert exif.get_ifd(0x8769).get(0x9003) == "2021:06:05 14:30:00"  # DateTimeOriginal
        assert exif.get_ifd(0x8825)  # GPS kept
        red = img.convert("RGB").getpixel((95, 3))  # the red corner is now top-right
        assert red[0] > 180 and red[1] < 90
    with Image.open(to / "2022/01/IMG_0003.webp") as img:
        assert img.getexif().get_ifd(0x8769).get(0x9003) == "2022:01:02 03:04:05"
    # the file's time is the capture date
    assert os.stat(to / "2021/06/IMG_0001.webp").st_mtime == D1.timestamp()
    assert os.stat(to / "2022/01/tiny.jpg").st_mtime == D4.timestamp()
    # copied byte for byte: the small photo, the video, the sidecar
    for name in ("2022/01/tiny.jpg", "2022/01/VID_0005.mp4", "2021/06/IMG_0001.xmp"):
        assert (to / name).read_bytes() == (lib / name).read_bytes()
    # nothing half-written left
    assert not list(to.rglob(".*tmp*")) and not (to / ".photoorganiser-export" / "tmp").exists()


def test_second_export_does_nothing(exported) -> None:
    tmp_path, lib, to, _before, _code, _rows = exported
    state = tree_state(to)
    code, rows = export(tmp_path, lib, to, *WEBP, name="again")
    assert code == 0
    assert {r["status"] for r in rows.values()} == {"skipped"}
    assert len(rows) == 6
    assert tree_state(to) == state


def test_changed_file_exported_again_foreign_file_refused_undo(tmp_path) -> None:
    lib = library(tmp_path)
    to = tmp_path / "small"
    assert export(tmp_path, lib, to, *WEBP)[0] == 0
    first = tree_state(to)
    # a library file replaced (edited in place), the catalog told by sync
    target = lib / "2021/06/DSC_0002.jpg"
    make_jpeg(target, D2, size=(640, 480), seed=99)
    assert main(["sync", "--output", str(lib), "--quiet", "--workers", "1",
                 "--report", str(tmp_path / "sync.csv")]) == 0  # fmt: skip
    # a file the export did not write, where a new export wants to go
    make_jpeg(tmp_path / "inbox2" / "new.jpg", datetime(2023, 3, 3, 3, 3, 3), seed=7)
    assert main(["import", "--input", str(tmp_path / "inbox2"), "--output", str(lib),
                 "--workers", "1", "--quiet", "--template", "{year}/{month}/{stem}{ext}",
                 "--report", str(tmp_path / "import2.csv")]) == 0  # fmt: skip
    make_jpeg(tmp_path / "inbox2" / "other.jpg", datetime(2023, 3, 4, 3, 3, 3), seed=8)
    assert main(["import", "--input", str(tmp_path / "inbox2"), "--output", str(lib),
                 "--workers", "1", "--quiet", "--template", "{year}/{month}/{stem}{ext}",
                 "--report", str(tmp_path / "import3.csv")]) == 0  # fmt: skip
    foreign = to / "2023/03/other.webp"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"mine, not the tool's")
    code, rows = export(tmp_path, lib, to, *WEBP)
    assert code == 1  # a refusal is a file problem
    status = {p: r["status"] for p, r in rows.items()}
    assert status["2021/06/DSC_0002.jpg"] == "exported"
    assert rows["2021/06/DSC_0002.jpg"]["reason"] == "replaces its earlier export"
    assert status["2023/03/new.jpg"] == "exported"
    assert status["2023/03/other.jpg"] == "refused"
    assert foreign.read_bytes() == b"mine, not the tool's"
    assert sorted(s for p, s in status.items() if s == "skipped") == ["skipped"] * 5
    assert (to / "2021/06/DSC_0002.webp").read_bytes() != first["2021/06/DSC_0002.webp"][0]
    assert (to / "2023/03/new.webp").is_file()

    # undo: the files this export created (or replaced) go, exactly those
    created = to / "2023/03/new.webp"
    code = main(["undo", "--export", str(to), "--quiet", "--report", str(tmp_path / "u.csv")])
    assert code == 0
    assert not created.exists() and not (to / "2021/06/DSC_0002.webp").exists()
    assert foreign.read_bytes() == b"mine, not the tool's"
    left = {k for k in tree_state(to) if not k.startswith(".photoorganiser-export")}
    assert left == {k for k in first if not k.startswith(".photoorganiser-export")} - {
        "2021/06/DSC_0002.webp"
    } | {"2023/", "2023/03/", "2023/03/other.webp"}
    # a second undo takes the first export; a file changed since is left and said
    changed = to / "2022/01/IMG_0003.webp"
    changed.write_bytes(b"edited by hand")
    code = main(["undo", "--export", str(to), "--quiet", "--report", str(tmp_path / "u2.csv")])
    assert code == 1
    assert changed.read_bytes() == b"edited by hand"
    assert not (to / "2021/06/IMG_0001.webp").exists()
    _h, undo_rows = read_rows(tmp_path / "u2.csv")
    assert {r["output"]: r["status"] for r in undo_rows}["2022/01/IMG_0003.webp"] == "left"
    # the next export redoes what undo removed, and refuses the changed file
    code, rows = export(tmp_path, lib, to, *WEBP)
    assert rows["2021/06/IMG_0001.jpg"]["status"] == "exported"
    assert rows["2022/01/IMG_0003.heic"]["status"] == "refused"


def test_options_changed_redo_everything_and_prune_stale(exported, tmp_path) -> None:
    _t, lib, to0, _before, _code, _rows = exported
    to = tmp_path / "small"
    assert export(tmp_path, lib, to, *WEBP)[0] == 0
    code, rows = export(tmp_path, lib, to, "--format", "jpeg", "--max-size", "100x100")
    assert code == 0
    status = {p: r["status"] for p, r in rows.items()}
    assert status["2021/06/IMG_0001.jpg"] == "exported"
    assert rows["2021/06/IMG_0001.jpg"]["output"] == "2021/06/IMG_0001.jpg"
    # the webp copies are stale now (their photos are exported as .jpg): listed, kept
    stale = [r for r in read_rows(tmp_path / "export-1.csv")[1] if r["status"] == "stale"]
    assert {r["output"] for r in stale} == {
        "2021/06/IMG_0001.webp", "2021/06/DSC_0002.webp", "2022/01/IMG_0003.webp"
    }  # fmt: skip
    assert (to / "2021/06/IMG_0001.webp").exists()
    with Image.open(to / "2021/06/IMG_0001.jpg") as img:
        assert img.size == (50, 100)
    code, rows = export(tmp_path, lib, to, "--format", "jpeg", "--max-size", "100x100", "--prune")
    assert code == 0
    pruned = [r for r in read_rows(tmp_path / "export-2.csv")[1] if r["status"] == "pruned"]
    assert len(pruned) == 3 and not (to / "2021/06/IMG_0001.webp").exists()


def test_no_ratio_fills_exactly(exported, tmp_path) -> None:
    _t, lib, _to, _b, _c, _r = exported
    to = tmp_path / "exact"
    code, _rows = export(tmp_path, lib, to, "--max-size", "120x90", "--no-ratio", "--strip-gps")
    assert code == 0
    for name in ("2021/06/IMG_0001.jpg", "2022/01/IMG_0003.jpg", "2022/01/tiny.jpg"):
        with Image.open(to / name) as img:
            assert img.size == (120, 90)
    with Image.open(to / "2021/06/IMG_0001.jpg") as img:
        exif = img.getexif()
        assert 0x8825 not in exif and not exif.get_ifd(0x8825)  # --strip-gps
        assert exif.get_ifd(0x8769).get(0x9003) == "2021:06:05 14:30:00"


def test_dryrun_writes_nothing(exported, tmp_path) -> None:
    _t, lib, _to, _b, _c, _r = exported
    to = tmp_path / "nothing"
    code, rows = export(tmp_path, lib, to, *WEBP, "--dryrun")
    assert code == 0
    assert not to.exists()
    assert {r["status"] for r in rows.values()} == {"planned"}


def test_bad_usage_exit_2_touches_nothing(exported, tmp_path, capsys) -> None:
    _t, lib, _to, before, _c, _r = exported
    for extra in (
        ["--to", str(lib / "exports")],
        ["--to", str(lib)],
        ["--to", str(tmp_path / "x"), "--quality", "0"],
        ["--to", str(tmp_path / "x"), "--max-size", "big"],
        ["--to", str(tmp_path / "x"), "--no-ratio"],
    ):
        code = main(["export", "--output", str(lib), "--quiet", "--report",
                     str(tmp_path / "r.csv"), *extra])  # fmt: skip
        assert code == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
    assert tree_state(lib) == before
    assert not (tmp_path / "x").exists() and not (tmp_path / "r.csv").exists()


@pytest.mark.skipif(not can_write(OutFormat.AVIF), reason="no AVIF encoder on this machine")
def test_avif(exported, tmp_path) -> None:
    _t, lib, _to, _b, _c, _r = exported
    to = tmp_path / "avif"
    code, rows = export(
        tmp_path, lib, to, "--format", "avif", "--max-size", "64x64", "--workers", "2"
    )
    assert code == 0
    with Image.open(to / "2021/06/IMG_0001.avif") as img:
        assert img.format == "AVIF" and img.size == (32, 64)
        assert img.getexif().get_ifd(0x8769).get(0x9003) == "2021:06:05 14:30:00"


def test_a_killed_export_is_finished_from_its_log(exported, tmp_path) -> None:
    """A kill between the rename and its log line: the intent and the disk say the file is
    the export's own, so the next export does not refuse it; temporaries are removed."""
    _t, lib, _to, _b, _c, _r = exported
    to = tmp_path / "k"
    assert export(tmp_path, lib, to, *WEBP)[0] == 0
    log = to / ".photoorganiser-export" / "exports.jsonl"
    lines = log.read_text().splitlines()
    kept = [ln for ln in lines if json.loads(ln).get("op") != "create"
            or json.loads(ln)["output"] != "2021/06/IMG_0001.webp"]  # fmt: skip
    assert len(kept) == len(lines) - 1
    log.write_text("\n".join(kept) + "\n")
    tmp = to / ".photoorganiser-export" / "tmp"
    tmp.mkdir()
    (tmp / "0-dead").write_bytes(b"half")
    code, rows = export(tmp_path, lib, to, *WEBP)
    assert code == 0 and {r["status"] for r in rows.values()} == {"skipped"}
    assert not tmp.exists()


def test_raw_files_are_exported_from_their_previews(corpus: Path) -> None:
    from photoorganiser.media.convert import ConvertSpec, convert
    from photoorganiser.media.metadata import read_media

    spec = ConvertSpec(OutFormat.JPEG, 80, (320, 320))
    for name, portrait in (("photoprism/canon_eos_6d.dng", False), ("file-type/fixture.cr3", True)):
        data = (corpus / name).read_bytes()
        fmt = read_media(corpus / name, data, UTC).format or ""
        out = convert(data, fmt, spec)
        assert 100 < max(out.width, out.height) <= 320, name  # never enlarged
        assert (out.height > out.width) == portrait, name
        with Image.open(__import__("io").BytesIO(out.data)) as img:
            assert img.format == "JPEG" and img.size == (out.width, out.height)


def make_camera_tiff(path: Path, make: str, date: datetime) -> Path:
    """An 80x40 plain RGB TIFF (what a scanner or an editor saves) whose EXIF names a camera
    make, with orientation 6 (turn 90° clockwise)."""
    exif = piexif.dump(
        {
            "0th": {piexif.ImageIFD.Orientation: 6, piexif.ImageIFD.Make: make.encode()},
            "Exif": {piexif.ExifIFD.DateTimeOriginal: date.strftime("%Y:%m:%d %H:%M:%S").encode()},
            "GPS": {},
            "1st": {},
            "thumbnail": None,
        }
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image((80, 40), 5).save(path, "TIFF", exif=exif)
    return path


@pytest.mark.parametrize("make", ["NIKON CORPORATION", "SONY", "PENTAX"])
def test_a_plain_tiff_with_a_camera_make_is_exported_as_a_photo(tmp_path, make) -> None:
    """A TIFF is not a NEF/ARW/PEF because its EXIF names a Nikon, Sony or Pentax: one with
    no sensor data is converted, resized and turned upright like any photo (it was skipped
    as "a RAW file with no embedded preview")."""
    inbox = tmp_path / "inbox"
    make_camera_tiff(inbox / "scan.tif", make, D1)
    lib = tmp_path / "lib"
    assert main(["import", "--input", str(inbox), "--output", str(lib), "--workers", "1",
                 "--quiet", "--template", "{stem}{ext}",
                 "--report", str(tmp_path / "i.csv")]) == 0  # fmt: skip
    _h, imported = read_rows(tmp_path / "i.csv")
    assert [r["format"] for r in imported] == ["TIFF"]
    code, rows = export(tmp_path, lib, tmp_path / "out", "--max-size", "64x64", "--min-size", "0")
    assert code == 0
    assert rows["scan.tif"]["status"] == "exported", rows["scan.tif"]["reason"]
    assert rows["scan.tif"]["output"] == "scan.jpg"
    with Image.open(tmp_path / "out" / "scan.jpg") as img:
        assert img.format == "JPEG" and img.size == (32, 64)  # upright, fitted in 64x64
        assert img.getexif().get(0x0112) == 1 and img.getexif().get(0x010F) == make


def test_a_tiff_recorded_as_a_raw_by_its_make_converts_as_a_photo(tmp_path) -> None:
    """A catalog written before holds such a TIFF as "NEF": convert still decodes it."""
    from photoorganiser.media.convert import ConvertSpec, convert

    data = make_camera_tiff(tmp_path / "scan.tif", "NIKON CORPORATION", D1).read_bytes()
    out = convert(data, "NEF", ConvertSpec(OutFormat.JPEG, 80, (64, 64)))
    assert (out.width, out.height) == (32, 64)


def test_corpus_tiff_with_a_nikon_make_is_exported_and_raws_still_by_preview(
    corpus: Path, tmp_path
) -> None:
    """exiv2/Reagan.tiff (a plain 200x130 TIFF, EXIF make NIKON) is exported as a photo;
    the corpus's NEF and ARW files are still RAWs, exported from their previews."""
    from photoorganiser.media.previews import is_raw

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = ("exiv2/Reagan.tiff", "file-type/fixture-sony-zv-e10.arw", "exiftool/Nikon.nef")
    for name in names:
        shutil.copyfile(corpus / name, inbox / name.rpartition("/")[2])
    lib = tmp_path / "lib"
    assert main(["import", "--input", str(inbox), "--output", str(lib), "--workers", "1",
                 "--quiet", "--template", "{stem}{ext}",
                 "--report", str(tmp_path / "i.csv")]) == 0  # fmt: skip
    _h, imported = read_rows(tmp_path / "i.csv")
    assert {r["source"].rpartition("/")[2]: r["format"] for r in imported} == {
        "Reagan.tiff": "TIFF",
        "fixture-sony-zv-e10.arw": "ARW",
        "Nikon.nef": "NEF",
    }
    assert is_raw((lib / "fixture-sony-zv-e10.arw").read_bytes(), "ARW")
    assert is_raw((lib / "Nikon.nef").read_bytes(), "NEF")
    assert not is_raw((lib / "Reagan.tiff").read_bytes(), "NEF")  # as older catalogs say
    code, rows = export(tmp_path, lib, tmp_path / "out", "--min-size", "0")
    assert rows["Reagan.tiff"]["status"] == "exported", rows["Reagan.tiff"]["reason"]
    with Image.open(tmp_path / "out" / "Reagan.jpg") as img:
        assert img.format == "JPEG" and img.size == (200, 130)
    assert rows["fixture-sony-zv-e10.arw"]["status"] == "exported"
    assert rows["Nikon.nef"]["status"] == "skipped"  # exiftool's sample: no decodable preview
    assert "RAW" in rows["Nikon.nef"]["reason"]


def test_two_photos_wanting_one_name(tmp_path) -> None:
    inbox = tmp_path / "inbox"
    make_jpeg(inbox / "IMG_1.jpg", D1, seed=1)
    make_heic(inbox / "IMG_1.heic", D1, seed=2)
    make_jpeg(inbox / "IMG_1.png", D1, seed=3)  # a JPEG named .png: read by its content
    lib = tmp_path / "lib"
    assert main(["import", "--input", str(inbox), "--output", str(lib), "--workers", "1",
                 "--quiet", "--template", "{stem}{ext}",
                 "--report", str(tmp_path / "i.csv")]) == 0  # fmt: skip
    code, rows = export(tmp_path, lib, tmp_path / "out")
    assert code == 0
    assert {p: r["output"] for p, r in rows.items()} == {
        "IMG_1.jpg": "IMG_1.jpg",
        "IMG_1.heic": "IMG_1.heic.jpg",
        "IMG_1.png": "IMG_1.png.jpg",
    }


def test_sigterm_finishes_the_file_in_hand_and_reports_the_rest(
    exported, tmp_path, monkeypatch
) -> None:
    import signal

    from photoorganiser.runs import export as export_module

    _t, lib, _to, _b, _c, _r = exported
    real = export_module.export_one

    def then_stopped(task):
        done = real(task)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the first file is in hand
        return done

    monkeypatch.setattr(export_module, "export_one", then_stopped)
    to = tmp_path / "stopped"
    code, rows = export(tmp_path, lib, to, *WEBP)
    assert code == 143
    status = sorted(r["status"] for r in rows.values())
    assert status == ["exported"] + ["not-done"] * 5
    assert not (to / ".photoorganiser-export" / "tmp").exists()
    monkeypatch.setattr(export_module, "export_one", real)
    code, rows = export(tmp_path, lib, to, *WEBP)
    assert code == 0
    assert sorted(r["status"] for r in rows.values()).count("skipped") == 1


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_video_transcode(tmp_path) -> None:
    ffmpeg = shutil.which("ffmpeg")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    video = inbox / "clip.mov"
    subprocess.run(
        [ffmpeg, "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=320x240:d=1",
         "-c:v", "mpeg4", "-metadata", "creation_time=2020-02-03T04:05:06Z", str(video)],
        check=True, timeout=60,
    )  # fmt: skip
    lib = tmp_path / "lib"
    assert main(["import", "--input", str(inbox), "--output", str(lib), "--workers", "1",
                 "--quiet", "--template", "{stem}{ext}", "--timezone", "UTC",
                 "--report", str(tmp_path / "i.csv")]) == 0  # fmt: skip
    code, rows = export(tmp_path, lib, tmp_path / "out", "--video-transcode", "--max-size", "80x80")
    assert code == 0
    assert rows["clip.mov"]["status"] == "exported" and rows["clip.mov"]["output"] == "clip.mp4"
    out = tmp_path / "out" / "clip.mp4"
    probe = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(out)], capture_output=True, text=True, timeout=60
    ).stderr
    assert "h264" in probe and "80x60" in probe and "2020-02-03T04:05:06" in probe
    assert os.stat(out).st_mtime == datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC).timestamp()


def test_a_damaged_exif_keeps_what_can_be_written(corpus: Path) -> None:
    """GPS degrees written as text, a DPI of the wrong type: Pillow cannot write that EXIF
    back; the copy keeps every tag that can be, the capture date among them."""
    from photoorganiser.media.convert import ConvertSpec, convert

    for name in ("goexif/geodegrees_as_string.jpg", "pillow/broken_exif_dpi.jpg"):
        path = corpus / name
        with Image.open(path) as img:
            date = img.getexif().get_ifd(0x8769).get(0x9003)
        out = convert(path.read_bytes(), "JPEG", ConvertSpec(OutFormat.WEBP, 70, (64, 64)))
        with Image.open(__import__("io").BytesIO(out.data)) as img:
            assert img.getexif().get_ifd(0x8769).get(0x9003) == date and date, name


def test_dryrun_on_the_terminal_names_what_would_be_refused(exported, tmp_path, capsys) -> None:
    _t, lib, _to, _b, _c, _r = exported
    to = tmp_path / "busy"
    (to / "2022/01").mkdir(parents=True)
    (to / "2022/01/tiny.jpg").write_bytes(b"someone else's")
    code = main(["export", "--output", str(lib), "--to", str(to), "--min-size", "0.002",
                 "--dryrun", "--report", str(tmp_path / "d.csv")])  # fmt: skip
    assert code == 1
    out = capsys.readouterr().out
    assert "refused: 2022/01/tiny.jpg: a file this tool did not write" in out
    assert (to / "2022/01/tiny.jpg").read_bytes() == b"someone else's"
    assert sorted(p.name for p in to.rglob("*")) == ["01", "2022", "tiny.jpg"]


def test_a_photo_imported_damaged_exports_what_survives_and_stays_quiet(tmp_path) -> None:
    """A truncated JPEG that import took as it is (the catalog records it damaged) is
    exported as far as it decodes (the part lost grey), said in its row; exit 0, and the
    next export skips it: a nightly export does not fail on it every night. One whose
    start alone survives (nothing decodes) is copied as it is, also said."""
    inbox, lib, to = tmp_path / "in", tmp_path / "lib", tmp_path / "out"
    whole = make_jpeg(tmp_path / "whole.jpg", D1, seed=5, size=(320, 240)).read_bytes()
    inbox.mkdir()
    (inbox / "cut.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    scan_start = whole.find(b"\xff\xda")
    (inbox / "stub.jpg").write_bytes(whole[: scan_start + 4])  # headers only: no pixels
    make_jpeg(inbox / "fine.jpg", D2, seed=6)
    assert main(["import", "--input", str(inbox), "--output", str(lib), "--workers", "1",
                 "--quiet", "--template", "{stem}{ext}",
                 "--report", str(tmp_path / "import.csv")]) == 0  # fmt: skip
    _h, imported = read_rows(tmp_path / "import.csv")
    assert all("damaged" in r["reason"] for r in imported if r["source"].endswith("t.jpg"))
    assert not list(inbox.iterdir())  # both imported as they are

    code, rows = export(tmp_path, lib, to, "--format", "webp")
    assert code == 0
    cut = rows["cut.jpg"]
    assert cut["status"] == "exported" and cut["output"] == "cut.webp"
    assert "damaged (truncated" in cut["reason"] and "what can be decoded" in cut["reason"]
    with Image.open(to / "cut.webp") as img:
        img.load()
        assert img.size == (320, 240)
    stub = rows["stub.jpg"]
    assert stub["status"] == "copied" and stub["output"] == "stub.jpg"
    assert "damaged" in stub["reason"] and "copied as it is" in stub["reason"]
    assert (to / "stub.jpg").read_bytes() == (lib / "stub.jpg").read_bytes()
    assert rows["fine.jpg"]["status"] == "exported" and rows["fine.jpg"]["reason"] == ""

    code, rows = export(tmp_path, lib, to, "--format", "webp")
    assert code == 0
    assert {r["status"] for r in rows.values()} == {"skipped"}


def test_a_photo_thought_sound_that_does_not_decode_still_fails(tmp_path) -> None:
    """Only the catalog's word makes a truncated photo acceptable: one it records as
    sound but that is truncated on the disk now (same size and hash: the catalog was told
    wrong, e.g. by an older version) is not exported half grey; it fails, said."""
    lib = library(tmp_path)
    to = tmp_path / "out"
    path = next(p for p in lib.rglob("DSC_0002.jpg"))
    data = path.read_bytes()
    cut = data[: len(data) * 2 // 3]
    conn = sqlite3.connect(lib / ".photoorganiser" / "catalog.sqlite")
    rel = str(path.relative_to(lib))
    os.chmod(path, 0o644)
    path.write_bytes(cut)
    content = read_and_hash(str(path), keep_limit=0)
    with conn:
        conn.execute("UPDATE files SET size = ?, hash = ? WHERE path = ?",
                     (len(cut), content.hash, rel))  # fmt: skip
    conn.close()
    code, rows = export(tmp_path, lib, to)
    assert code == 1
    assert rows[rel]["status"] == "failed" and "truncated" in rows[rel]["reason"]


def test_an_undo_stopped_between_recording_and_removing_a_file_is_finished(
    tmp_path, monkeypatch
) -> None:
    """A signal after the undo recorded a file's removal and before it removed it: the
    file stayed, owned by no run, so the next undo skipped it and every later export was
    refused there. The next undo removes it (it still holds what the export wrote)."""
    from photoorganiser.runs import undo_export

    lib = library(tmp_path)
    to = tmp_path / "small"
    assert export(tmp_path, lib, to, *WEBP)[0] == 0
    real, calls = undo_export.os.unlink, []

    def stopped_after_the_first(path, *args, **kwargs):
        if calls:
            raise KeyboardInterrupt  # Ctrl-C between the record and the removal
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(undo_export.os, "unlink", stopped_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        undo_export.run_undo_export(undo_export.UndoExportOptions(to, report_dir=tmp_path / "r"))
    monkeypatch.setattr(undo_export.os, "unlink", real)
    left = [p for p in to.rglob("*.webp")]
    assert left  # the one in hand, and those not reached
    code = main(["undo", "--export", str(to), "--quiet", "--report", str(tmp_path / "u.csv")])
    assert code == 0
    assert not list(to.rglob("*.webp"))
    code, rows = export(tmp_path, lib, to, *WEBP)
    assert code == 0 and "refused" not in {r["status"] for r in rows.values()}

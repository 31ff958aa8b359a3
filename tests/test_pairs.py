"""Live Photos and RAW+JPEG pairs made by a shared name: only files that can be one shot
pair (importing/pairs.py), and a pair is filed by the better of its dates.

End to end through the command line (dry runs) with real files made here, and with the
real-file corpus's unrelated files that share a name (skipped without the corpus)."""

from __future__ import annotations

import csv
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from media import make_heic, make_jpeg, make_mov, make_tiff_raw

from photoorganiser.cli import main
from photoorganiser.core.values import (
    Analysis,
    CaptureDate,
    DateSource,
    FileKind,
    MediaInfo,
    ScanEntry,
)
from photoorganiser.importing.pairs import apart, pair_media, same_camera
from reports import rows

ORIGINAL = DateSource.EXIF_DATETIME_ORIGINAL


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default reports/ lands in tmp_path, not the repo


def plan_of(inbox: Path, *options: str) -> dict[str, dict[str, str]]:
    """A dry run's rows by source name (zone UTC: the dates below are read in it)."""
    report = inbox.parent / "r.csv"
    args = ["import", "--input", str(inbox), "--output", str(inbox.parent / "lib")]
    args += ["--dryrun", "--report", str(report), "--timezone", "UTC", "--workers", "1"]
    assert main([*args, *options, "--quiet"]) == 0
    return {Path(r["source"]).name: r for r in rows(report)}


def folder(row: dict[str, str], library: Path) -> str:
    """The destination's folder in the library: `2019/06`, or `undated`."""
    return Path(row["destination"]).parent.relative_to(library).as_posix()


def alone(row: dict[str, str]) -> bool:
    """Filed on its own: no leader, and a reason that says nothing of a pair."""
    reason = row["reason"].lower()
    return row["follows"] == "" and "pair" not in reason and "live photo" not in reason


def set_mtime(path: Path, when: datetime) -> None:
    stamp = when.replace(tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))


# --- a still and a video of one name ----------------------------------------------------


def test_a_still_and_a_video_of_one_name_taken_years_apart_are_each_filed_by_their_own_date(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "in"
    make_jpeg(inbox / "DSC_1.JPG", datetime(2019, 6, 1, 12, 0, 0), seed=1)
    make_mov(inbox / "DSC_1.MOV", datetime(2021, 2, 3, 4, 5, 6), seed=2)
    got = plan_of(inbox)
    still, video = got["DSC_1.JPG"], got["DSC_1.MOV"]
    assert alone(still) and alone(video)
    assert folder(still, tmp_path / "lib") == "2019/06"
    assert folder(video, tmp_path / "lib") == "2021/02"
    assert video["captured_at"].startswith("2021-02-03T04:05:06")


def test_a_still_and_a_video_of_one_name_a_minute_apart_are_not_a_live_photo(
    tmp_path: Path,
) -> None:
    # the still has its zone (+02:00), the video Apple's local date with its zone: 60 s apart
    inbox = tmp_path / "in"
    make_heic(inbox / "IMG_5.HEIC", datetime(2023, 8, 1, 9, 30, 0), seed=1, offset="+02:00")
    make_mov(
        inbox / "IMG_5.MOV",
        datetime(2023, 8, 1, 7, 31, 0),
        seed=2,
        apple_creation_date="2023-08-01T09:31:00+0200",
    )
    got = plan_of(inbox)
    assert alone(got["IMG_5.HEIC"]) and alone(got["IMG_5.MOV"])
    assert Path(got["IMG_5.MOV"]["destination"]).name == "20230801_093100_IMG_5.mov"


@pytest.mark.parametrize(
    ("still_offset", "video"),
    [
        # the still's zone known: instants compared (the video's Keys date 1 s earlier)
        ("+02:00", dict(apple_creation_date="2023-08-01T09:29:59+0200")),
        # no zone in the still, only the video's UTC date: two hours and 2 s apart is
        # the same moment in a zone two hours east of UTC
        (None, dict()),
    ],
)
def test_a_live_photo_paired_by_name_stays_together(
    tmp_path: Path, still_offset: str | None, video: dict[str, str]
) -> None:
    inbox = tmp_path / "in"
    make_heic(inbox / "IMG_5.HEIC", datetime(2023, 8, 1, 9, 30, 0), seed=1, offset=still_offset)
    make_mov(inbox / "IMG_5.MOV", datetime(2023, 8, 1, 7, 30, 2), seed=2, **video)
    got = plan_of(inbox)
    still, mov = got["IMG_5.HEIC"], got["IMG_5.MOV"]
    assert mov["follows"] == still["source"]
    assert mov["reason"].startswith("Live Photo video of IMG_5.HEIC: filed beside it")
    assert Path(still["destination"]).name == "20230801_093000_IMG_5.heic"
    assert Path(mov["destination"]) == Path(still["destination"]).with_suffix(".mov")


@pytest.mark.parametrize("no_mtime", [False, True])
def test_a_still_dated_only_by_its_file_is_filed_by_its_videos_date(
    tmp_path: Path, no_mtime: bool
) -> None:
    """The still has no date inside (a stripped or converted copy): its modification time
    is the day it was copied, while its video says when it was taken. Both are filed, as a
    pair, by the video's date (the better source wins), and the still says where its date
    came from. They stay a pair: a name alone cannot tell this apart from a Live Photo
    whose still lost its metadata, and nothing contradicts it; filed apart, the still
    would be on the day it was copied (or undated/), away from its own video."""
    inbox = tmp_path / "in"
    make_heic(inbox / "IMG_2.HEIC", None, seed=1)
    set_mtime(inbox / "IMG_2.HEIC", datetime(2031, 11, 30, 9, 17, 43))
    make_mov(inbox / "IMG_2.MOV", datetime(2005, 8, 11, 14, 3, 54), seed=2)
    got = plan_of(inbox, *(["--no-mtime"] if no_mtime else []))
    still, video = got["IMG_2.HEIC"], got["IMG_2.MOV"]
    assert video["follows"] == still["source"]
    assert Path(still["destination"]).name == "20050811_140354_IMG_2.heic"
    assert Path(video["destination"]) == Path(still["destination"]).with_suffix(".mov")
    assert folder(still, tmp_path / "lib") == "2005/08"  # neither 2031/11 nor undated/
    assert still["captured_at"] == video["captured_at"] == "2005-08-11T14:03:54+00:00"
    own = "it has no date of its own" if no_mtime else "only its file's modification time"
    assert "note: dated by IMG_2.MOV, its Live Photo video: " in still["reason"]
    assert own in still["reason"]


# --- a raw and a JPEG of one name -----------------------------------------------------------


NIKON = dict(make="NIKON CORPORATION", model="NIKON D750")
SHOT = datetime(2020, 5, 17, 10, 11, 12)


@pytest.mark.parametrize(
    ("raw_date", "raw_camera"),
    [
        (SHOT, dict(make="NIKON CORPORATION", model="NIKON D850")),  # another camera
        (SHOT, dict(make="Canon", model="Canon EOS 5D")),  # another maker
        (SHOT + timedelta(minutes=1), NIKON),  # another shot of the same camera
        (datetime(2007, 5, 22, 13, 58, 30), NIKON),  # years apart
    ],
)
def test_a_raw_and_a_jpeg_of_one_name_from_another_shot_are_not_a_pair(
    tmp_path: Path, raw_date: datetime, raw_camera: dict[str, str]
) -> None:
    inbox = tmp_path / "in"
    make_jpeg(inbox / "DSC_7.JPG", SHOT, seed=1, **NIKON)
    make_tiff_raw(inbox / "DSC_7.NEF", raw_date, **raw_camera)
    got = plan_of(inbox)
    jpeg, raw = got["DSC_7.JPG"], got["DSC_7.NEF"]
    assert alone(jpeg) and alone(raw)
    assert Path(jpeg["destination"]).name == "20200517_101112_DSC_7.jpg"
    assert Path(raw["destination"]).name == f"{raw_date:%Y%m%d_%H%M%S}_DSC_7.nef"


@pytest.mark.parametrize(
    ("raw_date", "raw_camera"),
    [
        (SHOT, NIKON),
        (SHOT + timedelta(seconds=1), NIKON),  # written as the clock ticked over
        (SHOT, dict(make="NIKON", model="D750")),  # the same camera, named shorter
        (SHOT, dict()),  # a raw that names no camera
    ],
)
def test_a_raw_and_its_jpeg_stay_a_pair(
    tmp_path: Path, raw_date: datetime, raw_camera: dict[str, str]
) -> None:
    inbox = tmp_path / "in"
    make_jpeg(inbox / "DSC_7.JPG", SHOT, seed=1, **NIKON)
    make_tiff_raw(inbox / "DSC_7.NEF", raw_date, **raw_camera)
    got = plan_of(inbox)
    jpeg, raw = got["DSC_7.JPG"], got["DSC_7.NEF"]
    assert raw["follows"] == jpeg["source"]
    assert raw["reason"].startswith("pair of DSC_7.JPG: filed beside it")
    assert Path(raw["destination"]) == Path(jpeg["destination"]).with_suffix(".nef")


def test_a_jpeg_without_a_date_is_filed_by_its_raws_date(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    make_jpeg(inbox / "DSC_8.JPG", None, seed=1)
    set_mtime(inbox / "DSC_8.JPG", datetime(2031, 1, 2, 3, 4, 5))
    make_tiff_raw(inbox / "DSC_8.NEF", SHOT, **NIKON)
    got = plan_of(inbox)
    jpeg, raw = got["DSC_8.JPG"], got["DSC_8.NEF"]
    assert raw["follows"] == jpeg["source"]
    assert Path(jpeg["destination"]).name == "20200517_101112_DSC_8.jpg"
    assert "note: dated by DSC_8.NEF, its raw: " in jpeg["reason"]


def test_a_raw_a_jpeg_and_a_video_of_one_name_pair_as_their_dates_say(tmp_path: Path) -> None:
    # the JPEG is another shot; the raw and the video (2 s after it, in UTC) are one
    inbox = tmp_path / "in"
    make_jpeg(inbox / "P_1.JPG", datetime(2001, 5, 19, 18, 36, 41), seed=1)
    make_tiff_raw(inbox / "P_1.DNG", SHOT)
    make_mov(inbox / "P_1.MOV", SHOT + timedelta(seconds=2), seed=2)
    got = plan_of(inbox)
    assert alone(got["P_1.JPG"])
    assert got["P_1.MOV"]["follows"] == got["P_1.DNG"]["source"]
    assert folder(got["P_1.JPG"], tmp_path / "lib") == "2001/05"
    assert Path(got["P_1.MOV"]["destination"]).name == "20200517_101112_P_1.mov"


# --- the rules, one at a time ---------------------------------------------------------------


def _analysis(path: str, kind: FileKind, date: CaptureDate | None, **facts: str) -> Analysis:
    entry = ScanEntry(Path(path), kind, size=1, mtime_ns=1, inode=hash(path) & 0xFFFF)
    return Analysis(entry, f"{abs(hash(path)):032x}"[:32], MediaInfo(date, **facts), date)


def test_an_avi_or_mkv_beside_a_still_of_its_name_is_not_its_live_photo_video() -> None:
    when = CaptureDate(datetime(2003, 3, 10, 15, 4, 43), ORIGINAL)
    still = _analysis("/in/RIFF.webp", FileKind.IMAGE, None, format="WEBP")
    for form, paired in (("AVI", False), ("MKV", False), ("MOV", True), ("MP4", True)):
        video = _analysis(f"/in/RIFF.{form.lower()}", FileKind.VIDEO, when, format=form)
        pairs = pair_media([still, video])
        assert (video.entry.path in pairs.leader_of) is paired, form
        assert (still.entry.path in pairs.dated_by) is paired, form


def test_dates_in_different_zones_are_compared_as_instants_or_up_to_a_zone() -> None:
    wall = datetime(2023, 8, 1, 9, 30, 0)
    plus2, utc = timedelta(hours=2), timedelta(0)
    at = CaptureDate(wall, ORIGINAL, plus2)
    assert apart(at, CaptureDate(wall - plus2, DateSource.QUICKTIME_CREATE_DATE, utc)) == (
        timedelta(0)
    )
    local = CaptureDate(wall, ORIGINAL)  # no zone: any zone within ±14 h
    one_s = CaptureDate(wall - timedelta(hours=5, minutes=30, seconds=1), ORIGINAL, utc)
    assert apart(local, one_s) == timedelta(seconds=1)
    assert apart(local, CaptureDate(wall - timedelta(minutes=7), ORIGINAL, utc)) == (
        timedelta(minutes=7)
    )
    assert apart(local, CaptureDate(wall - timedelta(days=2), ORIGINAL, utc)) > timedelta(hours=9)
    assert apart(local, CaptureDate(wall + timedelta(seconds=3), ORIGINAL)) == timedelta(seconds=3)


def test_camera_names_agree_when_one_holds_the_other() -> None:
    assert same_camera("NIKON CORPORATION", "Nikon")
    assert same_camera("Canon EOS 5D", "EOS-5D")
    assert same_camera(None, "Apple") and same_camera("", "Apple")
    assert not same_camera("FinePix2400Zoom", "FinePix S5Pro")
    assert not same_camera("Apple", "PENTAX DIGITAL CAMERA")


# --- the real files that share a name (the corpus) ---------------------------------------


CORPUS_PAIRS = (
    ("exiftool/QuickTime.heic", "exiftool/QuickTime.mov"),  # no date / 2005-08-11 (UTC)
    ("exiftool/RIFF.webp", "exiftool/RIFF.avi"),  # no date / 2003-03-10
    ("exiftool/FujiFilm.jpg", "exiftool/FujiFilm.raf"),  # 2001-05-19 / 2007-05-22
)


@pytest.mark.parametrize("no_mtime", [False, True])
def test_real_files_that_only_share_a_name_are_filed_by_their_own_dates(
    corpus: Path, tmp_path: Path, no_mtime: bool
) -> None:
    """Each file with a date in the manifest (exiftool's reading) lands in that date's
    month; a file without one is filed beside its dated partner, when it has one."""
    with open(corpus / "manifest.csv", newline="", encoding="utf-8") as fh:
        dates = {r["path"]: r["capture_date"] for r in csv.DictReader(fh)}
    inbox = tmp_path / "in"
    inbox.mkdir()
    for pair in CORPUS_PAIRS:
        for name in pair:
            shutil.copy(corpus / name, inbox)  # (a copy's mtime: today)
    got = plan_of(inbox, *(["--no-mtime"] if no_mtime else []))
    library = tmp_path / "lib"
    for still_name, other_name in CORPUS_PAIRS:
        still, other = got[Path(still_name).name], got[Path(other_name).name]
        assert dates[other_name], other_name  # (the manifest dates every second file)
        assert folder(other, library) == dates[other_name][:7].replace("-", "/"), other_name
        if dates[still_name]:  # both dated, and differently: each by its own date
            assert folder(still, library) == dates[still_name][:7].replace("-", "/")
            assert alone(still) and alone(other)
    assert alone(got["RIFF.avi"])  # an AVI is no Live Photo's video
    mov = got["QuickTime.mov"]  # nothing tells it apart from a Live Photo: one, by its date
    assert mov["follows"] == got["QuickTime.heic"]["source"]
    assert folder(got["QuickTime.heic"], library) == "2005/08"

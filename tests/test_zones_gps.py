"""Issue 13, rule 2 continued: a photo's GPS time (UTC) against its local date gives the
zone that a phone video near it takes; a video without make/model takes the zone of a
photo in its own folder, close in time. The photo's own date never changes.

Files are built here (piexif, MP4 boxes); the corpus test reads pigallery2's timestamp
files (skipped without the corpus).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import piexif
import pytest

from photoorganiser.core.values import (
    Analysis,
    CaptureDate,
    DateSource,
    FileKind,
    MediaInfo,
    ScanEntry,
)
from photoorganiser.media.gps import exif_gps_time, xmp_gps_time
from photoorganiser.media.metadata import read_media
from photoorganiser.media.zones import gps_zone, photo_zones
from tests.media import make_mp4, noise_image
from tests.reports import rows

UTC = ZoneInfo("UTC")
HOUR = timedelta(hours=1)


def gps_ifd(date: str | None, hms: tuple[int, int, float] | None) -> dict[int, object]:
    gps: dict[int, object] = {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2400, 100)),
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: ((2, 1), (21, 1), (300, 100)),
    }
    if date is not None:
        gps[piexif.GPSIFD.GPSDateStamp] = date.encode()
    if hms is not None:
        h, m, s = hms
        gps[piexif.GPSIFD.GPSTimeStamp] = ((h, 1), (m, 1), (round(s * 100), 100))
    return gps


def gps_jpeg(
    path: Path,
    local: datetime,
    gps_date: str | None,
    gps_time: tuple[int, int, float] | None,
    *,
    offset: str | None = None,
    make: str = "Google",
    model: str = "Pixel 7",
    seed: int = 0,
) -> Path:
    """A JPEG with DateTimeOriginal `local` (no offset tag unless `offset`) and a GPS IFD."""
    exif: dict[int, object] = {
        piexif.ExifIFD.DateTimeOriginal: f"{local:%Y:%m:%d %H:%M:%S}".encode()
    }
    if offset is not None:
        exif[piexif.ExifIFD.OffsetTimeOriginal] = offset.encode()
    zeroth = {piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Model: model.encode()}
    data = piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps_ifd(gps_date, gps_time)})
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image(seed=seed).save(path, "JPEG", quality=90, exif=data)
    return path


def read(path: Path):
    return read_media(path, path.read_bytes(), UTC)


# --- reading the GPS time -----------------------------------------------------------


def test_gps_date_and_time_stamps_are_read_as_utc() -> None:
    got = exif_gps_time({0x1D: "2024:01:28", 7: [(9, 1), (54, 1), (2050, 100)]})
    assert got == datetime(2024, 1, 28, 9, 54, 20)  # 20.5 s rounds to even: 20
    assert exif_gps_time({0x1D: "2024-01-28", 7: [(23, 1), (59, 1), (59, 1)]}) == datetime(
        2024, 1, 28, 23, 59, 59
    )
    assert exif_gps_time({7: [(9, 1), (54, 1), (20, 1)]}) is None  # no date: no instant
    assert exif_gps_time({0x1D: "2024:01:28"}) is None
    assert exif_gps_time({0x1D: "2024:01:28", 7: [(24, 1), (0, 1), (0, 1)]}) is None
    assert exif_gps_time({0x1D: "2024:01:28", 7: [(9, 0), (0, 1), (0, 1)]}) is None
    assert exif_gps_time({0x1D: "0000:00:00", 7: [(9, 1), (0, 1), (0, 1)]}) is None
    assert exif_gps_time({0x1D: "2024:02:30", 7: [(9, 1), (0, 1), (0, 1)]}) is None
    assert xmp_gps_time("2020-09-19T10:55:57Z") == datetime(2020, 9, 19, 10, 55, 57)
    assert xmp_gps_time("2020-09-19T12:55:57+02:00") == datetime(2020, 9, 19, 10, 55, 57)
    assert xmp_gps_time("2020:09:19 10:55:57") == datetime(2020, 9, 19, 10, 55, 57)
    assert xmp_gps_time("garbage") is None


def test_gps_zone_rounds_a_stale_fix_to_the_quarter_hour() -> None:
    local = datetime(2024, 1, 28, 10, 54, 20)
    assert gps_zone(local, datetime(2024, 1, 28, 9, 54, 20)) == HOUR
    assert gps_zone(local, datetime(2024, 1, 28, 9, 53, 5)) == HOUR  # fix 75 s stale
    assert gps_zone(local, datetime(2024, 1, 28, 9, 56, 20)) == HOUR  # 120 s: still
    assert gps_zone(local, datetime(2024, 1, 28, 9, 56, 21)) is None  # 121 s: no zone
    assert gps_zone(local, datetime(2024, 1, 28, 9, 50, 0)) is None  # 4 min off
    assert gps_zone(local, datetime(2024, 1, 28, 5, 9, 20)) == timedelta(hours=5, minutes=45)
    assert gps_zone(local, datetime(2024, 1, 28, 20, 54, 20)) == -10 * HOUR
    assert gps_zone(local, datetime(2024, 1, 27, 19, 54, 20)) is None  # 15 h: no zone


def test_a_photo_keeps_its_own_date_and_carries_the_gps_zone(tmp_path: Path) -> None:
    local = datetime(2024, 1, 28, 10, 54, 20)
    info = read(gps_jpeg(tmp_path / "a.jpg", local, "2024:01:28", (9, 53, 5)))
    assert info.captured == CaptureDate(local, DateSource.EXIF_DATETIME_ORIGINAL, None)
    assert info.gps_offset == HOUR
    assert info.latitude == pytest.approx(48.85667, abs=1e-4)
    # its own offset tag: that is its zone, the GPS one is not needed
    own = read(gps_jpeg(tmp_path / "b.jpg", local, "2024:01:28", (9, 54, 20), offset="+01:00"))
    assert own.captured.utc_offset == HOUR and own.gps_offset is None
    # a GPS time 20 minutes from any zone (a fix from another moment), or no date stamp
    odd = read(gps_jpeg(tmp_path / "c.jpg", local, "2024:01:28", (9, 34, 20)))
    assert odd.gps_offset is None and odd.captured.utc_offset is None
    bare = read(gps_jpeg(tmp_path / "d.jpg", local, None, (9, 54, 20)))
    assert bare.gps_offset is None


def test_the_gps_offset_survives_the_catalog() -> None:
    from photoorganiser.library.catalog import decode, encode

    entry = ScanEntry(Path("/in/a.jpg"), FileKind.IMAGE)
    date = CaptureDate(datetime(2024, 1, 28, 10, 54, 20), DateSource.EXIF_DATETIME_ORIGINAL)
    for offset in (HOUR, timedelta(hours=-3, minutes=-30), None):
        a = Analysis(entry, "0" * 32, MediaInfo(captured=date, gps_offset=offset), date)
        assert decode(encode(a), entry).media.gps_offset == offset


# --- rule 2 over analyses ------------------------------------------------------------


def _analysis(path: str, kind: FileKind, captured: CaptureDate, make=None, model=None, gps=None):
    media = MediaInfo(captured=captured, make=make, model=model, gps_offset=gps)
    return Analysis(ScanEntry(Path(path), kind), "0" * 32, media, captured)


def _utc_video(path: str, when: datetime, make=None, model=None) -> Analysis:
    date = CaptureDate(when, DateSource.QUICKTIME_CREATE_DATE, timedelta(0))
    return _analysis(path, FileKind.VIDEO, date, make, model)


def _local_photo(path: str, when: datetime, offset=None, gps=None, make=None, model=None):
    date = CaptureDate(when, DateSource.EXIF_DATETIME_ORIGINAL, offset)
    return _analysis(path, FileKind.IMAGE, date, make, model, gps)


def test_a_gps_zone_reaches_a_video_of_the_same_camera() -> None:
    pixel = {"make": "Google", "model": "Pixel 7"}
    photo = _local_photo("/a/IMG.jpg", datetime(2024, 4, 1, 12, 0), gps=9 * HOUR, **pixel)
    video = _utc_video("/b/clip.mp4", datetime(2024, 4, 1, 3, 30), **pixel)
    got_photo, got_video = photo_zones([photo, video])
    assert got_video.captured.isoformat() == "2024-04-01T12:30:00+09:00"
    assert got_video.captured.source is DateSource.QUICKTIME_UTC_PHOTO_ZONE
    assert any("GPS time" in n and "IMG.jpg" in n for n in got_video.media.warnings)
    assert got_photo == photo  # the photo's own date is left as it is
    # without the GPS zone, the same photo gives none (rule 3 stays)
    plain = _local_photo("/a/IMG.jpg", datetime(2024, 4, 1, 12, 0), **pixel)
    assert photo_zones([plain, video])[1] == video


def test_a_video_without_make_takes_a_zone_only_from_its_own_folder_nearby() -> None:
    photo = _local_photo(
        "/DCIM/Camera/IMG_1.jpg", datetime(2024, 4, 1, 12, 0), 9 * HOUR, make="samsung", model="SM"
    )
    near = _utc_video("/DCIM/Camera/near.mp4", datetime(2024, 4, 1, 4, 30))  # 1.5 h after
    far = _utc_video("/DCIM/Camera/far.mp4", datetime(2024, 4, 1, 5, 30))  # 2.5 h after
    elsewhere = _utc_video("/Downloads/near.mp4", datetime(2024, 4, 1, 3, 10))
    named = _utc_video("/DCIM/Camera/half.mp4", datetime(2024, 4, 1, 3, 10), make="samsung")
    out = {str(a.entry.path): a for a in photo_zones([photo, near, far, elsewhere, named])}
    got = out["/DCIM/Camera/near.mp4"]
    assert got.captured.isoformat() == "2024-04-01T13:30:00+09:00"
    assert got.captured.source is DateSource.QUICKTIME_UTC_FOLDER_ZONE
    assert got.captured.source.value == "QuickTime:CreateDate+NearestPhotoSameFolder:zone"
    assert any("same folder" in n and "IMG_1.jpg" in n for n in got.media.warnings)
    assert out["/DCIM/Camera/far.mp4"] == far  # too far in time
    assert out["/Downloads/near.mp4"] == elsewhere  # another folder
    assert out["/DCIM/Camera/half.mp4"] == named  # a make without a model: neither rule


def test_photos_of_the_folder_that_disagree_give_no_zone() -> None:
    tokyo = _local_photo("/DCIM/Camera/a.jpg", datetime(2024, 4, 1, 12, 0), 9 * HOUR)
    # 1 h later by the instant, in another zone (a flight): which one the video is in is
    # not known
    paris = _local_photo("/DCIM/Camera/b.jpg", datetime(2024, 4, 1, 6, 0), 2 * HOUR)
    video = _utc_video("/DCIM/Camera/v.mp4", datetime(2024, 4, 1, 3, 20))
    assert photo_zones([tokyo, paris, video])[2] == video
    # the same, with only the Tokyo photo (or the Paris one far away): Tokyo's zone
    far_paris = _local_photo("/DCIM/Camera/b.jpg", datetime(2024, 4, 1, 11, 0), 2 * HOUR)
    got = photo_zones([tokyo, far_paris, video])[2].captured
    assert got.isoformat() == "2024-04-01T12:20:00+09:00"
    # a video is no photo of the folder (only images give a folder zone)
    keys_video = _analysis(
        "/DCIM/Camera/w.mov",
        FileKind.VIDEO,
        CaptureDate(datetime(2024, 4, 1, 12, 0), DateSource.QUICKTIME_CREATION_DATE, 9 * HOUR),
    )
    assert photo_zones([keys_video, video])[1] == video


# --- through the CLI -----------------------------------------------------------------


def _import(tmp_path: Path, inbox: Path, monkeypatch) -> dict[str, dict[str, str]]:
    from photoorganiser.cli import main

    monkeypatch.chdir(tmp_path)
    library, report = tmp_path / "lib", tmp_path / "plan.csv"
    args = ["import", "--input", str(inbox), "--output", str(library), "--dryrun"]
    args += ["--report", str(report), "--timezone", "UTC", "--quiet"]
    assert main(args) == 0
    return {str(Path(r["source"]).relative_to(inbox)): r for r in rows(report)}


def test_import_gives_videos_the_zone_of_a_photos_gps_time(tmp_path: Path, monkeypatch) -> None:
    """On a UTC machine: the Pixel photo has no offset tag, but its GPS fix (75 s stale)
    says 09:49:05 UTC against 10:50:20 local: +01:00. The Pixel video 4 minutes later
    takes it; the photo's own date stays as its camera wrote it."""
    inbox = tmp_path / "in"
    gps_jpeg(
        inbox / "trip" / "IMG_1.jpg", datetime(2024, 1, 28, 10, 50, 20), "2024:01:28", (9, 49, 5)
    )
    keys = {"com.apple.quicktime.make": "Google", "com.apple.quicktime.model": "Pixel 7"}
    make_mp4(inbox / "videos" / "clip.mp4", datetime(2024, 1, 28, 9, 54, 20), apple_keys=keys)
    got = _import(tmp_path, inbox, monkeypatch)
    assert got["videos/clip.mp4"]["captured_at"] == "2024-01-28T10:54:20+01:00"
    assert got["videos/clip.mp4"]["date_source"] == "QuickTime:CreateDate+NearestPhoto:zone"
    assert "GPS time" in got["videos/clip.mp4"]["reason"]
    assert got["trip/IMG_1.jpg"]["captured_at"] == "2024-01-28T10:50:20"
    assert got["trip/IMG_1.jpg"]["date_source"] == "EXIF:DateTimeOriginal"


def test_import_gives_an_android_video_its_folders_zone(tmp_path: Path, monkeypatch) -> None:
    """An Android MP4 has no make/model: a photo of its DCIM/Camera folder taken an hour
    before gives its zone; the same video in another folder keeps --timezone's."""
    inbox = tmp_path / "in"
    camera = inbox / "DCIM" / "Camera"
    gps_jpeg(
        camera / "photo.jpg",
        datetime(2024, 7, 2, 14, 0, 0),
        "2024:07:02",
        (18, 0, 0),
        make="samsung",
        model="SM-S911B",
    )  # New York, -04:00 (by GPS time)
    make_mp4(camera / "clip.mp4", datetime(2024, 7, 2, 19, 10, 0), seed=1)
    make_mp4(inbox / "Other" / "clip.mp4", datetime(2024, 7, 2, 19, 10, 0), seed=2)
    got = _import(tmp_path, inbox, monkeypatch)
    clip = got["DCIM/Camera/clip.mp4"]
    assert clip["captured_at"] == "2024-07-02T15:10:00-04:00"
    assert clip["date_source"] == "QuickTime:CreateDate+NearestPhotoSameFolder:zone"
    assert "same folder" in clip["reason"]
    assert got["Other/clip.mp4"]["captured_at"] == "2024-07-02T19:10:00+00:00"
    assert got["Other/clip.mp4"]["date_source"] == "QuickTime:CreateDate"


# --- the real files: pigallery2's timestamp tests --------------------------------------

TIMESTAMPS = {  # file -> (its own date as read, the zone its GPS time gives)
    "big_ben.jpg": ("2023-06-07T13:45:55+01:00", None),  # its own offset: no need
    "big_ben_no_tsoffset_but_gps_utc.jpg": ("2023-06-07T13:45:55", HOUR),
    "big_ben_no_tsoffset_but_gps_utc_off_by_1min.jpg": ("2023-06-07T13:45:55", HOUR),
    "big_ben_only_time.jpg": ("2023-06-07T13:45:55", None),  # no GPS time at all
    "sydney_opera_house.jpg": ("2020-09-19T20:55:57+10:00", None),
    # no GPSDateStamp (its GPSTimeStamp 06:55:57 alone is no instant); XMP's
    # exif:GPSTimeStamp 2020-09-19T10:55:57 (UTC) is
    "sydney_opera_house_no_tsoffset_but_gps_utc.jpg": ("2020-09-19T20:55:57", 10 * HOUR),
    "newyear_london.jpg": ("2019-01-01T00:15:00", timedelta(0)),
    "newyear_sydney.jpg": ("2019-01-01T00:15:00", 11 * HOUR),
}


def test_pigallery2_timestamp_files(corpus: Path) -> None:
    got = {}
    for name in TIMESTAMPS:
        info = read_media(corpus / "pigallery2" / name, None, UTC)
        got[name] = (info.captured.isoformat(), info.gps_offset)
        assert info.captured.source is DateSource.EXIF_DATETIME_ORIGINAL
    assert got == TIMESTAMPS


def test_a_real_gps_photo_gives_a_video_its_zone(corpus: Path, tmp_path: Path, monkeypatch):
    """pigallery2's Big Ben photo (Canon EOS R5, no offset tag, GPS 1 min stale) and a
    hand-built MP4 of the same camera, 5 minutes later, on a UTC machine."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    name = "big_ben_no_tsoffset_but_gps_utc_off_by_1min.jpg"
    shutil.copyfile(corpus / "pigallery2" / name, inbox / name)
    keys = {"com.apple.quicktime.make": "Canon", "com.apple.quicktime.model": "Canon EOS R5"}
    make_mp4(inbox / "MVI_0001.MP4", datetime(2023, 6, 7, 12, 50, 55), apple_keys=keys)
    got = _import(tmp_path, inbox, monkeypatch)
    assert got["MVI_0001.MP4"]["captured_at"] == "2023-06-07T13:50:55+01:00"
    assert got["MVI_0001.MP4"]["date_source"] == "QuickTime:CreateDate+NearestPhoto:zone"
    assert got[name]["captured_at"] == "2023-06-07T13:45:55"

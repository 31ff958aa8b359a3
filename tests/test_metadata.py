"""read_media on files built in tmp_path with tests/media.py."""

from __future__ import annotations

import random
import re
import struct
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from photoorganiser.core.values import DateSource
from photoorganiser.media.metadata import MetadataError, read_media
from tests.media import box, make_heic, make_jpeg, make_mov, make_mp4, make_png

PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")


def read(path: Path, tz=PARIS, *, from_disk: bool = False):
    return read_media(path, None if from_disk else path.read_bytes(), tz)


# --- JPEG / EXIF ---------------------------------------------------------------------


@pytest.mark.parametrize("from_disk", [False, True])
def test_jpeg_date_original_beats_create_date(tmp_path: Path, from_disk: bool) -> None:
    path = make_jpeg(
        tmp_path / "a.jpg",
        datetime(2021, 7, 4, 18, 30, 0),
        digitized=datetime(2021, 7, 4, 18, 31, 0),
        modify=datetime(2022, 1, 1, 0, 0, 0),
        make="Canon",
        model="Canon EOS 5D",
        size=(64, 48),
    )
    info = read(path, from_disk=from_disk)
    assert info.captured is not None
    assert info.captured.wall == datetime(2021, 7, 4, 18, 30, 0)
    assert info.captured.source is DateSource.EXIF_DATETIME_ORIGINAL
    assert info.captured.utc_offset is None
    assert (info.make, info.model) == ("Canon", "Canon EOS 5D")
    assert (info.width, info.height) == (64, 48)
    assert info.format == "JPEG"
    assert not info.is_video
    assert info.problems == ()


def test_jpeg_offset_and_subsec(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "2021:07:04 18:30:00", offset="+02:00", subsec="123")
    captured = read(path).captured
    assert captured is not None
    assert captured.wall == datetime(2021, 7, 4, 18, 30, 0, 123000)
    assert captured.utc_offset == timedelta(hours=2)
    assert captured.isoformat() == "2021-07-04T18:30:00.123000+02:00"


@pytest.mark.parametrize(
    "zero", ["0000:00:00 00:00:00", "    :  :     :  :  ", "1601:01:01 00:00:00"]
)
def test_zero_date_falls_through_to_create_date(tmp_path: Path, zero: str) -> None:
    path = make_jpeg(tmp_path / "a.jpg", zero, digitized="2010:05:06 07:08:09")
    captured = read(path).captured
    assert captured is not None
    assert captured.wall == datetime(2010, 5, 6, 7, 8, 9)
    assert captured.source is DateSource.EXIF_CREATE_DATE


def test_zero_dates_everywhere_means_no_date(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", "0000:00:00 00:00:00", digitized="0000:00:00 00:00:00")
    assert read(path).captured is None


def test_modify_date_is_the_last_resort(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", None, modify="2005:01:02 03:04:05", make="Nikon")
    captured = read(path).captured
    assert captured is not None
    assert captured.source is DateSource.EXIF_MODIFY_DATE
    assert captured.wall == datetime(2005, 1, 2, 3, 4, 5)


def test_jpeg_without_exif(tmp_path: Path) -> None:
    info = read(make_jpeg(tmp_path / "a.jpg", size=(33, 17)))
    assert info.captured is None and info.make is None
    assert (info.width, info.height) == (33, 17)


def test_extension_lies(tmp_path: Path) -> None:
    real = make_jpeg(tmp_path / "a.jpg", datetime(2020, 2, 2, 2, 2, 2))
    for name in ("photo.heic", "photo.png", "video.mov"):
        fake = tmp_path / name
        fake.write_bytes(real.read_bytes())
        info = read(fake)
        assert info.format == "JPEG"
        assert not info.is_video
        assert info.captured is not None and info.captured.wall == datetime(2020, 2, 2, 2, 2, 2)


def test_truncated_jpeg_reports_problem_and_keeps_metadata(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", datetime(2019, 1, 1, 1, 1, 1), size=(256, 256))
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) - 500])
    info = read(cut)
    assert info.captured is not None and info.captured.wall == datetime(2019, 1, 1, 1, 1, 1)
    assert (info.width, info.height) == (256, 256)
    assert any("truncated" in p for p in info.problems)
    assert read(path).problems == ()


def test_corrupt_exif_is_a_warning_not_damage(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "a.jpg", datetime(2019, 1, 1, 1, 1, 1))
    data = bytearray(path.read_bytes())
    at = data.find(b"Exif\0\0")
    data[at + 6 : at + 8] = b"XX"  # destroy the TIFF byte-order mark
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(bytes(data))
    info = read(bad)
    assert info.captured is None
    assert info.width == 64
    assert info.problems == ()  # the picture itself is fine: it is imported
    assert any("EXIF" in w for w in info.warnings)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file (0 bytes)"),
        (b"\0" * 5000, "all zero bytes"),
        (b"hello, this is a text file\n" * 10, "unrecognised content"),
        (random.Random(3).randbytes(4096), "unrecognised content"),
        (b"\xff\xd8\xff", "not a readable JPEG"),
    ],
)
def test_unreadable_files_raise_metadata_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    for data in (content, None):
        with pytest.raises(MetadataError, match=re.escape(reason)):
            read_media(path, data, UTC)


def test_missing_file_is_a_metadata_error(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="cannot read"):
        read_media(tmp_path / "nope.jpg", None, UTC)


# --- PNG / HEIC ----------------------------------------------------------------------


def test_png_size(tmp_path: Path) -> None:
    info = read(make_png(tmp_path / "a.png", size=(40, 30)))
    assert (info.format, info.width, info.height, info.captured) == ("PNG", 40, 30, None)


def test_png_exif_chunk(tmp_path: Path) -> None:
    from tests.media import exif_bytes, noise_image

    path = tmp_path / "a.png"
    noise_image((20, 10)).save(path, "PNG", exif=exif_bytes("2018:03:04 05:06:07", make="Sony"))
    info = read(path)
    assert info.captured is not None and info.captured.wall == datetime(2018, 3, 4, 5, 6, 7)
    assert info.make == "Sony"


def test_heic_exif_and_size(tmp_path: Path) -> None:
    path = make_heic(
        tmp_path / "a.heic",
        datetime(2022, 8, 9, 10, 11, 12),
        size=(128, 64),  # multiples of 64: no padding + clap crop by the encoder
        offset="-05:00",
        make="Apple",
        model="iPhone 13",
    )
    info = read(path)
    assert info.format == "HEIC"
    assert (info.width, info.height) == (128, 64)
    assert (info.make, info.model) == ("Apple", "iPhone 13")
    assert info.captured is not None
    assert info.captured.wall == datetime(2022, 8, 9, 10, 11, 12)
    assert info.captured.utc_offset == timedelta(hours=-5)
    assert info.captured.source is DateSource.EXIF_DATETIME_ORIGINAL


def test_heic_named_jpg(tmp_path: Path) -> None:
    path = make_heic(tmp_path / "a.heic", datetime(2022, 8, 9, 10, 11, 12))
    fake = tmp_path / "a.jpg"
    fake.write_bytes(path.read_bytes())
    assert read(fake).format == "HEIC"


# --- MP4 / MOV -----------------------------------------------------------------------


@pytest.mark.parametrize("from_disk", [False, True])
def test_mp4_utc_converted_to_local_wall_time(tmp_path: Path, from_disk: bool) -> None:
    path = make_mp4(tmp_path / "a.mp4", datetime(2021, 7, 4, 16, 30, 0), size=(1280, 720))
    info = read(path, PARIS, from_disk=from_disk)
    assert info.format == "MP4" and info.is_video
    assert (info.width, info.height) == (1280, 720)
    captured = info.captured
    assert captured is not None
    assert captured.source is DateSource.QUICKTIME_CREATE_DATE
    assert captured.wall == datetime(2021, 7, 4, 18, 30, 0)  # Paris summer time, +02:00
    assert captured.utc_offset == timedelta(hours=2)


def test_mp4_winter_offset_and_other_zone(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "a.mp4", datetime(2021, 1, 4, 16, 30, 0))
    captured = read(path, PARIS).captured
    assert captured is not None
    assert (captured.wall, captured.utc_offset) == (
        datetime(2021, 1, 4, 17, 30),
        timedelta(hours=1),
    )
    captured = read(path, ZoneInfo("America/New_York")).captured
    assert captured is not None
    assert (captured.wall, captured.utc_offset) == (
        datetime(2021, 1, 4, 11, 30),
        timedelta(hours=-5),
    )


def test_mov_apple_creationdate_wins(tmp_path: Path) -> None:
    path = make_mov(
        tmp_path / "a.mov",
        datetime(2021, 7, 4, 16, 30, 20),  # written when recording ended, UTC
        apple_creation_date="2021-07-04T09:30:00-0700",
    )
    info = read(path, PARIS)
    assert info.format == "MOV" and info.is_video
    captured = info.captured
    assert captured is not None
    assert captured.source is DateSource.QUICKTIME_CREATION_DATE
    assert captured.wall == datetime(2021, 7, 4, 9, 30, 0)  # the local time where it was shot
    assert captured.utc_offset == timedelta(hours=-7)


def test_moov_after_mdat(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "a.mp4", datetime(2020, 3, 1, 12, 0, 0), mdat_first=True)
    for from_disk in (False, True):
        captured = read(path, UTC, from_disk=from_disk).captured
        assert captured is not None and captured.wall == datetime(2020, 3, 1, 12, 0, 0)


def test_zero_quicktime_date_is_no_date(tmp_path: Path) -> None:
    info = read(make_mp4(tmp_path / "a.mp4", None))
    assert info.captured is None
    assert info.is_video


def test_truncated_mp4_moov(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "a.mp4", datetime(2020, 3, 1, 12, 0, 0))
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:100])  # inside moov
    info = read(cut, UTC)
    assert any("truncated" in p for p in info.problems)


def test_big_video_is_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With data=None, an mdat is skipped by offset: reads stay small."""
    path = make_mp4(tmp_path / "a.mp4", datetime(2020, 3, 1, 12, 0, 0), mdat_first=True)
    data = path.read_bytes()
    ftyp_len = struct.unpack(">I", data[:4])[0]
    big = data[:ftyp_len] + box(b"mdat", b"\0" * (8 * 1024 * 1024)) + data[ftyp_len:]
    (tmp_path / "big.mp4").write_bytes(big)
    from photoorganiser.media import bmff

    sizes: list[int] = []
    original = bmff.Source.read

    def spy(self, offset: int, length: int) -> bytes:
        sizes.append(length)
        return original(self, offset, length)

    monkeypatch.setattr(bmff.Source, "read", spy)
    captured = read_media(tmp_path / "big.mp4", None, UTC).captured
    assert captured is not None and captured.wall == datetime(2020, 3, 1, 12, 0, 0)
    assert sum(sizes) < 512 * 1024


# --- video dates besides mvhd ---------------------------------------------------------

XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")


def _mp4_with(tmp_path: Path, created_utc: datetime, extra_moov: bytes, extra_top: bytes = b""):
    from tests.media import full_box, mdhd, mvhd, tkhd

    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isommp41")
    hdlr = full_box(b"hdlr", 0, 0, b"\0\0\0\0vide" + b"\0" * 12 + b"VideoHandler\0")
    trak = box(b"trak", tkhd(created_utc, 640, 480) + box(b"mdia", mdhd(created_utc) + hdlr))
    moov = box(b"moov", mvhd(created_utc) + trak + extra_moov)
    path = tmp_path / "v.mp4"
    path.write_bytes(ftyp + moov + extra_top + box(b"mdat", b"\0" * 64))
    return path


def test_userdata_date_with_zone_beats_mvhd(tmp_path: Path) -> None:
    udta = box(b"udta", box(b"date", b"2018-02-07T10:15:08-0500"))
    path = _mp4_with(tmp_path, datetime(2018, 2, 7, 15, 15, 30), udta)
    captured = read(path, PARIS).captured
    assert captured is not None
    assert captured.source is DateSource.QUICKTIME_DATETIME_ORIGINAL
    assert captured.wall == datetime(2018, 2, 7, 10, 15, 8)
    assert captured.utc_offset == timedelta(hours=-5)


def _xmp(date: str) -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="{date}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()


def test_xmp_date_naming_the_same_instant_gives_the_local_zone(tmp_path: Path) -> None:
    top = box(b"uuid", XMP_UUID + _xmp("2019-02-15T16:13:20-05:00"))
    path = _mp4_with(tmp_path, datetime(2019, 2, 15, 21, 13, 20), b"", top)
    captured = read(path, PARIS).captured
    assert captured is not None
    assert captured.source is DateSource.XMP_CREATE_DATE
    assert (captured.wall, captured.utc_offset) == (
        datetime(2019, 2, 15, 16, 13, 20),
        timedelta(hours=-5),
    )


def test_xmp_date_naming_another_instant_loses_to_mvhd(tmp_path: Path) -> None:
    top = box(b"uuid", XMP_UUID + _xmp("2019-02-15T18:13:20-05:00"))
    path = _mp4_with(tmp_path, datetime(2019, 2, 15, 21, 13, 20), b"", top)
    captured = read(path, PARIS).captured
    assert captured is not None
    assert captured.source is DateSource.QUICKTIME_CREATE_DATE
    assert (captured.wall, captured.utc_offset) == (
        datetime(2019, 2, 15, 22, 13, 20),
        timedelta(hours=1),
    )


def test_xmp_only_video(tmp_path: Path) -> None:
    top = box(b"uuid", XMP_UUID + _xmp("2020-01-05T15:04Z"))
    path = _mp4_with(tmp_path, None, b"", top)  # type: ignore[arg-type]
    captured = read(path, PARIS).captured
    assert captured is not None
    assert captured.source is DateSource.XMP_CREATE_DATE
    assert (captured.wall, captured.utc_offset) == (datetime(2020, 1, 5, 15, 4), timedelta(0))


# --- garbage never escapes as anything but MetadataError --------------------------------


def test_mutated_files_only_raise_metadata_error(tmp_path: Path) -> None:
    rng = random.Random(7)
    sources = [
        make_jpeg(tmp_path / "a.jpg", datetime(2020, 1, 1), make="X", offset="+01:00"),
        make_heic(tmp_path / "a.heic", datetime(2020, 1, 1)),
        make_mov(tmp_path / "a.mov", datetime(2020, 1, 1), apple_creation_date="2020-01-01"),
        make_png(tmp_path / "a.png"),
    ]
    for source in sources:
        data = source.read_bytes()
        for _ in range(150):
            mutated = bytearray(data[: rng.randrange(1, len(data) + 1)])
            for _ in range(rng.randrange(0, 12)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            try:
                read_media(source, bytes(mutated), UTC)
            except MetadataError as exc:
                assert not str(exc).startswith("unreadable metadata"), str(exc)  # a bug of ours

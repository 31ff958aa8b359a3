"""Capture dates from file names, Google Takeout JSON and XMP sidecars."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from photoorganiser.core.values import DateSource
from photoorganiser.media.dates import date_from_filename, date_from_takeout_json, parse_datetime
from photoorganiser.media.xmp import date_from_xmp_sidecar


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IMG_20200101_120000.jpg", datetime(2020, 1, 1, 12, 0, 0)),
        ("PXL_20200102_130405123.jpg", datetime(2020, 1, 2, 13, 4, 5, 123000)),
        ("PXL_20200102_130405123.MP.jpg", datetime(2020, 1, 2, 13, 4, 5, 123000)),
        ("VID_20200103_140506.mp4", datetime(2020, 1, 3, 14, 5, 6)),
        ("2020-01-04 12.00.01.jpg", datetime(2020, 1, 4, 12, 0, 1)),
        ("2020-01-05 12_00_02.jpg", datetime(2020, 1, 5, 12, 0, 2)),
        ("Screenshot_2020-01-06-12-00-03.png", datetime(2020, 1, 6, 12, 0, 3)),
        ("Screenshot 2019-05-21 at 10.45.52.png", datetime(2019, 5, 21, 10, 45, 52)),
        ("20200107_120004.jpg", datetime(2020, 1, 7, 12, 0, 4)),
        ("telegram_2020-01-30_09-57-18.jpg", datetime(2020, 1, 30, 9, 57, 18)),
        ("IMG_20200108_120005_1.jpg", datetime(2020, 1, 8, 12, 0, 5)),  # burst index: no ms
        # WhatsApp names carry a date only: 00:00:00 of that day (exiftool's convention)
        ("IMG-20200109-WA0001.jpg", datetime(2020, 1, 9)),
        ("VID-20200110-WA0012.mp4", datetime(2020, 1, 10)),
        ("holiday 2019-12-24.jpg", datetime(2019, 12, 24)),
    ],
)
def test_filename_patterns(name: str, expected: datetime) -> None:
    got = date_from_filename(name)
    assert got is not None
    assert got.wall == expected
    assert got.source is DateSource.FILENAME
    assert got.utc_offset is None


@pytest.mark.parametrize(
    "name",
    [
        "DSC_1234.JPG",
        "IMG_1234.HEIC",
        "1577836800000.jpg",  # 13-digit serial / epoch milliseconds
        "IMG_12345678901234.jpg",  # 14 digits that are not a date
        "IMG_20201301_120000.jpg",  # month 13
        "IMG_20200230_120000.jpg",  # 30 February
        "IMG_20200101_250000.jpg",  # hour 25
        "2020-02-30.jpg",
        "IMG-20201332-WA0001.jpg",
        "scan_1899-01-01.jpg",  # before digital file names
        "random 123456.jpg",
        "",
    ],
)
def test_filename_rejects(name: str) -> None:
    assert date_from_filename(name) is None


def test_takeout_json_is_utc_converted_to_local() -> None:
    data = json.dumps(
        {"title": "x.jpg", "photoTakenTime": {"timestamp": "1423073935", "formatted": "..."}}
    ).encode()
    got = date_from_takeout_json(data, ZoneInfo("Europe/Paris"))
    assert got is not None
    assert got.source is DateSource.TAKEOUT_JSON
    # 2015-02-04 18:18:55 UTC is 19:18:55 in Paris (winter, +01:00)
    assert got.wall == datetime(2015, 2, 4, 19, 18, 55)
    assert got.utc_offset == timedelta(hours=1)


def test_takeout_json_summer_offset() -> None:
    data = b'{"photoTakenTime": {"timestamp": "1593000000"}}'  # 2020-06-24 12:00:00 UTC
    got = date_from_takeout_json(data, ZoneInfo("Europe/Paris"))
    assert got is not None
    assert got.wall == datetime(2020, 6, 24, 14, 0, 0)
    assert got.utc_offset == timedelta(hours=2)


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"photoTakenTime": {}}', b'{"photoTakenTime": {"timestamp": "0"}}'],
)
def test_takeout_json_garbage(data: bytes) -> None:
    assert date_from_takeout_json(data, ZoneInfo("UTC")) is None


XMP = """<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
  xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
  xmp:CreateDate="2021-01-01T10:00:00+01:00" {extra}>
 <photoshop:DateCreated>{created}</photoshop:DateCreated>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_xmp_sidecar_priority() -> None:
    both = XMP.format(
        extra='exif:DateTimeOriginal="2020-05-06T07:08:09.5-04:00"', created="2019-01-01"
    )
    got = date_from_xmp_sidecar(both.encode())
    assert got is not None
    assert got.source is DateSource.XMP_SIDECAR
    assert got.wall == datetime(2020, 5, 6, 7, 8, 9, 500000)
    assert got.utc_offset == timedelta(hours=-4)
    # without DateTimeOriginal, photoshop:DateCreated beats xmp:CreateDate
    got = date_from_xmp_sidecar(XMP.format(extra="", created="2019-02-03T04:05:06").encode())
    assert got is not None and got.wall == datetime(2019, 2, 3, 4, 5, 6)
    # a zero DateCreated falls through to CreateDate
    got = date_from_xmp_sidecar(XMP.format(extra="", created="0000-00-00T00:00:00").encode())
    assert got is not None and got.wall == datetime(2021, 1, 1, 10, 0, 0)
    assert got.utc_offset == timedelta(hours=1)


def test_xmp_sidecar_empty() -> None:
    assert date_from_xmp_sidecar(b"") is None
    assert date_from_xmp_sidecar(b"\x00\xff garbage") is None


@pytest.mark.parametrize(
    ("text", "wall", "offset"),
    [
        ("2020:01:02 03:04:05", datetime(2020, 1, 2, 3, 4, 5), None),
        ("2020:01:02 03:04:05\x00", datetime(2020, 1, 2, 3, 4, 5), None),
        ("2020-01-02T03:04:05.25Z", datetime(2020, 1, 2, 3, 4, 5, 250000), timedelta(0)),
        (
            "2024:04:22 14:38:09.526GMT+02:00",
            datetime(2024, 4, 22, 14, 38, 9, 526000),
            timedelta(hours=2),
        ),
        ("2019:05:04 05:53+02:00", datetime(2019, 5, 4, 5, 53), timedelta(hours=2)),
        ("2019:09:02", datetime(2019, 9, 2), None),
        ("1919:06:01 12:00:00", datetime(1919, 6, 1, 12), None),
    ],
)
def test_parse_datetime(text: str, wall: datetime, offset: timedelta | None) -> None:
    assert parse_datetime(text) == (wall, offset)


@pytest.mark.parametrize(
    "text",
    [
        "0000:00:00 00:00:00",
        "    :  :     :  :  ",
        "",
        "2020:13:01 00:00:00",
        "2020:02:30 00:00:00",
        "1601:06:06 16:39:33",  # the Windows FILETIME epoch: a zero date in disguise
        "2216:11:15 11:46:51",
        "garbage",
    ],
)
def test_parse_datetime_rejects(text: str) -> None:
    assert parse_datetime(text) is None


def test_a_date_written_with_utc_keeps_its_zero_offset() -> None:
    from datetime import timedelta

    from photoorganiser.media.dates import parse_rfc_date

    for text in ("Wed, 01 Jan 2020 12:00:00 UTC", "Wed, 01 Jan 2020 12:00:00 GMT"):
        wall, offset = parse_rfc_date(text)
        assert wall == datetime(2020, 1, 1, 12, 0, 0) and offset == timedelta(0), text
    _wall, offset = parse_rfc_date("Wed, 01 Jan 2020 12:00:00")
    assert offset is None  # no zone written, none invented

"""Issue 13: lenient JPEG, the MWG date order, more formats, phone videos' zones.

Every file is built here (Pillow, piexif, raw segments); none comes from the corpus.
"""

from __future__ import annotations

import io
import struct
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from photoorganiser.core.values import DateSource
from photoorganiser.media.metadata import read_media
from tests.media import exif_bytes, make_mp4, noise_image

UTC = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")


def read(path: Path, tz=UTC):
    return read_media(path, path.read_bytes(), tz)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def insert_after_soi(jpeg: bytes, extra: bytes) -> bytes:
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + extra + jpeg[2:]


def jpeg_bytes(exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    if exif is None:
        noise_image((32, 24)).save(out, "JPEG")
    else:
        noise_image((32, 24)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def iptc_app13(date: str, time: str | None = None, resources: bytes = b"") -> bytes:
    records = b"\x1c\x02\x00\x00\x02\x00\x04"  # record version
    records += b"\x1c\x02\x37" + struct.pack(">H", len(date)) + date.encode()
    if time is not None:
        records += b"\x1c\x02\x3c" + struct.pack(">H", len(time)) + time.encode()
    if len(records) % 2:
        records += b"\0"
    block = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(records)) + records
    return segment(0xED, b"Photoshop 3.0\0" + resources + block)


def pillow_opens(path: Path) -> bool:
    with Image.open(path) as img:
        img.load()
    return True


# --- lenient JPEG ----------------------------------------------------------------


def test_stray_bytes_after_a_segment_are_not_damage(tmp_path: Path) -> None:
    """An APP13 16 bytes short: libjpeg skips them, and so do we (with a note)."""
    data = jpeg_bytes(exif_bytes(datetime(2019, 5, 1, 10, 0, 0)))
    app13 = segment(0xED, b"Photoshop 3.0\0" + b"8BIM\x04\x25\0\0\0\0\0\x10" + bytes(16))
    short = app13[:2] + struct.pack(">H", len(app13) - 2 - 16) + app13[4:]
    path = tmp_path / "short_app13.jpg"
    path.write_bytes(insert_after_soi(data, short))
    assert pillow_opens(path)
    info = read(path)
    assert info.problems == ()
    assert any("stray bytes" in w for w in info.warnings)
    assert info.captured is not None and info.captured.wall == datetime(2019, 5, 1, 10, 0, 0)
    assert (info.width, info.height) == (32, 24)


def test_app14_one_byte_short(tmp_path: Path) -> None:
    adobe = segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01")
    short = adobe[:2] + struct.pack(">H", len(adobe) - 3) + adobe[4:]
    path = tmp_path / "short_app14.jpg"
    path.write_bytes(insert_after_soi(jpeg_bytes(), short))
    assert pillow_opens(path)
    assert read(path).problems == ()


def test_garbage_with_no_marker_in_reach_is_still_damage(tmp_path: Path) -> None:
    data = jpeg_bytes()
    sos = data.index(b"\xff\xda")
    path = tmp_path / "garbage.jpg"
    path.write_bytes(data[:sos] + bytes(200_000))
    info = read(path)
    assert any("corrupt JPEG" in p for p in info.problems)


# --- the MWG date order ----------------------------------------------------------


def test_iptc_date_created_beats_exif_create_date(tmp_path: Path) -> None:
    """A film scan: CreateDate is the scan, IPTC DateCreated the picture."""
    data = jpeg_bytes(exif_bytes(digitized=datetime(2020, 3, 3, 9, 0, 0)))
    path = tmp_path / "scan.jpg"
    path.write_bytes(insert_after_soi(data, iptc_app13("19870704", "153000+0200")))
    info = read(path)
    assert info.captured is not None
    assert info.captured.source is DateSource.IPTC_DATE_CREATED
    assert info.captured.wall == datetime(1987, 7, 4, 15, 30, 0)
    assert info.captured.isoformat() == "1987-07-04T15:30:00+02:00"


def test_iptc_in_the_first_of_two_app13_segments(tmp_path: Path) -> None:
    second = segment(0xED, b"Photoshop 3.0\0" + b"8BIM\x04\x25\0\0\0\0\0\x10" + bytes(16))
    data = insert_after_soi(jpeg_bytes(), iptc_app13("19990102", "030405") + second)
    path = tmp_path / "two_app13.jpg"
    path.write_bytes(data)
    info = read(path)
    assert info.captured is not None and info.captured.wall == datetime(1999, 1, 2, 3, 4, 5)


def test_exif_datetime_original_beats_iptc(tmp_path: Path) -> None:
    data = jpeg_bytes(exif_bytes(datetime(2021, 1, 1, 12, 0, 0)))
    path = tmp_path / "both.jpg"
    path.write_bytes(insert_after_soi(data, iptc_app13("19870704", "153000")))
    assert read(path).captured.source is DateSource.EXIF_DATETIME_ORIGINAL


def test_iptc_date_without_time_gives_way_to_a_same_day_time(tmp_path: Path) -> None:
    data = jpeg_bytes(exif_bytes(digitized=datetime(1987, 7, 4, 15, 30, 0)))
    path = tmp_path / "dateonly.jpg"
    path.write_bytes(insert_after_soi(data, iptc_app13("19870704")))
    info = read(path)
    assert info.captured.source is DateSource.EXIF_CREATE_DATE
    assert info.captured.wall == datetime(1987, 7, 4, 15, 30, 0)


def test_photoshop_date_created_beats_xmp_create_date(tmp_path: Path) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        b'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        b'xmp:CreateDate="2024-02-02T10:00:00" photoshop:DateCreated="2001-09-08T07:06:05"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    app1 = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp)
    path = tmp_path / "export.jpg"
    path.write_bytes(insert_after_soi(jpeg_bytes(), app1))
    info = read(path)
    assert info.captured.source is DateSource.XMP_DATE_CREATED
    assert info.captured.wall == datetime(2001, 9, 8, 7, 6, 5)


def test_datetime_original_in_ifd0_is_found(tmp_path: Path) -> None:
    # IFD0 with one entry, DateTimeOriginal (0x9003), which piexif will not put there
    value = b"2012:12:12 12:12:12\0"
    tiff = b"MM\0*" + struct.pack(">IH", 8, 1)
    tiff += struct.pack(">HHII", 0x9003, 2, len(value), 8 + 2 + 12 + 4) + struct.pack(">I", 0)
    exif = b"Exif\0\0" + tiff + value
    path = tmp_path / "ifd0.jpg"
    path.write_bytes(jpeg_bytes(exif))
    info = read(path)
    assert info.captured.source is DateSource.EXIF_DATETIME_ORIGINAL
    assert info.captured.wall == datetime(2012, 12, 12, 12, 12, 12)


# --- formats -----------------------------------------------------------------------


def test_mpo_and_new_video_extensions_are_media() -> None:
    from photoorganiser.core.values import FileKind
    from photoorganiser.media.scan import classify

    assert classify("DSCF0001.MPO")[0] is FileKind.IMAGE
    assert classify("a.jxl")[0] is FileKind.IMAGE
    for name in ("MOV001.MOD", "MOV001.TOD", "VTS_01_1.VOB", "clip.webm", "clip.m2t"):
        assert classify(name)[0] is FileKind.VIDEO, name


def test_mpo_reads_as_a_jpeg(tmp_path: Path) -> None:
    mpf = segment(0xE2, b"MPF\0" + b"MM\0*\0\0\0\x08" + bytes(8))
    data = jpeg_bytes(exif_bytes(datetime(2011, 8, 1, 9, 0, 0), make="FUJIFILM"))
    path = tmp_path / "DSCF0001.MPO"
    path.write_bytes(insert_after_soi(data, mpf) + data)  # two images, as a 3D camera writes
    info = read(path)
    assert info.format == "MPO" and info.make == "FUJIFILM" and info.problems == ()
    assert info.captured.wall == datetime(2011, 8, 1, 9, 0, 0)


def test_mpeg_program_stream_size(tmp_path: Path) -> None:
    pack = b"\0\0\1\xba" + bytes.fromhex("440004000401018bf8")
    seq = b"\0\0\1\xb3" + bytes([720 >> 4, ((720 & 15) << 4) | (576 >> 8), 576 & 0xFF]) + b"\x33"
    path = tmp_path / "MOV001.MOD"
    path.write_bytes(pack + b"\0\0\1\xe0\0\x20" + bytes(6) + seq + bytes(2000))
    info = read(path)
    assert (info.format, info.is_video, info.width, info.height) == ("MPEG", True, 720, 576)


def _jxl_codestream(width: int, height: int) -> bytes:
    """FF 0A + a SizeHeader with explicit 13-bit sizes (no ratio), LSB-first bits."""
    bits = [0]  # not small
    for value in (height, None, width):
        if value is None:
            bits += [0, 0, 0]  # ratio 0
            continue
        bits += [1, 0]  # selector 1: 13 bits
        bits += [((value - 1) >> i) & 1 for i in range(13)]
    bits += [0] * (-len(bits) % 8)
    raw = bytes(sum(b << i for i, b in enumerate(bits[k : k + 8])) for k in range(0, len(bits), 8))
    return b"\xff\x0a" + raw + bytes(16)


def test_jpeg_xl_codestream_and_container(tmp_path: Path) -> None:
    bare = tmp_path / "bare.jxl"
    bare.write_bytes(_jxl_codestream(1000, 750))
    info = read(bare)
    assert (info.format, info.width, info.height) == ("JXL", 1000, 750)

    tiff = exif_bytes(datetime(2023, 5, 6, 7, 8, 9), make="Canon")
    boxes = b"\0\0\0\x0cJXL \r\n\x87\n" + struct.pack(">I4s", 20, b"ftyp") + b"jxl \0\0\0\0jxl "
    exif_payload = b"\0\0\0\0" + tiff[6:] if tiff.startswith(b"Exif") else b"\0\0\0\0" + tiff
    boxes += struct.pack(">I4s", 8 + len(exif_payload), b"Exif") + exif_payload
    code = _jxl_codestream(4000, 3000)
    boxes += struct.pack(">I4s", 8 + len(code), b"jxlc") + code
    boxed = tmp_path / "boxed.jxl"
    boxed.write_bytes(boxes)
    info = read(boxed)
    assert (info.width, info.height, info.make) == (4000, 3000, "Canon")
    assert info.captured.wall == datetime(2023, 5, 6, 7, 8, 9)


# --- phone videos' zones -----------------------------------------------------------


def test_samsung_name_gives_the_zone_on_a_utc_machine(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "20240128_105420.mp4", datetime(2024, 1, 28, 9, 54, 20))
    info = read(path, UTC)
    assert info.captured.source is DateSource.QUICKTIME_UTC_NAME_ZONE
    assert info.captured.isoformat() == "2024-01-28T10:54:20+01:00"


def test_pixel_name_half_hour_zone_and_end_of_recording_slack(tmp_path: Path) -> None:
    # India (+05:30); the container date written 40 s after the name's time
    path = make_mp4(tmp_path / "PXL_20230305_101500123.mp4", datetime(2023, 3, 5, 4, 45, 40))
    info = read(path, UTC)
    assert info.captured.isoformat() == "2023-03-05T10:15:40+05:30"


def test_a_name_that_is_no_zone_falls_back_to_the_timezone(tmp_path: Path) -> None:
    # 1 h 40 min off: not a whole number of quarter hours (nor 2 minutes from one)
    path = make_mp4(tmp_path / "VID_20230305_114000.mp4", datetime(2023, 3, 5, 10, 0, 0))
    info = read(path, PARIS)
    assert info.captured.source is DateSource.QUICKTIME_CREATE_DATE
    assert info.captured.isoformat() == "2023-03-05T11:00:00+01:00"
    plain = make_mp4(tmp_path / "clip.mp4", datetime(2023, 3, 5, 10, 0, 0))
    assert read(plain, PARIS).captured.source is DateSource.QUICKTIME_CREATE_DATE


def test_a_daylight_saving_fold_is_said(tmp_path: Path) -> None:
    # 00:30 and 01:30 UTC on 2023-10-29 are both 02:30 in Paris
    first = read(make_mp4(tmp_path / "a.mp4", datetime(2023, 10, 29, 0, 30)), PARIS)
    second = read(make_mp4(tmp_path / "b.mp4", datetime(2023, 10, 29, 1, 30)), PARIS)
    assert first.captured.isoformat() == "2023-10-29T02:30:00+02:00"
    assert second.captured.isoformat() == "2023-10-29T02:30:00+01:00"
    assert any("daylight-saving fold" in w for w in first.warnings)
    assert not any(
        "daylight" in w
        for w in read(make_mp4(tmp_path / "c.mp4", datetime(2023, 10, 30)), PARIS).warnings
    )


def _analysis(path: str, kind, captured, make="Google", model="Pixel 7", media_captured=True):
    from photoorganiser.core.values import Analysis, MediaInfo, ScanEntry

    media = MediaInfo(captured=captured if media_captured else None, make=make, model=model)
    return Analysis(ScanEntry(Path(path), kind), "0" * 32, media, captured)


def test_nearest_photo_of_the_same_camera_gives_the_zone() -> None:
    from datetime import timedelta

    from photoorganiser.core.values import CaptureDate, FileKind
    from photoorganiser.media.zones import photo_zones

    tokyo = timedelta(hours=9)
    photo = _analysis(
        "/in/IMG_1.jpg",
        FileKind.IMAGE,
        CaptureDate(datetime(2024, 4, 1, 12, 0), DateSource.EXIF_DATETIME_ORIGINAL, tokyo),
    )
    far_photo = _analysis(
        "/in/IMG_2.jpg",
        FileKind.IMAGE,
        CaptureDate(datetime(2024, 4, 3, 12, 0), DateSource.EXIF_DATETIME_ORIGINAL, -tokyo),
    )
    # read on a UTC machine: 03:30 UTC is 12:30 in Tokyo, half an hour after the photo
    utc_rule = CaptureDate(
        datetime(2024, 4, 1, 3, 30), DateSource.QUICKTIME_CREATE_DATE, timedelta(0)
    )
    video = _analysis("/in/clip.mp4", FileKind.VIDEO, utc_rule)
    other_camera = _analysis("/in/other.mp4", FileKind.VIDEO, utc_rule, model="Pixel 8")
    late = CaptureDate(datetime(2024, 4, 1, 20, 0), DateSource.QUICKTIME_CREATE_DATE, timedelta(0))
    too_far = _analysis("/in/late.mp4", FileKind.VIDEO, late)
    out = {
        a.entry.path.name: a.captured
        for a in photo_zones([photo, far_photo, video, other_camera, too_far])
    }
    assert out["clip.mp4"].isoformat() == "2024-04-01T12:30:00+09:00"
    assert out["clip.mp4"].source is DateSource.QUICKTIME_UTC_PHOTO_ZONE
    assert out["other.mp4"] == utc_rule  # another camera: rule 3 stays
    assert out["late.mp4"] == late  # 8 hours from the photo: too far
    assert out["IMG_1.jpg"] == photo.captured


def test_a_photo_without_an_offset_gives_no_zone() -> None:
    from datetime import timedelta

    from photoorganiser.core.values import CaptureDate, FileKind
    from photoorganiser.media.zones import photo_zones

    photo = _analysis(
        "/in/IMG_1.jpg",
        FileKind.IMAGE,
        CaptureDate(datetime(2024, 4, 1, 12, 0), DateSource.EXIF_DATETIME_ORIGINAL),
    )
    utc_rule = CaptureDate(
        datetime(2024, 4, 1, 3, 30), DateSource.QUICKTIME_CREATE_DATE, timedelta(0)
    )
    video = _analysis("/in/clip.mp4", FileKind.VIDEO, utc_rule)
    assert photo_zones([photo, video])[1].captured == utc_rule


def test_minolta_colon_separated_date_time() -> None:
    from photoorganiser.media.dates import parse_datetime

    assert parse_datetime("2003:08:27:00:09:15") == (datetime(2003, 8, 27, 0, 9, 15), None)
    assert parse_datetime("2003:08:27:00:09:1") is None  # cut short


def test_a_superscript_in_subsec_is_no_digit(tmp_path: Path) -> None:
    """Found by the fuzz bench: latin-1 "³" passed str.isdigit() and broke int()."""
    import piexif

    exif = {
        piexif.ExifIFD.DateTimeOriginal: b"2020:01:01 10:00:00",
        piexif.ExifIFD.SubSecTimeOriginal: b"3\xb31",
    }
    data = jpeg_bytes(piexif.dump({"0th": {}, "Exif": exif, "GPS": {}, "1st": {}}))
    path = tmp_path / "subsec.jpg"
    path.write_bytes(data)
    assert read(path).captured.wall == datetime(2020, 1, 1, 10, 0, 0)


# --- through the import ----------------------------------------------------------


def test_import_puts_phone_videos_in_their_zone(tmp_path: Path, monkeypatch) -> None:
    """On a UTC machine: the Samsung video by its name (rule 1), the Pixel video by the
    Pixel photo taken 20 minutes before in Tokyo (rule 2), the other by --timezone (3)."""
    from photoorganiser.cli import main
    from tests.media import make_jpeg
    from tests.reports import rows

    monkeypatch.chdir(tmp_path)
    inbox, library, report = tmp_path / "in", tmp_path / "lib", tmp_path / "plan.csv"
    make_mp4(inbox / "20240128_105420.mp4", datetime(2024, 1, 28, 9, 54, 20), seed=1)
    make_jpeg(
        inbox / "IMG_1.jpg",
        datetime(2024, 4, 1, 12, 0, 0),
        offset="+09:00",
        make="Google",
        model="Pixel 7",
    )
    keys = {"com.apple.quicktime.make": "Google", "com.apple.quicktime.model": "Pixel 7"}
    make_mp4(inbox / "clip.mp4", datetime(2024, 4, 1, 3, 20, 0), apple_keys=keys, seed=2)
    # no make/model, in another folder than the photo: no photo's zone reaches it
    make_mp4(inbox / "elsewhere" / "other.mp4", datetime(2024, 4, 1, 3, 20, 0), seed=3)
    args = ["import", "--input", str(inbox), "--output", str(library), "--dryrun"]
    args += ["--report", str(report), "--timezone", "UTC", "--quiet"]
    assert main(args) == 0
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert got["20240128_105420.mp4"]["date_source"] == "QuickTime:CreateDate+FileName:zone"
    assert got["20240128_105420.mp4"]["captured_at"] == "2024-01-28T10:54:20+01:00"
    assert got["clip.mp4"]["date_source"] == "QuickTime:CreateDate+NearestPhoto:zone"
    assert got["clip.mp4"]["captured_at"] == "2024-04-01T12:20:00+09:00"
    assert got["other.mp4"]["date_source"] == "QuickTime:CreateDate"
    assert got["other.mp4"]["captured_at"] == "2024-04-01T03:20:00+00:00"


def test_a_bare_photoshop_date_gives_way_to_a_same_day_time(tmp_path: Path) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        b'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        b'xmp:CreateDate="2001-09-08T07:06:05" photoshop:DateCreated="2001-09-08"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    app1 = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp)
    path = tmp_path / "bare.jpg"
    path.write_bytes(insert_after_soi(jpeg_bytes(), app1))
    info = read(path)
    assert info.captured.wall == datetime(2001, 9, 8, 7, 6, 5)


def test_wmv_xmp_after_the_data_object(tmp_path: Path) -> None:
    """Premiere's WMV: the XMP (with the local zone) beats ASF's UTC CreationDate."""
    header = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + struct.pack("<QIBB", 30, 0, 1, 2)
    data_obj = bytes.fromhex("3626b2758e66cf11a6d900aa0062ce6c") + struct.pack("<Q", 24 + 100)
    data_obj += bytes(100)
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description '
        b'xmp:CreateDate="2013-01-05T23:43:06-05:00"/></x:xmpmeta>'
    )
    xmp_obj = bytes.fromhex("cbcf7abea997e8429c71999491e3afac") + struct.pack("<Q", 24 + len(xmp))
    path = tmp_path / "clip.wmv"
    path.write_bytes(header + data_obj + xmp_obj + xmp)
    info = read(path)
    assert info.format == "WMV"
    assert info.captured.isoformat() == "2013-01-05T23:43:06-05:00"


def test_a_photo_in_the_timezone_lets_the_video_follow_a_dst_change() -> None:
    """Paris, 26 March 2023: a photo at 01:50 (+01:00); the video 30 minutes later is
    03:20 (+02:00) on the phone's clock, not 02:20."""
    from datetime import timedelta

    from photoorganiser.core.values import CaptureDate, FileKind
    from photoorganiser.media.zones import photo_zones

    photo = _analysis(
        "/in/IMG_1.jpg",
        FileKind.IMAGE,
        CaptureDate(
            datetime(2023, 3, 26, 1, 50), DateSource.EXIF_DATETIME_ORIGINAL, timedelta(hours=1)
        ),
    )
    utc = CaptureDate(datetime(2023, 3, 26, 1, 20), DateSource.QUICKTIME_CREATE_DATE, timedelta(0))
    video = _analysis("/in/clip.mp4", FileKind.VIDEO, utc)
    got = photo_zones([photo, video], PARIS)[1].captured
    assert got.isoformat() == "2023-03-26T03:20:00+02:00"
    # the same photo and video, the timezone elsewhere: the photo's own offset is kept
    got = photo_zones([photo, video], ZoneInfo("Asia/Tokyo"))[1].captured
    assert got.isoformat() == "2023-03-26T02:20:00+01:00"


def test_os2_bitmap_size(tmp_path: Path) -> None:
    path = tmp_path / "os2.bmp"
    noise_image((127, 64)).save(path, "BMP")
    data = bytearray(path.read_bytes())
    # rewrite as an OS/2 1.x header: 12 bytes, 16-bit width and height
    data[14:26] = struct.pack("<IHHHH", 12, 127, 64, 1, 24)
    path.write_bytes(bytes(data))
    info = read(path)
    assert (info.format, info.width, info.height) == ("BMP", 127, 64)


def _iptc_with_digest(right: bool) -> bytes:
    import hashlib

    app13 = iptc_app13("19870704", "153000")
    block = app13[4 + 14 :]  # 8BIM 0404 resource
    size = struct.unpack_from(">I", block, 8)[0]
    digest = hashlib.md5(block[12 : 12 + size]).digest() if right else bytes(range(16))
    resource = b"8BIM\x04\x25\0\0" + struct.pack(">I", 16) + digest
    payload = b"Photoshop 3.0\0" + resource + block
    return segment(0xED, payload)


def test_a_stale_iptc_digest_puts_the_xmp_date_first(tmp_path: Path) -> None:
    """MWG: an IPTCDigest that does not match says the XMP was edited after the IPTC."""
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description '
        b'photoshop:DateCreated="1990-01-02T03:04:05"/></x:xmpmeta>'
    )
    app1 = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp)
    stale, fresh = tmp_path / "stale.jpg", tmp_path / "fresh.jpg"
    stale.write_bytes(insert_after_soi(jpeg_bytes(), app1 + _iptc_with_digest(False)))
    fresh.write_bytes(insert_after_soi(jpeg_bytes(), app1 + _iptc_with_digest(True)))
    assert read(stale).captured.wall == datetime(1990, 1, 2, 3, 4, 5)
    assert read(fresh).captured.wall == datetime(1987, 7, 4, 15, 30, 0)

"""GPS positions: read once with the rest of the metadata, kept in the catalog.

Real files: JPEGs with a piexif GPS IFD, MP4/MOV files with ©xyz, Apple's location key and
a 3GPP `loci` box, and the real corpus read against exiftool. tests/corpus_gps.csv is
exiftool 12.57's reading of the corpus files that have a position:

    cd shared/corpus/real && exiftool -n -csv -GPSLatitude -GPSLongitude -r .
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import struct
from datetime import UTC, datetime
from pathlib import Path

import piexif
import pytest
from media import box, full_box, make_jpeg, make_mp4, mdhd, mvhd, noise_image, tkhd

from photoorganiser.cli import main
from photoorganiser.core.values import Analysis, FileKind, MediaInfo, ScanEntry
from photoorganiser.library.catalog import MIGRATIONS, Catalog, catalog_path, decode, encode
from photoorganiser.media import gps
from photoorganiser.media.metadata import MetadataError, read_media

D0 = datetime(2021, 6, 7, 8, 9, 10)
HERE = Path(__file__).parent


def gps_jpeg(path: Path, gps_ifd: dict, *, seed: int = 0, date: datetime = D0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = {piexif.ExifIFD.DateTimeOriginal: date.strftime("%Y:%m:%d %H:%M:%S").encode()}
    raw = piexif.dump({"0th": {}, "Exif": exif, "GPS": gps_ifd, "1st": {}, "thumbnail": None})
    noise_image(seed=seed).save(path, "JPEG", exif=raw)
    return path


def dms(value: float) -> tuple[tuple[int, int], ...]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60 * 10000)
    return ((d, 1), (m, 1), (s, 10000))


SYDNEY = {
    piexif.GPSIFD.GPSLatitudeRef: b"S",
    piexif.GPSIFD.GPSLatitude: dms(-33.8568),
    piexif.GPSIFD.GPSLongitudeRef: b"E",
    piexif.GPSIFD.GPSLongitude: dms(151.2153),
}


def read(path: Path) -> MediaInfo:
    return read_media(path, None, UTC)


# --- EXIF ------------------------------------------------------------------------------


def test_a_jpeg_gps_ifd_gives_a_signed_position(tmp_path: Path) -> None:
    info = read(gps_jpeg(tmp_path / "a.jpg", SYDNEY))
    assert info.latitude == pytest.approx(-33.8568, abs=1e-6)
    assert info.longitude == pytest.approx(151.2153, abs=1e-6)
    west = {**SYDNEY, piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLongitudeRef: b"W"}
    info = read(gps_jpeg(tmp_path / "b.jpg", west))
    assert (info.latitude, info.longitude) == pytest.approx((33.8568, -151.2153), abs=1e-6)
    assert info.captured is not None and info.captured.wall == D0  # the rest is still read


@pytest.mark.parametrize(
    "latitude",
    [
        ((0, 0), (0, 0), (0, 0)),  # 0/0: no fix
        ((95, 1), (0, 1), (0, 1)),  # out of range
        ((1, 0), (0, 1), (0, 1)),  # 1/0
    ],
)
def test_no_position_from_a_broken_gps_ifd(tmp_path: Path, latitude: tuple) -> None:
    info = read(gps_jpeg(tmp_path / "a.jpg", {**SYDNEY, piexif.GPSIFD.GPSLatitude: latitude}))
    assert (info.latitude, info.longitude) == (None, None)
    assert info.captured is not None  # the file is fine


def test_the_zero_position_is_no_fix(tmp_path: Path) -> None:
    zero = ((0, 1), (0, 1), (0, 1))
    ifd = {**SYDNEY, piexif.GPSIFD.GPSLatitude: zero, piexif.GPSIFD.GPSLongitude: zero}
    assert read(gps_jpeg(tmp_path / "a.jpg", ifd)).latitude is None
    # one zero coordinate is a real place (Greenwich, the equator)
    ifd = {**SYDNEY, piexif.GPSIFD.GPSLongitude: zero}
    info = read(gps_jpeg(tmp_path / "b.jpg", ifd))
    assert (info.latitude, info.longitude) == pytest.approx((-33.8568, 0.0), abs=1e-6)


def test_a_jpeg_without_gps_has_no_position(tmp_path: Path) -> None:
    info = read(make_jpeg(tmp_path / "a.jpg", D0))
    assert (info.latitude, info.longitude) == (None, None)


def test_exif_position_helper() -> None:
    assert gps.exif_position({}) is None
    assert gps.exif_position({2: [(52, 1), (30, 1), (0, 1)], 4: [(4, 1), (54, 1), (0, 1)]}) == (
        52.5,
        4.9,
    )
    text = {1: "N", 2: "52,00000,50,00000", 3: "E", 4: "11 0 10"}  # text written by a writer
    assert gps.exif_position(text) == pytest.approx((52 + 50 / 3600, 11 + 10 / 3600))
    assert gps.exif_position({2: "north", 4: "11"}) is None
    assert gps.exif_position({1: b"S\0", 2: (12, 1), 3: "W", 4: (1, 2)}) == (-12.0, -0.5)


# --- QuickTime / MP4 -------------------------------------------------------------------


def qt_text(kind: bytes, text: str) -> bytes:
    raw = text.encode()
    return box(kind, struct.pack(">HH", len(raw), 0x15C7) + raw)


def loci(lat: float, lon: float) -> bytes:
    fixed = struct.pack(">iii", round(lon * 65536), round(lat * 65536), 10 * 65536)
    return full_box(b"loci", 0, 0, b"\x15\xc7" + b"home\0" + b"\0" + fixed + b"earth\0\0")


def mp4_with_udta(path: Path, *udta: bytes) -> Path:
    created = datetime(2020, 1, 2, 3, 4, 5)
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isommp41")
    hdlr = full_box(b"hdlr", 0, 0, b"\0\0\0\0vide" + b"\0" * 12 + b"VideoHandler\0")
    trak = box(b"trak", tkhd(created, 640, 480) + box(b"mdia", mdhd(created) + hdlr))
    moov = box(b"moov", mvhd(created) + trak + box(b"udta", b"".join(udta)))
    path.write_bytes(ftyp + moov + box(b"mdat", b"\0" * 64))
    return path


def test_an_mp4_xyz_position(tmp_path: Path) -> None:
    info = read(mp4_with_udta(tmp_path / "a.mp4", qt_text(b"\xa9xyz", "+52.3702+004.8952/")))
    assert info.is_video
    assert (info.latitude, info.longitude) == pytest.approx((52.3702, 4.8952))
    info = read(mp4_with_udta(tmp_path / "b.mp4", qt_text(b"\xa9xyz", "-33.8568-070.1+12.5/")))
    assert (info.latitude, info.longitude) == pytest.approx((-33.8568, -70.1))


def test_an_mp4_loci_position(tmp_path: Path) -> None:
    info = read(mp4_with_udta(tmp_path / "a.mp4", loci(52.36929, 6.67609)))
    assert (info.latitude, info.longitude) == pytest.approx((52.36929, 6.67609), abs=2e-5)


def test_apple_location_key_comes_first(tmp_path: Path) -> None:
    path = make_mp4(
        tmp_path / "a.mov",
        datetime(2020, 1, 2),
        brand=b"qt  ",
        apple_keys={gps.APPLE_LOCATION_KEY: "+49.1989+016.6071+222.469/"},
    )
    info = read(path)
    assert (info.latitude, info.longitude) == pytest.approx((49.1989, 16.6071))


def test_iso6709_forms() -> None:
    assert gps.iso6709_position("+52.3702+004.8952/") == pytest.approx((52.3702, 4.8952))
    assert gps.iso6709_position("+5222.212+00453.712/") == pytest.approx(
        (52 + 22.212 / 60, 4 + 53.712 / 60)
    )
    assert gps.iso6709_position("-332201+1511255/") == pytest.approx(
        (-(33 + 22 / 60 + 1 / 3600), 151 + 12 / 60 + 55 / 3600)
    )
    for bad in (None, "", "52.1 4.8", "+91.0+004.0/", "+00.0000+000.0000/", "+5+4/"):
        assert gps.iso6709_position(bad) is None


def test_xmp_forms(tmp_path: Path) -> None:
    assert gps.xmp_coordinate("52,22.2N") == pytest.approx(52.37)
    assert gps.xmp_coordinate("4,53,30W") == pytest.approx(-(4 + 53.5 / 60))
    assert gps.xmp_coordinate("-12.5") == -12.5
    assert gps.xmp_coordinate("nonsense") is None
    assert gps.xmp_position("52,22.2N", "nan") is None
    # embedded in a JPEG's XMP
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        b'exif:GPSLatitude="46,53.90352N" exif:GPSLongitude="102,46.11786E"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    path = make_jpeg(tmp_path / "a.jpg", D0)
    data = path.read_bytes()
    app1 = b"http://ns.adobe.com/xap/1.0/\0" + packet
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])
    info = read(path)
    assert (info.latitude, info.longitude) == pytest.approx(
        (46 + 53.90352 / 60, 102 + 46.11786 / 60)
    )


# --- the real corpus, against exiftool ----------------------------------------------------

# exiftool reports these; we say "no position" on purpose.
NO_POSITION = {
    "metadata-extractor/Samsung GT-I9000 (Galaxy S).jpg": "0,0: no fix",
    "photoprism/isom-avc1.mp4": "0,0: no fix",
    "pillow_heif/spatial_photo.heic": "0,0: no fix",
    "photoprism/buggy_panorama.jpg": "latitude 213.6: out of range",
}
# exiftool stops at a JPEG format error before the EXIF; we read past it.
EXIFTOOL_STOPS = {"goexif/huge_tag_exif.jpg", "goexif/max_uint32_exif.jpg"}


def test_corpus_positions_agree_with_exiftool(corpus: Path) -> None:
    with open(HERE / "corpus_gps.csv", newline="") as f:
        expected = {
            r["path"]: (float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(f)
        }
    with open(corpus / "manifest.csv", newline="") as f:
        paths = [r["path"] for r in csv.DictReader(f)]
    checked = 0
    wrong = []
    for rel in paths:
        try:
            info = read(corpus / rel)
        except MetadataError:
            continue  # not media (sidecars...) or unreadable
        ours = (info.latitude, info.longitude)
        want = expected.get(rel)
        if rel in NO_POSITION or (want is None and rel not in EXIFTOOL_STOPS):
            if ours != (None, None):
                wrong.append((rel, want, ours))
            continue
        if rel in EXIFTOOL_STOPS:
            continue
        checked += 1
        if ours[0] is None or abs(ours[0] - want[0]) > 1e-5 or abs(ours[1] - want[1]) > 1e-5:
            wrong.append((rel, want, ours))
    assert not wrong
    assert checked >= 80  # JPEG, HEIC, WebP, PNG, TIFF, DNG, MOV, MP4


# --- the catalog ------------------------------------------------------------------------


def catalogued(library: Path) -> dict[str, sqlite3.Row]:
    """The catalog's rows by the name the file had in the inbox (else in the library)."""
    with sqlite3.connect(catalog_path(library)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM files").fetchall()
    return {Path(r["source_path"] or r["path"]).name: r for r in rows}


def test_an_import_stores_the_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inbox, library = tmp_path / "in", tmp_path / "lib"
    gps_jpeg(inbox / "IMG_1.jpg", SYDNEY)
    make_jpeg(inbox / "IMG_2.jpg", D0, seed=2)
    mp4_with_udta(inbox / "VID_3.mp4", qt_text(b"\xa9xyz", "+52.3702+004.8952/"))
    args = ["import", "--input", str(inbox), "--output", str(library), "--copy"]
    assert main([*args, "--workers", "1", "--quiet"]) == 0
    rows = catalogued(library)
    assert (rows["IMG_1.jpg"]["latitude"], rows["IMG_1.jpg"]["longitude"]) == pytest.approx(
        (-33.8568, 151.2153), abs=1e-6
    )
    assert rows["IMG_1.jpg"]["kind"] == "image"
    assert (rows["IMG_2.jpg"]["latitude"], rows["IMG_2.jpg"]["longitude"]) == (None, None)
    video = rows["VID_3.mp4"]
    assert (video["latitude"], video["longitude"], video["kind"]) == (
        pytest.approx(52.3702),
        pytest.approx(4.8952),
        "video",
    )
    catalog = Catalog.open(library, readonly=True)
    assert catalog is not None
    try:
        record = catalog.file_record(rows["IMG_1.jpg"]["path"])
        assert record is not None
        assert record["latitude"] == pytest.approx(-33.8568, abs=1e-6)
        assert record["hash"] == rows["IMG_1.jpg"]["hash"]
        assert catalog.file_record("no/such.jpg") is None
    finally:
        catalog.close()


def test_sync_adopts_with_positions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    library = tmp_path / "lib"
    gps_jpeg(library / "2021" / "a.jpg", SYDNEY)
    args = ["sync", "--output", str(library), "--report", str(tmp_path / "r.csv")]
    assert main([*args, "--workers", "1", "--quiet"]) == 0
    row = catalogued(library)["a.jpg"]
    assert (row["latitude"], row["longitude"]) == pytest.approx((-33.8568, 151.2153), abs=1e-6)


def entry(path: str) -> ScanEntry:
    return ScanEntry(Path(path), FileKind.IMAGE, 10, 20, 30, 40)


def test_the_record_carries_the_position() -> None:
    media = MediaInfo(format="JPEG", latitude=-33.5, longitude=151.25)
    analysis = Analysis(entry("/x/a.jpg"), "0" * 32, media, None)
    back = decode(encode(analysis), analysis.entry)
    assert back == analysis
    old = json.loads(encode(analysis))  # a record written before positions were read
    del old["media"]["latitude"], old["media"]["longitude"]
    back = decode(json.dumps(old), analysis.entry)
    assert isinstance(back, Analysis)
    assert (back.media.latitude, back.media.longitude) == (None, None)


def test_the_migration_fills_positions_from_records(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    catalog_path(library).parent.mkdir(parents=True)
    with_place = encode(
        Analysis(entry("/x/a.jpg"), "1" * 32, MediaInfo(latitude=1.5, longitude=-2.5), None)
    )
    old = json.loads(with_place)
    del old["media"]["latitude"], old["media"]["longitude"]
    with sqlite3.connect(catalog_path(library)) as conn:  # a schema 2 catalog
        for migration in MIGRATIONS[:2]:
            conn.executescript(migration)
        conn.execute("PRAGMA user_version = 2")
        for name, record in (("a.jpg", with_place), ("b.jpg", json.dumps(old))):
            conn.execute(
                "INSERT INTO files (path, size, mtime_ns, hash, record) VALUES (?, 1, 2, ?, ?)",
                (name, "1" * 32, record),
            )
    # read as it is (a dry run): file_record still answers from the record
    catalog = Catalog.open(library, readonly=True)
    assert catalog is not None
    assert catalog.version == 2
    assert catalog.file_record("a.jpg")["latitude"] == 1.5  # type: ignore[index]
    catalog.close()
    catalog = Catalog.open(library)
    assert catalog is not None
    try:
        assert catalog.version == len(MIGRATIONS) >= 3
        a, b = catalog.file_record("a.jpg"), catalog.file_record("b.jpg")
        assert a is not None and b is not None
        assert (a["latitude"], a["longitude"], a["kind"]) == (1.5, -2.5, "image")
        assert (b["latitude"], b["longitude"], b["kind"]) == (None, None, "image")
    finally:
        catalog.close()


def gps_tiff(lat: tuple[int, int, int], lat_ref: bytes, lon: tuple[int, int, int], lon_ref: bytes):
    """A little-endian TIFF whose first IFD is a GPS IFD (as in a CR3's CMT4 box)."""
    entries = 4
    data_at = 8 + 2 + 12 * entries + 4
    lat_raw = b"".join(struct.pack("<II", v, 1) for v in lat)
    lon_raw = b"".join(struct.pack("<II", v, 1) for v in lon)
    ifd = struct.pack("<H", entries)
    ifd += struct.pack("<HHI", 1, 2, 2) + lat_ref + b"\0\0\0"
    ifd += struct.pack("<HHII", 2, 5, 3, data_at)
    ifd += struct.pack("<HHI", 3, 2, 2) + lon_ref + b"\0\0\0"
    ifd += struct.pack("<HHII", 4, 5, 3, data_at + 24)
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + lat_raw + lon_raw


def test_a_cr3_gps_box(tmp_path: Path) -> None:
    from photoorganiser.media.bmff import CANON_UUID

    cmt4 = box(b"CMT4", gps_tiff((35, 30, 36), b"S", (138, 45, 0), b"W"))
    moov = box(b"moov", mvhd(datetime(2022, 1, 1)) + box(b"uuid", CANON_UUID + cmt4))
    path = tmp_path / "a.cr3"
    path.write_bytes(box(b"ftyp", b"crx " + b"\0\0\0\1" + b"crx isom") + moov)
    info = read(path)
    assert info.format == "CR3"
    assert (info.latitude, info.longitude) == pytest.approx((-35.51, -138.75))


def test_apply_of_a_reviewed_plan_stores_the_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inbox, library, plan = tmp_path / "in", tmp_path / "lib", tmp_path / "plan.csv"
    gps_jpeg(inbox / "IMG_1.jpg", SYDNEY)
    make_jpeg(inbox / "IMG_2.jpg", D0, seed=2)
    args = ["import", "--input", str(inbox), "--output", str(library), "--copy"]
    assert main([*args, "--dryrun", "--report", str(plan), "--workers", "1", "--quiet"]) == 0
    assert main(["apply", str(plan), "--output", str(library), "--workers", "1", "--quiet"]) == 0
    rows = catalogued(library)
    assert (rows["IMG_1.jpg"]["latitude"], rows["IMG_1.jpg"]["longitude"]) == pytest.approx(
        (-33.8568, 151.2153), abs=1e-6
    )
    assert (rows["IMG_2.jpg"]["latitude"], rows["IMG_2.jpg"]["longitude"]) == (None, None)


def test_sync_reread_teaches_an_old_catalog_what_newer_readers_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library imported by an older version has no positions: `sync --reread` reads every
    file again and keeps when and from where each came; a plain sync reads nothing."""
    monkeypatch.chdir(tmp_path)
    inbox, library = tmp_path / "in", tmp_path / "lib"
    gps_jpeg(inbox / "IMG_1.jpg", SYDNEY)
    make_jpeg(inbox / "IMG_2.jpg", D0, seed=2)
    args = ["import", "--input", str(inbox), "--output", str(library), "--move"]
    assert main([*args, "--workers", "1", "--quiet"]) == 0
    before = catalogued(library)
    # what an older reader left: no position in the columns or in the record
    with sqlite3.connect(catalog_path(library)) as conn:
        for row in conn.execute("SELECT path, record FROM files").fetchall():
            record = json.loads(row[1])
            record["media"].pop("latitude", None)
            record["media"].pop("longitude", None)
            conn.execute(
                "UPDATE files SET latitude = NULL, longitude = NULL, record = ? WHERE path = ?",
                (json.dumps(record), row[0]),
            )
    # and a file whose bytes changed with its size and time kept (bit rot, a bad copy)
    other = library / before["IMG_2.jpg"]["path"]
    st = other.stat()
    data = bytearray(other.read_bytes())
    data[-3] ^= 0xFF
    other.write_bytes(bytes(data))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))

    sync = ["sync", "--output", str(library), "--workers", "1", "--quiet"]
    assert main([*sync, "--report", str(tmp_path / "plain.csv")]) == 0
    assert catalogued(library)["IMG_1.jpg"]["latitude"] is None  # a plain sync reads nothing
    assert main([*sync, "--reread", "--report", str(tmp_path / "reread.csv")]) == 0
    after = catalogued(library)
    one = after["IMG_1.jpg"]
    assert (one["latitude"], one["longitude"]) == pytest.approx((-33.8568, 151.2153), abs=1e-6)
    for name in ("IMG_1.jpg",):
        for column in ("imported_at", "run_id", "source_path", "hash"):
            assert after[name][column] == before[name][column], column
    changes = {
        Path(r["path"]).name: r["change"]
        for r in csv.DictReader(
            line for line in (tmp_path / "reread.csv").open() if not line.startswith("#")
        )
    }
    assert changes[Path(before["IMG_1.jpg"]["path"]).name] == "reread"
    assert changes[other.name] == "changed"

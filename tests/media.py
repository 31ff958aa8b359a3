"""Make real media files for tests: JPEG/PNG/HEIC through Pillow, piexif and
pillow-heif, and MP4/MOV files assembled box by box with real creation times.

Every maker takes a `seed` so that two calls can give different pixels (different
content) or the same pixels (identical bytes) on purpose.
"""

from __future__ import annotations

import os
import random
import struct
from datetime import UTC, datetime
from pathlib import Path

import piexif
from PIL import Image

QT_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


def noise_image(size: tuple[int, int] = (64, 48), seed: int = 0) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def exif_bytes(
    date: datetime | str | None = None,
    *,
    digitized: datetime | str | None = None,
    modify: datetime | str | None = None,
    offset: str | None = None,
    subsec: str | None = None,
    make: str | None = None,
    model: str | None = None,
    size: tuple[int, int] | None = None,
    makernote: bytes | None = None,
) -> bytes:
    def fmt(value: datetime | str) -> bytes:
        if isinstance(value, datetime):
            value = value.strftime("%Y:%m:%d %H:%M:%S")
        return value.encode()

    zeroth: dict[int, object] = {}
    exif: dict[int, object] = {}
    if make is not None:
        zeroth[piexif.ImageIFD.Make] = make.encode()
    if model is not None:
        zeroth[piexif.ImageIFD.Model] = model.encode()
    if modify is not None:
        zeroth[piexif.ImageIFD.DateTime] = fmt(modify)
    if date is not None:
        exif[piexif.ExifIFD.DateTimeOriginal] = fmt(date)
    if digitized is not None:
        exif[piexif.ExifIFD.DateTimeDigitized] = fmt(digitized)
    if offset is not None:
        exif[piexif.ExifIFD.OffsetTimeOriginal] = offset.encode()
    if subsec is not None:
        exif[piexif.ExifIFD.SubSecTimeOriginal] = subsec.encode()
    if makernote is not None:
        exif[piexif.ExifIFD.MakerNote] = makernote
    if size is not None:
        exif[piexif.ExifIFD.PixelXDimension] = size[0]
        exif[piexif.ExifIFD.PixelYDimension] = size[1]
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": {}, "1st": {}, "thumbnail": None})


def make_jpeg(
    path: Path,
    date: datetime | str | None = None,
    *,
    seed: int = 0,
    size: tuple[int, int] = (64, 48),
    quality: int = 90,
    **exif_fields: object,
) -> Path:
    """A JPEG with EXIF (DateTimeOriginal = `date`, plus any `exif_bytes` field)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = noise_image(size, seed)
    has_exif = date is not None or any(v is not None for v in exif_fields.values())
    if has_exif:
        img.save(path, "JPEG", quality=quality, exif=exif_bytes(date, **exif_fields))
    else:
        img.save(path, "JPEG", quality=quality)
    return path


def rot(path: Path, at: int = -100) -> None:
    """Bit rot: the byte at `at` flipped, the file's size and modification time kept."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def make_tiff_raw(path: Path, date: datetime | str | None = None, **exif_fields: object) -> Path:
    """A TIFF-based RAW (NEF, CR2, DNG...: the kind its name says) that is only its EXIF
    (DateTimeOriginal = `date`, plus any `exif_bytes` field): no picture in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(exif_bytes(date, **exif_fields)[len(b"Exif\0\0") :])
    return path


def make_png(path: Path, *, seed: int = 0, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image(size, seed).save(path, "PNG")
    return path


def make_heic(
    path: Path,
    date: datetime | str | None = None,
    *,
    seed: int = 0,
    size: tuple[int, int] = (64, 48),
    **exif_fields: object,
) -> Path:
    import pillow_heif

    pillow_heif.register_heif_opener()
    path.parent.mkdir(parents=True, exist_ok=True)
    img = noise_image(size, seed)
    kwargs = {}
    if date is not None or exif_fields:
        kwargs["exif"] = exif_bytes(date, **exif_fields)
    img.save(path, "HEIF", quality=50, **kwargs)
    return path


# --- MP4 / MOV, box by box -------------------------------------------------------


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _qt_seconds(when: datetime | None) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int((when - QT_EPOCH).total_seconds())


def mvhd(created_utc: datetime | None, duration: int = 1000, timescale: int = 1000) -> bytes:
    t = _qt_seconds(created_utc)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    payload = (
        struct.pack(">IIII", t, t, timescale, duration)
        + struct.pack(">IH", 0x00010000, 0x0100)
        + b"\0" * 10
        + matrix
        + b"\0" * 24
        + struct.pack(">I", 2)
    )
    return full_box(b"mvhd", 0, 0, payload)


def tkhd(created_utc: datetime | None, width: int, height: int, duration: int = 1000) -> bytes:
    t = _qt_seconds(created_utc)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    payload = (
        struct.pack(">IIIII", t, t, 1, 0, duration)
        + b"\0" * 8
        + struct.pack(">hhhH", 0, 0, 0, 0)
        + matrix
        + struct.pack(">II", width << 16, height << 16)
    )
    return full_box(b"tkhd", 0, 3, payload)


def mdhd(created_utc: datetime | None, duration: int = 1000, timescale: int = 1000) -> bytes:
    t = _qt_seconds(created_utc)
    payload = struct.pack(">IIIIHH", t, t, timescale, duration, 0x55C4, 0)
    return full_box(b"mdhd", 0, 0, payload)


def apple_keys_meta(items: dict[str, str]) -> bytes:
    """moov/meta with Apple `mdta` keys, e.g. {"com.apple.quicktime.creationdate": "..."}."""
    hdlr = full_box(b"hdlr", 0, 0, b"\0\0\0\0" + b"mdta" + b"\0" * 12 + b"\0")
    keys_payload = struct.pack(">I", len(items))
    ilst_payload = b""
    for index, (key, value) in enumerate(items.items(), start=1):
        keys_payload += struct.pack(">I", 8 + len(key.encode())) + b"mdta" + key.encode()
        data = box(b"data", struct.pack(">II", 1, 0) + value.encode())
        ilst_payload += box(struct.pack(">I", index), data)
    keys = full_box(b"keys", 0, 0, keys_payload)
    ilst = box(b"ilst", ilst_payload)
    return box(b"meta", hdlr + keys + ilst)


def apple_makernote(content_id: str) -> bytes:
    """An Apple iOS MakerNote holding only the Live Photo identifier (tag 0x0011)."""
    value = content_id.encode() + b"\0"
    header = b"Apple iOS\0" + b"\0\x01" + b"MM"
    offset = len(header) + 2 + 12 + 4  # offsets count from the start of the note
    entry = struct.pack(">HHII", 0x0011, 2, len(value), offset)
    return header + struct.pack(">H", 1) + entry + b"\0\0\0\0" + value


def make_mp4(
    path: Path,
    created_utc: datetime | None,
    *,
    brand: bytes = b"isom",
    apple_creation_date: str | None = None,
    apple_keys: dict[str, str] | None = None,
    size: tuple[int, int] = (1920, 1080),
    seed: int = 0,
    mdat_first: bool = False,
) -> Path:
    """An MP4 (or, with brand b"qt  ", a MOV) whose mvhd/tkhd/mdhd hold `created_utc`.

    `apple_creation_date` adds Apple's com.apple.quicktime.creationdate key
    (local time with zone, e.g. "2021-07-04T18:30:00+0200").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    compat = brand + b"mp41" if brand != b"qt  " else b"qt  "
    ftyp = box(b"ftyp", brand + struct.pack(">I", 0x200) + compat)
    hdlr = full_box(b"hdlr", 0, 0, b"\0\0\0\0vide" + b"\0" * 12 + b"VideoHandler\0")
    mdia = box(b"mdia", mdhd(created_utc) + hdlr)
    trak = box(b"trak", tkhd(created_utc, *size) + mdia)
    moov_payload = mvhd(created_utc) + trak
    keys = dict(apple_keys or {})
    if apple_creation_date is not None:
        keys["com.apple.quicktime.creationdate"] = apple_creation_date
    if keys:
        moov_payload += apple_keys_meta(keys)
    moov = box(b"moov", moov_payload)
    mdat = box(b"mdat", random.Random(seed).randbytes(256))
    path.write_bytes(ftyp + (mdat + moov if mdat_first else moov + mdat))
    return path


def make_mov(path: Path, created_utc: datetime | None, **kwargs: object) -> Path:
    return make_mp4(path, created_utc, brand=b"qt  ", **kwargs)

"""What an ISO BMFF file says (bmff.py parses the boxes): its format (HEIC/HEIF/AVIF, CR3,
MP4/MOV/3GP/M4V...), size, EXIF/XMP and, for videos, make/model and the video's own date.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta

from ..core.values import CaptureDate, DateSource
from .bmff import BmffInfo, Source, read_bmff
from .dates import make_datetime, parse_datetime
from .exif import T_HEIGHT, T_WIDTH, ExifFormatError, parse_exif_ifd, parse_gps_ifd
from .found import IS_UTC, Found, MetadataError, tiff_or_problem
from .gps import APPLE_LOCATION_KEY, exif_position, iso6709_position, loci_position

_QT_EPOCH = datetime(1904, 1, 1)


_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2", b"heif"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _bmff_format(b: BmffInfo) -> tuple[str, bool]:
    brand = b.major_brand
    brands = {brand, *b.compatible}
    if brand == b"crx ":
        return "CR3", False
    if b.heif is not None and b.heif.primary is not None or brand in _HEIC_BRANDS | _AVIF_BRANDS:
        if brand in _AVIF_BRANDS or (brand not in _HEIC_BRANDS and brands & _AVIF_BRANDS):
            return "AVIF", False
        return ("HEIC" if brand in _HEIC_BRANDS else "HEIF"), False
    if brand in _HEIF_BRANDS and not b.tracks:
        return "HEIF", False
    if brand == b"qt  " or not brand:
        return "MOV", True
    if brand.startswith(b"3g2"):
        return "3G2", True
    if brand.startswith(b"3g"):
        return "3GP", True
    if brand.startswith(b"M4V"):
        return "M4V", True
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return "M4A", False
    return "MP4", True


def read_quicktime(src: Source) -> Found:
    b = read_bmff(src)
    fmt, is_video = _bmff_format(b)
    found = Found(fmt, is_video=is_video)
    found.problems.extend(dict.fromkeys(b.problems))
    found.xmp = b.xmp
    if fmt == "CR3":
        cmt1, cmt2 = b.canon_cmt.get(b"CMT1"), b.canon_cmt.get(b"CMT2")
        if cmt1:
            found.exif = tiff_or_problem(cmt1, found)
            if found.exif is not None:
                w, h = found.exif.ifd0.get(T_WIDTH), found.exif.ifd0.get(T_HEIGHT)
                if isinstance(w, int) and isinstance(h, int):
                    found.width, found.height = w, h
        if cmt2:
            try:
                exif_ifd = parse_exif_ifd(cmt2)
                if found.exif is None:
                    found.exif = exif_ifd
                else:
                    found.exif.exif = exif_ifd.exif
            except (ExifFormatError, struct.error, IndexError) as exc:
                found.warnings.append(f"corrupt EXIF block ({exc})")
        cmt4 = b.canon_cmt.get(b"CMT4")
        if cmt4:
            gps = parse_gps_ifd(cmt4)
            found.position = exif_position(gps)
            if found.exif is not None and not found.exif.gps:
                found.exif.gps = gps  # its GPS time too (policy: gps_offset)
    elif b.heif is not None and not is_video:
        heif = b.heif
        size = heif.item_size(heif.primary)
        if size is None:
            sizes = [heif.item_size(i) for i in heif.item_types]
            size = next((s for s in sizes if s), None)
        if size:
            found.width, found.height = size
        raw = b.canon_cmt.get(b"Exif")
        if raw:
            at = [i for i in (raw.find(b"II*\0"), raw.find(b"MM\0*")) if i >= 0]
            if at:
                found.exif = tiff_or_problem(raw[min(at) :], found)
        if heif.primary is None:
            found.problems.append("HEIF has no primary image")
    if is_video or fmt == "CR3" or b.has_moov:  # has_moov: a HEIF/AVIF image sequence
        if not b.has_moov and is_video:
            found.problems.append("no 'moov' box: not a playable video (truncated?)")
        _bmff_video(found, b)
    if found.format in ("MP4", "MOV") and not b.has_moov and not b.major_brand and not b.has_mdat:
        raise MetadataError("unrecognised content: not a known image or video format")
    return found


def _qt_time(seconds: int) -> datetime | None:
    if seconds <= 0:
        return None
    try:
        when = _QT_EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None
    return when if make_datetime(when.year, when.month, when.day) else None


def _bmff_video(found: Found, b: BmffInfo) -> None:
    video = next((t for t in b.tracks if t.handler == b"vide" and t.width and t.height), None)
    if found.is_video and video is not None:
        found.width, found.height = video.width, video.height
    keys = b.keys
    found.content_id = keys.get("com.apple.quicktime.content.identifier") or None
    found.make = keys.get("com.apple.quicktime.make") or b.udta.get(b"\xa9mak")
    found.model = keys.get("com.apple.quicktime.model") or b.udta.get(b"\xa9mod")
    found.position = (
        found.position  # a CR3's CMT4
        or iso6709_position(keys.get(APPLE_LOCATION_KEY))
        or iso6709_position(b.udta.get(b"\xa9xyz"))
        or loci_position(b.loci)
    )
    parsed = parse_datetime(keys.get("com.apple.quicktime.creationdate"))
    if parsed:
        found.video = CaptureDate(parsed[0], DateSource.QUICKTIME_CREATION_DATE, parsed[1])
        return
    parsed = parse_datetime(b.udta.get(b"date"))
    if parsed:
        found.video = CaptureDate(parsed[0], DateSource.QUICKTIME_DATETIME_ORIGINAL, parsed[1])
        return
    utc = _qt_time(b.mvhd_created)
    if utc is not None:
        found.qt_utc = utc
        found.video = CaptureDate(utc, DateSource.QUICKTIME_CREATE_DATE, IS_UTC)
        return
    for track in b.tracks:
        utc = _qt_time(track.created)
        if utc is not None:
            found.qt_utc = utc
            found.video = CaptureDate(utc, DateSource.QUICKTIME_MEDIA_CREATE_DATE, IS_UTC)
            return
    parsed = parse_datetime(b.udta.get(b"\xa9day"))
    if parsed:
        found.video = CaptureDate(parsed[0], DateSource.QUICKTIME_CONTENT_CREATE_DATE, parsed[1])

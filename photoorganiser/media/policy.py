"""The date policy: which of the dates a file carries is its capture date.

Date priority (first valid one wins; zero, blank and impossible dates are skipped). It is
the Metadata Working Group's order for DateTimeOriginal (what exiftool's MWG composite
follows), then CreateDate, then the video's own dates:

1. EXIF DateTimeOriginal (+ OffsetTimeOriginal, SubSecTimeOriginal; in the EXIF IFD, or
   misplaced in IFD0)
2. IPTC DateCreated + TimeCreated (every APP13 segment), then XMP photoshop:DateCreated
   (the other way round when the IPTCDigest no longer matches the IPTC, as MWG says):
   what a scanner or an editor keeps as the date the picture was taken. A date without a
   time (IPTC DateCreated alone, a bare photoshop:DateCreated) gives way to a later
   candidate of the same day that has one.
3. XMP exif:DateTimeOriginal
4. EXIF CreateDate (DateTimeDigitized, + OffsetTimeDigitized, SubSecTimeDigitized)
5. the video's own date: Apple Keys CreationDate (local + zone), UserData `date` (local +
   zone), then QuickTime mvhd CreateDate / mdhd MediaCreateDate (UTC by spec, converted to
   wall time in the zone the file name states, else in `tz`: zones.py; when an XMP date
   with a zone names the same instant within 2 minutes, that XMP date is used instead,
   since it also knows the local zone); RIFF/AVI, Matroska, H.264 (AVCHD) dates
6. XMP xmp:CreateDate
7. others: PNG "Creation Time", ASF CreationDate, and last EXIF ModifyDate (IFD0 DateTime)

`finish` applies it to what a reader found, and settles make/model/size the same way.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo

from ..core.values import CaptureDate, DateSource, MediaInfo
from .dates import apply_subsec, parse_datetime, parse_zone, utc_to_local
from .exif import (
    T_CREATE,
    T_DATETIME,
    T_DTO,
    T_EXIF_HEIGHT,
    T_EXIF_WIDTH,
    T_MAKERNOTE,
    T_OFFSET_DIGI,
    T_OFFSET_ORIG,
    T_SUBSEC_DIGI,
    T_SUBSEC_ORIG,
    ExifInfo,
    apple_content_id,
)
from .found import IS_UTC, Found, clean
from .gps import exif_gps_time, exif_position, xmp_gps_time, xmp_position
from .xmp import parse_xmp
from .zones import UTC_SOURCES, dst_note, gps_zone, name_zone

# a photo's local dates, which its GPS time (UTC) can give a zone when they carry none
_LOCAL_PHOTO_DATES = frozenset(
    {
        DateSource.EXIF_DATETIME_ORIGINAL,
        DateSource.EXIF_CREATE_DATE,
        DateSource.IPTC_DATE_CREATED,
        DateSource.XMP_DATE_CREATED,
        DateSource.XMP_DATETIME_ORIGINAL,
        DateSource.XMP_CREATE_DATE,
    }
)


def _text(value: object) -> str | None:
    if value is None or type(value) is str:
        return value  # type: ignore[return-value]
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) else None


def _exif_dates(exif: ExifInfo) -> list[CaptureDate]:
    out = []
    for tag, off_tag, sub_tag, source in (
        (T_DTO, T_OFFSET_ORIG, T_SUBSEC_ORIG, DateSource.EXIF_DATETIME_ORIGINAL),
        (T_CREATE, T_OFFSET_DIGI, T_SUBSEC_DIGI, DateSource.EXIF_CREATE_DATE),
    ):
        parsed = parse_datetime(_text(exif.exif.get(tag)))
        if not parsed and tag == T_DTO:
            parsed = parse_datetime(_text(exif.ifd0.get(tag)))
        if parsed:
            wall = apply_subsec(parsed[0], _text(exif.exif.get(sub_tag)))
            offset = parse_zone(_text(exif.exif.get(off_tag))) or parsed[1]
            out.append(CaptureDate(wall, source, offset))
        else:
            out.append(None)
    return out


_XMP_SOURCES = {
    "DateTimeOriginal": DateSource.XMP_DATETIME_ORIGINAL,
    "CreateDate": DateSource.XMP_CREATE_DATE,
    "DateCreated": DateSource.XMP_DATE_CREATED,
}


def _localise(date: CaptureDate, tz: tzinfo, name: str, found: Found) -> CaptureDate:
    """Dates marked utc_offset="UTC" (a UTC instant) become wall time: in the zone a phone's
    file name states (zones.py, rule 1), else in tz (rule 3)."""
    if date.utc_offset != IS_UTC:
        return date
    if date.source in UTC_SOURCES and name:
        offset = name_zone(name, date.wall)
        if offset is not None:
            return CaptureDate(date.wall + offset, DateSource.QUICKTIME_UTC_NAME_ZONE, offset)
    wall, offset = utc_to_local(date.wall, tz)
    note = dst_note(wall, tz)
    if note is not None:
        found.warnings.append(note)
    return CaptureDate(wall, date.source, offset)


def finish(found: Found, tz: tzinfo, name: str = "") -> MediaInfo:
    exif = found.exif
    xmp = parse_xmp(found.xmp or b"") if found.xmp or found.xmp_extra else None
    if xmp is not None:
        for key, value in found.xmp_extra.items():
            xmp.values.setdefault(key, value)
    dto = create = None
    if exif is not None:
        # Inside a JPEG/HEIF/PNG the EXIF is only metadata; a TIFF-based file's own
        # structure problems were already counted as damage by raw.read_tiff.
        if exif.problems:
            found.warnings.extend(p for p in exif.problems if p not in found.problems)
        dto, create = _exif_dates(exif)
    xmp_dto = xmp_create = xmp_created = None
    if xmp is not None:
        got = xmp.capture_date(date_created=False)
        if got:
            date = CaptureDate(got[0], _XMP_SOURCES[got[2]], got[1])
            if got[2] == "DateTimeOriginal":
                xmp_dto = date
            else:
                xmp_create = date
        got = xmp.date_created()
        if got:
            xmp_created = CaptureDate(got[0], DateSource.XMP_DATE_CREATED, got[1])
    video = found.video
    if video is not None:
        xmp_date = xmp_dto or xmp_create
        if (
            found.qt_utc is not None
            and xmp_date is not None
            and xmp_date.utc_offset is not None
            and abs((xmp_date.wall - xmp_date.utc_offset) - found.qt_utc) <= timedelta(minutes=2)
        ):
            video = xmp_date  # same instant, and it knows the local zone
    chain = [
        d
        for d in (
            (dto, xmp_created, *found.iptc, xmp_dto, create, video, xmp_create)
            if found.iptc_stale
            else (dto, *found.iptc, xmp_created, xmp_dto, create, video, xmp_create)
        )
        if d is not None
    ]
    chain.extend(found.others)
    if exif is not None:
        parsed = parse_datetime(_text(exif.ifd0.get(T_DATETIME)))
        if parsed:
            chain.append(CaptureDate(parsed[0], DateSource.EXIF_MODIFY_DATE, parsed[1]))
    date_only = (
        chain and chain[0].source == DateSource.IPTC_DATE_CREATED and found.iptc_date_only
    ) or (
        chain
        and chain[0].source == DateSource.XMP_DATE_CREATED
        and xmp is not None
        and len((xmp.get("photoshop:DateCreated") or "").strip()) <= 10
    )
    if date_only:
        # a date without a time (IPTC DateCreated alone, photoshop:DateCreated 2002-06-20):
        # a later date of the same day has the time
        same_day = [d for d in chain[1:] if d.wall.date() == chain[0].wall.date()]
        if same_day:
            chain.insert(0, same_day[0])
    captured = _localise(chain[0], tz, name, found) if chain else None

    make = found.make or (exif.make if exif else None) or (xmp.make if xmp else None)
    model = found.model or (exif.model if exif else None) or (xmp.model if xmp else None)
    width, height = found.width, found.height
    if (width is None or height is None) and exif is not None:
        w, h = exif.exif.get(T_EXIF_WIDTH), exif.exif.get(T_EXIF_HEIGHT)
        if isinstance(w, int) and isinstance(h, int) and w and h:
            width, height = w, h
    place = (
        (exif_position(exif.gps) if exif is not None else None)
        or found.position
        or (
            xmp_position(xmp.get("exif:GPSLatitude"), xmp.get("exif:GPSLongitude")) if xmp else None
        )
    )
    gps_offset = None
    if (
        captured is not None
        and captured.utc_offset is None
        and captured.source in _LOCAL_PHOTO_DATES
        and not found.is_video
    ):
        gps_utc = (exif_gps_time(exif.gps) if exif is not None else None) or (
            xmp_gps_time(xmp.get("exif:GPSTimeStamp")) if xmp is not None else None
        )
        if gps_utc is not None:
            gps_offset = gps_zone(captured.wall, gps_utc)
    return MediaInfo(
        captured=captured,
        make=clean(make),
        model=clean(model),
        width=width or None,
        height=height or None,
        format=found.format,
        is_video=found.is_video,
        problems=tuple(dict.fromkeys(found.problems)) if found.problems else (),
        warnings=(
            tuple(w for w in dict.fromkeys(found.warnings) if w not in found.problems)
            if found.warnings
            else ()
        ),
        content_id=found.content_id
        or (apple_content_id(exif.exif.get(T_MAKERNOTE)) if exif is not None else None),
        latitude=place[0] if place else None,
        longitude=place[1] if place else None,
        gps_offset=gps_offset,
    )

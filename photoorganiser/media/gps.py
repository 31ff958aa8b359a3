"""Where a photo or video was taken: the GPS position its metadata carries.

Decimal degrees, WGS84, south and west negative, from whichever form the file uses:

    EXIF GPS IFD   GPSLatitude/GPSLongitude (three rationals: d, m, s) + the N/S, E/W refs
    QuickTime      ISO 6709 text ("+52.3702+004.8952/"): udta ©xyz, Apple's mdta key
                   com.apple.quicktime.location.ISO6709; 3GPP's binary udta `loci` box
    XMP            exif:GPSLatitude / exif:GPSLongitude ("52,22.2N", "52,22,12N")

and the UTC time of the fix from the EXIF GPS IFD (GPSDateStamp + GPSTimeStamp), else XMP's
exif:GPSTimeStamp (a date and time, UTC by the XMP specification): against a photo's local
date it gives the photo's zone (zones.gps_zone).

Every helper returns a `(latitude, longitude)` pair or None: a coordinate out of range,
a division by zero, or the 0,0 "no fix" position some cameras write is no position.
"""

from __future__ import annotations

import math
import re
import struct
from datetime import datetime, timedelta

from .dates import parse_datetime

Position = tuple[float, float]

# EXIF GPS IFD tags
T_GPS_LAT_REF = 0x0001
T_GPS_LAT = 0x0002
T_GPS_LON_REF = 0x0003
T_GPS_LON = 0x0004
T_GPS_TIME = 0x0007  # GPSTimeStamp: hours, minutes, seconds (rationals), UTC
T_GPS_DATE = 0x001D  # GPSDateStamp: "YYYY:MM:DD", UTC
GPS_TAGS = frozenset({T_GPS_LAT_REF, T_GPS_LAT, T_GPS_LON_REF, T_GPS_LON, T_GPS_TIME, T_GPS_DATE})

APPLE_LOCATION_KEY = "com.apple.quicktime.location.ISO6709"


def position(latitude: float | None, longitude: float | None) -> Position | None:
    """A checked position: both finite and in range, and not exactly 0,0 (no fix)."""
    if latitude is None or longitude is None:
        return None
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    if latitude == 0 and longitude == 0:
        return None
    return latitude, longitude


# --- EXIF ----------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """One rational (numerator, denominator) or number; None for x/0 with x != 0."""
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        if den == 0:
            return 0.0 if num == 0 else None
        return num / den
    if isinstance(value, int | float):
        return float(value)
    return None


def _degrees(value: object) -> float | None:
    """EXIF's degrees, minutes, seconds (rationals; some writers use text) as degrees."""
    if isinstance(value, str):  # a writer that stored text, e.g. "52,00000,50,00000"
        parts: list[object] = []
        for word in re.split(r"[,\s]+", value.strip())[:3]:
            try:
                parts.append(float(word))
            except ValueError:
                return None
    elif isinstance(value, tuple):
        parts = [value]
    elif isinstance(value, list):
        parts = list(value[:3])
    else:
        return None
    if not parts:
        return None
    first = parts[0]
    if isinstance(first, tuple) and first[1] == 0:
        return None  # degrees 0/0: no fix
    numbers = [_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    total = 0.0
    for n, scale in zip(numbers, (1.0, 60.0, 3600.0), strict=False):
        assert n is not None
        total += n / scale
    return total


def _ref(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip("\0 ").upper()[:1] if isinstance(value, str) else ""


def exif_position(gps: dict[int, object]) -> Position | None:
    """The position in an EXIF GPS IFD (tags 1-4), or None."""
    if T_GPS_LAT not in gps or T_GPS_LON not in gps:
        return None
    lat, lon = _degrees(gps[T_GPS_LAT]), _degrees(gps[T_GPS_LON])
    if lat is None or lon is None:
        return None
    if _ref(gps.get(T_GPS_LAT_REF)) == "S":
        lat = -abs(lat)
    if _ref(gps.get(T_GPS_LON_REF)) == "W":
        lon = -abs(lon)
    return position(lat, lon)


_GPS_DATE = re.compile(r"\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})\s*")


def exif_gps_time(gps: dict[int, object]) -> datetime | None:
    """The UTC instant of the fix in an EXIF GPS IFD (GPSDateStamp + GPSTimeStamp), naive,
    whole seconds; None when either is missing or impossible (a time of 24:00 or more, a
    zero date, a division by zero)."""
    date, time = gps.get(T_GPS_DATE), gps.get(T_GPS_TIME)
    if isinstance(date, bytes):
        date = date.decode("latin-1")
    if not isinstance(date, str) or not isinstance(time, list) or len(time) != 3:
        return None
    m = _GPS_DATE.fullmatch(date.strip("\0"))
    if m is None:
        return None
    parts = [_number(t) for t in time]
    if any(p is None or not math.isfinite(p) or p < 0 for p in parts):
        return None
    hours, minutes, seconds = (p for p in parts if p is not None)
    total = hours * 3600 + minutes * 60 + seconds
    if not (hours < 24 and minutes < 60 and seconds < 61 and total < 86400):
        return None
    try:
        day = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    if day.year < 1980:  # before GPS time began (1980-01-06): a zero or made-up stamp
        return None
    return day + timedelta(seconds=round(total))


# --- ISO 6709 (QuickTime, MP4) -------------------------------------------------------

_ISO6709 = re.compile(r"\s*([+-])(\d+)(\.\d*)?([+-])(\d+)(\.\d*)?")


def _iso_part(sign: str, digits: str, fraction: str | None, degree_digits: int) -> float | None:
    """±DD[MM[SS]][.f] (latitude: 2 degree digits; longitude: 3)."""
    extra = len(digits) - degree_digits
    if extra not in (0, 2, 4):
        return None
    frac = float(fraction) if fraction and fraction != "." else 0.0
    if extra == 0:
        value = int(digits) + frac
    elif extra == 2:
        value = int(digits[:-2]) + (int(digits[-2:]) + frac) / 60
    else:
        value = int(digits[:-4]) + int(digits[-4:-2]) / 60 + (int(digits[-2:]) + frac) / 3600
    return -value if sign == "-" else value


def iso6709_position(text: str | None) -> Position | None:
    """ "+52.3702+004.8952/" (also ±DDMM.m / ±DDMMSS.s forms, an altitude after) or None."""
    if not text:
        return None
    m = _ISO6709.match(text)
    if m is None:
        return None
    lat = _iso_part(m.group(1), m.group(2), m.group(3), 2)
    lon = _iso_part(m.group(4), m.group(5), m.group(6), 3)
    if lat is None or lon is None:
        return None
    return position(lat, lon)


def loci_position(payload: bytes | None) -> Position | None:
    """A 3GPP `loci` box's payload (version/flags, language, name, role, then longitude,
    latitude and altitude as signed 16.16 fixed point numbers), or None."""
    if not payload or len(payload) < 6:
        return None
    end = payload.find(b"\0", 6)
    if payload[6:8] in (b"\xfe\xff", b"\xff\xfe"):  # UTF-16 name: ends with two NULs
        end = next((i for i in range(8, len(payload) - 1, 2) if payload[i : i + 2] == b"\0\0"), -1)
        end = end + 1 if end >= 0 else -1
    if end < 0:
        return None
    at = end + 1 + 1  # the NUL, then the role byte
    if at + 8 > len(payload):
        return None
    lon, lat = struct.unpack_from(">ii", payload, at)
    return position(lat / 65536, lon / 65536)


# --- XMP -------------------------------------------------------------------------------

_XMP_COORD = re.compile(r"\s*(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?(?:,(\d+(?:\.\d+)?))?\s*([NSEW])")


def xmp_coordinate(text: str | None) -> float | None:
    """XMP's "DDD,MM.mmk" or "DDD,MM,SSk" (k = N, S, E or W), or a plain signed number."""
    if not text:
        return None
    m = _XMP_COORD.fullmatch(text.strip().upper())
    if m is None:
        try:
            return float(text)
        except ValueError:
            return None
    degrees, minutes, seconds, ref = m.groups()
    value = float(degrees) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
    return -value if ref in "SW" else value


def xmp_gps_time(text: str | None) -> datetime | None:
    """XMP exif:GPSTimeStamp ("2020-09-19T10:55:57Z"; UTC when it names no zone) as a naive
    UTC datetime, or None."""
    parsed = parse_datetime(text)
    if parsed is None or parsed[0].year < 1980:
        return None
    wall, zone = parsed
    return (wall - zone if zone is not None else wall).replace(microsecond=0)


def xmp_position(latitude: str | None, longitude: str | None) -> Position | None:
    return position(xmp_coordinate(latitude), xmp_coordinate(longitude))

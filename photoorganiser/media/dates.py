"""Capture dates from text: EXIF/XMP and RFC 822 date strings, file names, Takeout JSON.

Rules (shared by every reader):

* A date is plausible when its year is in [MIN_YEAR, MAX_YEAR] and it is a real calendar
  date/time. 1826 is the first photograph: anything earlier (e.g. 1601, the Windows FILETIME
  epoch written by broken software) is a zero date in disguise. Beyond 2100 is a broken clock.
* Zero (`0000:00:00 00:00:00`), blank (`    :  :     :  :  `) and unparsable values are
  "no date" and the caller falls through to the next tag.
* A date without a time is 00:00:00 (exiftool's convention); a time without seconds is :00.
* A date whose time is there but damaged (`2003:08:04 21:!3:58`, cut short to `21:13:5`) is
  no date at all: reading it as midnight, or as 21:13:05, would file the photo under a wrong
  time while the next tag (CreateDate...) usually holds the right one.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, tzinfo

from ..core.values import CaptureDate, DateSource

MIN_YEAR = 1826
MAX_YEAR = 2100

_DATE_RE = re.compile(
    r"""\s*(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})       # date
    (?:(?:[T\s]+|:)(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d+))?)?)?  # time, seconds, fraction
    \s*(?:GMT|UTC)?\s*(Z|[+-]\d{1,2}(?::?\d{2})?)?       # zone
    """,
    re.VERBOSE,
)

# The plain EXIF form, which _DATE_RE and _time_is_whole read as these six numbers, no
# fraction and no zone.
_EXIF_RE = re.compile(r"(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})")


def make_datetime(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    micro: int = 0,
) -> datetime | None:
    """A naive datetime if the values are a plausible capture time, else None."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    if second == 60:  # leap second / sloppy writers
        second = 59
    try:
        return datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return None


def parse_zone(text: str | None) -> timedelta | None:
    """`+02:00`, `-0500`, `Z`, `+02:00 DST`, `GMT+02:00` -> offset; None if absent/invalid."""
    if not text:
        return None
    text = text.strip().upper().removeprefix("GMT").removeprefix("UTC").strip()
    if text == "Z":
        return timedelta(0)
    m = re.match(r"([+-])(\d{1,2})(?::?(\d{2}))?", text)
    if not m:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return -delta if m.group(1) == "-" else delta


def parse_datetime(text: str | bytes | None) -> tuple[datetime, timedelta | None] | None:
    """Parse an EXIF (`2020:01:02 03:04:05`) or XMP/ISO (`2020-01-02T03:04:05.12+02:00`) date
    (also `2003:08:27:00:09:15`, as some Minolta cameras wrote it).

    Returns (naive wall time, zone offset or None), or None for zero/blank/impossible dates.
    """
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    text = text.strip("\x00 \t\r\n")
    if not text:
        return None
    if len(text) == 19:  # the usual EXIF `2020:01:02 03:04:05`: what the general rules give
        m = _EXIF_RE.fullmatch(text)
        if m is not None:
            wall = make_datetime(*map(int, m.groups()))
            return None if wall is None else (wall, None)
    m = _DATE_RE.match(text)
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, zone = m.groups()
    if not _time_is_whole(text, m):
        return None
    micro = int((frac or "0")[:6].ljust(6, "0"))
    wall = make_datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), micro)
    if wall is None:
        return None
    return wall, parse_zone(zone)


def _time_is_whole(text: str, m: re.Match[str]) -> bool:
    """False when a time follows the date but is damaged or cut short.

    Minutes and seconds are two digits (EXIF and ISO 8601 both say so; `21:13:5` is a cut
    `21:13:5x`), and a time must not run on into more digits or colons. Without a time, only
    a zone (already matched) or nothing may follow the date: `2003:08:04 21:!3:58` is not
    the date-only value `2003:08:04`.
    """
    if m.group(4) is None:
        return not text[m.end() :].strip("\x00 \t\r\n")
    if len(m.group(5)) != 2 or (m.group(6) is not None and len(m.group(6)) != 2):
        return False
    end = max(m.end(g) for g in (5, 6, 7))  # unmatched groups give -1
    return text[end : end + 1] not in _TIME_RUNS_ON


_TIME_RUNS_ON = frozenset("0123456789:")


def apply_subsec(wall: datetime, subsec: str | bytes | None) -> datetime:
    """Add EXIF SubSecTime ("123" = .123 s) to a wall time that has no fraction yet."""
    if subsec is None or wall.microsecond:
        return wall
    if isinstance(subsec, bytes):
        subsec = subsec.decode("latin-1")
    digits = subsec.strip("\x00 ")
    if not (digits.isascii() and digits.isdigit()):  # "³" is a digit to isdigit()
        return wall
    return wall.replace(microsecond=int(digits[:6].ljust(6, "0")))


def utc_to_local(utc: datetime, tz: tzinfo) -> tuple[datetime, timedelta | None]:
    """A naive UTC instant -> (naive wall time in tz at that instant, tz's offset then)."""
    local = utc.replace(tzinfo=UTC).astimezone(tz)
    return local.replace(tzinfo=None), local.utcoffset()


# --- RFC 822 / ctime dates (PNG Creation Time, AVI IDIT) ------------------------

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}


def parse_rfc_date(text: bytes | str) -> tuple[datetime, timedelta | None] | None:
    """`Mon Mar 3 09:44:56 2003`, `Sat, 05 Jan 2019 10:00:00 +0100` and similar."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    m = re.search(
        r"(?:(\d{1,2})\s+([A-Za-z]{3})|([A-Za-z]{3})\s+(\d{1,2}))[,\s]+"
        r"(?:(\d{4})\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s+(\d{4}))?\s*([+-]\d{4}|Z|GMT|UTC)?",
        text,
    )
    if not m:
        return None
    day = int(m.group(1) or m.group(4))
    month = _MONTHS.get((m.group(2) or m.group(3)).lower())
    year = m.group(5) or m.group(9)
    if not month or not year:
        return None
    wall = make_datetime(
        int(year), month, day, int(m.group(6)), int(m.group(7)), int(m.group(8) or 0)
    )
    if wall is None:
        return None
    zone = m.group(10)
    # "GMT", "UTC" and "Z" all say the time is at +00:00: the offset is kept
    return wall, parse_zone("Z" if zone in ("GMT", "UTC") else zone)


# --- file names ------------------------------------------------------------------

# Date and time, e.g. IMG_20200101_120000, PXL_20200101_120000123, 2020-01-01 12.00.00,
# Screenshot_2020-01-01-12-00-00, Screenshot 2019-05-21 at 10.45.52, 20200101_120000,
# telegram_2020-01-30_09-57-18. Digit runs are bounded on both sides: a longer run of
# digits (a serial number) never matches.
_NAME_DT_RE = re.compile(
    r"(?<!\d)(\d{4})(-|_|\.|)(\d{2})\2(\d{2})"  # date, same separator twice
    r"(?:[ _T-]|\s+at\s+|_at_|-at-|)"  # date/time separator
    r"(\d{2})([-_.:h]|)(\d{2})\6(\d{2})"  # time, same separator twice
    r"(?:\.?(\d{3}))?(?!\d)",  # optional milliseconds (PXL_..._120000123)
    re.IGNORECASE,
)
# Date only: WhatsApp IMG-20200101-WA0001 / VID-..., or a separated date 2020-01-01.
_NAME_WA_RE = re.compile(r"(?:IMG|VID|AUD|PTT|STK|DOC)-(\d{4})(\d{2})(\d{2})-WA\d+", re.I)
_NAME_D_RE = re.compile(r"(?<!\d)(\d{4})([-_.])(\d{2})\2(\d{2})(?!\d)")
_NAME_MIN_YEAR = 1990  # digital photo files named after their date


def datetime_from_filename(name: str) -> datetime | None:
    """The date and time (not a date alone) a phone or camera wrote into a file name."""
    for m in _NAME_DT_RE.finditer(name):
        y, _, mo, d, hh, _, mi, ss, _ms = m.groups()
        if int(y) >= _NAME_MIN_YEAR:
            wall = make_datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss))
            if wall is not None:
                return wall
    return None


def date_from_filename(name: str) -> CaptureDate | None:
    """The capture date a camera/phone/app wrote into a file name, or None.

    Date-only names (WhatsApp `IMG-20200101-WA0001`, `2020-01-01.jpg`) give 00:00:00 of that
    day, the same convention exiftool uses for a date without a time.
    """
    for m in _NAME_DT_RE.finditer(name):
        y, _, mo, d, hh, _, mi, ss, ms = m.groups()
        if int(y) < _NAME_MIN_YEAR:
            continue
        micro = int(ms) * 1000 if ms else 0
        wall = make_datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss), micro)
        if wall is not None:
            return CaptureDate(wall, DateSource.FILENAME)
    for regex in (_NAME_WA_RE, _NAME_D_RE):
        for m in regex.finditer(name):
            groups = [g for g in m.groups() if g not in ("-", "_", ".")]
            y, mo, d = (int(g) for g in groups)
            if y < _NAME_MIN_YEAR:
                continue
            wall = make_datetime(y, mo, d)
            if wall is not None:
                return CaptureDate(wall, DateSource.FILENAME)
    return None


# --- Google Takeout JSON -----------------------------------------------------------


def date_from_takeout_json(data: bytes, tz: tzinfo) -> CaptureDate | None:
    """Google Takeout's `photoTakenTime.timestamp` (UTC epoch seconds) as local wall time."""
    try:
        doc = json.loads(data)
        stamp = int(str(doc["photoTakenTime"]["timestamp"]).strip())
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    if stamp <= 0:
        return None
    try:
        utc = datetime(1970, 1, 1) + timedelta(seconds=stamp)
    except OverflowError:
        return None
    if make_datetime(utc.year, utc.month, utc.day) is None:
        return None
    wall, offset = utc_to_local(utc, tz)
    return CaptureDate(wall, DateSource.TAKEOUT_JSON, offset)

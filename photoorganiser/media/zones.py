"""Phone videos' zones: a video that carries only UTC container dates (QuickTime mvhd/mdhd)
is put in the zone it was taken in, by the first rule that applies:

1. its file name states the local time (Samsung `20240128_105420.mp4`, Pixel `PXL_...`,
   `VID_...`) and differs from the UTC date by a whole number of quarter hours within
   ±14 h (2 minutes of slack for a date written when the recording ended): that is the
   offset (`name_zone`, applied by the date policy while reading the file);
2. else the nearest photo in time from the same camera (make and model), within
   `NEAREST_WINDOW`, that carries an offset (EXIF OffsetTimeOriginal, Apple's local date
   with zone...) gives it (`photo_zones`, over the run's analyses: the planner calls it);
   when that photo was taken in `--timezone`'s zone, the video follows that zone's
   daylight-saving changes as the phone's clock did;
3. else `--timezone`, else the machine's zone (what reading did).

The date's source says which rule applied. A local time that falls in a daylight-saving
fold (it happens twice: the UTC date says which) or gap is said so in a note (`dst_note`).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from ..core.values import Analysis, CaptureDate, DateSource, FileKind
from .dates import datetime_from_filename

UTC_SOURCES = frozenset({DateSource.QUICKTIME_CREATE_DATE, DateSource.QUICKTIME_MEDIA_CREATE_DATE})
QUARTER = timedelta(minutes=15)
MAX_OFFSET = timedelta(hours=14)
SLACK = timedelta(minutes=2)
NEAREST_WINDOW = timedelta(hours=4)

# dates whose offset says where the camera was (not one this module or a --timezone gave)
_NOT_A_ZONE = frozenset(
    {
        *UTC_SOURCES,
        DateSource.QUICKTIME_UTC_PHOTO_ZONE,
        DateSource.MATROSKA_DATE,
        DateSource.ASF_CREATION_DATE,
        DateSource.TAKEOUT_JSON,
        DateSource.FILENAME,
        DateSource.MTIME,
    }
)


def name_zone(name: str, utc: datetime) -> timedelta | None:
    """Rule 1: the offset a file name's local time gives a UTC instant, or None."""
    named = datetime_from_filename(name)
    if named is None:
        return None
    diff = named - utc.replace(microsecond=0)
    quarters = round(diff / QUARTER)
    offset = quarters * QUARTER
    if abs(offset) > MAX_OFFSET or abs(diff - offset) > SLACK:
        return None
    return offset


def photo_zones(
    media: Sequence[Analysis], tz: tzinfo | None = None, window: timedelta = NEAREST_WINDOW
) -> list[Analysis]:
    """Rule 2 over the run's analyses: each video still dated by rule 3 (a UTC container
    date in the caller's zone) takes the offset of the nearest photo in time from the same
    make and model, within `window`. When that photo's offset is the one `tz` had at the
    photo's instant, the camera was in `tz`: the video takes tz's offset at its own instant,
    so a daylight-saving change between the two is followed, as the phone's clock did.
    Pure: returns the analyses, changed or not."""
    zoned: dict[tuple[str, str], list[tuple[datetime, timedelta]]] = defaultdict(list)
    for a in media:
        c = a.captured
        if (
            c is None
            or c.utc_offset is None
            or c.source in _NOT_A_ZONE
            or a.media.captured != c  # a sidecar's or a partner's date, not the file's own
            or not (a.media.make and a.media.model)
        ):
            continue
        zoned[a.media.make, a.media.model].append((c.wall - c.utc_offset, c.utc_offset))
    if not zoned:
        return list(media)
    for stamps in zoned.values():
        stamps.sort()
    out = []
    for a in media:
        c = a.captured
        stamps = zoned.get((a.media.make or "", a.media.model or ""))
        if (
            stamps
            and c is not None
            and c.source in UTC_SOURCES
            and c.utc_offset is not None
            and a.entry.kind is FileKind.VIDEO
        ):
            instant = c.wall - c.utc_offset
            near = _nearest(stamps, instant, window)
            if near is not None:
                photo_instant, offset = near
                if tz is not None and _offset_in(tz, photo_instant) == offset:
                    offset = _offset_in(tz, instant) or offset
                date = CaptureDate(instant + offset, DateSource.QUICKTIME_UTC_PHOTO_ZONE, offset)
                a = dataclasses.replace(a, captured=date)
        out.append(a)
    return out


def _nearest(
    stamps: list[tuple[datetime, timedelta]], instant: datetime, window: timedelta
) -> tuple[datetime, timedelta] | None:
    """The (instant, offset) of the photo nearest `instant`, within `window`."""
    i = bisect.bisect_left(stamps, (instant, timedelta.min))
    best = None
    for j in (i - 1, i):
        if 0 <= j < len(stamps):
            gap = abs(stamps[j][0] - instant)
            if gap <= window and (best is None or gap < best[0]):
                best = (gap, stamps[j])
    return best[1] if best else None


def _offset_in(tz: tzinfo, utc: datetime) -> timedelta | None:
    return utc.replace(tzinfo=UTC).astimezone(tz).utcoffset()


def dst_note(wall: datetime, tz: tzinfo) -> str | None:
    """A note when `wall` is ambiguous (a fold: it happens twice) or impossible (a gap)
    in tz; None otherwise."""
    first = wall.replace(tzinfo=tz, fold=0).utcoffset()
    second = wall.replace(tzinfo=tz, fold=1).utcoffset()
    if first == second:
        return None
    name = getattr(tz, "key", None) or str(tz)
    if first is not None and second is not None and first > second:
        return (
            f"local time {wall:%Y-%m-%d %H:%M} happens twice in {name} (daylight-saving fold):"
            " the UTC date says which, and its offset is kept"
        )
    return (
        f"local time {wall:%Y-%m-%d %H:%M} does not exist in {name} (daylight-saving gap):"
        " kept as the device wrote it"
    )

"""Phone videos' zones: a video that carries only UTC container dates (QuickTime mvhd/mdhd)
is put in the zone it was taken in, by the first rule that applies:

1. its file name states the local time (Samsung `20240128_105420.mp4`, Pixel `PXL_...`,
   `VID_...`) and differs from the UTC date by a whole number of quarter hours within
   ±14 h (2 minutes of slack for a date written when the recording ended): that is the
   offset (`name_zone`, applied by the date policy while reading the file);
2. else the nearest photo in time from the same camera (make and model), within
   `NEAREST_WINDOW`, that carries an offset (EXIF OffsetTimeOriginal, Apple's local date
   with zone..., or its GPS time against its local time: `gps_zone`) gives it
   (`photo_zones`, over the run's analyses: the planner calls it); when that photo was
   taken in `--timezone`'s zone, the video follows that zone's daylight-saving changes as
   the phone's clock did. A video without make and model (most Android MP4s) takes the
   zone of the nearest such photo in its own folder (a phone's DCIM/Camera) only within
   `FOLDER_WINDOW`, and only when every such photo of that folder within the window
   agrees on the zone (`NearestPhotoSameFolder`);
3. else `--timezone`, else the machine's zone (what reading did).

The date's source says which rule applied, and a note says which photo gave the zone
(and when its GPS time did). A photo's own date is never changed by its GPS time. A
local time that falls in a daylight-saving fold (it happens twice: the UTC date says
which) or gap is said so in a note (`dst_note`).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from ..core.lazypath import folder_and_name
from ..core.values import Analysis, CaptureDate, DateSource, FileKind
from .dates import datetime_from_filename

UTC_SOURCES = frozenset({DateSource.QUICKTIME_CREATE_DATE, DateSource.QUICKTIME_MEDIA_CREATE_DATE})
QUARTER = timedelta(minutes=15)
MAX_OFFSET = timedelta(hours=14)
SLACK = timedelta(minutes=2)
NEAREST_WINDOW = timedelta(hours=4)
FOLDER_WINDOW = timedelta(hours=2)

# dates whose offset says where the camera was (not one this module or a --timezone gave)
_NOT_A_ZONE = frozenset(
    {
        *UTC_SOURCES,
        DateSource.QUICKTIME_UTC_PHOTO_ZONE,
        DateSource.QUICKTIME_UTC_FOLDER_ZONE,
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
    return _quarters(named - utc.replace(microsecond=0))


def gps_zone(local: datetime, gps_utc: datetime) -> timedelta | None:
    """A photo's zone from its GPS time: its local date minus the UTC time of the GPS fix,
    to the nearest quarter hour when within 2 minutes of one (a fix is often seconds or
    a minute stale) and within ±14 h; else None."""
    return _quarters(local.replace(microsecond=0) - gps_utc.replace(microsecond=0))


def _quarters(diff: timedelta) -> timedelta | None:
    """`diff` as a whole number of quarter hours (within SLACK) in ±14 h, or None."""
    offset = round(diff / QUARTER) * QUARTER
    if abs(offset) > MAX_OFFSET or abs(diff - offset) > SLACK:
        return None
    return offset


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class _Zoned:
    """A photo (or any file) whose own date says where it was taken."""

    instant: datetime  # UTC, naive
    offset: timedelta
    path: Path = dataclasses.field(compare=False)  # (its name asked for only if used)
    by_gps: bool = dataclasses.field(compare=False)


def _zoned(a: Analysis) -> _Zoned | None:
    """The instant and zone a file's own date gives, or None: its offset, else the one its
    GPS time gives; never a zone this module or --timezone put there."""
    c = a.captured
    if c is None or c.source in _NOT_A_ZONE or a.media_date != c:
        return None  # (a sidecar's or a partner's date is not the file's own)
    offset, by_gps = c.utc_offset, False
    if offset is None:
        offset, by_gps = a.media.gps_offset, True
    if offset is None:
        return None
    return _Zoned(c.wall - offset, offset, a.entry.path, by_gps)


def photo_zones(
    media: Sequence[Analysis],
    tz: tzinfo | None = None,
    window: timedelta = NEAREST_WINDOW,
    folder_window: timedelta = FOLDER_WINDOW,
) -> list[Analysis]:
    """Rule 2 over the run's analyses: each video still dated by rule 3 (a UTC container
    date in the caller's zone) takes the offset of the nearest photo in time from the same
    make and model, within `window`; a video without make and model, the offset of the
    nearest photo in its own folder within `folder_window` when all of them there agree.
    When that photo's offset is the one `tz` had at the photo's instant, the camera was in
    `tz`: the video takes tz's offset at its own instant, so a daylight-saving change
    between the two is followed, as the phone's clock did. Pure: returns the analyses,
    changed or not."""
    if not any(_utc_video(a) for a in media):  # most runs: no zone is looked for
        return list(media)
    by_camera: dict[tuple[str, str], list[_Zoned]] = defaultdict(list)
    # (folders by their text: a path's parts, asked for, would stay in it)
    by_folder: dict[str, list[_Zoned]] = defaultdict(list)
    for a in media:
        z = _zoned(a)
        if z is None:
            continue
        if a.facts.make and a.facts.model:
            by_camera[a.facts.make, a.facts.model].append(z)
        if a.entry.kind is FileKind.IMAGE:
            by_folder[_folder(a)].append(z)
    if not by_camera and not by_folder:
        return list(media)
    for stamps in (*by_camera.values(), *by_folder.values()):
        stamps.sort()
    out = []
    for a in media:
        c = a.captured
        if _utc_video(a):
            instant = c.wall - c.utc_offset
            source, near = DateSource.QUICKTIME_UTC_PHOTO_ZONE, None
            facts = a.facts
            if facts.make and facts.model:
                near = _nearest(by_camera.get((facts.make, facts.model), []), instant, window)
            elif not (facts.make or facts.model):
                source = DateSource.QUICKTIME_UTC_FOLDER_ZONE
                near = _agreed(by_folder.get(_folder(a), []), instant, folder_window)
            if near is not None:
                a = _zone_from(a, instant, near, source, tz)
        out.append(a)
    return out


def _utc_video(a: Analysis) -> bool:
    """A video dated by rule 3 (a UTC container date in the caller's zone)."""
    c = a.captured
    return (
        c is not None
        and c.source in UTC_SOURCES
        and c.utc_offset is not None
        and a.entry.kind is FileKind.VIDEO
    )


def _folder(a: Analysis) -> str:
    return folder_and_name(a.entry.path)[0]


def _zone_from(
    a: Analysis, instant: datetime, near: _Zoned, source: DateSource, tz: tzinfo | None
) -> Analysis:
    offset = near.offset
    if tz is not None and _offset_in(tz, near.instant) == offset:
        offset = _offset_in(tz, instant) or offset
    date = CaptureDate(instant + offset, source, offset)
    minutes = round(abs(near.instant - instant).total_seconds() / 60)
    how = "its GPS time against its local time" if near.by_gps else "its offset"
    where = " in the same folder" if source is DateSource.QUICKTIME_UTC_FOLDER_ZONE else ""
    note = (
        f"zone {_offset_text(near.offset)} from {near.path.name}{where}, taken {minutes} min"
        f" {'before' if near.instant <= instant else 'after'} ({how})"
    )
    media = dataclasses.replace(a.media, warnings=(*a.media.warnings, note))
    return dataclasses.replace(a, captured=date, media=media)


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _agreed(stamps: list[_Zoned], instant: datetime, window: timedelta) -> _Zoned | None:
    """The nearest within `window`, when every one within it has the same offset."""
    lo = bisect.bisect_left(stamps, instant - window, key=lambda z: z.instant)
    hi = bisect.bisect_right(stamps, instant + window, key=lambda z: z.instant)
    if lo >= hi or len({z.offset for z in stamps[lo:hi]}) != 1:
        return None
    return min(stamps[lo:hi], key=lambda z: abs(z.instant - instant))


def _nearest(stamps: list[_Zoned], instant: datetime, window: timedelta) -> _Zoned | None:
    """The photo nearest `instant`, within `window`."""
    i = bisect.bisect_left(stamps, instant, key=lambda z: z.instant)
    best = None
    for j in (i - 1, i):
        if 0 <= j < len(stamps):
            gap = abs(stamps[j].instant - instant)
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

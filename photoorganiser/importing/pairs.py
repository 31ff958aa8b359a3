"""Live Photos and RAW+JPEG pairs: which media files travel together under one name (the
planner's `leader_of`: follower -> leader), and the date such a pair is filed by. Pure.

A pair holds at most one still image, one raw and one video; its leader (the still, else
the raw) decides the shared name. Files are paired

1. by Apple's Live Photo identifier (the still's MakerNote and the video's
   `com.apple.quicktime.content.identifier`): authoritative, even when the files were
   renamed apart or their dates disagree;
2. else by a shared stem in one folder (`IMG_1.HEIC` with `IMG_1.MOV` or
   `IMG_1_HEVC.MOV`, `IMG_1.JPG` with `IMG_1.CR2`), only when they can be one shot (the
   name alone pairs unrelated files: `QuickTime.heic` and `QuickTime.mov`):
   - a video is a QuickTime movie (MOV, MP4, M4V): what a phone writes as a Live
     Photo's or a motion photo's video. An AVI, MKV or MPEG of a still's name is a
     recording of its own;
   - the cameras agree: when both files name their make, or their model, the names are
     the same (case, spaces and punctuation aside, one may hold the other: `NIKON` and
     `NIKON CORPORATION`, `EOS 5D` and `Canon EOS 5D`);
   - the dates agree: when both files have a date of their own (from their metadata or a
     sidecar, not a file name or modification time), they are `SAME_SHOT` apart at most
     (a raw and its JPEG), or `LIVE_VIDEO` with a video (`apart` says how dates in
     different zones are compared).
   A file that fails these is no partner: it is filed on its own, by its own date.
3. A pair is filed by its leader's date; when the leader's date is only a guess (its file
   name, its modification time) or it has none (`--no-mtime`), and a partner has a date of
   its own, the leader takes that date (the raw's before the video's), with a note: the
   better source wins, and the pair is not sent to `undated/` nor to the day it was copied.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ..core.lazypath import folder_and_name
from ..core.values import WEAK_SOURCES, Analysis, CaptureDate, DateSource, FileKind
from ..media.zones import MAX_OFFSET, QUARTER

# Which part of a pair decides the shared name: the still image, then the raw.
LEADER_ORDER = {FileKind.IMAGE: 0, FileKind.RAW: 1, FileKind.VIDEO: 2}

# A raw and its JPEG are one exposure: the camera writes the same DateTimeOriginal in both.
# EXIF times are whole seconds, and the second file may be written as the clock ticks
# over: 1 s, and 1 s of margin.
SAME_SHOT = timedelta(seconds=2)
# A Live Photo's video runs from about 1.5 s before the still to 1.5 s after it; its dates
# mark the start of the clip (Apple's CreationDate) or the moment the file was written
# (the movie header's CreateDate, in whole seconds): within 3 s of the still, and 2 s of
# margin for the write and the rounding. A minute apart is another recording.
LIVE_VIDEO = timedelta(seconds=5)

# the containers a Live Photo's (or a motion photo's) video comes in (media/quicktime.py)
LIVE_VIDEO_FORMATS = frozenset({"MOV", "MP4", "M4V"})


@dataclass(frozen=True, slots=True)
class Pairs:
    """The pairs of a run's media: who follows whom, and the leaders dated by a partner."""

    leader_of: dict[Path, Path]  # follower -> leader
    # a leader with only a guessed date (or none) -> it and the partner whose date it takes
    dated_by: dict[Path, tuple[Analysis, Analysis]]


def stem_of(name: str) -> str:
    """A file name without its last suffix, as pathlib's `stem`."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def pair_stem(a: Analysis) -> str:
    """The stem that pairs files: IMG_7943.HEIC with IMG_7943.MOV, or IMG_7943_HEVC.MOV
    (the name some iPhone exports give a Live Photo's video)."""
    stem = stem_of(folder_and_name(a.entry.path)[1]).lower()  # (no path part parsed)
    if a.entry.kind is FileKind.VIDEO and stem.endswith("_hevc"):
        return stem[: -len("_hevc")]
    return stem


def pair_media(media: Sequence[Analysis]) -> Pairs:
    """The pairs: Live Photos by Apple's identifier, then files sharing a stem in one
    folder that can be one shot (the module's rules). Two stills of the same stem
    (IMG_1.jpg and IMG_1.png) are different pictures and stay apart."""
    leader_of: dict[Path, Path] = {}
    dated_by: dict[Path, tuple[Analysis, Analysis]] = {}
    _pair_by_content_id(media, leader_of, dated_by)
    has_video = set(leader_of.values())  # stills whose video was found by its identifier
    # by folder first (its text once), then by stem a folder at a time: a key (folder,
    # stem) of every file was 230 bytes a file for a moment at a million files
    by_folder: dict[str, list[Analysis]] = {}
    for a in media:
        if a.facts.problems or (leader_of and a.entry.path in leader_of):  # paired by its id
            continue
        folder = folder_and_name(a.entry.path)[0]
        files = by_folder.get(folder)
        if files is None:
            files = by_folder[folder] = []
        files.append(a)
    for files in by_folder.values():
        _pair_in_folder(files, has_video, leader_of, dated_by)
    return Pairs(leader_of, dated_by)


def _pair_by_content_id(
    media: Sequence[Analysis],
    leader_of: dict[Path, Path],
    dated_by: dict[Path, tuple[Analysis, Analysis]],
) -> None:
    """Live Photos by Apple's identifier (the still's MakerNote, the video's Keys entry):
    they stay together even when renamed apart (IMG_1234 (1).HEIC, IMG_1234.MOV)."""
    by_id: dict[str, list[Analysis]] = defaultdict(list)
    for a in media:
        if a.content_id and not a.facts.problems:
            by_id[a.content_id].append(a)
    for members in by_id.values():
        stills = [m for m in members if m.entry.kind is not FileKind.VIDEO]
        videos = [m for m in members if m.entry.kind is FileKind.VIDEO]
        if len(stills) == 1 and videos:  # copies of a pair fall back to their names
            (still,) = stills
            for video in videos:
                leader_of[video.entry.path] = still.entry.path
                if not has_own_date(still) and has_own_date(video):
                    dated_by.setdefault(still.entry.path, (still, video))


def _pair_in_folder(
    files: list[Analysis],
    has_video: set[Path],
    leader_of: dict[Path, Path],
    dated_by: dict[Path, tuple[Analysis, Analysis]],
) -> None:
    """pair_media's pairs by stem in one folder, added to `leader_of` (and `dated_by`)."""
    # one analysis per stem, and a list only for stems seen more than once
    first: dict[str, Analysis] = {}
    groups: dict[str, list[Analysis]] = {}
    for a in files:
        stem = pair_stem(a)
        seen = first.setdefault(stem, a)
        if seen is not a:
            groups.setdefault(stem, [seen]).append(a)
    for members in groups.values():
        members = [
            m
            for m in members
            if not (
                m.entry.kind is FileKind.VIDEO and any(o.entry.path in has_video for o in members)
            )
        ]
        kinds = [m.entry.kind for m in members]
        if len(members) < 2 or len(set(kinds)) != len(kinds):
            continue
        members.sort(key=lambda m: LEADER_ORDER[m.entry.kind])
        # the first leads those that can be its partners; the others (another shot that
        # only shares the name) are paired among themselves the same way, or go alone
        while len(members) >= 2:
            leader, *others = members
            date = leader.captured if has_own_date(leader) else None
            members = []
            for other in others:
                if not same_shot(leader, date, other):
                    members.append(other)
                    continue
                leader_of[other.entry.path] = leader.entry.path
                if date is None and has_own_date(other):  # the better date: the pair's
                    date = other.captured
                    dated_by[leader.entry.path] = (leader, other)


def has_own_date(a: Analysis) -> bool:
    """A date from the file's metadata or its sidecar: not a guess from its name or its
    modification time, nor none."""
    return a.captured is not None and a.captured.source not in WEAK_SOURCES


def same_shot(leader: Analysis, date: CaptureDate | None, other: Analysis) -> bool:
    """Whether `other`, which shares `leader`'s stem, can be its partner: a video in a
    Live Photo's container, the same camera, and dates that agree (`date`: the leader's
    own, or the one a partner gave it; None when it has none)."""
    video = other.entry.kind is FileKind.VIDEO
    form = other.facts.format
    if video and form is not None and form not in LIVE_VIDEO_FORMATS:
        return False
    if not same_camera(leader.facts.make, other.facts.make):
        return False
    if not same_camera(leader.facts.model, other.facts.model):
        return False
    if date is None or not has_own_date(other):
        return True  # nothing to compare: the name decides
    return apart(date, other.captured) <= (LIVE_VIDEO if video else SAME_SHOT)  # type: ignore[arg-type]


def same_camera(one: str | None, other: str | None) -> bool:
    """Two makes (or two models) name the same camera: case, spaces and punctuation aside,
    one holds the other. True when either is unknown."""
    a, b = _letters(one), _letters(other)
    return not a or not b or a in b or b in a


def _letters(text: str | None) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum()) if text else ""


def apart(one: CaptureDate, other: CaptureDate) -> timedelta:
    """How far apart two dates are. With both offsets known (EXIF OffsetTimeOriginal,
    Apple's CreationDate, a video's UTC date): their instants. With neither: their wall
    clocks (one camera's clock). With one: the other's wall clock is in a zone not
    known, so the difference less the nearest whole zone (quarter hours, within ±14 h):
    a phone's still without an offset and its video's UTC date are one shot when they
    differ by a zone and a few seconds."""
    if one.utc_offset is not None and other.utc_offset is not None:
        return abs((one.wall - one.utc_offset) - (other.wall - other.utc_offset))
    if one.utc_offset is None and other.utc_offset is None:
        return abs(one.wall - other.wall)
    local, zoned = (one, other) if one.utc_offset is None else (other, one)
    diff = local.wall - (zoned.wall - zoned.utc_offset)  # type: ignore[operator]
    zone = max(-MAX_OFFSET, min(MAX_OFFSET, round(diff / QUARTER) * QUARTER))
    return abs(diff - zone)


def with_partner_dates(
    media: Sequence[Analysis], dated_by: dict[Path, tuple[Analysis, Analysis]]
) -> list[Analysis]:
    """`media` with each leader in `dated_by` dated by its partner, with a note that says
    so. (The leaders are found by identity: no other file's path is hashed.)"""
    partner_of = {id(leader): partner for leader, partner in dated_by.values()}
    out = []
    for a in media:
        partner = partner_of.get(id(a))
        if partner is not None:
            a = _dated_by(a, partner)
        out.append(a)
    return out


_GUESS = {DateSource.MTIME: "its file's modification time", DateSource.FILENAME: "its name"}


def _dated_by(leader: Analysis, partner: Analysis) -> Analysis:
    own = leader.captured
    if own is None:
        was = "it has no date of its own"
    else:
        was = f"its own date is only {_GUESS.get(own.source, own.source.value)} ({own.isoformat()})"
    role = "Live Photo video" if partner.entry.kind is FileKind.VIDEO else "raw"
    name = folder_and_name(partner.entry.path)[1]
    note = f"dated by {name}, its {role}: {was}"
    media = leader.media
    media = dataclasses.replace(media, warnings=(*media.warnings, note))
    return dataclasses.replace(leader, captured=partner.captured, media=media)

"""Values that cross stages: frozen dataclasses and enums, nothing else.

Every stage of the import pipeline takes and returns these, so a stage can be
read, tested and replaced on its own:

    scan      -> ScanEntry
    analyse   -> Analysis | AnalysisFailure      (MediaInfo + CaptureDate inside)
    plan      -> Decision (one per ScanEntry)
    collisions-> Decision (destinations made unique, duplicates marked)
    execute   -> Outcome (one per Decision)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from .lazypath import path_from_text


class FileKind(Enum):
    """What scan decided a file is, from its name alone."""

    IMAGE = "image"
    RAW = "raw"
    VIDEO = "video"
    SIDECAR = "sidecar"  # .xmp .thm .aae .json: travels with its media file
    OTHER = "other"  # ignored: hidden, system or not a media file

    # An enum member is its only instance, so it is hashed by identity: Enum's own hash
    # is a Python call (hash of its name), made for every look-up keyed by a member.
    __hash__ = object.__hash__


class Action(Enum):
    """What the run does (or, in a dry run, would do) with one scanned file."""

    MOVE = "move"
    COPY = "copy"
    SKIP_EXISTS = "skip-exists"  # the same content is already in the library
    SKIP_DUPLICATE = "skip-duplicate"  # the same content appears earlier in this run
    SKIP_DELETED = "skip-deleted"  # imported before, removed from the library since
    IGNORE = "ignore"  # not a media file, hidden, system file, ...
    ERROR = "error"  # could not be read or understood; left where it is
    RECOVER = "recover"  # a transfer a killed run left half-way, finished or undone
    FINISH_MOVE = "finish-move"  # an earlier move placed this file but could not remove it
    RESTORE = "restore"  # undo: a library file moved back to where a run took it from
    UNCOPY = "uncopy"  # undo: a run's copy removed from the library (the original checked)

    # (set on each member below: a plain attribute, read several times a file)
    transfers: bool  # journalled before it happens, one file at a time (execute's `transfer`)
    moves: bool  # the source is gone once it is done

    __hash__ = object.__hash__  # (as FileKind's)


for _action in Action:
    _action.transfers = _action in (Action.MOVE, Action.COPY, Action.RESTORE, Action.UNCOPY)
    _action.moves = _action in (Action.MOVE, Action.RESTORE)
del _action


class Status(Enum):
    DONE = "done"
    PLANNED = "planned"
    FAILED = "failed"
    NOT_DONE = "not-done"  # the run stopped (Ctrl-C, SIGTERM...) before this file: untouched
    # not taken now, untouched, no failure: another program is writing it, or it changed
    # since the scan (a copy still coming in), or the file it travels with is so; the next
    # run takes it
    LATER = "later"
    KNOWN = "known"  # failed before and unchanged since: reported, but not a new failure

    __hash__ = object.__hash__  # (as FileKind's)


class TransferMode(Enum):
    MOVE = "move"
    COPY = "copy"

    @property
    def action(self) -> Action:
        return Action.MOVE if self is TransferMode.MOVE else Action.COPY

    __hash__ = object.__hash__  # (as FileKind's)


class DateSource(Enum):
    """The tag or rule that gave a capture date (the report's `date_source`).

    Values name the tag the way exiftool does (`Group:Tag`), so a user can check
    them with `exiftool -G1 -a -time:all FILE`.
    """

    EXIF_DATETIME_ORIGINAL = "EXIF:DateTimeOriginal"
    EXIF_CREATE_DATE = "EXIF:CreateDate"  # a.k.a. DateTimeDigitized
    EXIF_MODIFY_DATE = "EXIF:ModifyDate"  # IFD0 DateTime, a last resort inside EXIF
    XMP_DATETIME_ORIGINAL = "XMP:DateTimeOriginal"
    XMP_CREATE_DATE = "XMP:CreateDate"
    XMP_DATE_CREATED = "XMP:DateCreated"
    IPTC_DATE_CREATED = "IPTC:DateCreated"
    PNG_CREATION_TIME = "PNG:CreationTime"
    QUICKTIME_CREATION_DATE = "QuickTime:CreationDate"  # Apple Keys: local time + zone
    QUICKTIME_CREATE_DATE = "QuickTime:CreateDate"  # mvhd: UTC by spec
    QUICKTIME_MEDIA_CREATE_DATE = "QuickTime:MediaCreateDate"  # mdhd: UTC by spec
    # a UTC container date (mvhd, else mdhd) put in the zone that the file's name states
    # (a phone's local time), or the zone of the nearest photo of the same camera
    QUICKTIME_UTC_NAME_ZONE = "QuickTime:CreateDate+FileName:zone"
    QUICKTIME_UTC_PHOTO_ZONE = "QuickTime:CreateDate+NearestPhoto:zone"
    # a video without make/model: the zone of the nearest photo in its own folder (zones.py)
    QUICKTIME_UTC_FOLDER_ZONE = "QuickTime:CreateDate+NearestPhotoSameFolder:zone"
    QUICKTIME_DATETIME_ORIGINAL = "UserData:DateTimeOriginal"
    QUICKTIME_CONTENT_CREATE_DATE = "UserData:ContentCreateDate"  # ©day: often local + zone
    RIFF_DATETIME_ORIGINAL = "RIFF:DateTimeOriginal"
    MATROSKA_DATE = "Matroska:DateTimeOriginal"
    ASF_CREATION_DATE = "ASF:CreationDate"
    H264_DATETIME_ORIGINAL = "H264:DateTimeOriginal"
    DV_DATETIME_ORIGINAL = "DV:DateTimeOriginal"
    CANON_RAW_DATE = "CanonRaw:DateTimeOriginal"
    SIGMA_RAW_DATE = "SigmaRaw:DateTimeOriginal"  # X3F header property TIME
    CASIO_DATE = "Casio:DateTimeOriginal"  # Casio QV cameras' QVCI APP1 segment
    THM_SIDECAR = "THM:DateTimeOriginal"  # the EXIF of a video's .THM sidecar
    XMP_SIDECAR = "XMP-sidecar:DateTimeOriginal"
    TAKEOUT_JSON = "Takeout:photoTakenTime"
    FILENAME = "filename"
    MTIME = "mtime"

    __hash__ = object.__hash__  # (as FileKind's)


# Dates that only say when a file was written, not when it was taken: a sidecar's or a
# partner's real date beats them (plan), and they never date a sidecar (analyse).
WEAK_SOURCES = frozenset({DateSource.FILENAME, DateSource.MTIME})


@dataclass(frozen=True, slots=True)
class CaptureDate:
    """When a photo or video was taken, as the wall clock where it was taken showed it.

    `wall` is naive local wall-clock time. `utc_offset` is the offset of that
    wall time from UTC when it is known (EXIF OffsetTimeOriginal, an Apple video's
    CreationDate, or a UTC video time that was converted to a local zone).
    """

    wall: datetime
    source: DateSource
    utc_offset: timedelta | None = None

    def isoformat(self) -> str:
        text = self.wall.isoformat(timespec="microseconds" if self.wall.microsecond else "seconds")
        if self.utc_offset is None:
            return text
        minutes = int(self.utc_offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        minutes = abs(minutes)
        return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What a file's content says of its camera, size and state: the same for the
    thousands of photos of one camera, so one value is shared by them (`MediaInfo.facts`)."""

    make: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None  # the format found in the content: "JPEG", "HEIF", "MP4", ...
    is_video: bool = False
    problems: tuple[str, ...] = ()  # the content is damaged (truncated...): left in place
    warnings: tuple[str, ...] = ()  # only its metadata is unreadable: imported, with a note

    def shared_in(self, table: dict[MediaFacts, MediaFacts]) -> MediaFacts:
        """The equal value `table` holds (one for all the files of a camera), else this
        one, kept there while the table holds fewer than SHARED_FACTS."""
        held = table.get(self)
        if held is None:
            if len(table) < SHARED_FACTS:
                table[self] = self
            return self
        return held


SHARED_FACTS = 4096  # different facts a run shares at most (the rest: one value a file)
NO_FACTS = MediaFacts()
_FACTS = tuple(MediaFacts.__dataclass_fields__)  # (in their order)
_UNSET: object = object()


@dataclass(frozen=True, slots=True, init=False)
class MediaInfo:
    """What a file's own content says about it (from `metadata.read_media`): what is its
    own (its date, place, Live Photo id), and its camera's facts (`MediaFacts`, read
    through the same names: `media.make`...), a value shared by many files.

    Made as `MediaInfo(captured, make=..., ...)` or with `facts=` a shared value."""

    captured: CaptureDate | None
    facts: MediaFacts
    content_id: str | None  # Apple's Live Photo id: the same in the still and its video
    latitude: float | None  # GPS position: decimal degrees, WGS84, south negative
    longitude: float | None  # ... west negative (both or neither; media/gps.py)
    # the zone the GPS time (UTC) gives `captured` when it has no offset of its own
    # (local - UTC, to a quarter hour: zones.gps_zone); for phone videos' zones only,
    # `captured` is left as it is
    gps_offset: timedelta | None

    def __init__(  # the facts by name too, as before they were a value of their own
        self,
        captured: CaptureDate | None = None,
        make: str | None = _UNSET,  # type: ignore[assignment]
        model: str | None = _UNSET,  # type: ignore[assignment]
        width: int | None = _UNSET,  # type: ignore[assignment]
        height: int | None = _UNSET,  # type: ignore[assignment]
        format: str | None = _UNSET,  # type: ignore[assignment]  # noqa: A002
        is_video: bool = _UNSET,  # type: ignore[assignment]
        problems: tuple[str, ...] = _UNSET,  # type: ignore[assignment]
        warnings: tuple[str, ...] = _UNSET,  # type: ignore[assignment]
        content_id: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        gps_offset: timedelta | None = None,
        facts: MediaFacts | None = None,
    ) -> None:
        values = (make, model, width, height, format, is_video, problems, warnings)
        given = (  # (none in the common case, from `facts`: no dict made a file)
            {k: v for k, v in zip(_FACTS, values, strict=True) if v is not _UNSET}
            if values.count(_UNSET) < len(values)
            else None
        )
        if given:  # (with `facts` too: those facts with these changed, as `replace` asks)
            base = {} if facts is None else {k: getattr(facts, k) for k in _FACTS}
            facts = MediaFacts(**(base | given))
        set_ = object.__setattr__
        set_(self, "captured", captured)
        set_(self, "facts", NO_FACTS if facts is None else facts)
        set_(self, "content_id", content_id)
        set_(self, "latitude", latitude)
        set_(self, "longitude", longitude)
        set_(self, "gps_offset", gps_offset)

    @classmethod
    def _of(cls, captured: CaptureDate | None, facts: MediaFacts) -> MediaInfo:
        """A media that is only its date and its facts (straight: no argument checked)."""
        media = object.__new__(cls)
        set_ = object.__setattr__
        set_(media, "captured", captured)
        set_(media, "facts", facts)
        set_(media, "content_id", None)
        set_(media, "latitude", None)
        set_(media, "longitude", None)
        set_(media, "gps_offset", None)
        return media

    make = property(lambda self: self.facts.make)
    model = property(lambda self: self.facts.model)
    width = property(lambda self: self.facts.width)
    height = property(lambda self: self.facts.height)
    format = property(lambda self: self.facts.format)
    is_video = property(lambda self: self.facts.is_video)
    problems = property(lambda self: self.facts.problems)
    warnings = property(lambda self: self.facts.warnings)


_M64 = (1 << 64) - 1
_BEFORE_1970 = 1 << 63  # added to mtime_ns in `stat`: a time before 1970 is negative


@dataclass(frozen=True, slots=True, init=False, repr=False)
class ScanEntry:
    """One path found by scan, with the stat taken while scanning.

    Made as `ScanEntry(path, kind, size=..., mtime_ns=..., inode=..., device=...)` and read
    by those names; its size, time and inode are kept as one int (`stat`): three ints a
    file were a tenth of what a million-file run held."""

    path: Path
    kind: FileKind
    stat: int  # size | (mtime_ns + 2**63) << 64 | inode << 128
    device: int  # (one int object per disk, shared: scan gives it so)
    ignore_reason: str | None  # set when kind is OTHER (or scan failed)
    error: str | None  # scan could not stat/read it

    def __init__(
        self,
        path: Path,
        kind: FileKind,
        size: int = _UNSET,  # type: ignore[assignment]
        mtime_ns: int = _UNSET,  # type: ignore[assignment]
        inode: int = _UNSET,  # type: ignore[assignment]
        device: int = 0,
        ignore_reason: str | None = None,
        error: str | None = None,
        stat: int | None = None,  # (as `replace` gives it: the parts given above win)
    ) -> None:
        if stat is None:
            stat = _BEFORE_1970 << 64
        if size is not _UNSET or mtime_ns is not _UNSET or inode is not _UNSET:
            size = stat & _M64 if size is _UNSET else size
            mtime_ns = ((stat >> 64) & _M64) - _BEFORE_1970 if mtime_ns is _UNSET else mtime_ns
            inode = stat >> 128 if inode is _UNSET else inode
            if not (0 <= size <= _M64 and inode >= 0 and -_BEFORE_1970 <= mtime_ns < _BEFORE_1970):
                raise ValueError(f"not a file's stat: {size=} {mtime_ns=} {inode=}")
            stat = size | (mtime_ns + _BEFORE_1970) << 64 | inode << 128
        set_ = object.__setattr__
        set_(self, "path", path)
        set_(self, "kind", kind)
        set_(self, "stat", stat)
        set_(self, "device", device)
        set_(self, "ignore_reason", ignore_reason)
        set_(self, "error", error)

    @property
    def size(self) -> int:
        return self.stat & _M64

    @property
    def mtime_ns(self) -> int:
        return ((self.stat >> 64) & _M64) - _BEFORE_1970

    @property
    def inode(self) -> int:
        return self.stat >> 128

    def __repr__(self) -> str:
        parts = [f"{self.path!r}", f"{self.kind}"]
        if self.kind is not FileKind.OTHER or self.size:
            parts.append(f"size={self.size}, mtime_ns={self.mtime_ns}, inode={self.inode}")
        if self.device:
            parts.append(f"device={self.device}")
        if self.ignore_reason is not None:
            parts.append(f"ignore_reason={self.ignore_reason!r}")
        if self.error is not None:
            parts.append(f"error={self.error!r}")
        return f"ScanEntry({', '.join(parts)})"


@dataclass(frozen=True, slots=True, init=False)
class Analysis:
    """A media file that was read: its hash and what its content says.

    Made as `Analysis(entry, hash, media, captured)` and read so. A media that is only
    its date and its camera's facts (no GPS, no Live Photo id: most cameras' files) is
    kept as those two (`info` the shared facts, `info_date`), and made when asked: its
    own object was 80 bytes of what a million-file run held. `facts`, `content_id` and
    `media_date` read it without making it."""

    entry: ScanEntry
    hash: str  # XXH3-128, 32 hex digits
    info: MediaInfo | MediaFacts  # the media, or its facts when it is only those and its date
    info_date: CaptureDate | None  # with facts in `info`: the media's date (else None)
    captured: CaptureDate | None  # after the fallbacks (file name, mtime); None if undated

    def __init__(
        self,
        entry: ScanEntry,
        hash: str,  # noqa: A002
        media: MediaInfo = _UNSET,  # type: ignore[assignment]
        captured: CaptureDate | None = None,
        info: MediaInfo | MediaFacts | None = None,  # (as `replace` gives them: `media` wins)
        info_date: CaptureDate | None = None,
    ) -> None:
        if media is not _UNSET:
            if (
                media.content_id is None
                and media.latitude is None
                and media.longitude is None
                and media.gps_offset is None
            ):
                info, info_date = media.facts, media.captured
            else:
                info, info_date = media, None
        elif info is None:
            raise TypeError("Analysis() needs its media")
        set_ = object.__setattr__
        set_(self, "entry", entry)
        set_(self, "hash", hash)
        set_(self, "info", info)
        set_(self, "info_date", info_date)
        set_(self, "captured", captured)

    @property
    def media(self) -> MediaInfo:
        info = self.info
        if type(info) is MediaFacts:
            return MediaInfo._of(self.info_date, info)
        return info  # type: ignore[return-value]

    @property
    def facts(self) -> MediaFacts:
        info = self.info
        return info if type(info) is MediaFacts else info.facts  # type: ignore[return-value,union-attr]

    @property
    def content_id(self) -> str | None:
        info = self.info
        return None if type(info) is MediaFacts else info.content_id  # type: ignore[union-attr]

    @property
    def media_date(self) -> CaptureDate | None:
        """The date the media itself says (before the fallbacks): `media.captured`."""
        info = self.info
        return self.info_date if type(info) is MediaFacts else info.captured  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class AnalysisFailure:
    """A media file that could not be read or understood; a person-readable reason."""

    entry: ScanEntry
    error: str
    hash: str | None = None
    media: MediaInfo | None = None
    transient: bool = False  # a read error, not the content: try again next run
    no_content: bool = False  # empty, or all zero bytes: nothing to keep (ignored, not an error)


class RecoveryStep(Enum):
    """What a transfer a killed run left half-way needs, judged from the disk."""

    FINISH_MOVE = "finish-move"  # the verified copy is in place: remove the source
    RECORD = "record"  # the transfer happened: only the catalog must learn it
    UNDONE = "undone"  # it had not happened: the source is where it was
    ABANDON = "abandon"  # the destination holds another file: left alone
    MISSING = "missing"  # source and destination are both gone (moved by hand?)


@dataclass(frozen=True, slots=True)
class Recovery:
    """The journal entry a recovery decision settles."""

    journal_id: int
    run_id: str
    step: RecoveryStep
    action: Action  # what the killed run was doing: move or copy


class Why(Enum):
    """The rule behind a decision (the report renders it, with its facts, as `reason`)."""

    NEW = "new"  # a new file, dated by `date`
    NO_DATE = "no-date"  # no date anywhere (--no-mtime): filed under undated/
    MTIME = "mtime"  # dated by its modification time
    SIDECAR = "sidecar"  # travels with `other`
    SIDECAR_ALONE = "sidecar-alone"  # no media file beside it
    SIDECAR_LEFT = "sidecar-left"  # its media `other` is not imported (`detail`: its action)
    SIDECAR_JOINS = "sidecar-joins"  # joins `place`, its photo `other` already in the library
    SIDECAR_THERE = "sidecar-there"  # the same sidecar is already beside it, at `place`
    SIDECAR_CLASH = "sidecar-clash"  # `place` already has a different sidecar of this kind
    SIDECAR_NAME_TAKEN = "sidecar-name-taken"  # another sidecar of `other` takes its name
    NO_PHOTO = "no-photo"  # its photo was not found
    DAMAGED = "damaged"  # the content is damaged (`detail`)
    UNREADABLE = "unreadable"  # could not be read or understood (`detail`)
    IGNORED = "ignored"  # not imported by scan (`detail`: hidden, system, not media...)
    SCAN_ERROR = "scan-error"  # scan could not stat or list it (`detail`)
    IN_LIBRARY = "in-library"  # the same content is at `place`
    DELETED = "deleted"  # imported on `detail` (a date) as `place`, removed from the library since
    DUPLICATE = "duplicate"  # the same content as `other`, imported in this run
    ALREADY_DONE = "already-done"  # `place` holds this file: an earlier apply did it
    IN_LIBRARY_SINCE_PLAN = "in-library-since-plan"  # reached the library after the review
    FROM_PLAN = "from-plan"  # a reviewed plan's row (`detail`: its reason as reviewed)
    NOT_APPLIED = "not-applied"  # a plan row that is not a planned transfer (`detail`)
    LISTED_AGAIN = "listed-again"  # the plan lists this source again
    SAME_IN_PLAN = "same-in-plan"  # the plan imports the same content from `other`
    LEADER_LEFT = "leader-left"  # travels with `other`, which the run leaves alone (`detail`)
    REFUSED = "refused"  # a check refused it (`detail`): left in place
    RECOVERY = "recovery"  # a killed run's transfer (`detail`: what the disk showed)
    NOT_REACHED = "not-reached"  # the run was stopped before this file was looked at
    NO_CONTENT = "no-content"  # empty, or all zero bytes (`detail`)
    UNFINISHED_MOVE = "unfinished-move"  # an earlier move put it at `place`, kept the source
    UNDO = "undo"  # undoes run `detail`: back to `place` (restore), or a copy of `other`
    UNDO_DONE = "undo-done"  # run `detail`'s change is undone already (`place`)
    UNDO_CHANGED = "undo-changed"  # changed or gone since run `detail`: left alone
    UNDO_TAKEN = "undo-taken"  # `place`, where it goes back, is taken by another file
    UNDO_ORIGINAL = "undo-original"  # the original `other` is gone or changed: copy kept
    # a sidecar beside `other`, which the undo takes out of the library; put there by run
    # `detail` (not the one undone; "" when no run imported it): it stays
    UNDO_SIDECAR_STAYS = "undo-sidecar-stays"

    __hash__ = object.__hash__  # (as FileKind's)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision was made: the rule and its facts, rendered to text only at the edge
    (importing/report.py). Nothing reads a reason's text back."""

    why: Why
    other: Path | None = None  # the other file the rule names
    place: Path | None = None  # a library file the rule names
    # the date a NEW or MTIME rule names; planning leaves it out, as it is the date of the
    # decision's analysis (the report renders it from there)
    date: CaptureDate | None = None
    detail: str = ""
    leader: Path | None = None  # filed beside this file (a Live Photo still, a RAW's JPEG)
    live_video: bool = False  # ... as its Live Photo video (else as its pair)
    numbered: int | None = None  # the name was taken: numbered _N
    notes: tuple[str, ...] = ()  # unreadable metadata, imported all the same
    damaged: str = ""  # damaged but recognisable content, imported byte for byte all the same


_ALL_UNSET = (_UNSET,) * 4
_NO_RARE = (None,) * 4


@dataclass(frozen=True, slots=True, init=False)
class Decision:
    """What happens to one scanned file, and why. Planning makes them; execute obeys them.

    Made with `destination=` a path and read so; it is kept as its text
    (`destination_text`), a path made from it when asked: a path object a file was 88
    bytes of what a million-file run held. What most decisions do not have (a duplicate's
    original, an error, the media a file travels with, a recovery) is read by name from
    one tuple, `rare` (None when none is set)."""

    source: Path
    action: Action
    reason: Reason
    destination_text: str | None
    analysis: Analysis | None
    entry: ScanEntry | None
    rare: tuple[Path | None, str | None, Path | None, Recovery | None] | None

    def __init__(
        self,
        source: Path,
        action: Action,
        reason: Reason,
        destination: Path | None = _UNSET,  # type: ignore[assignment]
        duplicate_of: Path | None = _UNSET,  # type: ignore[assignment]
        analysis: Analysis | None = None,
        entry: ScanEntry | None = None,
        error: str | None = _UNSET,  # type: ignore[assignment]
        follows: Path | None = _UNSET,  # type: ignore[assignment]
        recovery: Recovery | None = _UNSET,  # type: ignore[assignment]
        destination_text: str | None = None,  # (as `replace` gives it: `destination` wins)
        rare: tuple | None = None,  # (as `replace` gives it: the four above win)
    ) -> None:
        if destination is not _UNSET:
            if destination is None:
                destination_text = None
            elif isinstance(destination, Path):  # a path's text is as pathlib writes it
                destination_text = os.fspath(destination)
            else:  # (text given: made a path's first, "a//b" -> "a/b")
                destination_text = os.fspath(Path(destination))
        # None of the four given: `rare` as it is (the very tuple `replace` passes on);
        # else those not given are kept from it
        if (duplicate_of, error, follows, recovery) != _ALL_UNSET:
            old = rare or _NO_RARE
            rare = (
                old[0] if duplicate_of is _UNSET else duplicate_of,
                old[1] if error is _UNSET else error,
                old[2] if follows is _UNSET else follows,
                old[3] if recovery is _UNSET else recovery,
            )
        if rare == _NO_RARE:
            rare = None
        set_ = object.__setattr__
        set_(self, "source", source)
        set_(self, "action", action)
        set_(self, "reason", reason)
        set_(self, "destination_text", destination_text)
        set_(self, "analysis", analysis)
        set_(self, "entry", entry)
        set_(self, "rare", rare)

    @property
    def destination(self) -> Path | None:
        text = self.destination_text
        return None if text is None else path_from_text(text)

    @property
    def duplicate_of(self) -> Path | None:
        rare = self.rare
        return None if rare is None else rare[0]

    @property
    def error(self) -> str | None:
        rare = self.rare
        return None if rare is None else rare[1]

    @property
    def follows(self) -> Path | None:
        """For a sidecar or a Live Photo part: the media it travels with."""
        rare = self.rare
        return None if rare is None else rare[2]

    @property
    def recovery(self) -> Recovery | None:
        """For Action.RECOVER: the journal entry it settles."""
        rare = self.rare
        return None if rare is None else rare[3]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What execute did with one Decision."""

    decision: Decision
    status: Status
    error: str | None = None
    in_library: bool = False  # the destination now holds the file (done, or failed after)

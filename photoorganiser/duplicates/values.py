"""The values of find-duplicates: candidates, file facts, reasons, groups, options, result.

Frozen dataclasses and enums only, shared by every stage (exact, similar), the keep
policy and the report. A reason is a value (`KeepReason`, `KeptCopy`, `SameFile`,
`SameContent`, `LooksLike`, `NotInLibrary`): the report renders it to text
(`report.reason_text`), nothing parses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto
from pathlib import Path
from typing import NamedTuple

from ..core import keeper
from ..core.parallel import default_workers
from ..core.values import CaptureDate

# Formats cameras do not write: a file in one of them is a conversion or a re-save.
REENCODED_FORMATS = frozenset({"PNG", "GIF", "BMP", "WEBP"})


class Kind(Enum):
    """What a report row is."""

    EXACT = "exact"  # same bytes
    SIMILAR = "similar"  # same picture, different bytes
    UNREADABLE = "unreadable"  # could not be read; not compared
    UNIQUE = "unique"  # --unique: a file of the inputs that the library lacks
    BLANK = "blank"  # --blanks: a near-uniform frame (lens cap, pocket shot, black, white)
    DARK = "dark"  # --dark: a very dark picture
    BLURRED = "blurred"  # --blurred: a very blurred picture
    FLAT = "flat"  # --similar: near-flat or tiny, so left out of the near-duplicate search


# The kinds of a picture judged on its own (no keeper): dedupe acts on each row alone.
POOR_KINDS = frozenset({Kind.BLANK, Kind.DARK, Kind.BLURRED})

# Defaults of the picture checks, measured on the real corpus (453 camera/phone files;
# duplicates/quality.py says how each is measured). Blank: the grey-level standard
# deviation of the 32x32 grey picture; the corpus's blank frames are all under 0.7 and
# its least varied real picture (a blue card with one word) is at 4.3. Dark: the mean
# grey level (0-255); the corpus's black frames with a line of text are at 2-9, its
# darkest night photo at 12.7. Blurred: the variance of the Laplacian of the 256x256
# grey picture; an out-of-focus shot is at 6.6, soft but sharp landscapes from 33 up.
BLANK_THRESHOLD = 3.0
DARK_THRESHOLD = 10.0
BLUR_THRESHOLD = 20.0


# --- candidates: what the stages pass on ------------------------------------------


class FileRef(NamedTuple):
    """One file on disk (one inode): `path`, plus any other hard-linked paths in `links`.
    `digest`: its whole-content XXH3-128 when already known (the library's catalog, for a
    file whose size and mtime still match it): the stages then do not read it. A named
    tuple of plain strings and ints: the stages make one per scanned file (a million for a
    million files), and a tuple costs a tenth of a frozen dataclass to make."""

    path: str
    size: int
    device: int = 0
    inode: int = 0
    links: tuple[str, ...] = ()
    digest: str | None = None
    mtime_ns: int = 0  # the scan's (hard links share it)


class CandidateGroup(NamedTuple):
    """Files that may still be identical. `final`: proven identical, later stages pass it on.
    A named tuple, as FileRef: every stage makes one per group it leaves (hundreds of
    thousands for a million files)."""

    key: tuple[object, ...]
    files: tuple[FileRef, ...]
    final: bool = False


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """A file that could not be read (or listed), and why."""

    path: Path
    error: str


def cannot_read(exc: OSError) -> str:
    """The error of a file the OS would not let us read."""
    return f"cannot read: {exc.strerror or exc}"


def not_read(path: str, why: str) -> ReadFailure:
    """A file whose reading process died on it (`parallel.pmap`'s `lost`)."""
    return ReadFailure(Path(path), why)


# --- what is known about one file -------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What the keep policy and the report need to know about one file."""

    path: Path
    size: int
    width: int | None = None
    height: int | None = None
    captured: CaptureDate | None = None
    make: str | None = None
    format: str | None = None
    in_library: bool = False  # under the library folder (--library, or an input that is one)

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    @property
    def is_original(self) -> bool:
        """A camera original: camera EXIF (a make) in a camera format, not a PNG/re-save."""
        return bool(self.make) and (self.format or "").upper() not in REENCODED_FORMATS


# --- reasons: why a file is kept, why another one is a duplicate -------------------


class KeepRule(Enum):
    """The near-duplicate keep policy's rules, in order: the first that tells two files
    apart decides. (Exact copies follow core/keeper.py: `KeptCopy`.)"""

    IN_LIBRARY = auto()
    PREFERRED_FOLDER = auto()
    LARGEST_RESOLUTION = auto()
    ORIGINAL_FORMAT = auto()  # a camera original over a re-encoded copy
    LARGEST_FILE = auto()
    OLDEST_DATE = auto()
    SHORTEST_PATH = auto()
    FIRST_BY_NAME = auto()
    ONLY_FILE = auto()  # nothing to tell apart


@dataclass(frozen=True, slots=True)
class KeepReason:
    """Why a file is the one to keep: the deciding rule and the fact it decided on."""

    rule: KeepRule
    folder: Path | None = None  # PREFERRED_FOLDER: the preferred folder it is in
    width: int | None = None  # LARGEST_RESOLUTION: its size in pixels
    height: int | None = None
    make: str | None = None  # ORIGINAL_FORMAT: the camera that wrote it
    captured: CaptureDate | None = None  # OLDEST_DATE: when it was taken


@dataclass(frozen=True, slots=True)
class KeptCopy:
    """Why an exact copy is the one to keep: the rule of core/keeper.py that decided, and
    the fact it decided on."""

    rule: keeper.KeepRule
    folder: Path | None = None  # PREFERRED_FOLDER: the --prefer folder it is in
    sidecars: int = 0  # HAS_SIDECARS: how many sidecars sit beside it
    mtime_ns: int | None = None  # OLDEST: its modification time


@dataclass(frozen=True, slots=True)
class NotInLibrary:
    """--unique: no file of the library has this file's content (`similar`: nor looks
    like it)."""

    library: Path
    similar: bool = False


@dataclass(frozen=True, slots=True)
class SameFile:
    """A hard link to the kept file itself: the same file, no space to reclaim."""

    kept: Path


@dataclass(frozen=True, slots=True)
class SameContent:
    """The same bytes as the kept file; `link_of`: a hard link to that other member;
    `in_library`: the kept file is the library's copy."""

    kept: Path
    link_of: Path | None = None
    in_library: bool = False


class Turn(Enum):
    """How a look-alike is turned relative to the kept picture (similar.VARIANTS order)."""

    SAME_ORIENTATION = 0
    MIRRORED = 1
    FLIPPED = 2
    ROTATED_180 = 3
    TRANSPOSED = 4
    ROTATED_90 = 5
    ROTATED_270 = 6
    TRANSVERSED = 7


@dataclass(frozen=True, slots=True)
class Burst:
    """Why two look-alikes seem to be separate shots: taken `seconds` apart, and either
    far apart or (`two_originals`) both camera originals."""

    seconds: float
    two_originals: bool = False


@dataclass(frozen=True, slots=True)
class LooksLike:
    """The same picture as the kept file, `turn`ed, `distance` bits apart (perceptual)."""

    kept: Path
    turn: Turn
    distance: int
    size: tuple[int, int] | None = None  # (w, h) of this file and the kept one,
    kept_size: tuple[int, int] | None = None  # when both are known and differ
    burst: Burst | None = None
    in_library: bool = False  # the kept file is the library's copy
    kept_over: KeepRule | None = None  # the rule that put the kept file before this one
    sizes: tuple[int, int] | None = None  # LARGEST_FILE: (this file's, the kept one's) bytes


@dataclass(frozen=True, slots=True)
class Measure:
    """One check of a picture on its own: `kind` BLANK (grey-level spread), DARK (mean
    grey level) or BLURRED (variance of the Laplacian); under `threshold` flags it."""

    kind: Kind
    value: float
    threshold: float


@dataclass(frozen=True, slots=True)
class PoorPicture:
    """A picture the checks flagged: every measure under its threshold, the row's kind
    first."""

    measures: tuple[Measure, ...]


@dataclass(frozen=True, slots=True)
class LeftOut:
    """--similar: a near-flat (`tiny` False) or tiny image, not compared with others."""

    width: int
    height: int
    tiny: bool = False


Reason = (
    KeepReason
    | KeptCopy
    | SameFile
    | SameContent
    | LooksLike
    | NotInLibrary
    | PoorPicture
    | LeftOut
)


# --- groups and the result --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """One path in a duplicate group, as one report row."""

    path: Path
    size: int
    keep: bool
    reason: Reason
    distance: int | None = None  # bits from the kept file's perceptual hash (similar groups)
    width: int | None = None
    height: int | None = None
    captured: CaptureDate | None = None
    hard_link: bool = False  # same inode as another member: no space to reclaim
    device: int = 0
    inode: int = 0
    hash: str | None = None  # whole-content XXH3-128 (hex): a report can be checked later
    phash: str | None = None  # the perceptual hash (hex), near-duplicate groups only


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """A group of duplicates as one `Member` per path (near duplicates; exact groups made
    without hashes)."""

    group_id: int
    kind: Kind
    members: tuple[Member, ...]

    @property
    def keep(self) -> Member:
        return next(m for m in self.members if m.keep)

    @property
    def reclaimable(self) -> int:
        """Bytes freed by deleting every member but the kept one (each inode counted once)."""
        keep = self.keep
        seen = {(keep.device, keep.inode)} if keep.inode else set()
        total = 0
        for m in self.members:
            if m.keep or m.hard_link or (m.inode and (m.device, m.inode) in seen):
                continue
            if m.inode:
                seen.add((m.device, m.inode))
            total += m.size
        return total


# One path of an `ExactGroup`: (path, device, inode, the path of its FileRef (another
# path when this one is a hard link of it), under a library).
CopyRow = tuple[str, int, int, str, bool]


@dataclass(frozen=True, slots=True)
class ExactGroup:
    """A group of identical files in compact form: what its members share once (size,
    content hash, the description of its first file, why the kept copy is kept) and a
    plain row per path (`CopyRow`), the kept copy first. `members` makes the `Member`
    values on demand (the near-duplicate search, --library); the report is written from
    the rows (report.write_result), so a million files need no Member, Path or reason
    value each. Its members are those `DuplicateGroup` would hold."""

    group_id: int
    size: int
    hash: str | None
    width: int | None
    height: int | None
    captured: CaptureDate | None
    kept: KeptCopy
    copies: tuple[CopyRow, ...]

    kind = Kind.EXACT  # (a class attribute: not a field)

    def reasons(self) -> list[SameFile | SameContent | KeptCopy]:
        """Each copy's reason, as `Member.reason`."""
        keep_path, _dev, _ino, keep_ref, keep_lib = self.copies[0]
        kept = Path(keep_path)
        plain: dict[bool, SameContent] = {}  # the usual reason, one value per group
        out: list[SameFile | SameContent | KeptCopy] = [self.kept]
        for path, _device, _inode, ref, in_library in self.copies[1:]:
            from_library = keep_lib and not in_library
            if ref == keep_ref:
                out.append(SameFile(kept))
            elif path != ref:
                out.append(SameContent(kept, link_of=Path(ref), in_library=from_library))
            else:
                reason = plain.get(from_library)
                if reason is None:
                    reason = plain[from_library] = SameContent(kept, in_library=from_library)
                out.append(reason)
        return out

    def hard_links(self) -> list[bool]:
        """Each copy's `Member.hard_link`: a hard link to the kept file, or to another
        member."""
        keep_ref = self.copies[0][3]
        return [path != ref or (i > 0 and ref == keep_ref)
                for i, (path, _d, _i, ref, _l) in enumerate(self.copies)]  # fmt: skip

    @property
    def members(self) -> tuple[Member, ...]:
        links = self.hard_links()
        return tuple(self._member(i, reason, links[i]) for i, reason in enumerate(self.reasons()))

    @property
    def keep(self) -> Member:
        path, _device, _inode, ref, _lib = self.copies[0]
        return self._member(0, self.kept, path != ref)

    def _member(self, i: int, reason: SameFile | SameContent | KeptCopy, link: bool) -> Member:
        path, device, inode, _ref, _lib = self.copies[i]
        return Member(
            Path(path), self.size, keep=i == 0, reason=reason, distance=0, width=self.width,
            height=self.height, captured=self.captured, hard_link=link, device=device,
            inode=inode, hash=self.hash,
        )  # fmt: skip

    @property
    def reclaimable(self) -> int:
        """`DuplicateGroup.reclaimable`, from the rows."""
        _p, device, inode, _r, _l = self.copies[0]
        seen = {(device, inode)} if inode else set()
        total = 0
        for (_path, device, inode, _ref, _lib), link in zip(
            self.copies[1:], self.hard_links()[1:], strict=True
        ):
            if link or (inode and (device, inode) in seen):
                continue
            if inode:
                seen.add((device, inode))
            total += self.size
        return total


Group = DuplicateGroup | ExactGroup


@dataclass(frozen=True, slots=True)
class Flagged:
    """A report row about one picture on its own (group 0): a poor picture (blank, dark,
    blurred: keep no) or a flat image left out of the near-duplicate search (keep yes)."""

    kind: Kind
    member: Member


@dataclass(frozen=True, slots=True)
class FindOptions:
    """What find-duplicates is asked to do (the command line's options)."""

    inputs: tuple[Path, ...]
    similar: bool = False
    hash_size: int = 8
    threshold: int | None = None  # bits; None: the default for hash_size (similar.py)
    include_empty: bool = False
    include_bursts: bool = False
    prefer: tuple[Path, ...] = ()
    workers: int = field(default_factory=default_workers)
    show_progress: bool = True  # progress bars and stage lines on the terminal
    # The library: its files take part (read-only), its copy is always the one kept, and
    # the inputs' files are reported against it.
    library: Path | None = None
    unique: bool = False  # report the inputs' files the library lacks, not the groups
    blanks: bool = False  # report near-uniform frames (quality.py)
    dark: bool = False  # report very dark pictures
    blurred: bool = False  # report very blurred pictures
    blank_threshold: float = BLANK_THRESHOLD
    dark_threshold: float = DARK_THRESHOLD
    blur_threshold: float = BLUR_THRESHOLD

    @property
    def checks_pictures(self) -> bool:
        return self.blanks or self.dark or self.blurred


@dataclass(frozen=True, slots=True)
class StageCount:
    """The candidates left after a stage."""

    stage: str
    files: int
    groups: int


@dataclass(frozen=True, slots=True)
class FindResult:
    """What find-duplicates found: the groups, the files it could not read, the counts."""

    groups: tuple[Group, ...]  # exact groups in compact form (ExactGroup)
    failures: tuple[ReadFailure, ...]
    files_scanned: int
    stages: tuple[StageCount, ...] = ()
    library: Path | None = None  # --library
    inputs: tuple[Path, ...] = ()  # the inputs besides the library
    input_files: int = 0  # with --library: media files of the inputs (outside the library)
    in_library: int = 0  # with --library: how many of them the library holds
    unique_report: bool = False  # --unique: the report lists `unique`, not the groups
    unique: tuple[Member, ...] = ()  # with --unique: the inputs' files the library lacks
    unchecked: int = 0  # with --library: input files that could not be read (not compared)
    pictures: tuple[Flagged, ...] = ()  # blank/dark/blurred pictures, flat images left out

    @property
    def reclaimable(self) -> int:
        return sum(g.reclaimable for g in self.groups)

    @property
    def not_in_library(self) -> int:
        """With --library: the inputs' files that were read and that the library lacks."""
        return self.input_files - self.in_library - self.unchecked

"""find-duplicates: the exact pipeline, duplicate groups and the keep suggestion.

Exact duplicates are found the way fclones/jdupes/rmlint do it: files are grouped
by size, then by an XXH3-128 of their head and tail, then by the XXH3-128 of their
whole content, so a file is only read when another file could still match it. Each
stage has the same signature (candidate groups in, candidate groups out) and logs how
many candidates remain. Hard links to one inode are one file. Nothing on disk changes.

Near duplicates (`FindOptions.similar`) come from `similar.py`; both kinds end up as
`DuplicateGroup`s whose members name the one file to keep and why.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from pathlib import Path

from ..core.hashing import SAMPLE_SIZE, hash_file, hash_sample
from ..core.parallel import default_workers, pmap, tmap
from ..core.progress import Progress
from ..core.values import CaptureDate, FileKind, ScanEntry
from ..media.scan import scan

log = logging.getLogger(__name__)

MEDIA_KINDS = frozenset({FileKind.IMAGE, FileKind.RAW, FileKind.VIDEO})
# Below these totals a process pool costs more than it saves: starting it takes
# ~0.3 s (more on a busy machine), while one process hashes ~1 GB/s of cached data.
IN_PROCESS_DESCRIBE = 5000  # files to describe (headers only) before using the pool
# Head and tail bytes hashed by the sample stage. Measured (warm cache, 20k files):
# 64 KiB beats 4 KiB (0.96 s vs 1.21 s for all stages): files up to 128 KiB are then
# settled by one read, and fewer files need the second, full read.
SAMPLE_BYTES = SAMPLE_SIZE
BATCH_FILES = 256  # files per pool task (small files)
BATCH_BYTES = 256 << 20  # bytes per pool task (full hashes)
# Formats cameras do not write: a file in one of them is a conversion or a re-save.
REENCODED_FORMATS = frozenset({"PNG", "GIF", "BMP", "WEBP"})


class Kind(Enum):
    """What a report row is."""

    EXACT = "exact"  # same bytes
    SIMILAR = "similar"  # same picture, different bytes
    UNREADABLE = "unreadable"  # could not be read; not compared


@dataclass(frozen=True, slots=True)
class FileRef:
    """One file on disk (one inode): `path`, plus any other hard-linked paths in `links`."""

    path: Path
    size: int
    device: int = 0
    inode: int = 0
    links: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class CandidateGroup:
    """Files that may still be identical. `final`: proven identical, later stages pass it on."""

    key: tuple[object, ...]
    files: tuple[FileRef, ...]
    final: bool = False


@dataclass(frozen=True, slots=True)
class ReadFailure:
    path: Path
    error: str


@dataclass(frozen=True, slots=True)
class HashResult:
    """A pool worker's answer for one file: its digest, or why it could not be read."""

    path: str
    digest: str | None
    error: str | None = None


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

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    @property
    def is_original(self) -> bool:
        """A camera original: camera EXIF (a make) in a camera format, not a PNG/re-save."""
        return bool(self.make) and (self.format or "").upper() not in REENCODED_FORMATS


@dataclass(frozen=True, slots=True)
class Member:
    """One path in a duplicate group, as one report row."""

    path: Path
    size: int
    keep: bool
    reason: str
    distance: int | None = None  # bits from the kept file's perceptual hash (similar groups)
    width: int | None = None
    height: int | None = None
    captured: CaptureDate | None = None
    hard_link: bool = False  # same inode as another member: no space to reclaim
    device: int = 0
    inode: int = 0


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
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


@dataclass(frozen=True, slots=True)
class FindOptions:
    inputs: tuple[Path, ...]
    similar: bool = False
    hash_size: int = 8
    threshold: int | None = None  # bits; None: the default for hash_size (similar.py)
    include_empty: bool = False
    include_bursts: bool = False
    prefer: tuple[Path, ...] = ()
    workers: int = field(default_factory=default_workers)
    show_progress: bool = True  # progress bars and stage lines on the terminal


@dataclass(frozen=True, slots=True)
class StageCount:
    stage: str
    files: int
    groups: int


@dataclass(frozen=True, slots=True)
class FindResult:
    groups: tuple[DuplicateGroup, ...]
    failures: tuple[ReadFailure, ...]
    files_scanned: int
    stages: tuple[StageCount, ...] = ()

    @property
    def reclaimable(self) -> int:
        return sum(g.reclaimable for g in self.groups)


# --- the run context shared by the stages ------------------------------------------


class StageContext:
    """What every stage gets besides its groups: the pool size, progress, failures."""

    def __init__(self, workers: int = 1, show_progress: bool = False) -> None:
        self.workers = max(1, workers)
        self.show_progress = show_progress
        self.failures: list[ReadFailure] = []
        self.counts: list[StageCount] = []

    def note(self, message: str) -> None:
        log.info(message)
        if self.show_progress and not log.isEnabledFor(logging.INFO):  # else logging shows it
            print(message, file=sys.stderr)

    def record(self, stage: str, groups: Sequence[CandidateGroup]) -> None:
        files = sum(len(g.files) for g in groups)
        self.counts.append(StageCount(stage, files, len(groups)))
        self.note(f"{stage:>10}: {files} candidate files in {len(groups)} groups")


Stage = Callable[[list[CandidateGroup], StageContext], list[CandidateGroup]]


def _regroup(
    key: tuple[object, ...], buckets: dict[object, list[FileRef]], final: bool
) -> Iterable[CandidateGroup]:
    for sub, files in buckets.items():
        if len(files) > 1:
            yield CandidateGroup((*key, sub), tuple(files), final)
        elif files[0].links:  # hard links only: one file under several names
            yield CandidateGroup((*key, sub), tuple(files), True)


def by_size(groups: list[CandidateGroup], ctx: StageContext) -> list[CandidateGroup]:
    """Files of different sizes cannot be identical."""
    out: list[CandidateGroup] = []
    for group in groups:
        if group.final:
            out.append(group)
            continue
        buckets: dict[object, list[FileRef]] = defaultdict(list)
        for f in group.files:
            buckets[f.size].append(f)
        out.extend(_regroup(group.key, buckets, False))
    return out


def by_inode(groups: list[CandidateGroup], ctx: StageContext) -> list[CandidateGroup]:
    """Hard links to one inode are one file: merge them, so it is read once."""
    out: list[CandidateGroup] = []
    for group in groups:
        if group.final:
            out.append(group)
            continue
        inodes: dict[tuple[int, int], list[FileRef]] = defaultdict(list)
        for f in group.files:
            inodes[(f.device, f.inode) if f.inode else (id(f), 0)].append(f)
        merged = [
            fs[0]
            if len(fs) == 1
            else replace(fs[0], links=tuple(p for x in fs for p in (x.path, *x.links))[1:])
            for fs in inodes.values()
        ]
        empty = group.files[0].size == 0  # all empty files are equal: nothing to read
        if len(merged) > 1:
            out.append(CandidateGroup(group.key, tuple(merged), empty))
        elif merged[0].links:
            out.append(CandidateGroup(group.key, tuple(merged), True))
    return out


def _hash_stage(
    groups: list[CandidateGroup],
    ctx: StageContext,
    name: str,
    worker: Callable[[tuple[tuple[str, int], ...]], list[HashResult]],
    bytes_of: Callable[[FileRef], int],
    final_if: Callable[[FileRef], bool],
) -> list[CandidateGroup]:
    todo = [f for g in groups if not g.final for f in g.files]
    batches = _batches(todo, bytes_of)
    hashes: dict[str, str] = {}
    with Progress(name, len(todo), ctx.show_progress) as progress:
        for results in tmap(worker, batches, workers=ctx.workers, progress=progress, weight=len):
            for r in results:
                if r.digest is None:
                    ctx.failures.append(ReadFailure(Path(r.path), r.error or "cannot read"))
                else:
                    hashes[r.path] = r.digest
    out: list[CandidateGroup] = []
    for group in groups:
        if group.final:
            out.append(group)
            continue
        buckets: dict[object, list[FileRef]] = defaultdict(list)
        for f in group.files:
            digest = hashes.get(str(f.path))
            if digest is not None:
                buckets[digest].append(f)
        is_final = bool(group.files) and final_if(group.files[0])
        out.extend(_regroup(group.key, buckets, is_final))
    return out


def _batches(
    files: Sequence[FileRef], bytes_of: Callable[[FileRef], int]
) -> list[tuple[tuple[str, int], ...]]:
    batches: list[tuple[tuple[str, int], ...]] = []
    current: list[tuple[str, int]] = []
    size = 0
    for f in files:
        current.append((str(f.path), f.size))
        size += bytes_of(f)
        if len(current) >= BATCH_FILES or size >= BATCH_BYTES:
            batches.append(tuple(current))
            current, size = [], 0
    if current:
        batches.append(tuple(current))
    return batches


def _error_text(exc: OSError) -> str:
    return f"cannot read: {exc.strerror or exc}"


def sample_worker(batch: tuple[tuple[str, int], ...]) -> list[HashResult]:
    """Pool worker: head+tail hash of each (path, size); failures as values."""
    out: list[HashResult] = []
    for path, size in batch:
        try:
            out.append(HashResult(path, hash_sample(path, size, SAMPLE_BYTES)))
        except OSError as exc:
            out.append(HashResult(path, None, _error_text(exc)))
    return out


def full_worker(batch: tuple[tuple[str, int], ...]) -> list[HashResult]:
    """Pool worker: whole-content XXH3-128 of each (path, size); failures as values."""
    out: list[HashResult] = []
    for path, _size in batch:
        try:
            out.append(HashResult(path, hash_file(path)))
        except OSError as exc:
            out.append(HashResult(path, None, _error_text(exc)))
    return out


def _sample_bytes(f: FileRef) -> int:
    return min(f.size, 2 * SAMPLE_BYTES)


def _covers_whole_file(f: FileRef) -> bool:
    return f.size <= 2 * SAMPLE_BYTES  # the sample hash already is the whole-content hash


def by_sample(groups: list[CandidateGroup], ctx: StageContext) -> list[CandidateGroup]:
    """Head+tail hash: most same-size files differ in their first or last 64 KiB."""
    return _hash_stage(groups, ctx, "sample", sample_worker, _sample_bytes, _covers_whole_file)


def by_content(groups: list[CandidateGroup], ctx: StageContext) -> list[CandidateGroup]:
    """Whole-content XXH3-128 of the files that still match."""
    return _hash_stage(groups, ctx, "content", full_worker, lambda f: f.size, lambda f: True)


EXACT_STAGES: tuple[tuple[str, Stage], ...] = (
    ("size", by_size),
    ("inode", by_inode),
    ("sample", by_sample),
    ("content", by_content),
)


def exact_groups(
    files: Sequence[FileRef], ctx: StageContext, include_empty: bool = False
) -> list[CandidateGroup]:
    """Run the exact stages over `files`; every returned group holds identical files."""
    if not include_empty:
        files = [f for f in files if f.size > 0]
    groups = [CandidateGroup(("all",), tuple(files))]
    ctx.record("scanned", groups)
    for name, stage in EXACT_STAGES:
        groups = stage(groups, ctx)
        ctx.record(name, groups)
    return groups


# --- scanning ---------------------------------------------------------------------


def scan_inputs(inputs: Sequence[Path]) -> tuple[list[ScanEntry], list[ReadFailure]]:
    """Media files under `inputs` (symlinks not followed), and what could not be listed."""
    entries: list[ScanEntry] = []
    failures: list[ReadFailure] = []
    for entry in scan(inputs):
        if entry.error is not None:
            failures.append(ReadFailure(entry.path, entry.error))
        elif entry.kind in MEDIA_KINDS:
            entries.append(entry)
    return entries, failures


def file_refs(entries: Iterable[ScanEntry]) -> list[FileRef]:
    return [FileRef(e.path, e.size, e.device, e.inode) for e in entries]


# --- describing files and choosing the one to keep ---------------------------------


def describe_worker(path: str) -> FileInfo | ReadFailure:
    """Pool worker: pixel size, capture date, camera make and format of one file."""
    p = Path(path)
    try:
        size = os.stat(p, follow_symlinks=False).st_size
    except OSError as exc:
        return ReadFailure(p, _error_text(exc))
    info = FileInfo(p, size)
    try:
        from ..media.metadata import read_media  # written concurrently; may not exist yet
    except Exception:  # no metadata reader: Pillow tells pixels, camera and date
        return _pillow_describe(info)
    try:
        from ..media.timezones import resolve_timezone

        media = read_media(p, None, resolve_timezone(None))
    except Exception as exc:  # not media it knows (or damaged): an unknown date, no sizes
        log.debug("read_media(%s) failed: %s", p, exc)
        return info
    info = replace(
        info,
        width=media.width,
        height=media.height,
        captured=media.captured,
        make=media.make,
        format=media.format,
    )
    if info.width is None or info.format is None:
        info = _pillow_describe(info)
    return info


def _pillow_describe(info: FileInfo) -> FileInfo:
    try:
        from PIL import Image

        _register_heif()
        with Image.open(info.path) as img:
            width, height = display_size(img)
            exif = img.getexif()
            make = exif.get(0x010F)
            make = make.strip("\0 ").strip() if isinstance(make, str) else None
            captured = info.captured
            if captured is None:
                captured = _exif_date(exif)
            return replace(
                info,
                width=info.width or width,
                height=info.height or height,
                make=info.make or make or None,
                format=info.format or img.format,
                captured=captured,
            )
    except Exception as exc:  # not an image Pillow knows: sizes stay unknown
        log.debug("Pillow cannot describe %s: %s", info.path, exc)
        return info


def _exif_date(exif) -> CaptureDate | None:
    from ..core.values import DateSource

    try:
        text = exif.get_ifd(0x8769).get(0x9003) or None
        if not text:
            return None
        return CaptureDate(
            datetime.strptime(text.strip("\0 "), "%Y:%m:%d %H:%M:%S"),
            DateSource.EXIF_DATETIME_ORIGINAL,
        )
    except Exception:
        return None


def display_size(img) -> tuple[int, int]:
    """Width and height as shown, i.e. after the EXIF orientation is applied."""
    width, height = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    if orientation in (5, 6, 7, 8):
        return height, width
    return width, height


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except Exception:  # pragma: no cover - pillow-heif missing
            pass
        _heif_registered = True


def describe(paths: Sequence[Path], ctx: StageContext) -> dict[Path, FileInfo]:
    """FileInfo for every path (failures go to ctx.failures)."""
    infos: dict[Path, FileInfo] = {}
    with Progress("describe", len(paths), ctx.show_progress) as progress:
        workers = ctx.workers if len(paths) >= IN_PROCESS_DESCRIBE else 1
        for result in pmap(
            describe_worker, [str(p) for p in paths], workers=workers, progress=progress
        ):
            if isinstance(result, ReadFailure):
                ctx.failures.append(result)
            else:
                infos[result.path] = result
    return infos


KEEP_REASONS = (
    "in preferred folder",
    "highest resolution",
    "camera original over a re-encoded copy",
    "largest file",
    "oldest capture date",
    "shortest path",
    "first by name",
)


def keep_key(info: FileInfo, prefer: Sequence[Path] = ()) -> tuple[object, ...]:
    """Sort key of the keep policy: the smallest key is the file to keep."""
    rank = len(prefer)
    for i, folder in enumerate(prefer):
        if info.path == folder or folder in info.path.parents:
            rank = i
            break
    when = info.captured.wall.replace(tzinfo=None) if info.captured else datetime.max
    return (
        rank,
        -info.pixels,
        not info.is_original,
        -info.size,
        when,
        len(str(info.path)),
        str(info.path),
    )


def choose_keep(infos: Sequence[FileInfo], prefer: Sequence[Path] = ()) -> tuple[FileInfo, str]:
    """The file to keep among `infos`, and why (the first rule that told it apart)."""
    prefer = [Path(os.path.abspath(p)) for p in prefer]
    ranked = sorted(infos, key=lambda i: keep_key(i, prefer))
    best = ranked[0]
    if len(ranked) == 1:
        return best, "only file"
    a, b = keep_key(best, prefer), keep_key(ranked[1], prefer)
    rule = next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), 6)
    reason = KEEP_REASONS[rule]
    if rule == 0:
        reason += f" {prefer[a[0]]}"
    elif rule == 1:
        reason += f" ({best.width}x{best.height})"
    elif rule == 2:
        reason += f" (camera {best.make})"
    elif rule == 4 and best.captured is not None:
        reason += f" ({best.captured.isoformat()})"
    return best, f"keep: {reason}"


# --- the whole run ----------------------------------------------------------------


def find_duplicates(options: FindOptions) -> FindResult:
    """Scan `options.inputs` and report exact (and, with `similar`, near) duplicates."""
    ctx = StageContext(options.workers, options.show_progress)
    entries, failures = scan_inputs(options.inputs)
    ctx.failures.extend(failures)
    refs = file_refs(entries)
    exact = exact_groups(refs, ctx, options.include_empty)
    # Identical bytes say the same things (pixels, date, camera): describe one per group.
    described = describe([g.files[0].path for g in exact], ctx)
    infos: dict[Path, FileInfo] = {}
    for g in exact:
        info = described.get(g.files[0].path)
        if info is not None:
            for f in g.files:
                for p in (f.path, *f.links):
                    infos[p] = replace(info, path=p, size=f.size)
    groups: list[DuplicateGroup] = []
    for cg in sorted(exact, key=lambda g: str(g.files[0].path)):
        group = _exact_group(len(groups) + 1, cg, infos, options.prefer)
        if group is not None:
            groups.append(group)
    if options.similar:
        from .similar import SimilarOptions, similar_groups

        shadowed = {m.path for g in groups for m in g.members if not m.keep}
        candidates = [
            e for e in entries if e.kind is FileKind.IMAGE and e.size > 0 and e.path not in shadowed
        ]
        sim_options = SimilarOptions(
            hash_size=options.hash_size,
            threshold=options.threshold,
            include_bursts=options.include_bursts,
            prefer=options.prefer,
        )
        groups.extend(similar_groups(candidates, sim_options, ctx, first_id=len(groups) + 1))
    failures = sorted({f.path: f for f in ctx.failures}.values(), key=lambda f: str(f.path))
    return FindResult(
        tuple(groups),
        tuple(failures),
        len(entries),
        tuple(ctx.counts),
    )


def _exact_group(
    group_id: int, cg: CandidateGroup, infos: dict[Path, FileInfo], prefer: Sequence[Path]
) -> DuplicateGroup | None:
    owners: dict[Path, FileRef] = {}
    for f in cg.files:
        for p in (f.path, *f.links):
            owners[p] = f
    known = [infos[p] for p in owners if p in infos]
    if len(known) < 2:
        return None
    keep, why = choose_keep(known, prefer)
    keep_ref = owners[keep.path]
    members: list[Member] = []
    for info in sorted(known, key=lambda i: (i.path != keep.path, str(i.path))):
        ref = owners[info.path]
        same_inode = ref is keep_ref
        if info.path == keep.path:
            reason = why
        elif same_inode:
            reason = f"hard link to {keep.path}: the same file, no space to reclaim"
        elif info.path != ref.path and ref.path in infos:
            reason = f"hard link to {ref.path}; same content as {keep.path}"
        else:
            reason = f"same content as {keep.path}"
        members.append(
            Member(
                info.path,
                info.size,
                keep=info.path == keep.path,
                reason=reason,
                distance=0,
                width=info.width,
                height=info.height,
                captured=info.captured,
                hard_link=(same_inode and info.path != keep.path) or info.path != ref.path,
                device=ref.device,
                inode=ref.inode,
            )
        )
    return DuplicateGroup(group_id, Kind.EXACT, tuple(members))

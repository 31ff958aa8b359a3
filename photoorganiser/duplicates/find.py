"""find-duplicates, the run: scan, the exact stages, describe, keep, and the look-alikes.

`find_duplicates(options)` reads as its list of steps: the media files under the
inputs (and the library, with `options.library`) become one candidate group, the
exact stages (`exact.py`) narrow it down to groups of identical files, one file of
each is described (`describe.py`), the keep policy (`keep.py`, core/keeper.py) names
the file to keep, and with `options.similar` the remaining images are searched for
near duplicates (`similar.py`). With a library, the inputs' files are then counted as
in it or not (`--unique`). Nothing on disk changes: the library's catalog is only read,
but for the perceptual hashes `--similar` keeps there (phashcache.py).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from operator import attrgetter
from pathlib import Path
from stat import S_ISREG

from ..core import keeper
from ..core.parallel import tmap
from ..core.progress import Progress
from ..core.textsafe import text_path
from ..core.values import FileKind, ScanEntry
from ..library.lock import STATE_DIR
from ..media.scan import SYSTEM_FOLDERS, classify, normalise_inputs
from .describe import describe_bytes, describe_files
from .exact import WHOLE_BYTES, exact_groups, full_worker
from .keep import CompactCopy, choose_exact_index
from .stage import StageContext
from .values import (
    CandidateGroup,
    CopyRow,
    DuplicateGroup,
    ExactGroup,
    FileInfo,
    FileRef,
    FindOptions,
    FindResult,
    Flagged,
    Group,
    KeptCopy,
    Kind,
    LeftOut,
    Member,
    NotInLibrary,
    ReadFailure,
)

MEDIA_KINDS = frozenset({FileKind.IMAGE, FileKind.RAW, FileKind.VIDEO})


def find_duplicates(options: FindOptions) -> FindResult:
    """Scan `options.inputs` and report exact (and, with `similar`, near) duplicates;
    with `blanks`/`dark`/`blurred`, every image is also measured on its own (quality.py),
    and the images the near-duplicate search left out as flat are listed too."""
    ctx = StageContext(options.workers, options.show_progress)
    library = Path(os.path.realpath(options.library)) if options.library else None
    libraries = Libraries(library_roots(options.inputs, library))
    prefer = tuple(Path(os.path.realpath(p)) for p in options.prefer)
    with without_cycle_collector():
        rows, failures = scan_rows((*options.inputs, *([library] if library else [])))
        ctx.failures.extend(failures)
        media_rows = [r for r in rows if r[1] is not FileKind.SIDECAR]
        known = catalog_digests(libraries.roots, ctx)
        settle = ExactRows(CopyFacts(rows, libraries), prefer, ctx)
        ctx.meanwhile = settle  # the groups settled before the content stage: while it reads
        ctx.on_pair = settle.describe_bytes  # a group's first file, from the sample's bytes
        identical = exact_groups(file_refs(media_rows, known), ctx, options.include_empty)
        ctx.meanwhile = ctx.on_pair = None
        groups = settle.groups(identical)
    # The scan's entries as values, for the steps that look at every picture only.
    wanted = options.similar or options.checks_pictures or library is not None
    media = scan_entries(media_rows) if wanted else []
    if options.similar:
        groups.extend(look_alike_groups(media, groups, options, ctx, libraries, prefer, known))
    groups = with_content_hashes(groups, ctx)
    pictures = picture_rows(media, options, ctx)
    failures = sorted({f.path: f for f in ctx.failures}.values(), key=lambda f: str(f.path))
    result = FindResult(tuple(groups), tuple(failures), len(media_rows), tuple(ctx.counts))
    result = replace(result, pictures=tuple(pictures))
    if library is None:
        return result
    return against_library(result, media, library, libraries, options)


@contextmanager
def without_cycle_collector() -> Iterator[None]:
    """Python's cyclic garbage collector paused: the scan and the exact stages make plain
    tuples, lists and strings by the hundred thousand, and no cycles, which the collector
    would otherwise walk again and again (5-10% of the CPU time of bench_duplicates.py
    --files 20000, in noisy measurements). Memory is still freed as it is dropped
    (reference counts); the collector runs again after. What was made meanwhile and is
    still alive then goes straight to the collector's oldest generation (gc.freeze, then
    unfreeze: two list splices), unexamined: else the first allocation after would walk it
    all as one young generation (16 ms for the 20k-file tree, the rows, refs and groups
    still held); a later full collection examines it as usual. (Not when the program has
    frozen objects itself: unfreezing would undo that.)"""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()
        gc.enable()


# --- scanning ---------------------------------------------------------------------

# A file found by the scan, compact (a million of them for a million files):
# (path, kind, size, mtime_ns, device, inode), the stat taken while scanning.
ScanRow = tuple[str, FileKind, int, int, int, int]


def scan_rows(inputs: Sequence[Path]) -> tuple[list[ScanRow], list[ReadFailure]]:
    """The media files and sidecars under `inputs`, walked as media/scan.py's `scan`
    walks them (depth first in name order; symbolic links, hidden and system folders not
    followed), as plain rows: no Path, no ScanEntry per file; and what could not be
    listed or stat'ed."""
    rows: list[ScanRow] = []
    failures: list[ReadFailure] = []
    for root in normalise_inputs(inputs):
        _walk_rows(str(root), rows, failures)
    return rows, failures


def _walk_rows(folder: str, rows: list[ScanRow], failures: list[ReadFailure]) -> None:
    try:
        with os.scandir(folder) as it:
            dir_entries = sorted(it, key=_NAME)
    except OSError as exc:
        failures.append(ReadFailure(Path(folder), f"cannot list folder: {exc.strerror or exc}"))
        return
    other, add = FileKind.OTHER, rows.append
    for de in dir_entries:
        try:
            if de.is_dir(follow_symlinks=False):  # (a link to a folder is not one)
                name = de.name
                if not name.startswith(".") and name.lower() not in SYSTEM_FOLDERS:
                    _walk_rows(de.path, rows, failures)
                continue
            if de.is_symlink():
                continue
            st = de.stat(follow_symlinks=False)
        except OSError as exc:
            failures.append(ReadFailure(Path(de.path), f"cannot stat: {exc.strerror or exc}"))
            continue
        if not S_ISREG(st.st_mode):  # what de.is_file(follow_symlinks=False) says, from it
            continue
        kind = classify(de.name)[0]
        if kind is not other:  # media and sidecars
            add((de.path, kind, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))


_NAME = attrgetter("name")


def scan_entries(rows: Iterable[ScanRow]) -> list[ScanEntry]:
    """The scan's rows as `ScanEntry` values (for the look-alike search, the picture
    checks and the library's comparison)."""
    return [
        ScanEntry(Path(p), kind, size=size, mtime_ns=mtime_ns, inode=inode, device=device)
        for p, kind, size, mtime_ns, device, inode in rows
    ]


def scan_inputs(inputs: Sequence[Path]) -> tuple[list[ScanEntry], list[ReadFailure]]:
    """Media files and sidecars under `inputs` (symlinks not followed) as `ScanEntry`
    values, and what could not be listed."""
    rows, failures = scan_rows(inputs)
    return scan_entries(rows), failures


def file_refs(
    rows: Iterable[ScanRow], known: Mapping[Path, tuple[int, int, str]] | None = None
) -> list[FileRef]:
    """The media files among `rows`; `known`: path -> (size, mtime_ns, hash) of the
    library's catalog, whose hash is used when the file's size and mtime still match."""
    sidecar, other = FileKind.SIDECAR, FileKind.OTHER  # (identity: an Enum's hash is slow)
    if not known:
        return [
            FileRef(p, size, device, inode, (), None, mtime_ns)
            for p, kind, size, mtime_ns, device, inode in rows
            if kind is not sidecar and kind is not other
        ]
    refs: list[FileRef] = []
    for p, kind, size, mtime_ns, device, inode in rows:
        if kind is sidecar or kind is other:
            continue
        row = known.get(Path(p))
        digest = row[2] if row is not None and row[:2] == (size, mtime_ns) else None
        refs.append(FileRef(p, size, device, inode, (), digest, mtime_ns))
    return refs


# --- the library: which files are its own, what its catalog knows -------------------


class Libraries:
    """The library folders of a run (real paths): --library, and any input that is a
    library or lies in one. A file under one of them is the library's copy."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = tuple(dict.fromkeys(roots))
        self._prefixes = tuple(str(r).rstrip(os.sep) + os.sep for r in self.roots)

    def __contains__(self, path: object) -> bool:
        return str(path).startswith(self._prefixes)

    def __bool__(self) -> bool:
        return bool(self.roots)


def library_roots(inputs: Sequence[Path], library: Path | None) -> list[Path]:
    """--library, and the library (a folder with a catalog) each input is or lies in."""
    roots = [library] if library is not None else []
    for folder in inputs:
        real = Path(os.path.realpath(folder))
        for candidate in (real, *real.parents):
            if _has_catalog(candidate):
                roots.append(candidate)
                break
    return roots


def _has_catalog(folder: Path) -> bool:
    """Whether `folder` holds a library's catalog. The catalog's module (and sqlite3) is
    imported only for a folder with a state folder: a plain `find-duplicates FOLDER`
    never needs it (~15 ms of its start-up)."""
    if not (folder / STATE_DIR).is_dir():
        return False
    from ..library.catalog import catalog_path

    return catalog_path(folder).is_file()


def catalog_digests(roots: Sequence[Path], ctx: StageContext) -> dict[Path, tuple[int, int, str]]:
    """path -> (size, mtime_ns, hash) of every file the libraries' catalogs list, read
    read-only (nothing is created, not even a lock). A catalog that cannot be read is
    left aside: its library's files are then read like any other."""
    known: dict[Path, tuple[int, int, str]] = {}
    if not roots:
        return known
    import sqlite3

    from ..library.catalog import Catalog, CatalogError, CatalogUnavailable
    from ..library.lock import UnsafeStateFile

    for root in roots:
        try:
            catalog = Catalog.open(root, readonly=True)
        except (CatalogError, CatalogUnavailable, UnsafeStateFile, OSError) as exc:
            ctx.note(f"{'catalog':>10}: not used, the library's files are read ({exc})")
            continue
        if catalog is None:
            continue
        try:
            rows = catalog.conn.execute("SELECT path, size, mtime_ns, hash FROM files").fetchall()
            damaged = _damaged(catalog.conn)
        except sqlite3.Error as exc:
            ctx.note(f"{'catalog':>10}: not used, the library's files are read ({exc})")
            continue
        finally:
            catalog.close()
        for rel, size, mtime_ns, digest in rows:
            if rel not in damaged:
                known[root / text_path(rel)] = (size, mtime_ns, digest)
        ctx.note(f"{'catalog':>10}: {len(rows)} content hashes of {root}", logging.DEBUG)
        if damaged:
            ctx.note(
                f"{'catalog':>10}: {len(damaged)} file(s) of {root} that the last verify found"
                " damaged or missing are read again, not taken at their catalog's word"
            )
    return known


def _damaged(conn) -> set[str]:
    """The catalog paths whose last verify found other bytes, nothing, or no way to read
    them: their catalog hash does not stand for what is on disk, even with the size and
    time unchanged (bit rot keeps both). None without verify's table (never verified)."""
    import sqlite3

    try:
        rows = conn.execute("SELECT path FROM verified WHERE result != 'ok'").fetchall()
    except sqlite3.OperationalError:
        return set()
    return {r[0] for r in rows}


class CopyFacts:
    """What the keeper policy knows of a copy (`keep.CompactCopy`): its mtime (the scan's),
    whether it is the library's, and how many sidecars sit beside it (the scan's sidecar
    files, named as core.keeper.sidecar_names says)."""

    def __init__(self, rows: Iterable[ScanRow], libraries: Libraries) -> None:
        self.libraries = libraries
        self._sidecars: set[tuple[str, str]] = set()
        for r in rows:
            if r[1] is FileKind.SIDECAR:
                folder, name = os.path.split(r[0])
                self._sidecars.add((folder, name.lower()))

    def copy(self, path: str, mtime_ns: int) -> CompactCopy:
        beside = 0
        if self._sidecars:
            folder, name = os.path.split(path)
            beside = sum((folder, n) in self._sidecars for n in keeper.sidecar_names(name))
        in_library = bool(self.libraries) and path in self.libraries
        return (path, mtime_ns, in_library, beside)


# --- exact groups: describe one file of each, keep one ------------------------------


def describe_identical(groups: Sequence[CandidateGroup], ctx: StageContext) -> dict[str, FileInfo]:
    """FileInfo of the first file of each group, by its path. Identical bytes say the same
    things (pixels, date, camera): one file per group is read, its facts stand for every
    path of the group (`ExactRows`)."""
    return describe_files([(g.files[0].path, g.files[0].size) for g in groups], ctx)


# An ExactGroup but its number: (size, hash, width, height, captured, kept, copies).
_Settled = tuple[int, str | None, int | None, int | None, object, KeptCopy, tuple[CopyRow, ...]]


class ExactRows:
    """One `ExactGroup` per group of identical files (ordered by first path, numbered
    from 1), in two goes: called with some groups (as `StageContext.meanwhile`: those
    settled before the content stage, while its reads run), it describes them and chooses
    their keepers; `groups` does the rest and numbers them all. A group whose first file
    could not be described, or with fewer than two paths, is left out. The copy kept is
    core/keeper.py's choice (keep.choose_exact_index), on what `copies` knows of each path.
    A first file whose bytes the sample stage had in hand (`describe_bytes`, as
    `StageContext.on_pair`) is described from them, not read again."""

    def __init__(self, copies: CopyFacts, prefer: Sequence[Path], ctx: StageContext) -> None:
        self.copies = copies
        self.prefer = prefer
        self.ctx = ctx
        self._settled: dict[str, _Settled | None] = {}  # by the group's first path
        self._described: dict[str, FileInfo] = {}  # by path, until its group is settled

    def describe_bytes(self, path: str, data: bytes) -> None:
        """Describe the file at `path` from `data`, all of its bytes."""
        self._described[path] = describe_bytes(path, data)

    def __call__(self, groups: Sequence[CandidateGroup]) -> None:
        todo = [g for g in groups if g.files[0].path not in self._settled]
        described = self._described
        infos = describe_identical([g for g in todo if g.files[0].path not in described], self.ctx)
        for cg in todo:
            info = described.pop(cg.files[0].path, None) or infos.get(cg.files[0].path)
            settled = None if info is None else _exact_group(cg, info, self.copies, self.prefer)
            self._settled[cg.files[0].path] = settled

    def groups(self, groups: Sequence[CandidateGroup]) -> list[Group]:
        self(groups)
        out: list[Group] = []
        for cg in sorted(groups, key=lambda g: g.files[0].path):
            settled = self._settled[cg.files[0].path]
            if settled is not None:
                out.append(ExactGroup(len(out) + 1, *settled))  # type: ignore[arg-type]
        return out


def _exact_group(
    cg: CandidateGroup, info: FileInfo, copies: CopyFacts, prefer: Sequence[Path]
) -> _Settled | None:
    """The group as an `ExactGroup` but its number: a row for each path of the group (each
    file's, then its hard links'), the copy kept first, then by path, described by `info`
    (the group's first file: the same bytes); None for fewer than two paths."""
    pairs = [(p, f) for f in cg.files for p in (f.path, *f.links)]
    if len(pairs) < 2:
        return None
    candidates = [copies.copy(p, f.mtime_ns) for p, f in pairs]
    at, why = choose_exact_index(candidates, prefer)
    order = sorted(range(len(pairs)), key=lambda i: (i != at, pairs[i][0]))
    rows = tuple(
        (pairs[i][0], pairs[i][1].device, pairs[i][1].inode, pairs[i][1].path, candidates[i][2])
        for i in order
    )
    digest = group_digest(cg)
    return (pairs[at][1].size, digest, info.width, info.height, info.captured, why, rows)


def group_digest(cg: CandidateGroup) -> str | None:
    """The content hash a group of identical files was proven by: the last key of a group
    that went through a hashing stage (the sample hash of a file the sample covers whole
    is its content hash); None for a group settled without reading (hard links, empty)."""
    # Keys grow ("all", size), then + the sample hash, then + the content hash.
    last = cg.key[-1] if len(cg.key) >= 3 else None
    if not (isinstance(last, str) and len(last) == 32):
        return None
    first = cg.files[0]
    if len(cg.key) >= 4 or first.digest == last or first.size <= WHOLE_BYTES:
        return last
    return None  # a sample hash only (a lone inode, told apart from others by its sample)


def with_content_hashes(groups: list[Group], ctx: StageContext) -> list[Group]:
    """Every member with its content hash, so that a report can be checked later: files
    whose group was settled without one (hard links of one inode, look-alikes) are read
    now, each inode once."""
    # A compact exact group was proven by its hash (all but hard links of one inode).
    groups = [DuplicateGroup(g.group_id, g.kind, g.members) if isinstance(g, ExactGroup)
              and g.hash is None else g for g in groups]  # fmt: skip
    todo: dict[tuple[int, int] | Path, Path] = {}
    for g in groups:
        if isinstance(g, ExactGroup):  # hashed: nothing to read
            continue
        for m in g.members:
            if m.hash is None:
                todo.setdefault((m.device, m.inode) if m.inode else m.path, m.path)
    if not todo:
        return groups
    paths = list(dict.fromkeys(todo.values()))
    batches = [tuple((str(p), 0) for p in paths[i : i + 64]) for i in range(0, len(paths), 64)]
    found: dict[str, str] = {}
    with Progress("hash", len(paths), ctx.show_progress) as progress:
        for results in tmap(
            full_worker, batches, workers=ctx.workers, progress=progress, weight=len
        ):
            for r in results:
                if r[1] is not None:
                    found[r[0]] = r[1]
                else:
                    ctx.failures.append(ReadFailure(Path(r[0]), r[2]))  # type: ignore[misc]
    out: list[Group] = []
    for g in groups:
        if isinstance(g, ExactGroup):
            out.append(g)
            continue
        members = []
        for m in g.members:
            if m.hash is None:
                source = todo[(m.device, m.inode) if m.inode else m.path]
                m = replace(m, hash=found.get(str(source)))
            members.append(m)
        out.append(replace(g, members=tuple(members)))
    return out


# --- near duplicates --------------------------------------------------------------


def look_alike_groups(
    entries: Sequence[ScanEntry],
    exact: Sequence[Group],
    options: FindOptions,
    ctx: StageContext,
    libraries: Libraries | None = None,
    prefer: Sequence[Path] | None = None,
    known: Mapping[Path, tuple[int, int, str]] | None = None,
) -> list[DuplicateGroup]:
    """Near-duplicate groups among the images not already shadowed by an exact copy,
    numbered after the `exact` groups. `known` (the catalogs' path -> (size, mtime_ns,
    hash)): the perceptual hashes of unchanged library files are the catalog's."""
    from .similar import SimilarOptions, similar_groups  # numpy: only when asked for

    shadowed = {m.path for g in exact for m in g.members if not m.keep}
    candidates = [
        e for e in entries if e.kind is FileKind.IMAGE and e.size > 0 and e.path not in shadowed
    ]
    sim_options = SimilarOptions(
        hash_size=options.hash_size,
        threshold=options.threshold,
        include_bursts=options.include_bursts,
        prefer=tuple(prefer if prefer is not None else options.prefer),
        library=libraries.roots if libraries else (),
    )
    contents: dict[Path, tuple[Path, str]] = {}
    if known and libraries:
        for e in candidates:
            row = known.get(e.path)
            if row is None or row[:2] != (e.size, e.mtime_ns):
                continue
            root = next((r for r in libraries.roots if e.path.is_relative_to(r)), None)
            if root is not None:
                contents[e.path] = (root, row[2])
    return similar_groups(candidates, sim_options, ctx, len(exact) + 1, contents)


# --- pictures judged on their own: blank, dark, blurred; flat ones left out ------------


def picture_rows(
    entries: Sequence[ScanEntry], options: FindOptions, ctx: StageContext
) -> list[Flagged]:
    """The poor pictures (--blanks, --dark, --blurred: keep no, with their content hash,
    which dedupe checks), then the images the near-duplicate search left out as
    near-flat or tiny that are not among them (keep yes: nothing to do, but said)."""
    poor: list[Flagged] = []
    if options.checks_pictures:
        from .quality import poor_pictures  # numpy: only when asked for

        found = poor_pictures([e for e in entries if e.kind is FileKind.IMAGE], options, ctx)
        hashed = with_content_hashes([DuplicateGroup(0, f.kind, (f.member,)) for f in found], ctx)
        poor = [Flagged(g.kind, g.members[0]) for g in hashed]
    if not ctx.flat:
        return poor
    from .similar import MIN_SIDE

    flagged = {f.member.path for f in poor}
    scanned = {e.path: e for e in entries}
    flat = []
    for path, width, height in sorted(ctx.flat):
        e = scanned.get(path)
        if path in flagged or e is None:
            continue
        why = LeftOut(width, height, tiny=min(width, height) < MIN_SIDE)
        member = Member(
            path, e.size, keep=True, reason=why, width=width, height=height,
            device=e.device, inode=e.inode,
        )  # fmt: skip
        flat.append(Flagged(Kind.FLAT, member))
    return poor + flat


# --- the inputs against the library (--library, --unique) -----------------------------


def against_library(
    result: FindResult,
    media: Sequence[ScanEntry],
    library: Path,
    libraries: Libraries,
    options: FindOptions,
) -> FindResult:
    """Count the inputs' files the library holds (a group kept by a library copy, or a
    copy of such a group's keeper); with `unique`, list the ones it lacks."""
    covered: set[Path] = set()
    for group in result.groups:  # exact groups first: a look-alike's keeper comes after
        if group.keep.path in libraries:
            covered.update(m.path for m in group.members)
    for group in result.groups:  # a copy of an input file that looks like a library one
        if group.kind is Kind.EXACT and group.keep.path in covered:
            covered.update(m.path for m in group.members)
    failed = {f.path for f in result.failures}
    outside = [
        e for e in media if e.path not in libraries and (e.size > 0 or options.include_empty)
    ]
    unchecked = sum(e.path in failed for e in outside)
    lacking = [e for e in outside if e.path not in covered and e.path not in failed]
    unique: tuple[Member, ...] = ()
    if options.unique:
        why = NotInLibrary(library, similar=options.similar)
        unique = tuple(
            Member(e.path, e.size, keep=True, reason=why, device=e.device, inode=e.inode)
            for e in sorted(lacking, key=lambda e: str(e.path))
        )
    inputs = tuple(Path(os.path.realpath(p)) for p in options.inputs)
    return replace(
        result,
        library=library,
        inputs=inputs,
        input_files=len(outside),
        in_library=len(outside) - len(lacking) - unchecked,
        unique_report=options.unique,
        unique=unique,
        unchecked=unchecked,
    )

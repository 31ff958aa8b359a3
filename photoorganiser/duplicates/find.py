"""find-duplicates, the run: scan, the exact stages, describe, keep, and the look-alikes.

`find_duplicates(options)` reads as its list of steps: the media files under the
inputs become one candidate group, the exact stages (`exact.py`) narrow it down to
groups of identical files, one file of each is described (`describe.py`), the keep
policy (`keep.py`) names the file to keep, and with `options.similar` the remaining
images are searched for near duplicates (`similar.py`). Nothing on disk changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from ..core.values import FileKind, ScanEntry
from ..media.scan import scan
from .describe import describe
from .exact import exact_groups
from .keep import choose_keep
from .stage import StageContext
from .values import (
    CandidateGroup,
    DuplicateGroup,
    FileInfo,
    FileRef,
    FindOptions,
    FindResult,
    KeepReason,
    Kind,
    Member,
    ReadFailure,
    SameContent,
    SameFile,
)

MEDIA_KINDS = frozenset({FileKind.IMAGE, FileKind.RAW, FileKind.VIDEO})


def find_duplicates(options: FindOptions) -> FindResult:
    """Scan `options.inputs` and report exact (and, with `similar`, near) duplicates."""
    ctx = StageContext(options.workers, options.show_progress)
    entries, failures = scan_inputs(options.inputs)
    ctx.failures.extend(failures)
    identical = exact_groups(file_refs(entries), ctx, options.include_empty)
    infos = describe_identical(identical, ctx)
    groups = exact_duplicate_groups(identical, infos, options.prefer)
    if options.similar:
        groups.extend(look_alike_groups(entries, groups, options, ctx))
    failures = sorted({f.path: f for f in ctx.failures}.values(), key=lambda f: str(f.path))
    return FindResult(tuple(groups), tuple(failures), len(entries), tuple(ctx.counts))


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


# --- exact groups: describe one file of each, keep one ------------------------------


def describe_identical(groups: Sequence[CandidateGroup], ctx: StageContext) -> dict[Path, FileInfo]:
    """FileInfo for every path in `groups`. Identical bytes say the same things (pixels,
    date, camera): one file per group is read, its facts given to every path."""
    described = describe([g.files[0].path for g in groups], ctx)
    infos: dict[Path, FileInfo] = {}
    for g in groups:
        info = described.get(g.files[0].path)
        if info is not None:
            for f in g.files:
                for p in (f.path, *f.links):
                    infos[p] = replace(info, path=p, size=f.size)
    return infos


def exact_duplicate_groups(
    groups: Sequence[CandidateGroup], infos: dict[Path, FileInfo], prefer: Sequence[Path]
) -> list[DuplicateGroup]:
    """One `DuplicateGroup` per group of identical files (ordered by first path), numbered
    from 1; groups with fewer than two described paths are left out."""
    out: list[DuplicateGroup] = []
    for cg in sorted(groups, key=lambda g: str(g.files[0].path)):
        group = _exact_group(len(out) + 1, cg, infos, prefer)
        if group is not None:
            out.append(group)
    return out


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
        reason: KeepReason | SameFile | SameContent
        if info.path == keep.path:
            reason = why
        elif same_inode:
            reason = SameFile(keep.path)
        elif info.path != ref.path and ref.path in infos:
            reason = SameContent(keep.path, link_of=ref.path)
        else:
            reason = SameContent(keep.path)
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


# --- near duplicates --------------------------------------------------------------


def look_alike_groups(
    entries: Sequence[ScanEntry],
    exact: Sequence[DuplicateGroup],
    options: FindOptions,
    ctx: StageContext,
) -> list[DuplicateGroup]:
    """Near-duplicate groups among the images not already shadowed by an exact copy,
    numbered after the `exact` groups."""
    from .similar import SimilarOptions, similar_groups  # numpy: only when asked for

    shadowed = {m.path for g in exact for m in g.members if not m.keep}
    candidates = [
        e for e in entries if e.kind is FileKind.IMAGE and e.size > 0 and e.path not in shadowed
    ]
    sim_options = SimilarOptions(
        hash_size=options.hash_size,
        threshold=options.threshold,
        include_bursts=options.include_bursts,
        prefer=options.prefer,
    )
    return similar_groups(candidates, sim_options, ctx, first_id=len(exact) + 1)

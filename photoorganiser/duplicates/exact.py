"""Exact duplicates: the stages by size, inode, head+tail sample and whole content.

Files are grouped the way fclones/jdupes/rmlint do it: by size, then by an XXH3-128 of
their head and tail, then by the XXH3-128 of their whole content, so a file is only
read when another file could still match it. Hard links to one inode are one file.
Each stage is a `stage.Stage`; the hashing ones spread their reads over the pool.

A file whose whole-content hash is already known (`FileRef.digest`: the library's
catalog) is not read for it: its digest stands for its content hash, and for its
sample hash too when the sample covers the whole file; a group of such files only is
settled by their digests alone.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from xxhash import xxh3_128

from ..core.hashing import SAMPLE_SIZE, hash_bytes, hash_file, open_regular
from ..core.parallel import tmap
from ..core.progress import Progress
from .stage import BATCH_FILES, Stage, StageContext, run_stages
from .values import CandidateGroup, FileRef, HashResult, ReadFailure, cannot_read

# Head and tail bytes hashed by the sample stage. Measured (warm cache, 20k files):
# 64 KiB beats 4 KiB (0.96 s vs 1.21 s for all stages): files up to 128 KiB are then
# settled by one read, and fewer files need the second, full read.
SAMPLE_BYTES = SAMPLE_SIZE
BATCH_BYTES = 256 << 20  # bytes per pool task (full hashes)


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


def by_sample(groups: list[CandidateGroup], ctx: StageContext) -> list[CandidateGroup]:
    """Head+tail hash: most same-size files differ in their first or last 64 KiB."""
    out: list[CandidateGroup] = []
    todo: list[CandidateGroup] = []
    for group in groups:
        if not group.final and all(f.digest is not None for f in group.files):
            buckets: dict[object, list[FileRef]] = defaultdict(list)
            for f in group.files:  # every content hash known: nothing to read
                buckets[f.digest].append(f)
            out.extend(_regroup(group.key, buckets, True))
        else:
            todo.append(group)
    known = _known_if_small
    out += _hash_stage(todo, ctx, "sample", sample_worker, _sample_bytes, _covers_whole_file, known)
    return out


def by_content(groups: list[CandidateGroup], ctx: StageContext) -> list[CandidateGroup]:
    """Whole-content XXH3-128 of the files that still match."""
    return _hash_stage(
        groups, ctx, "content", full_worker, lambda f: f.size, lambda f: True, lambda f: f.digest
    )


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
    return run_stages(groups, EXACT_STAGES, ctx)


# --- the hashing stages and their pool workers ------------------------------------


def _hash_stage(
    groups: list[CandidateGroup],
    ctx: StageContext,
    name: str,
    worker: Callable[[tuple[tuple[str, int], ...]], list[HashResult]],
    bytes_of: Callable[[FileRef], int],
    final_if: Callable[[FileRef], bool],
    known: Callable[[FileRef], str | None],
) -> list[CandidateGroup]:
    todo = [f for g in groups if not g.final for f in g.files if known(f) is None]
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
            digest = known(f) or hashes.get(str(f.path))
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


def sample_worker(batch: tuple[tuple[str, int], ...]) -> list[HashResult]:
    """Pool worker: head+tail hash of each (path, size); failures as values."""
    out: list[HashResult] = []
    for path, size in batch:
        try:
            out.append(HashResult(path, _sample_hash(path, size)))
        except OSError as exc:
            out.append(HashResult(path, None, cannot_read(exc)))
    return out


def _sample_hash(path: str, size: int) -> str:
    """`core.hashing.hash_sample(path, size, SAMPLE_BYTES)` (the same digest), in fewer
    system calls: the file opened by `open_regular` (a regular file only, links not
    followed), its head and tail read by `os.pread` straight from the descriptor (no file
    object, no seek). A file of up to two samples is read whole, up to size + 1 bytes
    (one that grew since the scan no longer matches its old peers)."""
    fd = open_regular(path)
    try:
        if size <= 2 * SAMPLE_BYTES:
            return hash_bytes(_pread_upto(fd, size + 1, 0))
        hasher = xxh3_128(_pread_upto(fd, SAMPLE_BYTES, 0))
        hasher.update(_pread_upto(fd, SAMPLE_BYTES, size - SAMPLE_BYTES))
        return hasher.hexdigest()
    finally:
        os.close(fd)


def _pread_upto(fd: int, count: int, offset: int) -> bytes:
    """`count` bytes at `offset`, fewer only at the end of the file."""
    data = os.pread(fd, count, offset)
    if len(data) == count or not data:
        return data
    parts = [data]
    got = len(data)
    while got < count:  # a short read before the end (network file systems)
        part = os.pread(fd, count - got, offset + got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def full_worker(batch: tuple[tuple[str, int], ...]) -> list[HashResult]:
    """Pool worker: whole-content XXH3-128 of each (path, size); failures as values."""
    out: list[HashResult] = []
    for path, _size in batch:
        try:
            out.append(HashResult(path, hash_file(path)))
        except OSError as exc:
            out.append(HashResult(path, None, cannot_read(exc)))
    return out


def _sample_bytes(f: FileRef) -> int:
    return min(f.size, 2 * SAMPLE_BYTES)


def _known_if_small(f: FileRef) -> str | None:
    """A known content hash is the sample hash too when the sample is the whole file."""
    return f.digest if _covers_whole_file(f) else None


def _covers_whole_file(f: FileRef) -> bool:
    return f.size <= 2 * SAMPLE_BYTES  # the sample hash already is the whole-content hash

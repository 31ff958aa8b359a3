"""Exact duplicates: the stages by size, inode, head+tail sample and whole content.

Files are grouped the way fclones/jdupes/rmlint do it: by size, then by an XXH3-128 of
their head and tail, then by the XXH3-128 of their whole content, so a file is only
read when another file could still match it. Hard links to one inode are one file.
Each stage is a `stage.Stage`. Files pass between stages as `FileRef` named tuples of
plain strings and ints; the hashing stages read in this thread, or in threads when
the reads are big (they release the GIL), while this thread runs `ctx.meanwhile`.

A file whose whole-content hash is already known (`FileRef.digest`: the library's
catalog) is not read for it: its digest stands for its content hash, and for its
sample hash too when the sample covers the whole file; a group of such files only is
settled by their digests alone.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from functools import partial
from pathlib import Path

from xxhash import xxh3_128

from ..core import signals
from ..core.hashing import (
    SAMPLE_SIZE,
    hash_bytes,
    hash_file,
    open_scanned,
)
from ..core.parallel import default_workers
from ..core.progress import Progress
from .stage import BATCH_FILES, Stage, StageContext, run_stages
from .values import CandidateGroup, FileRef, ReadFailure, cannot_read

# The sample stage reads a file of up to WHOLE_BYTES whole (settled by that one read: its
# sample hash is its content hash), and of a larger one its first and last SAMPLE_BYTES.
# Measured on bench/make_tree.py's 20k files (13,573 sharing a size, 7,633 of those over
# 128 KiB): 4 KiB edges read 62 MB of the larger ones where 64 KiB edges read 977 MB, and
# the stage took 0.15 s less on a warm cache, for the same groups.
WHOLE_BYTES = 2 * SAMPLE_SIZE
SAMPLE_BYTES = 4 << 10
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
    inodes = [(f.device, f.inode) for g in groups if not g.final for f in g.files if f.inode]
    if len(set(inodes)) == len(inodes):  # no hard links at all (the usual case): as they are
        return [
            CandidateGroup(g.key, g.files, True) if not g.final and g.files[0].size == 0 else g
            for g in groups
        ]
    out: list[CandidateGroup] = []
    for group in groups:
        if group.final:
            out.append(group)
            continue
        empty = group.files[0].size == 0  # all empty files are equal: nothing to read
        keys = [(f.device, f.inode) if f.inode else (id(f), 0) for f in group.files]
        if len(set(keys)) == len(keys):  # no hard links: the group as it is
            out.append(CandidateGroup(group.key, group.files, True) if empty else group)
            continue
        inodes: dict[tuple[int, int], list[FileRef]] = defaultdict(list)
        for key, f in zip(keys, group.files, strict=True):
            inodes[key].append(f)
        merged = [
            fs[0]
            if len(fs) == 1
            else fs[0]._replace(links=tuple(p for x in fs for p in (x.path, *x.links))[1:])
            for fs in inodes.values()
        ]
        if len(merged) > 1:
            out.append(CandidateGroup(group.key, tuple(merged), empty))
        elif merged[0].links:
            out.append(CandidateGroup(group.key, tuple(merged), True))
    return out


def by_sample(groups: list[CandidateGroup], ctx: StageContext) -> list[CandidateGroup]:
    """Head+tail hash: most same-size files differ in their first or last 4 KiB; a file
    of up to 128 KiB is hashed whole, which settles it."""
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
    reads = (WHOLE_BYTES, 2 * SAMPLE_BYTES)  # whole files up to WHOLE_BYTES, else the edges
    worker = sample_worker if ctx.on_pair is None else partial(sample_worker, on_pair=ctx.on_pair)
    out += _hash_stage(todo, ctx, "sample", worker, reads, _covers_whole_file, known)
    return out


def by_content(groups: list[CandidateGroup], ctx: StageContext) -> list[CandidateGroup]:
    """Whole-content XXH3-128 of the files that still match. While threads read them,
    this thread runs `ctx.meanwhile` (once) on the groups already settled."""
    meanwhile, ctx.meanwhile = ctx.meanwhile, None
    settled = None if meanwhile is None else partial(meanwhile, [g for g in groups if g.final])
    return _hash_stage(
        groups, ctx, "content", full_worker, (float("inf"), 0), lambda f: True,
        lambda f: f.digest, settled,
    )  # fmt: skip


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


# --- the hashing stages and their workers --------------------------------------------

# A worker's answer for one file: (path, digest) or (path, None, why it could not be read).
Hashed = tuple[str, str | None] | tuple[str, None, str]

# A stage reads in threads (ctx.workers of them) from this many bytes, when its files
# are read this many bytes each on average: below that, handing files to threads costs
# more in GIL hand-offs than it saves (20k files, 2 cores: the sample stage, up to 128
# KiB a file, took 0.1 s more CPU time in two threads, and no less time on a busy machine).
THREADED_BYTES = 256 << 20
THREADED_BYTES_PER_FILE = 1 << 20


def cores_free() -> bool:
    """Whether a core is free for a second thread now: fewer threads are runnable on the
    machine than it has CPUs, this one included (`running_threads`); where that cannot be
    read, as `make -l` decides: the 1-minute load average is under the CPUs less a half.
    On a busy machine, threads only add GIL hand-offs: the 20k-file tree, 2 cores at load
    7, took 1.64 s in one thread and 1.88 s with the content stage read in two while this
    one described (medians of 5). The count now, not the minute's average: a run that
    follows another tool's (a benchmark's previous run, a build) would otherwise still
    see its load for a minute and read in one thread with a core idle."""
    running = running_threads()
    if running is not None:
        return running < default_workers()
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average (not Linux)
        return True
    return load < default_workers() - 0.5


def running_threads(loadavg: str = "/proc/loadavg") -> int | None:
    """How many threads are runnable on the machine right now, the caller's included:
    the first number of the fourth field of Linux's /proc/loadavg ("running/total");
    None where there is no such file or it says something else."""
    try:
        with open(loadavg, "rb") as f:
            fields = f.read(200).split()
        running = int(fields[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None
    return running if running > 0 else None


def _hash_stage(
    groups: list[CandidateGroup],
    ctx: StageContext,
    name: str,
    worker: Callable[[Batch], list[Hashed]],
    reads: tuple[float, int],
    final_if: Callable[[FileRef], bool],
    known: Callable[[FileRef], str | None],
    meanwhile: Callable[[], object] | None = None,
) -> list[CandidateGroup]:
    todo = [f for g in groups if not g.final for f in g.files]
    if any(f.digest is not None for f in todo):  # the catalog's hashes (--library)
        todo = [f for f in todo if known(f) is None]
    else:
        known = _unknown
    batches, total = _batches(todo, *reads)
    workers = ctx.workers if ctx.workers > 1 and cores_free() else 1
    overlap = meanwhile is not None and workers > 1  # reads in threads, meanwhile here
    big = total >= THREADED_BYTES and total >= THREADED_BYTES_PER_FILE * len(todo)
    threads = workers if big or overlap else 1
    hashes: dict[str, str] = {}
    with _Reader(worker, batches, threads, overlap) as reader:
        if meanwhile is not None:
            meanwhile()
        with Progress(name, len(todo), ctx.show_progress) as progress:
            for batch, results in reader:
                progress.advance(len(batch))
                for r in results:
                    if r[1] is None:
                        ctx.failures.append(ReadFailure(Path(r[0]), r[2]))  # type: ignore[misc]
                    else:
                        hashes[r[0]] = r[1]
    out: list[CandidateGroup] = []
    add, lookup = out.append, hashes.get
    for group in groups:
        if group.final:
            add(group)
            continue
        buckets: dict[object, list[FileRef]] = {}
        for f in group.files:
            digest = lookup(f[0]) if known is _unknown else known(f) or lookup(f[0])
            if digest is not None:
                bucket = buckets.get(digest)
                if bucket is None:
                    buckets[digest] = [f]
                else:
                    bucket.append(f)
        is_final = bool(group.files) and final_if(group.files[0])
        key = group.key
        for digest, files in buckets.items():  # _regroup, inline
            if len(files) > 1:
                add(CandidateGroup((*key, digest), tuple(files), is_final))
            elif files[0].links:  # hard links only: one file under several names
                add(CandidateGroup((*key, digest), (files[0],), True))
    return out


# Files for one task: FileRefs (or (path, size) pairs), read by their first two fields.
Batch = tuple[tuple, ...]


class _Reader:
    """`worker` over `batches`: in `threads` threads started on entering (reads and xxhash
    release the GIL, so this thread can do other work meanwhile: `background`), or else,
    for one thread, here as it is iterated. Yields (batch, results) as they finish."""

    def __init__(
        self,
        worker: Callable[[Batch], list[Hashed]],
        batches: list[Batch],
        threads: int,
        background: bool = False,
    ) -> None:
        self.worker = worker
        self.batches = batches
        self.threads = min(threads, len(batches))
        self.background = background
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[Future[list[Hashed]], Batch] = {}

    def __enter__(self) -> _Reader:
        if self.threads > 1 or (self.threads == 1 and self.background):
            self._pool = ThreadPoolExecutor(
                max_workers=self.threads, initializer=signals.leave_to_the_main_thread
            )
            self._futures = {self._pool.submit(self.worker, b): b for b in self.batches}
        return self

    def __iter__(self) -> Iterator[tuple[Batch, list[Hashed]]]:
        if self._pool is None:
            for batch in self.batches:
                yield batch, self.worker(batch)
            return
        for future in as_completed(self._futures):
            yield self._futures[future], future.result()

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            for future in self._futures:  # stopped early (Ctrl-C): no new reads
                future.cancel()
            self._pool.shutdown(wait=True)


def _batches(files: list[FileRef], whole: float, edges: int) -> tuple[list[Batch], int]:
    """`files` in batches (one task each: a worker reads each file's path and size, its
    first two fields), and the bytes they read: a file of up to `whole` bytes all of it,
    a larger one `edges` bytes."""
    batches: list[Batch] = []
    start = size = total = 0
    for i, f in enumerate(files):
        n = f[1] if f[1] <= whole else edges
        size += n
        total += n
        if i + 1 - start >= BATCH_FILES or size >= BATCH_BYTES:
            batches.append(tuple(files[start : i + 1]))
            start, size = i + 1, 0
    if start < len(files):
        batches.append(tuple(files[start:]))
    return batches, total


# The bytes a sample worker keeps of the files it has read whole, while it waits for a
# peer of one of them (`on_pair`): at most this many per run of files of one size.
PAIR_BYTES = 8 << 20


def sample_worker(
    batch: Batch, on_pair: Callable[[str, bytes], object] | None = None
) -> list[Hashed]:
    """Head+tail hash of each (path, size, ...) (a FileRef, or a pair); failures as values.
    `on_pair` (StageContext.on_pair): called with the path and the bytes of a file read
    whole (up to WHOLE_BYTES) when a later file of the batch, of the same size, has the
    same hash: the first file of a group of identical files, whose bytes are in hand.
    Files of one size follow one another in a batch (the stage's order), so only the
    bytes of the current size are kept (up to PAIR_BYTES): a pair split between batches,
    or beyond that, is simply not handed on."""
    out: list[Hashed] = []
    add = out.append
    run_size = -1
    firsts: dict[str, tuple[str, bytes | None]] = {}  # the current size's: hash -> first
    kept = 0
    whole: list[bytes] | None = None if on_pair is None else []
    for f in batch:
        path, size = f[0], f[1]
        try:
            digest = _sample_hash(path, size, whole)
        except OSError as exc:
            add((path, None, cannot_read(exc)))
            if whole:
                whole.clear()
            continue
        add((path, digest))
        if not whole:  # (no on_pair; or a large file, or one that changed size)
            continue
        data = whole.pop()
        if size != run_size:
            run_size, firsts, kept = size, {}, 0
        first = firsts.get(digest)
        if first is None:
            keep = kept + size <= PAIR_BYTES
            kept += size if keep else 0
            firsts[digest] = (path, data if keep else None)
        elif first[1] is not None:  # its first peer: hand the first file's bytes on
            firsts[digest] = (first[0], None)
            on_pair(*first)  # type: ignore[arg-type]
    return out


def _sample_hash(path: str, size: int, whole: list[bytes] | None = None) -> str:
    """`core.hashing.hash_sample(path, size, n)` (the same digest), in fewer system calls:
    a file of up to `WHOLE_BYTES` is read whole (n = WHOLE_BYTES // 2), up to size + 1
    bytes (one that grew since the scan no longer matches its old peers); of a larger one,
    its first and last `SAMPLE_BYTES` (n = SAMPLE_BYTES), by `os.pread` straight from the
    descriptor `open_scanned` gives (no file object, no seek). `whole`: a list that gets
    the bytes of a file read whole that still has its scanned size."""
    fd, end = open_scanned(path)
    try:
        if size <= WHOLE_BYTES:
            data = pread_upto(fd, size + 1, 0, end)
            if whole is not None and len(data) == size:
                whole.append(data)
            return hash_bytes(data)
        hasher = xxh3_128(pread_upto(fd, SAMPLE_BYTES, 0, end))
        hasher.update(pread_upto(fd, SAMPLE_BYTES, size - SAMPLE_BYTES, end))
        return hasher.hexdigest()
    finally:
        os.close(fd)


def pread_upto(fd: int, count: int, offset: int, end: int = -1) -> bytes:
    """`count` bytes at `offset`, fewer only at the end of the file; `end`: its size when
    opened (open_scanned), so that a read that stops there needs no second one to find the
    end (a file that grew since the scan still reads to `count`: its digest changes)."""
    data = os.pread(fd, count, offset)
    if len(data) == count or not data or offset + len(data) == end:
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


def full_worker(batch: Batch) -> list[Hashed]:
    """Whole-content XXH3-128 of each (path, size, ...) (a FileRef, or a pair); failures
    as values. A size of 0 (unknown) reads the whole file; else at most size + 1 bytes."""
    out: list[Hashed] = []
    buf = None
    for f in batch:
        path, size = f[0], f[1]
        try:
            if size <= 0:
                out.append((path, hash_file(path)))
                continue
            if size >= CHUNK_BYTES and buf is None:
                buf = bytearray(CHUNK_BYTES)  # one buffer per batch, reused file to file
            out.append((path, _content_hash(path, size, buf)))
        except OSError as exc:
            out.append((path, None, cannot_read(exc)))
    return out


CHUNK_BYTES = 4 << 20  # reads of a large file


def _content_hash(path: str, size: int, buf: bytearray | None) -> str:
    """XXH3-128 of the first size + 1 bytes of `path` (all of it, unless it grew since the
    scan: then the digest is not its old peers'): one read for a file under
    `CHUNK_BYTES`, else reads into `buf`, reused."""
    fd, end = open_scanned(path)
    try:
        limit = size + 1
        if buf is None or limit <= CHUNK_BYTES:
            return hash_bytes(pread_upto(fd, limit, 0, end))
        hasher = xxh3_128()
        view = memoryview(buf)
        done = 0
        while done < limit:
            n = os.preadv(fd, [view[: min(CHUNK_BYTES, limit - done)]], done)
            if not n:
                break
            hasher.update(view[:n])
            done += n
        return hasher.hexdigest()
    finally:
        os.close(fd)


def _unknown(f: FileRef) -> None:
    return None


def _known_if_small(f: FileRef) -> str | None:
    """A known content hash is the sample hash too when the sample is the whole file."""
    return f.digest if _covers_whole_file(f) else None


def _covers_whole_file(f: FileRef) -> bool:
    return f.size <= WHOLE_BYTES  # the sample hash already is the whole-content hash

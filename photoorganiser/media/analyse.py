"""Stage 2, analyse: read each media file once, in the process pool.

One read gives the XXH3-128 hash and (for files up to 64 MiB) the bytes that the
metadata reader parses, so a photo is never read twice. A file that cannot be
read or understood comes back as an AnalysisFailure value with a reason a
person understands; it never stops the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import operator
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TypeVar

from ..core.hashing import (
    KEEP_LIMIT,
    PREFETCH_MIN,
    HashedContent,
    NotRegularFile,
    prefetch,
    read_and_hash,
)
from ..core.parallel import MAX_DEATHS, WorkerDied, WorkerPool, chunk_size, pmap
from ..core.progress import Progress
from ..core.values import (
    SHARED_FACTS,
    WEAK_SOURCES,
    Analysis,
    AnalysisFailure,
    CaptureDate,
    DateSource,
    FileKind,
    MediaFacts,
    MediaInfo,
    ScanEntry,
)
from . import dates, metadata, xmp
from .timezones import resolve_timezone

ANALYSED_KINDS = (FileKind.IMAGE, FileKind.RAW, FileKind.VIDEO, FileKind.SIDECAR)
# Seconds one file's metadata may take to parse (reading and hashing are not limited:
# they are linear in the size, and a USB disk may be slow). Normal files take
# milliseconds; only a pathological structure gets near this, and without a limit it
# would hang the nightly run while it holds the library lock.
PARSE_TIME_LIMIT = 60.0

R = TypeVar("R")
log = logging.getLogger("photoorganiser")
# A worker asks the disk for the file this many places ahead in its batch (files of
# PREFETCH_MIN bytes or more): with two workers, four files in flight on a cold disk.
PREFETCH_AHEAD = 2


@dataclass(frozen=True, slots=True)
class AnalyseOptions:
    timezone: str | None = None  # IANA name; None: the machine's zone
    use_mtime: bool = True  # last resort for files with no date in metadata or name


def needs_analysis(entry: ScanEntry) -> bool:
    return entry.kind in ANALYSED_KINDS and entry.error is None


def analyse(
    entries: Iterable[ScanEntry],
    options: AnalyseOptions,
    *,
    workers: int,
    progress: Progress | None = None,
) -> Iterator[Analysis | AnalysisFailure]:
    """Analyse every entry (in any order), advancing progress once per entry.

    With one worker, each entry is analysed here. With more, the pool is given batches
    of entries and sends back compact results (the entry itself stays here: only its
    position in the batch goes back), so a tiny file does not cost a pickled round trip
    of its own objects."""
    entries = list(entries)
    if workers <= 1 or len(entries) <= 1:
        worker = functools.partial(analyse_entry, options=options)
        return _sharing(pmap(worker, entries, workers=workers, progress=progress))
    return _analyse_batched(entries, options, workers, progress)


def _analyse_batched(
    entries: list[ScanEntry], options: AnalyseOptions, workers: int, progress: Progress | None
) -> Iterator[Analysis | AnalysisFailure]:
    size = batch_size(len(entries), workers)
    batches = [entries[i : i + size] for i in range(0, len(entries), size)]
    worker = functools.partial(analyse_batch, options=options)
    packed = _Packed(batches)  # packed as the pool takes them, not all at once
    shared: dict[object, object] = {}  # one make/model/format string for all its files

    def lost(item: tuple[int, list[Packed]], why: str) -> tuple[int, list[Compact]]:
        """A batch whose worker died reading it (pmap finds which): its files failures,
        read again next run."""
        number = item[0]
        return number, [AnalysisFailure(e, why, transient=True) for e in batches[number]]

    # pmap yields in any order: each batch comes back with its number
    for number, compact in pmap(worker, packed, workers=workers, chunksize=1, lost=lost):
        for entry, result in zip(batches[number], compact, strict=True):
            if progress is not None:
                progress.advance(1)
            yield _expand(entry, result, shared)
        batches[number] = []  # its entries are the caller's: only the list goes


def _sharing(results: Iterable[Analysis | AnalysisFailure]) -> Iterator[Analysis | AnalysisFailure]:
    """The analyses, each camera's facts one value (those made apart from `_expand`)."""
    shared: dict[MediaFacts, MediaFacts] = {}
    for r in results:
        if isinstance(r, Analysis):
            facts = r.facts
            held = facts.shared_in(shared)
            if held is not facts:  # (its media made only then)
                r = dataclasses.replace(r, media=dataclasses.replace(r.media, facts=held))
        yield r


class _Packed:
    """The batches, numbered and packed when the pool's feeder reaches them (a sized
    iterable, so pmap does not make a list of them first)."""

    def __init__(self, batches: list[list[ScanEntry]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[int, list[Packed]]]:
        for number, batch in enumerate(self.batches):
            yield number, [_pack(e) for e in batch]


BATCH = 64  # files in a batch of the pool's work, at most


def batch_size(count: int, workers: int) -> int:
    """Files in a batch when `count` are to be read: up to BATCH, eight batches a worker."""
    return chunk_size(count, workers, BATCH)


class Feed:
    """Entries analysed in the pool as the caller finds them (while the scan goes on),
    instead of after it: the workers start, import and read meanwhile.

        with Feed(options, workers) as feed:
            feed.add(entry) ...                        # the n-th added is number n
            for first, results in feed.ready(): ...    # those back now (during the scan)
            for first, results in feed.finish(): ...   # the scan is over: all the rest

    Results come back by batch, in any order of batches: a batch is the analyses of the
    entries added as numbers first, first + 1, ... (so the caller keeps, say, an array of
    where each number goes, not a tag per entry). The pool starts when `workers` entries
    have been added, so a run that reads fewer than that (or has one worker) never starts
    one (`started` says; the caller then analyses `held` itself, as `analyse` does).
    Batches are sent while the scan goes on only once there are enough files for batches
    of BATCH (the size `analyse` gives so many files); the rest are sent at `finish`,
    sized by the whole count as `analyse` sizes them. At most `in_flight` batches are in
    the pool at a time (the others wait here as lists of entries, not as packed tuples).
    Any exit from the with block ends the workers. A worker that dies (killed, out of
    memory, a reader's crash) takes the batches in the pool with it, and the pool cannot
    tell which file it was reading: a new pool reads their files again one at a time,
    alone in it (as core.parallel.pmap does), so that a death then names its file, a
    transient failure of this run (read again by the next); then the rest. After
    MAX_DEATHS deaths no pool is started again: the files left are failures too.
    """

    def __init__(self, options: AnalyseOptions, workers: int, in_flight: int | None = None) -> None:
        self.workers = max(1, workers)
        self.in_flight = in_flight or 8 * self.workers
        self.added = 0
        self.given = 0  # analyses given back by ready and finish
        self.held: list[ScanEntry] = []  # added, not in a batch yet (from number `_first`)
        self._first = 0
        self._worker = functools.partial(analyse_batch, options=options)
        self._pool: WorkerPool | None = None
        self._waiting: deque[tuple[int, list[ScanEntry]]] = deque()  # batches not sent
        self._sent: dict[int, list[ScanEntry]] = {}  # by their first entry's number
        self._shared: dict[object, object] = {}  # one make/model/format string per camera
        self._streaming = 0  # added files from which batches are sent during the scan
        self._lost: deque[tuple[int, list[Analysis | AnalysisFailure]]] = deque()
        self.deaths = 0  # workers that died (see _died)
        self._why = ""
        self._suspects: deque[tuple[int, ScanEntry]] = deque()  # a dead worker's, numbered
        self._alone: int | None = None  # the suspect in the pool, alone, by its number

    @property
    def started(self) -> bool:
        return self._pool is not None

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.close()

    def add(self, entry: ScanEntry) -> None:
        held = self.held
        held.append(entry)
        self.added += 1
        if self._pool is None:
            if self.workers < 2 or self.added < self.workers:
                return
            self._pool = WorkerPool(self.workers).__enter__()
            self._streaming = BATCH * self.workers * 8  # batch_size(count) is BATCH from here
        if len(held) >= BATCH and self.added >= self._streaming:
            self._batch(BATCH)
            self._send()

    def _batch(self, size: int, *, rest: bool = False) -> None:
        """The held entries as batches of `size`; with `rest`, a last smaller one too."""
        held, first = self.held, self._first
        whole = len(held) if rest else len(held) - len(held) % size
        self._waiting.extend((first + i, held[i : i + size]) for i in range(0, whole, size))
        self.held = held[whole:]
        self._first = first + whole

    def ready(self) -> Iterator[tuple[int, list[Analysis | AnalysisFailure]]]:
        """The batches back now, without waiting."""
        if self._pool is None:
            return
        try:
            backs = list(self._pool.ready())
        except WorkerDied as exc:
            backs = []
            self._died(exc)
        for back in backs:
            yield self._expand(back)  # type: ignore[arg-type]
        self._send()
        while self._lost:
            yield self._given(self._lost.popleft())

    def finish(self) -> Iterator[tuple[int, list[Analysis | AnalysisFailure]]]:
        """Every batch not given yet, waiting for them; nothing is added after this."""
        if self._pool is None:
            return
        if self._waiting:  # put back, to be batched by the whole count
            self.held = [e for _, batch in self._waiting for e in batch] + self.held
            self._first = self._waiting[0][0]
            self._waiting.clear()
        self._batch(batch_size(self.added, self.workers), rest=True)
        self._send()
        while self._pool.pending or self._lost or self._suspects or self._waiting:
            while self._lost:
                yield self._given(self._lost.popleft())
            if self._pool.pending:
                try:
                    back = self._pool.wait()
                except WorkerDied as exc:
                    self._died(exc)
                else:
                    yield self._expand(back)  # type: ignore[arg-type]
            self._send()

    def _send(self) -> None:
        if self.deaths >= MAX_DEATHS:  # no pool any more: what waits is not read
            self._fail([(n, [e]) for n, e in self._suspects] + list(self._waiting))
            self._suspects.clear()
            self._waiting.clear()
            return
        if self._suspects or self._alone is not None:  # one at a time, alone in the pool
            if self._alone is None and not self._pool.pending:  # type: ignore[union-attr]
                number, entry = self._suspects.popleft()
                self._alone = number
                self._sent[number] = [entry]
                try:
                    self._pool.submit(self._worker, (number, [_pack(entry)]))  # type: ignore[union-attr]
                except WorkerDied as exc:
                    self._died(exc)
            return
        while self._waiting and self._pool.pending < self.in_flight:  # type: ignore[union-attr]
            first, batch = self._waiting.popleft()
            self._sent[first] = batch
            try:
                self._pool.submit(self._worker, (first, [_pack(e) for e in batch]))  # type: ignore[union-attr]
            except WorkerDied as exc:
                self._died(exc)
                return

    def _died(self, exc: WorkerDied) -> None:
        """A worker died: alone in the pool, on a suspect, that file is a failure of this
        run; else the files of the batches in the pool are all suspects now. A new pool
        reads on (none after MAX_DEATHS: the files left are failures too)."""
        self.deaths += 1
        self._pool.close()  # type: ignore[union-attr]
        self._why = f"not read: the process reading it {exc.what}; it is read again next run"
        if self._alone is not None:
            log.warning("%s reading %s alone: it is not read", exc, self._sent[self._alone][0].path)
            self._fail([(self._alone, self._sent.pop(self._alone))])
            self._alone = None
        else:
            lost = sorted(self._sent.items())
            self._suspects.extend(
                (n, e) for first, batch in lost for n, e in enumerate(batch, first)
            )
            log.warning("%s: its %d files are read again one at a time", exc, len(self._suspects))
        self._sent.clear()
        self._pool = WorkerPool(self.workers)  # (after MAX_DEATHS, one never started)
        if self.deaths < MAX_DEATHS:
            self._pool.__enter__()

    def _fail(self, batches: list[tuple[int, list[ScanEntry]]]) -> None:
        """The batches' files not read: failures saying why (the last death), given next."""
        why = self._why
        for first, batch in batches:
            self._lost.append((first, [AnalysisFailure(e, why, transient=True) for e in batch]))

    def _given(
        self, lost: tuple[int, list[Analysis | AnalysisFailure]]
    ) -> tuple[int, list[Analysis | AnalysisFailure]]:
        self.given += len(lost[1])
        return lost

    def _expand(
        self, back: tuple[int, list[Compact]]
    ) -> tuple[int, list[Analysis | AnalysisFailure]]:
        first, compact = back
        batch = self._sent.pop(first)
        if first == self._alone:  # read, alone: not the culprit
            self._alone = None
        self.given += len(batch)
        shared = self._shared
        return first, [_expand(e, r, shared) for e, r in zip(batch, compact, strict=True)]


# A ScanEntry crosses to the pool as a tuple of its fields, the path as text (a pickled
# frozen dataclass and Path cost more than the analysis of a tiny file); an analysis
# comes back as plain tuples too (a pickled dataclass or enum is rebuilt through Python
# calls, a tuple of str, int and datetime is not), rebuilt into the same values here.
_FACT_FIELDS = tuple(f.name for f in dataclasses.fields(MediaFacts))
_OWN_FIELDS = ("content_id", "latitude", "longitude", "gps_offset")  # MediaInfo's, per file
_SOURCES = {s.value: s for s in DateSource}
_SAME = 0  # the analysis's date is the one its media says (the same object)
Packed = tuple[object, ...]
Compact = tuple[str, tuple[object, ...], object] | AnalysisFailure


def _date_tuple(c: CaptureDate | None) -> tuple[object, ...] | None:
    return None if c is None else (c.wall, c.source.value, c.utc_offset)


def _date_of(t: tuple | None) -> CaptureDate | None:
    return None if t is None else CaptureDate(t[0], _SOURCES[t[1]], t[2])


_facts_of = operator.attrgetter(*_FACT_FIELDS)
_own_of = operator.attrgetter(*_OWN_FIELDS)


def _compact(hash_: str, media: MediaInfo, captured: CaptureDate | None) -> Compact:
    """An analysis (its hash, media and date) as the tuple a worker sends back: the media
    as (its date, its facts' fields as a tuple, its own fields)."""
    fields = (_date_tuple(media.captured), _facts_of(media.facts), *_own_of(media))
    same = captured is media.captured
    return (hash_, fields, _SAME if same else _date_tuple(captured))


# a ScanEntry's fields as ScanEntry() takes them, the path as text first
_ENTRY_FIELDS = ("path", "kind", "size", "mtime_ns", "inode", "device", "ignore_reason", "error")
_entry_rest = operator.attrgetter(*_ENTRY_FIELDS[1:])


def _pack(entry: ScanEntry) -> Packed:
    return (str(entry.path),) + _entry_rest(entry)


def _unpack(packed: Packed) -> ScanEntry:
    return ScanEntry(Path(packed[0]), *packed[1:])  # type: ignore[arg-type]


def analyse_batch(
    numbered: tuple[int, list[Packed]], options: AnalyseOptions
) -> tuple[int, list[Compact]]:
    """The pool's worker for a batch: each entry's analysis without its entry (the
    caller has it), or its failure as it is.

    Straight from the packed tuple to the compact one: no ScanEntry, Path, Analysis or
    CaptureDate is made for a file that is analysed (a ScanEntry only for a failure),
    which is most of what a tiny file would cost here."""
    number, batch = numbered
    out: list[Compact] = []
    with _alarm_handler():
        ahead = PREFETCH_AHEAD
        for k in range(1, min(ahead, len(batch))):
            if batch[k][2] >= PREFETCH_MIN:
                prefetch(batch[k][0])
        for i, packed in enumerate(batch):
            # the disk reads the next files while this one is hashed and parsed (a cold
            # disk kept busy: a few requests in flight, not one file's at a time)
            if i + ahead < len(batch) and batch[i + ahead][2] >= PREFETCH_MIN:
                prefetch(batch[i + ahead][0])
            try:
                got = _analyse_fields(packed[0], packed[1], packed[2], packed[3], options)
            except MemoryError:
                got = _Failed("out of memory while reading this file", transient=True)
            except Exception as exc:  # noqa: BLE001 - a bad file must never stop the run
                why = f"unexpected error while reading: {type(exc).__name__}: {exc}"
                got = _Failed(why, transient=True)
            if type(got) is tuple:
                out.append(_compact(*got))
            else:
                out.append(got.failure(_unpack(packed)))  # type: ignore[union-attr]
    return number, out


assert _ENTRY_FIELDS[:4] == ("path", "kind", "size", "mtime_ns")


def _expand(
    entry: ScanEntry, result: Compact, shared: dict[object, object] | None = None
) -> Analysis | AnalysisFailure:
    if isinstance(result, AnalysisFailure):
        return dataclasses.replace(result, entry=entry)  # the caller's own entry
    hash_, fields, date = result
    captured = _date_of(fields[0])  # type: ignore[arg-type]
    key = fields[1]  # the facts' fields: one camera's, the same for thousands of files
    facts = shared.get(key) if shared is not None else None
    if facts is None:
        facts = MediaFacts(*key)  # type: ignore[arg-type]
        if shared is not None and len(shared) < SHARED_FACTS:
            shared[key] = facts
    final = captured if date == _SAME else _date_of(date)
    own = fields[2:]
    if own == _NONE_OWN:  # only its date and facts: kept as those (no MediaInfo made)
        return Analysis(entry, hash_, captured=final, info=facts, info_date=captured)
    content_id, latitude, longitude, gps_offset = own
    media = MediaInfo(
        captured,
        content_id=content_id,  # type: ignore[arg-type]
        latitude=latitude,  # type: ignore[arg-type]
        longitude=longitude,  # type: ignore[arg-type]
        gps_offset=gps_offset,  # type: ignore[arg-type]
        facts=facts,
    )
    return Analysis(entry, hash_, media, final)


_NONE_OWN = (None,) * len(_OWN_FIELDS)


def analyse_entry(entry: ScanEntry, options: AnalyseOptions) -> Analysis | AnalysisFailure:
    """The pool's worker: never raises, failures are values."""
    try:
        return _analyse(entry, options)
    except MemoryError:
        return AnalysisFailure(entry, "out of memory while reading this file", transient=True)
    except Exception as exc:  # noqa: BLE001 - a bad file must never stop the run
        return AnalysisFailure(
            entry, f"unexpected error while reading: {type(exc).__name__}: {exc}", transient=True
        )


def _analyse(entry: ScanEntry, options: AnalyseOptions) -> Analysis | AnalysisFailure:
    got = _analyse_fields(entry.path, entry.kind, entry.size, entry.mtime_ns, options)
    if isinstance(got, _Failed):
        return got.failure(entry)
    hash_, media, captured = got
    return Analysis(entry, hash_, media, captured)


@dataclass(frozen=True, slots=True)
class _Failed:
    """An AnalysisFailure still without its entry (made only when one is needed)."""

    error: str
    hash: str | None = None
    transient: bool = False
    no_content: bool = False

    def failure(self, entry: ScanEntry) -> AnalysisFailure:
        return AnalysisFailure(
            entry,
            self.error,
            hash=self.hash,
            transient=self.transient,
            no_content=self.no_content,
        )


Analysed = tuple[str, MediaInfo, CaptureDate | None]  # hash, media, captured (fallbacks)


def _analyse_fields(
    path: Path | str, kind: FileKind, size: int, mtime_ns: int, options: AnalyseOptions
) -> Analysed | _Failed:
    """One file's analysis from its scan's path, kind, size and mtime."""
    tz = resolve_timezone(options.timezone)
    if size == 0:
        return _Failed("no content: an empty file (0 bytes)", no_content=True)
    try:
        # at most size + 1 bytes: growth shows, an endless file cannot make it read
        # for ever (positional: tests wrap read_and_hash with a lambda taking *args)
        content = read_and_hash(path, KEEP_LIMIT, size)
    except NotRegularFile as exc:  # swapped for a FIFO, device or link since the scan
        return _Failed(f"not read: {exc.strerror}")
    except OSError as exc:
        return _Failed(f"cannot read: {exc.strerror or exc}", transient=True)
    if content.size != size:
        return _Failed(
            f"changed while being read ({size} bytes when scanned, {content.size} read):"
            " still being copied? left for the next run",
            hash=content.hash,
            transient=True,
        )
    limit = PARSE_TIME_LIMIT
    try:
        return _within(limit, _parse, path, kind, mtime_ns, content, options, tz)
    except _ParseTimeout:
        return _Failed(
            f"gave up reading its metadata after {limit:g} s (damaged or hostile file?)",
            hash=content.hash,
            transient=False,
        )


def _parse(
    path: Path | str,
    kind: FileKind,
    mtime_ns: int,
    content: HashedContent,
    options: AnalyseOptions,
    tz: tzinfo,
) -> Analysed | _Failed:
    """What the content says: the part of analysis that depends on the file's structure
    (and so can be made slow by it), unlike the read, which is linear in its size."""
    if kind is FileKind.SIDECAR:
        captured = _sidecar_date(Path(path), content.data, tz)
        return content.hash, MediaInfo(captured=captured), captured
    name = path.name if isinstance(path, Path) else os.path.basename(path)
    try:
        media = metadata.read_media(path, content.data, tz, name)
    except metadata.MetadataError as exc:
        if content.data is not None and not content.data.strip(b"\0"):
            why = "no content: every byte is zero"
            return _Failed(why, hash=content.hash, no_content=True)
        return _Failed(str(exc), hash=content.hash)
    captured = media.captured
    if captured is None or captured.source is DateSource.EXIF_MODIFY_DATE:
        # A date in the name (IMG_20200101_120000) beats an editor's export date.
        captured = dates.date_from_filename(name) or captured
    if captured is None and options.use_mtime:
        captured = mtime_date(mtime_ns, tz)
    return content.hash, media, captured


class _ParseTimeout(BaseException):
    """Raised by SIGALRM when one file's parse runs out of time. A BaseException, so that
    the readers' `except Exception` (which turns bugs into failures) cannot swallow it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _ParseTimeout


def _within(seconds: float, fn: Callable[..., R], *args: object) -> R:
    """fn(*args), raising _ParseTimeout if it runs longer than `seconds`.

    A SIGALRM timer (setitimer), which interrupts pure-Python loops and regex matching
    alike. Signals only reach the main thread, so elsewhere (a thread pool) fn runs
    without a limit. Pool workers are processes, each its own main thread; with
    workers=1 this runs in the importer's own process, so the previous SIGALRM handler
    and timer are put back afterwards. The timer is one-shot: at most one raise, which
    the outer `finally` survives to restore them.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return fn(*args)
    global _deadline
    if _handler_set:  # a pool worker's batch: the handler and its ticking timer are set
        _deadline = time.monotonic() + seconds  # no system call per file
        try:
            return fn(*args)
        finally:
            _deadline = None
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    started = time.monotonic()
    old_delay = old_interval = 0.0
    try:
        old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
        if old_delay > 0:  # someone else's timer was running: let it go on (or fire now)
            left = max(old_delay - (time.monotonic() - started), 1e-6)
            signal.setitimer(signal.ITIMER_REAL, left, old_interval)


_handler_set = False
_deadline: float | None = None  # when the file being parsed runs out of time (a batch's)


def _on_tick(signum: int, frame: object) -> None:
    if _deadline is not None and time.monotonic() >= _deadline:
        raise _ParseTimeout


@contextlib.contextmanager
def _alarm_handler() -> Iterator[None]:
    """In a pool worker (its own main thread, no timer of its own), the SIGALRM handler
    and a ticking timer are set once for a batch instead of a timer set and cleared per
    file (two system calls): each file's parse only notes its deadline, and a tick past
    it raises (at most a tick late: a 60th of the limit, a second at most). Elsewhere
    this does nothing."""
    global _handler_set, _deadline
    if _handler_set or threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getitimer(signal.ITIMER_REAL)[0] > 0:  # someone's timer: leave it to _within
        yield
        return
    limit = PARSE_TIME_LIMIT
    if limit <= 0:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_tick)
    _handler_set = True
    _deadline = None
    tick = min(1.0, limit / 60)
    try:
        signal.setitimer(signal.ITIMER_REAL, tick, tick)
        yield
    finally:
        _handler_set = False
        _deadline = None
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _sidecar_date(path: Path, data: bytes | None, tz: tzinfo) -> CaptureDate | None:
    """A sidecar's own capture date, for the media file it follows (XMP, Takeout JSON)."""
    if data is None:
        return None
    ext = path.suffix.lower()
    if ext == ".xmp":
        return xmp.date_from_xmp_sidecar(data)
    if ext == ".json":
        return dates.date_from_takeout_json(data, tz)
    if ext == ".thm":  # a camera's JPEG thumbnail of its video, with the EXIF the AVI lacks
        try:
            captured = metadata.read_media(path, data, tz).captured
        except metadata.MetadataError:
            return None
        if captured is None or captured.source in WEAK_SOURCES:
            return None
        return dataclasses.replace(captured, source=DateSource.THM_SIDECAR)
    return None  # .aae (Apple edit instructions) carries no capture date


def mtime_date(mtime_ns: int, tz: tzinfo) -> CaptureDate:
    """The file's modification time as local wall time in `tz`, offset included."""
    moment = datetime.fromtimestamp(mtime_ns / 1e9, tz)
    return CaptureDate(moment.replace(tzinfo=None), DateSource.MTIME, moment.utcoffset())

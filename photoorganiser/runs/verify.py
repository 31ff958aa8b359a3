"""`photoorganiser verify --output LIBRARY [--older-than DAYS] [--sample PERCENT]
[--max-duration TIME] [--manifest FILE]`: read the library's files again and check them
against the catalog's hashes.

    check options, the report's and the manifest's places   -> exit 2 before anything starts
    hold the library: its lock, the catalog                 library/session (read-only library:
                                                            a shared look, nothing saved)
    select    every catalogued file, less the ones verified ok recently (--older-than), or
              in a stopped full pass (resumed); --sample draws some, least recently first;
              --max-duration: the least recently verified first, until the time is up
    walk      media files on disk the catalog lacks          media/scan -> not-catalogued
    check     each file read once: XXH3-128 (+ SHA-256)     library/verify (pool: core/parallel)
    remember  what was found, batch by batch                 library/fixity (the catalog)
    report    a row per file read and per problem; summary   core/reportfile
    manifest  sha256sum -c compatible, every ok file        core/manifest

It changes no user file and no catalog row but its own (`verified`, `verify_passes`). It
does not finish a killed import's transfers (that changes files): it says so, and the next
import or sync does it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..core import signals
from ..core.manifest import ManifestUnwritable, write_manifest
from ..core.manifest import check_place as check_manifest_place
from ..core.parallel import pmap
from ..core.progress import Progress
from ..core.reportfile import (
    ReportHeader,
    ReportUnwritable,
    ReportWriter,
    fallback_dirs,
    place_report,
    write_summary,
)
from ..core.textsafe import display_text, path_text
from ..library.catalog import Catalog, CatalogUnavailable, catalog_path
from ..library.fixity import (
    Catalogued,
    Fixity,
    Record,
    Verified,
    now_utc,
    older_than,
    recently_ok,
    sample,
)
from ..library.journal import pending
from ..library.lock import LockUnavailable, library_lock
from ..library.session import LibrarySession, open_library
from ..library.verify import PROBLEMS, Check, Job, Result, check_files
from ..media.analyse import AnalyseOptions, needs_analysis
from ..media.scan import scan

log = logging.getLogger("photoorganiser")

COLUMNS = ["path", "result", "size", "expected_hash", "found_hash", "detail"]
BATCH_FILES = 32  # files per pool task
BATCH_BYTES = 64 << 20  # ... or this many bytes, whichever comes first
SAVE_EVERY = 256  # checks remembered per catalog commit (or every SAVE_SECONDS)
SAVE_SECONDS = 5.0
RESUME_WITHIN = timedelta(days=30)  # a stopped full verify older than this starts anew


class VerifyUsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    library: Path
    sample: float | None = None  # percent of the files, least recently verified first
    older_than: float | None = None  # days: files verified ok since are not read
    seed: int | None = None  # the sample's; a random one (in the header) when None
    manifest: Path | None = None  # a sha256sum -c compatible manifest of every ok file
    workers: int = 1
    report: Path | None = None
    report_dir: Path = Path("reports")
    progress: bool = True
    wait: bool = False
    command: str = "verify"
    max_duration: float | None = None  # seconds: stop reading then; the next verify goes on


@dataclass(frozen=True, slots=True)
class VerifySummary:
    counts: dict[str, int]  # result value -> files
    report: Path
    catalogued: int = 0
    skipped: int = 0  # verified ok recently (--older-than) or earlier in a resumed pass
    not_sampled: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    seed: int | None = None
    resumed_from: datetime | None = None  # the stopped full pass this run went on with
    saved: bool = True  # the verification state was saved in the catalog
    manifest: Path | None = None
    manifest_files: int = 0
    manifest_left_out: int = 0
    interrupted: int | None = None  # the signal that stopped the run
    left: int = 0  # not read: --max-duration was up (the next verify reads them first)
    notes: tuple[str, ...] = field(default=())

    @property
    def problems(self) -> int:
        return sum(self.counts.get(r.value, 0) for r in PROBLEMS)

    @property
    def mb_per_s(self) -> float:
        return self.bytes_read / 1e6 / self.seconds if self.seconds > 0 else 0.0


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?"
                       r"(?:(\d+(?:\.\d+)?)s?)?")  # fmt: skip


def parse_duration(text: str) -> float:
    """`--max-duration`'s TIME in seconds: 3600, 90m, 2h, 1h30m, 1d (s, m, h, d units)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):  # (an empty text matches, with no group)
        raise VerifyUsageError(
            f"--max-duration {text}: give a time such as 2h, 90m, 1h30m or 3600 (seconds)"
        )
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds  # zero: refused by _check


def run_verify(options: VerifyOptions) -> VerifySummary:
    started = datetime.now()
    # --max-duration counts from here: the time a nightly job may hold the library
    deadline = None if options.max_duration is None else time.monotonic() + options.max_duration
    root = Path(os.path.abspath(options.library))
    _check(options, root)
    report = place_report(options.report, options.report_dir, started, "verify")
    manifest = Path(os.path.abspath(options.manifest)) if options.manifest else None
    if manifest is not None:
        try:
            check_manifest_place(manifest)
        except ManifestUnwritable as exc:
            raise VerifyUsageError(str(exc)) from None
    seed = options.seed
    command = options.command
    if options.sample is not None and seed is None:
        seed = secrets.randbits(32)
        command = f"{command} --seed {seed}"  # the header says how to draw the same files
    header = ReportHeader(
        "verify", library=str(root), command=command, created=started.isoformat("T", "seconds")
    )
    writer = ReportWriter(report, header, COLUMNS, fallback_dirs(root, dry_run=False)).open()
    try:
        with _hold(root, options) as (catalog, session):
            if session is not None:
                session.note_report(writer.path)
            summary = _verify(catalog, session, options, root, writer, seed, manifest, deadline)
            writer.close()
            if session is not None:
                session.finish(writer.path, "interrupted" if summary.interrupted else "finished")
    finally:
        writer.close()
    summary = replace(summary, report=writer.path)
    with contextlib.suppress(OSError, ReportUnwritable):
        write_summary(writer.path, summary_lines(summary), "Verify", summary_extra(summary))
    return summary


def _check(options: VerifyOptions, root: Path) -> None:
    """Bad usage: one line, before anything is created or read."""
    if options.sample is not None and not 0 < options.sample <= 100:
        raise VerifyUsageError(f"--sample {options.sample:g}: give a percentage above 0, up to 100")
    if options.older_than is not None and not 0 <= options.older_than < math.inf:
        raise VerifyUsageError(f"--older-than {options.older_than:g}: give a number of days >= 0")
    if options.max_duration is not None and not 0 < options.max_duration < math.inf:
        raise VerifyUsageError(f"--max-duration {options.max_duration:g}: give a time above zero")
    if options.workers < 1:
        raise VerifyUsageError(f"--workers {options.workers}: give at least 1")
    if not root.is_dir():
        raise VerifyUsageError(f"library {options.library} is not a folder")
    path = catalog_path(root)
    if not path.is_file() or path.stat().st_size == 0:
        raise VerifyUsageError(
            f"{root} has no catalog, so nothing to verify against; make one with:"
            f" photoorganiser sync --output {root}"
        )


@contextlib.contextmanager
def _hold(root: Path, options: VerifyOptions) -> Iterator[tuple[Catalog, LibrarySession | None]]:
    """The library, locked, its catalog open for writing the verification state; a library
    that cannot be written (a read-only disk, another user's) is read under a shared look
    instead, and nothing is saved."""
    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(
                open_library(
                    root,
                    command="verify",
                    dry_run=False,
                    wait=options.wait,
                    analyse_options=AnalyseOptions(),
                    workers=options.workers,
                    progress=options.progress,
                )
            )
        except (CatalogUnavailable, LockUnavailable) as exc:
            log.warning("%s: verifying without saving what was verified", exc)
        else:
            assert session.catalog is not None
            yield session.catalog, session
            return
    with library_lock(root / ".photoorganiser", "verify", wait=options.wait, shared=True):
        catalog = Catalog.open(root, readonly=True)
        if catalog is None:
            raise VerifyUsageError(f"{root} has no catalog, so nothing to verify against")
        try:
            yield catalog, None
        finally:
            catalog.close()


def _verify(
    catalog: Catalog,
    session: LibrarySession | None,
    options: VerifyOptions,
    root: Path,
    writer: ReportWriter,
    seed: int | None,
    manifest: Path | None,
    deadline: float | None = None,
) -> VerifySummary:
    fixity = Fixity(catalog.conn)
    saving = session is not None and fixity.present
    notes: list[str] = []
    intents = pending(catalog)
    if intents:
        note = (
            f"a killed run left {len(intents)} transfer(s) half-way: the next import or sync"
            " finishes them; until then those files may show as missing or not catalogued"
        )
        log.warning("%s", note)
        notes.append(note)
    rows = fixity.catalogued()
    last = fixity.last()
    now = now_utc()
    need_sha = manifest is not None
    since = None
    resumed = None
    full_pass = options.older_than is None and options.sample is None
    if options.older_than is not None:  # 0: everything is older than now
        since = older_than(options.older_than, now) if options.older_than > 0 else None
    elif full_pass:
        resumed = fixity.unfinished_pass()
        if resumed is not None and now - resumed > RESUME_WITHIN:
            log.warning("a verification stopped on %s is too old to resume: starting anew", resumed)
            resumed = None
        since = resumed
        if saving:
            with catalog.transaction():
                fixity.begin_pass(resumed or now)
    if resumed is not None:
        log.warning("resuming the verification begun at %s (stopped before its end)", resumed)
    recent = {r.rel for r in rows if recently_ok(r, last.get(r.rel), since, need_sha)}
    chosen = [r for r in rows if r.rel not in recent]
    if options.sample is not None:
        assert seed is not None
        chosen = sample(chosen, last, options.sample, seed, now)
    if need_sha:  # the manifest needs every file's SHA-256: read those with none known
        picked = {r.rel for r in chosen}
        extra = [r for r in rows if r.rel not in picked and _known_sha(r, last) is None]
        chosen = sorted([*chosen, *extra], key=lambda r: r.rel)
    if deadline is not None:  # the time may run out: the least recently verified first
        chosen.sort(key=lambda r: _last_verified(last.get(r.rel)))
    picked = {r.rel for r in chosen}
    skipped = sum(1 for rel in recent if rel not in picked)
    not_sampled = len(rows) - len(chosen) - skipped

    counts: Counter[str] = Counter()
    for check in _uncatalogued(catalog, {r.rel for r in rows}):
        counts[check.result.value] += 1
        writer.write_rows([_cells(check)])

    jobs = [
        Job(os.path.join(root, r.rel), r.rel, r.size, r.mtime_ns, r.hash, sha256=need_sha)
        for r in chosen
    ]
    found: dict[str, Check] = {}
    clock = time.monotonic()
    bytes_read = 0
    interrupted = None
    left = 0
    unsaved: list[Record] = []
    saved_at = time.monotonic()
    state_ok = saving

    def save(force: bool) -> None:
        nonlocal unsaved, saved_at, state_ok
        if not state_ok or not unsaved:
            unsaved = []
            return
        if not force and len(unsaved) < SAVE_EVERY and time.monotonic() - saved_at < SAVE_SECONDS:
            return
        try:
            with catalog.transaction():
                fixity.record(unsaved, now_utc(), session.run_id if session else None)
        except Exception as exc:  # a full disk: the checks go on, unremembered
            log.error("could not save the verification state in the catalog: %s", exc)
            state_ok = False
        unsaved = []
        saved_at = time.monotonic()

    try:
        with Progress("verify", len(jobs), options.progress) as bar:
            batches = list(_batches(jobs))
            results = pmap(
                check_files,
                batches,
                workers=options.workers,
                progress=bar,
                weight=len,
                lost=_not_checked,
            )
            try:
                for checks in results:
                    with signals.deferred():
                        writer.write_rows(_cells(c) for c in checks)
                        for c in checks:
                            found[c.job.rel] = c
                            counts[c.result.value] += 1
                            bytes_read += c.read
                            unsaved.append(_record(c))
                        save(force=False)
                    signals.check()
                    if deadline is not None and time.monotonic() >= deadline:
                        left = len(jobs) - len(found)
                        if left:
                            log.warning(
                                "--max-duration is up: %d file(s) left for the next verify", left
                            )
                        break
            finally:
                results.close()  # the pool's workers end now, not when collected
    except KeyboardInterrupt as stop:
        interrupted = int(getattr(stop, "signum", 2))
        signals.clear()
        with signals.deferred():
            rest = [Check(j, Result.NOT_DONE) for j in jobs if j.rel not in found]
            writer.write_rows(_cells(c) for c in rest)
            counts[Result.NOT_DONE.value] += len(rest)
    seconds = time.monotonic() - clock
    with signals.deferred():
        save(force=True)
        if state_ok and interrupted is None and not left:
            with catalog.transaction():
                if full_pass:
                    fixity.finish_pass(resumed or now, now_utc())
                fixity.forget_uncatalogued()
    signals.clear()

    written, left_out = 0, 0
    if manifest is not None and interrupted is None and not left:
        entries = []
        for r in rows:
            c = found.get(r.rel)
            digest = c.sha256 if c is not None and c.result is Result.OK else None
            if c is None:
                digest = _known_sha(r, last)
            if digest is None:
                left_out += 1
                continue
            entries.append((os.fsencode(r.rel), digest))
        try:
            written = write_manifest(manifest, entries)
        except (OSError, ManifestUnwritable) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            log.error("the manifest %s could not be written: %s", manifest, why)
            notes.append(f"the manifest {manifest} could not be written: {why}")
            manifest = None
    elif manifest is not None:
        why = "--max-duration was up first" if left else "the run was stopped first"
        notes.append(f"the manifest {manifest} was not written: {why}")
        manifest = None
    if session is None or not fixity.present:
        notes.append("the verification state was not saved (the library cannot be written)")
    elif not state_ok:
        notes.append("the verification state could not all be saved (see the log)")
    return VerifySummary(
        counts=dict(counts),
        report=writer.path,
        catalogued=len(rows),
        skipped=skipped,
        not_sampled=not_sampled,
        bytes_read=bytes_read,
        seconds=seconds,
        seed=seed,
        resumed_from=resumed,
        saved=state_ok,
        manifest=manifest,
        manifest_files=written,
        manifest_left_out=left_out,
        interrupted=interrupted,
        left=left,
        notes=tuple(notes),
    )


def _last_verified(seen: Verified | None) -> datetime:
    """When a file was last verified; never: the earliest of all (read first)."""
    return datetime.min.replace(tzinfo=UTC) if seen is None else seen.verified_at


def _known_sha(row: Catalogued, last: dict[str, Verified]) -> str | None:
    """The SHA-256 an earlier verification found, while it still stands for the file."""
    seen = last.get(row.rel)
    if seen is None or seen.result != "ok" or seen.hash != row.hash:
        return None
    return seen.sha256


def _not_checked(batch: list[Job], why: str) -> list[Check]:
    """A batch whose checking process died on it (pmap's `lost`): each of its files
    unreadable, saying why. The batch is the unit, not the file: batches are bounded in
    bytes too (BATCH_BYTES), which pmap's chunks are not, and what kills a process that
    only hashes bytes is the system (out of memory, a kill), seldom a file's content."""
    return [Check(job, Result.UNREADABLE, error=why) for job in batch]


def _batches(jobs: list[Job]) -> Iterator[list[Job]]:
    batch: list[Job] = []
    size = 0
    for job in jobs:
        batch.append(job)
        size += job.size
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _uncatalogued(catalog: Catalog, known: set[str]) -> Iterator[Check]:
    """Media files (and sidecars) on disk that the catalog lacks, and folders that cannot
    be listed: what the catalog's hashes cannot vouch for."""
    for entry in scan([catalog.realroot]):
        if entry.error is not None:  # a folder that cannot be listed, a file not stat-able
            job = Job(str(entry.path), str(entry.path), 0, 0, "")
            yield Check(job, Result.UNREADABLE, error=entry.error)
            continue
        if not needs_analysis(entry):
            continue
        rel = catalog.relative(entry.path)
        if rel in known:
            continue
        job = Job(str(entry.path), rel, entry.size, entry.mtime_ns, "")
        yield Check(job, Result.NOT_CATALOGUED, size=entry.size)


def _record(c: Check) -> Record:
    return Record(c.job.rel, c.result.value, c.found, c.sha256, c.size)


def _cells(c: Check) -> list[str]:
    j = c.job
    if c.result is Result.NOT_CATALOGUED:
        detail = "on disk, not in the catalog: run photoorganiser sync to add it"
        size = c.size
    else:
        detail = c.detail()
        size = c.size if c.size is not None else (j.size or None)
    return [
        path_text(j.path),
        c.result.value,
        "" if size is None else str(size),
        j.hash,
        c.found or "",
        display_text(detail),
    ]


RESULT_LABELS = {
    Result.OK: "ok",
    Result.CHANGED: "changed (other bytes than catalogued)",
    Result.MISSING: "missing",
    Result.UNREADABLE: "unreadable",
    Result.NOT_CATALOGUED: "not catalogued (run sync)",
    Result.NOT_DONE: "not checked (stopped)",
}


def summary_lines(s: VerifySummary) -> list[tuple[str, int]]:
    lines = [(RESULT_LABELS[r], s.counts.get(r.value, 0)) for r in Result]
    lines = [(label, n) for label, n in lines if n or label == "ok"]
    if s.skipped:
        lines.append(("skipped: verified ok recently", s.skipped))
    if s.not_sampled:
        lines.append(("not in this sample", s.not_sampled))
    if s.left:
        lines.append(("left for the next verify", s.left))
    return lines


def summary_extra(s: VerifySummary) -> str:
    out = [
        f"Read {s.bytes_read / 1e6:,.1f} MB in {s.seconds:.1f} s ({s.mb_per_s:,.1f} MB/s)"
        f" of {s.catalogued:,} catalogued files"
    ]
    if s.seed is not None:
        out.append(f"Sample seed: {s.seed}")
    if s.resumed_from is not None:
        out.append(f"Resumed the verification begun at {s.resumed_from.isoformat()}")
    if s.manifest is not None:
        left = f"; {s.manifest_left_out} not ok, left out" if s.manifest_left_out else ""
        out.append(f"Manifest: {s.manifest} ({s.manifest_files:,} files{left})")
    out += list(s.notes)
    return "".join(line + "\n" for line in out)

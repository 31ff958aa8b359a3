"""The journal: what a run is about to do, written before it does it.

Execute records an *intent* for a batch of transfers (one committed, fsynced
transaction) before touching any of them, and *settles* the batch afterwards
(the catalog rows of the files now in the library, in the same transaction).
A run killed at any moment leaves intents without a settlement; the next run's
first stage (importing/recovery.py) reads them with `pending`, judges each from
the disk, and execute finishes or undoes it and settles it here.

After a run, the entries of the transfers that happened (and failed) stay: they are
the run log that `runs` lists and `undo` reverses (library/runlog.py). Recovery only
ever reads `intent` entries. An undo's entries (restore, uncopy) name the library file
as their source and its original place, absolute, as their destination.

This module also names what a killed transfer can leave on disk, so that recovery
recognises it and nothing else: temporary files (`.NAME.po-tmp-…`) and the
placeholder of a name claimed on a file system without atomic renames.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from ..core.textsafe import path_text, text_path
from ..core.values import (
    Action,
    Analysis,
    Decision,
    FileKind,
    Outcome,
    RecoveryStep,
    ScanEntry,
    Status,
)
from .catalog import Catalog, decode, encode

TEMP_MARK = ".po-tmp-"  # a transfer's temporary file: `.NAME.po-tmp-PID-RANDOM`
CLAIM_MARK = b"\0photoorganiser claim "  # a name claimed without atomic renames (exFAT)


UNFINISHED = "unfinished-move"  # a journal state kept until a later move run finishes it


class JournalError(Exception):
    """The journal could not be written: no further file may be touched."""


def claim_content(content_hash: str) -> bytes:
    """What a name claimed without an atomic no-clobber primitive holds until the verified
    copy replaces it: recognisable, so recovery removes it after a kill."""
    return CLAIM_MARK + content_hash.encode()


def is_claim(path: Path, content_hash: str) -> bool:
    """`path` holds exactly the placeholder of a claim for this content, nothing else."""
    expected = claim_content(content_hash)
    try:
        st = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(expected):
            return False
        with open(path, "rb") as f:
            return f.read(len(expected) + 1) == expected
    except OSError:
        return False


def remove_temporaries(destination: Path) -> int:
    """Remove what `temporaries_of` finds (a killed run's); how many went."""
    removed = 0
    for leftover in temporaries_of(destination):
        with contextlib.suppress(OSError):
            os.unlink(leftover)
            removed += 1
    return removed


def temporaries_of(destination: Path) -> list[Path]:
    """The temporary files a transfer to `destination` may have left (never final names)."""
    prefix = f".{destination.name}{TEMP_MARK}"
    try:
        with os.scandir(destination.parent) as it:
            return [destination.parent / e.name for e in it if e.name.startswith(prefix)]
    except OSError:
        return []


def _runs(states: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(state, id) pairs as (state, first id, last id) runs of consecutive ids with one
    state: a batch's intents have consecutive ids, and most end alike (one statement
    where there were a thousand)."""
    runs: list[list] = []
    for state, journal_id in states:
        if runs and runs[-1][0] == state and runs[-1][2] + 1 == journal_id:
            runs[-1][2] = journal_id
        else:
            runs.append([state, journal_id, journal_id])
    return [(state, first, last) for state, first, last in runs]


class Journal:
    def __init__(self, catalog: Catalog, run_id: str) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self._records: dict[int, str] = {}  # intents' analyses as written: settle reuses them

    def intend(self, transfers: Sequence[Decision]) -> list[int]:
        """Record the transfers about to happen; durable before this returns."""
        try:
            return self._intend(transfers)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot write the library's journal ({exc})") from exc

    def _intend(self, transfers: Sequence[Decision]) -> list[int]:
        # One statement for the batch, one durable commit. Settlements left pending
        # (`settle`) go in the same commit once there are SETTLE_EVERY of them.
        unsettled = self.catalog.unsettled
        rows = list(unsettled) if _due(unsettled) else []
        self.catalog.defer(None)  # written in this commit, or still left for later
        records = [encode(d.analysis) for d in transfers]
        try:
            with (
                self.catalog.roomy() if rows else nullcontext(),
                self.catalog.transaction() as conn,
            ):
                if rows:
                    self._write(rows)
                before = conn.execute("SELECT max(id) FROM journal").fetchone()[0] or 0
                conn.executemany(
                    "INSERT INTO journal (run_id, action, source, destination, size, hash,"
                    " record, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'intent')",
                    [
                        (
                            self.run_id,
                            d.action.value,
                            path_text(d.source),
                            _stored_destination(self.catalog, d),
                            d.entry.size,
                            d.analysis.hash,
                            record,
                        )
                        for d, record in zip(transfers, records, strict=True)
                    ],
                )
                ids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM journal WHERE id > ? ORDER BY id", (before,)
                    )
                ]
            del unsettled[: len(rows)]
        finally:
            if unsettled:
                self.catalog.defer(self._write_pending)
        if len(ids) != len(transfers):  # pragma: no cover - one writer holds the lock
            raise sqlite3.DatabaseError("the journal's new entries could not be told apart")
        self._records.update(zip(ids, records, strict=True))
        return ids

    def settle(self, done: Sequence[tuple[int, Outcome]]) -> None:
        """The batch's outcomes, and the catalog rows of what is now in the library.

        Imports' settlements are gathered in memory (each placed file's stat taken now)
        and written SETTLE_EVERY at a time (or once their files hold SETTLE_BYTES), in
        the commit of a later batch's intents, or
        before anything else reads or writes the catalog, or when it is closed: this
        run always reads them. Nothing needs them on the disk sooner: until they are,
        the intents they settle are, and a killed run's recovery judges those from the
        disk as it always has. (Written one transaction per batch, a settlement cost
        ~150 pages rewritten, most of them in the two indexes by hash.) Undo's and
        recovery's settlements are written at once, as before.

        If this cannot be written, the intents stay and the next run's recovery
        records these files from the disk; this run stops touching files."""
        try:
            self._settle(done)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot write the library's catalog ({exc})") from exc

    def _settle(self, done: Sequence[tuple[int, Outcome]]) -> None:
        gathered = [
            (
                journal_id,
                outcome,
                os.stat(outcome.decision.destination, follow_symlinks=False)
                if outcome.in_library
                else None,
            )
            for journal_id, outcome in done
        ]
        if any(_special(o) for _i, o, _st in gathered):
            self.catalog.write_pending()
            with self.catalog.transaction():
                self._write(gathered)
            return
        self.catalog.unsettled.extend(gathered)
        self.catalog.defer(self._write_pending)

    def _write_pending(self) -> None:
        """The settlements gathered, in one transaction (Catalog.defer calls this)."""
        rows = list(self.catalog.unsettled)
        self.catalog.unsettled.clear()  # written now, or left to recovery
        if rows and self.catalog.conn.in_transaction:  # a caller's own: written in it
            self._write(rows)
        elif rows:
            with self.catalog.roomy(), self.catalog.transaction():
                self._write(rows)

    def _write(self, gathered: list[tuple[int, Outcome, os.stat_result | None]]) -> None:
        """Settlements, in the caller's transaction: a few statements for many."""
        conn = self.catalog.conn
        placed: list[tuple] = []  # (destination, stat, analysis, run id, source, record)
        gone: list[Path] = []  # sources moved: their cached analyses go
        states: list[tuple[str, int]] = []

        def flush() -> None:  # the rows gathered so far, before any other statement
            self.catalog.put_files(placed)
            self.catalog.forget_sources(gone)
            conn.executemany("UPDATE journal SET state = ? WHERE id BETWEEN ? AND ?", _runs(states))
            placed.clear()
            gone.clear()
            states.clear()

        for journal_id, outcome, st in gathered:
            d = outcome.decision
            recovery = d.recovery
            if _undoes(d):
                flush()
                self._settle_undo(conn, journal_id, outcome)
                continue
            moved = d.action is Action.MOVE or (
                recovery is not None and recovery.action is Action.MOVE
            )
            if st is not None:
                run_id = recovery.run_id if recovery else self.run_id
                record = self._records.pop(journal_id, None)
                placed.append((d.destination, st, d.analysis, run_id, d.source, record))
            if outcome.status is Status.DONE and moved:
                gone.append(d.source)
            if d.action is Action.FINISH_MOVE:  # an earlier move is complete now
                if outcome.status is Status.DONE:
                    flush()
                    conn.execute(  # the run log keeps it, as a move done
                        "UPDATE journal SET state = 'done' WHERE state = ? AND source = ?",
                        (UNFINISHED, path_text(d.source)),
                    )
                    self.catalog.forget_sources([d.source])
                continue
            state = "done" if outcome.status is Status.DONE else "failed"
            if recovery is not None:
                state = recovery.step.value if outcome.status is Status.DONE else "kept"
            if outcome.status is Status.FAILED and outcome.in_library and moved:
                state = UNFINISHED  # placed, source kept: a later move run finishes it
            states.append((state, journal_id))
        flush()

    def _settle_undo(self, conn: sqlite3.Connection, journal_id: int, outcome: Outcome) -> None:
        """An undo's step (or its recovery): a library file moved back out, or a copy
        removed. Done: the library no longer has it, and its import is as if it never was."""
        d = outcome.decision
        recovery = d.recovery
        done = outcome.status is Status.DONE and (
            recovery is None or recovery.step in (RecoveryStep.RECORD, RecoveryStep.FINISH_MOVE)
        )
        if done:
            path = self.catalog.relative(d.source)
            self.catalog.remove_files([path])
            self.catalog.history.undone(path, d.analysis.hash)
            conn.execute(  # a move that kept its original, undone: nothing left to finish
                "DELETE FROM journal WHERE state = ? AND source = ? AND destination = ?",
                (UNFINISHED, path_text(d.destination), path_text(path)),
            )
        state = "done" if outcome.status is Status.DONE else "failed"
        if recovery is not None:
            state = recovery.step.value if outcome.status is Status.DONE else "kept"
        conn.execute("UPDATE journal SET state = ? WHERE id = ?", (state, journal_id))

    def close(self) -> None:
        """Forget settled entries that changed nothing, this run's and the recovered ones
        (the reports keep the story). Intents stay, and so does the run log: the transfers
        that happened (LOGGED), which `undo` reverses, and the ones that failed (counted
        by `runs`)."""
        kept = ("intent", UNFINISHED, "failed", *LOGGED)
        with self.catalog.transaction() as conn:
            marks = ", ".join("?" * len(kept))
            conn.execute(f"DELETE FROM journal WHERE state NOT IN ({marks})", kept)


# Settlements of imports written per transaction (see Journal.settle), at most; and
# sooner once their files hold SETTLE_BYTES: a killed run's recovery reads every file
# whose intent is not settled again (to know its content arrived whole).
SETTLE_EVERY = 4096
SETTLE_BYTES = 256 << 20


def _due(unsettled: list[tuple[int, Outcome, os.stat_result | None]]) -> bool:
    """Whether the settlements gathered are to be written with the next intents."""
    if len(unsettled) >= SETTLE_EVERY:
        return True
    return sum(st.st_size for _i, _o, st in unsettled if st is not None) >= SETTLE_BYTES


def _special(outcome: Outcome) -> bool:
    """An undo's or a recovery's settlement, or a move finished: written at once."""
    d = outcome.decision
    return d.recovery is not None or _undoes(d) or d.action is Action.FINISH_MOVE


# The states of journal entries whose transfer happened: the run log (library/runlog.py).
LOGGED = ("done", RecoveryStep.RECORD.value, RecoveryStep.FINISH_MOVE.value)

_UNDOING = (Action.RESTORE, Action.UNCOPY)


def _undoes(d: Decision) -> bool:
    return d.action in _UNDOING or (d.recovery is not None and d.recovery.action in _UNDOING)


def _stored_destination(catalog: Catalog, d: Decision) -> str:
    """Relative to the library root; absolute for a file going back out of it (undo)."""
    if d.action in _UNDOING:
        return path_text(d.destination_text)
    return path_text(catalog.relative(d.destination_text))


@dataclass(frozen=True, slots=True)
class Intent:
    """A transfer a killed run had recorded and not settled."""

    id: int
    run_id: str
    action: Action
    source: Path
    destination: Path
    size: int
    hash: str
    analysis: Analysis


def pending(catalog: Catalog) -> list[Intent]:
    """Every transfer a killed run left half-way, oldest first."""
    rows = catalog.conn.execute(
        "SELECT id, run_id, action, source, destination, size, hash, record FROM journal"
        " WHERE state = 'intent' ORDER BY id"
    ).fetchall()
    intents = []
    for row in rows:
        entry = decode_entry(catalog, row)
        if entry is None:  # pragma: no cover - only analyses are journalled
            continue
        source, destination, analysis = entry
        intents.append(
            Intent(
                row["id"],
                row["run_id"],
                Action(row["action"]),
                source,
                destination,
                row["size"],
                row["hash"],
                analysis,
            )
        )
    return intents


def decode_entry(catalog: Catalog, row) -> tuple[Path, Path, Analysis] | None:
    """A journal row's source, destination (relative to the library, or absolute for an
    undo's move back) and the analysis it recorded."""
    source = Path(text_path(row["source"]))
    destination = catalog.root / text_path(row["destination"])  # absolute stays absolute
    kind = FileKind(json.loads(row["record"]).get("kind", FileKind.IMAGE.value))
    analysis = decode(row["record"], ScanEntry(source, kind, size=row["size"]))
    return (source, destination, analysis) if isinstance(analysis, Analysis) else None

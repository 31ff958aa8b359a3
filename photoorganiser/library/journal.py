"""Write what a run is about to do before doing it; finish or undo it after a kill.

Execute records an *intent* for a batch of transfers (one committed, fsynced
transaction) before touching any of them, and *settles* the batch afterwards
(the catalog rows of the files now in the library, in the same transaction).
A run killed at any moment leaves intents without a settlement; the next run
calls `recover`, which looks at the disk for each one:

- its temporary files are removed (they never carry a final name);
- the destination holds the expected content -> the transfer happened: the
  catalog row is added and, for a move, a source still present is removed
  (its verified copy is in place);
- the destination is missing -> nothing happened: the source is where it was;
- the destination holds something else -> not ours: left alone, reported.

So after any kill every photo is in the inbox or the library (never neither),
no partial file has a final name, and the catalog matches the disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.hashing import hash_file
from ..core.textsafe import path_text, text_path
from ..core.values import Action, Decision, FileKind, Outcome, ScanEntry, Status
from ..importing.execute import TEMP_MARK, JournalError, claim_content
from .catalog import Catalog, decode, encode

log = logging.getLogger("photoorganiser")


class Journal:
    def __init__(self, catalog: Catalog, run_id: str) -> None:
        self.catalog = catalog
        self.run_id = run_id

    def intend(self, transfers: Sequence[Decision]) -> list[int]:
        """Record the transfers about to happen; durable before this returns."""
        try:
            return self._intend(transfers)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot write the library's journal ({exc})") from exc

    def _intend(self, transfers: Sequence[Decision]) -> list[int]:
        ids = []
        with self.catalog.transaction() as conn:
            for d in transfers:
                cur = conn.execute(
                    "INSERT INTO journal (run_id, action, source, destination, size, hash, record,"
                    " state) VALUES (?, ?, ?, ?, ?, ?, ?, 'intent')",
                    (
                        self.run_id,
                        d.action.value,
                        path_text(d.source),
                        path_text(self.catalog.relative(d.destination)),
                        d.entry.size,
                        d.analysis.hash,
                        encode(d.analysis),
                    ),
                )
                ids.append(cur.lastrowid)
        return ids

    def settle(self, done: Sequence[tuple[int, Outcome]]) -> None:
        """The batch's outcomes, and the catalog rows of what is now in the library.

        If this cannot be written, the intents stay and the next run's recovery
        records these files from the disk; this run stops touching files."""
        try:
            self._settle(done)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot write the library's catalog ({exc})") from exc

    def _settle(self, done: Sequence[tuple[int, Outcome]]) -> None:
        with self.catalog.transaction() as conn:
            for journal_id, outcome in done:
                d = outcome.decision
                if outcome.in_library:
                    st = os.stat(d.destination)
                    self.catalog.put_file(
                        d.destination,
                        st.st_size,
                        st.st_mtime_ns,
                        st.st_ino,
                        d.analysis,
                        run_id=self.run_id,
                        source=d.source,
                    )
                if outcome.status is Status.DONE and d.action is Action.MOVE:
                    self.catalog.forget_sources([d.source])
                state = "done" if outcome.status is Status.DONE else "failed"
                conn.execute("UPDATE journal SET state = ? WHERE id = ?", (state, journal_id))

    def close(self) -> None:
        """Forget this run's settled entries (the report keeps the story)."""
        with self.catalog.transaction() as conn:
            conn.execute(
                "DELETE FROM journal WHERE run_id = ? AND state != 'intent'", (self.run_id,)
            )


@dataclass(frozen=True, slots=True)
class Recovered:
    source: Path
    destination: Path
    state: str  # recovered / undone / abandoned / missing / kept
    message: str
    run_id: str = ""


def recover(catalog: Catalog) -> list[Recovered]:
    """Finish or undo every transfer that a killed run left half-way. Never raises for
    one file: what could not be finished is said in its Recovered value."""
    rows = catalog.conn.execute(
        "SELECT id, run_id, action, source, destination, size, hash, record FROM journal"
        " WHERE state = 'intent' ORDER BY id"
    ).fetchall()
    results = []
    for row in rows:
        try:
            result = _recover_one(catalog, row)
        except OSError as exc:
            src, dst = Path(row["source"]), catalog.root / row["destination"]
            result = Recovered(src, dst, "kept", f"could not recover {src} -> {dst}: {exc}")
        results.append(dataclasses.replace(result, run_id=row["run_id"]))
        log.debug("recovery: %s", result.message)
        with catalog.transaction() as conn:
            conn.execute("UPDATE journal SET state = ? WHERE id = ?", (result.state, row["id"]))
    if results:
        with catalog.transaction() as conn:
            conn.execute("DELETE FROM journal WHERE state != 'intent'")
        for run_id in dict.fromkeys(r.run_id for r in results):
            mine = [r for r in results if r.run_id == run_id]
            counts = ", ".join(
                f"{sum(r.state == s for r in mine)} {s}"
                for s in dict.fromkeys(r.state for r in mine)
            )
            log.warning("recovered interrupted run %s: %s (details in the report)", run_id, counts)
    return results


def _recover_one(catalog: Catalog, row) -> Recovered:
    src = Path(text_path(row["source"]))
    dst = catalog.root / text_path(row["destination"])
    for leftover in glob.glob(glob.escape(str(dst.parent / f".{dst.name}{TEMP_MARK}")) + "*"):
        with contextlib.suppress(OSError):
            os.unlink(leftover)
    if _is_claim(dst, row["hash"]):  # a name claimed on a file system without atomic renames
        os.unlink(dst)
    if _holds(dst, row["size"], row["hash"]):
        kind = FileKind(json.loads(row["record"]).get("kind", FileKind.IMAGE.value))
        analysis = decode(row["record"], ScanEntry(src, kind, size=row["size"]))
        st = os.stat(dst)
        kept = None
        if row["action"] == Action.MOVE.value and _holds(src, row["size"], row["hash"]):
            try:
                os.unlink(src)  # its verified copy is in place: finish the move
            except OSError as exc:
                kept = exc.strerror or str(exc)
        with catalog.transaction():
            catalog.put_file(dst, st.st_size, st.st_mtime_ns, st.st_ino, analysis, source=src)
            if row["action"] == Action.MOVE.value and kept is None:
                catalog.forget_sources([src])
        if kept is not None:
            return Recovered(
                src,
                dst,
                "kept",
                f"{dst} holds the verified copy of {src}, but the original could not be"
                f" removed ({kept}); it stays where it is",
            )
        return Recovered(src, dst, "recovered", f"finished {row['action']} of {src} to {dst}")
    if os.path.lexists(dst):
        return Recovered(src, dst, "abandoned", f"{dst} holds another file; {src} left where it is")
    if os.path.lexists(src):
        return Recovered(src, dst, "undone", f"{row['action']} of {src} had not happened")
    return Recovered(src, dst, "missing", f"{src} and {dst} are both gone (moved by hand?)")


def _is_claim(path: Path, content_hash: str) -> bool:
    """The placeholder execute writes under a final name before replacing it (see
    execute._publish's fallback): exactly that content, nothing else."""
    expected = claim_content(content_hash)
    try:
        st = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(expected):
            return False
        with open(path, "rb") as f:
            return f.read(len(expected) + 1) == expected
    except OSError:
        return False


def _holds(path: Path, size: int, content_hash: str) -> bool:
    try:
        if os.stat(path, follow_symlinks=False).st_size != size:
            return False
        return hash_file(path) == content_hash
    except OSError:
        return False

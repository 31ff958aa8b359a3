"""The run log: the library's runs, and what each run's transfers did.

The catalog's `runs` table says when each run started and ended, what it was and
where its report is; the journal keeps, after a run, the entries of the transfers
that happened (journal.LOGGED: moved, copied, moved back, copy removed). `runs`
lists them; `undo` reverses one run from them. Read only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..core.textsafe import text_path
from ..core.values import Action, Analysis
from .catalog import Catalog
from .journal import LOGGED, UNFINISHED, decode_entry

# The commands whose runs change files through execute (and can be undone).
UNDOABLE = ("import", "apply", "undo", "watch")  # a watch batch is an import


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    started: str
    finished: str
    command: str
    status: str
    moved: int
    copied: int
    moved_back: int
    copies_removed: int
    failed: int
    report: str

    @property
    def kind(self) -> str:
        """The command's name: import, apply, undo, sync... (legacy `photo-import`: import)."""
        first = self.command.split(" ", 1)[0] if self.command else ""
        return "import" if first.startswith("-") else first

    @property
    def changed(self) -> int:
        return self.moved + self.copied + self.moved_back + self.copies_removed


@dataclass(frozen=True, slots=True)
class Logged:
    """One transfer a run made: `source` -> `destination`, both absolute."""

    id: int
    action: Action
    source: Path
    destination: Path
    size: int
    hash: str
    analysis: Analysis


def list_runs(catalog: Catalog) -> list[RunInfo]:
    """Every run the catalog knows, oldest first, with what its transfers did."""
    counts: dict[str, Counter[str]] = {}
    for run_id, action, state, n in catalog.conn.execute(
        "SELECT run_id, action, state, count(*) FROM journal GROUP BY run_id, action, state"
    ):
        if state == UNFINISHED:  # placed in the library, its original kept
            key = Action.COPY.value
        else:
            key = action if state in LOGGED else ("failed" if state in ("failed", "kept") else "")
        counts.setdefault(run_id, Counter())[key] += n
    runs = []
    for row in catalog.conn.execute(
        "SELECT id, started_at, finished_at, command, status, report FROM runs"
        " ORDER BY started_at, rowid"
    ):
        c = counts.get(row[0], Counter())
        runs.append(
            RunInfo(
                row[0],
                row[1] or "",
                row[2] or "",
                row[3] or "",
                row[4] or "",
                c[Action.MOVE.value],
                c[Action.COPY.value],
                c[Action.RESTORE.value],
                c[Action.UNCOPY.value],
                c["failed"],
                text_path(row[5] or ""),
            )
        )
    return runs


class AmbiguousRun(LookupError):
    """A beginning of a run id that several runs share: `ids` are theirs."""

    def __init__(self, wanted: str, ids: list[str]) -> None:
        super().__init__(f"run {wanted} is ambiguous: {', '.join(ids)}")
        self.ids = ids


def find_run(catalog: Catalog, wanted: str | None) -> RunInfo | None:
    """The run named (its id, or a unique beginning of it: AmbiguousRun if several
    share it), or by default the last
    finished import, apply, watch batch or undo that changed a file (a nightly run that
    found nothing new is passed over: undoing it would do nothing; the last such run if
    none changed anything)."""
    runs = list_runs(catalog)
    if wanted is None:
        done = [r for r in runs if r.status == "finished" and r.kind in UNDOABLE]
        changed = [r for r in done if r.changed]
        return changed[-1] if changed else (done[-1] if done else None)
    exact = [r for r in runs if r.id == wanted]
    if exact:
        return exact[0]
    matching = [r for r in runs if r.id.startswith(wanted)]
    if len(matching) > 1:
        raise AmbiguousRun(wanted, [r.id for r in matching])
    return matching[0] if matching else None


def logged(catalog: Catalog, run_id: str) -> list[Logged]:
    """The transfers that run made, in the order it made them."""
    states = (*LOGGED, UNFINISHED)
    placeholders = ", ".join("?" * len(states))
    rows = catalog.conn.execute(
        "SELECT id, action, source, destination, size, hash, record, state FROM journal"
        f" WHERE run_id = ? AND state IN ({placeholders}) ORDER BY id",
        (run_id, *states),
    ).fetchall()
    # A file the run put in the library that was moved or renamed there since (sync
    # follows it in the history) is undone where it is now, not reported as undone.
    moves = catalog.history.moves_of(run_id)
    found = []
    for row in rows:
        entry = decode_entry(catalog, row)
        if entry is None:  # pragma: no cover - only analyses are journalled
            continue
        source, destination, analysis = entry
        now = moves.get((text_path(row["destination"]), row["hash"])) if moves else None
        if now is not None:
            destination = catalog.root / now
        found.append(
            Logged(
                row["id"],
                # a move that could not remove its original: undone as the copy it is
                Action.COPY if row["state"] == UNFINISHED else Action(row["action"]),
                source,
                destination,
                row["size"],
                row["hash"],
                analysis,
            )
        )
    return found

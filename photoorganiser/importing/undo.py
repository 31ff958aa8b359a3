"""Undo, the plan: one decision per transfer a run made, that reverses it.

- a file the run moved into the library goes back where it came from (RESTORE);
- a file the run copied is removed from the library (UNCOPY), only while the original
  still holds the same content;
- what an undo did is done again (undoing an undo redoes): a file moved back is moved
  into the library again (MOVE), a copy removed is copied again (COPY).

Each file is checked against the hash the run recorded before anything is decided; a
file changed since, or a place now taken, is an error row and is left alone. A change
found undone already (a re-run after a kill) is said, and not done twice. This stage only
reads; execute does the rest, journalled like every change.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.hashing import holds
from ..core.values import Action, Analysis, Decision, FileKind, Reason, ScanEntry, Why
from ..library.index import SIDECAR_OF
from ..library.runlog import Logged

# What undoes each logged action.
_REVERSE = {
    Action.MOVE: Action.RESTORE,
    Action.COPY: Action.UNCOPY,
    Action.RESTORE: Action.MOVE,
    Action.UNCOPY: Action.COPY,
}


def plan_undo(run_id: str, transfers: Sequence[Logged]) -> list[Decision]:
    """The decisions that reverse these transfers of run `run_id`, last first."""
    return [_decide(run_id, t) for t in reversed(transfers) if t.action in _REVERSE]


def sidecars_staying(
    decisions: Sequence[Decision], root: Path, run_of: Callable[[str], str | None]
) -> list[Decision]:
    """The sidecars left behind in the library: beside a photo these decisions take out
    of it (moved back, copy removed), not taken by them, because another run put them
    there (a watch batch after the photo's: `run_of`, from the library's history) or
    nobody did (added by hand). Each run is undone on its own: they stay, and are said."""
    leaving = {d.source for d in decisions if d.action in (Action.RESTORE, Action.UNCOPY)}
    staying: list[Decision] = []
    seen: set[Path] = set()
    for d in decisions:
        entry = d.entry
        if d.action not in (Action.RESTORE, Action.UNCOPY) or entry is None:
            continue
        if entry.kind not in (FileKind.IMAGE, FileKind.RAW, FileKind.VIDEO):
            continue
        photo = d.source
        try:
            names = os.listdir(photo.parent)
        except OSError:
            continue
        full, stem = photo.name.lower(), photo.stem.lower()
        for name in sorted(names):
            base, dot, ext = name.rpartition(".")
            kinds = SIDECAR_OF.get(f".{ext.lower()}", ()) if dot else ()
            if entry.kind not in kinds or base.lower() not in (full, stem):
                continue
            sidecar = photo.parent / name
            if sidecar in leaving or sidecar in seen or not os.path.isfile(sidecar):
                continue
            seen.add(sidecar)
            try:
                run = run_of(str(sidecar.relative_to(root)))
            except ValueError:
                run = None
            reason = Reason(Why.UNDO_SIDECAR_STAYS, other=photo, detail=run or "")
            staying.append(Decision(sidecar, Action.IGNORE, reason))
    return staying


def _decide(run_id: str, t: Logged) -> Decision:
    action = _REVERSE[t.action]
    # Where the file is now (`here`), where it goes back to (`back`): every logged entry
    # went source -> destination (an undo's from the library out, the others in).
    here, back = t.destination, t.source
    size, content_hash = t.size, t.hash

    def refused(why: Why, error: str, **facts) -> Decision:
        reason = Reason(why, detail=run_id, **facts)
        return Decision(here, Action.ERROR, reason, destination=back, error=error)

    def already(place: Path) -> Decision:
        reason = Reason(Why.UNDO_DONE, place=place, detail=run_id)
        return Decision(here, Action.IGNORE, reason, destination=back)

    if action is Action.UNCOPY:  # here: the library's copy; back: the original
        if not os.path.lexists(here):
            return already(here)
        if not holds(here, size, content_hash):
            return refused(Why.UNDO_CHANGED, "changed since the run; left alone")
        if not holds(back, size, content_hash):
            return refused(
                Why.UNDO_ORIGINAL, "the original is gone or changed; copy kept", other=back
            )
        reason = Reason(Why.UNDO, other=back, detail=run_id)
    elif action is Action.COPY:  # here: the original; back: the library's place
        if holds(back, size, content_hash):
            return already(back)
        if not holds(here, size, content_hash):
            return refused(Why.UNDO_CHANGED, "the original is gone or changed; not copied")
        if os.path.lexists(back):
            return refused(Why.UNDO_TAKEN, "the place is taken; nothing overwritten", place=back)
        reason = Reason(Why.UNDO, place=back, detail=run_id)
    else:  # a move either way: here -> back
        if not os.path.lexists(here) and holds(back, size, content_hash):
            return already(back)
        if not holds(here, size, content_hash):
            return refused(Why.UNDO_CHANGED, "changed or gone since the run; left alone")
        if os.path.lexists(back):
            return refused(Why.UNDO_TAKEN, "the place is taken; nothing overwritten", place=back)
        reason = Reason(Why.UNDO, place=back, detail=run_id)
    try:
        st = os.stat(here, follow_symlinks=False)
    except OSError as exc:
        return refused(Why.UNDO_CHANGED, f"cannot read: {exc.strerror}")
    entry = ScanEntry(here, t.analysis.entry.kind, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    analysis: Analysis = dataclasses.replace(t.analysis, entry=entry)
    return Decision(here, action, reason, destination=back, analysis=analysis, entry=entry)

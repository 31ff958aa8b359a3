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
from collections.abc import Sequence
from pathlib import Path

from ..core.hashing import holds
from ..core.values import Action, Analysis, Decision, Reason, ScanEntry, Why
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

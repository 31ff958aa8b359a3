"""Stage 0, recover: what a killed run left half-way, judged from the disk.

A run records an *intent* in the journal before each batch of transfers and
settles it after. A run killed in between (kill -9, power loss) leaves intents;
the next run, before anything else, looks at the disk for each one and decides:

- the destination holds the expected content: the transfer happened. For a
  move whose source is still there (its verified copy is in place), the source
  is removed (`finish-move`); otherwise only the catalog learns it (`record`);
- the destination is missing and the source is there: nothing happened (`undone`);
- the destination holds another file: not ours, left alone (`abandon`);
- both are gone: said (`missing`).

This stage only reads. What must change on disk (removing a source, a temporary
file, a claim placeholder) is done by execute, with its checks and its error
handling: a source that cannot be removed becomes a report row, never a crash.
So after any kill every photo is in the inbox or the library (never neither), no
partial file has a final name, and the catalog matches the disk.
"""

from __future__ import annotations

import os

from ..core.hashing import holds
from ..core.values import Action, Decision, Reason, Recovery, RecoveryStep, Why
from ..library.catalog import Catalog
from ..library.journal import Intent, is_claim, pending


def plan_recovery(catalog: Catalog | None) -> list[Decision]:
    """One RECOVER decision per unsettled intent of a killed run."""
    if catalog is None:
        return []
    return [_decide(intent) for intent in pending(catalog)]


def _decide(i: Intent) -> Decision:
    src, dst = i.source, i.destination
    if i.action is Action.UNCOPY:  # undo removing a copy (src) whose original is dst
        if os.path.lexists(src):
            step, reason = RecoveryStep.UNDONE, f"the removal of {src} had not happened"
        else:
            step, reason = RecoveryStep.RECORD, f"{src} had been removed (the original is kept)"
    elif holds(dst, i.size, i.hash):
        if i.action.moves and holds(src, i.size, i.hash):
            step, reason = RecoveryStep.FINISH_MOVE, f"finish the move of {src} to {dst}"
        else:
            step, reason = RecoveryStep.RECORD, f"the {i.action.value} to {dst} had happened"
    elif os.path.lexists(dst) and not is_claim(dst, i.hash):
        step, reason = RecoveryStep.ABANDON, f"{dst} holds another file; {src} left where it is"
    elif os.path.lexists(src):
        step, reason = RecoveryStep.UNDONE, f"the {i.action.value} of {src} had not happened"
    else:
        step, reason = RecoveryStep.MISSING, f"{src} and {dst} are both gone (moved by hand?)"
    return Decision(
        src,
        Action.RECOVER,
        Reason(Why.RECOVERY, detail=f"{i.run_id}: {reason}"),
        destination=dst,
        analysis=i.analysis,
        entry=i.analysis.entry,
        recovery=Recovery(i.id, i.run_id, step, i.action),
    )

"""Stage 4b, deleted stays deleted: after collisions, before anything is touched.

A file about to be imported whose content the library imported before, and which is
not in the library now (collisions looked for it everywhere, by hash), was removed
from the library since, by a person: it is `skip-deleted`, never transferred, with
the date and the name it was imported as. `--reimport-deleted` brings such files back
(this stage is then not run). Content in the library now stays `skip-exists`.

What travels with a skipped file follows it: its other copies in this run are
skip-deleted too, its sidecars stay where they are, and a Live Photo video or RAW
partner that is new goes on its own.

The history is only read here, so a dry run (read-only catalog) says the same.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from ..core.values import Action, Decision, FileKind, Reason, Why
from ..library.history import History, Imported


def skip_deleted(
    decisions: Sequence[Decision], history: History | None, root: Path
) -> list[Decision]:
    """The decisions, with content imported before and removed since skipped."""
    candidates = [d for d in decisions if _is_media(d) and d.action.transfers]
    if history is None or not candidates:
        return list(decisions)
    before = history.imported(d.analysis.hash for d in candidates)
    if not before:
        return list(decisions)
    out = {d.source: d for d in decisions}
    skipped: set[Path] = set()
    for d in decisions:
        if not _is_media(d) or not (d.action.transfers or d.action is Action.SKIP_DUPLICATE):
            continue
        imported = before.get(d.analysis.hash)
        if imported is not None:
            out[d.source] = _skipped(d, imported, root)
            skipped.add(d.source)
    for d in decisions:
        current = out[d.source]
        if current.follows not in skipped or d.source in skipped or not current.action.transfers:
            continue
        if _is_sidecar(current):  # its photo stays out of the library: so does it
            out[d.source] = dataclasses.replace(
                current,
                action=Action.IGNORE,
                destination=None,
                follows=None,
                reason=Reason(Why.SIDECAR_LEFT, other=d.follows, detail=Action.SKIP_DELETED.value),
            )
        else:  # a new partner of a skipped photo: imported on its own
            own = dataclasses.replace(current.reason, leader=None, live_video=False)
            out[d.source] = dataclasses.replace(current, follows=None, reason=own)
    return [out[d.source] for d in decisions]


def _skipped(d: Decision, imported: Imported, root: Path) -> Decision:
    place = root / imported.library_path
    # The name it was imported as is there, with other content (collisions found this
    # content nowhere in the library): edited in place, or replaced. Said as such, not
    # as removed: `other` names the file there now.
    there = place if os.path.lexists(place) else None
    return dataclasses.replace(
        d,
        action=Action.SKIP_DELETED,
        destination=None,
        follows=None,
        duplicate_of=None,
        reason=Reason(Why.DELETED, place=place, other=there, detail=imported.imported_on),
    )


def _is_sidecar(d: Decision) -> bool:
    return d.entry is not None and d.entry.kind is FileKind.SIDECAR


def _is_media(d: Decision) -> bool:
    return d.analysis is not None and not _is_sidecar(d)

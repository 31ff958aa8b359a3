"""The first stages of every run that holds the library: recover what a killed run left
half-way (through execute, like any change), then adopt a library that has files but
no catalog yet (index what is there). Both appear in the run's report."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable

from ..core.values import Decision, Outcome, Status
from ..importing.execute import execute, simulate
from ..importing.recovery import plan_recovery
from ..library.session import LibrarySession
from ..library.sync import SyncResult, sync_library
from ..media.analyse import AnalyseOptions

log = logging.getLogger("photoorganiser")


def recover(
    lib: LibrarySession, report: Callable[[Iterable[Outcome]], None], *, dry_run: bool
) -> list[str]:
    """Stage 0: finish or undo a killed run's transfers; a dry run only says what it would
    do. Each file is a row of the report; returns one line per interrupted run, for the
    terminal."""
    decisions = plan_recovery(lib.catalog)
    if not decisions:
        return []
    if dry_run or lib.journal is None:
        outcomes = simulate(decisions)
        report(outcomes)
    else:
        outcomes = execute(decisions, journal=lib.journal, report=report, root=lib.root)
    return recovery_lines(decisions, outcomes, dry_run)


def recovery_lines(decisions: list[Decision], outcomes: list[Outcome], dry_run: bool) -> list[str]:
    """One line per interrupted run: what recovery did (or would do) with its files."""
    by_run: dict[str, Counter[str]] = {}
    for o in outcomes:
        if o.decision.recovery is None:
            continue
        step = o.decision.recovery.step.value
        if o.status is Status.FAILED:
            step = f"{step} failed"
        by_run.setdefault(o.decision.recovery.run_id, Counter())[step] += 1
    verb = "would recover" if dry_run else "recovered"
    return [
        f"{verb} interrupted run {run_id}: "
        + ", ".join(_said(step, n) for step, n in counts.items())
        + " (details in the report)"
        for run_id, counts in by_run.items()
    ]


# What recovery did with a killed run's files, and what it could not do.
_STEPS = {
    "finish-move": ("moved (the move finished)", "not moved (the move could not finish)"),
    "record": ("recorded in the catalog", "not recorded in the catalog"),
    "undone": ("not transferred yet (left in place)", "not put back in place"),
    "abandon": ("left alone (another file holds the place)",) * 2,
    "missing": ("missing (moved by hand?)",) * 2,
}


def _said(step: str, n: int) -> str:
    """`n` files of a step: "832 files recorded in the catalog"."""
    name = step.removesuffix(" failed")
    done, failed = _STEPS.get(name, (name, f"{name} failed"))
    return f"{n} {'file' if n == 1 else 'files'} {failed if step != name else done}"


def adopt(
    lib: LibrarySession, options: AnalyseOptions, *, workers: int, progress: bool
) -> SyncResult | None:
    """Stage 0b: a library with files but no catalog (or a rebuilt one) is indexed first,
    so "already in the library" is true of what was there before."""
    if not lib.needs_adoption or lib.catalog is None or lib.catalog.readonly:
        return None
    log.warning("no catalog in %s yet: indexing the files already there", lib.root)
    return sync_library(lib.catalog, options, workers=workers, progress=progress)

"""The recovery stage as a run does it (planned from the disk, carried out by execute),
for tests that set up a killed run's journal by hand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from photoorganiser.core.values import RecoveryStep, Status
from photoorganiser.importing.execute import execute
from photoorganiser.importing.recovery import plan_recovery
from photoorganiser.library.catalog import Catalog
from photoorganiser.library.journal import Journal

STATES = {
    RecoveryStep.FINISH_MOVE: "recovered",
    RecoveryStep.RECORD: "recovered",
    RecoveryStep.UNDONE: "undone",
    RecoveryStep.ABANDON: "abandoned",
    RecoveryStep.MISSING: "missing",
}


@dataclass(frozen=True)
class Recovered:
    source: Path
    destination: Path
    state: str
    error: str | None


def recover(catalog: Catalog) -> list[Recovered]:
    outcomes = execute(
        plan_recovery(catalog), journal=Journal(catalog, "recovery"), root=catalog.root
    )
    Journal(catalog, "recovery").close()
    return [
        Recovered(
            o.decision.source,
            o.decision.destination,
            "kept" if o.status is Status.FAILED else STATES[o.decision.recovery.step],
            o.error,
        )
        for o in outcomes
    ]

"""What an undo outside the library's journal did (`undo --quarantine/--journal`, a
dedupe's; `undo --export`, an export's): one report row per file, its status third."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class UndoRows:
    run_id: str  # the run undone
    rows: list[tuple[str, str, str, str, str]]
    report_path: Path
    failing: str  # the status of a file the undo could not take back
    notes: tuple[str, ...] = ()  # said on the terminal after the counts

    @property
    def failed(self) -> int:
        return self.count(self.failing)

    def count(self, status: str) -> int:
        return sum(r[2] == status for r in self.rows)

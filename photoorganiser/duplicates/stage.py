"""The stage protocol: one signature, `(groups, ctx) -> groups`, and a count after each.

Like fclones, every stage takes the candidate groups left by the one before and the
run's `StageContext` (pool size, progress, failures), returns the groups still left,
and `run_stages` logs (DEBUG) how many candidate files and groups remain after it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .values import CandidateGroup, ReadFailure, StageCount

log = logging.getLogger(__name__)

BATCH_FILES = 256  # files per pool task (small files)


class StageContext:
    """What every stage gets besides its groups: the pool size, progress, failures."""

    def __init__(self, workers: int = 1, show_progress: bool = False) -> None:
        self.workers = max(1, workers)
        self.show_progress = show_progress
        self.failures: list[ReadFailure] = []
        self.counts: list[StageCount] = []
        # (path, width, height) of the images the near-duplicate search left out as
        # near-flat or tiny: the report lists them (find.py), never silently drops them
        self.flat: list[tuple[Path, int, int]] = []
        # Work for this thread while the content stage's reads run in others (called once,
        # with the groups already settled before it), or None.
        self.meanwhile: Callable[[list[CandidateGroup]], object] | None = None
        # Called by the sample stage with the path and bytes of a small file it read whole
        # that has an identical peer (exact.sample_worker), or None: find.py describes it
        # from those bytes instead of reading it again.
        self.on_pair: Callable[[str, bytes], object] | None = None

    def note(self, message: str, level: int = logging.INFO) -> None:
        """Log `message`; with progress shown, print it when logging does not show it."""
        log.log(level, message)
        if self.show_progress and not log.isEnabledFor(level):  # else logging shows it
            print(message, file=sys.stderr)

    def record(self, stage: str, groups: Sequence[CandidateGroup]) -> None:
        """Count the candidates left after `stage`, and log the count (DEBUG)."""
        files = sum(len(g.files) for g in groups)
        self.counts.append(StageCount(stage, files, len(groups)))
        self.note(f"{stage:>10}: {files} candidate files in {len(groups)} groups", logging.DEBUG)


Stage = Callable[[list[CandidateGroup], StageContext], list[CandidateGroup]]


def run_stages(
    groups: list[CandidateGroup], stages: Sequence[tuple[str, Stage]], ctx: StageContext
) -> list[CandidateGroup]:
    """Run `stages` in order over `groups`, counting what is left after each."""
    for name, stage in stages:
        groups = stage(groups, ctx)
        ctx.record(name, groups)
    return groups

"""A run's report from start to end, and what the run returns to the terminal."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..core import signals
from ..core.reportfile import (
    ReportHeader,
    ReportUnwritable,
    ReportWriter,
    default_report_path,
    fallback_dirs,
    summary_path_of,
    write_summary,
)
from ..core.values import Action, Outcome, Status
from ..importing.report import COLUMNS, OutcomeReport
from ..library.session import LibrarySession

log = logging.getLogger("photoorganiser")


# Outcomes a run's caller looks at one by one: failures, files not done, files ignored
# (watch tries again what it left). The others (a file taken or set aside as planned: at
# a million files, nearly all) are counted, not kept: their rows are in the report.
KEPT_STATUSES = frozenset({Status.FAILED, Status.NOT_DONE, Status.LATER, Status.KNOWN})


def kept(o: Outcome) -> bool:
    return o.status in KEPT_STATUSES or o.decision.action is Action.IGNORE


@dataclass(frozen=True, slots=True)
class ImportResult:
    outcomes: list[Outcome]  # only those `kept` says: the rest are counted in `counts`
    report_path: Path
    summary_path: Path
    summary: list[tuple[str, int]]
    title: str
    interrupted: int | None = None  # the signal that stopped the run (2, 15, 1)
    notes: tuple[str, ...] = ()  # said on the terminal: where the report went, recovery
    dry_run: bool = False
    counts: Counter[tuple[Status, Action]] = field(default_factory=Counter)  # every outcome

    @property
    def failed(self) -> int:
        return self.count([Status.FAILED], Action)

    def count(self, statuses: Iterable[Status], actions: Iterable[Action]) -> int:
        """Outcomes of one of these statuses and one of these actions."""
        pairs = {(s, a) for s in statuses for a in actions}
        return sum(n for key, n in self.counts.items() if key in pairs)


class RunReport:
    """A run's report from start to end, for every command that acts on files.

    Created before the library is touched (a bad place was refused before that),
    rows written as outcomes come, what recovery did first; `close()` (inside the
    library's hold) writes the summary beside it and records the run's end and its
    report in the catalog. A run that never got the library (locked) leaves no
    empty report behind.
    """

    def __init__(
        self,
        report: Path | None,
        report_dir: Path,
        started: datetime,
        header: ReportHeader,
        title: str,
    ) -> None:
        path = report or default_report_path(report_dir, started, header.kind)
        library = Path(header.library) if header.library else None
        self.writer = ReportWriter(path, header, COLUMNS, fallback_dirs(library, header.dryrun))
        self.report = OutcomeReport(self.writer)
        self.title = title
        self.outcomes: list[Outcome] = []  # the `kept` ones
        self.counts: Counter[tuple[Status, Action]] = Counter()
        self.lib: LibrarySession | None = None
        self.interrupted: int | None = None
        self.notes: list[str] = []
        self._result: ImportResult | None = None

    def __enter__(self) -> RunReport:
        # A stop while the report is being created (its file may exist already) must not
        # leave a report without its summary: it is held until the report is open, and the
        # run then ends here, its report closed as interrupted.
        with signals.deferred():
            self.writer.open()
        signum = signals.requested()
        if signum is not None:
            self.interrupted = signum
            self.close()
            raise signals.Stopped(signum)
        return self

    def attach(self, lib: LibrarySession) -> None:
        """The library is held: record where this run's report is, and what recovery did."""
        self.lib = lib
        lib.note_report(self.writer.path)

    def write(self, outcomes: Iterable[Outcome]) -> None:
        outcomes = list(outcomes)
        counts = self.counts
        for o in outcomes:
            counts[o.status, o.decision.action] += 1
            if kept(o):
                self.outcomes.append(o)
        self.report.write(outcomes)

    def close(self) -> None:
        """The report closed, the summary beside it, the run's end in the catalog."""
        if self._result is not None:
            return
        with signals.deferred():  # written whatever signal comes now
            self.writer.close()
            if self.writer.moved_because:
                self.notes.append(
                    f"the report was written to {self.writer.path}: {self.writer.moved_because}"
                )
            summary = self.report.summary()
            title = self.title if self.interrupted is None else f"{self.title}: interrupted"
            try:
                summary_path = write_summary(self.writer.path, summary, title)
            except (OSError, ReportUnwritable) as exc:
                summary_path = summary_path_of(self.writer.path)
                self.notes.append(f"the summary could not be written: {exc}")
            if self.lib is not None:
                status = "finished" if self.interrupted is None else "interrupted"
                self.lib.finish(self.writer.path, status)
            log.info("%s: %s", title, ", ".join(f"{label} {n}" for label, n in summary))
            self._result = ImportResult(
                self.outcomes,
                self.writer.path,
                summary_path,
                summary,
                title,
                self.interrupted,
                tuple(self.notes),
                self.writer.header.dryrun,
                self.counts,
            )
        signals.clear()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
            return False
        if issubclass(exc_type, KeyboardInterrupt):  # stopped while the library was opened
            self.interrupted = int(getattr(exc, "signum", signal.SIGINT))
            self.lib = None  # its hold is gone; open_library recorded the interruption
            self.close()
            return True
        with contextlib.suppress(OSError):  # could not start (locked...) or failed
            self.writer.close()
        if self.report.total == 0 and self.lib is None:
            with contextlib.suppress(OSError):
                os.unlink(self.writer.path)  # nothing happened: no empty report
        return False

    @property
    def result(self) -> ImportResult:
        assert self._result is not None, "the run's report was not closed"
        return self._result

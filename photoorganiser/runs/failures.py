"""Quiet, honest nights: a failure that is not new is said, not shouted.

A file that failed before (unreadable, damaged content) and has not changed since
(same path, size, mtime and inode: its failed analysis comes from the catalog's cache
of input files) is still reported, with the status `known`, but does not make the exit
status 1: exit 1 means something new failed. A read error is never cached (it may
go away), so it is never known: it fails again, loudly, every night it happens.

`photoorganiser failures --output LIBRARY` lists the known failures as CSV;
`import --retry-failed` reads them again.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.reportfile import (
    ReportHeader,
    ReportWriter,
    check_place,
)
from ..core.textsafe import display_text, path_text
from ..core.values import Action, Analysis, AnalysisFailure, Outcome, ScanEntry, Status
from ..library.catalog import Catalog, decode
from ..library.session import open_library
from ..media.analyse import AnalyseOptions
from ..media.scan import classify

Result = Analysis | AnalysisFailure


def is_failure(result: Result) -> bool:
    """An analysis that makes the file an error: unreadable, or its content damaged (an
    error only with --leave-damaged; the import decides). No content is not a failure."""
    if isinstance(result, AnalysisFailure):
        return not result.no_content
    return bool(result.facts.problems)


def known_failures(cached: Mapping[Path, Result]) -> set[Path]:
    """The files whose failure comes from the cache: unchanged since it was first seen."""
    return {path for path, result in cached.items() if is_failure(result)}


def without_failures(cached: Mapping[Path, Result]) -> dict[Path, Result]:
    """The cache without its failures (--retry-failed: they are read again)."""
    return {path: result for path, result in cached.items() if not is_failure(result)}


def mark_known(outcomes: Iterable[Outcome], known: set[Path]) -> list[Outcome]:
    """Failed error rows of known failures become `known`: reported, not counted as new."""
    return [
        dataclasses.replace(o, status=Status.KNOWN)
        if o.status is Status.FAILED
        and o.decision.action is Action.ERROR
        and o.decision.source in known
        else o
        for o in outcomes
    ]


def reporting_known(
    write: Callable[[Iterable[Outcome]], None], known: set[Path]
) -> Callable[[Iterable[Outcome]], None]:
    """`write`, with known failures marked first."""
    if not known:
        return write
    return lambda outcomes: write(mark_known(outcomes, known))


# --- photoorganiser failures --------------------------------------------------------------


class FailuresUsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class KnownFailure:
    path: Path
    size: int
    error: str
    first_seen: str


FAILURE_COLUMNS = ["path", "size", "error", "first_seen"]


def list_failures(catalog: Catalog | None) -> list[KnownFailure]:
    """The known failures: input files whose cached analysis failed and which are still
    there, unchanged (a changed or vanished file is read again by the next run)."""
    if catalog is None:
        return []
    found = []
    for path, size, mtime_ns, inode, record, seen_at in catalog.source_failures():
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (size, mtime_ns, inode):
            continue
        kind, _ = classify(path.name)
        result = decode(record, ScanEntry(path, kind, size, mtime_ns, inode))
        if not is_failure(result):
            continue
        if isinstance(result, AnalysisFailure):
            error = result.error
        elif catalog.find_by_hash(result.hash):  # damaged, but imported all the same
            continue
        else:
            error = "; ".join(result.facts.problems)
        found.append(KnownFailure(path, size, error, seen_at))
    return found


def failure_cells(f: KnownFailure) -> list[str]:
    return [path_text(f.path), str(f.size), display_text(f.error), f.first_seen]


def run_failures(library: Path, report: Path | None, *, wait: bool = False) -> list[KnownFailure]:
    """List the known failures: CSV at `report` (with the header line every report has),
    else on standard output. Reads the catalog only."""
    root = Path(os.path.abspath(library))
    if not root.is_dir():
        raise FailuresUsageError(f"library {library} is not a folder")
    if report is not None:
        check_place(Path(os.path.abspath(report)))
    with open_library(
        root,
        command="failures",
        dry_run=True,  # a shared look: nothing written
        wait=wait,
        analyse_options=AnalyseOptions(),
        workers=1,
        progress=False,
    ) as lib:
        failures = list_failures(lib.catalog)
    if report is not None:
        header = ReportHeader(
            "failures", library=str(root), created=datetime.now().isoformat(timespec="seconds")
        )
        with ReportWriter(report, header, FAILURE_COLUMNS) as writer:
            writer.write_rows(failure_cells(f) for f in failures)
    else:
        out = io.StringIO(newline="")
        w = csv.writer(out)
        w.writerow(FAILURE_COLUMNS)
        w.writerows(failure_cells(f) for f in failures)
        sys.stdout.write(out.getvalue())
    return failures

"""A run's hold on the library: the lock, the catalog, the run's record.

    with open_library(...) as lib:   # lock; the catalog opened (or rebuilt); this run recorded
        lib.needs_adoption           # a library without a catalog yet: index it first
        lib.index                    # what collisions asks: is this content already here?
        lib.cached / lib.remember    # the analysis cache of input files
        lib.journal                  # what execute writes before it acts
        lib.finish(report)

A dry run takes only a shared look: it creates nothing, writes no catalog, and
refuses (like a real run) while another run is writing the library.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.textsafe import path_text
from ..core.values import Analysis, AnalysisFailure, ScanEntry
from ..media.analyse import AnalyseOptions
from ..media.timezones import timezone_key
from .catalog import (
    ANALYSIS_VERSION,
    STATE_DIR,
    Catalog,
    CatalogDamaged,
    CatalogUnavailable,
    Salvage,
    catalog_failure,
    set_aside,
)
from .index import CatalogLibrary, DiskLibrary, LibraryIndex
from .journal import Journal
from .lock import library_lock, refuse_link

log = logging.getLogger("photoorganiser")


@dataclass
class LibrarySession:
    root: Path
    catalog: Catalog | None
    index: LibraryIndex
    options_key: str
    run_id: str | None = None
    needs_adoption: bool = False  # files but no catalog (or a rebuilt one): index them first
    rebuilt: Salvage | None = None  # sync --rebuild: what was set aside and salvaged

    @property
    def journal(self) -> Journal | None:
        if self.catalog is None or self.catalog.readonly or self.run_id is None:
            return None
        return Journal(self.catalog, self.run_id)

    def cached(self, entries: list[ScanEntry]) -> dict[Path, Analysis | AnalysisFailure]:
        if self.catalog is None:
            return {}
        return self.catalog.cached_many(entries, self.options_key)

    @property
    def remembers(self) -> bool:
        """Whether `remember` keeps anything (a dry run, or no catalog: it does not)."""
        return self.catalog is not None and not self.catalog.readonly

    def remember(
        self,
        results: Iterable[Analysis | AnalysisFailure],
        inputs: Iterable[Path] = (),
        seen: set[Path] | None = None,
    ) -> None:
        """Cache analyses for the next run, and forget files that left the inputs; only an
        optimisation, so a failure is a warning."""
        if not self.remembers:
            return
        keep = [r for r in results if not (isinstance(r, AnalysisFailure) and r.transient)]
        try:
            with self.catalog.transaction():
                self.catalog.remember(keep, self.options_key)
                if seen is not None:
                    self.catalog.forget_unseen_sources(inputs, seen)
        except sqlite3.Error as exc:
            log.warning("could not cache the analysis for next time: %s", exc)

    def note_report(self, report: Path) -> None:
        """Where this run's report is, recorded at its start (a killed run's report can
        still be found from the catalog)."""
        if self.catalog is None or self.catalog.readonly or not self.run_id:
            return
        try:
            with self.catalog.transaction() as conn:
                conn.execute(
                    "UPDATE runs SET report = ? WHERE id = ?", (path_text(report), self.run_id)
                )
        except sqlite3.Error as exc:
            log.warning("could not record the report's place in the catalog: %s", exc)

    def finish(self, report: Path | None, status: str = "finished") -> None:
        if self.catalog is not None and not self.catalog.readonly and self.run_id:
            try:
                journal = self.journal
                if journal is not None:
                    journal.close()
                self.catalog.finish_run(self.run_id, status, report)
            except sqlite3.Error as exc:  # bookkeeping only: the next run recovers
                log.error("could not record the end of the run in the catalog: %s", exc)


@contextlib.contextmanager
def open_library(
    root: Path,
    *,
    command: str,
    dry_run: bool,
    wait: bool,
    analyse_options: AnalyseOptions,
    workers: int,
    progress: bool,
    rebuild: bool = False,
) -> Iterator[LibrarySession]:
    """The library, locked, its catalog open, this run recorded (see the module's docstring).
    Recovering a killed run and adopting an uncatalogued library are the caller's
    first stages (runs/startup.py).

    Every catalog error, here or in the caller's block, leaves as one CatalogDamaged
    or CatalogUnavailable (never an SQLite traceback); `rebuild` sets the catalog
    aside first and makes a new one from the disk.
    """
    options_key = (
        f"v{ANALYSIS_VERSION}|tz={timezone_key(analyse_options.timezone)}"
        f"|mtime={analyse_options.use_mtime}"
    )
    state = root / STATE_DIR
    if dry_run:
        with library_lock(state, command, shared=True):
            try:
                catalog = Catalog.open(root, readonly=True)
            except CatalogUnavailable as exc:
                log.warning("%s: reading the library from disk instead", exc)
                catalog = None
            except CatalogDamaged as exc:  # the plan is still right; the real run will refuse
                log.error("%s (this dry run reads the library from disk instead)", exc)
                catalog = None
            try:
                index = CatalogLibrary(catalog) if catalog else DiskLibrary(root)
                yield LibrarySession(root, catalog, index, options_key)
            finally:
                if catalog is not None:
                    catalog.close()
        return

    refuse_link(state, folder=True)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogUnavailable(f"cannot write to the library {root}: {exc.strerror}") from exc
    with library_lock(state, command, wait=wait):
        salvage = set_aside(root) if rebuild else None
        catalog = Catalog.open(root)
        try:
            session = LibrarySession(root, catalog, CatalogLibrary(catalog), options_key)
            session.rebuilt = salvage
            try:
                if salvage is not None:
                    catalog.restore(salvage)
                catalog.mark_unfinished_runs()
                session.needs_adoption = salvage is not None or (catalog.fresh and _has_files(root))
                session.run_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
                catalog.begin_run(session.run_id, command)
            except sqlite3.Error as exc:  # a full disk, a damaged page found late
                raise catalog_failure(exc, root) from exc
            try:
                yield session
            except sqlite3.Error as exc:
                session.finish(None, status="interrupted")
                raise catalog_failure(exc, root) from exc
            except BaseException:
                session.finish(None, status="interrupted")
                raise
        finally:
            catalog.close()


def _has_files(root: Path) -> bool:
    """Whether the library holds anything besides its own state (a library to adopt)."""
    if not root.is_dir():
        return False
    for _folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != STATE_DIR]
        if files:
            return True
    return False

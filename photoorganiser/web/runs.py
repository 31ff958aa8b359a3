"""Runs and jobs: the library's runs (what `photoorganiser runs` lists), each with its
report, and the jobs of this server (filled in by static/runs.js from the job API).

A run of import, apply or undo that changed files can be undone from here: the page
asks for a confirmation, then starts an `undo` job through `POST /api/jobs` and
follows it; nothing here changes a file itself. A run's report is linked when it is
in a report folder (by its ref, read through `Access.report`); a report elsewhere is
shown as its path, never served.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..core.reportfile import SUMMARY_MARK, summary_path_of
from ..core.textsafe import display_text
from ..library.catalog import CatalogDamaged, CatalogError, CatalogUnavailable, catalog_path
from ..library.lock import LibraryLocked, LockUnavailable, UnsafeStateFile
from ..library.runlog import UNDOABLE, RunInfo, list_runs
from ..runs.undo import UndoUsageError, library_runs
from .access import Access, Refused
from .context import Web, web_of

SHOWN = 100  # the newest runs listed unless all are asked for
SUMMARY_LIMIT = 64 * 1024


def report_ref(access: Access, report: str) -> str | None:
    """The ref of a run's report when it lies in one of the report folders."""
    if not report or not os.path.isabs(report):
        return None
    path = Path(report)
    folder = os.path.realpath(path.parent)
    for number, d in enumerate(access.report_dirs):
        if os.path.realpath(d) == folder:
            try:
                return access.report(f"{number}:{path.name}").ref
            except Refused:
                return None
    return None


def _summary(access: Access, ref: str) -> str | None:
    """The summary written beside a report (ours only: it starts with our mark)."""
    try:
        path = summary_path_of(access.report(ref).path)
        with open(path, "rb") as f:
            data = f.read(SUMMARY_LIMIT)
    except (Refused, OSError):
        return None
    text = data.decode("utf-8", "replace")
    if not text.startswith(SUMMARY_MARK):
        return None
    return text[len(SUMMARY_MARK) :].strip("\n")


def _reversal(run: RunInfo) -> str:
    """What undoing this run does, in words (for the confirmation)."""
    parts = []
    if run.kind == "undo":
        if run.moved_back:
            parts.append(f"move {run.moved_back} files back into the library")
        if run.copies_removed:
            parts.append(f"copy {run.copies_removed} files into the library again")
        head = "This undoes an undo: the run it reversed is done again."
    else:
        head = "Every file is first checked against the hash the run recorded."
    if run.moved:
        parts.append(f"move {run.moved} files back where they came from")
    if run.copied:
        parts.append(f"remove {run.copied} copies it made from the library")
    what = "; ".join(parts) if parts else "nothing to reverse"
    return f"It will {what}. {head} A file changed since, or a place taken, is left alone."


def undoable(run: RunInfo) -> bool:
    return run.kind in UNDOABLE and run.status != "running" and run.changed > 0


def _runs_data(web: Web, show_all: bool) -> dict:
    busy = None
    try:
        runs = library_runs(web.library, wait=False)
    except LibraryLocked as exc:
        # a run (a job of this page, maybe) holds the library: read what the catalog says
        busy = str(exc)
        with web.catalog() as catalog:
            runs = list_runs(catalog) if catalog is not None else []
    has_catalog = os.path.exists(catalog_path(web.library))
    total = len(runs)
    newest = list(reversed(runs))
    if not show_all:
        newest = newest[:SHOWN]
    shown = []
    for run in newest:
        ref = report_ref(web.access, run.report)
        shown.append(
            {
                "id": run.id,
                "started": run.started.replace("T", " "),
                "finished": run.finished.replace("T", " "),
                "command": display_text(run.command),
                "kind": run.kind,
                "status": run.status,
                "moved": run.moved,
                "copied": run.copied,
                "moved_back": run.moved_back,
                "copies_removed": run.copies_removed,
                "failed": run.failed,
                "report": display_text(run.report),
                "report_name": display_text(Path(run.report).name) if run.report else "",
                "ref": ref,
                "summary": _summary(web.access, ref) if ref else None,
                "undoable": undoable(run),
                "reversal": _reversal(run),
            }
        )
    return {
        "runs": shown,
        "total": total,
        "busy": busy,
        "has_catalog": has_catalog,
        "more": total - len(shown),
    }


async def runs_page(request: Request):
    web = web_of(request)
    show_all = request.query_params.get("all") == "1"
    try:
        data = await run_in_threadpool(_runs_data, web, show_all)
    except (
        CatalogDamaged,
        CatalogError,
        CatalogUnavailable,
        UndoUsageError,
        LockUnavailable,
        UnsafeStateFile,
        sqlite3.Error,
    ) as exc:
        return web.error(request, 503, "The runs cannot be read", str(exc))
    return web.page(request, "runs.html", active="runs", **data)


async def report_file(request: Request) -> Response:
    """A report of a report folder, by its ref, shown as text in the browser."""
    web = web_of(request)
    ref = request.query_params.get("ref", "")
    try:
        found = await run_in_threadpool(web.access.report, ref)
    except Refused as exc:
        return PlainTextResponse(str(exc), status_code=404)
    download = request.query_params.get("download") == "1"
    return FileResponse(
        found.path,
        media_type="text/plain; charset=utf-8",
        filename=found.path.name,
        content_disposition_type="attachment" if download else "inline",
    )


routes = [
    Route("/runs", runs_page),
    Route("/runs/report", report_file),
]

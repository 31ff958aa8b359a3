"""Runs and jobs: the library's runs (what `photoorganiser runs` lists), each with its
report, and the jobs of this server (filled in by static/runs.js from the job API).

A run of import, apply or undo that changed files can be undone from here: the page
asks for a confirmation, then starts an `undo` job through `POST /api/jobs` and
follows it; nothing here changes a file itself. A run's report is linked when it is
in a report folder (by its ref, read through `Access.report`); a report elsewhere is
shown as its path, never served.
"""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..core.reportfile import SUMMARY_MARK, read_rows, summary_path_of
from ..core.textsafe import display_text
from ..library.catalog import (
    STATE_DIR,
    CatalogDamaged,
    CatalogError,
    CatalogUnavailable,
    catalog_path,
)
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
    found = access.ref_of(report)
    return found.ref if found is not None else None


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


# The columns a report view shows, in this order, when the report has them (the rest:
# hashes, sizes, camera... are in the file itself).
VIEW_COLUMNS = (
    "source",
    "path",
    "action",
    "change",
    "status",
    "destination",
    "moved_from",
    "reason",
    "error",
)
VIEW_PAGE = 500


def _in_library(web: Web, text: str) -> str | None:
    """The catalog path of a report's library file (its path text, absolute)."""
    for root in (str(web.library), str(web.access.library_real)):
        prefix = root.rstrip("/") + "/"
        if text.startswith(prefix):
            rel = text[len(prefix) :]
            parts = rel.split("/")
            if rel and ".." not in parts and "" not in parts and parts[0] != STATE_DIR:
                return rel
    return None


def _report_view(web: Web, ref: str, action: str, status: str, page: int) -> dict:
    found = web.access.report(ref)
    header, rows = read_rows(found.path)
    names = list(rows[0]) if rows else []
    columns = [c for c in VIEW_COLUMNS if c in names]
    action_key = "action" if "action" in names else ("change" if "change" in names else None)
    actions: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for row in rows:
        if action_key:
            actions[row.get(action_key, "")] = actions.get(row.get(action_key, ""), 0) + 1
        if "status" in names:
            statuses[row.get("status", "")] = statuses.get(row.get("status", ""), 0) + 1
    chosen = [
        r
        for r in rows
        if (not action or (action_key and r.get(action_key) == action))
        and (not status or r.get("status") == status)
    ]
    pages = max(1, math.ceil(len(chosen) / VIEW_PAGE))
    page = min(max(1, page), pages)
    shown = []
    for row in chosen[(page - 1) * VIEW_PAGE : page * VIEW_PAGE]:
        destination = row.get("destination", "")
        in_library = None
        if destination and row.get("status") in ("done", "known", ""):
            in_library = _in_library(web, destination)
        shown.append({"cells": [row.get(c, "") for c in columns], "photo": in_library})
    return {
        "ref": found.ref,
        "name": found.path.name,
        "header": header,
        "summary": _summary(web.access, found.ref),
        "columns": columns,
        "destination_index": columns.index("destination") if "destination" in columns else -1,
        "rows": shown,
        "count": len(chosen),
        "total": len(rows),
        "actions": sorted(actions.items(), key=lambda kv: -kv[1]),
        "statuses": sorted(statuses.items(), key=lambda kv: -kv[1]),
        "action": action,
        "status": status,
        "page": page,
        "pages": pages,
    }


async def report_view(request: Request) -> Response:
    """A run's report as a table: what happened to each file, filtered by action and
    status, a library file linked to its page."""
    web = web_of(request)
    q = request.query_params
    ref = q.get("ref", "")
    if ref.lower().endswith(".json"):  # a JSON report: the file itself
        return await report_file(request)
    try:
        page = int(q.get("page", "1"))
    except ValueError:
        page = 1
    try:
        data = await run_in_threadpool(
            _report_view, web, ref, q.get("action", ""), q.get("status", ""), page
        )
    except Refused as exc:
        return web.error(request, 404, "No such report", str(exc))
    except (OSError, UnicodeError) as exc:
        return web.error(request, 503, "The report cannot be read", str(exc))
    return web.page(request, "run_report.html", active="runs", **data)


routes = [
    Route("/runs", runs_page),
    Route("/runs/report", report_file),
    Route("/runs/report/view", report_view),
]

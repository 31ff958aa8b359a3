"""The Import plan page: review a dry-run report before it is applied.

`GET /plan` lists the import dry runs (and starts a new one as a job); `GET /plan?report=REF`
shows the plan as a table, a page at a time, with thumbnails, filters (action, reason,
date source, camera, the review's own state, free text) and their counts. A planned
transfer can be left alone (unticked) or given another destination: `POST
/plan/decisions` keeps each decision in a draft (importing/review.py), checked as
`apply` checks it. `POST /plan/save` writes the reviewed plan as a new report; the page's
Apply button saves, then starts `apply` on it as a job (the only way the page changes
files). A report is parsed once per (path, mtime, size) and kept in memory.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.textsafe import display_text, path_text
from ..core.values import Action, Status
from ..importing.report import (
    KNOWN_LABEL,
    LABELS,
    LATER_LABEL,
    NOT_DONE_LABEL,
    RECOVERED_LABEL,
    ReportRow,
    read_report,
)
from ..importing.review import (
    Review,
    ReviewRefused,
    read_draft,
    write_draft,
    write_reviewed,
)
from .access import Refused, ReportRef
from .context import Web, json_object, web_of

PAGE_SIZE = 200
MAX_CACHED = 4  # parsed plans kept in memory

# The reason categories (the report's `why` column), as a reviewer reads them.
WHY_LABELS = {
    "new": "new file",
    "mtime": "dated by modification time",
    "no-date": "no date: undated/",
    "sidecar": "sidecar, goes with its photo",
    "sidecar-alone": "sidecar without its photo",
    "sidecar-left": "sidecar of a file not imported",
    "sidecar-joins": "sidecar joining a library file",
    "sidecar-there": "sidecar already in the library",
    "sidecar-clash": "sidecar clashing with another",
    "sidecar-name-taken": "sidecar name taken",
    "no-photo": "photo not found",
    "damaged": "damaged",
    "unreadable": "unreadable",
    "ignored": "ignored (not media)",
    "scan-error": "could not be scanned",
    "in-library": "already in the library",
    "deleted": "deleted from the library before",
    "duplicate": "duplicate within the run",
    "already-done": "already done",
    "in-library-since-plan": "in the library since the plan",
    "from-plan": "from a reviewed plan",
    "not-applied": "not applied",
    "listed-again": "listed twice",
    "same-in-plan": "same content elsewhere in the plan",
    "leader-left": "left alone with the file it travels with",
    "refused": "refused by a check",
    "recovery": "recovery of an interrupted run",
    "not-reached": "not reached (run stopped)",
    "no-content": "empty file",
    "unfinished-move": "an earlier move finished",
}

DATE_LABELS = {"mtime": "file modification time", "filename": "file name", "~": "no date"}
STATE_LABELS = {"ticked": "to do", "left-alone": "left alone", "edited": "destination edited"}
NONE = "~"  # the filter value of an empty cell (no date, no camera)
FILTERS = ("action", "why", "date", "camera", "state")


def action_label(action: str, status: str) -> str:
    """The report's own label for a row (its summary's words)."""
    if action == Action.RECOVER.value:
        return RECOVERED_LABEL
    if status == Status.FAILED.value:
        return "Errors"
    if status == Status.NOT_DONE.value and action not in ("move", "copy"):
        return NOT_DONE_LABEL
    if status == Status.LATER.value:
        return LATER_LABEL
    try:
        key = (Action(action), Status(status if status != "not-done" else "planned"))
    except ValueError:
        return action or "?"
    if key == (Action.ERROR, Status.KNOWN):
        return KNOWN_LABEL
    return LABELS.get(key, action)


def pill_class(action: str, status: str) -> str:
    if status == Status.FAILED.value or action == Action.ERROR.value:
        return "warn" if status == Status.KNOWN.value else "drop"
    if action in ("move", "copy"):
        return "keep"
    if action in (Action.RECOVER.value, Action.FINISH_MOVE.value):
        return "warn"
    return ""


def camera_of(row: ReportRow) -> str:
    make, model = row.make.strip(), row.model.strip()
    if make and model.lower().startswith(make.lower().split()[0]):
        return model
    return f"{make} {model}".strip()


@dataclass
class PlanData:
    """A parsed plan and what filtering needs, column by column."""

    ref: str
    path: Path
    key: tuple[float, int]
    review: Review
    has_why: bool
    action: list[str]
    why: list[str]
    date: list[str]
    camera: list[str]
    pills: dict[str, str]
    counts: dict[str, Counter] = field(default_factory=dict)
    search: list[str] | None = None

    @property
    def rows(self) -> list[ReportRow]:
        return self.review.rows  # type: ignore[return-value]

    def state(self, i: int) -> str:
        return self.review.states().get(i, "")

    def text(self, i: int) -> str:
        if self.search is None:
            self.search = [
                " ".join((r.source, r.destination, r.reason, self.camera[n], r.error)).casefold()
                for n, r in enumerate(self.rows)
            ]
        return self.search[i]


def _parse(web: Web, ref: ReportRef) -> PlanData:
    rows = read_report(ref.path)
    draft = read_draft(web.library, ref.path)
    review = Review(ref.header, rows, draft.get("unticked", ()), draft.get("destinations", {}))
    has_why = any(r.why for r in rows)
    action = [action_label(r.action, r.status) for r in rows]
    pills: dict[str, str] = {}
    for r, label in zip(rows, action, strict=True):
        pills.setdefault(label, pill_class(r.action, r.status))
    data = PlanData(
        ref=ref.ref,
        path=ref.path,
        key=(ref.mtime, ref.size),
        review=review,
        has_why=has_why,
        action=action,
        why=[r.why for r in rows] if has_why else action,
        date=[r.date_source or NONE for r in rows],
        camera=[camera_of(r) or NONE for r in rows],
        pills=pills,
    )
    data.counts = {
        "action": Counter(data.action),
        "why": Counter(data.why),
        "date": Counter(data.date),
        "camera": Counter(data.camera),
    }
    return data


_loading = threading.Lock()


def load(web: Web, ref_text: str) -> PlanData:
    """The plan named by `ref_text`, parsed once per (path, mtime, size)."""
    ref = web.access.report(ref_text)
    if ref.header.kind != "import" or not ref.header.dryrun:
        raise Refused(f"{ref.path.name} is not an import dry run")
    cache: dict[str, PlanData] = web.extra.setdefault("plans", {})
    with _loading:
        data = cache.get(ref.ref)
        if data is not None and data.key == (ref.mtime, ref.size):
            return data
        data = _parse(web, ref)
        cache.pop(ref.ref, None)
        cache[ref.ref] = data
        while len(cache) > MAX_CACHED:
            cache.pop(next(iter(cache)))
        return data


def _filters(params) -> dict[str, str]:
    out = {name: params.get(name) for name in FILTERS}
    out = {k: v for k, v in out.items() if v}  # an empty select is no filter
    q = (params.get("q") or "").strip()
    if q:
        out["q"] = q
    return out


def matching(data: PlanData, filters: dict[str, str]) -> list[int]:
    """The rows a filter shows, in the report's order."""
    indices: range | list[int] = range(len(data.rows))
    for name in ("action", "why", "date", "camera"):
        if name in filters:
            column, want = getattr(data, name), filters[name]
            indices = [i for i in indices if column[i] == want]
    if "state" in filters:
        want = filters["state"]
        indices = [i for i in indices if data.state(i) == want]
    if "q" in filters:
        needle = filters["q"].casefold()
        indices = [i for i in indices if needle in data.text(i)]
    return list(indices)


def _facet(data: PlanData, name: str, labels) -> list[dict]:
    counts = data.counts[name]
    return [
        {"value": value, "label": labels(value), "count": n}
        for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _state_facet(data: PlanData) -> list[dict]:
    counts = Counter(data.review.states().values())
    return [
        {"value": v, "label": STATE_LABELS[v], "count": counts[v]}
        for v in ("ticked", "left-alone", "edited")
    ]


def _thumb(web: Web, r: ReportRow) -> str:
    """The thumbnail of a file under review (its path as the report writes it). Built
    here: the renderer's `url(path, ...)` cannot take a `path` parameter."""
    if not r.hash:
        return ""
    query = urlencode({"size": 160, "path": r.source, "token": web.renderer.token})
    return f"/thumb/{quote(r.hash)}?{query}"


def _short(data: PlanData, text: str) -> str:
    """A path of the report (its text) shown short: relative to the library, or from its
    input folder's name (`inbox/old/IMG_1.jpg`); the whole path otherwise."""
    if not text:
        return ""
    header = data.review.header
    for root, shown in (
        (header.library, ""),
        *((given, PurePosixPath(given).name + "/") for given in header.inputs),
    ):
        prefix = path_text(root).rstrip("/") + "/" if root else None
        if prefix and text.startswith(prefix):
            return shown + text[len(prefix) :]
    return text


def _row(web: Web, data: PlanData, i: int) -> dict:
    r = data.rows[i]
    review = data.review
    source = PurePosixPath(r.source)
    return {
        "i": i,
        "source": r.source,
        "name": source.name,
        "folder": str(PurePosixPath(_short(data, r.source)).parent),
        "hash": r.hash,
        "thumb": _thumb(web, r),
        "action": data.action[i],
        "pill": data.pills.get(data.action[i], ""),
        "tickable": review.tickable(i),
        "ticked": review.ticked(i),
        "follower": i in review.leader_of,
        # a file that travels with another takes its name: never edited on its own
        "fixed": (review.follower_refusal(i) or "") if review.tickable(i) else "",
        "destination": review.destination(i) if review.tickable(i) else "",
        "planned": review.planned[i],
        "other": _short(data, r.duplicate_of or (r.destination if not review.tickable(i) else "")),
        "edited": review.edited(i),
        "captured_day": r.captured_at[:10],
        "captured_time": r.captured_at[11:],
        "date": DATE_LABELS.get(r.date_source, r.date_source) if r.date_source else "",
        "camera": "" if data.camera[i] == NONE else data.camera[i],
        "why": WHY_LABELS.get(r.why, r.why),
        "reason": r.reason,
        "error": r.error,
    }


def _row_state(data: PlanData, i: int) -> dict:
    review = data.review
    return {
        "i": i,
        "source": data.rows[i].source,
        "ticked": review.ticked(i),
        "destination": review.destination(i),
        "edited": review.edited(i),
    }


def _table(web: Web, data: PlanData, params) -> dict:
    filters = _filters(params)
    shown = matching(data, filters)
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = min(page, pages)
    rows = [_row(web, data, i) for i in shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
    header = data.review.header
    other_library = bool(header.library) and os.path.realpath(header.library) != os.path.realpath(
        web.library
    )
    return {
        "ref": data.ref,
        "name": data.path.name,
        "header": header,
        "plan_library": header.library,
        "other_library": other_library,
        "rows": rows,
        "total": len(data.rows),
        "shown": len(shown),
        "page": page,
        "pages": pages,
        "first": (page - 1) * PAGE_SIZE + 1 if shown else 0,
        "last": min(page * PAGE_SIZE, len(shown)),
        "filters": filters,
        "has_why": data.has_why,
        "facets": {
            "action": _facet(data, "action", str),
            "why": _facet(data, "why", lambda v: WHY_LABELS.get(v, v)),
            "date": _facet(data, "date", lambda v: DATE_LABELS.get(v, v)),
            "camera": _facet(data, "camera", lambda v: "no camera" if v == NONE else v),
            "state": _state_facet(data),
        },
        "counts": data.review.counts(),
    }


async def plan_page(request: Request):
    web = web_of(request)
    ref = request.query_params.get("report")
    if not ref:
        reports = [
            {
                "ref": r.ref,
                "name": r.path.name,
                "created": r.header.created,
                "inputs": r.header.inputs,
                "mode": r.header.mode,
                "size": r.size,
            }
            for r in web.access.reports()
            if r.header.kind == "import" and r.header.dryrun
        ]
        return web.page(request, "plan.html", active="plan", reports=reports, table=None)
    try:
        data = await run_in_threadpool(load, web, ref)
    except Refused as exc:
        return web.error(request, 404, "No such plan", str(exc))
    table = await run_in_threadpool(_table, web, data, request.query_params)
    return web.page(request, "plan.html", active="plan", table=table, reports=None)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _decide(web: Web, data: PlanData, body: dict) -> JSONResponse:
    review = data.review
    touched: list[int] = []
    refused: list[dict] = []
    changed = 0
    bulk = body.get("bulk")
    if isinstance(bulk, dict):
        filters = {k: str(v) for k, v in bulk.items() if k in (*FILTERS, "q") and v is not None}
        changed = review.set_many(matching(data, filters), bool(bulk.get("ticked")))
    changes = body.get("changes", [])
    if not isinstance(changes, list):
        return _error("changes must be a list")
    for change in changes:  # checked whole before any is taken
        if not isinstance(change, dict) or not isinstance(change.get("source"), str):
            return _error("each change names a source")
        if "destination" in change and not isinstance(change["destination"], str | None):
            return _error("a destination is text")
    for change in changes:
        source = change["source"]
        try:
            if "ticked" in change:
                touched += review.set_ticked(source, bool(change["ticked"]))
            if "destination" in change:
                touched += review.set_destination(source, change["destination"])
            changed += 1
        except ReviewRefused as exc:
            refused.append({"source": source, "error": f"refused: {exc}"})
    if changed:
        try:
            write_draft(web.library, data.path, review.draft(data.path))
        except OSError as exc:
            return _error(f"cannot keep the review: {exc.strerror or exc}", 500)
    rows = [_row_state(data, i) for i in dict.fromkeys(touched)]
    answer = {"rows": rows, "refused": refused, "changed": changed, "counts": review.counts()}
    if refused and not changed:
        answer["error"] = "; ".join(r["error"] for r in refused)
        return JSONResponse(answer, status_code=409)
    return JSONResponse(answer)


async def decisions(request: Request):
    web = web_of(request)
    body = await json_object(request)
    if body is None or not isinstance(body.get("report"), str):
        return _error("a JSON object naming the report is needed")
    try:
        data = await run_in_threadpool(load, web, body["report"])
    except Refused as exc:
        return _error(str(exc), 404)
    return await run_in_threadpool(_decide, web, data, body)


def _save(web: Web, data: PlanData) -> JSONResponse:
    try:
        path, counts = write_reviewed(data.path, data.review, web.access.new_report_path)
    except ReviewRefused as exc:
        return _error(f"not saved: {exc}", 409)
    except (OSError, Refused) as exc:
        return _error(f"cannot write the reviewed plan: {getattr(exc, 'strerror', None) or exc}")
    found = web.access.ref_of(path)  # the reviewed plan's ref, its folder's only
    ref = found.ref if found is not None else None
    return JSONResponse(
        {
            "ref": ref,
            "name": display_text(path.name),
            "path": display_text(str(path)),
            "counts": counts,
        }
    )


async def save(request: Request):
    web = web_of(request)
    body = await json_object(request)
    if body is None or not isinstance(body.get("report"), str):
        return _error("a JSON object naming the report is needed")
    try:
        data = await run_in_threadpool(load, web, body["report"])
    except Refused as exc:
        return _error(str(exc), 404)
    return await run_in_threadpool(_save, web, data)


routes = [
    Route("/plan", plan_page),
    Route("/plan/decisions", decisions, methods=["POST"]),
    Route("/plan/save", save, methods=["POST"]),
]

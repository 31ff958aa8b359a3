"""The Duplicates page: review a find-duplicates report, group by group.

- `GET /duplicates`: the find-duplicates reports, and a form that starts a new search
  as a job. `GET /duplicates?report=REF[&page=N]`: the report's groups, a page at a
  time (the report is read once and kept parsed in memory per path, mtime and size),
  each a row of cards with the suggested keeper pre-selected and its reason.
  `&show=pictures`: the blank, dark and blurred pictures (find-duplicates --blanks
  --dark --blurred), a card each, paged the same way; the `flat` rows are listed.
- `POST /duplicates/decisions {report, group, keep: {path: bool}}`: one group's
  decisions, kept as a draft in `LIBRARY/.photoorganiser/reviews/` (duplicates/review.py)
  and shown over the report's own `keep` column; a group left with nothing kept is
  refused (400). Group 0: the blank, dark and blurred pictures, any of them may be
  dropped (the same draft, duplicates/review.py).
- `POST /duplicates/save {report}`: the reviewed report, a new file in the library's
  report folder, which `photoorganiser dedupe` carries out (the page's "Quarantine the
  rest" then starts that dedupe as a job through the job API).

A file no longer at its path (moved by a dedupe, or by hand) is said `gone` on its card
(each path looked at once per page), and is neither marked drop nor to reclaim; a group
whose dropped files are all gone is done. The newest dedupe run on a review of the
report (its report in a report folder) is said above the groups, with how to undo it.

Nothing here changes a user's file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.keeper import sidecars_among
from ..core.reportfile import read_rows
from ..core.textsafe import display_text, path_text, text_path
from ..duplicates.report import ReportRow, read_report
from ..duplicates.review import (
    PICTURES,
    Draft,
    Drafts,
    Group,
    Review,
    ReviewError,
    decide,
    decide_pictures,
    decided,
    picture_keep,
    review_base,
    reviewed_rows,
    totals,
    write_reviewed,
)
from ..duplicates.values import POOR_KINDS, Kind
from ..library.catalog import STATE_DIR
from .access import Refused, ReportRef
from .context import Web, json_object, web_of
from .media import HASH

PER_PAGE = 20
PER_PAGE_CHOICES = (10, 20, 50, 100)
SHOW = ("all", "exact", "similar", "changed", "pictures")  # which groups a page lists
UNREADABLE_SHOWN = 200
FLAT_SHOWN = 200
CACHED_REPORTS = 4


# --- the report, read once ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    report: ReportRef
    rows: list[ReportRow]
    review: Review


class ReviewState:
    """Per server: the parsed reports (a few, newest used kept) and one lock for drafts."""

    def __init__(self) -> None:
        self.cache: OrderedDict[tuple[str, float, int], Loaded] = OrderedDict()
        self.counts: dict[tuple[str, float, int], int | None] = {}  # for the list of reports
        # per report path: its files no longer at their paths, as its last page found them
        self.gone: dict[str, frozenset[str]] = {}
        self.lock = threading.Lock()


def _state(web: Web) -> ReviewState:
    state = web.extra.get("duplicates")
    if state is None:
        state = web.extra.setdefault("duplicates", ReviewState())
    return state


def _report(web: Web, ref: str) -> ReportRef:
    """The find-duplicates report a request names: its ref, or the path of a report the
    app lists (a job says where it wrote its report). Refused otherwise."""
    if ref.startswith("/"):
        for found in web.access.reports():
            if str(found.path) == ref or path_text(found.path) == ref:
                return _duplicates_kind(found)
        raise Refused("no such report")
    return _duplicates_kind(web.access.report(ref))


def _duplicates_kind(report: ReportRef) -> ReportRef:
    if report.header.kind != "duplicates":
        raise Refused(
            f"not a find-duplicates report: {report.path.name} is a {report.header.kind} report"
        )
    return report


def load(web: Web, ref: str) -> Loaded:
    report = _report(web, ref)
    state = _state(web)
    key = (str(report.path), report.mtime, report.size)
    with state.lock:
        found = state.cache.get(key)
        if found is not None:
            state.cache.move_to_end(key)
            return found
    try:
        rows = read_report(report.path)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ReviewError(f"cannot read the report {report.path.name}: {exc}") from None
    loaded = Loaded(report, rows, Review.of(rows))
    with state.lock:
        for old in [k for k in state.cache if k[0] == key[0]]:
            del state.cache[old]
        state.cache[key] = loaded
        while len(state.cache) > CACHED_REPORTS:
            state.cache.popitem(last=False)
    return loaded


def draft_name(web: Web, report: ReportRef) -> str:
    """`<report name>.json` for a report of the library; a report of another folder gets
    its folder's digest too (two folders may hold reports of the same name)."""
    own = (
        Path(os.path.realpath(report.path.parent))
        == web.access.library_real / STATE_DIR / "reports"
    )
    if own:
        return f"{report.path.name}.json"
    digest = hashlib.sha256(os.fsencode(report.path.parent.absolute())).hexdigest()[:10]
    return f"{report.path.name}-{digest}.json"


def drafts_of(web: Web) -> Drafts:
    return Drafts(web.access.library_real)


# --- what a page shows -------------------------------------------------------------


def gone_files(review: Review) -> frozenset[str]:
    """The report's files no longer at their paths (path texts): moved by a dedupe (its
    quarantine), or moved or deleted by hand since the report. Each path looked at once."""
    paths = dict.fromkeys([*review.groups_of, *review.picture_paths()])
    gone = set()
    for path in paths:
        try:
            os.lstat(text_path(path))
        except (FileNotFoundError, NotADirectoryError):
            gone.add(path)
        except OSError:  # there, but not readable here: not gone
            pass
    return frozenset(gone)


def _gone(web: Web, loaded: Loaded, fresh: bool) -> frozenset[str]:
    """`gone_files`, looked at again for a page (`fresh`), else as the last page saw it."""
    state = _state(web)
    key = str(loaded.report.path)
    with state.lock:
        known = state.gone.get(key)
    if known is not None and not fresh:
        return known
    gone = gone_files(loaded.review)
    with state.lock:
        state.gone[key] = gone
    return gone


@dataclass(frozen=True, slots=True)
class DedupeRun:
    """A dedupe run on a review of the report (or on the report itself)."""

    ref: str
    name: str
    created: str
    mode: str
    quarantine: str | None  # its --quarantine folder (undo --quarantine takes it)
    outcome: dict[str, int]  # its rows by status


def _quarantine_of(command: str) -> str | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word.startswith("--quarantine="):
            return word.split("=", 1)[1]
        if word == "--quarantine" and i + 1 < len(words):
            return words[i + 1]
    return None


def last_dedupe(web: Web, report: ReportRef) -> DedupeRun | None:
    """The newest dedupe (not a dry run) whose report names this report, or a review of
    it (`<stem>-reviewed-<time>`, in the same folder), as what it acted on."""
    folder = os.path.realpath(report.path.parent)
    base = review_base(report.path.stem)
    runs = []
    for found in web.access.reports():
        header = found.header
        if header.kind != "dedupe" or header.dryrun or not header.inputs:
            continue
        acted_on = Path(header.inputs[0])
        if os.path.realpath(acted_on.parent) != folder or review_base(acted_on.stem) != base:
            continue
        runs.append(found)
    if not runs:
        return None
    newest = max(runs, key=lambda r: (r.header.created, r.mtime))
    try:
        _header, rows = read_rows(newest.path)
    except (OSError, ValueError):
        rows = []
    outcome: dict[str, int] = {}
    for row in rows:
        status = row.get("status") or ""
        if status:
            outcome[status] = outcome.get(status, 0) + 1
    return DedupeRun(
        ref=newest.ref,
        name=newest.path.name,
        created=_when(newest.header.created),
        mode=newest.header.mode,
        quarantine=_quarantine_of(newest.header.command),
        outcome=outcome,
    )


def _quarantine_default(web: Web, report: ReportRef) -> str:
    for given in report.header.inputs:
        if given and os.path.isabs(given):
            parent = os.path.dirname(os.path.normpath(given)) or "/"
            return path_text(os.path.join(parent, "duplicates-quarantine"))
    return path_text(
        os.path.join(os.path.dirname(str(web.access.library_real)), "duplicates-quarantine")
    )


def _when(text: str | None) -> str:
    if not text:
        return ""
    return text.replace("T", " ")


def _file_url(web: Web, route: str, path: str, **params: object) -> str:
    """`route` for the file under review at `path` (the report's own path text); the
    renderer's url() takes `path` as its own first argument, so it is added here."""
    return f"{web.renderer.url(route, **params)}&{urlencode({'path': path})}"


def _sidecars(path: str, listings: dict[str, list[str]]) -> list[str]:
    """The sidecars beside the file now (its edits: the card says so), each folder
    listed once for the page."""
    folder, name = os.path.split(path)
    if folder not in listings:
        try:
            listings[folder] = os.listdir(folder)
        except OSError:
            listings[folder] = []
    return sidecars_among(name, listings[folder])


def _cards(
    web: Web,
    review: Review,
    group: Group,
    keep: dict[str, bool],
    draft: Draft,
    listings: dict[str, list[str]],
    gone: frozenset[str],
) -> list[dict]:
    pixels = [(r.width or 0) * (r.height or 0) for r in group.rows]
    sizes = [r.size or 0 for r in group.rows]
    # the best of the group in bold, where its files differ
    most_pixels = max(pixels, default=0) if len(set(pixels)) > 1 else -1
    largest = max(sizes, default=0) if len(set(sizes)) > 1 else -1
    cards = []
    for number, (path, row) in enumerate(zip(group.paths, group.rows, strict=True), 1):
        folder, _sep, name = row.path.rpartition("/")
        has_hash = bool(row.hash and HASH.match(row.hash))
        others = [
            {"group": g, "keep": decided(review.group(g), draft)[path]}
            for g in review.groups_of.get(path, ())
            if g != group.group_id
        ]
        cards.append(
            {
                "number": number,
                "path": path,
                "name": name,
                "folder": folder or "/",
                "size": row.size,
                "largest": row.size is not None and largest > 0 and sizes[number - 1] == largest,
                "width": row.width,
                "height": row.height,
                "most_pixels": most_pixels > 0 and pixels[number - 1] == most_pixels,
                "captured": _when(row.captured_at),
                "distance": row.distance,
                "reason": row.reason,
                "sidecars": _sidecars(row.path, listings),
                "keep": keep[path],
                "suggested": bool(row.keep),
                "others": others[:5],
                "gone": path in gone,
                "thumb": _file_url(web, f"/thumb/{row.hash}", path, size=320)
                if has_hash
                else web.renderer.url("/static/nothumb.svg"),
                "original": _file_url(web, f"/original/{row.hash}", path)
                if has_hash and path not in gone
                else None,
            }
        )
    return cards


def _group_view(
    web: Web,
    review: Review,
    group: Group,
    draft: Draft,
    listings: dict[str, list[str]],
    gone: frozenset[str],
) -> dict:
    keep = decided(group, draft)
    suggested = [r for r in group.rows if r.keep]
    rows = list(zip(group.paths, group.rows, strict=True))
    dropped = sum(r.size or 0 for p, r in rows if not keep[p] and p not in gone)
    marked = [p for p, _r in rows if not keep[p]]
    return {
        "id": group.group_id,
        "kind": group.kind.value,
        # every file it drops is gone (a dedupe moved them): nothing left to do
        "done": bool(marked) and all(p in gone for p in marked),
        "all_gone": all(p in gone for p in group.paths),
        "cards": _cards(web, review, group, keep, draft, listings, gone),
        "changed": group.group_id in draft,
        "suggested": suggested[0] if suggested else None,
        "suggested_name": suggested[0].path.rpartition("/")[2] if suggested else "",
        "reclaim": dropped,
    }


def _picture_cards(
    web: Web,
    review: Review,
    rows: tuple[ReportRow, ...],
    draft: Draft,
    listings: dict[str, list[str]],
    gone: frozenset[str],
) -> list:
    """One card per blank, dark or blurred picture, its decision over the report's."""
    cards = []
    for row in rows:
        path = path_text(row.path)
        folder, _sep, name = row.path.rpartition("/")
        has_hash = bool(row.hash and HASH.match(row.hash))
        keep = picture_keep(row, draft)
        cards.append(
            {
                "number": 1,
                "path": path,
                "name": name,
                "folder": folder or "/",
                "size": row.size,
                "width": row.width,
                "height": row.height,
                "kind": row.kind.value,
                "measure": row.measure,
                "reason": row.reason,
                "sidecars": _sidecars(row.path, listings),
                "keep": keep,
                "suggested": bool(row.keep),
                "changed": keep != bool(row.keep),
                "others": [
                    {"group": g, "keep": decided(review.group(g), draft)[path]}
                    for g in review.groups_of.get(path, ())[:5]
                ],
                "gone": path in gone,
                "thumb": _file_url(web, f"/thumb/{row.hash}", path, size=320)
                if has_hash
                else web.renderer.url("/static/nothumb.svg"),
                "original": _file_url(web, f"/original/{row.hash}", path)
                if has_hash and path not in gone
                else None,
            }
        )
    return cards


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _review_page(request: Request, web: Web, ref: str):
    loaded = load(web, ref)
    review, report = loaded.review, loaded.report
    name = draft_name(web, report)
    draft = drafts_of(web).load(name)
    per = _int(request.query_params.get("per"), PER_PAGE)
    if per not in PER_PAGE_CHOICES:
        per = PER_PAGE
    # a report with pictures to review and no groups opens on its pictures
    default_show = "pictures" if review.pictures and not review.groups else "all"
    show = request.query_params.get("show", default_show)
    if show not in SHOW:
        show = default_show
    listed: tuple = review.groups
    if show in ("exact", "similar"):
        listed = tuple(g for g in listed if g.kind.value == show)
    elif show == "changed":
        listed = tuple(g for g in listed if g.group_id in draft)
    elif show == "pictures":
        listed = review.pictures
    pages = max(1, -(-len(listed) // per))
    page = min(max(1, _int(request.query_params.get("page"), 1)), pages)
    shown = listed[(page - 1) * per : page * per]
    listings: dict[str, list[str]] = {}  # the folders of the files shown, listed once
    gone = _gone(web, loaded, fresh=True)
    if show == "pictures":
        groups, pictures = [], _picture_cards(web, review, shown, draft, listings, gone)
    else:
        groups = [_group_view(web, review, g, draft, listings, gone) for g in shown]
        pictures = []
    t = totals(review, draft, gone)
    kinds = {k: sum(g.kind is k for g in review.groups) for k in (Kind.EXACT, Kind.SIMILAR)}
    return web.page(
        request,
        "duplicates.html",
        active="duplicates",
        report=report,
        ref=report.ref,
        name=report.path.name,
        groups=groups,
        page=page,
        pages=pages,
        per=per,
        show=show,
        default_show=default_show,
        shown_count=len(listed),
        pictures=pictures,
        picture_kinds={
            k.value: sum(r.kind is k for r in review.pictures) for k in sorted(POOR_KINDS, key=str)
        },
        flat=review.flat[:FLAT_SHOWN],
        flat_count=len(review.flat),
        first=(page - 1) * per + 1,
        totals=t,
        exact=kinds[Kind.EXACT],
        similar=kinds[Kind.SIMILAR],
        unreadable=review.unreadable[:UNREADABLE_SHOWN],
        unreadable_count=len(review.unreadable),
        unique_count=len(review.unique),
        quarantine=_quarantine_default(web, report),
        inputs=[display_text(p) for p in report.header.inputs],
        gone_count=len(gone),
        ran=last_dedupe(web, report),
    )


def _group_count(web: Web, report: ReportRef) -> int | None:
    """How many groups a report has (None: unreadable), remembered per path, mtime, size."""
    state = _state(web)
    key = (str(report.path), report.mtime, report.size)
    if key not in state.counts:
        cached = state.cache.get(key)
        if cached is None:
            try:
                cached = load(web, report.ref)
            except (ReviewError, Refused):
                cached = None
        state.counts[key] = len(cached.review.groups) if cached is not None else None
    return state.counts[key]


def _list_page(request: Request, web: Web):
    listed = []
    for report in web.access.reports():
        if report.header.kind != "duplicates":
            continue
        groups = _group_count(web, report)
        listed.append(
            {
                "ref": report.ref,
                "name": report.path.name,
                "created": _when(report.header.created),
                "inputs": [display_text(p) for p in report.header.inputs],
                "size": report.size,
                "groups": groups,
                "reviewed": "-reviewed-" in report.path.name,
            }
        )
    return web.page(request, "duplicates.html", active="duplicates", reports=listed, ref=None)


async def duplicates_page(request: Request):
    web = web_of(request)
    ref = request.query_params.get("report")
    if not ref:
        return await run_in_threadpool(_list_page, request, web)
    try:
        return await run_in_threadpool(_review_page, request, web, ref)
    except Refused as exc:
        status = 404 if "no such" in str(exc) else 403
        if str(exc).startswith("not a find-duplicates"):
            status = 400
        return web.error(request, status, "Duplicates", str(exc))
    except ReviewError as exc:
        return web.error(request, 400, "Duplicates", str(exc))


# --- decisions and the reviewed report -------------------------------------------------


async def _json_body(request: Request) -> dict:
    body = await json_object(request)
    if body is None:
        raise ReviewError("the request's body must be a JSON object")
    if not isinstance(body.get("report"), str):
        raise ReviewError('say which report: {"report": REF}')
    return body


def _refusal(exc: Exception) -> JSONResponse:
    if isinstance(exc, Refused):
        status = 404 if "no such" in str(exc) else 403
        return JSONResponse({"error": str(exc)}, status_code=status)
    return JSONResponse({"error": str(exc)}, status_code=400)


def _decide(web: Web, ref: str, group_id: int, keep: dict[str, bool]) -> dict:
    loaded = load(web, ref)
    name = draft_name(web, loaded.report)
    drafts = drafts_of(web)
    with _state(web).lock:
        if group_id == PICTURES:
            draft = decide_pictures(loaded.review, drafts.load(name), keep)
        else:
            draft = decide(loaded.review, drafts.load(name), group_id, keep)
        drafts.save(name, draft, loaded.report.path)
    t = totals(loaded.review, draft, _gone(web, loaded, fresh=False))
    said = {"changed": t.changed, "dropped": t.dropped, "reclaimable": t.reclaimable}
    said["pictures_dropped"] = t.pictures_dropped
    if group_id == PICTURES:
        rows = loaded.review.picture_paths()
        now = {p: picture_keep(rows[p], draft) for p in keep}
        changed = any(now[p] != bool(rows[p].keep) for p in keep)
        return {"group": group_id, "keep": now, "changed": changed, "totals": said}
    group = loaded.review.group(group_id)
    return {
        "group": group_id,
        "keep": decided(group, draft),
        "changed": group_id in draft,
        "totals": said,
    }


async def decisions(request: Request):
    web = web_of(request)
    try:
        body = await _json_body(request)
        group_id, keep = body.get("group"), body.get("keep")
        if not isinstance(group_id, int) or isinstance(group_id, bool):
            raise ReviewError('say which group: {"group": NUMBER}')
        if not isinstance(keep, dict) or not keep:
            raise ReviewError('say what to keep: {"keep": {PATH: true or false}}')
        answer = await run_in_threadpool(_decide, web, body["report"], group_id, keep)
    except (Refused, ReviewError) as exc:
        return _refusal(exc)
    except OSError as exc:
        return JSONResponse(
            {"error": f"cannot keep the decision: {exc.strerror or exc}"}, status_code=500
        )
    return JSONResponse(answer)


def _save(web: Web, ref: str) -> dict:
    loaded = load(web, ref)
    draft = drafts_of(web).load(draft_name(web, loaded.report))
    rows = reviewed_rows(loaded.rows, loaded.review, draft)
    folder = web.access.new_report_path("reviewed.csv").parent
    saved = write_reviewed(rows, loaded.report.header, loaded.report.path, folder, datetime.now())
    found = web.access.ref_of(saved)
    t = totals(loaded.review, draft, _gone(web, loaded, fresh=False))
    with contextlib.suppress(OSError):  # the list of reports need not read it again
        st = os.lstat(saved)
        _state(web).counts[(str(folder / saved.name), st.st_mtime, st.st_size)] = t.groups
    return {
        "ref": found.ref if found is not None else f"0:{saved.name}",
        "name": saved.name,
        "path": path_text(saved),
        "groups": t.groups,
        "dropped": t.dropped,
        "reclaimable": t.reclaimable,
    }


async def save(request: Request):
    web = web_of(request)
    try:
        body = await _json_body(request)
        answer = await run_in_threadpool(_save, web, body["report"])
    except (Refused, ReviewError) as exc:
        return _refusal(exc)
    except OSError as exc:
        return JSONResponse(
            {"error": f"cannot write the reviewed report: {exc.strerror or exc}"}, status_code=500
        )
    return JSONResponse(answer)


routes = [
    Route("/duplicates", duplicates_page, methods=["GET"]),
    Route("/duplicates/decisions", decisions, methods=["POST"]),
    Route("/duplicates/save", save, methods=["POST"]),
]

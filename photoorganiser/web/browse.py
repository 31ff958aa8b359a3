"""The library browser: the library by year and month (from the catalog), a grid of
thumbnails with filters (camera, kind, date source), and a page per file: its
metadata, where it came from, when and by which run it was imported, and where it
was taken when it has a GPS position.

Read only: the catalog is opened read-only for each request (`Web.catalog`), the
queries are library/views.py's. A file is named by its catalog path, looked up as
it is; a path that is not in the catalog is 404, never a file on disk.
"""

from __future__ import annotations

import math
import os
import sqlite3

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from ..core.textsafe import display_text, text_path
from ..library import views
from ..library.catalog import CatalogDamaged, CatalogError, CatalogUnavailable, catalog_path
from ..library.lock import UnsafeStateFile
from .access import Refused
from .context import Web, web_of

PAGE_SIZE = 200
# What a catalog that cannot be read raises: said on the page in one line (503).
CATALOG_PROBLEMS = (
    CatalogDamaged,
    CatalogError,
    CatalogUnavailable,
    UnsafeStateFile,
    sqlite3.Error,
)

KIND_LABELS = {
    "photo": "photos, not RAW",
    "raw": "RAW photos",
    "video": "videos",
    "sidecar": "sidecars, not counted",
}
MONTH_NAMES = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)


def _filters(request: Request) -> views.Filters:
    q = request.query_params
    kind = q.get("kind", "")
    return views.Filters(
        camera=views.normal_camera(q.get("camera", "")),
        kind=kind if kind in views.KINDS else "",
        date_source=q.get("source", ""),
    )


def month_label(key: str) -> str:
    if key == views.UNDATED:
        return "Undated"
    year, month = key.split("-")
    return f"{MONTH_NAMES[int(month) - 1]} {year}" if 1 <= int(month) <= 12 else key


def _years(months: list[views.Month]) -> list[dict]:
    years: list[dict] = []
    for m in months:
        label = m.year or "Undated"
        if not years or years[-1]["label"] != label:
            years.append({"label": label, "count": 0, "months": []})
        years[-1]["count"] += m.count
        short = MONTH_NAMES[int(m.month) - 1][:3] if m.month and 1 <= int(m.month) <= 12 else ""
        years[-1]["months"].append({"key": m.key, "label": short or "undated", "count": m.count})
    return years


def _page_number(text: str | None) -> int:
    try:
        return max(1, int(text or "1"))
    except ValueError:
        return 1


def _groups(web: Web, conn: sqlite3.Connection) -> list[views.Group]:
    """The library's groups (views.groups), kept while the catalog file is unchanged:
    every write of a run changes its modification time (a rollback journal, no WAL)."""
    return _kept(web, "library_groups", lambda: views.groups(conn))


def _kept(web: Web, key: str, compute):
    """A value computed from the catalog, kept while the catalog file is unchanged."""
    try:
        st = os.stat(catalog_path(web.library))
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None
    kept = web.extra.get(key)
    if stamp is not None and kept is not None and kept[0] == stamp:
        return kept[1]
    value = compute()
    web.extra[key] = (stamp, value)
    return value


def _library_data(web: Web, filters: views.Filters, month_key: str | None, page: int) -> dict:
    with web.catalog() as catalog:
        if catalog is None:
            return {"empty": True}
        conn = catalog.conn
        groups = _groups(web, conn)
        older_reads = _kept(web, "library_older_reads", lambda: views.read_by_older_version(conn))
        facets = views.facets(conn, groups)
        months = views.months(conn, filters, groups)
        keys = [m.key for m in months]
        asked = month_key is not None and bool(keys)  # a month named: shown, empty or not
        if month_key not in keys and not asked:
            month_key = keys[0] if keys else None
        count = next((m.count for m in months if m.key == month_key), 0)
        pages = max(1, math.ceil(count / PAGE_SIZE))
        page = min(page, pages)
        items = (
            views.items(conn, filters, month_key, PAGE_SIZE, (page - 1) * PAGE_SIZE)
            if month_key
            else []
        )
    if month_key in keys:
        index = keys.index(month_key)
        # the months around this one, in time order (the list is newest first)
        older = keys[index + 1] if index < len(keys) - 1 else None
        newer = keys[index - 1] if index > 0 else None
    else:  # a month with no file (with these filters): the nearest months that have some
        older, newer = _nearest(keys, month_key)
    return {
        "empty": False,
        "older_reads": older_reads,
        "facets": facets,
        "years": _years(months),
        "month": month_key,
        "month_label": month_label(month_key) if month_key else "",
        "count": count,
        "items": items,
        "page": page,
        "pages": pages,
        "older": older,
        "newer": newer,
        "empty_month": month_key is not None and month_key not in keys,
    }


def _nearest(keys: list[str], month_key: str | None) -> tuple[str | None, str | None]:
    """The months of `keys` (newest first, undated last) nearest a month not among
    them: (the newest one before it, the oldest one after it). Undated files come after
    every month, as the list has them."""
    if month_key is None:
        return None, None
    dated = [k for k in keys if k != views.UNDATED]
    if month_key == views.UNDATED:
        return None, dated[-1] if dated else None
    older = [k for k in dated if k < month_key]
    newer = [k for k in dated if k > month_key]
    undated = views.UNDATED if views.UNDATED in keys else None
    return (older[0] if older else undated), (newer[-1] if newer else None)


def _catalog_problem(web: Web, request: Request, exc: Exception):
    return web.error(request, 503, "The catalog cannot be read", str(exc))


async def library(request: Request):
    web = web_of(request)
    filters = _filters(request)
    month_key = request.query_params.get("month")
    if month_key is not None and not views.valid_month(month_key):
        month_key = None
    page = _page_number(request.query_params.get("page"))
    try:
        data = await run_in_threadpool(_library_data, web, filters, month_key, page)
    except CATALOG_PROBLEMS as exc:
        return _catalog_problem(web, request, exc)
    return web.page(
        request,
        "library.html",
        active="library",
        filters=filters,
        params=filters.params(),
        kind_labels=KIND_LABELS,
        camera_label=views.camera_label,
        **data,
    )


def _safe_catalog_path(text: str) -> bool:
    if not text or "\x00" in text:
        return False
    parts = text.split("/")
    return ".." not in parts and "." not in parts and "" not in parts


def _photo_data(web: Web, path: str, filters: views.Filters) -> dict | None:
    with web.catalog() as catalog:
        if catalog is None:
            return None
        conn = catalog.conn
        found = views.photo(conn, path)
        if found is None:
            return None
        before, after = views.neighbours(conn, filters, path, found["captured_at"])
        position = views.position(conn, filters, path, found["captured_at"])
    try:
        web.access.library_file(text_path(path))
        on_disk = True
    except Refused:
        on_disk = False
    captured = found["captured_at"]
    month_key = captured[:7] if captured and views.valid_month(captured[:7]) else views.UNDATED
    return {
        "file": found,
        "before": before,
        "after": after,
        "on_disk": on_disk,
        "month": month_key,
        "month_label": month_label(month_key),
        "grid_page": position // PAGE_SIZE + 1,
        "grid_index": position % PAGE_SIZE,
    }


def _place(lat: object, lon: object) -> dict | None:
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return {
        "lat": f"{lat:.6f}",
        "lon": f"{lon:.6f}",
        "text": f"{abs(lat):.5f}° {ns}, {abs(lon):.5f}° {ew}",
        "osm": (
            f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}"
            f"#map=15/{lat:.6f}/{lon:.6f}"
        ),
        # the marker on the world outline (an equirectangular 360 x 180 view box)
        "x": f"{lon + 180:.2f}",
        "y": f"{90 - lat:.2f}",
    }


async def photo(request: Request):
    web = web_of(request)
    path = request.query_params.get("path", "")
    if not _safe_catalog_path(path):
        return web.error(request, 403, "Not a library file", "That is not a path in the library.")
    filters = _filters(request)
    try:
        data = await run_in_threadpool(_photo_data, web, path, filters)
    except CATALOG_PROBLEMS as exc:
        return _catalog_problem(web, request, exc)
    if data is None:
        return web.error(
            request,
            404,
            "Not in the catalog",
            f"The library's catalog has no file {display_text(path)!r}.",
        )
    found = data["file"]
    return web.page(
        request,
        "photo.html",
        active="library",
        params=filters.params(),
        camera=views.camera_label(found["make"], found["model"]),
        camera_key=views.camera_key(found["make"], found["model"]),
        place=_place(found.get("latitude"), found.get("longitude")),
        name=path.rsplit("/", 1)[-1],
        **data,
    )


routes = [
    Route("/library", library),
    Route("/library/photo", photo),
]

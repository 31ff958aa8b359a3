"""The home page: the library at a glance, the reports to review, the jobs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from .context import web_of

# Which page reviews a report of each kind.
REVIEW_PAGE = {"duplicates": "/duplicates", "import": "/plan"}


def _review_page(kind: str, dryrun: bool) -> str | None:
    if kind == "import" and not dryrun:
        return None  # a real run's report is read on the runs page
    return REVIEW_PAGE.get(kind)


async def index(request: Request):
    web = web_of(request)
    files = None
    with web.catalog() as catalog:
        if catalog is not None:
            files = catalog.count_files()
    reports = web.access.reports()
    listed = [
        {
            "ref": r.ref,
            "name": r.path.name,
            "kind": r.header.kind,
            "dryrun": r.header.dryrun,
            "created": r.header.created,
            "size": r.size,
            "page": _review_page(r.header.kind, r.header.dryrun),
        }
        for r in reports
    ]
    return web.page(request, "home.html", active="home", files=files, reports=listed)


routes = [Route("/", index)]

"""The web app assembled: the guard around everything, the static files, one route
list per page, the job API; the job queue started and stopped with the app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import api, browse, duplicates, home, media, plan, runs
from .access import Access
from .context import Web, WebConfig
from .jobs import Jobs
from .render import STATIC, Renderer
from .security import Guard


def hosts_of(config: WebConfig) -> list[str]:
    """The Host headers the app answers to: the address it was started on, by name too."""
    names = {config.host}
    if config.host in ("127.0.0.1", "localhost", "::1"):
        names |= {"127.0.0.1", "localhost"}
    return [f"[{n}]:{config.port}" if ":" in n else f"{n}:{config.port}" for n in sorted(names)]


def create_app(config: WebConfig, *, start_jobs: bool = True) -> Starlette:
    web = Web(config, Access(config.library, config.report_dirs), Renderer(config.token))
    web.jobs = Jobs(config.library, web.access)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if start_jobs:
            web.jobs.start()
        try:
            yield
        finally:
            web.jobs.stop()

    routes = [
        *home.routes,
        *duplicates.routes,
        *plan.routes,
        *browse.routes,
        *runs.routes,
        *media.routes,
        *api.routes,
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=config.token, hosts=hosts_of(config))],
        lifespan=lifespan,
    )
    app.state.web = web
    return app

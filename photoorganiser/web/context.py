"""What every route of the web app shares: the library, who may read what, the
renderer, the job queue. One `Web` per server, kept in `app.state.web`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request

from ..library.catalog import Catalog
from .access import Access
from .render import Renderer


@dataclass(frozen=True, slots=True)
class WebConfig:
    library: Path
    report_dirs: tuple[Path, ...]  # where reports are looked for; the library's first
    token: str
    host: str = "127.0.0.1"
    port: int = 0


@dataclass
class Web:
    config: WebConfig
    access: Access
    renderer: Renderer
    jobs: object = None  # jobs.Jobs, set by app.py
    extra: dict = field(default_factory=dict)

    @property
    def library(self) -> Path:
        return self.config.library

    def page(self, request: Request, template: str, status_code: int = 200, **context):
        context.setdefault("library", str(self.library))
        context.setdefault("library_name", self.library.name or str(self.library))
        return self.renderer.page(request, template, status_code, **context)

    def error(self, request: Request, status: int, title: str, message: str):
        return self.page(request, "error.html", status, title=title, message=message)

    @contextlib.contextmanager
    def catalog(self) -> Iterator[Catalog | None]:
        """The library's catalog, read-only (None when the library has none yet)."""
        catalog = Catalog.open(self.library, readonly=True)
        try:
            yield catalog
        finally:
            if catalog is not None:
                catalog.close()


def web_of(request: Request) -> Web:
    return request.app.state.web


async def json_object(request: Request) -> dict | None:
    """A request's body when it is a JSON object; None for anything else."""
    try:
        body = await request.json()
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return None
    return body if isinstance(body, dict) else None

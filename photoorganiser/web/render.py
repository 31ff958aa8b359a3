"""Pages are rendered here: jinja2 templates (autoescaped) shipped in the package.

Every link a page makes carries the token (`url()`), since a plain link cannot carry an
Authorization header; the scripts send it as a Bearer header (static/app.js reads it
from the page's `data-token`). Nothing is fetched from the internet.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from .. import __version__
from ..core.textsafe import display_text

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

NAV = (
    ("home", "/", "Home"),
    ("duplicates", "/duplicates", "Duplicates"),
    ("plan", "/plan", "Import plan"),
    ("library", "/library", "Library"),
    ("runs", "/runs", "Runs and jobs"),
)


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


class Renderer:
    def __init__(self, token: str) -> None:
        self.token = token
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["url"] = self.url
        self.env.globals["nav"] = NAV
        self.env.globals["version"] = __version__
        self.env.globals["token"] = token
        self.env.filters["size"] = human_size
        self.env.filters["shown"] = display_text

    def url(self, path: str, /, **params: object) -> str:
        query = {k: v for k, v in params.items() if v is not None and v != ""}
        query["token"] = self.token
        return f"{path}?{urlencode(query, doseq=True)}"

    def page(
        self, request: Request, template: str, status_code: int = 200, **context
    ) -> HTMLResponse:
        context.setdefault("active", "")
        html = self.env.get_template(template).render(request=request, **context)
        return HTMLResponse(html, status_code=status_code)

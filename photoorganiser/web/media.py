"""Thumbnails and originals, by content hash.

`GET /thumb/<hash>?size=320[&path=...]`: a library file is found by its hash in the
catalog; a file under review (a report's input) is named by `path` and must be
readable (access.py) and still hold that hash (the cache checks it before keeping a
thumbnail under it). Files that have no thumbnail (a video without ffmpeg, a damaged
photo) get an icon. `GET /original/<hash>` serves the file itself, the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..library.lock import UnsafeStateFile
from ..library.thumbs import ThumbCache
from ..media.scan import VIDEO_EXTENSIONS
from .access import Refused
from .context import Web, web_of
from .render import STATIC

HASH = re.compile(r"^[0-9a-f]{32}$")
SIZES = (160, 320, 640, 1280)


def _locate(web: Web, content_hash: str, path_text: str | None) -> Path:
    if not HASH.match(content_hash):
        raise Refused("not a content hash")
    if path_text:
        return web.access.readable(path_text)
    with web.catalog() as catalog:
        rows = catalog.find_by_hash(content_hash) if catalog is not None else []
    for row in rows:
        try:
            return web.access.library_file(row.path)
        except Refused:
            continue
    raise Refused("no such file in the library")


def _icon(path: Path) -> Response:
    name = "video.svg" if path.suffix.lower().lstrip(".") in VIDEO_EXTENSIONS else "nothumb.svg"
    return Response(
        (STATIC / name).read_bytes(),
        media_type="image/svg+xml",
        headers={"cache-control": "private, max-age=300"},
    )


async def thumb(request: Request) -> Response:
    web = web_of(request)
    content_hash = request.path_params["hash"]
    try:
        size = int(request.query_params.get("size", "320"))
    except ValueError:
        size = 0
    if size not in SIZES:
        return PlainTextResponse(f"size must be one of {SIZES}", status_code=400)
    try:
        path = await run_in_threadpool(_locate, web, content_hash, request.query_params.get("path"))
    except Refused as exc:
        return PlainTextResponse(str(exc), status_code=404 if "no such" in str(exc) else 403)
    cache = web.extra.setdefault("thumbs", ThumbCache(web.library))
    try:
        data = await run_in_threadpool(cache.get, content_hash, path, size)
    except UnsafeStateFile as exc:  # a link planted in the thumbnail folder
        return PlainTextResponse(f"thumbnails unavailable: {exc}", status_code=500)
    if not data:
        return _icon(path)
    return Response(
        data,
        media_type="image/jpeg",
        headers={"cache-control": "private, max-age=31536000, immutable"},
    )


async def original(request: Request) -> Response:
    web = web_of(request)
    try:
        path = await run_in_threadpool(
            _locate, web, request.path_params["hash"], request.query_params.get("path")
        )
    except Refused as exc:
        return PlainTextResponse(str(exc), status_code=404 if "no such" in str(exc) else 403)
    return FileResponse(path, headers={"cache-control": "private, max-age=3600"})


routes = [
    Route("/thumb/{hash}", thumb),
    Route("/original/{hash}", original),
]

"""The JSON job API (the queue is web/jobs.py).

- `POST /api/jobs` `{"command": ..., options}` -> `{"id"}` (400/403/404 with
  `{"error"}` for a request refused: nothing is queued)
- `GET /api/jobs` -> every job, newest first; `GET /api/jobs/{id}` -> one job:
  `{"id", "command", "status", "stage", "done", "total", "eta_s", "report", ...}`; a
  finished job's `outcome` counts its report's rows by status (done, left-alone, ...)
- `GET /api/jobs/{id}/report` -> the report file as written (404 while there is none);
  `?format=json` gives a CSV report's rows as JSON objects
- `GET /api/jobs/{id}/log` -> the end of the command's output (text)
- `GET /api/commands` -> the options each command takes, and what each must be
- `DELETE /api/jobs/{id}` cancels: a queued job at once, a running one as Ctrl-C
  stops it; a finished job: 409
"""

from __future__ import annotations

import json
import os

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..core.reportfile import header_fields, read_rows
from .context import json_object, web_of
from .jobs import JobRequestError, describe_commands

LOG_TAIL = 64 * 1024


class JSON(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate (a file name that is
    not UTF-8, as Python holds it) is sent as `\\udcNN`, never an encoding error."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


def _error(status: int, message: str) -> JSONResponse:
    return JSON({"error": message}, status_code=status)


def _jobs(request: Request):
    return web_of(request).jobs


async def submit(request: Request) -> Response:
    body = await json_object(request)
    if body is None:
        return _error(400, "the body must be a JSON object")
    options = dict(body)
    command = options.pop("command", None)
    try:
        job_id = _jobs(request).submit(command, options)
    except JobRequestError as exc:
        return _error(exc.status, str(exc))
    return JSON({"id": job_id}, status_code=201)


async def list_jobs(request: Request) -> Response:
    return JSON(_jobs(request).list())


async def one_job(request: Request) -> Response:
    job = _jobs(request).get(request.path_params["id"])
    if job is None:
        return _error(404, "no such job")
    return JSON(job)


async def cancel(request: Request) -> Response:
    try:
        job = _jobs(request).cancel(request.path_params["id"])
    except JobRequestError as exc:
        return _error(exc.status, str(exc))
    return JSON(job, status_code=200 if job["status"] == "cancelled" else 202)


async def report(request: Request) -> Response:
    try:
        path = _jobs(request).report_path(request.path_params["id"])
    except JobRequestError as exc:
        return _error(exc.status, str(exc))
    if path is None:
        return _error(404, "the job has no report (yet)")
    is_json = path.suffix.lower() == ".json"
    if request.query_params.get("format") == "json" and not is_json:
        header, rows = read_rows(path)
        return JSON({"header": header_fields(header) if header is not None else None, "rows": rows})
    media = "application/json" if is_json else "text/csv; charset=utf-8"
    return FileResponse(path, media_type=media, filename=path.name)


async def job_log(request: Request) -> Response:
    try:
        path = _jobs(request).log_path(request.path_params["id"])
    except JobRequestError as exc:
        return _error(exc.status, str(exc))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return PlainTextResponse("")
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - LOG_TAIL))
        text = f.read().decode("utf-8", "backslashreplace")
    return PlainTextResponse(text)


async def commands(request: Request) -> Response:
    """What each command takes: {command: {field: what it must be}} (and what is required)."""
    return JSON(describe_commands())


routes = [
    Route("/api/commands", commands, methods=["GET"]),
    Route("/api/jobs", submit, methods=["POST"]),
    Route("/api/jobs", list_jobs, methods=["GET"]),
    Route("/api/jobs/{id}", one_job, methods=["GET"]),
    Route("/api/jobs/{id}", cancel, methods=["DELETE"]),
    Route("/api/jobs/{id}/report", report, methods=["GET"]),
    Route("/api/jobs/{id}/log", job_log, methods=["GET"]),
]

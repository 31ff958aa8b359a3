"""Destination paths: the template, and sanitising every value that enters a path.

A template is a relative path with fields, e.g. the default
`{year}/{month}/{year}{month}{day}_{hour}{minute}{second}_{stem}{ext}`: year and
month folders, and a name that sorts by capture time and keeps the original stem.
Each field value is sanitised on its own, so metadata (a camera model with a
slash, a name with `..`, control characters) can never change the path's shape.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from .model import Analysis

DEFAULT_TEMPLATE = "{year}/{month}/{year}{month}{day}_{hour}{minute}{second}_{stem}{ext}"
UNDATED_FOLDER = "undated"

FIELDS = {
    "year": "capture year, 4 digits",
    "month": "capture month, 01-12",
    "day": "capture day, 01-31",
    "hour": "capture hour, 00-23",
    "minute": "capture minute",
    "second": "capture second",
    "date": "capture date, YYYY-MM-DD",
    "stem": "the original file name without its extension",
    "ext": "the original extension, lower case, with its dot (.jpg)",
    "make": "camera make (unknown when absent)",
    "model": "camera model (unknown when absent)",
    "width": "width in pixels (0 when unknown)",
    "height": "height in pixels (0 when unknown)",
    "hash8": "the first 8 hex digits of the content hash",
    "kind": "image, raw or video",
}
DATE_FIELDS = frozenset({"year", "month", "day", "hour", "minute", "second", "date"})

MAX_COMPONENT_BYTES = 200  # well under the 255-byte limit of common file systems
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{i}" for i in range(1, 10)]
    + [f"lpt{i}" for i in range(1, 10)]
)


class TemplateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    fields: frozenset[str]

    @property
    def needs_date(self) -> bool:
        return bool(self.fields & DATE_FIELDS)


def parse_template(text: str) -> Template:
    """Check a template once, before any file is looked at."""
    if not text or not text.strip():
        raise TemplateError("the template is empty")
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        raise TemplateError("the template must be a relative path inside the library")
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"cannot read the template: {exc}") from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            known = ", ".join("{" + f + "}" for f in FIELDS)
            raise TemplateError(f"unknown field {{{name}}} in the template; known fields: {known}")
        if spec or conversion:
            raise TemplateError(f"field {{{name}}} takes no format spec or conversion")
        names.add(name)
    probe = text.replace("\\", "/")
    for part in probe.split("/"):
        if part in ("..", "."):
            raise TemplateError("the template may not contain '.' or '..' folders")
    if "{" not in probe.rsplit("/", 1)[-1]:
        raise TemplateError("the file name part of the template must contain a field")
    return Template(text, frozenset(names))


def sanitise_component(value: str, fallback: str = "unknown") -> str:
    """A string made safe to be (part of) one path component."""
    value = unicodedata.normalize("NFC", value)
    value = _FORBIDDEN.sub("_", value)
    value = value.strip().strip(".").strip()
    value = re.sub(r"\s+", " ", value)
    value = re.sub(r"\.{2,}", ".", value)
    if not value:
        return fallback
    if value.split(".")[0].lower() in _RESERVED:
        value = "_" + value
    return _truncate_utf8(value, MAX_COMPONENT_BYTES)


def _truncate_utf8(value: str, limit: int) -> str:
    encoded = value.encode("utf-8")
    if len(encoded) <= limit:
        return value
    return encoded[:limit].decode("utf-8", "ignore").rstrip()


def render(template: Template, analysis: Analysis) -> PurePosixPath:
    """The destination of `analysis`, relative to the library root."""
    source = analysis.entry.path
    stem = sanitise_component(source.stem, fallback="photo")
    ext = sanitise_component(source.suffix.lower(), fallback="")
    if ext and not ext.startswith("."):
        ext = "." + ext
    captured = analysis.captured
    if captured is None and template.needs_date:
        return PurePosixPath(UNDATED_FOLDER) / fit_name(stem, ext)
    media = analysis.media
    values = {
        "stem": stem,
        "ext": ext,
        "make": sanitise_component(media.make or ""),
        "model": sanitise_component(media.model or ""),
        "width": str(media.width or 0),
        "height": str(media.height or 0),
        "hash8": analysis.hash[:8],
        "kind": analysis.entry.kind.value,
    }
    if captured is not None:
        w = captured.wall
        values |= {
            "year": f"{w.year:04d}",
            "month": f"{w.month:02d}",
            "day": f"{w.day:02d}",
            "hour": f"{w.hour:02d}",
            "minute": f"{w.minute:02d}",
            "second": f"{w.second:02d}",
            "date": f"{w.year:04d}-{w.month:02d}-{w.day:02d}",
        }
    rendered = template.text.replace("\\", "/").format_map(values)
    parts = [sanitise_component(p, fallback="_") for p in rendered.split("/") if p.strip()]
    if not parts:
        parts = [fit_name(stem, ext)]
    *folders, name = parts
    if ext and name.lower().endswith(ext):
        name = fit_name(name[: -len(ext)], ext)
    return PurePosixPath(*folders, name)


def fit_name(stem: str, ext: str) -> str:
    """stem + ext within the component limit, shortening the stem, never the extension."""
    room = MAX_COMPONENT_BYTES - len(ext.encode("utf-8"))
    return _truncate_utf8(stem, max(room, 1)) + ext


def with_suffix_number(name: str, number: int) -> str:
    """`IMG_0001.jpg` -> `IMG_0001_1.jpg`: the name given to the n-th different file."""
    path = PurePosixPath(name)
    return fit_name(f"{path.stem}_{number}", path.suffix)

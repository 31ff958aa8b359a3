"""Destination paths: the template, and sanitising every value that enters a path.

A template is a relative path with fields, e.g. the default
`{year}/{month}/{year}{month}{day}_{hour}{minute}{second}_{stem}{ext}`: year and
month folders, and a name that sorts by capture time and keeps the original stem.
Each field value is sanitised on its own, so metadata (a camera model with a
slash, a name with `..`, control characters) can never change the path's shape.
"""

from __future__ import annotations

import functools
import os
import re
import string
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..core.values import Analysis

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
_SPACES = re.compile(r"\s+")
_DOTS = re.compile(r"\.{2,}")
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{i}" for i in range(1, 10)]
    + [f"lpt{i}" for i in range(1, 10)]
)


class TemplateError(ValueError):
    """A template that cannot give every file a name of its own; one line, said before
    any file moves."""


@dataclass(frozen=True, slots=True)
class Template:
    """A checked template. `text` is what `render` fills in: '/'-separated, and ending
    in `{ext}` (added when the template left it out, so no file loses its extension)."""

    text: str
    fields: frozenset[str]

    @property
    def needs_date(self) -> bool:
        return bool(self.fields & DATE_FIELDS)


# A field in the file name part that tells files apart: without one, every photo of a
# month gets the same name and then `_1`, `_2`... (a time down to the second is as good).
PER_FILE_FIELDS = frozenset({"stem", "hash8", "second"})
_PER_FILE_HINT = (
    "add {stem} (the original name), {hash8} or a time down to {second},"
    " e.g. {year}/{month}/{stem}{ext}"
)

# strftime (`%Y/%m/%d`, sortphotos, exiftool -d) and phockup/Lightroom-style tokens
# (`YYYY/MM/DD`) are what people coming from other tools write; they would become
# literal folder names. Refused, with the same template written in fields.
_STRFTIME = re.compile(r"%[aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZf]")
_STRFTIME_FIELDS = {
    "Y": "{year}", "G": "{year}", "y": "{year}",
    "m": "{month}", "b": "{month}", "B": "{month}", "h": "{month}",
    "d": "{day}", "e": "{day}",
    "H": "{hour}", "I": "{hour}", "k": "{hour}", "l": "{hour}",
    "M": "{minute}", "S": "{second}",
    "F": "{date}", "D": "{month}/{day}/{year}", "T": "{hour}{minute}{second}",
}  # fmt: skip
_TOKEN = re.compile(r"(?<![A-Za-z])(YYYY|yyyy|YY|yy|MM|DD|dd|HH|hh|mm|ss)(?![A-Za-z])")
_TOKEN_FIELDS = {
    "YYYY": "{year}", "yyyy": "{year}", "YY": "{year}", "yy": "{year}",
    "MM": "{month}", "DD": "{day}", "dd": "{day}",
    "HH": "{hour}", "hh": "{hour}", "mm": "{minute}", "ss": "{second}",
}  # fmt: skip
_FIXED_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
_EXT = "{ext}"


def parse_template(text: str) -> Template:
    """Check a template once, before any file is looked at; refuse one that cannot give
    each file its own name with its extension (every refusal is one line with the fix)."""
    if not text or not text.strip():
        raise TemplateError("the template is empty")
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        raise TemplateError("the template must be a relative path inside the library")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"cannot read the template: {exc}") from exc
    _refuse_foreign_date_patterns(parsed)
    names: set[str] = set()
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
    probe = probe.rstrip("/")
    name_part = probe.rsplit("/", 1)[-1]
    name_fields = {n for _lit, n, _s, _c in string.Formatter().parse(name_part) if n}
    if not name_fields:
        raise TemplateError(
            f"the file name part of the template must contain a field: {_PER_FILE_HINT}"
        )
    if not name_fields & PER_FILE_FIELDS:
        raise TemplateError(
            f'the template\'s file name part "{name_part}" has no per-file field: {_PER_FILE_HINT}'
        )
    if _EXT in name_part and not name_part.endswith(_EXT):
        raise TemplateError(
            f'{{ext}} must end the template\'s file name part "{name_part}",'
            " e.g. {year}/{month}/{stem}{ext}"
        )
    if not name_part.endswith(_EXT):
        fixed = _FIXED_EXTENSION.search(name_part)
        if fixed:
            raise TemplateError(
                f'the template\'s file name ends in a fixed extension "{fixed.group()}":'
                " write {ext} (each file's own extension), e.g. {year}/{month}/{stem}{ext}"
            )
        probe += _EXT
        names.add("ext")
    return Template(probe, frozenset(names))


def _refuse_foreign_date_patterns(parsed: list) -> None:
    """strftime or YYYY/MM/DD outside braces: refused, showing the template in fields."""
    literals = [literal for literal, *_ in parsed]  # each on its own: "Y{stem}YYY" is no YYYY
    if any(map(_STRFTIME.search, literals)):
        what, fields_of, pattern = "strftime patterns", _STRFTIME_FIELDS, _STRFTIME
    elif any(map(_TOKEN.search, literals)):
        what, fields_of, pattern = "date tokens like YYYY or MM", _TOKEN_FIELDS, _TOKEN
    else:
        return
    hint = _suggest(parsed, pattern, lambda m: fields_of.get(m.group().lstrip("%")))
    if hint is None:
        raise TemplateError(
            f"{what} are not supported: write fields in braces,"
            " e.g. {year}/{month}/{day}/{stem}{ext}"
        )
    raise TemplateError(f"{what} are not supported: write {hint}")


def _suggest(parsed: list, pattern: re.Pattern[str], field_of) -> str | None:
    """The template with foreign date patterns written as fields; a file name field
    added if it then has none. None when that still is no valid template."""
    untranslatable = False

    def translate(match: re.Match[str]) -> str:
        nonlocal untranslatable
        field = field_of(match)
        if field is None:
            untranslatable = True
            return match.group()
        return field

    out = []
    for literal, name, _spec, _conversion in parsed:
        out.append(pattern.sub(translate, literal))
        if name is not None:
            out.append("{" + name + "}")
    suggestion = "".join(out)
    if untranslatable:
        return None
    name_part = suggestion.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if not {n for _lit, n, _s, _c in string.Formatter().parse(name_part) if n} & PER_FILE_FIELDS:
        suggestion = suggestion.rstrip("/") + "/{stem}{ext}"
    try:
        parse_template(suggestion)
    except TemplateError:
        return None
    return suggestion


# Characters a name may hold that nobody sees: bidirectional controls (U+202E shows
# `gpj.exe` as `exe.jpg`), other invisible formatting characters (zero-width space,
# joiners, BOM, soft hyphen: every Unicode "Cf") and C1 controls. Removed from new
# names by a translate table, because this runs several times per file; built on the
# first name that is not ASCII (every Cf character lies below U+20000 or in the tags
# block U+E0000..U+E0FFF, so the scan takes 10 ms, not the 80 ms of all of Unicode).
@functools.cache
def _invisible() -> dict[int, None]:
    planes = (range(0x20000), range(0xE0000, 0xE1000))
    formats = [c for r in planes for c in r if unicodedata.category(chr(c)) == "Cf"]
    return dict.fromkeys([*formats, *range(0x80, 0xA0)])


# An undecodable byte (a lone surrogate from surrogateescape) entering a new name:
# read as cp1252, what old Windows zips and cards use (`caf\xe9` -> `café`); the five
# bytes cp1252 leaves undefined, and any other lone surrogate, become `_`.
_SURROGATES = re.compile("[\ud800-\udfff]")


def _cp1252_or_underscore(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return "_"


_BYTE_AS_CP1252 = {0xDC00 + b: _cp1252_or_underscore(b) for b in range(0x80, 0x100)}
_BYTE_AS_CP1252 |= {c: "_" for c in range(0xD800, 0xE000) if c not in _BYTE_AS_CP1252}


def _decode_undecodable(value: str) -> str:
    """`value` without lone surrogates: its original bytes read as UTF-8 if they are
    (a name split mid-character and joined again), else each undecodable byte as cp1252."""
    if not _SURROGATES.search(value):
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return value.translate(_BYTE_AS_CP1252)


def sanitise_component(value: str, fallback: str = "unknown") -> str:
    """A string made safe to be (part of) one path component.

    Idempotent (apply checks a reviewed report's names by sanitising them again).
    A pure function of its arguments: short values (a make, a model, a year, a date:
    the same for thousands of files) are remembered, long ones are not kept; a plain
    ASCII name (letters, digits, `_-+`, single inner dots and spaces: most camera
    names) is returned as it is, without either."""
    if _PLAIN.match(value) and len(value) <= MAX_COMPONENT_BYTES:
        head = value.partition(".")[0]
        if len(head) > 4 or head.lower() not in _RESERVED:
            return value  # what _sanitise gives it: nothing in it is changed
    if len(value) > _CACHED_LENGTH:
        return _sanitise(value, fallback)
    return _sanitise_cached(value, fallback)


_CACHED_LENGTH = 64
# Names _sanitise leaves as they are: ASCII, nothing forbidden, no leading, trailing or
# repeated dots or white space (only single inner spaces and dots).
_PLAIN = re.compile(r"[A-Za-z0-9_+\-]+(?:[ .][A-Za-z0-9_+\-]+)*\Z")


def _sanitise(value: str, fallback: str) -> str:
    if not value.isascii():  # the common ASCII name skips the Unicode work
        # Invisible characters go before NFC: removing one may bring a letter and its
        # combining accent together, which NFC then composes (so this is idempotent).
        value = _decode_undecodable(value).translate(_invisible())
        value = unicodedata.normalize("NFC", value)
    value = _FORBIDDEN.sub("_", value)
    value = value.strip().strip(".").strip()
    value = _SPACES.sub(" ", value)
    value = _DOTS.sub(".", value)
    if not value:
        return fallback
    if value.split(".")[0].lower() in _RESERVED:
        value = "_" + value
    return _truncate_utf8(value, MAX_COMPONENT_BYTES)


_sanitise_cached = functools.lru_cache(maxsize=1024)(_sanitise)


def _truncate_utf8(value: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, cut on a character boundary; never raises (a lone
    surrogate is decoded first, as in `sanitise_component`)."""
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        value = _decode_undecodable(value)
        encoded = value.encode("utf-8")
    if len(encoded) <= limit:
        return value
    return encoded[:limit].decode("utf-8", "ignore").rstrip()


def render(template: Template, analysis: Analysis) -> PurePosixPath:
    """The destination of `analysis`, relative to the library root."""
    return PurePosixPath(render_text(template, analysis))


_NAME_FIELDS = DATE_FIELDS | {"stem", "ext"}
# Rendered folder parts and extensions, sanitised once each (sanitise_component is a pure
# function of its text): a run has a few hundred of them for a million files.
_CACHED_PARTS = 4096
_TWO_DIGITS = tuple(f"{i:02d}" for i in range(100))
_SHORT = MAX_COMPONENT_BYTES  # characters: an ASCII name this long has as many bytes
_FOLDERS: dict[str, str] = {}
_EXTS: dict[str, str] = {}


def render_text(template: Template, analysis: Analysis) -> str:
    """`render` as '/'-separated text (no empty, '.' or '..' part): what planning joins
    to the library root, without building a path object per part."""
    text = os.fspath(analysis.entry.path)  # its name from its text: the path is not parsed
    name = text[text.rfind("/") + 1 :]
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""  # as pathlib's suffix
    stem = sanitise_component(name[: len(name) - len(suffix)], fallback="photo")
    ext = _EXTS.get(suffix)
    if ext is None:
        ext = sanitise_component(suffix.lower(), fallback="")
        if ext and not ext.startswith("."):
            ext = "." + ext
        if len(_EXTS) < _CACHED_PARTS:
            _EXTS[suffix] = ext
    captured = analysis.captured
    if captured is None and template.needs_date:
        return f"{UNDATED_FOLDER}/{fit_name(stem, ext)}"
    media = analysis.media
    fields = template.fields  # only the values the template uses are made
    values = {"stem": stem, "ext": ext}
    if not fields <= _NAME_FIELDS:
        values |= {
            "make": sanitise_component(media.make or ""),
            "model": sanitise_component(media.model or ""),
            "width": str(media.width or 0),
            "height": str(media.height or 0),
            "hash8": analysis.hash[:8],
            "kind": analysis.entry.kind.value,
        }
    if captured is not None:
        w = captured.wall
        values["year"] = f"{w.year:04d}"
        values["month"] = _TWO_DIGITS[w.month]  # (a look-up, not a format, per field)
        values["day"] = _TWO_DIGITS[w.day]
        values["hour"] = _TWO_DIGITS[w.hour]
        values["minute"] = _TWO_DIGITS[w.minute]
        values["second"] = _TWO_DIGITS[w.second]
        if "date" in fields:
            values["date"] = f"{w.year:04d}-{w.month:02d}-{w.day:02d}"
    folders_text, name_text = _layout(template)
    name = name_text.format_map(values)
    if not name.strip():  # not for a checked template: its name part has a per-file field
        return _joined(template.text.format_map(values), stem, ext)
    # (no value holds a '/': the template's own '/'s separate the parts)
    raw = folders_text.format_map(values)
    folders = _FOLDERS.get(raw)  # a year and month, a camera: the same for many files
    if folders is None:
        folders = "/".join(sanitise_component(p, fallback="_") for p in raw.split("/") if p.strip())
        if len(_FOLDERS) < _CACHED_PARTS:
            _FOLDERS[raw] = folders
    name = _name_part(name, ext)
    short = len(name) <= _SHORT and name.isascii() and name.endswith(ext)  # fits as it is
    if ext and not short and name.lower().endswith(ext):
        name = fit_name(name[: -len(ext)], ext)
    return f"{folders}/{name}" if folders else name


@functools.lru_cache(maxsize=64)
def _layout(template: Template) -> tuple[str, str]:
    """The template's folder part and file name part."""
    folders, _, name = template.text.rpartition("/")
    return folders, name


def _name_part(name: str, ext: str) -> str:
    """The rendered file name sanitised; one too long for a path component keeps its
    extension (the stem is shortened): a name cut through its extension would no longer
    be seen as a photo by the library's own sync and verify, nor by anything else."""
    safe = sanitise_component(name, fallback="_")
    if ext and not safe.lower().endswith(ext) and name.lower().endswith(ext):
        safe = fit_name(sanitise_component(name[: -len(ext)], fallback="_"), ext)
    return safe


def _joined(rendered: str, stem: str, ext: str) -> str:
    """A rendered path made of sanitised parts, empty ones left out (the general way)."""
    raw = [p for p in rendered.split("/") if p.strip()]
    parts = [sanitise_component(p, fallback="_") for p in raw[:-1]] + [
        _name_part(p, ext) for p in raw[-1:]
    ]
    if not parts:
        parts = [fit_name(stem, ext)]
    *folders, name = parts
    if ext and name.lower().endswith(ext):
        name = fit_name(name[: -len(ext)], ext)
    return "/".join([*folders, name])


def fit_name(stem: str, ext: str) -> str:
    """stem + ext within the component limit, shortening the stem, never the extension."""
    room = MAX_COMPONENT_BYTES - len(ext.encode("utf-8"))
    return _truncate_utf8(stem, max(room, 1)) + ext


def with_suffix_number(name: str, number: int) -> str:
    """`IMG_0001.jpg` -> `IMG_0001_1.jpg`: the name given to the n-th different file."""
    path = PurePosixPath(name)
    return fit_name(f"{path.stem}_{number}", path.suffix)

"""A small, forgiving XMP reader: the few properties photoorganiser needs, by regex.

XMP packets are RDF/XML, but real files carry both the attribute form
(`exif:DateTimeOriginal="..."`) and the element form (`<xmp:CreateDate>...</...>`), old
prefixes (`xap:` for `xmp:`) and broken namespaces. An XML parser would reject some of
them, so we match property names by their local name and accept any prefix.

Also a standalone .xmp sidecar's capture date (`date_from_xmp_sidecar`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..core.values import CaptureDate, DateSource
from .dates import parse_datetime

_NAMES = "DateTimeOriginal|CreateDate|DateCreated|DateTimeDigitized|Make|Model"
_NAMES += "|GPSLatitude|GPSLongitude"  # gps.py: exif:GPSLatitude="52,22.2N"
_NAMES += "|GPSTimeStamp"  # gps.py: exif:GPSTimeStamp, the fix's date and time (UTC)
# Every pattern here must stay linear in the packet's size: a hostile or damaged file can
# carry megabytes of XMP. So a prefix is only tried where a name starts (the look-behind
# rejects every other position at once), quantifiers are possessive (`*+`: no backtracking
# into a run that cannot end the match), and no scan can cross a `<` (the start of the next
# tag), so two candidate matches never scan the same text.
_PREFIX = r"(?<![\w.-])([A-Za-z][\w.-]*+)"
_ATTR_RE = re.compile(rf"""{_PREFIX}:({_NAMES})\s*+=\s*+(["'])(.*?)\3""", re.S)
_ELEM_RE = re.compile(
    rf"<([A-Za-z][\w.-]*+):({_NAMES})(?:\s[^<>]*+)?>"
    r"\s*+(?:<rdf:\w++>\s*+<rdf:li[^<>]*+>)?([^<]*+)<",
)
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))


def _unescape(text: str) -> str:
    """XML's five entities; `&amp;` last, so `&amp;lt;` becomes `&lt;`, not `<`."""
    text = text.strip()
    if "&" in text:
        for entity, char in _ENTITIES:
            text = text.replace(entity, char)
    return text


@dataclass
class XmpInfo:
    values: dict[str, str] = field(default_factory=dict)  # "prefix:Name" -> first value

    def get(self, *names: str) -> str | None:
        for name in names:
            value = self.values.get(name)
            if value:
                return value
        return None

    def _first_date(
        self, order: tuple[tuple[str, tuple[str, ...]], ...]
    ) -> tuple[datetime, timedelta | None, str] | None:
        for tag, names in order:
            for name in names:
                parsed = parse_datetime(self.values.get(name))
                if parsed:
                    return parsed[0], parsed[1], tag
        return None

    def capture_date(
        self, date_created: bool = True
    ) -> tuple[datetime, timedelta | None, str] | None:
        """Embedded XMP: (wall, offset, tag) in exiftool's order (DateTimeOriginal, then
        CreateDate), then photoshop:DateCreated. tag is "DateTimeOriginal" etc."""
        return self._first_date(_EMBEDDED_ORDER if date_created else _EMBEDDED_ORDER[:2])

    def date_created(self) -> tuple[datetime, timedelta | None, str] | None:
        return self._first_date(_EMBEDDED_ORDER[2:])

    def sidecar_date(self) -> tuple[datetime, timedelta | None, str] | None:
        return self._first_date(_SIDECAR_ORDER)

    @property
    def make(self) -> str | None:
        return self.get("tiff:Make")

    @property
    def model(self) -> str | None:
        return self.get("tiff:Model")


_DTO = ("exif:DateTimeOriginal", "exifEX:DateTimeOriginal", "video:DateTimeOriginal")
_CREATE = ("xmp:CreateDate", "xap:CreateDate", "exif:DateTimeDigitized")
_CREATED = ("photoshop:DateCreated",)
_EMBEDDED_ORDER = (
    ("DateTimeOriginal", _DTO),
    ("CreateDate", _CREATE),
    ("DateCreated", _CREATED),
)
_SIDECAR_ORDER = (
    ("DateTimeOriginal", _DTO),
    ("DateCreated", _CREATED),
    ("CreateDate", _CREATE),
)


def parse_xmp(data: bytes | str) -> XmpInfo:
    """Never raises; unknown or broken packets give an empty XmpInfo."""
    if isinstance(data, bytes):
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = data.decode("utf-16", "replace")
        else:
            text = data.decode("utf-8", "replace")
    else:
        text = data
    info = XmpInfo()
    for regex in (_ATTR_RE, _ELEM_RE):
        for m in regex.finditer(text):
            prefix, name = m.group(1), m.group(2)
            value = m.group(4) if regex is _ATTR_RE else m.group(3)
            key = f"{prefix}:{name}"
            if key not in info.values and value.strip():
                info.values[key] = _unescape(value)
    return info


def date_from_xmp_sidecar(data: bytes) -> CaptureDate | None:
    """A standalone .xmp file's capture date: exif:DateTimeOriginal, photoshop:DateCreated,
    xmp:CreateDate, in that order."""
    found = parse_xmp(data).sidecar_date()
    if found is None:
        return None
    wall, offset, _tag = found
    return CaptureDate(wall, DateSource.XMP_SIDECAR, offset)

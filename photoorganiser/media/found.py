"""What a reader finds in one file, before the date policy chooses among it.

`Found` is the accumulator every format reader (images, containers, raw, quicktime) fills
in; `MetadataError` is the one error `read_media` raises; the rest is shared by the readers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..core.values import CaptureDate
from .exif import ExifFormatError, ExifInfo, parse_tiff

# utc_offset marker of an internal CaptureDate whose `wall` is a UTC instant still to be
# converted to wall time in the caller's tz (see policy.py); never returned to callers.
IS_UTC = timedelta.max


class MetadataError(Exception):
    """The file cannot be read as media at all; str(exc) says why, for a person."""


@dataclass(slots=True)
class Found:
    """One file's metadata as its reader found it; `iptc`, `video` and `others` are steps 2, 5 and 7
    of the date chain (policy.py)."""

    format: str
    is_video: bool = False
    width: int | None = None
    height: int | None = None
    make: str | None = None
    model: str | None = None
    exif: ExifInfo | None = None
    xmp: bytes | None = None
    video: CaptureDate | None = None  # the container's own date (step 5)
    iptc: list[CaptureDate] = field(default_factory=list)  # step 2 (IPTC DateCreated)
    iptc_date_only: bool = False  # IPTC DateCreated came without TimeCreated
    iptc_stale: bool = False  # the IPTCDigest does not match: the XMP was edited since
    others: list[CaptureDate] = field(default_factory=list)  # step 7
    xmp_extra: dict[str, str] = field(default_factory=dict)  # PNG tEXt "xmp:CreateDate"...
    qt_utc: datetime | None = None  # mvhd (UTC), to match an XMP date against
    problems: list[str] = field(default_factory=list)  # the content itself is damaged
    warnings: list[str] = field(default_factory=list)  # only metadata is unreadable
    content_id: str | None = None  # Apple's Live Photo identifier (videos: the Keys entry)
    position: tuple[float, float] | None = None  # a container's own GPS position (gps.py)


def tiff_or_problem(raw: bytes, found: Found) -> ExifInfo | None:
    """An embedded EXIF block, or None with a warning: only the metadata is damaged."""
    try:
        return parse_tiff(raw)
    except (ExifFormatError, struct.error, IndexError) as exc:
        found.warnings.append(f"corrupt EXIF block ({exc})")
        return None


def clean(value: str | None) -> str | None:
    """A make/model string without NULs and padding; None when nothing is left."""
    if not value:
        return None
    value = value.replace("\0", "").strip()
    return value or None

"""The zone used to turn UTC times (QuickTime, Takeout, mtime) into local wall time."""

from __future__ import annotations

import functools
import os
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownTimezone(ValueError):
    pass


@functools.lru_cache(maxsize=16)
def resolve_timezone(name: str | None) -> tzinfo:
    """An IANA zone by name (`Europe/Paris`), or the machine's own zone for None."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UnknownTimezone(
                f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
            ) from exc
    return _machine_timezone()


def _machine_timezone() -> tzinfo:
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    real = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in real:  # /etc/localtime -> /usr/share/zoneinfo/Europe/Paris
        try:
            return ZoneInfo(real.split("zoneinfo/", 1)[1])
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        pass
    return datetime.now().astimezone().tzinfo  # a fixed offset: the best left


def timezone_key(name: str | None) -> str:
    """A stable name for the zone in use (what cached analyses depend on)."""
    tz = resolve_timezone(name)
    return getattr(tz, "key", None) or str(tz)

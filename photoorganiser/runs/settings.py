"""A setting's value checked on its own, as the commands check it.

The commands' checks (importer.check_options, sync's) call these for the option's value;
cli.py calls the same ones (`CHECKS`) for a value a config file gave, so that a bad one
is said as the file's and key's (library/config.py), not as an option never typed, and
`photoorganiser config` says it too. A refusal is `BadValue`: one line saying what is
wrong with the value, without the option's or the key's name (the caller adds it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..importing.paths import TemplateError, parse_template
from ..media.timezones import UnknownTimezone, resolve_timezone


class BadValue(ValueError):
    """A value no run can use: what is wrong with it, in one line."""


def check_folder(path: Path) -> None:
    """A folder that must be there (`--prefer`): a typo would be ignored silently."""
    if not os.path.isdir(path):
        raise BadValue(f"{path} is not a folder (no such folder)")


def check_folders(paths: Iterable[Path]) -> None:
    for path in paths:
        check_folder(path)


def check_template(text: str) -> None:
    try:
        parse_template(text)
    except TemplateError as exc:
        raise BadValue(str(exc)) from None


def check_timezone(name: str | None) -> None:
    try:
        resolve_timezone(name)
    except UnknownTimezone as exc:
        raise BadValue(str(exc)) from None


# by config key (library/config.KEYS); the others' values are checked in full when a file
# is read (a whole number, a number of seconds, "move" or "copy", an absolute path...)
CHECKS: Mapping[str, Callable[[Any], None]] = {
    "prefer": check_folders,
    "template": check_template,
    "timezone": check_timezone,
}

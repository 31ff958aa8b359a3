"""Which of several exact copies a careful person keeps, and why: one policy for the
import (which copy goes to the library), find-duplicates (which copy is `keep=yes`)
and everything that acts on them.

In this order, the first rule that tells two copies apart decides:

1. the copy already in the library (it is never the one given up);
2. a copy under a folder named with `--prefer` (earlier `--prefer` first);
3. a name without a copy marker: `IMG_1.JPG` over `IMG_1 (1).JPG`, `IMG_1 - Copy.JPG`,
   `Copy of IMG_1.JPG`, `IMG_1 copy 2.JPG`, `IMG_1_copy.JPG`, in the languages the big
   systems name copies in;
4. the copy that has sidecars beside it (AAE edits, XMP, THM, Takeout JSON);
5. the oldest modification time (a copy is made after its original), to FAT's 2 seconds;
6. the shortest path, then the path itself: the same input always gives the same choice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

# How systems name a copy: Windows (" - Copy", localised), macOS (" copy", " copy 2"),
# browsers and Google Takeout ("(1)"), and the underscores and dashes people type.
_COPY_WORDS = (
    "copy|kopie|copie|copia|cópia|kopia|kopio|kópia|kopya|копия|копія|αντίγραφο"
    "|コピー|副本|复制|복사본|نسخة|העתק|สำเนา"
)
_COPY_OF = r"copy\s+of|kopie\s+von|copie\s+de|copia\s+de|cópia\s+de|kopia\s+av|kopie\s+van"
_MARKED = re.compile(
    rf"""^(?:
        (?:{_COPY_OF})\s+.+                                 # Copy of IMG_1
      | .+?(?:\s+-\s+|\s+|_|-)(?:{_COPY_WORDS})(?:\s*\(?\d+\)?)?  # IMG_1 - Copy (2), IMG_1 copy 2
      | .+?\s*\(\d+\)                                       # IMG_1 (1), IMG_1(1)
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


def has_copy_marker(path: Path | str) -> bool:
    """The file's name says it is a copy (`IMG_1 (1).JPG`, `IMG_1 - Copy.JPG`...)."""
    name = os.path.basename(os.fspath(path))
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    return bool(_MARKED.match(stem.strip()))


class KeepRule(Enum):
    """The rule that decided which copy is kept (for the report's reason)."""

    ONLY = "only"  # a single copy
    IN_LIBRARY = "in-library"
    PREFERRED_FOLDER = "preferred-folder"
    ORIGINAL_NAME = "original-name"
    HAS_SIDECARS = "has-sidecars"
    OLDEST = "oldest"
    SHORTEST_PATH = "shortest-path"
    FIRST_PATH = "first-path"


@dataclass(frozen=True, slots=True)
class Copy:
    """What the policy needs to know of one copy."""

    path: Path
    mtime_ns: int = 0
    in_library: bool = False
    sidecars: int = 0  # how many sidecars sit beside it


@dataclass(frozen=True, slots=True)
class KeepChoice:
    """The copy to keep, and the rule that told it from the runner-up."""

    keeper: Copy
    rule: KeepRule
    folder: Path | None = None  # for PREFERRED_FOLDER: which --prefer folder


MTIME_GRAIN_NS = 2_000_000_000  # FAT's 2 s: finer differences between copies are noise

_RULES = (
    KeepRule.IN_LIBRARY,
    KeepRule.PREFERRED_FOLDER,
    KeepRule.ORIGINAL_NAME,
    KeepRule.HAS_SIDECARS,
    KeepRule.OLDEST,
    KeepRule.SHORTEST_PATH,
    KeepRule.FIRST_PATH,
)


def preference(path: Path, prefer: Sequence[Path]) -> int:
    """The rank of the first --prefer folder holding `path` (len(prefer) if none)."""
    for rank, folder in enumerate(prefer):
        if path == folder or folder in path.parents:
            return rank
    return len(prefer)


def copy_key(c: Copy, prefer: Sequence[Path] = ()) -> tuple:
    """Sort key of the policy: the smallest key is the copy to keep."""
    return key_of(str(c.path), c.in_library, preference(c.path, prefer), c.sidecars, c.mtime_ns)


def key_of(path: str, in_library: bool, rank: int, sidecars: int, mtime_ns: int) -> tuple:
    """`copy_key` from plain values (`rank`: the copy's `preference`), one field per rule
    of _RULES, in their order."""
    return (
        not in_library,
        rank,
        has_copy_marker(path),
        sidecars == 0,
        mtime_ns // MTIME_GRAIN_NS,  # copies made seconds apart are not older or newer
        len(path),
        path,
    )


def pick(keys: Sequence[tuple]) -> tuple[int, KeepRule]:
    """The index of the smallest key (the copy to keep) and the rule that decided: the
    first field in which it differs from the next smallest."""
    if not keys:
        raise ValueError("no copies to choose from")
    if len(keys) == 1:
        return 0, KeepRule.ONLY
    order = sorted(range(len(keys)), key=keys.__getitem__)
    a, b = keys[order[0]], keys[order[1]]
    index = next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a) - 1)
    return order[0], _RULES[index]


def choose_copy(copies: Sequence[Copy], prefer: Sequence[Path] = ()) -> KeepChoice:
    """The copy to keep among exact copies, and why."""
    return choose_copies(copies, prefer)[0]


def choose_copies(
    copies: Sequence[Copy], prefer: Sequence[Path] = ()
) -> tuple[KeepChoice, list[KeepChoice]]:
    """The copy to keep and why (against the runner-up), and for each copy (in order)
    the rule that tells the kept one from it: a copy that lost by its time must not read
    "kept: the shortest path" because the runner-up lost by its path."""
    prefer = [Path(os.path.abspath(p)) for p in prefer]
    keys = [copy_key(c, prefer) for c in copies]
    best, rule = pick(keys)

    def choice(rule: KeepRule) -> KeepChoice:
        if rule is KeepRule.PREFERRED_FOLDER:
            return KeepChoice(copies[best], rule, folder=prefer[keys[best][1]])
        return KeepChoice(copies[best], rule)

    group = choice(rule)
    each = [group if i == best else choice(pick([keys[best], k])[1]) for i, k in enumerate(keys)]
    return group, each


RULE_TEXT = {
    KeepRule.ONLY: "the only copy",
    KeepRule.IN_LIBRARY: "the library's own copy",
    KeepRule.PREFERRED_FOLDER: "in a preferred folder",
    KeepRule.ORIGINAL_NAME: "the name without a copy marker",
    KeepRule.HAS_SIDECARS: "the copy with its sidecars (edits)",
    KeepRule.OLDEST: "the oldest modification time",
    KeepRule.SHORTEST_PATH: "the shortest path",
    KeepRule.FIRST_PATH: "the first path",
}


def keep_text(choice: KeepChoice) -> str:
    """The rule, said for a report: "kept: the name without a copy marker"."""
    if choice.rule is KeepRule.PREFERRED_FOLDER and choice.folder is not None:
        return f"kept: in the preferred folder {choice.folder}"
    return f"kept: {RULE_TEXT[choice.rule]}"


# --- which files beside a copy are its sidecars (rule 4) ------------------------------

SIDECAR_SUFFIXES = (".xmp", ".aae", ".thm", ".json")
_NUMBERED = re.compile(r"^(?P<stem>.+?)(?P<num>\(\d+\))$")


def sidecar_names(name: str) -> frozenset[str]:
    """The names (lower case) a sidecar of the media file `name` has in its folder:
    `NAME.xmp`, `NAME.EXT.xmp`, `NAME.AAE`, `NAME.THM`, `NAME.json`, `NAME.EXT.json`,
    and Takeout's `NAME.EXT(1).json` for `NAME(1).EXT`."""
    lowered = name.lower()
    stem, dot, ext = lowered.rpartition(".")
    if not dot or not stem:
        stem, ext = lowered, ""
    names = {f"{stem}{suffix}" for suffix in SIDECAR_SUFFIXES}
    names |= {f"{lowered}.xmp", f"{lowered}.json"}
    numbered = _NUMBERED.match(stem)
    if numbered and ext:
        names.add(f"{numbered['stem']}.{ext}{numbered['num']}.json")
    return frozenset(names)


def sidecars_among(name: str, names: Iterable[str]) -> list[str]:
    """Those of `names` (a folder's, as they are spelled there) that are sidecars of the
    media file `name` in that folder, any case."""
    wanted = sidecar_names(name)
    return sorted(n for n in names if n.lower() in wanted and n != name)

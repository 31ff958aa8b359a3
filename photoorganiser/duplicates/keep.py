"""The keep policy: which file of a duplicate group to keep, and why.

Exact copies (`choose_exact_copy`) follow THE keeper policy, core/keeper.py: the
library's copy, a --prefer folder, a name without a copy marker, sidecars beside it,
the oldest mtime, the shortest path; the reason is a `KeptCopy`.

Near duplicates (`choose_keep`) are different pictures of one scene, so what makes the
better picture comes first: rules in order, the first that tells the best two files
apart decides (`KEEP_RULES`): the library's copy, a preferred folder (--prefer), the
largest resolution, a camera original over a re-encoded copy, the largest file, the
oldest capture date, the shortest path, and last the first path by name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..core import keeper
from .values import FileInfo, KeepReason, KeepRule, KeptCopy

# The rule each position of `keep_key` stands for.
KEEP_RULES = (
    KeepRule.IN_LIBRARY,
    KeepRule.PREFERRED_FOLDER,
    KeepRule.LARGEST_RESOLUTION,
    KeepRule.ORIGINAL_FORMAT,
    KeepRule.LARGEST_FILE,
    KeepRule.OLDEST_DATE,
    KeepRule.SHORTEST_PATH,
    KeepRule.FIRST_BY_NAME,
)


def keep_key(info: FileInfo, prefer: Sequence[Path] = ()) -> tuple[object, ...]:
    """Sort key of the keep policy: the smallest key is the file to keep."""
    rank = len(prefer)
    for i, folder in enumerate(prefer):
        if info.path == folder or folder in info.path.parents:
            rank = i
            break
    when = info.captured.wall.replace(tzinfo=None) if info.captured else datetime.max
    return (
        not info.in_library,
        rank,
        -info.pixels,
        not info.is_original,
        -info.size,
        when,
        len(str(info.path)),
        str(info.path),
    )


def choose_keep(
    infos: Sequence[FileInfo], prefer: Sequence[Path] = ()
) -> tuple[FileInfo, KeepReason]:
    """The file to keep among `infos`, and why (the first rule that told it apart)."""
    prefer = [Path(os.path.abspath(p)) for p in prefer]
    ranked = sorted(infos, key=lambda i: keep_key(i, prefer))
    best = ranked[0]
    if len(ranked) == 1:
        return best, KeepReason(KeepRule.ONLY_FILE)
    a = keep_key(best, prefer)
    rule = _deciding(a, keep_key(ranked[1], prefer))
    if rule is KeepRule.PREFERRED_FOLDER:
        return best, KeepReason(rule, folder=prefer[a[1]])
    if rule is KeepRule.LARGEST_RESOLUTION:
        return best, KeepReason(rule, width=best.width, height=best.height)
    if rule is KeepRule.ORIGINAL_FORMAT:
        return best, KeepReason(rule, make=best.make)
    if rule is KeepRule.OLDEST_DATE:
        return best, KeepReason(rule, captured=best.captured)
    return best, KeepReason(rule)


def kept_over(best: FileInfo, other: FileInfo, prefer: Sequence[Path] = ()) -> KeepRule:
    """The rule that put `best` before `other` (the group's reason names the one that
    put it before the runner-up only)."""
    prefer = [Path(os.path.abspath(p)) for p in prefer]
    return _deciding(keep_key(best, prefer), keep_key(other, prefer))


def _deciding(a: tuple[object, ...], b: tuple[object, ...]) -> KeepRule:
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a) - 1)
    return KEEP_RULES[i]


def choose_exact_copy(
    copies: Sequence[keeper.Copy], prefer: Sequence[Path] = ()
) -> tuple[keeper.Copy, KeptCopy]:
    """The copy to keep among identical files (core/keeper.py), and why."""
    choice = keeper.choose_copy(copies, prefer)
    kept = choice.keeper
    return kept, _kept_copy(choice.rule, choice.folder, kept.sidecars, kept.mtime_ns)


def _kept_copy(
    rule: keeper.KeepRule, folder: Path | None, sidecars: int, mtime_ns: int
) -> KeptCopy:
    """The reason for keeping a copy: the rule, and the fact it rests on."""
    if rule is keeper.KeepRule.PREFERRED_FOLDER:
        return KeptCopy(rule, folder=folder)
    if rule is keeper.KeepRule.HAS_SIDECARS:
        return KeptCopy(rule, sidecars=sidecars)
    if rule is keeper.KeepRule.OLDEST:
        return KeptCopy(rule, mtime_ns=mtime_ns)
    return KeptCopy(rule)


# One copy as `choose_exact_index` takes it: (path, mtime_ns, in_library, sidecars), the
# path a normalised absolute path (as the scan gives it).
CompactCopy = tuple[str, int, bool, int]


def choose_exact_index(
    copies: Sequence[CompactCopy], prefer: Sequence[Path] = ()
) -> tuple[int, KeptCopy]:
    """`choose_exact_copy` on compact copies (plain tuples, no Path or keeper.Copy per
    file): the index of the copy to keep, and why. The same choice and the same reason:
    each copy's sort key is core/keeper.py's (`key_of`), made once from strings."""
    folders = [Path(os.path.abspath(p)) for p in prefer]
    under = [(str(f), str(f).rstrip(os.sep) + os.sep) for f in folders]
    keys = []
    for path, mtime_ns, in_library, sidecars in copies:
        rank = len(under)
        for i, (folder, prefix) in enumerate(under):  # keeper.preference, on strings
            if path == folder or path.startswith(prefix):
                rank = i
                break
        keys.append(keeper.key_of(path, in_library, rank, sidecars, mtime_ns))
    best, rule = keeper.pick(keys)
    folder = folders[keys[best][1]] if rule is keeper.KeepRule.PREFERRED_FOLDER else None
    return best, _kept_copy(rule, folder, copies[best][3], copies[best][1])

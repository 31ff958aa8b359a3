"""Stage 4, resolve collisions: over the whole run and the library, before any file is touched.

- the same content already in the library  -> skip-exists, naming the library file;
- the same content twice in this run       -> the first (by source path) is imported,
                                               the others skip-duplicate, naming it;
- a different content wanting a taken name -> `_1`, `_2`, ... in source-path order,
  so the same input always gives the same plan. Names that differ only by case
  are the same name (the library may live on a case-insensitive disk).

A file travels with its partners (Live Photo video, RAW+JPEG) and sidecars as one
unit: a unit gets a number only when every one of its names is free.
"""

from __future__ import annotations

import dataclasses
import os
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from pathlib import Path

from ..core.keeper import Copy, KeepRule, choose_copies, keep_text
from ..core.values import Action, Decision, FileKind, Reason, Why
from ..library.index import LibraryIndex
from .paths import MAX_COMPONENT_BYTES, fit_name, with_suffix_number
from .plan import sidecar_name


def resolve(
    decisions: Sequence[Decision],
    library: LibraryIndex,
    mode: Action = Action.MOVE,
    prefer: Sequence[Path] = (),
) -> list[Decision]:
    """The decisions with duplicates marked and every destination unique and free.
    `mode` (move or copy) is what a sidecar left behind by an earlier run gets; among
    copies of one content the keeper policy (core/keeper.py, with `prefer`) picks the one
    imported. A list given is changed in place and returned (a decision replaced is let
    go at once: a run of 90% copies held both for every copy); another sequence is
    copied first."""
    out = _Current(decisions if isinstance(decisions, list) else list(decisions))
    unfinished = library.unfinished_moves() if mode is Action.MOVE else {}
    if unfinished:  # moves an earlier run placed but could not finish: finish them
        for source, place in unfinished.items():
            d = out.get(source)
            if d is not None and _finishable(d, place, library):
                out[source] = dataclasses.replace(
                    d,
                    action=Action.FINISH_MOVE,
                    destination=place,
                    follows=None,
                    duplicate_of=None,
                    reason=Reason(Why.UNFINISHED_MOVE, place=place),
                )
    decisions = out.final()
    sidecar_kind = FileKind.SIDECAR  # (the checks below inline _is_sidecar: once per file)
    sidecar_ds = [d for d in decisions if d.entry is not None and d.entry.kind is sidecar_kind]
    # the media's places in `decisions` (not the decisions: one replaced is let go)
    media = array(
        "q",
        (
            i
            for i, d in enumerate(decisions)
            if d.action.transfers
            and d.action is not Action.FINISH_MOVE
            and (d.entry is None or d.entry.kind is not sidecar_kind)
        ),
    )

    # The same content: once in the library, or the copy a careful person keeps.
    sidecar_count = Counter(d.follows for d in sidecar_ds if d.follows)
    # a library that holds nothing (a first import) has no content to find, no name taken
    empty = bool(getattr(library, "holds_nothing", lambda: False)())
    for places in _by_content(decisions, media, every=not empty):
        same = [decisions[i] for i in places]
        found = (
            None if empty else next((f for d in same if (f := _in_library(d, out, library))), None)
        )
        if found is not None:
            for i, d in zip(places, same, strict=True):
                out.put(i, _in_library_already(d, found, library))
            continue
        if len(same) == 1:
            continue
        copies = {
            Copy(d.source, d.entry.mtime_ns, sidecars=sidecar_count[d.source]): i
            for i, d in zip(places, same, strict=True)
        }
        choice, each = choose_copies(list(copies), prefer)
        kept = decisions[copies[choice.keeper]]
        # one reason for the copies one rule set apart from the kept one, and one
        # (duplicate_of, error, follows, recovery) for the group's copies (follows: None, a
        # skipped copy goes nowhere)
        whys: dict[KeepRule, Reason] = {}
        rare = (kept.source, None, None, None)
        del same, copies
        for i, versus in zip(places, each, strict=True):
            d = decisions[i]
            if d is kept:
                continue
            why = whys.get(versus.rule)
            if why is None:
                why = whys[versus.rule] = Reason(
                    Why.DUPLICATE, other=kept.source, detail=keep_text(versus)
                )
            # (a transfer has no error or recovery: the shared tuple, always)
            plain = d.error is None and d.recovery is None
            out.put(
                i,
                dataclasses.replace(
                    d,
                    action=Action.SKIP_DUPLICATE,
                    destination=None,
                    reason=why,
                    rare=rare if plain else (kept.source, d.error, None, d.recovery),
                ),
            )

    # Units: a leader, its transferring partners, and their sidecars.
    partners: dict[Path, list[Decision]] = defaultdict(list)
    leaders: list[Decision] = []
    for i in media:
        d = out.current(decisions[i])
        if not d.action.transfers:
            continue
        leader = out.get(d.follows) if d.follows else None
        if (
            leader is not None
            and leader.action.transfers
            and _suffix_free(d, [leader, *partners[leader.source]])
        ):
            partners[leader.source].append(d)
        else:
            if d.follows is not None:  # its leader is not imported: it goes on its own
                own = dataclasses.replace(d.reason, leader=None, live_video=False)
                d = dataclasses.replace(d, follows=None, reason=own)
                out[d.source] = d
            leaders.append(d)
    del media  # (let go before the names are claimed: the leaders are what is named)
    sidecars: dict[Path, list[Decision]] = defaultdict(list)
    for d in sidecar_ds:
        if d.follows is not None:
            sidecars[d.follows].append(d)

    folders = _Folders(library, empty)
    leaders.sort(key=lambda d: str(d.source))
    taken = _Claims(leaders)
    for index, leader in enumerate(leaders):
        members = [leader, *partners.get(leader.source, ())] if partners else [leader]
        for placed in _place_unit(index, members, sidecars, folders, taken):
            if placed is not leader:  # (the leader's own decision is in `out` already)
                out[placed.source] = placed

    # A sidecar of a copy that is not imported goes to the copy that is kept (in the
    # library, or imported in this run): edits are never left behind. Those whose media
    # is not imported at all (an error, ignored) stay where they are, and say why.
    # (the planned names are only asked about for sidecars: none, no index of every name)
    has_sidecars = bool(sidecar_ds)
    planned = {
        p.destination_text.lower(): p
        for p in (out.values() if has_sidecars else ())
        if p.destination_text is not None and p.action.transfers
    }
    for d in sidecar_ds:
        if d.follows is None:
            continue
        current = out.current(d)
        if current.destination is None and current.action.transfers:
            media_decision = out.get(d.follows)
            kept, how = _kept_copy(media_decision, out)
            if kept is not None:
                out[d.source] = bring_sidecar(
                    current, d.follows, kept, library, taken, planned, how=how
                )
                continue
            why = media_decision.action.value if media_decision else "not imported"
            out[d.source] = dataclasses.replace(
                current,
                action=Action.IGNORE,
                reason=Reason(Why.SIDECAR_LEFT, other=d.follows, detail=why),
            )
    # A sidecar left behind by an earlier run (its transfer was cut) joins its photo.
    for d in sidecar_ds:
        current = out.current(d)
        if _is_orphan_sidecar(current):
            found = library.imported_from(d.source)
            if found is not None:
                media_source, library_file = found
                out[d.source] = bring_sidecar(
                    dataclasses.replace(current, action=mode),
                    media_source,
                    library_file,
                    library,
                    taken,
                    planned,
                    how="imported by an earlier run",
                )
    return out.final()


class _Taken:
    """The names this run claimed: lower-cased paths, kept as a set of names per folder
    (a folder's text once, not in every file's key)."""

    def __init__(self) -> None:
        self.by_folder: dict[str, set[str]] = {}

    def __contains__(self, key: str) -> bool:
        if not self.by_folder:
            return False
        folder, _, name = key.rpartition("/")
        names = self.by_folder.get(folder)
        return names is not None and name in names

    def add(self, key: str) -> None:
        folder, _, name = key.rpartition("/")
        names = self.by_folder.get(folder)
        if names is None:
            names = self.by_folder[folder] = set()
        names.add(name)

    def update(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.add(key)


def _by_content(
    decisions: list[Decision], media: Sequence[int], every: bool
) -> Iterator[Sequence[int]]:
    """The places (in `media`'s order) of each content seen more than once among the
    decisions at `media`'s places, in the order given (a content in the order its first
    copy comes; with `every`, those seen once too, each alone). Found by sorting the
    places, not in a dict of every content (a million-file run held 40 bytes a file more
    for that), the copies after a content's first marked in a bytearray (a set of them
    held 60 bytes a copy: a run of 90% copies paid that)."""

    def content(i: int) -> str:
        return decisions[media[i]].analysis.hash

    # (a stable sort: a content's places ascending, its first copy first)
    order = sorted(range(len(media)), key=content)
    # the first copy's place -> the content's copies' places in `decisions` (an array:
    # a list held an int object a copy)
    same: dict[int, array[int]] = {}
    later = bytearray(len(media)) if every else None  # 1: a copy after the content's first
    for _, run in groupby(order, key=content):
        places = list(run)
        if len(places) > 1:
            same[places[0]] = array("q", [media[k] for k in places])
            if later is not None:
                for k in places[1:]:
                    later[k] = 1
    del order
    if not same and not every:
        return
    for k, i in enumerate(media):
        group = same.pop(k, None)  # (let go once given)
        if group is not None:
            yield group
        elif later is not None and not later[k]:
            yield (i,)


class _Claims:
    """The names this run claimed, as lower-cased paths. Most are a file's own planned
    name, taken as planned: those are not kept as text (a name a file was the largest
    part of what resolve held at a million files), only marked taken by the leader's
    place in `leaders`, its name's hash kept in one of a few thousand small arrays. The
    others (numbered names, units, sidecars) are kept in `others`. Exact whatever the
    hashes: a hash only tells which leaders' names to compare."""

    def __init__(self, leaders: Sequence[Decision]) -> None:
        self.leaders = leaders
        self.others = _Taken()
        count = max(1, len(leaders) // BUCKET)
        # by hash % count: the names' hashes (32 bits: a few hundred leaders share one at
        # a million, and are compared in full), and whose they are
        self.hashes = [array("I") for _ in range(count)]
        self.indices = [array("I") for _ in range(count)]
        for i, d in enumerate(leaders):
            h = _hash(_key(d)) & _LOW32
            self.hashes[h % count].append(h)
            self.indices[h % count].append(i)
        # the hashes of more than one leader's name (the same name, or rarely a clash of
        # hashes): those leaders by hash, to be compared
        self.shared: dict[int, list[int]] = {}
        for hashes, indices in zip(self.hashes, self.indices, strict=True):
            if len(set(hashes)) < len(hashes):
                whose: dict[int, list[int]] = defaultdict(list)
                for h, i in zip(hashes, indices, strict=True):
                    whose[h].append(i)
                self.shared.update((h, ix) for h, ix in whose.items() if len(ix) > 1)
        self.claimed_own = bytearray(len(leaders))  # 1: the leader took its planned name

    def own_free(self, key: str) -> bool:
        """A leader's planned name (`key`) is not claimed yet (by another leader, or as
        another name)."""
        if key in self.others:
            return False
        same = self.shared.get(_hash(key) & _LOW32) if self.shared else None
        return same is None or not self._claimed_as_own(same, key)

    def claim_own(self, index: int) -> None:
        self.claimed_own[index] = 1

    def _claimed_as_own(self, candidates: Iterable[int], key: str) -> bool:
        claimed, leaders = self.claimed_own, self.leaders
        return any(claimed[j] and _key(leaders[j]) == key for j in candidates)

    def __contains__(self, key: str) -> bool:
        if key in self.others:
            return True
        h = _hash(key) & _LOW32
        same = self.shared.get(h)
        if same is None:
            bucket = h % len(self.hashes)
            hashes = self.hashes[bucket]
            if h not in hashes:
                return False  # no leader's planned name
            same = [self.indices[bucket][hashes.index(h)]]
        return self._claimed_as_own(same, key)

    def add(self, key: str) -> None:
        self.others.add(key)

    def update(self, keys: Iterable[str]) -> None:
        self.others.update(keys)


BUCKET = 32  # leaders' hashes an array: a lookup scans about this many
_LOW32 = 0xFFFFFFFF


_hash = hash  # (tests give one that clashes)


def _key(d: Decision) -> str:
    """A planned name as names are compared: the whole path, lower-cased."""
    return d.destination_text.lower()  # type: ignore[union-attr]


class _Current:
    """Each source's current decision: its own, or the one that replaced it. A decision
    replaced at a known place (`put`: a copy, a content in the library) is replaced in
    the list itself, and the one it replaces let go; the others replaced are kept by
    path. The decisions are indexed by their paths only when one is looked up by a path
    (a leader, a kept copy), so a run without pairs or sidecars hashes no path for it."""

    def __init__(self, decisions: list[Decision]) -> None:
        self.decisions = decisions  # changed in place by `put` and `final`
        self.changed: dict[Path, Decision] = {}
        self.by_source: dict[Path, Decision] | None = None

    def get(self, source: Path) -> Decision | None:
        d = self.changed.get(source)
        if d is not None:
            return d
        if self.by_source is None:
            self.by_source = {d.source: d for d in self.decisions}
        return self.by_source.get(source)

    def __getitem__(self, source: Path) -> Decision:
        d = self.get(source)
        if d is None:
            raise KeyError(source)
        return d

    def __setitem__(self, source: Path, d: Decision) -> None:
        self.changed[source] = d

    def put(self, i: int, d: Decision) -> None:
        """`d` replaces the decision at place `i` of the list."""
        self.decisions[i] = d
        if self.by_source is not None:
            self.by_source[d.source] = d
        if self.changed and d.source in self.changed:
            self.changed[d.source] = d

    def current(self, d: Decision) -> Decision:
        """The current decision of the source of `d`, one of the decisions in the list
        (as it is now) or one it held before a change by path."""
        return self.changed.get(d.source, d) if self.changed else d

    def final(self) -> list[Decision]:
        """The current decisions, in the order given: the list, brought up to date."""
        if self.changed:
            changed = self.changed
            self.decisions[:] = [changed.get(d.source, d) for d in self.decisions]
        return self.decisions

    def values(self) -> list[Decision]:
        return self.final()


def _is_orphan_sidecar(d: Decision) -> bool:
    return (
        d.action is Action.IGNORE
        and d.follows is None
        and d.entry is not None
        and d.entry.kind is FileKind.SIDECAR
        and d.analysis is not None
    )


def _kept_copy(media: Decision | None, out: _Current) -> tuple[Path | None, str]:
    """Where the kept copy of a media file that is not transferred is (or will be)."""
    if media is None:
        return None, ""
    if media.action in (Action.SKIP_EXISTS, Action.FINISH_MOVE):
        return media.duplicate_of or media.destination, "already in the library"
    if media.action is Action.SKIP_DUPLICATE and media.duplicate_of is not None:
        keeper = out.get(media.duplicate_of)
        if keeper is not None and keeper.action.transfers and keeper.destination is not None:
            return keeper.destination, "the copy kept in this run"
    return None, ""


def bring_sidecar(
    d: Decision,
    media_source: Path,
    kept_file: Path | None,
    library: LibraryIndex,
    taken: _Claims,
    planned: dict[str, Decision],
    *,
    how: str,
) -> Decision:
    """A sidecar goes beside the kept copy of its media, under that copy's name. The same
    sidecar already there (or on its way) is not copied twice; a different one already
    there is never replaced: this one goes beside it with a number."""
    if kept_file is None:
        return dataclasses.replace(d, action=Action.IGNORE, reason=Reason(Why.NO_PHOTO))
    name = sidecar_name(d.source, media_source, kept_file)
    folder = kept_file.parent
    on_disk = library.names_in(folder)
    for number in range(0, 1000):
        candidate = with_suffix_number(name, number) if number else name
        destination = folder / candidate
        key = str(destination).lower()
        same = planned.get(key)
        if same is not None or key in taken:
            if (
                same is not None
                and same.analysis is not None
                and (same.analysis.hash == d.analysis.hash)
            ):
                return dataclasses.replace(
                    d,
                    action=Action.SKIP_DUPLICATE,
                    destination=None,
                    follows=None,
                    duplicate_of=same.source,
                    reason=Reason(Why.SIDECAR_THERE, other=media_source, place=destination),
                )
            continue
        if candidate.lower() in on_disk:
            if library.find_nearby(d.analysis.hash, d.entry.size, destination) == destination:
                return dataclasses.replace(
                    d,
                    action=Action.SKIP_EXISTS,
                    destination=None,
                    duplicate_of=destination,
                    reason=Reason(Why.SIDECAR_THERE, other=media_source, place=destination),
                )
            continue
        taken.add(key)
        placed = dataclasses.replace(
            d,
            destination=destination,
            follows=kept_file,
            reason=Reason(
                Why.SIDECAR_JOINS,
                other=media_source,
                place=kept_file,
                detail=how,
                numbered=number or None,
            ),
        )
        planned[key] = placed
        return placed
    raise RuntimeError(f"no free name for {d.source}")  # pragma: no cover


def _suffix_free(d: Decision, unit: list[Decision]) -> bool:
    """A unit shares one stem: two of its files may not share an extension too."""
    return d.destination.suffix.lower() not in {m.destination.suffix.lower() for m in unit}


def _is_sidecar(d: Decision) -> bool:
    return d.entry is not None and d.entry.kind is FileKind.SIDECAR


def _finishable(d: Decision, place: Path, library: LibraryIndex) -> bool:
    """The source was read this run, and the library file still holds its content."""
    if d.analysis is None or d.entry is None:
        return False
    return library.find_nearby(d.analysis.hash, d.entry.size, place) == place


def _in_library_already(d: Decision, found: Path, library: LibraryIndex) -> Decision:
    """Skipped: the content is in the library (duplicates are reported, never deleted)."""
    return dataclasses.replace(
        d,
        action=Action.SKIP_EXISTS,
        destination=None,
        follows=None,
        duplicate_of=found,
        reason=Reason(Why.IN_LIBRARY, place=found),
    )


def _in_library(d: Decision, out: _Current, library: LibraryIndex) -> Path | None:
    """Look where this file would be filed: its own name, and its leader's stem."""
    places = [d.destination]
    leader = out.get(d.follows) if d.follows else None
    if leader is not None and leader.destination is not None:
        places.append(
            leader.destination.with_name(fit_name(leader.destination.stem, d.destination.suffix))
        )
    for place in places:
        found = library.find_content(d.analysis.hash, d.analysis.entry.size, place)
        if found is not None:
            return found
    return None


_NOTHING: frozenset[str] = frozenset()


class _Folders:
    """The library's names per destination folder, asked once per folder in a run (the
    disk does not change while collisions are resolved): keyed by the folder's text."""

    def __init__(self, library: LibraryIndex, empty: bool = False) -> None:
        self.library = library
        self.names: dict[str, frozenset[str]] = {}
        self.empty = empty  # the library holds nothing: no folder has a name in it

    def names_in(self, folder: str) -> frozenset[str]:
        if self.empty:
            return _NOTHING
        names = self.names.get(folder)
        if names is None:
            names = self.names[folder] = self.library.names_in(Path(folder))
        return names


def _place_unit(
    index: int,
    members: list[Decision],
    sidecars: dict[Path, list[Decision]],
    folders: _Folders,
    taken: _Claims,
) -> list[Decision]:
    """Give a unit (its leader `index` in `taken.leaders`) the first set of names that
    are all free, and claim them. A member whose place does not change is kept as it is
    (no copy per decision)."""
    leader = members[0]
    leader_text: str = leader.destination_text  # type: ignore[assignment]
    cut = leader_text.rfind("/")  # (as os.path.dirname and basename, without two calls)
    folder = leader_text[:cut] if cut > 0 else leader_text[: cut + 1]  # "/x": "/", "x": ""
    on_disk = folders.names_in(folder)
    if len(members) == 1 and not (sidecars and leader.source in sidecars):  # on its own
        name = leader_text[cut + 1 :]
        if (not on_disk or name.lower() not in on_disk) and taken.own_free(leader_text.lower()):
            stem, dot, ext = name.rpartition(".")
            suffix = dot + ext if len(stem) > 0 and ext else ""
            # as the loop would name it (a short ASCII name is never shortened)
            if (len(name) <= MAX_COMPONENT_BYTES and name.isascii()) or fit_name(
                name[: len(name) - len(suffix)], suffix
            ) == name:
                taken.claim_own(index)
                return [leader]
    clashing = _clashing_sidecars(members, sidecars)
    if clashing:
        sidecars = {k: [s for s in v if s.source not in clashing] for k, v in sidecars.items()}
    for number in range(0, 1_000_000):
        placed = []
        base = os.path.basename(leader_text)
        if number:
            base = with_suffix_number(base, number)
        stem = Path(base).stem
        for m in members:
            dest_text = os.path.join(folder, fit_name(stem, m.destination.suffix))
            if dest_text == m.destination_text:
                placed.append(m)
                dest = m.destination
            else:
                dest = Path(dest_text)
                placed.append(dataclasses.replace(m, destination=dest))
            for s in sidecars.get(m.source, []):
                name = sidecar_name(s.source, m.source, dest)
                placed.append(dataclasses.replace(s, destination=dest.parent / name))
        names = [p.destination.name.lower() for p in placed]
        keys = [os.path.join(folder, n).lower() for n in names]
        if len(set(keys)) != len(keys):  # no number can ever separate them: a planning bug
            raise RuntimeError(f"files of one unit want the same name: {sorted(names)}")
        if not any(n in on_disk or k in taken for n, k in zip(names, keys, strict=True)):
            taken.update(keys)
            if number:
                placed = [
                    dataclasses.replace(p, reason=dataclasses.replace(p.reason, numbered=number))
                    for p in placed
                ]
            return placed + list(clashing.values())
    raise RuntimeError(f"no free name for {leader.source}")  # pragma: no cover


def _clashing_sidecars(
    members: list[Decision], sidecars: dict[Path, list[Decision]]
) -> dict[Path, Decision]:
    """Sidecars that would take the same name as another one of the unit (IMG.XMP, img.xmp)."""
    seen: set[str] = set()
    clashing: dict[Path, Decision] = {}
    for m in members:
        for s in sidecars.get(m.source, []):
            key = sidecar_name(s.source, m.source, m.destination).lower()
            if key in seen:
                clashing[s.source] = dataclasses.replace(
                    s,
                    action=Action.IGNORE,
                    destination=None,
                    reason=Reason(Why.SIDECAR_NAME_TAKEN, other=m.source),
                )
            seen.add(key)
    return clashing

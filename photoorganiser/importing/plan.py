"""Stage 3, plan: one Decision per scanned file. Pure: reads nothing, writes nothing.

The dry run and the real run both plan with this module, so the report of a dry
run says exactly what the real run will do.

Besides the destination of each media file, planning decides what travels
together:
- sidecars (`NAME.xmp`, `NAME.EXT.xmp`, `NAME.THM`, `NAME.AAE`, `NAME.EXT.json`
  and Takeout's `NAME.EXT(1).json`) follow their media file;
- a Live Photo (a still and its video) and a RAW+JPEG pair share one destination
  stem, decided by the still image (`pairs`: what pairs, and the pair's date).
The final names are settled by `collisions`, which sees the whole run.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from ..core.lazypath import child_text, folder_and_name
from ..core.values import (
    WEAK_SOURCES,
    Action,
    Analysis,
    AnalysisFailure,
    CaptureDate,
    DateSource,
    Decision,
    FileKind,
    Reason,
    ScanEntry,
    TransferMode,
    Why,
)
from ..library.index import SIDECAR_OF
from ..media.zones import photo_zones
from .pairs import pair_media, stem_of, with_partner_dates
from .paths import Template, render_text

Result = ScanEntry | Analysis | AnalysisFailure


@dataclass(frozen=True, slots=True)
class PlanOptions:
    library: Path
    template: Template
    mode: TransferMode
    leave_damaged: bool = False  # keep damaged but recognisable files out of the library
    timezone: tzinfo | None = None  # --timezone (or the machine's): a video near a photo in it


def entry_of(result: Result) -> ScanEntry:
    return result if isinstance(result, ScanEntry) else result.entry


def plan(results: Iterable[Result], options: PlanOptions) -> list[Decision]:
    """Decisions for every scanned file, sorted by source path."""
    results = sorted(results, key=lambda r: str(entry_of(r).path))
    media = [r for r in results if isinstance(r, Analysis) and r.entry.kind is not FileKind.SIDECAR]
    sidecar_of = associate_sidecars(results, media)
    dated = _with_sidecar_dates(media, sidecar_of, results) if sidecar_of else media
    dated = photo_zones(dated, options.timezone)  # a phone video's UTC date in its photos' zone
    pairs = pair_media(dated)
    if pairs.dated_by:  # a pair whose still has only a guessed date: its partner's date
        dated = with_partner_dates(dated, pairs.dated_by)
    leader_of = pairs.leader_of
    # the analyses those changed (a sidecar's or partner's date, a zone), by identity: most runs
    # change none, and no path is hashed to find out
    changed = {id(a): b for a, b in zip(media, dated, strict=True) if a is not b}
    del media, dated

    decisions = []
    place = _Destinations(options.library)
    for result in results:
        if changed and id(result) in changed:
            result = changed[id(result)]
        decisions.append(_decide(result, options, sidecar_of, leader_of, place))
    return decisions


class _Destinations:
    """Library paths' texts from rendered text: each its folder's text (made once a
    folder) and its name; a decision keeps it, and makes a path of it when asked."""

    def __init__(self, library: Path) -> None:
        self.root = os.fspath(library).rstrip("/") or ""  # joined with '/' ("/" -> "")
        self.prefixes: dict[str, str] = {}  # rendered folder -> its path's text and '/'

    def text(self, rendered: str) -> str:
        """The text of the path `rendered` names: exactly what str(parent / name) gives."""
        folder, _, name = rendered.rpartition("/")
        prefix = self.prefixes.get(folder)
        if prefix is None:
            prefix = self.prefixes[folder] = child_text(Path(f"{self.root}/{folder}"))
        return prefix + name


def _decide(
    result: Result,
    options: PlanOptions,
    sidecar_of: dict[Path, Path],
    leader_of: dict[Path, Path],
    place: _Destinations,
) -> Decision:
    entry = entry_of(result)
    if isinstance(result, ScanEntry):
        if result.error:
            why = Reason(Why.SCAN_ERROR, detail=result.error)
            return Decision(entry.path, Action.ERROR, why, entry=entry, error=result.error)
        why = Reason(Why.IGNORED, detail=result.ignore_reason or "ignored")
        return Decision(entry.path, Action.IGNORE, why, entry=entry)
    if isinstance(result, AnalysisFailure) and result.no_content:
        return Decision(
            entry.path, Action.IGNORE, Reason(Why.NO_CONTENT, detail=result.error), entry=entry
        )
    if isinstance(result, AnalysisFailure):
        return Decision(
            entry.path,
            Action.ERROR,
            Reason(Why.UNREADABLE, detail=result.error),
            entry=entry,
            error=result.error,
        )
    if entry.kind is FileKind.SIDECAR:
        media_path = sidecar_of.get(entry.path)
        if media_path is None:
            return Decision(
                entry.path,
                Action.IGNORE,
                Reason(Why.SIDECAR_ALONE),
                analysis=result,
                entry=entry,
            )
        return Decision(
            entry.path,
            options.mode.action,
            Reason(Why.SIDECAR, other=media_path),
            analysis=result,
            entry=entry,
            follows=media_path,
        )
    facts = result.facts  # (its fields straight, no MediaInfo made)
    if facts.problems and options.leave_damaged:
        problems = "; ".join(facts.problems)
        return Decision(
            entry.path,
            Action.ERROR,
            Reason(Why.DAMAGED, detail=problems),
            analysis=result,
            entry=entry,
            error=problems,
        )
    # the same path as library / render(...), its folder's path object shared
    destination = place.text(render_text(options.template, result))
    leader = leader_of.get(entry.path) if leader_of else None
    why = _date_why(result.captured)
    if leader is None and not facts.warnings and not facts.problems:
        reason = _DATED[why]  # one Reason for every such file (see _DATED)
    else:
        reason = Reason(
            why,
            leader=leader,
            live_video=leader is not None and entry.kind is FileKind.VIDEO,
            notes=tuple(facts.warnings),
            damaged="; ".join(facts.problems),  # imported byte for byte all the same
        )
    return Decision(
        entry.path,
        options.mode.action,
        reason,
        destination_text=destination,
        analysis=result,
        entry=entry,
        follows=leader,
    )


def _date_why(captured: CaptureDate | None) -> Why:
    if captured is None:
        return Why.NO_DATE
    if captured.source is DateSource.MTIME:
        return Why.MTIME
    return Why.NEW


# A new file's reason names its date, which is its analysis's (the report renders it from
# there: importing/report.py `reason_text`), so the reasons of plain new files are the
# same value: one shared Reason each, not one per file (a million-file run held a
# million).
_DATED = {why: Reason(why) for why in (Why.NEW, Why.MTIME, Why.NO_DATE)}


# --- sidecars ---------------------------------------------------------------------

_TAKEOUT_QUIRK = re.compile(r"^(?P<stem>.+?)(?P<ext>\.[^.()]+)(?P<num>\(\d+\))\.json$", re.I)


def associate_sidecars(results: Sequence[Result], media: Sequence[Analysis]) -> dict[Path, Path]:
    """sidecar path -> the media file it belongs to, for sidecars that have one."""
    sidecars = [e for r in results if (e := entry_of(r)).kind is FileKind.SIDECAR]
    if not sidecars:  # most runs: no index of every media file's name is needed
        return {}
    # keyed by the folder's text (one string a folder) and only for the folders that hold
    # a sidecar: no path's parts asked for (pathlib would keep them in each path)
    folders = {f: f for f, _ in map(folder_and_name, (e.path for e in sidecars))}
    by_name: dict[tuple[str, str], Path] = {}
    by_stem: dict[tuple[str, str], list[Analysis]] = defaultdict(list)
    for a in media:
        folder, name = folder_and_name(a.entry.path)
        folder = folders.get(folder)  # (the string kept for it)
        if folder is None:
            continue
        by_name[folder, name.lower()] = a.entry.path
        by_stem[folder, stem_of(name).lower()].append(a)
    found: dict[Path, Path] = {}
    for entry in sidecars:
        target = _sidecar_target(entry.path, by_name, by_stem)
        if target is not None:
            found[entry.path] = target
    return found


def _sidecar_target(
    path: Path,
    by_name: dict[tuple[str, str], Path],
    by_stem: dict[tuple[str, str], list[Analysis]],
) -> Path | None:
    folder, name = folder_and_name(path)
    ext = path.suffix.lower()
    inner = name[: -len(path.suffix)]  # NAME.EXT for NAME.EXT.xmp, NAME for NAME.xmp
    if ext in (".xmp", ".json") and (folder, inner.lower()) in by_name:
        return by_name[folder, inner.lower()]
    if ext == ".json":
        m = _TAKEOUT_QUIRK.match(name)  # IMG.jpg(1).json belongs to IMG(1).jpg
        if m:
            key = (folder, f"{m['stem']}{m['num']}{m['ext']}".lower())
            if key in by_name:
                return by_name[key]
    wanted = SIDECAR_OF.get(ext, ())
    candidates = [a for a in by_stem.get((folder, inner.lower()), []) if a.entry.kind in wanted]
    if not candidates:
        return None
    candidates.sort(key=lambda a: (wanted.index(a.entry.kind), a.entry.path.name))
    return candidates[0].entry.path


def sidecar_name(sidecar: Path, media: Path, media_destination: Path) -> str:
    """The sidecar's name beside its media's destination, in the sidecar's own form."""
    ext = sidecar.suffix.lower()
    inner = sidecar.name[: -len(sidecar.suffix)]
    if inner.lower() == media.name.lower() or _TAKEOUT_QUIRK.match(sidecar.name):
        return f"{media_destination.name}{ext}"  # NAME.EXT.xmp form
    return f"{media_destination.stem}{ext}"  # NAME.xmp form


def _with_sidecar_dates(
    media: list[Analysis], sidecar_of: dict[Path, Path], results: Sequence[Result]
) -> list[Analysis]:
    """A media file dated only by its name or mtime takes its sidecar's date instead."""
    best: dict[Path, CaptureDate] = {}
    rank = {DateSource.THM_SIDECAR: 0, DateSource.XMP_SIDECAR: 1, DateSource.TAKEOUT_JSON: 2}
    for r in results:
        if not isinstance(r, Analysis) or r.entry.path not in sidecar_of or r.captured is None:
            continue
        target = sidecar_of[r.entry.path]
        current = best.get(target)
        if current is None or rank.get(r.captured.source, 9) < rank.get(current.source, 9):
            best[target] = r.captured
    updated = []
    for a in media:
        weak = a.captured is None or a.captured.source in WEAK_SOURCES
        if weak and a.entry.path in best:
            a = dataclasses.replace(a, captured=best[a.entry.path])
        updated.append(a)
    return updated

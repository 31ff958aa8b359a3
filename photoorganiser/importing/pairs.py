"""Live Photos and RAW+JPEG pairs: which media files travel together under one name (the
planner's `leader_of`: follower -> leader). Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from ..core.lazypath import folder_and_name
from ..core.values import Analysis, FileKind

# Which part of a pair decides the shared name: the still image, then the raw.
LEADER_ORDER = {FileKind.IMAGE: 0, FileKind.RAW: 1, FileKind.VIDEO: 2}


def stem_of(name: str) -> str:
    """A file name without its last suffix, as pathlib's `stem`."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def _pair_by_content_id(media: Sequence[Analysis]) -> dict[Path, Path]:
    """Live Photos by Apple's identifier (the still's MakerNote, the video's Keys entry):
    they stay together even when renamed apart (IMG_1234 (1).HEIC, IMG_1234.MOV)."""
    by_id: dict[str, list[Analysis]] = defaultdict(list)
    for a in media:
        if a.content_id and not a.facts.problems:
            by_id[a.content_id].append(a)
    leader_of: dict[Path, Path] = {}
    for members in by_id.values():
        stills = [m for m in members if m.entry.kind is not FileKind.VIDEO]
        videos = [m for m in members if m.entry.kind is FileKind.VIDEO]
        if len(stills) == 1 and videos:  # copies of a pair fall back to their names
            for video in videos:
                leader_of[video.entry.path] = stills[0].entry.path
    return leader_of


def pair_stem(a: Analysis) -> str:
    """The stem that pairs files: IMG_7943.HEIC with IMG_7943.MOV, or IMG_7943_HEVC.MOV
    (the name some iPhone exports give a Live Photo's video)."""
    stem = stem_of(folder_and_name(a.entry.path)[1]).lower()  # (no path part parsed)
    if a.entry.kind is FileKind.VIDEO and stem.endswith("_hevc"):
        return stem[: -len("_hevc")]
    return stem


def pair_media(media: Sequence[Analysis]) -> dict[Path, Path]:
    """follower path -> leader path: Live Photos by Apple's identifier, then files
    sharing a stem in one folder.

    A pair holds at most one still image, one raw and one video; the still
    decides the shared name (the raw when there is no still). Two stills of the
    same stem (IMG_1.jpg and IMG_1.png) are different pictures and stay apart.
    """
    leader_of = _pair_by_content_id(media)
    has_video = set(leader_of.values())  # stills whose video was found by its identifier
    # by folder first (its text once), then by stem a folder at a time: a key (folder,
    # stem) of every file was 230 bytes a file for a moment at a million files
    by_folder: dict[str, list[Analysis]] = {}
    for a in media:
        if a.facts.problems or (leader_of and a.entry.path in leader_of):  # paired by its id
            continue
        folder = folder_and_name(a.entry.path)[0]
        files = by_folder.get(folder)
        if files is None:
            files = by_folder[folder] = []
        files.append(a)
    for files in by_folder.values():
        _pair_in_folder(files, has_video, leader_of)
    return leader_of


def _pair_in_folder(
    files: list[Analysis], has_video: set[Path], leader_of: dict[Path, Path]
) -> None:
    """pair_media's pairs by stem in one folder, added to `leader_of`."""
    # one analysis per stem, and a list only for stems seen more than once
    first: dict[str, Analysis] = {}
    groups: dict[str, list[Analysis]] = {}
    for a in files:
        stem = pair_stem(a)
        seen = first.setdefault(stem, a)
        if seen is not a:
            groups.setdefault(stem, [seen]).append(a)
    for members in groups.values():
        if len(members) < 2:
            continue
        members = [
            m
            for m in members
            if not (
                m.entry.kind is FileKind.VIDEO and any(o.entry.path in has_video for o in members)
            )
        ]
        kinds = [m.entry.kind for m in members]
        if len(members) < 2 or len(set(kinds)) != len(kinds):
            continue
        members.sort(key=lambda m: LEADER_ORDER[m.entry.kind])
        leader = members[0]
        for follower in members[1:]:
            leader_of[follower.entry.path] = leader.entry.path

"""Stage 1, scan: walk the inputs and classify every path by its name.

Nothing is read here but directory entries and their stat. Symbolic links are
never followed, the library is never scanned as input, and every file found
produces exactly one ScanEntry, media or not, so the report can account for it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..core.lazypath import child_text, path_from_text
from ..core.values import FileKind, ScanEntry

IMAGE_EXTENSIONS = frozenset(
    [
        "jpg",
        "jpeg",
        "jpe",
        "heic",
        "heif",
        "hif",
        "avif",
        "png",
        "gif",
        "tif",
        "tiff",
        "webp",
        "bmp",
        "mpo",  # a JPEG with an MP index: 3D cameras, Nintendo 3DS, phones' depth shots
        "jxl",
    ]
)
RAW_EXTENSIONS = frozenset(
    [
        "dng",
        "cr2",
        "cr3",
        "crw",
        "nef",
        "nrw",
        "arw",
        "srf",
        "sr2",
        "orf",
        "rw2",
        "raf",
        "pef",
        "srw",
        "x3f",
        "iiq",
        "mrw",
    ]
)
VIDEO_EXTENSIONS = frozenset(
    [
        *("mp4", "m4v", "mov", "3gp", "3g2", "avi", "mts", "m2ts", "m2t", "mkv", "webm", "wmv"),
        *("mpg", "mpeg", "vob", "dv"),
        "mod",  # JVC/Panasonic SD camcorders: MPEG-2 program stream
        "tod",  # JVC HD camcorders: MPEG-2 transport stream
    ]
)
SIDECAR_EXTENSIONS = frozenset(["xmp", "thm", "aae", "json"])

SYSTEM_FILES = frozenset(
    name.lower()
    for name in (
        ".DS_Store",
        "Thumbs.db",
        "ehthumbs.db",
        "ehthumbs_vista.db",
        "desktop.ini",
        ".picasa.ini",
        "Picasa.ini",
        ".localized",
        "Icon\r",
        ".nomedia",
    )
)
SYSTEM_FOLDERS = frozenset(
    name.lower()
    for name in (
        "@eaDir",  # Synology thumbnails
        "$RECYCLE.BIN",
        "System Volume Information",
        ".Trashes",
        ".Spotlight-V100",
        ".fseventsd",
        ".TemporaryItems",
        ".thumbnails",
        ".photoorganiser",  # a library's own bookkeeping
        "lost+found",
    )
)


def classify(name: str) -> tuple[FileKind, str | None]:
    """The kind of a file from its name, and the reason when it is ignored."""
    lowered = name.lower()
    if lowered in SYSTEM_FILES:
        return FileKind.OTHER, "system file"
    if name.startswith("._"):
        return FileKind.OTHER, "macOS resource fork (._ file)"
    if name.startswith("."):
        return FileKind.OTHER, "hidden file"
    ext = lowered.rpartition(".")[2] if "." in lowered else ""
    if ext in IMAGE_EXTENSIONS:
        return FileKind.IMAGE, None
    if ext in RAW_EXTENSIONS:
        return FileKind.RAW, None
    if ext in VIDEO_EXTENSIONS:
        return FileKind.VIDEO, None
    if ext in SIDECAR_EXTENSIONS:
        return FileKind.SIDECAR, None
    if not ext:
        return FileKind.OTHER, "not a photo or video (no extension)"
    return FileKind.OTHER, f"not a photo or video (.{ext})"


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def normalise_inputs(inputs: Sequence[Path]) -> list[Path]:
    """Absolute, resolved, without repeats and without folders inside another input."""
    resolved = sorted({Path(os.path.realpath(p)) for p in inputs})
    kept: list[Path] = []
    for path in resolved:
        if not any(_is_within(path, other) for other in kept):
            kept.append(path)
    return kept


def scan(inputs: Sequence[Path], exclude: Sequence[Path] = ()) -> Iterator[ScanEntry]:
    """Every path below `inputs`, depth first in name order (so runs are repeatable).

    Folders in `exclude` (the library) are not entered; hidden and system folders
    are reported as one ignored entry each instead of being walked.
    """
    excluded = {Path(os.path.realpath(p)) for p in exclude}
    for root in normalise_inputs(inputs):
        yield from _walk(root, excluded)


def _child(folder: Path, name: str) -> Path:
    """folder / name, without pathlib parsing the whole path again (5x cheaper: a
    million-file scan makes a million of these). Falls back to the public way."""
    make = getattr(folder, "_make_child_relpath", None)
    return make(name) if make is not None else folder / name


_DEVICES: dict[int, int] = {}


def _walk(folder: Path, excluded: set[Path]) -> Iterator[ScanEntry]:
    try:
        with os.scandir(folder) as it:
            dir_entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield ScanEntry(folder, FileKind.OTHER, error=f"cannot list folder: {exc.strerror or exc}")
        return
    prefix = child_text(folder)
    for de in dir_entries:
        # folder / name, without pathlib parsing the whole path again: its text, parsed
        # only if a part of it is asked for (a million-file scan makes a million)
        path = path_from_text(prefix + de.name)
        try:
            if de.is_symlink():
                yield ScanEntry(path, FileKind.OTHER, ignore_reason="symbolic link (not followed)")
                continue
            if de.is_dir(follow_symlinks=False):
                if path in excluded:
                    yield ScanEntry(
                        path, FileKind.OTHER, ignore_reason="the library folder (never scanned)"
                    )
                elif de.name.lower() in SYSTEM_FOLDERS:
                    yield ScanEntry(
                        path, FileKind.OTHER, ignore_reason="system folder (not scanned)"
                    )
                elif de.name.startswith("."):
                    yield ScanEntry(
                        path, FileKind.OTHER, ignore_reason="hidden folder (not scanned)"
                    )
                else:
                    yield from _walk(path, excluded)
                continue
            st = de.stat(follow_symlinks=False)
        except OSError as exc:
            yield ScanEntry(path, FileKind.OTHER, error=f"cannot stat: {exc.strerror or exc}")
            continue
        if not de.is_file(follow_symlinks=False):
            yield ScanEntry(
                path, FileKind.OTHER, ignore_reason="not a regular file (device, pipe or socket)"
            )
            continue
        kind, reason = classify(de.name)
        yield ScanEntry(
            path,
            kind,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
            device=_DEVICES.setdefault(st.st_dev, st.st_dev),  # one int per disk, not per file
            ignore_reason=reason,
        )


def settle(entries: list[ScanEntry], seconds: float, now_ns: int) -> list[ScanEntry]:
    """Files modified in the last `seconds` are left for the next run (still syncing in)."""
    if seconds <= 0:
        return entries
    cutoff = now_ns - int(seconds * 1e9)
    settled = []
    for e in entries:
        if e.kind is not FileKind.OTHER and e.error is None and e.mtime_ns > cutoff:
            age = max(0, (now_ns - e.mtime_ns) // 1_000_000_000)
            e = dataclasses.replace(
                e,
                kind=FileKind.OTHER,
                ignore_reason=f"modified {age} s ago, maybe still being copied:"
                f" left for the next run (--settle {seconds:g})",
            )
        settled.append(e)
    return settled

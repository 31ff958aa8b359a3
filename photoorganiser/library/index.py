"""What the import asks of the library before anything moves: is this content already
in it (anywhere, by hash), which names does a folder hold, and where did an earlier
run put the photo a left-behind sidecar belongs to.

`DiskLibrary` answers from the disk (a library without a catalog, a dry run on a
read-only disk); `CatalogLibrary` from the catalog's hash index, with no walk.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Protocol

from ..core.hashing import hash_file
from ..core.values import FileKind
from ..media.scan import classify, scan
from .catalog import STATE_DIR, Catalog

# Which media a sidecar can belong to (as importing/plan.py pairs them).
SIDECAR_OF = {
    ".xmp": (FileKind.RAW, FileKind.IMAGE, FileKind.VIDEO),
    ".json": (FileKind.IMAGE, FileKind.RAW, FileKind.VIDEO),
    ".thm": (FileKind.VIDEO,),
    ".aae": (FileKind.IMAGE,),
}


class LibraryIndex(Protocol):
    """What collision resolution needs to know about the library."""

    def names_in(self, folder: Path) -> frozenset[str]:
        """Lower-cased names of everything in `folder` (empty if it does not exist)."""

    def find_content(self, content_hash: str, size: int, near: Path) -> Path | None:
        """A library file with this content, looking at `near` and its numbered variants."""

    def find_nearby(self, content_hash: str, size: int, near: Path) -> Path | None:
        """The content under the name `near`, or a numbered variant of it."""

    def imported_from(self, sidecar: Path) -> tuple[Path, Path] | None:
        """(media source, library file) of a photo an earlier run imported from beside
        this sidecar (same folder, matching name); None when unknown."""

    def unfinished_moves(self) -> dict[Path, Path]:
        """source -> library file of earlier moves that placed a verified copy but could
        not remove the source (empty without a catalog)."""

    def holds_nothing(self) -> bool:
        """The library holds no file at all (no folder yet, or only its own state
        folder): nothing can be found in it and no name is taken, so a first import asks
        nothing per file. Optional: collisions asks every file when it is absent."""


class DiskLibrary:
    """The library as it is on disk, read lazily and cached.

    Content is found first where the file would be filed (its name and numbered
    variants), then anywhere in the library: one walk lists every file's size,
    and only files of the same size as a candidate are ever hashed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._names: dict[Path, dict[str, str]] = {}
        self._hashes: dict[Path, str | None] = {}
        self._by_size: dict[int, list[Path]] | None = None
        self._empty: bool | None = None

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._names:
            try:
                with os.scandir(folder) as it:
                    self._names[folder] = {e.name.lower(): e.name for e in it}
            except OSError:
                self._names[folder] = {}
        return self._names[folder]

    def names_in(self, folder: Path) -> frozenset[str]:
        return frozenset(self._listing(folder))

    def holds_nothing(self) -> bool:
        """Asked once, from the disk (a catalog's rows only stand for files on the disk:
        with nothing there, it finds nothing either). Anything in the root but the state
        folder, even an empty folder or a link, counts as something."""
        if self._empty is None:
            try:
                with os.scandir(self.root) as it:
                    self._empty = all(
                        e.name == STATE_DIR and e.is_dir(follow_symlinks=False) for e in it
                    )
            except FileNotFoundError:
                self._empty = True
            except OSError:
                self._empty = False
        return self._empty

    def imported_from(self, sidecar: Path) -> tuple[Path, Path] | None:
        return None  # without a catalog, where library files came from is not known

    def unfinished_moves(self) -> dict[Path, Path]:
        return {}

    def find_content(self, content_hash: str, size: int, near: Path) -> Path | None:
        found = self.find_nearby(content_hash, size, near)
        if found is not None:
            return found
        for candidate in self._sizes().get(size, []):
            if self._same(candidate, size, content_hash):
                return candidate
        return None

    def find_nearby(self, content_hash: str, size: int, near: Path) -> Path | None:
        """The content under the name it would get, or a numbered variant of it."""
        stem, ext = near.stem.lower(), near.suffix.lower()
        for lowered, actual in sorted(self._listing(near.parent).items()):
            if _is_variant(lowered, stem, ext):
                candidate = near.parent / actual
                if self._same(candidate, size, content_hash):
                    return candidate
        return None

    def _same(self, path: Path, size: int, content_hash: str) -> bool:
        try:
            if os.stat(path, follow_symlinks=False).st_size != size:
                return False
        except OSError:
            return False
        if path not in self._hashes:
            try:
                self._hashes[path] = hash_file(path)
            except OSError:
                self._hashes[path] = None
        return self._hashes[path] == content_hash

    def _sizes(self) -> dict[int, list[Path]]:
        if self._by_size is None:
            self._by_size = defaultdict(list)
            for e in scan([self.root]):  # media and sidecars, as the catalog holds them
                if e.kind is not FileKind.OTHER and e.error is None:
                    self._by_size[e.size].append(e.path)
        return self._by_size


def _is_variant(name: str, stem: str, ext: str) -> bool:
    """`stem.ext` or `stem_N.ext` (all lower case): the names a file may have been given."""
    if not name.endswith(ext):
        return False
    base = name[: len(name) - len(ext)]
    if base == stem:
        return True
    number = base[len(stem) + 1 :]
    return base.startswith(stem + "_") and number.isdigit() and number.isascii()


class CatalogLibrary(DiskLibrary):
    """Content already in the library, from the catalog's hash index: no walk, no reads.

    Files put in the library by hand since the last sync are still found where the
    new file would be filed (its name and numbered variants), by size and hash.
    """

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog.root)
        self.catalog = catalog
        self._imported: dict[Path, list[tuple[str, str]]] = {}  # one catalog scan a folder

    def find_content(self, content_hash: str, size: int, near: Path) -> Path | None:
        for row in self.catalog.find_by_hash(content_hash):
            path = self.root / row.path
            try:
                if row.size == size and os.stat(path, follow_symlinks=False).st_size == size:
                    return path
            except OSError:
                continue  # vanished since it was catalogued: `sync` will drop the row
        return self.find_nearby(content_hash, size, near)

    def imported_from(self, sidecar: Path) -> tuple[Path, Path] | None:
        """The photo an earlier run imported from beside `sidecar` (NAME.EXT.xmp names
        it; NAME.xmp / NAME.aae / NAME.thm match its stem), if it is still in the library."""
        inner = sidecar.name[: -len(sidecar.suffix)].lower()
        kinds = SIDECAR_OF.get(sidecar.suffix.lower(), ())
        matches = []
        folder = sidecar.parent
        if folder not in self._imported:
            self._imported[folder] = self.catalog.imported_from(folder)
        for rel, source in self._imported[folder]:
            media = Path(source)
            if media == sidecar or classify(media.name)[0] not in kinds:
                continue  # a .thm belongs to a video, an .aae to a photo...
            exact = media.name.lower() == inner
            if exact or media.stem.lower() == inner:
                path = self.root / rel
                if os.path.lexists(path):
                    matches.append((not exact, str(media), media, path))
        if not matches:
            return None
        _, _, media, path = min(matches)
        return media, path

    def unfinished_moves(self) -> dict[Path, Path]:
        return {Path(src): self.root / rel for src, rel in self.catalog.unfinished_moves().items()}

"""Paths made from their text, parsed into parts only when a part is asked for.

A million-file run holds two paths a file (where it is, where it goes). A pathlib path
keeps its parts as a list of strings besides its text (CPython 3.11: about 380 bytes a
path); most of these paths are only ever turned back into text (the report, the pool's
batches, `open`), so `path_from_text` makes one that holds its text alone (about 170
bytes) and parses it the first time a part, its hash or a comparison is asked for. It is
a `PosixPath` in every way (equal, hashed, pickled and printed as one); where pathlib's
internals are not 3.11's, it is an ordinary path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path, PosixPath, PurePath, PurePosixPath


def _lazy_class() -> type[PosixPath] | None:
    slots = set(getattr(PurePath, "__slots__", ()))
    if not ({"_drv", "_root", "_parts", "_str"} <= slots and hasattr(PurePath, "_parse_args")):
        return None
    if not isinstance(Path(), PosixPath):
        return None

    class PosixTextPath(PosixPath):
        __slots__ = ()

        def __getattr__(self, name: str) -> object:  # only for a slot not set yet
            if name in ("_drv", "_root", "_parts"):
                root, parts = split_text(self._str)
                self._drv, self._root, self._parts = "", root, [sys.intern(p) for p in parts]
                return object.__getattribute__(self, name)
            raise AttributeError(name)

        # its text straight away (pathlib's __fspath__ calls str(), a second Python call)
        __fspath__ = PurePath.__str__

        # Hashed and compared without keeping its parts: pathlib caches them (a list and
        # a string a part, some 300 bytes a path) the first time a path is a dict key,
        # and one RAW+JPEG pair in a run made every file's path a key.
        def __hash__(self) -> int:
            try:
                return self._hash
            except AttributeError:
                try:  # (a path made from another's parts has them; not kept for this)
                    parts = object.__getattribute__(self, "_parts")
                except AttributeError:
                    parts = split_text(self._str)[1]
                self._hash = hash(tuple(parts))  # as pathlib hashes a posix path
                return self._hash

        def __eq__(self, other: object) -> bool:
            if not isinstance(other, PurePosixPath):
                return NotImplemented
            try:  # both parsed already (a parent, a joined path): their parts, as pathlib
                parts = object.__getattribute__(self, "_parts")
                return parts == object.__getattribute__(other, "_parts")
            except AttributeError:  # else their texts: the same text, the same parts
                return self.__str__() == other.__str__()

        def __reduce__(self) -> tuple[object, tuple[str, ...]]:
            return (PosixPath, tuple(self.parts))

        def __repr__(self) -> str:
            return f"PosixPath({self.as_posix()!r})"

    return PosixTextPath


def split_text(text: str) -> tuple[str, list[str]]:
    """The root and parts pathlib parses from `text`, a path's text as pathlib writes it
    (`str(PurePosixPath(text)) == text`): its split, without pathlib's general parsing
    (a path's hash asks for its parts; this is a tenth of the time)."""
    if text[:1] != "/":
        return "", [] if text == "." else text.split("/")
    root = "//" if text[:2] == "//" and text[:3] != "///" else "/"
    rest = text[len(root) :]
    return root, [root, *rest.split("/")] if rest else [root]


_LAZY = _lazy_class()


def path_from_text(text: str) -> Path:
    """The path `text` names, which must be as pathlib writes it (`str(Path(text)) ==
    text`: no empty, '.' or trailing parts), holding only its text until a part is asked
    for."""
    if _LAZY is None:
        return Path(text)
    path = object.__new__(_LAZY)
    path._str = text
    return path


def folder_and_name(path: Path) -> tuple[str, str]:
    """A path's text split at its last '/': its folder's text, as a key ("/x" gives "",
    not "/"), and its name. No path is made and no part parsed (which pathlib would keep
    in the path)."""
    folder, _, name = os.fspath(path).rpartition("/")
    return folder, name


def child_text(folder: Path) -> str:
    """What a child's text starts with: the folder's text and a '/' (once for '/')."""
    text = str(folder)
    return text if text.endswith("/") else text + "/"

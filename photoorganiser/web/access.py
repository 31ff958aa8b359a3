"""Which files the web app may read, and nothing else.

The library, the report folders, and the inputs named in the header of a report in
those folders (the files a report under review is about). A path from a request is
never trusted: it must be absolute, name no link at any level below its root, resolve
inside one of those roots, and be a regular file. Report names are plain names inside
a report folder, never paths. Anything else is refused (`Refused`: the routes answer
403 or 404).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..core.reportfile import ReportHeader, read_header
from ..core.textsafe import text_path
from ..library.catalog import STATE_DIR

REPORT_SUFFIXES = (".csv", ".json")


class Refused(Exception):
    """A path or name that the web app will not read."""


@dataclass(frozen=True, slots=True)
class ReportRef:
    """A report found in a report folder: `ref` is how pages and the API name it."""

    ref: str  # "<folder number>:<file name>"
    path: Path
    header: ReportHeader
    mtime: float
    size: int


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class Access:
    def __init__(self, library: Path, report_dirs: tuple[Path, ...]) -> None:
        self.library = library.absolute()
        self.library_real = _real(library)
        self.report_dirs = tuple(d.absolute() for d in report_dirs)
        self.state = self.library_real / STATE_DIR

    # --- reports ----------------------------------------------------------------------

    def reports(self) -> list[ReportRef]:
        """Every report in the report folders (newest first); files without a header skipped."""
        found: list[ReportRef] = []
        for number, folder in enumerate(self.report_dirs):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                if not name.endswith(REPORT_SUFFIXES) or name.startswith("."):
                    continue
                try:
                    found.append(self._ref(number, name))
                except Refused:
                    continue
        found.sort(key=lambda r: r.mtime, reverse=True)
        return found

    def report(self, ref: str) -> ReportRef:
        number_text, sep, name = ref.partition(":")
        if not sep or not number_text.isdigit() or int(number_text) >= len(self.report_dirs):
            raise Refused(f"no such report: {ref!r}")
        return self._ref(int(number_text), name)

    def ref_of(self, path: Path | str) -> ReportRef | None:
        """The report at `path` when it lies in one of the report folders, else None."""
        path = Path(path)
        folder = os.path.realpath(path.parent)
        for number, d in enumerate(self.report_dirs):
            if os.path.realpath(d) == folder:
                try:
                    return self.report(f"{number}:{path.name}")
                except Refused:
                    return None
        return None

    def _ref(self, number: int, name: str) -> ReportRef:
        if not name or "/" in name or "\x00" in name or name in (".", "..") or "\\" in name:
            raise Refused(f"not a report name: {name!r}")
        if not name.endswith(REPORT_SUFFIXES):
            raise Refused(f"not a report: {name!r}")
        path = self.report_dirs[number] / name
        try:
            st = os.lstat(path)
        except OSError:
            raise Refused(f"no such report: {name!r}") from None
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"not a regular file: {name!r}")
        header = read_header(path)
        if header is None:
            raise Refused(f"not a photoorganiser report: {name!r}")
        return ReportRef(f"{number}:{name}", path, header, st.st_mtime, st.st_size)

    def new_report_path(self, name: str) -> Path:
        """Where a report written by the app goes: the library's report folder."""
        if "/" in name or name.startswith(".") or not name.endswith(REPORT_SUFFIXES):
            raise Refused(f"not a report name: {name!r}")
        return self.library_real / STATE_DIR / "reports" / name

    # --- files ------------------------------------------------------------------------

    def roots(self) -> list[Path]:
        roots = [self.library_real, *(_real(d) for d in self.report_dirs)]
        for report in self.reports():
            for given in report.header.inputs:
                if given and os.path.isabs(given):
                    roots.append(_real(Path(given)))
        return roots

    def readable(self, text: str, roots: list[Path] | None = None) -> Path:
        """The file a request names (a report's path text), if the app may read it."""
        if not text or "\x00" in text:
            raise Refused("no path")
        path = Path(text_path(text))
        if not path.is_absolute():
            raise Refused(f"not an absolute path: {text!r}")
        if ".." in path.parts:
            raise Refused(f"a path with '..': {text!r}")
        for root in roots if roots is not None else self.roots():
            if _inside(path, root):
                break
        else:
            # the path may be written through a link to a root (the library as given)
            real = _real(path)
            for root in roots if roots is not None else self.roots():
                if _inside(real, root):
                    path = real
                    break
            else:
                raise Refused(f"outside the library and the reviewed inputs: {text!r}")
        self._no_links_below(path, root)
        try:
            st = os.lstat(path)
        except OSError:
            raise Refused(f"no such file: {text!r}") from None
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"not a regular file: {text!r}")
        if _inside(path, self.state) and not _inside(path, self.state / "reports"):
            raise Refused("the library's state files are not served")
        return path

    @staticmethod
    def _no_links_below(path: Path, root: Path) -> None:
        current = root
        for part in path.relative_to(root).parts:
            current = current / part
            try:
                if stat.S_ISLNK(os.lstat(current).st_mode):
                    raise Refused(f"a link on the way: {current}")
            except FileNotFoundError:
                raise Refused(f"no such file: {path}") from None

    def library_file(self, relative: str) -> Path:
        """A library file named by its catalog path (relative, '/'-separated)."""
        if relative.startswith("/") or "\x00" in relative:
            raise Refused(f"not a library path: {relative!r}")
        return self.readable(str(self.library_real / text_path(relative)), [self.library_real])

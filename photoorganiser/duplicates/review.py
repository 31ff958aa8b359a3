"""A find-duplicates report under review: its groups read once, the decisions a person
takes on them (a draft kept in the library's state folder), and the reviewed report
written from them, which `dedupe` carries out.

- `Review.of(rows)`: the report's rows as groups (in report order), its unreadable and
  `unique` rows apart, and which groups each path is in.
- A draft is `{group id: {path text: keep}}`, only for the groups whose decisions differ
  from the report's own `keep` column; `decided()` lays it over the report. `decide()`
  changes one group and refuses a group left with no file kept (`ReviewError`).
- The pictures judged on their own (`blank`, `dark`, `blurred` rows, group 0) are
  decided one by one, in the same draft under group 0 (`PICTURES`): `decide_pictures()`;
  any of them may be dropped. The `flat` rows are only listed (nothing to decide).
- `Drafts(library)`: the drafts in `LIBRARY/.photoorganiser/reviews/`, read and written
  relative to folders opened without following a link, written through a temporary
  file and a rename (never half a draft).
- `write_reviewed()`: the reviewed report: the same header kind and columns, `keep` as
  decided, written by `report.write_report` under a temporary name and given its final
  name by `link(2)`, which never replaces a file.

Paths are keyed by their report text (`textsafe.path_text`), the form pages send back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ..core.reportfile import ReportHeader
from ..core.textsafe import display_text, path_text
from ..library.catalog import STATE_DIR
from .report import ReportFormat, ReportRow, write_report
from .values import POOR_KINDS, Kind

REVIEWS_DIR = "reviews"
DRAFT_FORMAT = 1
MAX_DRAFT_BYTES = 64 << 20

Draft = dict[int, dict[str, bool]]
PICTURES = 0  # the draft's key for the blank, dark and blurred pictures' decisions


class ReviewError(ValueError):
    """A decision or a save that cannot be taken, said in one line for people."""


@dataclass(frozen=True, slots=True)
class Group:
    group_id: int
    kind: Kind
    rows: tuple[ReportRow, ...]
    paths: tuple[str, ...]  # each row's path text, in row order

    def suggested(self) -> dict[str, bool]:
        """The report's own keep column for the group."""
        return {p: bool(r.keep) for p, r in zip(self.paths, self.rows, strict=True)}


@dataclass(frozen=True, slots=True)
class Review:
    """A find-duplicates report read once."""

    groups: tuple[Group, ...]
    unreadable: tuple[ReportRow, ...]
    unique: tuple[ReportRow, ...]
    position: Mapping[int, int]  # group id -> index in `groups`
    groups_of: Mapping[str, tuple[int, ...]]  # path text -> the groups it is in
    pictures: tuple[ReportRow, ...] = ()  # blank, dark, blurred: each decided on its own
    flat: tuple[ReportRow, ...] = ()  # near-flat or tiny, left out of the search: listed

    @classmethod
    def of(cls, rows: list[ReportRow]) -> Review:
        members: dict[int, list[ReportRow]] = {}
        unreadable: list[ReportRow] = []
        unique: list[ReportRow] = []
        pictures: list[ReportRow] = []
        flat: list[ReportRow] = []
        for row in rows:
            if row.kind is Kind.UNREADABLE:
                unreadable.append(row)
            elif row.kind is Kind.UNIQUE:
                unique.append(row)
            elif row.kind in POOR_KINDS:
                pictures.append(row)
            elif row.kind is Kind.FLAT:
                flat.append(row)
            elif row.group_id > 0:
                members.setdefault(row.group_id, []).append(row)
        groups = []
        groups_of: dict[str, list[int]] = {}
        for gid, group_rows in members.items():
            paths = tuple(path_text(r.path) for r in group_rows)
            groups.append(Group(gid, group_rows[0].kind, tuple(group_rows), paths))
            for p in dict.fromkeys(paths):
                groups_of.setdefault(p, []).append(gid)
        return cls(
            tuple(groups),
            tuple(unreadable),
            tuple(unique),
            {g.group_id: i for i, g in enumerate(groups)},
            {p: tuple(g) for p, g in groups_of.items()},
            tuple(pictures),
            tuple(flat),
        )

    def group(self, group_id: int) -> Group:
        try:
            return self.groups[self.position[group_id]]
        except KeyError:
            raise ReviewError(f"the report has no group {group_id}") from None

    @property
    def files(self) -> int:
        return sum(len(g.rows) for g in self.groups)

    def picture_paths(self) -> dict[str, ReportRow]:
        """The blank, dark and blurred pictures by path text (the first row of a path)."""
        out: dict[str, ReportRow] = {}
        for row in self.pictures:
            out.setdefault(path_text(row.path), row)
        return out


def decided(group: Group, draft: Draft) -> dict[str, bool]:
    """The group's keep decisions: the draft's over the report's own."""
    chosen = draft.get(group.group_id)
    suggested = group.suggested()
    if not chosen:
        return suggested
    return {p: chosen.get(p, k) for p, k in suggested.items()}


def decide(review: Review, draft: Draft, group_id: int, keep: Mapping[str, bool]) -> Draft:
    """The draft with `keep` ({path text: keep}) taken for one group; ReviewError for a
    path not in the group or a group left with no file kept. `draft` is not changed."""
    group = review.group(group_id)
    current = decided(group, draft)
    for path, value in keep.items():
        if path not in current:
            raise ReviewError(f"{path} is not in group {group_id}")
        if not isinstance(value, bool):
            raise ReviewError(f"keep must be true or false for {path}")
        current[path] = value
    if not any(current.values()):
        raise ReviewError(
            f"group {group_id} would have no file kept: keep at least one"
            " (dedupe never removes every copy)"
        )
    out = {gid: dict(v) for gid, v in draft.items() if gid != group_id}
    if current != group.suggested():
        out[group_id] = current
    return out


def picture_keep(row: ReportRow, draft: Draft) -> bool:
    """A blank, dark or blurred picture's decision: the draft's over the report's."""
    return draft.get(PICTURES, {}).get(path_text(row.path), bool(row.keep))


def decide_pictures(review: Review, draft: Draft, keep: Mapping[str, bool]) -> Draft:
    """The draft with `keep` ({path text: keep}) taken for blank, dark or blurred
    pictures; ReviewError for a path that is not one. `draft` is not changed."""
    rows = review.picture_paths()
    chosen = dict(draft.get(PICTURES, {}))
    for path, value in keep.items():
        row = rows.get(path)
        if row is None:
            raise ReviewError(f"{path} is not a blank, dark or blurred picture of the report")
        if not isinstance(value, bool):
            raise ReviewError(f"keep must be true or false for {path}")
        if value == bool(row.keep):
            chosen.pop(path, None)
        else:
            chosen[path] = value
    out = {gid: dict(v) for gid, v in draft.items() if gid != PICTURES}
    if chosen:
        out[PICTURES] = chosen
    return out


@dataclass(frozen=True, slots=True)
class Totals:
    groups: int
    changed: int  # groups whose decisions differ from the report's
    files: int
    dropped: int  # distinct files marked drop (in groups or as pictures)
    reclaimable: int  # their bytes
    pictures: int = 0  # blank, dark and blurred pictures
    pictures_dropped: int = 0  # of them, marked drop


def totals(review: Review, draft: Draft, gone: AbstractSet[str] = frozenset()) -> Totals:
    """The review's counts. A file in `gone` (path texts: no longer at its path, moved
    by a dedupe or by hand) is neither marked drop nor to reclaim: nothing is left to do
    with it."""
    dropped: dict[str, int] = {}
    for group in review.groups:
        keep = decided(group, draft) if group.group_id in draft else None
        for path, row in zip(group.paths, group.rows, strict=True):
            if not (keep[path] if keep is not None else row.keep) and path not in gone:
                dropped[path] = row.size or 0
    pictures = review.picture_paths()
    poor = 0
    for path, row in pictures.items():
        if not picture_keep(row, draft) and path not in gone:
            dropped[path] = row.size or 0
            poor += 1
    changed = sum(1 for gid in draft if gid in review.position)
    return Totals(
        len(review.groups),
        changed,
        review.files,
        len(dropped),
        sum(dropped.values()),
        len(pictures),
        poor,
    )


def conflicts(review: Review, decisions: Mapping[int, Mapping[str, bool]]) -> list[str]:
    """Groups whose picture would be gone: each file they keep is dropped by another
    group (a file can be in an exact group and a near-duplicate group), and no file with
    the same content is kept and dropped nowhere. Said for people."""
    hash_of = {p: r.hash for g in review.groups for p, r in zip(g.paths, g.rows, strict=True)}
    dropped_by: dict[str, int] = {}
    for gid, keep in decisions.items():
        for path, value in keep.items():
            if not value:
                dropped_by.setdefault(path, gid)
    surviving = {
        hash_of[p]
        for keep in decisions.values()
        for p, value in keep.items()
        if value and p not in dropped_by and hash_of.get(p)
    }
    said = []
    for gid, keep in decisions.items():
        kept = [p for p, v in keep.items() if v]
        if kept and all(p in dropped_by and hash_of.get(p) not in surviving for p in kept):
            path = kept[0]
            said.append(
                f"group {gid} keeps only {display_text(path)}, which group {dropped_by[path]}"
                " drops: keep another file in one of them"
            )
    return said


def reviewed_rows(rows: list[ReportRow], review: Review, draft: Draft) -> list[ReportRow]:
    """The report's rows in their order, `keep` as decided (a changed row says so in its
    reason); ReviewError for a group with no file kept, or whose kept files another group
    drops (dedupe would move every copy)."""
    decisions = {g.group_id: decided(g, draft) for g in review.groups}
    for gid, keep in decisions.items():
        if not any(keep.values()):
            raise ReviewError(f"group {gid} has no file kept: mark the file to keep")
    clashes = conflicts(review, decisions)
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise ReviewError(f"{clashes[0]}{more}")
    decisions[PICTURES] = draft.get(PICTURES, {})
    out = []
    for row in rows:
        keep = None
        if row.kind in (Kind.EXACT, Kind.SIMILAR) or row.kind in POOR_KINDS:
            keep = decisions.get(PICTURES if row.kind in POOR_KINDS else row.group_id)
        if keep is not None:
            value = keep.get(path_text(row.path), bool(row.keep))
            if value != bool(row.keep):
                said = "kept in review" if value else "dropped in review"
                row = replace(row, keep=value, reason=f"{said}; {row.reason}")
        out.append(row)
    return out


# --- the reviewed report ------------------------------------------------------------

_REVIEWED = re.compile(r"-reviewed-\d{8}-\d{6}(?:-\d+)?$")


def review_base(stem: str) -> str:
    """The stem of the report a reviewed report was made from (`dups-reviewed-<time>`
    -> `dups`); a stem that is no review's, as it is."""
    return _REVIEWED.sub("", stem) or "duplicates"


def reviewed_name(source: Path, now: datetime, number: int = 1) -> str:
    """`<stem>-reviewed-<time>.<suffix>` (an earlier review's stamp replaced)."""
    stem = review_base(source.stem)
    suffix = source.suffix if source.suffix in (".csv", ".json") else ".csv"
    more = f"-{number}" if number > 1 else ""
    return f"{stem}-reviewed-{now.strftime('%Y%m%d-%H%M%S')}{more}{suffix}"


def write_reviewed(
    rows: list[ReportRow], header: ReportHeader, source: Path, folder: Path, now: datetime
) -> Path:
    """Write the reviewed report as a new file in `folder` (never replacing one; a name
    taken gets a number) and return its path. `folder` and the state folders above it
    are never links."""
    fmt = ReportFormat.JSON if source.suffix == ".json" else ReportFormat.CSV
    header = replace(
        header,
        kind="duplicates",
        created=now.isoformat(timespec="seconds"),
        command=f"reviewed with photoorganiser serve from {path_text(source.name)}",
    )
    with _folder(folder.parent.parent, (folder.parent.name, folder.name), create=True) as fd:
        tmp = f".review-{os.getpid()}-{secrets.token_hex(4)}{source.suffix or '.csv'}"
        write_report(rows, folder / tmp, fmt, header)
        try:
            for number in range(1, 1000):
                name = reviewed_name(source, now, number)
                try:
                    os.link(tmp, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
                except FileExistsError:
                    continue
                return folder / name
            raise ReviewError(f"no free name for the reviewed report in {folder}")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd)


# --- drafts -------------------------------------------------------------------------


@contextlib.contextmanager
def _folder(root: Path, parts: tuple[str, ...], create: bool) -> Iterator[int]:
    """A descriptor of root/parts..., each part opened (made, if `create`) without
    following a link. FileNotFoundError when a part is missing and not to be made."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                sub = os.open(
                    part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
                )
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ReviewError(
                        f"{root}/{'/'.join(parts)}: a link or a file on the way; not followed"
                    ) from None
                raise
            os.close(fd)
            fd = sub
        yield fd
    finally:
        os.close(fd)


class Drafts:
    """The review drafts of one library: `LIBRARY/.photoorganiser/reviews/NAME`."""

    def __init__(self, library: Path) -> None:
        self.library = library
        self.parts = (STATE_DIR, REVIEWS_DIR)

    def path_of(self, name: str) -> Path:
        return self.library.joinpath(*self.parts, name)

    def load(self, name: str) -> Draft:
        _check_name(name)
        try:
            with self._dir(create=False) as fd:
                f = os.open(
                    name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd
                )
        except FileNotFoundError:
            return {}
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ReviewError(f"{self.path_of(name)} is a link; not followed") from None
            raise
        try:
            st = os.fstat(f)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_DRAFT_BYTES:
                raise ReviewError(f"{self.path_of(name)} is not a review draft")
            data = b""
            while chunk := os.read(f, 1 << 20):
                data += chunk
        finally:
            os.close(f)
        return _parse_draft(data)

    def save(self, name: str, draft: Draft, report: Path) -> None:
        _check_name(name)
        document = {
            "format": DRAFT_FORMAT,
            "report": path_text(report),
            "groups": {str(gid): dict(sorted(keep.items())) for gid, keep in sorted(draft.items())},
        }
        data = json.dumps(document, indent=1, ensure_ascii=False).encode() + b"\n"
        with self._dir(create=True) as fd:
            tmp = f".{name}.po-tmp-{os.getpid()}-{secrets.token_hex(3)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            f = os.open(tmp, flags, 0o644, dir_fd=fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(f, view) :]
                os.fsync(f)
                os.close(f)
                f = -1
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                if f >= 0:
                    os.close(f)
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=fd)
                raise

    def _dir(self, create: bool):
        return _folder(self.library, self.parts, create)


def _check_name(name: str) -> None:
    if not name or "/" in name or "\x00" in name or name.startswith(".") or "\\" in name:
        raise ReviewError(f"not a draft name: {name!r}")


def _parse_draft(data: bytes) -> Draft:
    try:
        document = json.loads(data.decode("utf-8"))
        groups = document["groups"]
        return {
            int(gid): {str(p): bool(k) for p, k in keep.items()} for gid, keep in groups.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}  # not ours or damaged: the review starts again from the report

"""A reviewed import plan: a person's decisions on a dry-run report, checked the way
`apply` checks them, and written as a new plan that `apply` carries out exactly.

The decisions are two: a planned transfer can be left alone (unticked), and its
destination can be edited. A file that travels with another (a sidecar, a Live Photo
video, a RAW's partner: its `follows`) is left alone with it, and goes to the edited
name's stem with it, so nothing is separated from its photo by a review: its own
destination cannot be edited (`follower_refusal`; an edit of one in an older draft is
dropped, and it follows again). `apply` follows the same rules (`leaders`,
`left_with_leader`, `follower_name_problem`) for a plan whose rows a person deleted or
edited by hand.

- A draft of the decisions is kept in `LIBRARY/.photoorganiser/reviews/<report>.json`
  (written atomically, never through a link), so a review survives a closed browser.
- An edited destination is relative to the library, every part a safe name (the same
  rule `apply` checks: a part must be what `sanitise_component` makes of it), no `..`,
  the same extension, and no other planned file or library file already there.
- `write_reviewed` writes the plan as a new report beside the others (created
  exclusively, never replacing a file): the same header, so `apply` takes it for the
  same library; the rows left alone are removed (as a person deleting rows: `apply`
  leaves alone what the plan no longer lists); edited destinations written, and said
  in the row's reason.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath

from ..core.reportfile import HEADER_MARK, ReportHeader, read_rows
from ..core.textsafe import csv_row, path_text
from .paths import MAX_COMPONENT_BYTES, sanitise_component
from .report import ReportRow

STATE_DIR = ".photoorganiser"
REVIEWS_DIR = "reviews"
REPORTS_DIR = "reports"
DRAFT_FORMAT = 1

TICKABLE_ACTIONS = frozenset({"move", "copy"})
TICKABLE_STATUSES = frozenset({"planned", "not-done"})  # what apply carries out


class ReviewRefused(ValueError):
    """A decision the review will not take (one line: why)."""


def tickable(row: ReportRow) -> bool:
    """A row the review decides on: a transfer `apply` would carry out."""
    return row.action in TICKABLE_ACTIONS and row.status in TICKABLE_STATUSES


def leaders(rows: Sequence[ReportRow], library: str) -> dict[int, int | None]:
    """The planned transfers that travel with another file, each -> the row that transfers
    that file, or None when the plan has no row for it (a person removed it). `follows`
    names the file by its source (a sidecar's photo, a Live Photo's still, a RAW's JPEG)
    or by its planned destination (a sidecar joining the copy the run keeps). A file that
    joins one already in the library, or whose file's row is there but transfers nothing
    (done by an earlier apply), has no leader."""
    by_source: dict[str, int] = {}
    by_destination: dict[str, int] = {}
    listed: set[str] = set()
    for i, row in enumerate(rows):
        listed.add(row.source)
        if tickable(row):
            by_source.setdefault(row.source, i)
            by_destination.setdefault(row.destination, i)
    out: dict[int, int | None] = {}
    for i, row in enumerate(rows):
        if not row.follows or not tickable(row) or by_source.get(row.source) != i:
            continue
        lead = by_source.get(row.follows, by_destination.get(row.follows))
        if lead == i or (
            lead is None and (row.follows in listed or relative_to_library(row.follows, library))
        ):
            continue
        out[i] = lead
    return out


def left_with_leader(
    i: int, leader_of: dict[int, int | None], left_alone: Callable[[int], bool]
) -> bool:
    """Whether row i is left alone with the file it travels with (`leader_of` as `leaders`
    gives it): that file's row was removed from the plan, or is left alone itself
    (`left_alone(row)`: unticked in a review, refused by apply's checks), or travels in
    turn with one that is. Never transferred without it: it goes with it next time."""
    seen: set[int] = set()
    while i in leader_of and i not in seen:
        seen.add(i)
        lead = leader_of[i]
        if lead is None or left_alone(lead):
            return True
        i = lead
    return False


def follower_name_problem(leader_destination: str, destination: str, leader: str) -> str | None:
    """Why a follower's `destination` is not named after the file it travels with (whose
    destination is `leader_destination`; `leader` names that file), or None. A follower
    goes in its leader's folder, under its leader's stem (`X.jpg` -> `X.xmp`, `X.jpg.xmp`,
    `X.mov`; a number after the stem when that name was taken), as the import names it
    and a review's edit carries it along. Paths are '/'-separated text, either both
    relative to the library or both absolute."""
    lead, own = PurePosixPath(leader_destination), PurePosixPath(destination)
    if own.parent == lead.parent and (
        own.name.startswith(lead.stem)
        # a name cut to the file system's limit keeps as much of the stem as fits
        or (len(own.name.encode()) >= MAX_COMPONENT_BYTES - 8 and lead.stem.startswith(own.stem))
    ):
        return None
    return (
        f"it follows {PurePosixPath(leader).name}, so its destination must be named after"
        f" that file's ({lead.name}), not {own.name} in {own.parent}: edit that file's"
        " destination, and it follows"
    )


def relative_to_library(destination: str, library: str) -> str:
    """A report's destination (absolute path text) relative to the plan's library, with
    '/' separators; '' when it is not under it."""
    if not destination or not library:
        return ""
    root = path_text(library).rstrip("/") + "/"
    return destination[len(root) :] if destination.startswith(root) else ""


def destination_problem(text: str, planned: str) -> str | None:
    """Why `text` (a destination relative to the library) cannot replace `planned` (the
    plan's own relative destination), or None. The same rule `apply` checks, said
    before it runs: relative, no '..', each part a safe name, the same extension."""
    if not text or not text.strip():
        return "the destination is empty"
    if text.startswith("/") or text.startswith("\\"):
        return "the destination must be relative to the library (no leading /)"
    parts = text.split("/")
    if ".." in parts:
        return "a destination may not contain '..'"
    if any(p in ("", ".") for p in parts):
        return "a destination may not contain an empty or '.' folder name"
    if parts[0] == STATE_DIR:
        return f"{STATE_DIR}/ holds the library's own state, not photos"
    for part in parts:
        safe = sanitise_component(part, fallback="")
        if part != safe:
            hint = f" (it could be {safe!r})" if safe else ""
            return f"{part!r} is not a safe file or folder name{hint}"
    want = PurePosixPath(planned).suffix.lower()
    got = PurePosixPath(text).suffix.lower()
    if got != want:
        return f"the extension must stay {want or '(none)'}" + (f", not {got}" if got else "")
    if not PurePosixPath(text).stem:
        return "the file name has no name before its extension"
    return None


def _key(relative: str) -> str:
    """Names differing only by case are the same name (as the import treats them)."""
    return relative.casefold()


class Review:
    """The decisions on one plan, over its rows (which it never changes).

    `unticked`: the sources a person left alone; `edits`: source -> destination
    relative to the plan's library. A follower of a row left alone is left alone; a
    follower of an edited row follows the edit to its new stem. A follower's own
    destination is never edited: an edit of one (a draft kept before this rule) is
    dropped, and it follows its file again."""

    def __init__(
        self,
        header: ReportHeader,
        rows: Sequence[ReportRow],
        unticked: Iterable[str] = (),
        edits: dict[str, str] | None = None,
    ) -> None:
        self.header = header
        self.rows = rows
        self.library = header.library  # a path as the file system has it (read_header decoded it)
        self.lock = threading.RLock()
        self.index: dict[str, int] = {}
        self.planned: list[str] = []  # each row's relative destination, as planned
        self.followers: dict[int, list[int]] = {}
        for i, row in enumerate(rows):
            if tickable(row):
                self.index.setdefault(row.source, i)
            self.planned.append(relative_to_library(row.destination, self.library))
        # (None: the file it travels with has no row, as apply reads the plan)
        self.leaders = leaders(rows, self.library)
        for i, leader in self.leaders.items():
            if leader is not None:
                self.followers.setdefault(leader, []).append(i)
        self.leader_of = {f: lead for lead, fs in self.followers.items() for f in fs}
        self.unticked: set[str] = {s for s in unticked if s in self.index}
        self.edits: dict[str, str] = {
            s: d
            for s, d in (edits or {}).items()
            if s in self.index
            and isinstance(d, str)
            and self.follower_refusal(self.index[s]) is None
        }
        self._taken: Counter[str] | None = None
        self._states: dict[int, str] | None = None

    # --- the state of a row ---------------------------------------------------------------

    def tickable(self, i: int) -> bool:
        return self.index.get(self.rows[i].source) == i

    def left_alone(self, i: int) -> bool:
        """Unticked (or not a transfer this review decides on), by the person's own hand."""
        return not self.tickable(i) or self.rows[i].source in self.unticked

    def ticked(self, i: int) -> bool:
        """Carried out: not left alone, nor is the file it travels with (`left_with_leader`,
        the rule `apply` follows for a reviewed plan's rows)."""
        return not self.left_alone(i) and not left_with_leader(i, self.leaders, self.left_alone)

    def destination(self, i: int) -> str:
        """The row's destination (relative), its edit or its leader's edit applied."""
        row = self.rows[i]
        edited = self.edits.get(row.source)
        if edited is not None:
            return edited
        lead = self.leader_of.get(i)
        if lead is None or lead == i:
            return self.planned[i]
        new_lead = self.destination(lead) if self.rows[lead].source in self.edits else None
        if new_lead is None:
            return self.planned[i]
        return _follow(self.planned[lead], new_lead, self.planned[i])

    def follower_refusal(self, i: int) -> str | None:
        """Why row i's destination cannot be edited on its own (it travels with another
        file and takes that file's name), or None."""
        follows = self.rows[i].follows
        if not follows or follows == self.rows[i].source:
            return None
        lead = self.leader_of.get(i)
        if lead is not None:
            name = PurePosixPath(self.rows[lead].source).name
            return f"it follows {name}: edit that file's destination, and it follows"
        name = PurePosixPath(follows).name
        if i in self.leaders:
            return f"it follows {name}, which this plan does not list"
        if relative_to_library(follows, self.library):
            return f"it follows {name}, already in the library, and keeps that file's name"
        return f"it follows {name}, which this plan does not transfer, and keeps its name"

    def edited(self, i: int) -> bool:
        return self.tickable(i) and self.destination(i) != self.planned[i]

    def states(self) -> dict[int, str]:
        """Each planned transfer's state: 'ticked', 'edited' (ticked, another name) or
        'left-alone'; kept until the next decision."""
        if self._states is None:
            states = {}
            for i in self.index.values():
                if not self.ticked(i):
                    states[i] = "left-alone"
                else:
                    states[i] = "edited" if self.edited(i) else "ticked"
            self._states = states
        return self._states

    def counts(self) -> dict[str, int]:
        states = Counter(self.states().values())
        return {
            "transfers": len(self.index),
            "ticked": states["ticked"] + states["edited"],
            "left_alone": states["left-alone"],
            "edited": states["edited"],
        }

    # --- decisions --------------------------------------------------------------------------

    def _taken_names(self) -> Counter[str]:
        if self._taken is None:
            self._taken = Counter(
                _key(self.destination(i)) for i in self.index.values() if self.ticked(i)
            )
        return self._taken

    def _changed(self) -> None:
        self._taken = None
        self._states = None

    def group(self, i: int) -> list[int]:
        """The row and the rows that travel with it (their followers too)."""
        out, todo = [], [i]
        while todo:
            j = todo.pop()
            if j in out:
                continue
            out.append(j)
            todo.extend(self.followers.get(j, []))
        return out

    def set_ticked(self, source: str, ticked: bool) -> list[int]:
        """Tick or untick a row; the rows whose state changed (its followers too)."""
        with self.lock:
            i = self._row(source)
            if ticked:
                lead = self.leader_of.get(i)
                if i in self.leaders and lead is None:
                    name = PurePosixPath(self.rows[i].follows).name
                    raise ReviewRefused(f"it travels with {name}, which this plan does not list")
                if lead is not None and not self.ticked(lead):
                    name = PurePosixPath(self.rows[lead].source).name
                    raise ReviewRefused(f"it travels with {name}, which is left alone: tick it")
                if source in self.unticked:
                    taken = self._taken_names()
                    for j in self.group(i):
                        if _key(self.destination(j)) in taken:
                            raise ReviewRefused(
                                f"{self.destination(j)} is now another file's destination"
                            )
                self.unticked.discard(source)
            else:
                self.unticked.add(source)
            self._changed()
            return self.group(i)

    def set_destination(self, source: str, relative: str | None) -> list[int]:
        """Edit a row's destination (None or the planned one: back to the plan)."""
        with self.lock:
            i = self._row(source)
            group = self.group(i)
            if relative is not None:
                relative = relative.strip()
            refusal = self.follower_refusal(i)
            if refusal is not None:  # it takes its file's name: never an edit of its own
                if relative is not None and relative != self.destination(i):
                    raise ReviewRefused(refusal)
                return group
            if relative is None or relative == self.planned[i]:
                self.edits.pop(source, None)
                self._changed()
                return group
            problem = destination_problem(relative, self.planned[i])
            if problem:
                raise ReviewRefused(problem)
            taken = self._taken_names()  # before the edit: the group's own names in it
            mine = Counter(_key(self.destination(j)) for j in group if self.ticked(j))
            before = self.edits.get(source)
            self.edits[source] = relative
            try:
                for j in group:
                    self._check_free(j, j != i, taken, mine)
            except ReviewRefused:
                if before is None:
                    self.edits.pop(source, None)
                else:
                    self.edits[source] = before
                raise
            self._changed()
            return group

    def _check_free(self, j: int, follower: bool, taken: Counter[str], mine: Counter[str]) -> None:
        """Row j's (new) destination is no other ticked row's, and no file in the library."""
        new = self.destination(j)
        lead = self.leader_of.get(j)
        if (
            follower
            and lead is not None
            and follower_name_problem(self.destination(lead), new, self.rows[lead].source)
        ):  # (one not named after its file cannot follow that file's new name: apply refuses it)
            raise ReviewRefused(
                f"{PurePosixPath(self.rows[j].source).name} travels with it but is not"
                " named after it: it cannot follow a new name"
            )
        if new == self.planned[j]:
            return
        if follower and destination_problem(new, self.planned[j]):
            raise ReviewRefused(f"{new} (for a file travelling with it) is not a safe name")
        key = _key(new)
        if taken[key] - mine[key] > 0:
            raise ReviewRefused(f"{new} is already another planned file's destination")
        if self.library and os.path.lexists(Path(self.library) / new):
            raise ReviewRefused(f"{new} already exists in the library")

    def set_many(self, indices: Iterable[int], ticked: bool) -> int:
        """Tick or untick every tickable row of `indices` (a filter's rows); how many rows
        changed (their followers too). A row that cannot be ticked again (its name now
        taken, or its photo left alone) stays as it is. One pass: the names taken are
        counted once and kept up to date as rows are ticked."""
        changed = 0
        with self.lock:
            taken = Counter(self._taken_names()) if ticked else Counter()
            for i in indices:
                if not self.tickable(i) or self.ticked(i) == ticked:
                    continue
                source = self.rows[i].source
                group = self.group(i)
                before = {j: self.ticked(j) for j in group}
                if not ticked:
                    self.unticked.add(source)
                else:
                    lead = self.leader_of.get(i)
                    if source not in self.unticked or (lead is not None and not self.ticked(lead)):
                        continue
                    names = [_key(self.destination(j)) for j in group if not before[j]]
                    if any(taken[n] for n in names):
                        continue
                    self.unticked.discard(source)
                    for j in group:
                        if not before[j] and self.ticked(j):
                            taken[_key(self.destination(j))] += 1
                now = [self.ticked(j) != was for j, was in before.items()]
                changed += sum(now)
            self._changed()
        return changed

    def problems(self) -> list[str]:
        """What stops the review from being saved (a name taken twice...); [] when none."""
        out = []
        seen: dict[str, int] = {}
        for i in self.index.values():
            if not self.ticked(i):
                continue
            new = self.destination(i)
            if new != self.planned[i]:
                problem = destination_problem(new, self.planned[i])
                if problem:
                    out.append(f"{self.rows[i].source}: {problem}")
            key = _key(new)
            if key in seen:
                out.append(f"{new}: the destination of two files")
            seen[key] = i
        return out

    def _row(self, source: str) -> int:
        i = self.index.get(source)
        if i is None:
            raise ReviewRefused("not a planned transfer of this report")
        return i

    # --- the draft ------------------------------------------------------------------------

    def draft(self, report: Path) -> dict:
        with self.lock:
            return {
                "format": DRAFT_FORMAT,
                "report": path_text(report),
                "unticked": sorted(self.unticked),
                "destinations": dict(sorted(self.edits.items())),
            }


def _follow(lead_before: str, lead_after: str, mine: str) -> str:
    """A follower's destination after its leader's edit: the same suffix on the new stem
    (`a/IMG_1.jpg.xmp` with `a/IMG_1.jpg` -> `b/X.jpg` gives `b/X.jpg.xmp`); unchanged
    when it was not named after its leader."""
    before, after, own = PurePosixPath(lead_before), PurePosixPath(lead_after), PurePosixPath(mine)
    if own.parent != before.parent or not own.name.startswith(before.stem):
        return mine
    return str(after.with_name(after.stem + own.name[len(before.stem) :]))


# --- files in the library's state folder, never through a link ------------------------------


def _state_dir_fd(library: Path, folder: str) -> int:
    """An open descriptor of LIBRARY/.photoorganiser/FOLDER, made if missing; no level
    below the library may be a link (OSError otherwise)."""
    os.makedirs(library, exist_ok=True)
    fd = os.open(library, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in (STATE_DIR, folder):
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            inner = os.open(
                part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
            )
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def draft_name(report: Path) -> str:
    return f"{report.name}.json"


def read_draft(library: Path, report: Path) -> dict:
    """The saved decisions on `report` ({} when none, or made for another file)."""
    try:
        dir_fd = os.open(
            Path(library) / STATE_DIR / REVIEWS_DIR,
            os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
        )
    except OSError:
        return {}
    try:
        fd = os.open(draft_name(report), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read(64 << 20).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    finally:
        os.close(dir_fd)
    if not isinstance(data, dict) or data.get("report") != path_text(report):
        return {}
    unticked = [s for s in data.get("unticked", ()) if isinstance(s, str)]
    edits = data.get("destinations", {})
    edits = (
        {s: d for s, d in edits.items() if isinstance(d, str)} if isinstance(edits, dict) else {}
    )
    return {"unticked": unticked, "destinations": edits}


def write_draft(library: Path, report: Path, draft: dict) -> None:
    """Keep the decisions: a temporary file in the reviews folder, flushed, renamed."""
    data = json.dumps(draft, ensure_ascii=True, indent=1).encode("ascii")
    dir_fd = _state_dir_fd(library, REVIEWS_DIR)
    name = draft_name(report)
    tmp = f".{name}.po-tmp-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o644, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- the reviewed plan ------------------------------------------------------------------------


def reviewed_name(report: Path, when: datetime, number: int) -> str:
    stem = report.name.rsplit(".", 1)[0]
    base = stem.split("-reviewed-")[0]
    extra = f"-{number}" if number > 1 else ""
    return f"{base}-reviewed-{when:%Y%m%d-%H%M%S}{extra}.csv"


def write_reviewed(
    report: Path, review: Review, place: Callable[[str], Path], when: datetime | None = None
) -> tuple[Path, dict[str, int]]:
    """Write the reviewed plan as a new file (`place(name)` says where a name goes; a
    name taken means the next number, nothing is ever replaced). Returns its path and
    its counts. ReviewRefused when the review has a problem or the report changed."""
    when = when or datetime.now()
    with review.lock:
        problems = review.problems()
        if problems:
            raise ReviewRefused("; ".join(problems[:3]))
        header, rows = read_rows(report)
        columns = _columns(report)
        if (
            header is None
            or len(rows) != len(review.rows)
            or any(
                r.get("source", "") != mine.source
                for r, mine in zip(rows, review.rows, strict=True)
            )
        ):
            raise ReviewRefused("the report changed since it was opened: open it again")
        if "destination" not in columns:
            raise ReviewRefused("the report has no destination column")
        library = review.library
        kept: list[list[str]] = []
        counts = {"rows": 0, "transfers": 0, "left_alone": 0, "edited": 0}
        for i, cells in enumerate(rows):
            if review.tickable(i):
                if not review.ticked(i):
                    counts["left_alone"] += 1
                    continue
                counts["transfers"] += 1
                new = review.destination(i)
                if new != review.planned[i]:
                    counts["edited"] += 1
                    cells = dict(cells)
                    cells["destination"] = path_text(Path(library) / new)
                    note = f"destination edited in review (planned: {review.planned[i]})"
                    cells["reason"] = f"{cells.get('reason', '')}; {note}".lstrip("; ")
            kept.append([cells.get(c, "") for c in columns])
        counts["rows"] = len(kept)
        cells = [*header.cells(), f"reviewed={path_text(report.name)}"]
        cells.append(f"reviewed_at={when.isoformat(timespec='seconds')}")
        data = _encode([cells, columns, *kept])
        for number in range(1, 1000):
            path = place(reviewed_name(report, when, number))
            try:
                return _create(path, data), counts
            except FileExistsError:
                continue
        raise ReviewRefused("no free name for the reviewed plan")


def _columns(path: Path) -> list[str]:
    """A report's column names: its first row after the header line."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        for row in csv.reader(f):
            if row and row[0] != HEADER_MARK:
                return row
    return []


def _encode(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for i, row in enumerate(rows):
        writer.writerow(row if i < 2 else csv_row(row))
    return buffer.getvalue().encode("utf-8", "surrogateescape")


def _create(path: Path, data: bytes) -> Path:
    """`path` created exclusively (FileExistsError when taken), its folder under the
    library's state folder made without following a link."""
    folder = path.parent
    if folder.parent.name == STATE_DIR and folder.name == REPORTS_DIR:
        dir_fd = _state_dir_fd(folder.parent.parent, REPORTS_DIR)
    else:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path.name, flags, 0o644, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path.name, dir_fd=dir_fd)
            raise
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path

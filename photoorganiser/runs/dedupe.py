"""`photoorganiser dedupe REPORT (--quarantine DIR | --trash | --hardlink | --delete --yes)`:
act on a reviewed find-duplicates report.

The report is read as the person left it: its `keep` column as edited, a deleted row a
file left alone. Nothing is re-grouped and nothing is trusted blindly:

- checks first, one line and exit 2 before anything is touched: a report of another
  kind, a report without the `hash` column (made before it existed), a group with no
  keeper left;
- the `blank`, `dark` and `blurred` rows (find-duplicates --blanks/--dark/--blurred) have
  no keeper: each is a file on its own, acted on when its keep is `no`, only by
  --quarantine or --trash (it is its only copy), with every check below;
- each file marked `keep=no` is read again and must still hold the report's hash, and
  its keeper must still exist (for an exact group, still hold that same content);
  otherwise the file is left alone, with the reason in the report;
- the policies: `--reference DIR` (never touched), `--keep-copies N`, `--same-folder`;
  a file inside a library (a folder with a catalog) is never touched either: the
  library's files change only through its own commands, which keep the catalog right;
- sidecars beside a file removed (quarantine, trash, delete) go with it when nothing is
  lost by it: an exact duplicate's when its keeper has one with the same bytes, a near
  duplicate's or a lone picture's always; a sidecar another file beside it may own
  stays; otherwise the file is left alone (`_companions`);
- the actions are execute's (importing/execute.py): verified, never overwriting; each
  batch is journalled (a JSON-lines file, each intent the log line it will become)
  before it starts, so a killed run leaves no temporary file behind once the next run
  (or undo) starts, what it did is logged then for `undo`, and a re-run finishes what
  was begun.

The journal and its lock live in the quarantine folder (`DIR/.photoorganiser/`), else in
`--journal DIR`, else in `$XDG_STATE_HOME/photoorganiser/dedupe/`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from pathlib import Path

from ..core import signals
from ..core.hashing import hash_file, holds
from ..core.keeper import SIDECAR_SUFFIXES, sidecar_names, sidecars_among
from ..core.parallel import tmap
from ..core.progress import Progress
from ..core.reportfile import (
    FORMAT,
    ReportHeader,
    ReportUnwritable,
    ReportWriter,
    fallback_dirs,
    place_report,
    read_header,
    report_columns,
    write_summary,
)
from ..core.textsafe import path_text
from ..duplicates.report import ReportRow, human_bytes, read_report
from ..duplicates.values import POOR_KINDS, Kind
from ..importing.execute import (
    TransferError,
    delete_duplicate,
    flush_folders,
    move_aside,
    replace_with_clone,
    replace_with_link,
    restore_copy,
    trash_duplicate,
)
from ..library.catalog import catalog_path
from ..library.journal import TEMP_MARK, remove_temporaries


class DedupeUsageError(ValueError):
    pass


class DedupeBusy(Exception):
    """Another dedupe (or its undo) holds the journal's folder: try later (exit 75, as a
    busy library)."""


class How(Enum):
    QUARANTINE = "quarantine"
    TRASH = "trash"
    HARDLINK = "hardlink"
    REFLINK = "reflink"  # the duplicate shares its blocks with the keeper (btrfs, XFS...)
    DELETE = "delete"


COLUMNS = (
    "group_id",
    "kind",
    "path",
    "action",
    "status",
    "keeper",
    "destination",
    "size",
    "hash",
    "reason",
)

BATCH = 64


@dataclass(frozen=True, slots=True)
class DedupeOptions:
    source: Path  # the reviewed find-duplicates report
    how: How
    quarantine: Path | None = None
    yes: bool = False
    dry_run: bool = False
    report: Path | None = None
    report_dir: Path = Path("reports")
    reference: tuple[Path, ...] = ()
    keep_copies: int = 1
    same_folder: bool = False
    journal: Path | None = None
    sidecars_to_keeper: bool = False  # a differing sidecar moves beside a keeper that has none
    workers: int = 1
    progress: bool = True
    command: str = "dedupe"


@dataclass(frozen=True, slots=True)
class Companion:
    """A sidecar beside a duplicate that a removing action takes along with it: the
    keeper's own sidecar of the same content (`twin`, an exact duplicate's), or none (a
    near duplicate's or a picture's on its own: its edits leave with it)."""

    path: str
    size: int
    hash: str
    mtime_ns: int
    mode: int
    twin: str = ""
    destination: str = ""
    adopted: bool = False  # moved beside the keeper (`destination`), not set aside with it

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


@dataclass(frozen=True, slots=True)
class Item:
    """One row of the reviewed report and what this run does with it."""

    row: ReportRow
    keeper: ReportRow | None
    status: str  # planned / done / left-alone / failed / kept
    reason: str = ""
    destination: str = ""
    reclaimed: int = 0
    companions: tuple[Companion, ...] = ()  # its sidecars, which go where it goes

    def cells(self, how: How) -> list[str]:
        r = self.row
        return [
            str(r.group_id),
            r.kind.value,
            path_text(r.path),
            how.value if self.status in ("planned", "done", "failed") else "",
            self.status,
            path_text(self.keeper.path) if self.keeper else "",
            path_text(self.destination) if self.destination else "",
            "" if r.size is None else str(r.size),
            r.hash or "",
            self.reason,
        ]


@dataclass(frozen=True, slots=True)
class DedupeResult:
    items: list[Item]
    report_path: Path
    reclaimed: int
    dry_run: bool
    interrupted: int | None = None

    @property
    def failed(self) -> int:
        return sum(i.status == "failed" for i in self.items)

    def count(self, status: str) -> int:
        return sum(i.status == status for i in self.items)


# --- the reviewed report ------------------------------------------------------------


def read_reviewed(path: Path) -> list[ReportRow]:
    """The reviewed report's group rows, or DedupeUsageError with one line."""
    if not os.path.isfile(path):
        raise DedupeUsageError(f"{path} is not a file")
    header = read_header(path)
    if header is None:
        raise DedupeUsageError(
            f"{path} is not a photoorganiser report (no header line); make one with"
            " `photoorganiser find-duplicates`"
        )
    if header.kind != "duplicates":
        raise DedupeUsageError(f"{path} is a {header.kind} report, not a find-duplicates report")
    if header.format > FORMAT:
        raise DedupeUsageError(f"{path} was written by a newer photoorganiser; upgrade to use it")
    try:
        columns = _columns(path)
        rows = read_report(path)
    except (OSError, UnicodeDecodeError, TypeError, ValueError, KeyError) as exc:
        raise DedupeUsageError(f"cannot read the report {path}: {exc}") from None
    if "hash" not in columns:
        raise DedupeUsageError(
            f"{path} has no hash column (made by an older photoorganiser); run"
            " find-duplicates again and review the new report"
        )
    pictures = [r for r in rows if r.kind in POOR_KINDS]
    rows = [r for r in rows if r.group_id > 0 and r.kind in (Kind.EXACT, Kind.SIMILAR)]
    groups: dict[int, list[ReportRow]] = {}
    for r in rows:
        groups.setdefault(r.group_id, []).append(r)
    for gid, members in sorted(groups.items()):
        if not any(m.keep for m in members):
            raise DedupeUsageError(
                f"group {gid} has no file left with keep=yes; mark the file to keep, or"
                " delete the group's rows to leave it alone"
            )
    return rows + pictures


def _columns(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        head = f.read(1)
    if head == "{":
        with open(path, encoding="utf-8") as f:
            return list(json.load(f).get("columns", []))
    return report_columns(path)


# --- the plan: policies, then every file read again ---------------------------------


def _under(path: str, folders: Sequence[Path]) -> bool:
    return any(Path(path).is_relative_to(f) for f in folders)


def plan(rows: list[ReportRow], options: DedupeOptions) -> list[Item]:
    """One Item per row: keepers `kept`, the rest `planned` or `left-alone` (why)."""
    reference = tuple(Path(os.path.abspath(p)) for p in options.reference)
    quarantine = Path(os.path.abspath(options.quarantine)) if options.quarantine else None
    groups: dict[int, list[ReportRow]] = {}
    for r in rows:
        if r.kind not in POOR_KINDS:
            groups.setdefault(r.group_id, []).append(r)
    items: list[Item] = []
    for members in groups.values():
        keepers = [m for m in members if m.keep]
        staying = [Path(k.path).parent for k in keepers]
        group_items: list[Item] = [Item(k, None, "kept", "keep=yes") for k in keepers]
        candidates: list[Item] = []
        seen_paths: set[str] = {k.path for k in keepers}
        for m in members:
            if m.keep:
                continue
            keeper = next((k for k in keepers if Path(k.path).parent == Path(m.path).parent), None)
            keeper = keeper or keepers[0]
            why = _refusal(m, keeper, options, reference, quarantine, seen_paths)
            seen_paths.add(m.path)
            if why:
                group_items.append(Item(m, keeper, "left-alone", why))
                if why.startswith("under --reference"):
                    staying.append(Path(m.path).parent)
            else:
                candidates.append(Item(m, keeper, "planned"))
        # --keep-copies N: leave copies, in folders that hold none yet first
        need = options.keep_copies - len(staying)
        if need > 0 and candidates:
            chosen: list[Item] = []
            folders = set(staying)
            for item in candidates:
                folder = Path(item.row.path).parent
                if len(chosen) < need and folder not in folders:
                    chosen.append(item)
                    folders.add(folder)
            for item in candidates:
                if len(chosen) < need and item not in chosen:
                    chosen.append(item)
            why = f"kept: --keep-copies {options.keep_copies}"
            candidates = [
                replace(i, status="left-alone", reason=why) if i in chosen else i
                for i in candidates
            ]
        items += group_items + candidates
    return items + _plan_pictures(rows, items, options, reference, quarantine)


def _plan_pictures(
    rows: list[ReportRow],
    grouped: list[Item],
    options: DedupeOptions,
    reference: Sequence[Path],
    quarantine: Path | None,
) -> list[Item]:
    """The blank, dark and blurred rows: each a file on its own, with no keeper. A file a
    group already acts on is not acted on twice; a group's keeper is never acted on (its
    copies went on the promise that it stays)."""
    acted = {i.row.path: i.row.group_id for i in grouped if i.status == "planned"}
    kept = {i.row.path: i.row.group_id for i in grouped if i.status == "kept"}
    seen: set[str] = set()
    items: list[Item] = []
    for r in rows:
        if r.kind not in POOR_KINDS:
            continue
        if r.keep is not False:  # yes, or emptied: only a row left keep=no is acted on
            items.append(Item(r, None, "kept", "keep=yes" if r.keep else "keep is not no"))
            continue
        if r.path in acted:
            why = f"listed again in the report (group {acted[r.path]} acts on it)"
        elif r.path in kept:  # two decisions: the one that keeps the file wins
            why = (
                f"the keeper of group {kept[r.path]} (keep=yes there): a group keeps a copy;"
                " delete that group's rows to let this row act on it"
            )
        else:
            why = _refusal(r, None, options, reference, quarantine, seen)
        seen.add(r.path)
        items.append(Item(r, None, "left-alone", why) if why else Item(r, None, "planned"))
    return items


def _refusal(
    m: ReportRow,
    keeper: ReportRow | None,
    options: DedupeOptions,
    reference: Sequence[Path],
    quarantine: Path | None,
    seen: set[str],
) -> str:
    """Why `m` is left alone, or "". `keeper` None: a picture judged on its own (blank,
    dark, blurred), acted on alone."""
    if m.path in seen:
        return "listed again in the report"
    named = [("it", m.path)] + ([("its keeper", keeper.path)] if keeper is not None else [])
    for what, name in named:
        path = Path(name)
        if not path.is_absolute() or ".." in path.parts:
            return f"{what}: {name} is not an absolute path; not touched"
        if os.path.realpath(path.parent) != os.path.normpath(path.parent):
            return f"{what}: {name} is reached through a symbolic link; not followed"
    if not m.hash:
        return "no hash in the report for it: cannot check it is what was reviewed"
    if reference and _under(m.path, reference):
        return "under --reference: never touched"
    if quarantine is not None and _under(m.path, [quarantine]):
        return "already in the quarantine folder"
    library = library_of(Path(m.path).parent)
    if library is not None:
        return (
            f"in the library {library}: its files are changed only by its own commands"
            " (its catalog would not know); not touched"
        )
    if m.kind is Kind.SIMILAR and options.how in (How.HARDLINK, How.REFLINK, How.DELETE):
        return (
            f"a near duplicate (looks alike, not the same bytes): only --quarantine or --trash"
            f" act on it, not --{options.how.value}"
        )
    if keeper is None:
        if options.how not in (How.QUARANTINE, How.TRASH):
            return (
                f"a {m.kind.value} picture is its only copy: only --quarantine or --trash act"
                f" on it, not --{options.how.value}"
            )
        if options.same_folder:
            return "a picture judged on its own, not a duplicate beside a keeper (--same-folder)"
        return ""
    if options.same_folder and Path(m.path).parent != Path(keeper.path).parent:
        return "not in its keeper's folder (--same-folder)"
    if m.kind is Kind.EXACT and keeper.hash and keeper.hash != m.hash:
        return "its keeper has another hash in the report"
    return ""


@functools.cache
def library_of(folder: Path) -> Path | None:
    """The library (a folder with a catalog) `folder` is or lies in, if any."""
    for candidate in (folder, *folder.parents):
        if catalog_path(candidate).is_file():
            return candidate
    return None


def _look(path: str) -> tuple[str, os.stat_result | None, str | None]:
    """The file's stat and content hash now (stat before and after the read must agree)."""
    try:
        before = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(before.st_mode):
            return path, None, None
        digest = hash_file(path)
        after = os.stat(path, follow_symlinks=False)
    except OSError:
        return path, None, None
    if (before.st_ino, before.st_size, before.st_mtime_ns) != (
        after.st_ino,
        after.st_size,
        after.st_mtime_ns,
    ):
        return path, None, None
    return path, after, digest


class Checked:
    """What the files are now: read again, each once."""

    def __init__(self, paths: Sequence[str], options: DedupeOptions) -> None:
        paths = list(dict.fromkeys(paths))
        with Progress("verify", len(paths), options.progress) as bar:
            self.found = {
                p: (st, h) for p, st, h in tmap(_look, paths, workers=options.workers, progress=bar)
            }

    def stat(self, path: str) -> os.stat_result | None:
        return self.found.get(path, (None, None))[0]

    def look(self, path: str) -> tuple[os.stat_result | None, str | None]:
        """A file's stat and hash, read now if it was not read with the rest (a sidecar)."""
        if path not in self.found:
            _, st, digest = _look(path)
            self.found[path] = (st, digest)
        return self.found[path]

    def hash(self, path: str) -> str | None:
        return self.found.get(path, (None, None))[1]


def verify(items: list[Item], options: DedupeOptions, destination_of) -> tuple[list[Item], Checked]:
    todo = [i for i in items if i.status == "planned"]
    paths = [i.row.path for i in todo]
    paths += [i.keeper.path for i in todo if i.keeper is not None]
    checked = Checked(paths, options)
    out = []
    for item in items:
        if item.status == "planned":
            item = _verified(item, checked, options, destination_of)
            if item.status == "left-alone":  # it goes nowhere: no destination shown
                item = replace(item, destination="")
        out.append(item)
    return out, checked


def _verified(item: Item, checked: Checked, options: DedupeOptions, destination_of) -> Item:
    row, keeper = item.row, item.keeper
    dest = destination_of(row.path)
    item = replace(item, destination=str(dest) if dest else "")
    now = checked.hash(row.path)
    if now is None and not os.path.lexists(row.path):
        if dest is not None and holds(dest, row.size or 0, row.hash or ""):
            return replace(item, status="done", reason="done by an earlier run")
        return replace(item, status="left-alone", reason="no longer exists")
    if now is None:
        return replace(item, status="left-alone", reason="cannot be read, or not a regular file")
    if now != row.hash:
        return replace(
            item,
            status="left-alone",
            reason="changed since the report was made (its content differs)",
        )
    if options.how in _REMOVING and (beside := _sidecars_beside(row.path)):
        companions, why, note = _companions(row, keeper, beside, checked, destination_of, options)
        if why:
            return replace(item, status="left-alone", reason=why)
        item = replace(item, companions=companions, reason=note)
    along = sum(c.size for c in item.companions)
    if keeper is None:  # a picture on its own: quarantined or trashed whole
        st = checked.stat(row.path)
        return replace(item, reclaimed=(st.st_size if st is not None else 0) + along)
    keeper_hash = checked.hash(keeper.path)
    if keeper_hash is None:
        return replace(
            item,
            status="left-alone",
            reason=f"its keeper {keeper.path} no longer exists or cannot be read",
        )
    if row.kind is Kind.EXACT and keeper_hash != row.hash:
        return replace(
            item,
            status="left-alone",
            reason=f"its keeper {keeper.path} no longer holds the same content",
        )
    st, kst = checked.stat(row.path), checked.stat(keeper.path)
    if (st.st_ino, st.st_dev) == (kst.st_ino, kst.st_dev):
        return replace(
            item,
            status="left-alone",
            reason="already a hard link to its keeper: no space to reclaim",
        )
    if options.how in (How.HARDLINK, How.REFLINK) and st.st_dev != kst.st_dev:
        what = "a hard link to it" if options.how is How.HARDLINK else "share its blocks"
        return replace(
            item,
            status="left-alone",
            reason=f"not on its keeper's file system: cannot {what}",
        )
    reclaimed = st.st_size if (options.how is not How.HARDLINK or st.st_nlink == 1) else 0
    return replace(item, reclaimed=reclaimed + along)


# The actions that take a file from its folder (a link or reflink leaves the same content
# under the same name: its sidecars still describe it).
_REMOVING = frozenset({How.QUARANTINE, How.TRASH, How.DELETE})


def _sidecars_beside(path: str) -> list[str]:
    """The sidecars (XMP, AAE, THM, JSON: core.keeper's names, any case) beside the file
    `path`, as they are named in its folder now."""
    folder, name = os.path.split(path)
    try:
        return sidecars_among(name, _folder_names(folder))
    except OSError:
        return []


def _companions(
    row: ReportRow,
    keeper: ReportRow | None,
    beside: list[str],
    checked: Checked,
    destination_of,
    options: DedupeOptions,
) -> tuple[tuple[Companion, ...], str, str]:
    """The sidecars beside a duplicate a removing action takes along, why it is left
    alone instead (or ""), and what its report row says of them. An exact duplicate's
    sidecar goes only when its keeper has one of the same kind with the same bytes (the
    edits stay with the content); a near duplicate's, or a picture's judged on its own,
    goes with its picture (they describe that picture). A sidecar another file beside it
    may own (`IMG_1.xmp` of `IMG_1.JPG` and `IMG_1.CR2`) stays, with that file. With
    --sidecars-to-keeper, an exact duplicate's sidecar its keeper has none of the kind of
    moves beside the keeper, under the keeper's name (`_adopted`)."""
    folder = os.path.dirname(row.path)
    claims = _claims(folder)
    name_of = os.path.basename(row.path)
    shared = [n for n in beside if set(claims.get(n.lower(), ())) - {name_of}]
    beside = [n for n in beside if n not in shared]
    twins: dict[tuple[str, str], str] = {}
    kinds: set[str] = set()  # the kinds of sidecar the keeper has
    if keeper is not None and row.kind is Kind.EXACT:
        kfolder = os.path.dirname(keeper.path)
        for name in _sidecars_beside(keeper.path):
            kinds.add(_kind_of(name))
            look = checked.look(os.path.join(kfolder, name))
            if look[1] is not None:
                twins.setdefault((_kind_of(name), look[1]), os.path.join(kfolder, name))
    out = []
    for name in beside:
        path = os.path.join(folder, name)
        seen, digest = checked.look(path)
        if digest is None:
            return (), f"its sidecar {name} is beside it and cannot be read: left with it", ""
        twin = ""
        dest = destination_of(path)
        adopted = False
        if keeper is not None and row.kind is Kind.EXACT:
            twin = twins.get((_kind_of(name), digest), "")
            if not twin and options.sidecars_to_keeper:
                adopted_at, why = _adopted(row, keeper, name, kinds, options)
                if why:
                    return (), why, ""
                dest, adopted = Path(adopted_at), True
                kinds.add(_kind_of(name))  # (two of one kind: the first only)
            elif not twin:
                why = (
                    f"its sidecar {name} is beside it (edits, captions) and its keeper has"
                    " none with the same content: taking it away would part the edits from"
                    " the photo; move or merge the sidecar first"
                )
                return (), why, ""
        assert seen is not None
        sidecar = Companion(
            path,
            seen.st_size,
            digest,
            seen.st_mtime_ns,
            seen.st_mode,
            twin,
            str(dest or ""),
            adopted,
        )
        out.append(sidecar)
    note = _along(out)
    if shared:
        owners = sorted({o for n in shared for o in claims[n.lower()]} - {name_of})
        stays = f"its sidecar {', '.join(shared)} stays with {', '.join(owners)}"
        note = f"{note}; {stays}" if note else stays
    return tuple(out), "", note


def _adopted(
    row: ReportRow, keeper: ReportRow, name: str, kinds: set[str], options: DedupeOptions
) -> tuple[str, str]:
    """Where an exact duplicate's sidecar goes beside its keeper (--sidecars-to-keeper),
    in its own form (`NAME.xmp`, `NAME.EXT.xmp`) under the keeper's name, or why it
    cannot: the keeper has a sidecar of the kind already (merging two is the person's),
    or its folder is never touched (--reference, a library)."""
    kfolder, kname = os.path.split(keeper.path)
    kind = _kind_of(name)
    if kind in kinds:
        return "", (
            f"its sidecar {name} differs from its keeper's {kind} sidecar: merging the two"
            " is left to you; move or merge the sidecar first"
        )
    reference = [Path(os.path.abspath(p)) for p in options.reference]
    if reference and _under(keeper.path, reference):
        return "", f"its sidecar {name} cannot join its keeper: under --reference, never touched"
    library = library_of(Path(kfolder))
    if library is not None:
        return "", (
            f"its sidecar {name} cannot join its keeper in the library {library} (changed only"
            " by its own commands); move or merge the sidecar first"
        )
    inner, suffix = os.path.splitext(name)
    own = os.path.basename(row.path)
    stem = kname if inner.lower() == own.lower() else os.path.splitext(kname)[0]
    target = os.path.join(kfolder, stem + suffix)
    if os.path.lexists(target):
        return "", f"its sidecar {name} cannot join its keeper: {target} exists"
    return target, ""


@functools.lru_cache(maxsize=256)
def _claims(folder: str) -> dict[str, tuple[str, ...]]:
    """A folder's sidecar names (lower case), each with the files beside it they may
    belong to (`IMG_1.xmp`: `IMG_1.JPG` and `IMG_1.CR2` alike)."""
    try:
        names = _folder_names(folder)
    except OSError:
        return {}
    claims: dict[str, list[str]] = {}
    for name in names:
        if not name.lower().endswith(SIDECAR_SUFFIXES):
            for sidecar in sidecar_names(name):
                claims.setdefault(sidecar, []).append(name)
    return {k: tuple(v) for k, v in claims.items()}


def _kind_of(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _along(companions: Sequence[Companion]) -> str:
    going = [c for c in companions if not c.adopted]
    said = []
    if going:
        names = ", ".join(c.name for c in going)
        twins = ", ".join(os.path.basename(c.twin) for c in going if c.twin)
        same = f" (its keeper has the same: {twins})" if twins else ""
        said.append(f"with its sidecar {names}{same}")
    said += [
        f"its sidecar {c.name} moved beside its keeper as {os.path.basename(c.destination)}"
        for c in companions
        if c.adopted
    ]
    return "; ".join(said)


@functools.lru_cache(maxsize=256)
def _folder_names(folder: str) -> tuple[str, ...]:
    """A folder's names, read once a run for the folders dedupe acts in (cleared by
    run_dedupe: a later run reads them again)."""
    return tuple(os.listdir(folder))


# --- the journal: what this run is about to do, before it does it ---------------------


class DedupeJournal:
    """A JSON-lines file of intents and their settlement, under an exclusive lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "dedupe-journal.jsonl"
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._next = 1
        self.run_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"

    def open(self) -> list[dict]:
        """Lock, and return the intents a killed run left unsettled."""
        os.makedirs(self.folder, exist_ok=True)
        self._lock_fd = os.open(
            self.folder / "dedupe.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
        )
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise DedupeBusy(f"another dedupe run holds {self.folder}; try later") from None
        pending: dict[int, dict] = {}
        with (
            contextlib.suppress(FileNotFoundError),
            open(self.path, encoding="utf-8", errors="surrogateescape") as f,
        ):
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill
                if entry.get("state") == "intent":
                    pending[entry["id"]] = entry
                else:
                    pending.pop(entry.get("id"), None)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        return list(pending.values())

    def _put(self, entries: list[dict]) -> None:
        data = "".join(json.dumps(e) + "\n" for e in entries).encode("utf-8", "surrogateescape")
        os.write(self._fd, data)
        os.fsync(self._fd)

    def intend(self, items: Sequence[Item], how: How, checked: Checked) -> list[int]:
        """One intent per file, its sidecars included: what the log will say of it once
        done (a trashed file's name in the trash is found when it is)."""
        entries = [e for it in items for e in _entries(self.run_id, how, it, checked, planned=True)]
        ids = list(range(self._next, self._next + len(entries)))
        self._next += len(entries)
        self._put([{"id": i, "state": "intent", **e} for i, e in zip(ids, entries, strict=True)])
        return ids

    def settle(self, ids: Sequence[int]) -> None:
        self._put([{"id": i, "state": "settled"} for i in ids])

    def log(self, how: How, done: Sequence[Item], checked: Checked) -> None:
        """What this run did, kept after it (RUNLOG, beside the journal): what `undo`
        reads to put each file back (a deleted one: copied back from its keeper), its
        sidecars after it. Written before the batch's intents are settled."""
        entries = [e for i in done for e in _entries(self.run_id, how, i, checked)]
        if entries:
            append_log(self.folder / RUNLOG, entries)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # everything settled
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


RUNLOG = "dedupe-runs.jsonl"  # one line per file a dedupe acted on, kept for `undo`
ADOPTED = "sidecar-to-keeper"  # a log entry's `how` for a sidecar moved beside its keeper


def _entries(
    run_id: str, how: How, item: Item, checked: Checked, *, planned: bool = False
) -> list[dict]:
    """The log's lines for an item: the file when done (or, `planned`, to be), then the
    sidecars taken with it (a failed item's: those it could not put back)."""
    out = []
    if item.status == "done" or planned:
        seen = checked.stat(item.row.path)
        keeper = item.keeper.path if item.keeper else ""
        mtime_ns, mode = (seen.st_mtime_ns, seen.st_mode) if seen is not None else (None, None)
        out.append(
            _line(run_id, how.value, item.row.path, item.destination, keeper, item.row.hash,
                  item.row.size, mtime_ns, mode)
        )  # fmt: skip
    if item.status in ("done", "failed") or planned:
        out += [
            _line(run_id, ADOPTED if c.adopted else how.value, c.path, c.destination, c.twin,
                  c.hash, c.size, c.mtime_ns, c.mode, sidecar_of=path_text(item.row.path))
            for c in item.companions
        ]  # fmt: skip
    return out


def _line(
    run_id: str,
    how: str,
    path: str,
    destination: str,
    keeper: str,
    digest: str | None,
    size: int | None,
    mtime_ns: int | None,
    mode: int | None,
    **more: str,
) -> dict:
    """One line of the log (RUNLOG), as `undo` reads it."""
    return {
        "run": run_id,
        "how": how,
        "path": path_text(path),
        "destination": path_text(destination) if destination else "",
        "keeper": path_text(keeper) if keeper else "",
        "hash": digest,
        "size": size,
        "mtime_ns": mtime_ns,
        "mode": stat.S_IMODE(mode) if mode is not None else None,
        **more,
    }


def append_log(path: Path, entries: Sequence[dict]) -> None:
    """Append JSON lines to a log, durable before this returns."""
    data = "".join(json.dumps(e) + "\n" for e in entries).encode("utf-8", "surrogateescape")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(pending: Sequence[dict], folder: Path) -> int:
    """A killed run's intents: the temporary files it may have left are removed (a move
    is a rename or a verified copy; a link is made under a temporary name), and what it
    did without logging it is logged now, under its own run, so `undo` finds every file.
    What was not done is found again by this run's checks."""
    from ..core.textsafe import text_path

    removed = 0
    for entry in pending:
        for name in (entry.get("path"), entry.get("destination")):
            if name:
                removed += remove_temporaries(Path(text_path(name)))
        if entry.get("how") == "trash" and entry.get("hash"):
            removed += _tidy_trash(Path(text_path(entry["path"])), entry["size"], entry["hash"])
    carried = [e for e in map(_carried_out, pending) if e is not None]
    if carried:
        logged = _logged(folder / RUNLOG, {e["run"] for e in carried})
        carried = [e for e in carried if (e["run"], e["path"]) not in logged]
        if carried:
            append_log(folder / RUNLOG, carried)
    return removed


def _carried_out(intent: dict) -> dict | None:
    """The log entry of an intent a killed run carried out, or None (not done, or an
    intent of an older journal, which named no run)."""
    from ..core.textsafe import text_path

    if "run" not in intent or "hash" not in intent:
        return None
    entry = {k: v for k, v in intent.items() if k not in ("id", "state")}
    path = Path(text_path(entry["path"]))
    size, digest = entry["size"], entry["hash"]
    how = entry["how"]
    if how == "hardlink":
        keeper = Path(text_path(entry["keeper"]))
        with contextlib.suppress(OSError):
            a, b = os.stat(path, follow_symlinks=False), os.stat(keeper, follow_symlinks=False)
            if (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev):
                return entry
        return None
    if os.path.lexists(path):
        return None
    if how == "delete":
        return entry
    if how in ("quarantine", ADOPTED):
        where = entry.get("destination")
        return entry if where and holds(text_path(where), size, digest) else None
    if how == "trash":
        where = _in_trash(path, size, digest)
        return {**entry, "destination": path_text(where)} if where is not None else None
    return None


def _tidy_trash(path: Path, size: int, digest: str) -> int:
    """What a trashing killed half-way left in the trash (its name there was chosen only
    then): its copy's temporary files; an info file whose file never came; and, while
    the original is still in its place, a whole verified copy the move had not finished
    (the original stays: it is trashed again by this run, not twice). Removed."""
    files, info = trash_folder() / "files", trash_folder() / "info"
    removed = 0
    with contextlib.suppress(OSError):
        for name in os.listdir(files):
            if TEMP_MARK in name and _trash_name_of(name[1:].split(TEMP_MARK)[0], path.name):
                with contextlib.suppress(OSError):
                    os.unlink(files / name)
                    removed += 1
    still = holds(path, size, digest)
    for name, trashed in _trashed_from(path, unnamed=True):
        if not os.path.lexists(trashed) or (still and holds(trashed, size, digest)):
            for leftover in (trashed, info / f"{name}.trashinfo"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
                    removed += 1
    return removed


def _trash_name_of(name: str, original: str) -> bool:
    """Whether `name` is one trash_duplicate gives a file called `original`: the same,
    or `STEM.N.EXT`."""
    if name == original:
        return True
    stem, suffix = os.path.splitext(original)
    middle = name[len(stem) + 1 : len(name) - len(suffix)] if name.endswith(suffix) else ""
    return name.startswith(stem + ".") and middle.isdigit()


def _trashed_from(path: Path, *, unnamed: bool = False) -> list[tuple[str, Path]]:
    """(name, place in the trash's files) of every info file naming `path` as where its
    file was deleted from; with `unnamed`, also those of a name given to such a file
    that name no place at all (claimed, then the run was killed before writing them)."""
    from urllib.parse import quote

    info = trash_folder() / "info"
    wanted = f"Path={quote(os.fsencode(path))}"
    try:
        names = [n for n in os.listdir(info) if n.endswith(".trashinfo")]
    except OSError:
        return []
    found = []
    for name in names:
        try:
            with open(info / name, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        if wanted not in lines:
            nameless = not any(line.startswith("Path=") for line in lines)
            mine = _trash_name_of(name.removesuffix(".trashinfo"), path.name)
            if not (unnamed and nameless and mine):
                continue
        trashed = name.removesuffix(".trashinfo")
        found.append((trashed, trash_folder() / "files" / trashed))
    return found


def _in_trash(path: Path, size: int, digest: str) -> Path | None:
    """Where in the trash a file deleted from `path` with that content went: the info
    file naming it, beside the trashed file that holds it."""
    for _name, trashed in _trashed_from(path):
        if holds(trashed, size, digest):
            return trashed
    return None


def _logged(path: Path, runs: set[str]) -> set[tuple[str, str]]:
    """(run, path) of the log's entries of those runs."""
    found = set()
    with (
        contextlib.suppress(FileNotFoundError),
        open(path, encoding="utf-8", errors="surrogateescape") as f,
    ):
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("run") in runs:
                found.add((entry["run"], entry.get("path")))
    return found


def journal_folder(options: DedupeOptions) -> Path:
    if options.how is How.QUARANTINE and options.quarantine is not None:
        return Path(os.path.abspath(options.quarantine)) / ".photoorganiser"
    if options.journal is not None:
        return Path(os.path.abspath(options.journal))
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "photoorganiser" / "dedupe"


def trash_folder() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data) / "Trash"


# --- the run ------------------------------------------------------------------------


def run_dedupe(options: DedupeOptions) -> DedupeResult:
    started = datetime.now()
    _folder_names.cache_clear()
    _claims.cache_clear()
    if options.how is How.DELETE and not options.yes and not options.dry_run:
        raise DedupeUsageError("--delete removes files for good: add --yes to confirm")
    if options.how is How.QUARANTINE and options.quarantine is None:
        raise DedupeUsageError("--quarantine needs a folder")
    if options.keep_copies < 1:
        raise DedupeUsageError("--keep-copies must be at least 1")
    for kept in options.reference:
        if not os.path.isdir(kept):  # a typo would leave the files meant to be kept unguarded
            raise DedupeUsageError(f"--reference {kept} is not a folder (no such folder)")
    quarantine = Path(os.path.abspath(options.quarantine)) if options.quarantine else None
    if quarantine is not None and os.path.lexists(quarantine) and not os.path.isdir(quarantine):
        raise DedupeUsageError(f"quarantine {quarantine} is not a folder")
    rows = read_reviewed(options.source)
    report = place_report(options.report, options.report_dir, started, "dedupe")

    def destination_of(path: str) -> Path | None:
        if options.how is How.QUARANTINE and quarantine is not None:
            return quarantine / Path(path).relative_to("/")
        return None

    header = ReportHeader(
        "dedupe",
        inputs=(str(options.source),),
        dryrun=options.dry_run,
        mode=options.how.value,
        command=options.command,
        created=started.isoformat(timespec="seconds"),
    )
    items = plan(rows, options)
    items, checked = verify(items, options, destination_of)
    writer = ReportWriter(report, header, COLUMNS, fallback_dirs(None, options.dry_run))
    writer.open()
    interrupted = None
    try:
        if options.dry_run:
            writer.write_rows(i.cells(options.how) for i in items)
            done = items
        else:
            done, interrupted = _act(items, checked, options, writer)
    finally:
        writer.close()
    reclaimed = sum(i.reclaimed for i in done if i.status in ("done", "planned") and i.reclaimed)
    result = DedupeResult(done, writer.path, reclaimed, options.dry_run, interrupted)
    lines = [(s, result.count(s)) for s in ("kept", "planned", "done", "left-alone", "failed")]
    title = "Dedupe (dry run)" if options.dry_run else "Dedupe"
    with contextlib.suppress(OSError, ReportUnwritable):
        space = f"Space reclaimed: {human_bytes(reclaimed)} ({reclaimed} bytes)\n"
        write_summary(writer.path, [(k, n) for k, n in lines if n], title, space)
    return result


def _act(
    items: list[Item], checked: Checked, options: DedupeOptions, writer: ReportWriter
) -> tuple[list[Item], int | None]:
    journal = DedupeJournal(journal_folder(options))
    pending = journal.open()
    try:
        recover(pending, journal.folder)
        writer.write_rows(i.cells(options.how) for i in items if i.status != "planned")
        out = [i for i in items if i.status != "planned"]
        todo = [i for i in items if i.status == "planned"]
        deleted_at = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
        with signals.deferred(), Progress(options.how.value, len(todo), options.progress) as bar:
            try:
                for start in range(0, len(todo), BATCH):
                    signals.check()
                    batch = todo[start : start + BATCH]
                    ids = journal.intend(batch, options.how, checked)
                    dirty: set[Path] = set()
                    try:
                        results = [_act_one(i, checked, options, deleted_at, dirty) for i in batch]
                    finally:
                        flush_folders(dirty)  # durable before the batch is settled
                    journal.log(options.how, results, checked)
                    journal.settle(ids)
                    writer.write_rows(i.cells(options.how) for i in results)
                    out += results
                    bar.advance(len(batch))
            except KeyboardInterrupt as stop:
                rest = [
                    replace(i, status="not-done", reason="the run was interrupted before this file")
                    for i in todo[len(out) - (len(items) - len(todo)) :]
                ]
                writer.write_rows(i.cells(options.how) for i in rest)
                signals.clear()
                return out + rest, int(getattr(stop, "signum", 2))
        signals.clear()
        return out, None
    finally:
        journal.close()


def _act_one(
    item: Item, checked: Checked, options: DedupeOptions, deleted_at: str, dirty: set[Path]
) -> Item:
    """A file and its sidecars: the sidecars first (small), then the file; when anything
    fails, the sidecars already acted on are put back, and the file is left alone."""
    gone: list[Companion] = []
    try:
        for c in item.companions:
            try:
                gone.append(_act_sidecar(c, options, deleted_at, dirty))
            except TransferError as exc:
                raise TransferError(f"its sidecar {c.name}: {exc}") from None
        item = _act_file(item, checked, options, deleted_at, dirty)
    except TransferError as exc:
        left, why = _put_back(gone, options.how)
        return replace(item, status="failed", reason=f"{exc}{why}", reclaimed=0, companions=left)
    return replace(item, status="done", companions=tuple(gone))


def _act_sidecar(
    c: Companion, options: DedupeOptions, deleted_at: str, dirty: set[Path]
) -> Companion:
    path = Path(c.path)
    seen = os.stat(path, follow_symlinks=False) if os.path.lexists(path) else None
    if seen is None or seen.st_mtime_ns != c.mtime_ns or not holds(path, c.size, c.hash):
        raise TransferError("changed since it was checked; left alone")
    if c.adopted:  # beside its keeper, never over another file
        move_aside(path, Path(c.destination), c.hash, seen, dirty)
        return c
    if options.how in (How.QUARANTINE, How.TRASH):
        where = _set_aside(path, c.destination, c.hash, seen, options.how, deleted_at, dirty)
        return replace(c, destination=where)
    if not c.twin or not holds(Path(c.twin), c.size, c.hash):
        raise TransferError(
            f"its keeper's sidecar {c.twin or '(none)'} changed since it was checked"
        )
    delete_duplicate(path, seen, dirty)
    return c


def _set_aside(
    path: Path,
    destination: str,
    content_hash: str,
    seen: os.stat_result,
    how: How,
    deleted_at: str,
    dirty: set[Path],
) -> str:
    """Quarantine (to `destination`) or trash a checked file; where it went."""
    if how is How.TRASH:
        return str(trash_duplicate(path, trash_folder(), content_hash, seen, deleted_at, dirty))
    dest = Path(destination)
    if os.path.lexists(dest):
        if not holds(dest, seen.st_size, content_hash):
            raise TransferError(f"{dest} already exists; nothing was overwritten")
        delete_duplicate(path, seen, dirty)  # an earlier, killed run's verified copy
    else:
        move_aside(path, dest, content_hash, seen, dirty)
    return destination


def _put_back(gone: Sequence[Companion], how: How) -> tuple[tuple[Companion, ...], str]:
    """Sidecars a failed action had taken, back in their places; those that could not
    be (logged, for `undo`) and what the report says of it."""
    left = []
    for c in reversed(gone):
        try:
            if how is How.DELETE and not c.adopted:
                restore_copy(Path(c.path), Path(c.twin), c.hash, c.mtime_ns, c.mode)
            else:
                where = Path(c.destination)
                move_aside(where, Path(c.path), c.hash, os.stat(where, follow_symlinks=False))
                if how is How.TRASH and not c.adopted:
                    info = where.parent.parent / "info" / f"{where.name}.trashinfo"
                    with contextlib.suppress(OSError):
                        os.unlink(info)
        except (TransferError, OSError):
            left.append(c)
    if not gone:
        return (), ""
    if not left:
        return (), "; its sidecars were put back"
    names = ", ".join(f"{c.name} (in {c.destination or 'its keeper'})" for c in left)
    return tuple(left), f"; its sidecar {names} could not be put back: `undo` brings it back"


def _act_file(
    item: Item, checked: Checked, options: DedupeOptions, deleted_at: str, dirty: set[Path]
) -> Item:
    row, keeper = item.row, item.keeper
    path = Path(row.path)
    seen = checked.stat(row.path)
    assert seen is not None and row.hash is not None
    if options.how in (How.QUARANTINE, How.TRASH):
        where = _set_aside(path, item.destination, row.hash, seen, options.how, deleted_at, dirty)
        item = replace(item, destination=where)
    elif keeper is None:  # never: _refusal leaves such a picture alone
        raise TransferError(f"no keeper: --{options.how.value} cannot act on it")
    elif options.how is How.REFLINK:
        replace_with_clone(path, Path(keeper.path), row.hash, seen, dirty)
    elif options.how is How.HARDLINK:
        kst = checked.stat(keeper.path)
        assert kst is not None
        replace_with_link(path, Path(keeper.path), row.hash, seen, kst, dirty)
    else:
        kst = checked.stat(keeper.path)
        if kst is None or not _keeper_unchanged(keeper.path, kst):
            raise TransferError(f"its keeper {keeper.path} changed since it was checked")
        delete_duplicate(path, seen, dirty)
    return item


def _keeper_unchanged(path: str, seen: os.stat_result) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns) == (
        seen.st_ino,
        seen.st_dev,
        seen.st_size,
        seen.st_mtime_ns,
    )

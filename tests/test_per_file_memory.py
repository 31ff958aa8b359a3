"""What a million-file run holds per file (issue 14), made smaller without changing what
it does: the names an import claims (a leader's own planned name is only marked taken,
not kept as text; resolve names every file exactly as when every name claimed is kept,
whatever the hashes, clashing ones included, and however they are held), and a scanned
file's stat kept as one int."""

from __future__ import annotations

import random
import types
from array import array
from datetime import datetime
from pathlib import Path

import pytest

from photoorganiser.core.values import (
    Analysis,
    CaptureDate,
    DateSource,
    FileKind,
    MediaInfo,
    ScanEntry,
    TransferMode,
)
from photoorganiser.importing import collisions, paths
from photoorganiser.importing.plan import PlanOptions, plan
from photoorganiser.library.index import DiskLibrary


class _EveryNameKept:
    """The reference: every name claimed kept, as lower-cased text, in one set."""

    def __init__(self, leaders):
        self.leaders, self.keys = leaders, set()

    def own_free(self, key):
        return key not in self.keys

    def claim_own(self, index):
        self.keys.add(collisions._key(self.leaders[index]))

    def __contains__(self, key):
        return key in self.keys

    def add(self, key):
        self.keys.add(key)

    def update(self, keys):
        self.keys.update(keys)


NAMES = ["IMG_1.JPG", "img_1.jpg", "IMG_1_1.JPG", "IMG_1_2.jpg", "IMG_2.JPG", "DSC_2.CR2"]
DATES = [datetime(2020, 1, 2, 3, 4, 5), datetime(2020, 1, 2, 3, 4, 6)]


def _messy(seed: int, count: int) -> list[Analysis]:
    rng = random.Random(seed)
    out, seen = [], set()
    for i in range(count):
        folder = f"/in/{rng.randrange(count // 3 + 1)}"
        name = rng.choice(NAMES)
        if rng.random() < 0.3:  # a RAW+JPEG pair or a sidecar beside it
            stem = name.rsplit(".", 1)[0]
            name = rng.choice([f"{stem}.CR2", f"{stem}.xmp", f"{stem}.JPG.xmp"])
        path = Path(folder) / name
        if path in seen:
            continue
        seen.add(path)
        ext = path.suffix.lower()
        kind = {".xmp": FileKind.SIDECAR, ".cr2": FileKind.RAW}.get(ext, FileKind.IMAGE)
        content = f"{rng.randrange(count)}"  # a few contents twice: duplicates
        entry = ScanEntry(path, kind, size=len(content), mtime_ns=i, inode=i)
        when = rng.choice(DATES)
        captured = (
            None
            if kind is FileKind.SIDECAR
            else CaptureDate(when, DateSource.EXIF_DATETIME_ORIGINAL)
        )
        out.append(Analysis(entry, content.rjust(32, "0"), MediaInfo(captured), captured))
    return out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("hashing", ["python", "clashing"])
@pytest.mark.parametrize("bucket", [1, 32, 10**9])
def test_resolve_names_every_file_as_when_every_name_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, hashing: str, bucket: int
) -> None:
    library = tmp_path / "lib"
    template = paths.parse_template("{year}/{stem}{ext}")  # names meet across folders
    decisions = plan(_messy(seed, 60), PlanOptions(library, template, TransferMode.COPY))
    with monkeypatch.context() as m:
        m.setattr(collisions, "_Claims", _EveryNameKept)
        expected = collisions.resolve(list(decisions), DiskLibrary(library))  # (in place)
    monkeypatch.setattr(collisions, "BUCKET", bucket)  # an array a leader, or one
    if hashing == "clashing":  # three hashes for every name: each compared in full
        monkeypatch.setattr(collisions, "_hash", lambda text: len(text) % 3)
    got = collisions.resolve(list(decisions), DiskLibrary(library))
    assert got == expected
    numbered = [d for d in got if d.reason.numbered]
    assert numbered  # the inputs do clash
    names = [str(d.destination).lower() for d in got if d.destination is not None]
    assert len(names) == len(set(names))


def test_a_leaders_own_name_is_kept_only_as_a_mark() -> None:
    library = Path("/lib")
    template = paths.parse_template("{year}/{stem}{ext}")
    results = [
        Analysis(
            ScanEntry(Path(f"/in/IMG_{i}.JPG"), FileKind.IMAGE, size=1, mtime_ns=1, inode=i),
            f"{i:032x}",
            MediaInfo(CaptureDate(DATES[0], DateSource.EXIF_DATETIME_ORIGINAL)),
            CaptureDate(DATES[0], DateSource.EXIF_DATETIME_ORIGINAL),
        )
        for i in range(100)
    ]
    decisions = plan(results, PlanOptions(library, template, TransferMode.COPY))
    claims = collisions._Claims(decisions)
    for i, d in enumerate(decisions):
        key = collisions._key(d)
        assert key not in claims and claims.own_free(key)
        claims.claim_own(i)
        assert key in claims and key.upper() not in claims  # (keys are lower-cased)
    assert not claims.others.by_folder  # no name kept as text
    assert "/lib/2020/img_100.jpg" not in claims
    claims.add("/lib/2020/img_100.jpg")
    assert "/lib/2020/img_100.jpg" in claims


# --- a scanned file's stat, kept as one int -------------------------------------------


@pytest.mark.parametrize(
    ("size", "mtime_ns", "inode"),
    [
        (0, 0, 0),
        (13_727, 1_700_000_000_123_456_789, 2_345_678),
        (2**63 - 1, -(2**63), 2**64 - 1),  # the largest size, a time long before 1970
        (5, -1, 2**70),  # an inode wider than 64 bits (a network file system's)
    ],
)
def test_a_scan_entry_gives_back_the_stat_it_was_made_with(
    size: int, mtime_ns: int, inode: int
) -> None:
    import dataclasses
    import pickle

    e = ScanEntry(Path("/a/b.jpg"), FileKind.IMAGE, size=size, mtime_ns=mtime_ns, inode=inode)
    assert (e.size, e.mtime_ns, e.inode, e.device) == (size, mtime_ns, inode, 0)
    assert pickle.loads(pickle.dumps(e)) == e
    assert e == ScanEntry(
        Path("/a/b.jpg"), FileKind.IMAGE, size=size, mtime_ns=mtime_ns, inode=inode
    )
    other = dataclasses.replace(e, mtime_ns=7)  # one part changed, the others kept
    assert (other.size, other.mtime_ns, other.inode) == (size, 7, inode) and other != e
    assert f"size={size}, mtime_ns={mtime_ns}, inode={inode}" in repr(e)


def test_a_scan_entry_refuses_what_no_stat_gives() -> None:
    for bad in ({"size": -1}, {"size": 2**64}, {"mtime_ns": 2**63}, {"inode": -1}):
        with pytest.raises(ValueError, match="not a file's stat"):
            ScanEntry(Path("/a"), FileKind.IMAGE, **bad)


@pytest.mark.parametrize("seed", range(6))
def test_contents_seen_more_than_once_come_as_a_dict_of_every_content_gives_them(
    seed: int,
) -> None:
    rng = random.Random(seed)
    contents = [f"{rng.randrange(15):032x}" for _ in range(60)]
    decisions = [
        types.SimpleNamespace(analysis=types.SimpleNamespace(hash=h), n=i)
        for i, h in enumerate(contents)
    ]
    media = array("q", sorted(rng.sample(range(60), 40)))  # the places of the media among them
    by_content: dict[str, list] = {}  # the reference: every content, in the order first seen
    for i in media:
        by_content.setdefault(decisions[i].analysis.hash, []).append(i)
    every = list(by_content.values())
    groups = [list(g) for g in collisions._by_content(decisions, media, every=True)]
    assert groups == every
    groups = [list(g) for g in collisions._by_content(decisions, media, every=False)]
    assert groups == [g for g in every if len(g) > 1]


# --- a decision: its destination as text, what most decisions lack in one tuple --------


def test_a_decision_reads_and_replaces_as_one_of_all_its_fields() -> None:
    import dataclasses
    import pickle

    from photoorganiser.core.values import Action, Decision, Reason, Why

    why = Reason(Why.NEW)
    plain = Decision(Path("/in/a.jpg"), Action.MOVE, why, destination=Path("/lib/a.jpg"))
    assert plain.rare is None and plain.destination_text == "/lib/a.jpg"
    assert plain.destination == Path("/lib/a.jpg") and isinstance(plain.destination, Path)
    assert (plain.duplicate_of, plain.error, plain.follows, plain.recovery) == (None,) * 4
    follower = dataclasses.replace(plain, follows=Path("/in/a.heic"), error="e")
    assert (follower.follows, follower.error, follower.duplicate_of) == (
        Path("/in/a.heic"),
        "e",
        None,
    )
    assert follower.destination == plain.destination  # the others kept
    skipped = dataclasses.replace(
        follower, action=Action.SKIP_DUPLICATE, destination=None, duplicate_of=Path("/x")
    )
    assert skipped.destination is None and skipped.destination_text is None
    assert (skipped.follows, skipped.error, skipped.duplicate_of) == (
        Path("/in/a.heic"),
        "e",
        Path("/x"),
    )
    assert dataclasses.replace(skipped, action=Action.IGNORE).rare is skipped.rare  # shared
    group = (Path("/kept"), None, None, None)  # one tuple for a group's copies
    assert dataclasses.replace(plain, rare=group).rare is group
    assert dataclasses.replace(plain, rare=group).duplicate_of == Path("/kept")
    assert dataclasses.replace(plain, rare=(None,) * 4).rare is None
    given_text = Decision(Path("/in/a.jpg"), Action.MOVE, why, destination="/lib//x/./a.jpg")
    assert given_text.destination_text == "/lib/x/a.jpg"
    assert given_text.destination.parent == Path("/lib/x")
    back = dataclasses.replace(skipped, follows=None, error=None, duplicate_of=None)
    assert back.rare is None  # none left: no tuple
    assert pickle.loads(pickle.dumps(follower)) == follower
    assert follower != plain and dataclasses.replace(follower, follows=None, error=None) == plain


# --- a path made from its text, hashed and compared without keeping its parts ----------


def _parsed(path: Path) -> bool:
    try:
        object.__getattribute__(path, "_parts")
    except AttributeError:
        return False
    return True


@pytest.mark.parametrize("text", ["/a/b.jpg", "/", "//net/x", "rel/x.JPG", "/é/ü x.jpg"])
def test_a_path_from_text_is_hashed_and_compared_as_pathlib_does_keeping_no_parts(
    text: str,
) -> None:
    from pathlib import PurePosixPath, PureWindowsPath

    from photoorganiser.core.lazypath import path_from_text

    lazy, plain = path_from_text(text), Path(text)
    assert hash(lazy) == hash(plain) and lazy == plain and plain == lazy
    assert {plain: 1}[lazy] == 1 and {lazy: 2}[plain] == 2
    assert lazy == PurePosixPath(text) and lazy != Path(text + "x") and lazy != text
    assert not _parsed(lazy)  # (pathlib would hold a list and a string a part now)
    assert lazy != PureWindowsPath(text)  # (asked of Windows' path: parsed)
    assert lazy.parent == plain.parent and hash(lazy.parent) == hash(plain.parent)


def test_planning_a_pair_and_a_sidecar_keeps_no_media_files_path_parts() -> None:
    # one RAW+JPEG pair made every file's path a dict key (leader_of.get(path)); one
    # sidecar, every media file's folder, name and stem asked for
    from photoorganiser.core.lazypath import path_from_text

    when = CaptureDate(DATES[0], DateSource.EXIF_DATETIME_ORIGINAL)
    results = []
    for i, name in enumerate(["IMG_1.JPG", "IMG_1.CR2", *(f"IMG_{k}.JPG" for k in range(2, 50))]):
        kind = FileKind.RAW if name.endswith("CR2") else FileKind.IMAGE
        entry = ScanEntry(path_from_text(f"/in/{name}"), kind, size=1, mtime_ns=1, inode=i)
        results.append(Analysis(entry, f"{i:032x}", MediaInfo(when), when))
    options = PlanOptions(
        Path("/lib"), paths.parse_template(paths.DEFAULT_TEMPLATE), TransferMode.COPY
    )
    xmp = ScanEntry(path_from_text("/in/IMG_7.xmp"), FileKind.SIDECAR, size=1, inode=99)
    sidecar = Analysis(xmp, "f" * 32, MediaInfo(None), None)
    decisions = plan([*results, sidecar], options)
    parsed = [r.entry.path for r in results if _parsed(r.entry.path)]
    assert parsed in ([], [Path("/in/IMG_7.JPG")])  # (at most the sidecar's own media)
    follows = {str(d.source): d.follows for d in decisions if d.follows is not None}
    assert follows == {
        "/in/IMG_1.CR2": Path("/in/IMG_1.JPG"),
        "/in/IMG_7.xmp": Path("/in/IMG_7.JPG"),
    }


def test_a_phone_videos_zone_from_its_photos_keeps_no_photos_path_parts() -> None:
    # photos with their offset (every modern phone's) were each asked for their name and
    # folder, which pathlib then kept in the path
    from datetime import timedelta

    from photoorganiser.core.lazypath import path_from_text
    from photoorganiser.media.zones import photo_zones

    plus2 = timedelta(hours=2)
    photos = []
    for i in range(30):
        when = CaptureDate(
            datetime(2020, 1, 2, 10, i), DateSource.EXIF_DATETIME_ORIGINAL, utc_offset=plus2
        )
        entry = ScanEntry(path_from_text(f"/in/IMG_{i}.JPG"), FileKind.IMAGE, size=1, inode=i)
        photos.append(Analysis(entry, f"{i:032x}", MediaInfo(when, make="A", model="B"), when))
    utc = CaptureDate(datetime(2020, 1, 2, 8, 10), DateSource.QUICKTIME_CREATE_DATE, timedelta(0))
    entry = ScanEntry(path_from_text("/in/MOV_1.MOV"), FileKind.VIDEO, size=1, inode=99)
    video = Analysis(entry, "f" * 32, MediaInfo(utc, make="A", model="B"), utc)
    out = photo_zones([*photos, video])
    zoned = out[-1].captured
    assert zoned.utc_offset == plus2 and zoned.wall == datetime(2020, 1, 2, 10, 10)
    assert "IMG_10.JPG" in out[-1].media.warnings[-1]  # the nearest photo, named
    parsed = [str(a.entry.path) for a in photos if _parsed(a.entry.path)]
    assert parsed in ([], ["/in/IMG_10.JPG"])  # (at most the one named)
    assert photo_zones(photos) == photos  # no video to zone: nothing looked for


# --- an analysis whose media is only its date and its camera's facts --------------------


def test_an_analysis_keeps_a_plain_media_as_its_facts_and_gives_it_back() -> None:
    import dataclasses
    import pickle
    from datetime import timedelta

    entry = ScanEntry(Path("/in/a.jpg"), FileKind.IMAGE, size=1, mtime_ns=1, inode=1)
    own = CaptureDate(DATES[0], DateSource.EXIF_DATETIME_ORIGINAL)
    later = CaptureDate(DATES[1], DateSource.FILENAME)
    plain = MediaInfo(own, make="Canon", model="EOS", width=4, height=3)
    a = Analysis(entry, "0" * 32, plain, own)
    assert a.info is plain.facts and a.info_date is own  # no MediaInfo kept
    assert a.media == plain and a.facts is plain.facts and a.media_date is own
    assert a.content_id is None and a.media.make == "Canon"
    b = dataclasses.replace(a, captured=later)  # a fallback date: the media's stays its own
    assert b.captured is later and b.media.captured is own and b.media == plain
    assert pickle.loads(pickle.dumps(b)) == b and b != a
    assert a == Analysis(entry, "0" * 32, MediaInfo(own, facts=plain.facts), own)
    gps = MediaInfo(own, make="Apple", latitude=1.5, longitude=2.5, gps_offset=timedelta(0))
    g = Analysis(entry, "1" * 32, gps, own)
    assert g.info is gps and g.media is gps and g.facts is gps.facts  # kept whole
    live = Analysis(entry, "2" * 32, MediaInfo(own, content_id="ABC"), own)
    assert live.content_id == "ABC" and live.media.content_id == "ABC"
    noted = MediaInfo(own, warnings=("x",))
    changed = dataclasses.replace(a, captured=later, media=noted)  # as zones.py does
    assert changed.media == noted and changed.captured is later


def test_a_paths_text_splits_into_the_parts_pathlib_parses() -> None:
    from pathlib import PurePosixPath

    from photoorganiser.core.lazypath import path_from_text, split_text

    rng = random.Random(7)
    pieces = ["", "a", ".", "..", "b c", "x.y", "\udc80", "/", "//", "é", "IMG_1.JPG"]
    texts = ["/", "//", "/a", "//a/b", "a", "a/b", ".", "..", "../a", ".hidden", "/..."]
    texts += ["/".join(rng.choices(pieces, k=rng.randrange(1, 6))) for _ in range(3000)]
    for text in texts:
        canon = str(PurePosixPath(text))  # (as pathlib writes a path: what it is given)
        p = PurePosixPath(canon)
        assert split_text(canon) == (p._root, p._parts), canon
        lazy = path_from_text(canon)
        assert lazy.parts == p.parts and lazy.parent == p.parent and hash(lazy) == hash(p)


def test_resolve_replaces_a_copy_in_the_list_and_lets_the_old_decision_go(tmp_path: Path) -> None:
    """A list given to resolve is resolved in place: the decision a copy had is not kept
    alive beside the one that replaces it (a run of 90% copies held both for every copy),
    and the result is the same as resolving a copy of the list."""
    import gc

    from photoorganiser.core.values import Decision

    def alive() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is Decision)

    library = tmp_path / "lib"
    template = paths.parse_template("{year}/{stem}{ext}")
    decisions = plan(_messy(3, 60), PlanOptions(library, template, TransferMode.COPY))
    expected = collisions.resolve(tuple(decisions), DiskLibrary(library))  # (copied first)
    before = alive()
    old = {d.source: id(d) for d in decisions}
    got = collisions.resolve(decisions, DiskLibrary(library))
    assert got is decisions and got == expected
    replaced = [d for d in got if id(d) != old[d.source]]
    assert any(d.action.value == "skip-duplicate" for d in replaced)  # copies were replaced
    assert alive() == before  # ... and the decisions they had let go

"""find-duplicates' exact groups in compact form: the keeper chosen on plain tuples, the
group's rows, the report written from them, small files described from one read. Each
is checked against the value-by-value way it replaces, on real files."""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from media import make_jpeg, make_png

from photoorganiser.core import hashing, keeper
from photoorganiser.core.reportfile import ReportHeader
from photoorganiser.core.values import CaptureDate, DateSource
from photoorganiser.duplicates import describe
from photoorganiser.duplicates import report as dupreport
from photoorganiser.duplicates.find import find_duplicates
from photoorganiser.duplicates.keep import choose_exact_copy, choose_exact_index
from photoorganiser.duplicates.values import (
    DuplicateGroup,
    ExactGroup,
    FindOptions,
    FindResult,
    KeptCopy,
    Kind,
    ReadFailure,
    SameContent,
    SameFile,
)

NAMES = (
    "IMG_1.JPG",
    "IMG_1 (1).JPG",
    "IMG_1 - Copy.JPG",
    "Copy of IMG_1.JPG",
    "a.jpg",
    "IMG_12.JPG",
)
FOLDERS = ("/p", "/p/sub", "/q", "/pq", "/", "/q/deep/er")


def test_choose_exact_index_is_core_keepers_choice() -> None:
    """The same copy and the same reason as keep.choose_exact_copy (core/keeper.py) on
    keeper.Copy values, over random copies: copy markers, --prefer folders (nested, a
    prefix of another name, the root), library copies, sidecars, mtimes either side of
    FAT's 2 s, and paths that tie on length."""
    rng = random.Random(14)
    rules = set()
    for _ in range(3000):
        n = rng.randint(1, 5)
        paths = rng.sample([f"{d.rstrip('/')}/{x}" for d in FOLDERS for x in NAMES], n)
        copies = [
            (
                p,
                rng.choice((0, 1_000_000_000, 2_500_000_000, 10**18)),
                rng.random() < 0.2,
                rng.choice((0, 0, 1, 2)),
            )
            for p in paths
        ]
        prefer = [Path(x) for x in rng.sample(FOLDERS, rng.randint(0, 2))]
        at, why = choose_exact_index(copies, prefer)
        values = [keeper.Copy(Path(p), m, lib, s) for p, m, lib, s in copies]
        kept, expected = choose_exact_copy(values, prefer)
        assert (copies[at][0], why) == (str(kept.path), expected)
        rules.add(why.rule)
    assert rules == set(keeper.KeepRule)  # every rule was the deciding one somewhere


def _group(copies, kept=None, hash_="ab" * 16) -> ExactGroup:
    when = CaptureDate(datetime(2020, 5, 1, 10, 0), DateSource.EXIF_DATETIME_ORIGINAL)
    why = kept or KeptCopy(keeper.KeepRule.SHORTEST_PATH)
    return ExactGroup(3, 1234, hash_, 80, 60, when, why, tuple(copies))


def test_exact_group_members_say_what_each_path_is() -> None:
    """The kept copy first; a hard link to it: the same file, no space; another copy: the
    same content; a hard link to that copy: says which; a copy outside the library whose
    content the library's copy has: says so. Space: each other inode once."""
    group = _group(
        [
            ("/lib/a.jpg", 1, 10, "/lib/a.jpg", True),
            ("/in/a-link.jpg", 1, 10, "/lib/a.jpg", False),
            ("/in/b.jpg", 1, 11, "/in/b.jpg", False),
            ("/in/b-link.jpg", 1, 11, "/in/b.jpg", False),
            ("/lib/c.jpg", 1, 12, "/lib/c.jpg", True),
        ],
        KeptCopy(keeper.KeepRule.IN_LIBRARY),
    )
    members = group.members
    assert [m.keep for m in members] == [True, False, False, False, False]
    assert [m.hard_link for m in members] == [False, True, False, True, False]
    kept = Path("/lib/a.jpg")
    assert [m.reason for m in members] == [
        KeptCopy(keeper.KeepRule.IN_LIBRARY),
        SameFile(kept),
        SameContent(kept, in_library=True),
        SameContent(kept, link_of=Path("/in/b.jpg"), in_library=True),
        SameContent(kept),
    ]
    assert all((m.size, m.hash, m.width, m.distance) == (1234, "ab" * 16, 80, 0) for m in members)
    assert group.keep == members[0] and group.kind is Kind.EXACT
    assert group.reclaimable == DuplicateGroup(3, Kind.EXACT, members).reclaimable == 2 * 1234


def test_report_from_compact_rows_is_the_row_by_row_report(tmp_path: Path) -> None:
    """write_result writes the very bytes write_report(rows_of(...)) writes: compact groups
    (library copies, hard links, a hard link kept, odd names, no date), a group of Member
    values, and the unreadable files after them; JSON goes the row-by-row way."""
    odd = '=cmd \udcff\\name, "quoted"\n.jpg'
    compact = [
        _group(
            [
                ("/lib/a.jpg", 1, 10, "/lib/a.jpg", True),
                ("/in/a-link.jpg", 1, 10, "/lib/a.jpg", False),
                (f"/in/{odd}", 1, 11, f"/in/{odd}", False),
                ("/in/b-link.jpg", 1, 11, f"/in/{odd}", False),
            ],
            KeptCopy(keeper.KeepRule.IN_LIBRARY),
        ),
        ExactGroup(
            4,
            7,
            None,
            None,
            None,
            None,
            KeptCopy(keeper.KeepRule.OLDEST, mtime_ns=10**18),
            (
                ("/in/x-link.jpg", 1, 20, "/in/x.jpg", False),
                ("/in/x.jpg", 1, 20, "/in/x.jpg", False),
            ),
        ),  # fmt: skip
    ]
    plain = DuplicateGroup(5, Kind.EXACT, compact[0].members)
    result = FindResult((*compact, plain), (ReadFailure(Path("/in/gone.jpg"), "cannot read"),), 9)
    header = ReportHeader("duplicates", created="2026-11-29T23:00:00", command="find-duplicates")
    for fmt in dupreport.ReportFormat:
        rows = dupreport.rows_of(result)
        expected = dupreport.write_report(rows, tmp_path / f"rows.{fmt.value}", fmt, header)
        got = dupreport.write_result(result, tmp_path / f"compact.{fmt.value}", fmt, header)
        assert got.read_bytes() == expected.read_bytes()
        assert dupreport.read_report(got) == dupreport.read_report(expected)
    as_values = tuple(DuplicateGroup(g.group_id, g.kind, g.members) for g in result.groups)
    summary = dupreport.summarise(result)
    assert summary == dupreport.summarise(replace(result, groups=as_values))
    assert (summary.files, summary.reclaimable) == (4 + 2 + 4, 1234 + 0 + 1234)


def test_find_duplicates_report_through_both_writers(tmp_path: Path) -> None:
    """On real files: copies, a hard link, copy-marked names, a sidecar beside one copy."""
    root = tmp_path / "in"
    a = make_jpeg(root / "a" / "IMG_1.JPG", "2020:05:01 10:00:00", seed=1, size=(80, 60))
    (root / "b").mkdir()
    shutil.copy(a, root / "b" / "IMG_1 (1).JPG")
    os.link(a, root / "b" / "IMG_1-link.JPG")
    p = make_png(root / "c" / "p.png", seed=3)
    (root / "d").mkdir()
    shutil.copy(p, root / "d" / "p.png")
    (root / "d" / "p.xmp").write_text("<x/>")
    result = find_duplicates(FindOptions((root,), workers=1, show_progress=False))
    assert all(isinstance(g, ExactGroup) for g in result.groups) and len(result.groups) == 2
    png = next(g for g in result.groups if g.copies[0][0].endswith("p.png"))
    assert png.copies[0][0] == str(root / "d" / "p.png")  # the copy with its sidecar
    assert png.kept.rule is keeper.KeepRule.HAS_SIDECARS
    fmt = dupreport.ReportFormat.CSV
    expected = dupreport.write_report(dupreport.rows_of(result), tmp_path / "rows.csv", fmt)
    got = dupreport.write_result(result, tmp_path / "compact.csv", fmt)
    assert got.read_bytes() == expected.read_bytes()


@pytest.mark.parametrize("kind", ["jpeg", "png", "random", "big-jpeg", "grown"])
def test_small_files_described_from_one_read(tmp_path: Path, kind: str) -> None:
    """describe_sized says what describe_worker says: from the bytes of one read for a
    small file, the usual way for a large one or one that changed size since the scan."""
    path = tmp_path / "f.jpg"
    if kind in ("jpeg", "grown"):
        make_jpeg(path, "2021:02:03 04:05:06", seed=4, size=(40, 30))
    elif kind == "png":
        make_png(path, seed=5, size=(33, 22))
    elif kind == "random":
        path.write_bytes(random.Random(1).randbytes(5000))
    else:
        make_jpeg(path, "2021:02:03 04:05:06", seed=6, size=(900, 700), quality=100)
        assert path.stat().st_size > describe.WHOLE_DESCRIBE
    size = path.stat().st_size
    if kind == "grown":
        size -= 10  # the scan saw fewer bytes: read the usual way
    got = describe.describe_sized((str(path), size))
    assert got == describe.describe_worker(str(path))
    if kind != "random":
        assert got.width is not None and got.format is not None


def test_a_file_gone_since_the_scan_is_unreadable(tmp_path: Path) -> None:
    got = describe.describe_sized((str(tmp_path / "gone.jpg"), 10))
    assert isinstance(got, ReadFailure) and got.error.startswith("cannot read")


def test_a_read_that_reaches_the_size_at_open_needs_no_second(tmp_path: Path) -> None:
    """pread_upto with the size open_scanned saw stops there: one read for a whole small
    file, where without it a second read finds the end; a file that grew since the scan
    is still read to size + 1, so it no longer matches its old peers."""
    from photoorganiser.duplicates import exact

    path = tmp_path / "f.jpg"
    path.write_bytes(b"x" * 1000)
    calls: list[int] = []
    real = os.pread

    def counted(*args):
        calls.append(args[2])
        return real(*args)

    fd, end = hashing.open_scanned(str(path))
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(exact.os, "pread", counted)
            assert (end, exact.pread_upto(fd, 1001, 0, end)) == (1000, b"x" * 1000)
            assert calls == [0]
            assert exact.pread_upto(fd, 1001, 0) == b"x" * 1000
            assert calls == [0, 0, 1000]
        with open(path, "ab") as f:
            f.write(b"y" * 10)  # grows before the read
        assert exact.pread_upto(fd, 1001, 0, end) == b"x" * 1000 + b"y"
    finally:
        os.close(fd)

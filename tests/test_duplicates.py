"""find-duplicates, exact mode: real files in tmp_path, through the CLI and the library."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from media import make_jpeg, make_png

from photoorganiser import cli
from photoorganiser.core.values import CaptureDate, DateSource
from photoorganiser.duplicates import exact
from photoorganiser.duplicates import find as duplicates
from photoorganiser.duplicates import report as dupreport
from photoorganiser.duplicates.find import find_duplicates
from photoorganiser.duplicates.keep import choose_keep
from photoorganiser.duplicates.stage import StageContext
from photoorganiser.duplicates.values import (
    FileInfo,
    FindOptions,
    FindResult,
    KeepRule,
    Kind,
    ReadFailure,
    SameFile,
)

BIG = 300_000  # > 2 * SAMPLE_SIZE: the content stage decides


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    a = make_jpeg(root / "a" / "photo.jpg", "2020:05:01 10:00:00", seed=1, size=(80, 60))
    (root / "b").mkdir()
    shutil.copy(a, root / "b" / "photo copy.jpg")
    os.link(a, root / "b" / "photo-link.jpg")  # same inode: not wasted space
    make_jpeg(root / "a" / "other.jpg", seed=2, size=(80, 60))  # unique
    # Same size, different content, differing only in the middle (past the samples).
    head, tail = b"H" * 70_000, b"T" * 70_000
    write(root / "a" / "big1.mov", head + b"1" * (BIG - 140_000) + tail)
    write(root / "b" / "big2.mov", head + b"2" * (BIG - 140_000) + tail)
    write(root / "c" / "big1 again.mov", head + b"1" * (BIG - 140_000) + tail)
    # Same size, different head: dropped by the sample stage.
    write(root / "c" / "same-size-1.png", b"x" * 5000)
    write(root / "c" / "same-size-2.png", b"y" * 5000)
    write(root / "a" / "empty1.jpg", b"")
    write(root / "b" / "empty2.jpg", b"")
    (root / "c" / "link-to-photo.jpg").symlink_to(a)  # symlinks are not followed
    write(root / "c" / "notes.txt", b"x" * 5000)  # not media: not compared
    return root


def groups_by_paths(result: FindResult, root: Path) -> dict[frozenset[str], Kind]:
    return {
        frozenset(str(m.path.relative_to(root)) for m in g.members): g.kind for g in result.groups
    }


def test_exact_groups(tree: Path) -> None:
    result = find_duplicates(FindOptions((tree,), workers=1, show_progress=False))
    assert groups_by_paths(result, tree) == {
        frozenset({"a/photo.jpg", "b/photo copy.jpg", "b/photo-link.jpg"}): Kind.EXACT,
        frozenset({"a/big1.mov", "c/big1 again.mov"}): Kind.EXACT,
    }
    assert result.failures == ()
    photo = next(g for g in result.groups if len(g.members) == 3)
    # The hard link is reported as such and costs nothing: only the real copy counts.
    size = (tree / "a" / "photo.jpg").stat().st_size
    assert photo.reclaimable == size
    link = next(m for m in photo.members if m.path.name == "photo-link.jpg")
    assert isinstance(link.reason, SameFile) and not link.keep
    assert "hard link" in dupreport.reason_text(link.reason)
    assert result.reclaimable == size + BIG
    assert sum(m.keep for g in result.groups for m in g.members) == len(result.groups)


def test_empty_files_only_when_asked(tree: Path) -> None:
    opts = FindOptions((tree,), workers=1, show_progress=False, include_empty=True)
    groups = groups_by_paths(find_duplicates(opts), tree)
    assert frozenset({"a/empty1.jpg", "b/empty2.jpg"}) in groups


def test_only_possible_duplicates_are_read(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sampled: list[str] = []
    hashed: list[str] = []
    real_sample, real_full = exact._sample_hash, exact._content_hash
    monkeypatch.setattr(
        exact,
        "_sample_hash",
        lambda p, *a: sampled.append(Path(p).name) or real_sample(p, *a),
    )
    monkeypatch.setattr(
        exact, "_content_hash", lambda p, *a: hashed.append(Path(p).name) or real_full(p, *a)
    )
    find_duplicates(FindOptions((tree,), workers=1, show_progress=False))
    assert "other.jpg" not in sampled  # unique size: never read
    assert sorted(sampled) == sorted(
        [
            "photo.jpg",
            "photo copy.jpg",
            "big1.mov",
            "big2.mov",
            "big1 again.mov",
            "same-size-1.png",
            "same-size-2.png",
        ]
    )  # fmt: skip  (the hard link is read once, under one name)
    assert sorted(hashed) == ["big1 again.mov", "big1.mov", "big2.mov"]  # small files: sample only


def test_threads_find_what_one_thread_finds(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With workers, the content stage reads in threads while this one describes and keeps
    the groups settled before it (ctx.meanwhile): the same result as with one worker."""
    monkeypatch.setattr(exact, "cores_free", lambda: True)  # threads even on a busy machine
    threads: list[int] = []
    real_reader = exact._Reader

    def reader(worker, batches, n, background=False):
        threads.append(n if background or n > 1 else 0)
        return real_reader(worker, batches, n, background)

    monkeypatch.setattr(exact, "_Reader", reader)
    big = [tree / "d" / f"big{i}.mov" for i in range(3)]
    for path in big:  # 3 x 2 MiB, two of them identical, read by the content stage's threads
        write(path, b"B" * (2 << 20) if path.name != "big2.mov" else b"B" * ((2 << 20) - 1) + b"C")
    one = find_duplicates(FindOptions((tree,), workers=1, show_progress=False))
    assert threads == [0, 0]  # one worker: sample and content read here
    two = find_duplicates(FindOptions((tree,), workers=2, show_progress=False))
    assert threads[2:] == [0, 2]  # two: the content stage in two threads
    assert one == two
    assert frozenset({"d/big0.mov", "d/big1.mov"}) in groups_by_paths(two, tree)


def test_scan_rows_walk_as_scan_does(tmp_path: Path) -> None:
    """find-duplicates' own walk (plain rows, no ScanEntry per file) finds the media and
    sidecar files media/scan.py's `scan` finds, in its order, with its stat."""
    from photoorganiser.core.values import FileKind
    from photoorganiser.media.scan import scan

    root = tmp_path / "in"
    for rel in (
        "b.jpg",
        "B.JPG",
        "a/z.mov",
        "a/z.xmp",
        "Z/x.heic",
        "a b/c.png",
        ".hidden.jpg",
        ".cache/x.jpg",
        "@eaDir/x.jpg",
        "notes.txt",
        "a/deeper/IMG_1.dng",
        "empty.jpg",
    ):
        write(root / rel, rel.encode() * 3 if rel != "empty.jpg" else b"")  # fmt: skip
    (root / "link.jpg").symlink_to(root / "b.jpg")
    (root / "linkdir").symlink_to(root / "a")
    os.mkfifo(root / "pipe.jpg")
    rows, failures = duplicates.scan_rows([root])
    wanted = {FileKind.IMAGE, FileKind.RAW, FileKind.VIDEO, FileKind.SIDECAR}
    expected = [e for e in scan([root]) if e.error is None and e.kind in wanted]
    assert [(Path(p), kind, size, mtime, dev, ino) for p, kind, size, mtime, dev, ino in rows] == [
        (e.path, e.kind, e.size, e.mtime_ns, e.device, e.inode) for e in expected
    ]
    assert len(rows) == 8 and failures == []
    assert [e.path for e in duplicates.scan_inputs([root])[0]] == [e.path for e in expected]


def test_stages_report_candidates(tree: Path) -> None:
    ctx = StageContext(workers=1)
    entries, _ = duplicates.scan_rows([tree])
    groups = exact.exact_groups(duplicates.file_refs(entries), ctx)
    assert [c.stage for c in ctx.counts] == ["scanned", "size", "inode", "sample", "content"]
    files = [c.files for c in ctx.counts]
    assert files == sorted(files, reverse=True) and files[-1] == 4
    assert all(g.final for g in groups)


def test_cli_report_and_read_back(tree: Path, tmp_path: Path, capsys) -> None:
    before = snapshot(tree)
    report = tmp_path / "out" / "dups.csv"
    status = cli.main(
        ["find-duplicates", "--input", str(tree), "--report", str(report), "--workers", "1"]
    )
    assert status == 0
    assert snapshot(tree) == before  # nothing changed on disk
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"Report: {report}"
    rows = dupreport.read_report(report)
    assert {r.group_id for r in rows} == {1, 2}
    assert all(r.kind is Kind.EXACT and r.distance == 0 for r in rows)
    keeps = [r for r in rows if r.keep]
    assert len(keeps) == 2 and all(r.reason.startswith("keep: ") for r in keeps)
    photo = next(r for r in rows if r.path.endswith("photo copy.jpg"))
    assert (photo.width, photo.height, photo.captured_at) == (80, 60, "2020-05-01T10:00:00")
    assert photo.size == (tree / "a" / "photo.jpg").stat().st_size


def test_report_round_trip_csv_and_json(tree: Path, tmp_path: Path) -> None:
    result = find_duplicates(FindOptions((tree,), workers=1, show_progress=False))
    result = FindResult(
        result.groups,
        (ReadFailure(tree / "gone.jpg", "cannot read: No such file"),),
        result.files_scanned,
    )
    rows = dupreport.rows_of(result)
    for fmt in dupreport.ReportFormat:
        path = dupreport.write_report(rows, tmp_path / f"r.{fmt.value}", fmt)
        assert dupreport.read_report(path) == rows
    assert rows[-1].kind is Kind.UNREADABLE and rows[-1].keep is None


def test_json_format_and_default_report_dir(tree: Path, tmp_path: Path, capsys) -> None:
    report_dir = tmp_path / "reports"
    status = cli.main(
        ["find-duplicates", "--input", str(tree), "--report-dir", str(report_dir),
         "--format", "json", "--quiet", "--workers", "1"]
    )  # fmt: skip
    assert status == 0
    (report,) = report_dir.iterdir()
    assert report.name.startswith("duplicates-") and report.suffix == ".json"
    assert capsys.readouterr().out.strip() == f"Report: {report}"
    assert len(dupreport.read_report(report)) == 5


def test_unreadable_file_is_reported_not_fatal(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    real_scan = duplicates.scan_rows
    victim = tree / "b" / "big2.mov"

    def scan_then_vanish(inputs):
        found = real_scan(inputs)
        victim.unlink()  # disappears between scan and read
        return found

    monkeypatch.setattr(duplicates, "scan_rows", scan_then_vanish)
    report = tmp_path / "r.csv"
    status = cli.main(
        ["find-duplicates", "--input", str(tree), "--report", str(report), "--workers", "1"]
    )
    assert status == cli.EXIT_FILE_ERRORS
    rows = dupreport.read_report(report)
    bad = [r for r in rows if r.kind is Kind.UNREADABLE]
    assert [r.path for r in bad] == [str(victim)]
    assert "cannot read" in bad[0].reason
    assert len({r.group_id for r in rows if r.kind is Kind.EXACT}) == 2  # the rest still works
    assert f"unreadable: {victim}" in capsys.readouterr().out


def test_legacy_script_arguments(tree: Path, tmp_path: Path) -> None:
    report = tmp_path / "legacy.csv"
    status = cli.legacy_find_duplicates_main(
        ["--input", str(tree), "--output", str(report), "--workers", "1"]
    )
    assert status == 0
    assert len(dupreport.read_report(report)) == 5


def test_usage_errors(tmp_path: Path, capsys) -> None:
    assert cli.main(["find-duplicates", "--input", str(tmp_path / "nope")]) == cli.EXIT_USAGE
    assert "input folder not found" in capsys.readouterr().err
    assert cli.main(["find-duplicates", "--input", str(tmp_path), "--workers", "0"]) == 2


def test_parallel_workers_same_groups(tree: Path) -> None:
    one = find_duplicates(FindOptions((tree,), workers=1, show_progress=False))
    two = find_duplicates(FindOptions((tree,), workers=2, show_progress=False))
    assert groups_by_paths(one, tree) == groups_by_paths(two, tree)


# --- keep policy -------------------------------------------------------------------


def info(path: str, size: int = 1000, wh=(100, 100), make=None, fmt="JPEG", when=None) -> FileInfo:
    captured = CaptureDate(when, DateSource.EXIF_DATETIME_ORIGINAL) if when else None
    return FileInfo(Path(path), size, wh[0], wh[1], captured, make, fmt)


def test_keep_policy_order() -> None:
    early, late = datetime(2001, 1, 1), datetime(2002, 1, 1)
    said = dupreport.reason_text  # reasons are values; the report says them
    # 1. highest resolution wins over everything below it
    big = info("/z/very/long/path/big.png", size=10, wh=(200, 100), fmt="PNG")
    keep, why = choose_keep([info("/a.jpg", size=9999, make="Canon", when=early), big])
    assert keep is big and why.rule is KeepRule.LARGEST_RESOLUTION
    assert said(why) == "keep: highest resolution (200x100)"
    # 2. camera original over a re-encode, even when the re-encode is larger
    orig = info("/long/path/orig.jpg", size=10, make="Canon")
    keep, why = choose_keep([info("/a.png", size=9999, fmt="PNG"), orig])
    assert keep is orig and why.rule is KeepRule.ORIGINAL_FORMAT
    assert said(why) == "keep: camera original over a re-encoded copy (camera Canon)"
    # 3. largest file
    large = info("/long/path/large.jpg", size=2000)
    keep, why = choose_keep([info("/a.jpg", size=1000, when=early), large])
    assert keep is large and why.rule is KeepRule.LARGEST_FILE
    assert said(why) == "keep: largest file"
    # 4. oldest capture date
    old = info("/long/path/old.jpg", when=early)
    keep, why = choose_keep([info("/a.jpg", when=late), old, info("/b.jpg")])
    assert keep is old and why.rule is KeepRule.OLDEST_DATE
    assert said(why) == "keep: oldest capture date (2001-01-01T00:00:00)"
    # 5. shortest path
    keep, why = choose_keep([info("/long/x.jpg"), info("/x.jpg")])
    assert keep.path == Path("/x.jpg") and why.rule is KeepRule.SHORTEST_PATH
    assert said(why) == "keep: shortest path"
    # --prefer ranks folders before every other rule
    keep, why = choose_keep([big, info("/pref/small.jpg", wh=(10, 10))], prefer=[Path("/pref")])
    assert keep.path == Path("/pref/small.jpg") and why.rule is KeepRule.PREFERRED_FOLDER
    assert said(why) == "keep: in preferred folder /pref"
    # the library's copy ranks before --prefer and before every picture rule
    lib = FileInfo(Path("/lib/2004/x.jpg"), 10, 10, 10, in_library=True)
    keep, why = choose_keep([big, info("/pref/s.jpg"), lib], prefer=[Path("/pref")])
    assert keep is lib and why.rule is KeepRule.IN_LIBRARY
    assert said(why) == "keep: the library's own copy"


def test_prefer_on_the_command_line(tree: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    args = ["find-duplicates", "--input", str(tree), "--report", str(report), "--workers", "1"]
    cli.main([*args, "--prefer", str(tree / "c")])
    keeps = {r.path for r in dupreport.read_report(report) if r.keep}
    assert str(tree / "c" / "big1 again.mov") in keeps


def test_same_size_pngs_with_different_pixels_are_not_grouped(tmp_path: Path) -> None:
    root = tmp_path / "in"
    make_png(root / "a.png", seed=3)
    make_png(root / "b.png", seed=4)  # same size PNG, different pixels
    result = find_duplicates(FindOptions((root,), workers=1, show_progress=False))
    assert result.groups == ()


def test_sample_hash_is_hash_sample_and_reads_regular_files_only(tmp_path: Path) -> None:
    """The sample stage's pread reader gives core.hashing.hash_sample's digest (small,
    large, grown and shrunk files: a file of up to WHOLE_BYTES whole, else its edges), the
    content stage's reader hash_file's (up to size + 1 bytes), and both refuse what
    hash_sample refuses, without hanging."""
    from photoorganiser.core.hashing import NotRegularFile, hash_bytes, hash_file, hash_sample

    whole, edge = exact.WHOLE_BYTES, exact.SAMPLE_BYTES
    data = os.urandom(2 * whole + 17)
    for n in (1, 1000, whole - 1, whole, whole + 1, len(data)):
        f = write(tmp_path / f"f{n}.jpg", data[:n])
        for size in (n, n - 1, n + 1, n + edge):  # stale sizes too
            n_edge = whole // 2 if size <= whole else edge
            assert exact._sample_hash(str(f), size) == hash_sample(f, size, n_edge)
            for buf in (None, bytearray(exact.CHUNK_BYTES)):
                got = exact._content_hash(str(f), size, buf)
                assert got == (hash_file(f) if n <= size + 1 else hash_bytes(data[: size + 1]))
    big = write(tmp_path / "big.mov", os.urandom(2 * exact.CHUNK_BYTES + 5))
    buf = bytearray(exact.CHUNK_BYTES)
    assert exact._content_hash(str(big), big.stat().st_size, buf) == hash_file(big)
    assert exact.full_worker(((str(big), big.stat().st_size),)) == [(str(big), hash_file(big))]
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    link = tmp_path / "link.jpg"
    link.symlink_to(tmp_path / "f1000.jpg")
    for path in (fifo, link, tmp_path, Path("/dev/zero")):
        with pytest.raises(NotRegularFile):
            exact._sample_hash(str(path), 10)
        with pytest.raises(NotRegularFile):
            exact._content_hash(str(path), 10, None)
    assert exact.sample_worker(((str(fifo), 10),))[0][1] is None  # a failure, as a value
    assert exact.full_worker(((str(fifo), 10),))[0][1] is None


def test_cli_repeats_the_watch_defaults() -> None:
    """cli.py repeats runs/watch.py's defaults (so that starting find-duplicates does not
    import the import machinery): they must stay equal."""
    from photoorganiser.runs import watch

    assert cli.WATCH_DEFAULTS == (
        watch.DEFAULT_SETTLE,
        watch.DEFAULT_MAX_WAIT,
        watch.DEFAULT_RESCAN,
    )

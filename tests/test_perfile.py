"""The import's per-file fast paths (issue 14) give exactly what the general code gives:
plain names kept by sanitise_component, analyses crossing the pool as tuples, units
placed without copies, report rows written without csv_cell per cell, the dry run
reported in batches."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from media import apple_makernote, make_heic, make_jpeg, make_mov, make_png

from photoorganiser.cli import main
from photoorganiser.core.reportfile import ReportHeader, ReportWriter
from photoorganiser.core.textsafe import csv_cell
from photoorganiser.core.values import (
    Analysis,
    CaptureDate,
    DateSource,
    FileKind,
    MediaInfo,
    ScanEntry,
)
from photoorganiser.importing import paths
from photoorganiser.media import analyse as analyse_module
from photoorganiser.runs import importer
from reports import split

D1 = datetime(2020, 1, 2, 3, 4, 5)
D2 = datetime(2021, 6, 7, 8, 9, 10)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


NAMES = [
    "IMG_0001", "IMG 0001", "a.b.c", "con", "CON.jpg", "com1", "lpt9.txt", "nul.tar.gz",
    "conx", "aux1", "a  b", "a..b", ".hidden", "trailing.", "trailing ", " lead", "-x",
    "+1", "x" * 250, "x" * 200, "y" * 199 + ".", "Café", "e\u0301", "a/b", "a:b", "tab\there",
    "", ".", "..", "Canon", "EOS 5D Mark II", "2020", "01", "20200102_030405_IMG_0001",
]  # fmt: skip


@pytest.mark.parametrize("value", NAMES)
def test_plain_names_are_what_the_full_sanitising_gives(value: str) -> None:
    for fallback in ("unknown", "photo", "_", ""):
        assert paths.sanitise_component(value, fallback) == paths._sanitise(value, fallback)


def test_random_ascii_names_are_what_the_full_sanitising_gives() -> None:
    rng = random.Random(14)
    alphabet = 'aZ09_-+ .:/\\*?<>|"\t'
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert paths.sanitise_component(value) == paths._sanitise(value, "unknown"), value


def test_an_analysis_crosses_the_pool_as_tuples_and_comes_back_equal() -> None:
    entry = ScanEntry(Path("/in/IMG_1.JPG"), FileKind.IMAGE, 10, 5, 6, 7)
    media_date = CaptureDate(D1, DateSource.EXIF_DATETIME_ORIGINAL, timedelta(hours=2))
    media = MediaInfo(
        media_date, "Apple", "iPhone 12", 4032, 3024, "JPEG", False, ("truncated",),
        ("bad GPS",), "ABC-1", 48.5, -2.25, timedelta(hours=1),
    )  # fmt: skip
    other = CaptureDate(D2, DateSource.XMP_SIDECAR)
    for captured in (media_date, other, None):
        a = Analysis(entry, "ab" * 16, media, captured)
        back = analyse_module._expand(
            entry, analyse_module._compact(a.hash, a.media, a.captured), {}
        )
        assert back == a
        assert back.entry is entry
        assert (back.captured is back.media.captured) == (captured is media_date)
    bare = Analysis(entry, "cd" * 16, MediaInfo(), None)
    assert (
        analyse_module._expand(entry, analyse_module._compact(bare.hash, bare.media, bare.captured))
        == bare
    )


def test_one_string_per_camera_across_files() -> None:
    shared: dict[object, object] = {}
    out = []
    for i in range(3):
        entry = ScanEntry(Path(f"/in/{i}.jpg"), FileKind.IMAGE, 1)
        media = MediaInfo(None, "".join(["Can", "on"]), "EOS", format="JPEG")
        compact = analyse_module._compact("0" * 32, media, None)
        out.append(analyse_module._expand(entry, compact, shared))
    assert out[0].media.make is out[1].media.make is out[2].media.make


def test_rows_quoted_as_csv_cell_quotes_them(tmp_path: Path) -> None:
    rows = [
        ["plain", "cells", ""],
        ["=SUM(A1)", "x", "-1"],
        ["a", "+b", "@c"],
        ["'quoted", "\ttab", "\rcr"],
        ["a=b", "c-d", "x'"],
    ]
    path = tmp_path / "r.csv"
    with ReportWriter(path, ReportHeader("import"), ["a", "b", "c"]) as writer:
        writer.write_rows(rows)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [csv_cell(c) for c in row] for row in [["a", "b", "c"], *rows]
    )
    assert path.read_bytes().endswith(buffer.getvalue().encode())
    assert b"'=SUM" in path.read_bytes()


def _messy_inbox(root: Path) -> Path:
    """Photos, pairs, sidecars, duplicates, names that collide, formula-like names."""
    make_jpeg(root / "a" / "IMG_0001.JPG", D1, seed=1, make="Apple", model="iPhone 12")
    make_jpeg(root / "b" / "IMG_0001.JPG", D1, seed=2, make="Canon", model="EOS 5D")
    make_jpeg(root / "c" / "IMG_0001.JPG", D1, seed=3, make="Canon", model="EOS 5D")
    make_jpeg(root / "c" / "copy.jpg", D1, seed=1, make="Apple", model="iPhone 12")
    (root / "a" / "IMG_0001.JPG.xmp").write_text("<x:xmpmeta/>")
    (root / "b" / "IMG_0001.xmp").write_text("<x:xmpmeta>b</x:xmpmeta>")
    cid = "1F6D2E1A-1111-2222-3333-444455556666"
    make_heic(root / "live" / "IMG_0100.HEIC", D2, seed=4, make="Apple", model="iPhone 12")
    make_mov(root / "live" / "IMG_0100.MOV", D2 - timedelta(hours=2))
    make_jpeg(root / "live" / "IMG_0200.JPG", D2, seed=5, makernote=apple_makernote(cid))
    make_jpeg(root / "=formula" / "+plus.jpg", D2, seed=6, make="=SUM(1)", model="-2")
    make_jpeg(root / "undated" / "no date.jpg", None, seed=7)
    make_png(root / "undated" / "Screenshot_2019-05-21-10-45-52.png", seed=8)
    (root / "empty.jpg").write_bytes(b"")
    (root / "broken.jpg").write_bytes(b"\xff\xd8not a jpeg")
    (root / "notes.txt").write_text("not a photo")
    for i in range(40):  # enough files for several pool batches
        make_jpeg(root / "many" / f"P{i:03d}.jpg", D1 + timedelta(seconds=i // 3), seed=100 + i)
    return root


def _report_body(tmp_path: Path, name: str, workers: int, library: Path) -> str:
    report = tmp_path / f"{name}.csv"
    args = ["import", "--input", str(tmp_path / "inbox"), "--output", str(library)]
    args += ["--dryrun", "--report", str(report), "--workers", str(workers), "--quiet"]
    assert main(args) == 1  # broken.jpg would fail
    return split(report)[1]


def test_dry_run_report_is_the_same_batched_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _messy_inbox(tmp_path / "inbox")
    library = tmp_path / "library"
    make_jpeg(library / "2020" / "01" / "20200102_030405_IMG_0001.JPG", D1, seed=9)
    one = _report_body(tmp_path, "one", 1, library)  # analysed here, one file at a time
    monkeypatch.setattr(importer, "REPORT_BATCH", 3)  # rows written 3 at a time
    two = _report_body(tmp_path, "two", 2, library)  # the pool's batches, as tuples
    assert one == two
    lines = one.splitlines()
    assert len(lines) == 1 + sum(1 for p in (tmp_path / "inbox").rglob("*") if p.is_file())
    assert "20200102_030405_IMG_0001_1.jpg" in one  # the library's name was taken
    assert ",'=SUM(1),'-2," in one  # formula-like cells are still quoted


def test_a_dry_run_stopped_between_report_batches_reports_every_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    for i in range(8):
        make_jpeg(inbox / f"P{i}.jpg", D1 + timedelta(minutes=i), seed=200 + i)
    calls = []
    simulate = importer.simulate

    def stopping(decisions):  # the second batch is stopped (as by Ctrl-C) before its rows
        calls.append(len(decisions))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return simulate(decisions)

    monkeypatch.setattr(importer, "REPORT_BATCH", 3)
    monkeypatch.setattr(importer, "simulate", stopping)
    report = tmp_path / "r.csv"
    args = ["import", "--input", str(inbox), "--output", str(tmp_path / "lib"), "--dryrun"]
    main([*args, "--report", str(report), "--workers", "1", "--quiet"])
    rows = list(csv.DictReader(io.StringIO(split(report)[1], newline="")))
    sources = [r["source"] for r in rows]
    assert sorted(sources) == sorted(str(p) for p in inbox.iterdir())  # each once
    assert [r["status"] for r in rows].count("planned") == 3
    assert [r["why"] for r in rows].count("not-reached") == 5


def test_a_run_keeps_only_the_outcomes_its_caller_reads_and_counts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a million files a run must not hold an Outcome (and through it a Decision and an
    Analysis) per file: it keeps the failed, not done and ignored ones, counts the rest,
    and a dry run lets each report batch's decisions go."""
    import gc

    from photoorganiser.core.values import Action, Decision, Status

    def decisions_alive() -> int:
        gc.collect()
        return sum(isinstance(o, Decision) for o in gc.get_objects())

    inbox = tmp_path / "inbox"
    for i in range(7):
        make_jpeg(inbox / f"P{i}.jpg", D1 + timedelta(minutes=i), seed=300 + i)
    (inbox / "notes.txt").write_text("not a photo")
    (inbox / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    seen = []
    simulate = importer.simulate

    def watching(decisions):
        seen.extend(type(d).__name__ for d in decisions)
        return simulate(decisions)

    monkeypatch.setattr(importer, "REPORT_BATCH", 3)
    monkeypatch.setattr(importer, "simulate", watching)
    options = importer.ImportOptions(
        inputs=(inbox,), library=tmp_path / "lib", dry_run=True, workers=1, progress=False,
        report=tmp_path / "r.csv",
    )  # fmt: skip
    before = decisions_alive()
    result = importer.run_import(options)
    kept = {(o.status, o.decision.action) for o in result.outcomes}
    assert kept == {(Status.FAILED, Action.ERROR), (Status.PLANNED, Action.IGNORE)}
    assert result.failed == 1
    assert result.count([Status.PLANNED], [Action.MOVE]) == 7
    assert sum(result.counts.values()) == 9 == len(split(tmp_path / "r.csv")[1].splitlines()) - 1
    assert len(seen) == 9
    assert decisions_alive() - before == 2  # only the kept outcomes' decisions

"""The choices a careful person makes, on the import's side: the original over its copies,
edits never left behind, damaged photos kept rather than stranded, an inbox left tidy."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser.cli import main
from reports import rows

D1 = datetime(2004, 12, 24, 18, 30, 5)
AAE = "<?xml version='1.0'?><plist><dict><key>adjustmentFormatVersion</key></dict></plist>"


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(*args: str | Path) -> int:
    return main(["import", *map(str, args), "--workers", "1", "--quiet"])


def by_source(report: Path) -> dict[str, dict[str, str]]:
    return {r["source"]: r for r in rows(report)}


def library_names(library: Path) -> list[str]:
    return sorted(
        p.name for p in library.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts
    )


def test_the_original_is_imported_not_the_copy_that_sorts_first(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    copy = make_jpeg(inbox / "Desktop" / "New folder" / "IMG_0001 (1).JPG", D1, seed=1)
    original = inbox / "Pictures" / "2004 Christmas" / "IMG_0001.JPG"
    original.parent.mkdir(parents=True)
    original.write_bytes(copy.read_bytes())
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report, "--dryrun") == 0
    got = by_source(report)
    assert got[str(original)]["action"] == "move"
    assert got[str(copy)]["action"] == "skip-duplicate"
    assert "kept: the name without a copy marker" in got[str(copy)]["reason"]


def test_the_original_with_its_aae_goes_together_and_the_copy_stays(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    original = make_jpeg(inbox / "phone" / "IMG_4120.JPG", D1, seed=2)
    (inbox / "phone" / "IMG_4120.AAE").write_text(AAE)
    (inbox / "backup").mkdir()
    (inbox / "backup" / "IMG_4120 (1).JPG").write_bytes(original.read_bytes())
    assert run("--input", inbox, "--output", library) == 0
    assert library_names(library) == [
        "20041224_183005_IMG_4120.aae",
        "20041224_183005_IMG_4120.jpg",
    ]
    assert (inbox / "backup" / "IMG_4120 (1).JPG").exists()


def test_a_skipped_copys_sidecars_go_to_the_kept_copy_never_replacing_one(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    original = make_jpeg(inbox / "a" / "IMG_7.JPG", D1, seed=3)
    (inbox / "a" / "IMG_7.JPG.xmp").write_text(
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>mine</x:xmpmeta>"
    )
    (inbox / "b").mkdir()
    (inbox / "b" / "IMG_7 copy.JPG").write_bytes(original.read_bytes())
    (inbox / "b" / "IMG_7 copy.JPG.xmp").write_text(
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>other</x:xmpmeta>"
    )
    (inbox / "b" / "IMG_7 copy.AAE").write_text(AAE)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    got = by_source(report)
    aae = got[str(inbox / "b" / "IMG_7 copy.AAE")]
    assert aae["action"] == "move" and "goes beside it" in aae["reason"]
    other_xmp = got[str(inbox / "b" / "IMG_7 copy.JPG.xmp")]
    assert other_xmp["action"] == "move" and "numbered _1" in other_xmp["reason"]
    assert library_names(library) == [
        "20041224_183005_IMG_7.aae",
        "20041224_183005_IMG_7.jpg",
        "20041224_183005_IMG_7.jpg.xmp",
        "20041224_183005_IMG_7.jpg_1.xmp",
    ]
    assert not (inbox / "b" / "IMG_7 copy.AAE").exists()  # nothing left behind but the copy
    assert (inbox / "b" / "IMG_7 copy.JPG").exists()


def test_prefer_names_the_folder_whose_copy_is_imported(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    first = make_jpeg(inbox / "laptop" / "IMG_1.JPG", D1, seed=4)
    (inbox / "phone").mkdir()
    (inbox / "phone" / "IMG_1 (1).JPG").write_bytes(first.read_bytes())
    report = tmp_path / "r.csv"
    args = ["--input", inbox, "--output", library, "--report", report, "--dryrun"]
    assert run(*args, "--prefer", inbox / "phone") == 0
    got = by_source(report)
    assert got[str(inbox / "phone" / "IMG_1 (1).JPG")]["action"] == "move"
    assert "preferred folder" in got[str(first)]["reason"]


def test_a_truncated_photo_is_imported_and_flagged_not_stranded(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    data = make_jpeg(tmp_path / "whole.jpg", D1, seed=5, size=(320, 240)).read_bytes()
    inbox.mkdir()
    (inbox / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report, "--leave-damaged") == 1
    assert (inbox / "cut.jpg").exists() and "damaged" in rows(report)[0]["reason"]
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    (row,) = rows(report)
    assert row["action"] == "move" and row["status"] == "done"
    assert "damaged: truncated" in row["reason"] and row["date_source"] == "EXIF:DateTimeOriginal"
    assert library_names(library) == ["20041224_183005_cut.jpg"]  # dated from its EXIF
    (placed,) = [p for p in library.rglob("*.jpg")]
    assert placed.read_bytes() == data[: len(data) * 2 // 3]  # byte for byte


def test_empty_and_all_zero_files_are_ignored_as_no_content(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    inbox.mkdir()
    (inbox / "empty.jpg").write_bytes(b"")
    (inbox / "zeros.jpg").write_bytes(bytes(50_000))
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 0
    for r in rows(report):
        assert r["action"] == "ignore" and "no content" in r["reason"], r
    assert (inbox / "empty.jpg").exists() and (inbox / "zeros.jpg").exists()


def test_folders_a_move_emptied_are_removed_others_kept(tmp_path: Path) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "2004" / "trip" / "a.jpg", D1, seed=6)
    make_jpeg(inbox / "2005" / "b.jpg", D1, seed=7)
    (inbox / "2005" / ".DS_Store").write_bytes(b"x")  # hidden: the folder is not empty
    make_jpeg(inbox / "top.jpg", D1, seed=8)
    assert run("--input", inbox, "--output", library) == 0
    assert not (inbox / "2004").exists()  # emptied: removed, parents too
    assert (inbox / "2005" / ".DS_Store").exists()
    assert inbox.is_dir()  # the input folder itself stays


def test_a_dry_run_names_the_files_that_would_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "good.jpg", D1, seed=9)
    (inbox / "not-a-photo.jpg").write_bytes(b"this is text, not a JPEG" * 10)
    code = main(["import", "--input", str(inbox), "--output", str(library), "--dryrun"])
    out = capsys.readouterr().out
    assert code == 1
    assert "would fail" in out and "not-a-photo.jpg" in out


def test_a_second_night_attaches_no_sidecar_of_the_wrong_kind(tmp_path: Path) -> None:
    """A .thm is a video's thumbnail: never a JPEG's sidecar, this night or the next."""
    inbox, library = tmp_path / "in", tmp_path / "lib"
    make_jpeg(inbox / "clip.jpg", D1, seed=10)
    make_jpeg(inbox / "clip.thm", D1, seed=11)
    for night in ("1", "2"):
        report = tmp_path / f"n{night}.csv"
        assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
        thm = by_source(report)[str(inbox / "clip.thm")]
        assert thm["action"] == "ignore", (night, thm)
    assert library_names(library) == ["20041224_183005_clip.jpg"]


def test_failures_lists_what_failed_not_what_had_no_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    inbox.mkdir()
    (inbox / "empty.jpg").write_bytes(b"")
    (inbox / "text.jpg").write_bytes(b"not a photo at all" * 50)
    assert run("--input", inbox, "--output", library, "--copy") == 1
    capsys.readouterr()
    assert main(["failures", "--output", str(library)]) == 0
    out = capsys.readouterr().out
    assert "text.jpg" in out and "empty.jpg" not in out


def test_each_skipped_copy_names_the_rule_that_set_it_apart(tmp_path: Path) -> None:
    # The kept copy beat its runner-up by path length only, and a third copy, the newer one
    # with a shorter path, lost by its time: its row said "kept: the shortest path", false
    # for it. Each copy's row names the rule that told the kept copy from that copy.
    inbox, library = tmp_path / "in", tmp_path / "lib"
    kept = make_jpeg(inbox / "a" / "photos" / "IMG_5.JPG", D1, seed=5)
    runner_up = inbox / "a" / "photos" / "older" / "IMG_5.JPG"
    newer = inbox / "b" / "IMG_5.JPG"
    for copy in (runner_up, newer):
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(kept.read_bytes())
    old = kept.stat().st_mtime_ns - 3600 * 10**9
    for path in (kept, runner_up):
        os.utime(path, ns=(old, old))
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report, "--dryrun") == 0
    got = by_source(report)
    assert got[str(kept)]["action"] == "move"
    assert "kept: the shortest path" in got[str(runner_up)]["reason"]
    assert "kept: the oldest modification time" in got[str(newer)]["reason"]

"""undo and runs: a run reversed with real files, checked before anything is changed."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import REPO, tree_state
from media import make_jpeg

from photoorganiser.cli import main
from photoorganiser.importing import execute

D1 = datetime(2021, 6, 5, 14, 30, 0)


def inbox_of(folder: Path, n: int = 4) -> Path:
    for i in range(n):
        sub = folder / ("trip" if i % 2 else "") / f"IMG_{i:04d}.jpg"
        make_jpeg(sub, datetime(2021, 6, 5 + i, 14, 30, 0), seed=i)
    return folder


def media_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jpg") if ".photoorganiser" not in p.parts)


def library_files(library: Path) -> dict[str, tuple[bytes, int]]:
    return {k: v for k, v in tree_state(library).items() if not k.startswith(".photoorganiser")}


def files_rows(library: Path) -> list[tuple]:
    with sqlite3.connect(library / ".photoorganiser" / "catalog.sqlite") as conn:
        return conn.execute("SELECT path, size, mtime_ns, hash FROM files ORDER BY path").fetchall()


def history_rows(library: Path) -> list[tuple]:
    with sqlite3.connect(library / ".photoorganiser" / "catalog.sqlite") as conn:
        return conn.execute("SELECT hash, library_path FROM history ORDER BY id").fetchall()


def imp(inbox: Path, library: Path, tmp_path: Path, *extra: str) -> int:
    report = tmp_path / f"import-{time.monotonic_ns()}.csv"
    return main(
        ["import", "--input", str(inbox), "--output", str(library), "--report", str(report),
         "--workers", "1", "--quiet", *extra]
    )  # fmt: skip


def undo(library: Path, report: Path, *extra: str) -> int:
    return main(["undo", *extra, "--output", str(library), "--report", str(report), "--quiet"])


def rows(report: Path) -> list[dict[str, str]]:
    lines = report.read_text().splitlines()[1:]  # the header line first
    return list(csv.DictReader(lines))


def runs_of(library: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["runs", "--output", str(library), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_undo_of_a_move_gives_back_the_inbox_and_the_library(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    make_jpeg(tmp_path / "first" / "OLD.jpg", D1, seed=99)
    assert imp(tmp_path / "first", library, tmp_path) == 0  # the library had something before
    inbox_before, library_before = tree_state(inbox), library_files(library)
    catalog_before, history_before = files_rows(library), history_rows(library)
    assert imp(inbox, library, tmp_path) == 0
    assert media_in(inbox) == [] and len(media_in(library)) == 5
    report = tmp_path / "undo.csv"
    assert undo(library, report) == 0
    got = rows(report)
    assert [r["action"] for r in got] == ["restore"] * 4
    assert {r["status"] for r in got} == {"done"}
    files = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    assert files == {k: v for k, v in inbox_before.items() if not k.endswith("/")}
    assert library_files(library) == library_before  # the folders the import made are gone
    assert files_rows(library) == catalog_before
    assert history_rows(library) == history_before
    # Imported again: new files (not "deleted from the library before").
    assert imp(inbox, library, tmp_path) == 0
    assert media_in(inbox) == [] and len(media_in(library)) == 5


def test_undo_of_a_copy_removes_the_copies_only(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    inbox_before = tree_state(inbox)
    assert imp(inbox, library, tmp_path, "--copy") == 0
    assert len(media_in(library)) == 4
    report = tmp_path / "undo.csv"
    assert undo(library, report) == 0
    assert {r["action"] for r in rows(report)} == {"uncopy"}
    assert tree_state(inbox) == inbox_before
    assert media_in(library) == [] and library_files(library) == {}
    assert files_rows(library) == []


def test_a_copy_whose_original_changed_is_kept(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in", 2), tmp_path / "lib"
    assert imp(inbox, library, tmp_path, "--copy") == 0
    changed = inbox / "IMG_0000.jpg"
    changed.write_bytes(changed.read_bytes() + b"edited")
    report = tmp_path / "undo.csv"
    assert undo(library, report) == 1
    by_action = {r["action"]: r for r in rows(report)}
    assert by_action["error"]["status"] == "failed"
    assert "original" in by_action["error"]["reason"]
    assert len(media_in(library)) == 1  # its copy stays; the other copy is removed


def test_a_file_changed_in_the_library_is_left_alone_and_reported(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    assert imp(inbox, library, tmp_path) == 0
    edited = media_in(library)[0]
    edited.write_bytes(edited.read_bytes() + b"edited")
    before = edited.read_bytes()
    report = tmp_path / "undo.csv"
    assert undo(library, report) == 1
    got = rows(report)
    failed = [r for r in got if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["source"] == str(edited)
    assert "changed" in failed[0]["reason"]
    assert edited.read_bytes() == before
    assert len(media_in(inbox)) == 3 and media_in(library) == [edited]


def test_a_place_taken_in_the_inbox_is_never_overwritten(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    assert imp(inbox, library, tmp_path) == 0
    squatter = inbox / "IMG_0000.jpg"
    make_jpeg(squatter, D1, seed=1234)
    squat = squatter.read_bytes()
    report = tmp_path / "undo.csv"
    assert undo(library, report) == 1
    failed = [r for r in rows(report) if r["status"] == "failed"]
    assert len(failed) == 1 and "nothing was overwritten" in failed[0]["reason"]
    assert squatter.read_bytes() == squat
    assert len(media_in(library)) == 1 and len(media_in(inbox)) == 4


def test_undo_of_the_undo_redoes_the_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    assert imp(inbox, library, tmp_path) == 0
    after_import, catalog_after = library_files(library), files_rows(library)
    assert undo(library, tmp_path / "undo.csv") == 0
    assert len(media_in(inbox)) == 4
    assert undo(library, tmp_path / "redo.csv") == 0  # the last run is the undo: redone
    assert {r["action"] for r in rows(tmp_path / "redo.csv")} == {"move"}
    assert media_in(inbox) == [] and library_files(library) == after_import
    assert [r[0] for r in files_rows(library)] == [r[0] for r in catalog_after]
    runs = runs_of(library, capsys)
    assert [r["kind"] for r in runs] == ["import", "undo", "undo"]
    assert [(r["moved"], r["moved_back"]) for r in runs] == [(4, 0), (0, 4), (4, 0)]
    # And the import can be undone again by its id... its files were moved back in by
    # the redo, so the redo's own entries are what undo reverses now.
    assert undo(library, tmp_path / "again.csv", runs[2]["id"]) == 0
    assert len(media_in(inbox)) == 4 and media_in(library) == []


def test_runs_lists_the_runs_read_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    assert imp(inbox, library, tmp_path, "--copy") == 0
    state = tree_state(library)
    runs = runs_of(library, capsys)
    assert len(runs) == 1
    (run,) = runs
    assert run["status"] == "finished" and run["copied"] == 4 and run["moved"] == 0
    assert run["command"].startswith("import ") and run["report"].endswith(".csv")
    assert main(["runs", "--output", str(library)]) == 0
    listed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert listed[0]["id"] == run["id"] and listed[0]["copied"] == "4"
    assert tree_state(library) == state
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["runs", "--output", str(empty)]) == 0
    assert list(empty.iterdir()) == []  # nothing created


def test_undo_dryrun_changes_nothing(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    assert imp(inbox, library, tmp_path) == 0
    state, inbox_state = tree_state(library), tree_state(inbox)
    report = tmp_path / "undo.csv"
    assert undo(library, report, "--dryrun") == 0
    got = rows(report)
    assert len(got) == 4 and {(r["action"], r["status"]) for r in got} == {("restore", "planned")}
    assert tree_state(library) == state and tree_state(inbox) == inbox_state


def test_undo_without_a_run_to_undo_is_a_usage_error(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    assert undo(library, tmp_path / "u.csv") == 2
    assert list(library.iterdir()) == []
    assert undo(tmp_path / "missing", tmp_path / "u.csv") == 2


def test_a_move_that_kept_its_original_is_undone_as_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(execute, "_rename", None)  # link(2) and unlink(2) instead of renameat2
    inbox, library = inbox_of(tmp_path / "in", 1), tmp_path / "lib"
    inbox_before = tree_state(inbox)
    real_unlink = os.unlink

    def read_only_source(path, *a, **k):
        if str(path).startswith(str(inbox)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(execute.os, "unlink", read_only_source)
    assert imp(inbox, library, tmp_path) == 1  # placed, the original kept
    monkeypatch.undo()
    assert [r["copied"] for r in runs_of(library, capsys)] == [1]
    report = tmp_path / "undo.csv"
    assert undo(library, report) == 0
    assert [r["action"] for r in rows(report)] == ["uncopy"]
    assert tree_state(inbox) == inbox_before and media_in(library) == []
    with sqlite3.connect(library / ".photoorganiser" / "catalog.sqlite") as conn:
        assert conn.execute(
            "SELECT count(*) FROM journal WHERE state = 'unfinished-move'"
        ).fetchone() == (0,)
    assert imp(inbox, library, tmp_path) == 0  # nothing left to finish: imported afresh
    assert len(media_in(library)) == 1 and media_in(inbox) == []


@pytest.mark.kill
@pytest.mark.parametrize("mode", ["move", "copy"])
def test_kill_9_during_undo_then_undo_again_loses_and_duplicates_nothing(
    tmp_path: Path, mode: str
) -> None:
    inbox, library = tmp_path / "in", tmp_path / "lib"
    for i in range(300):
        make_jpeg(inbox / f"d{i % 5}" / f"IMG_{i:04d}.jpg", D1, seed=i, size=(160, 120))
    before = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    assert imp(inbox, library, tmp_path, f"--{mode}") == 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "photoorganiser", "undo", "--output", str(library),
           "--report", str(tmp_path / "killed.csv"), "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    if mode == "move":
        while proc.poll() is None and len(media_in(inbox)) < 5:
            time.sleep(0.001)
    else:
        while proc.poll() is None and len(media_in(library)) > 295:
            time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the undo finished before the kill (a very fast machine)")
    assert 0 < len(media_in(library)) < 300
    if mode == "move":
        assert len(media_in(inbox)) + len(media_in(library)) == 300  # nothing lost, no twice
    else:
        now = tree_state(inbox)
        assert all(now.get(k) == v for k, v in before.items())  # the originals untouched
    report = tmp_path / "again.csv"
    assert undo(library, report) == 0
    files = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    assert files == before
    assert media_in(library) == [] and files_rows(library) == []
    assert not [p for p in tmp_path.rglob("*") if "po-tmp" in p.name]


def test_undo_of_an_apply_and_a_second_undo_of_the_same_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    inbox_before = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    plan = tmp_path / "plan.csv"
    assert imp(inbox, library, tmp_path, "--dryrun", "--report", str(plan)) == 0
    applied = tmp_path / "applied.csv"
    assert main(["apply", str(plan), "--output", str(library), "--report", str(applied),
                 "--quiet"]) == 0  # fmt: skip
    assert media_in(inbox) == [] and len(media_in(library)) == 4
    (run,) = runs_of(library, capsys)
    assert run["kind"] == "apply" and run["moved"] == 4
    assert undo(library, tmp_path / "undo.csv") == 0
    assert {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")} == inbox_before
    assert media_in(library) == []
    again = tmp_path / "again.csv"  # the same run once more: undone already, nothing twice
    assert undo(library, again, run["id"]) == 0
    got = rows(again)
    assert len(got) == 4 and {r["action"] for r in got} == {"ignore"}
    assert all("undone here already" in r["reason"] for r in got)
    assert {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")} == inbox_before


def test_the_run_log_survives_a_catalog_rebuild(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    inbox_before = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    assert imp(inbox, library, tmp_path) == 0
    sync = ["sync", "--output", str(library), "--rebuild", "--quiet"]
    assert main([*sync, "--report", str(tmp_path / "sync.csv")]) == 0
    imported = [r for r in runs_of(library, capsys) if r["kind"] == "import"]
    assert [r["moved"] for r in imported] == [4]
    assert undo(library, tmp_path / "undo.csv", imported[0]["id"]) == 0
    assert {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")} == inbox_before
    assert media_in(library) == [] and files_rows(library) == []


def test_apply_refuses_undo_actions_in_a_plan(tmp_path: Path) -> None:
    inbox, library = inbox_of(tmp_path / "in", 1), tmp_path / "lib"
    plan = tmp_path / "plan.csv"
    assert imp(inbox, library, tmp_path, "--dryrun", "--report", str(plan)) == 0
    text = plan.read_text()
    assert ",move,planned," in text
    plan.write_text(text.replace(",move,planned,", ",restore,planned,"))
    applied = tmp_path / "applied.csv"
    assert main(["apply", str(plan), "--output", str(library), "--report", str(applied),
                 "--quiet"]) == 1  # fmt: skip
    (row,) = rows(applied)
    assert row["action"] == "error" and "undo's" in row["error"]
    assert len(media_in(inbox)) == 1 and media_in(library) == []


@pytest.mark.parametrize("mode", ["move", "copy"])
def test_an_undo_killed_between_its_intents_and_their_settlement_is_recovered(
    tmp_path: Path, mode: str
) -> None:
    """Deterministic kill -9: the undo's intents journalled, half its files done by hand
    (as the killed process did), nothing settled; the next undo recovers, then finishes."""
    from photoorganiser.importing.undo import plan_undo
    from photoorganiser.library.catalog import Catalog
    from photoorganiser.library.journal import Journal
    from photoorganiser.library.runlog import find_run, logged

    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    before = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    assert imp(inbox, library, tmp_path, f"--{mode}") == 0
    catalog = Catalog.open(library)
    assert catalog is not None
    target = find_run(catalog, None)
    assert target is not None
    catalog.begin_run("killed-undo", "undo --output lib")
    decisions = plan_undo(target.id, logged(catalog, target.id))
    Journal(catalog, "killed-undo").intend(decisions)
    for d in decisions[:2]:  # what the killed undo had done
        assert d.destination is not None
        if mode == "move":
            d.destination.parent.mkdir(parents=True, exist_ok=True)
            os.rename(d.source, d.destination)
        else:
            os.unlink(d.source)
    catalog.close()
    report = tmp_path / "again.csv"
    assert undo(library, report) == 0
    got = rows(report)
    assert sum(r["action"] == "recover" for r in got) == 4
    files = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    assert files == before
    assert media_in(library) == [] and files_rows(library) == []
    with sqlite3.connect(library / ".photoorganiser" / "catalog.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM journal WHERE state = 'intent'").fetchone() == (
            0,
        )


@pytest.mark.parametrize("mode", ["--move", "--copy"])
def test_undo_follows_a_file_renamed_in_the_library_since(tmp_path: Path, mode: str) -> None:
    # A photo renamed inside the library after the import (sync records the move, and the
    # history follows it) is still the run's file: undo reverses it at its new name. A copy
    # run's renamed copy was said to be "undone here already" and stayed in the library.
    inbox, library = inbox_of(tmp_path / "in", 2), tmp_path / "lib"
    inbox_before = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    assert imp(inbox, library, tmp_path, mode) == 0
    first = media_in(library)[0]
    renamed = library / "renamed by hand.jpg"
    first.rename(renamed)
    sync = ["sync", "--output", str(library), "--quiet", "--report", str(tmp_path / "s.csv")]
    assert main(sync) == 0
    report = tmp_path / "undo.csv"
    assert undo(library, report) == 0
    got = rows(report)
    assert {r["status"] for r in got} == {"done"}, got
    assert str(renamed) in {r["source"] for r in got}
    assert media_in(library) == [] and files_rows(library) == []
    files = {k: v for k, v in tree_state(inbox).items() if not k.endswith("/")}
    assert files == inbox_before


def test_undo_of_a_sync_run_or_an_ambiguous_id_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A sync run was "undone" with nothing done and exit 0, and a beginning two runs share
    # was "no run X in this library", though `runs` lists both.
    inbox, library = inbox_of(tmp_path / "in", 2), tmp_path / "lib"
    assert imp(inbox, library, tmp_path, "--copy") == 0
    sync = ["sync", "--output", str(library), "--quiet", "--report", str(tmp_path / "s.csv")]
    assert main(sync) == 0
    found = runs_of(library, capsys)
    assert [r["kind"] for r in found] == ["import", "sync"]
    capsys.readouterr()
    assert undo(library, tmp_path / "u.csv", found[1]["id"]) == 2
    err = capsys.readouterr().err
    assert f"run {found[1]['id']} is a sync" in err and len(err.strip().splitlines()) == 1
    common = os.path.commonprefix([r["id"] for r in found])
    assert undo(library, tmp_path / "u.csv", common) == 2
    err = capsys.readouterr().err
    assert "ambiguous" in err and found[0]["id"] in err and found[1]["id"] in err
    assert len(media_in(library)) == 2  # nothing was undone


def test_undo_by_default_passes_over_runs_that_changed_nothing(tmp_path: Path) -> None:
    """A nightly re-run that found nothing new is not the run a plain `undo` reverses:
    the last run that changed files is (undoing the empty one did nothing, exit 0)."""
    inbox, library = inbox_of(tmp_path / "in"), tmp_path / "lib"
    assert imp(inbox, library, tmp_path, "--copy") == 0
    assert imp(inbox, library, tmp_path, "--copy") == 0  # nothing new: nothing changed
    assert len(media_in(library)) == 4
    report = tmp_path / "u.csv"
    assert undo(library, report) == 0
    assert {(r["action"], r["status"]) for r in rows(report)} == {("uncopy", "done")}
    assert media_in(library) == [] and len(media_in(inbox)) == 4

"""`photoorganiser repair`: the files verify found damaged or missing, brought back from
good copies in other folders (found by content, whatever their names), the damaged ones
kept aside; driven through the CLI on real files in tmp_path."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from conftest import tree_state
from media import make_jpeg, rot

from photoorganiser.cli import main
from photoorganiser.core.hashing import hash_file
from photoorganiser.runs import repair as repair_module


def rows_of(report: Path) -> dict[str, dict[str, str]]:
    lines = report.read_text(encoding="utf-8").splitlines()[1:]
    return {r["path"]: r for r in csv.DictReader(lines)}


@pytest.fixture
def damaged(tmp_path: Path) -> dict[str, Path]:
    """A library of four photos after a verify that found: a.jpg rotted, b.jpg missing with
    its folder, c.jpg rotted with no good copy anywhere, d.jpg fine. The backup holds a good
    a.jpg renamed in a subfolder, b.jpg, and a copy of c.jpg damaged too (same size)."""
    inbox, backup = tmp_path / "in", tmp_path / "backup"
    photos = {
        "a": make_jpeg(inbox / "a.jpg", "2019:01:02 03:04:05", seed=1),
        "b": make_jpeg(inbox / "b.jpg", "2018:06:07 08:09:10", seed=2),
        "c": make_jpeg(inbox / "c.jpg", "2019:01:03 03:04:05", seed=3),
        "d": make_jpeg(inbox / "d.jpg", "2019:01:04 03:04:05", seed=4),
    }
    (backup / "2019 trip").mkdir(parents=True)
    shutil.copy2(photos["a"], backup / "2019 trip" / "IMG renamed.jpg")
    shutil.copy2(photos["b"], backup / "b.jpg")
    shutil.copy2(photos["c"], backup / "c.jpg")
    rot(backup / "c.jpg")
    lib = tmp_path / "lib"
    args = ["import", "--input", str(inbox), "--output", str(lib), "--copy", "--workers", "1"]
    assert main([*args, "--quiet", "--report", str(tmp_path / "import.csv")]) == 0
    placed = {p.stem.rpartition("_")[2]: p for p in lib.rglob("*.jpg")}
    rot(placed["a"])
    shutil.rmtree(placed["b"].parent.parent)  # its year's folder gone with it
    rot(placed["c"])
    report = tmp_path / "verify.csv"
    assert main(["verify", "--output", str(lib), "--quiet", "--report", str(report)]) == 1
    found = {Path(r["path"]).name: r["result"] for r in rows_of(report).values()}
    assert sorted(found.values()) == ["changed", "changed", "missing", "ok"]
    return {"lib": lib, "backup": backup, **placed}


def repair(damaged: dict[str, Path], *extra: str, report: str = "repair.csv") -> int:
    lib, backup = damaged["lib"], damaged["backup"]
    out = lib.parent / report
    return main(["repair", "--output", str(lib), "--from", str(backup), "--workers", "1",
                 "--quiet", "--report", str(out), *extra])  # fmt: skip


def test_damaged_and_missing_files_come_back_from_good_copies(damaged: dict[str, Path]) -> None:
    lib = damaged["lib"]
    catalogued = {
        k: (hash_file(lib.parent / "in" / f"{k}.jpg"), (lib.parent / "in" / f"{k}.jpg").stat())
        for k in "abcd"
    }
    rotten = {k: damaged[k].read_bytes() for k in "ac"}
    assert repair(damaged) == 1  # (one file has no good copy)
    rows = {Path(p).name: r for p, r in rows_of(lib.parent / "repair.csv").items()}
    got = {name.rpartition("_")[2]: r["result"] for name, r in rows.items()}
    assert got == {"a.jpg": "restored", "b.jpg": "restored", "c.jpg": "no-copy"}
    a_row = next(r for n, r in rows.items() if n.endswith("_a.jpg"))
    assert a_row["from"] == str(damaged["backup"] / "2019 trip" / "IMG renamed.jpg")
    for k in "ab":  # the catalog's bytes and modification time, under the catalog's name
        assert hash_file(damaged[k]) == catalogued[k][0]
        assert damaged[k].stat().st_mtime_ns == catalogued[k][1].st_mtime_ns
    kept = Path(a_row["damaged_kept"])  # the damaged file kept, byte for byte
    assert kept.is_relative_to(lib / ".photoorganiser" / "damaged")
    assert kept.read_bytes() == rotten["a"]
    assert damaged["c"].read_bytes() == rotten["c"]  # a damaged backup copy is never used
    # the library agrees: verify finds only c.jpg, sync sees nothing to change
    report = lib.parent / "verify2.csv"
    assert main(["verify", "--output", str(lib), "--quiet", "--report", str(report)]) == 1
    found = {Path(p).name.rpartition("_")[2]: r["result"] for p, r in rows_of(report).items()}
    assert found == {"a.jpg": "ok", "b.jpg": "ok", "c.jpg": "changed", "d.jpg": "ok"}
    report = lib.parent / "sync.csv"
    assert main(["sync", "--output", str(lib), "--quiet", "--report", str(report)]) == 0
    assert rows_of(report) == {}
    # again: only c.jpg is left to repair, and still has no copy
    assert repair(damaged, report="again.csv") == 1
    assert [r["result"] for r in rows_of(lib.parent / "again.csv").values()] == ["no-copy"]


def test_a_dry_run_finds_the_copies_and_changes_nothing(damaged: dict[str, Path]) -> None:
    lib = damaged["lib"]
    before = tree_state(lib), tree_state(damaged["backup"])
    assert repair(damaged, "--dryrun") == 1
    assert (tree_state(lib), tree_state(damaged["backup"])) == before
    got = sorted(r["result"] for r in rows_of(lib.parent / "repair.csv").values())
    assert got == ["no-copy", "planned", "planned"]


def test_a_copy_that_fails_puts_the_damaged_file_back(
    damaged: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy fails (a full disk, say) after the damaged file was set aside: it goes back
    under its name, so the library is as it was, and the row says why."""
    from photoorganiser.importing.execute import TransferError

    rotten = damaged["a"].read_bytes()

    def full(*args, **kwargs):
        raise TransferError("cannot copy it back from its keeper: No space left on device")

    monkeypatch.setattr(repair_module, "restore_copy", full)
    assert repair(damaged) == 1
    rows = {
        Path(p).name.rpartition("_")[2]: r
        for p, r in rows_of(damaged["lib"].parent / "repair.csv").items()
    }
    assert rows["a.jpg"]["result"] == "failed" and "No space left" in rows["a.jpg"]["detail"]
    assert damaged["a"].read_bytes() == rotten
    assert not list((damaged["lib"] / ".photoorganiser" / "damaged").rglob("*.jpg"))


def test_a_file_put_right_by_hand_is_ok_and_a_killed_repairs_leftovers_go(
    damaged: dict[str, Path],
) -> None:
    lib = damaged["lib"]
    shutil.copy2(damaged["backup"] / "2019 trip" / "IMG renamed.jpg", damaged["a"])
    from photoorganiser.importing.execute import temp_path

    leftover = temp_path(damaged["c"])  # what a killed repair's copy leaves
    leftover.write_bytes(b"half a copy")
    journal = lib / ".photoorganiser" / repair_module.JOURNAL
    journal.write_text(f'{{"path": "{damaged["c"]}", "aside": ""}}\n')
    assert repair(damaged) == 1
    rows = {
        Path(p).name.rpartition("_")[2]: r for p, r in rows_of(lib.parent / "repair.csv").items()
    }
    assert rows["a.jpg"]["result"] == "ok" and rows["b.jpg"]["result"] == "restored"
    assert not leftover.exists() and not journal.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "LIB/2019"], "is inside the library"),
        (["--from", "NOWHERE"], "is not a folder"),
    ],
)
def test_bad_sources_are_refused_before_anything(
    damaged: dict[str, Path], extra: list[str], message: str, capsys
) -> None:
    lib = damaged["lib"]
    before = tree_state(lib)
    args = [
        a.replace("LIB", str(lib)).replace("NOWHERE", str(lib.parent / "nowhere")) for a in extra
    ]
    assert main(["repair", "--output", str(lib), *args, "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert tree_state(lib) == before


@pytest.mark.kill
def test_a_repair_killed_half_way_is_finished_by_the_next(tmp_path: Path) -> None:
    """kill -9 during a repair of 150 rotted files: the next repair removes what the killed
    one left half-way and brings back the rest; every file holds its catalogued bytes,
    every damaged one is kept aside, no temporary file is left."""
    import signal
    import subprocess
    import sys
    import time

    inbox, backup, lib = tmp_path / "in", tmp_path / "backup", tmp_path / "lib"
    for i in range(150):
        make_jpeg(inbox / f"IMG_{i:03d}.jpg", "2019:01:02 03:04:05", seed=i, size=(320, 240))
    shutil.copytree(inbox, backup)
    args = ["import", "--input", str(inbox), "--output", str(lib), "--copy", "--workers", "1"]
    assert main([*args, "--quiet", "--report", str(tmp_path / "import.csv")]) == 0
    good = {p: hash_file(p) for p in lib.rglob("*.jpg")}
    for path in good:
        rot(path)
    assert (
        main(["verify", "--output", str(lib), "--quiet", "--report", str(tmp_path / "v.csv")]) == 1
    )
    aside = lib / ".photoorganiser" / "damaged"
    command = [sys.executable, "-m", "photoorganiser", "repair", "--output", str(lib),
               "--from", str(backup), "--workers", "1", "--quiet",
               "--report", str(tmp_path / "killed.csv")]  # fmt: skip
    proc = subprocess.Popen(command)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(1 for _ in aside.rglob("*.jpg")) < 30:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert main(["repair", "--output", str(lib), "--from", str(backup), "--workers", "1",
                 "--quiet", "--report", str(tmp_path / "again.csv")]) == 0  # fmt: skip
    assert {p: hash_file(p) for p in lib.rglob("*.jpg") if aside not in p.parents} == good
    assert len(list(aside.rglob("*.jpg"))) == 150  # each damaged file kept, once
    assert not [p for p in lib.rglob(".*") if p.is_file() and "po-tmp" in p.name]
    report = tmp_path / "v2.csv"
    assert main(["verify", "--output", str(lib), "--quiet", "--report", str(report)]) == 0


def test_a_catalog_that_cannot_be_written_does_not_stop_a_repair(
    damaged: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library disk too full for the catalog's bookkeeping: the files are repaired all
    the same, every row written (where each damaged file is kept), and the next verify
    reads them again."""
    import sqlite3

    from photoorganiser.library.fixity import Fixity

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Fixity, "record", full)
    assert repair(damaged) == 1  # (c.jpg has no good copy)
    rows = {
        Path(p).name.rpartition("_")[2]: r
        for p, r in rows_of(damaged["lib"].parent / "repair.csv").items()
    }
    assert rows["a.jpg"]["result"] == "restored" and rows["a.jpg"]["damaged_kept"]
    assert rows["b.jpg"]["result"] == "restored" and rows["c.jpg"]["result"] == "no-copy"

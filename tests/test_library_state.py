"""The library's own state (.photoorganiser/): links, damage, a full disk, a linked library.

Every test drives the command line on real files and checks what a family would
see: one clear line, no traceback, and every photo still where it was (or filed).
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import tree_state
from media import make_jpeg

from photoorganiser.cli import main
from photoorganiser.core.hashing import hash_file
from photoorganiser.core.values import TransferMode
from photoorganiser.importing.collisions import resolve
from photoorganiser.importing.paths import DEFAULT_TEMPLATE, parse_template
from photoorganiser.importing.plan import PlanOptions, plan
from photoorganiser.library.catalog import Catalog, catalog_path
from photoorganiser.library.index import CatalogLibrary
from photoorganiser.library.journal import Journal
from photoorganiser.media.analyse import AnalyseOptions, analyse_entry
from photoorganiser.media.scan import scan
from reports import rows as report_rows

REPO = Path(__file__).resolve().parents[1]
D0 = datetime(2020, 1, 5, 9, 0, 0)
LINK_REFUSED = "is a symbolic link; refusing to write through it"


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# --- helpers (small ones, as in test_nightly.py) -------------------------------------------


def make_inbox(root: Path, count: int, first: int = 0, size=(64, 48)) -> Path:
    for i in range(first, first + count):
        make_jpeg(root / f"IMG_{i:04d}.jpg", D0 + timedelta(minutes=i), seed=i, size=size)
    return root


def photos(root: Path) -> list[Path]:
    """Media files under root, outside the library's bookkeeping."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and ".photoorganiser" not in p.parts and p.suffix == ".jpg"
    )


def catalog_rows(library: Path) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(catalog_path(library)) as conn:
        return {p: (s, h) for p, s, h in conn.execute("SELECT path, size, hash FROM files")}


def disk_rows(library: Path) -> dict[str, tuple[int, str]]:
    return {
        p.relative_to(library).as_posix(): (p.stat().st_size, hash_file(p)) for p in photos(library)
    }


def rows(report: Path) -> list[dict[str, str]]:
    return report_rows(report)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process: what cron sees (stderr, exit status)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "photoorganiser", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
    )


def imp(inbox: Path, library: Path, *more: str | Path) -> list[str]:
    return [
        "import",
        "--input",
        str(inbox),
        "--output",
        str(library),
        "--workers",
        "1",
        *map(str, more),
    ]


def sync(library: Path, *more: str | Path) -> list[str]:
    return ["sync", "--output", str(library), "--workers", "1", *map(str, more)]


def one_clean_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# --- 1. state files are never written through a link --------------------------------------


@pytest.mark.parametrize("which", ["lock", "catalog.sqlite", "catalog.sqlite-journal", "folder"])
@pytest.mark.parametrize("dry", [False, True])
def test_a_state_file_that_is_a_link_is_refused_and_its_target_untouched(
    tmp_path: Path, which: str, dry: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = make_inbox(tmp_path / "in", 2), tmp_path / "lib"
    assert main([*imp(inbox, library, "--copy", "--quiet")]) == 0
    state = library / ".photoorganiser"
    outside = tmp_path / "outside"
    if which == "folder":  # the whole state folder elsewhere: its files are not ours
        shutil.move(state, outside)
        state.symlink_to(outside)
        link = state
    else:
        outside.mkdir()
        precious = outside / "precious.db"
        precious.write_bytes(b"a family's file \x00\x01" * 300)
        link = state / which
        if link.exists():
            link.unlink()
        link.symlink_to(precious)
    before_outside, before_inbox = tree_state(outside), tree_state(inbox)
    make_jpeg(inbox / "new.jpg", D0 + timedelta(days=3), seed=99)
    capsys.readouterr()
    args = imp(inbox, library, "--quiet", *(["--dryrun"] if dry else []))
    assert main(args) == 2
    line = one_clean_line(capsys.readouterr().err)
    assert f"{link} {LINK_REFUSED}" in line
    assert tree_state(outside) == before_outside  # not one byte written through the link
    assert (inbox / "new.jpg").exists() and len(photos(inbox)) == 3
    del before_inbox
    if not dry:
        assert main(sync(library, "--quiet")) == 2
        assert LINK_REFUSED in one_clean_line(capsys.readouterr().err)
        assert tree_state(outside) == before_outside


# --- 2. a damaged catalog -----------------------------------------------------------------


def _damage_files_table(library: Path) -> None:
    """Garbage over the files table's page (the b-tree header and the middle of the page)."""
    path = catalog_path(library)
    with sqlite3.connect(path) as conn:
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'files'").fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size
    rng = random.Random(7)
    data[start : start + 40] = rng.randbytes(40)
    data[start + page_size // 2 : start + page_size // 2 + 200] = rng.randbytes(200)
    path.write_bytes(bytes(data))


def _catalogued_library(tmp_path: Path) -> tuple[Path, Path]:
    inbox, library = make_inbox(tmp_path / "in", 6), tmp_path / "lib"
    assert main([*imp(inbox, library, "--copy", "--quiet")]) == 0
    make_jpeg(inbox / "new.jpg", D0 + timedelta(days=3), seed=99)
    return inbox, library


@pytest.mark.parametrize("damage", ["page", "not-a-database"])
def test_a_damaged_catalog_is_one_line_that_says_how_to_rebuild(
    tmp_path: Path, damage: str
) -> None:
    inbox, library = _catalogued_library(tmp_path)
    plan_csv = tmp_path / "plan.csv"
    assert main([*imp(inbox, library, "--dryrun", "--quiet", "--report", plan_csv)]) == 0
    if damage == "page":
        _damage_files_table(library)
    else:
        catalog_path(library).write_bytes(random.Random(3).randbytes(20000))
    before_lib, before_in = tree_state(library), tree_state(inbox)
    for args in (
        imp(inbox, library, "--quiet"),
        sync(library, "--quiet"),
        ["apply", str(plan_csv), "--output", str(library), "--quiet", "--workers", "1"],
    ):
        done = cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        line = one_clean_line(done.stderr)
        assert f"the catalog {catalog_path(library)} is damaged (" in line
        assert f"rebuild it from the library with: photoorganiser sync --output {library}" in line
        assert line.endswith("--rebuild")
        assert tree_state(inbox) == before_in  # no photo touched
        for name, (data, _mtime) in before_lib.items():
            if ".photoorganiser" not in name:
                assert tree_state(library)[name][0] == data
    # A dry run says so too, and still plans from what is on the disk.
    report = tmp_path / "dry.csv"
    done = cli(*imp(inbox, library, "--dryrun", "--quiet", "--report", report))
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "is damaged" in done.stderr and "--rebuild" in done.stderr
    assert Counter(r["action"] for r in rows(report)) == {"skip-exists": 6, "move": 1}


def _intend_killed_move(inbox: Path, library: Path) -> tuple[Path, Path]:
    """A move recorded in the journal, the copy in place, killed before the source went."""
    src = make_jpeg(inbox / "killed" / "k.jpg", D0 + timedelta(days=5), seed=55)
    entries = list(scan([src.parent]))
    results = [analyse_entry(e, AnalyseOptions()) for e in entries]
    catalog = Catalog.open(library)
    options = PlanOptions(library, parse_template(DEFAULT_TEMPLATE), TransferMode.MOVE)
    (decision,) = resolve(plan(results, options), CatalogLibrary(catalog))
    Journal(catalog, "killed-run").intend([decision])
    catalog.close()
    decision.destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, decision.destination)
    return src, decision.destination


def test_sync_rebuild_makes_a_new_catalog_from_the_disk_and_recovers_salvaged_intents(
    tmp_path: Path,
) -> None:
    inbox, library = _catalogued_library(tmp_path)
    src, dst = _intend_killed_move(tmp_path / "in2", library)
    _damage_files_table(library)
    damaged_bytes = catalog_path(library).read_bytes()
    done = cli(*sync(library, "--rebuild"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "Catalog rebuilt from the library" in done.stdout
    (kept,) = catalog_path(library).parent.glob("catalog.sqlite.damaged-*")
    assert kept.read_bytes() == damaged_bytes  # set aside, never deleted
    assert kept.name[len("catalog.sqlite.damaged-") :].replace("-", "").isdigit()
    # The salvaged intent was finished: the source went, its copy is catalogued.
    assert not src.exists() and dst.exists()
    assert catalog_rows(library) == disk_rows(library)
    assert len(catalog_rows(library)) == 7
    with sqlite3.connect(catalog_path(library)) as conn:
        runs = dict(conn.execute("SELECT command, status FROM runs"))
        assert conn.execute("SELECT count(*) FROM journal WHERE state = 'intent'").fetchone() == (
            0,
        )
    assert any(c.startswith("import") for c in runs)  # the old runs were salvaged
    # And the library works again: a normal import files the new photo.
    report = tmp_path / "after.csv"
    done = cli(*imp(inbox, library, "--quiet", "--report", report))
    assert done.returncode == 0, done.stderr
    assert Counter(r["action"] for r in rows(report)) == {"skip-exists": 6, "move": 1}
    assert catalog_rows(library) == disk_rows(library)


def test_sync_rebuild_of_a_sound_catalog_simply_rebuilds(tmp_path: Path) -> None:
    _inbox, library = _catalogued_library(tmp_path)
    before = catalog_rows(library)
    done = cli(*sync(library, "--rebuild", "--quiet"))
    assert done.returncode == 0, done.stderr
    assert "Catalog rebuilt" in done.stdout
    assert catalog_rows(library) == before == disk_rows(library)
    assert list(catalog_path(library).parent.glob("catalog.sqlite.before-rebuild-*"))
    assert not list(catalog_path(library).parent.glob("catalog.sqlite.damaged-*"))


def test_an_empty_catalog_file_is_no_catalog_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, library = _catalogued_library(tmp_path)
    catalog_path(library).write_bytes(b"")  # e.g. created, then the disk filled up
    report = tmp_path / "dry.csv"
    capsys.readouterr()
    assert main([*imp(inbox, library, "--dryrun", "--quiet", "--report", report)]) == 0
    assert "upgrade" not in capsys.readouterr().err
    assert Counter(r["action"] for r in rows(report)) == {"skip-exists": 6, "move": 1}
    # A real run treats it as a new catalog, and indexes what the library holds.
    report = tmp_path / "real.csv"
    assert main([*imp(inbox, library, "--copy", "--quiet", "--report", report)]) == 0
    assert Counter(r["action"] for r in rows(report)) == {"skip-exists": 6, "copy": 1}
    assert catalog_rows(library) == disk_rows(library)
    assert len(catalog_rows(library)) == 7


# --- 3. a full disk -----------------------------------------------------------------------


def _fill(folder: Path) -> Path:
    """Write until the disk is full: what a backup filling the same disk does."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
        while True:  # the last few bytes
            try:
                f.write(b"\0" * 512)
            except OSError:
                break
    return filler


def test_a_full_disk_never_makes_the_next_runs_crash(tmp_path: Path, small_fs) -> None:
    library = small_fs("2m")
    inbox = make_inbox(tmp_path / "in", 3)
    assert main([*imp(inbox, library, "--quiet")]) == 0
    make_inbox(inbox, 4, first=10)
    originals = Counter(hash_file(p) for p in photos(inbox) + photos(library))
    filler = _fill(library)
    for _ in range(2):  # the night the disk filled, and the night after
        done = cli(*imp(inbox, library, "--quiet"))
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 1, done.stderr
        assert "no space left on the library's disk" in one_clean_line(done.stderr)
        assert Counter(hash_file(p) for p in photos(inbox) + photos(library)) == originals
        assert len(photos(inbox)) == 4  # nothing half-done
    filler.unlink()
    done = cli(*imp(inbox, library, "--quiet"))
    assert done.returncode == 0, done.stderr
    assert photos(inbox) == []
    assert Counter(hash_file(p) for p in photos(library)) == originals
    assert catalog_rows(library) == disk_rows(library)


# --- 4. a library named through a link ----------------------------------------------------


def test_a_library_named_through_a_link_keeps_plain_relative_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = make_inbox(tmp_path / "in", 4)
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    assert main([*imp(inbox, link, "--copy", "--quiet")]) == 0
    for library in (link, real):
        capsys.readouterr()
        assert main(sync(library)) == 0
        assert "unchanged 4, added 0, changed 0, removed 0, failed 0" in capsys.readouterr().out
        paths = set(catalog_rows(real))
        assert all(p.startswith("2020/01/") and ".." not in p.split("/") for p in paths), paths
        assert catalog_rows(real) == disk_rows(real)
    # The library moves (a new disk): the same inbox is not imported a second time.
    moved = tmp_path / "moved"
    real.rename(moved)
    report = tmp_path / "again.csv"
    assert main([*imp(inbox, moved, "--copy", "--quiet", "--report", report)]) == 0
    assert Counter(r["action"] for r in rows(report)) == {"skip-exists": 4}
    assert len(photos(moved)) == 4


def test_relative_refuses_a_path_outside_the_library(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    catalog = Catalog.open(library)
    try:
        assert catalog.relative(library / "2020" / "a.jpg") == "2020/a.jpg"
        with pytest.raises(ValueError):
            catalog.relative(library / ".." / "elsewhere" / "a.jpg")
        with pytest.raises(ValueError):
            catalog.relative(tmp_path / "elsewhere" / "a.jpg")
    finally:
        catalog.close()

"""dedupe: acting on a reviewed find-duplicates report, with real files."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser import cli
from photoorganiser.core.hashing import hash_file
from photoorganiser.core.reportfile import ReportHeader


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Exact group: a/photo.jpg, b/photo copy.jpg, c/photo.jpg (and a hard link to the
    first); near group: a/scene.jpg and a recompressed d/scene small.jpg."""
    root = tmp_path / "in"
    a = make_jpeg(root / "a" / "photo.jpg", "2020:05:01 10:00:00", seed=1, size=(80, 60))
    (root / "b").mkdir()
    shutil.copy2(a, root / "b" / "photo copy.jpg")
    (root / "c").mkdir()
    shutil.copy2(a, root / "c" / "photo.jpg")
    os.link(a, root / "a" / "photo-link.jpg")
    make_jpeg(root / "a" / "scene.jpg", seed=7, size=(160, 120), quality=95)
    make_jpeg(root / "d" / "scene small.jpg", seed=7, size=(160, 120), quality=60)
    make_jpeg(root / "a" / "unique.jpg", seed=3, size=(80, 60))
    return root


def find(root: Path, report: Path, *extra: str) -> Path:
    args = ["find-duplicates", "--input", str(root), "--similar", "--report", str(report)]
    assert cli.main([*args, "--workers", "1", *extra]) == 0
    return report


def rows_of(report: Path) -> list[dict[str, str]]:
    with open(report, newline="", encoding="utf-8") as f:
        lines = f.read().splitlines()
    return list(csv.DictReader(lines[1:]))


def write_rows(report: Path, rows: list[dict[str, str]]) -> None:
    """The report as a person saves it after editing: header line and columns kept."""
    with open(report, newline="", encoding="utf-8") as f:
        first = f.readline()
        columns = next(csv.reader([f.readline()]))
    with open(report, "w", newline="", encoding="utf-8") as f:
        f.write(first)
        w = csv.DictWriter(f, columns)
        w.writeheader()
        w.writerows(rows)


def dedupe(report: Path, tmp_path: Path, *args: str, out: str = "dedupe.csv") -> int:
    return cli.main(
        ["dedupe", str(report), *args, "--report", str(tmp_path / out), "--workers", "1", "--quiet"]
    )


def result_rows(tmp_path: Path, name: str = "dedupe.csv") -> dict[str, dict[str, str]]:
    return {r["path"]: r for r in rows_of(tmp_path / name)}


def test_report_has_content_and_perceptual_hashes(tree: Path, tmp_path: Path) -> None:
    lone = make_jpeg(tree / "e" / "lone.jpg", seed=11, size=(300, 200))
    os.link(lone, tree / "e" / "lone-link.jpg")  # a group of one inode: settled unread
    # big and same size: told apart by their samples only, one of them two names of one inode
    big = tree / "e" / "big.mov"
    big.write_bytes(b"a" * 300_000)
    (tree / "e" / "other big.mov").write_bytes(b"b" * 300_000)
    os.link(big, tree / "e" / "big-link.mov")
    rows = rows_of(find(tree, tmp_path / "dups.csv"))
    assert {r["path"] for r in rows} >= {str(lone), str(tree / "e" / "lone-link.jpg")}
    assert str(big) in {r["path"] for r in rows}
    assert rows and all(r["hash"] for r in rows)
    for r in rows:
        assert r["hash"] == hash_file(r["path"])  # the hard link's row too
        assert bool(r["phash"]) == (r["kind"] == "similar")
    assert {r["kind"] for r in rows} == {"exact", "similar"}
    # JSON too
    find(tree, tmp_path / "dups.json", "--format", "json")
    doc = json.loads((tmp_path / "dups.json").read_text())
    assert "hash" in doc["columns"] and all(item["hash"] for item in doc["rows"])


def test_quarantine_mirrors_paths_and_leaves_keepers(tree: Path, tmp_path: Path, capsys) -> None:
    report = find(tree, tmp_path / "dups.csv")
    rows = rows_of(report)
    keepers = {r["path"] for r in rows if r["keep"] == "yes"}
    dups = [r for r in rows if r["keep"] == "no"]
    q = tmp_path / "quarantine"
    assert cli.main(["dedupe", str(report), "--quarantine", str(q), "--report",
                     str(tmp_path / "dedupe.csv"), "--workers", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Space reclaimed" in out
    for path in keepers:
        assert Path(path).exists()
    for r in dups:
        moved = q / Path(r["path"]).relative_to("/")
        if "hard link" in r["reason"]:  # the keeper's own inode: nothing to reclaim
            assert Path(r["path"]).exists()
            continue
        assert not Path(r["path"]).exists()
        assert hash_file(moved) == r["hash"]
    done = result_rows(tmp_path)
    assert {r["status"] for r in done.values()} <= {"kept", "done", "left-alone"}
    with open(tmp_path / "dedupe.csv", encoding="utf-8") as f:
        assert "kind=dedupe" in f.readline()
    assert not (q / ".photoorganiser" / "dedupe-journal.jsonl").exists()  # all settled


def test_trash_freedesktop(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    report = find(tree, tmp_path / "dups.csv")
    assert dedupe(report, tmp_path, "--trash") == 0
    trash = tmp_path / "data" / "Trash"
    trashed = sorted(p.name for p in (trash / "files").iterdir())
    assert trashed == sorted(["photo copy.jpg", "photo.jpg", "scene small.jpg"])
    for name in trashed:
        info = (trash / "info" / f"{name}.trashinfo").read_text()
        assert info.startswith("[Trash Info]\nPath=/") and "DeletionDate=" in info
    assert "scene%20small.jpg" in (trash / "info" / "scene small.jpg.trashinfo").read_text()
    assert (tree / "a" / "photo.jpg").exists() and (tree / "a" / "scene.jpg").exists()


def test_hardlink_exact_only(tree: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    report = find(tree, tmp_path / "dups.csv")
    keeper = tree / "a" / "photo.jpg"
    before = keeper.read_bytes(), keeper.stat().st_mtime_ns
    assert dedupe(report, tmp_path, "--hardlink") == 0
    ino = keeper.stat().st_ino
    for p in (tree / "b" / "photo copy.jpg", tree / "c" / "photo.jpg"):
        assert p.stat().st_ino == ino
    assert (keeper.read_bytes(), keeper.stat().st_mtime_ns) == before
    assert (tree / "d" / "scene small.jpg").stat().st_nlink == 1  # near: refused
    done = result_rows(tmp_path)
    assert done[str(tree / "d" / "scene small.jpg")]["status"] == "left-alone"
    assert "near duplicate" in done[str(tree / "d" / "scene small.jpg")]["reason"]
    assert not [p for p in tree.rglob(".*po-tmp*")]


def test_delete_needs_yes_and_exact_only(tree: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    report = find(tree, tmp_path / "dups.csv")
    before = snapshot(tree)
    assert dedupe(report, tmp_path, "--delete") == 2
    assert snapshot(tree) == before
    assert dedupe(report, tmp_path, "--delete", "--yes") == 0
    assert not (tree / "b" / "photo copy.jpg").exists()
    assert not (tree / "c" / "photo.jpg").exists()
    assert (tree / "a" / "photo.jpg").exists()
    assert (tree / "d" / "scene small.jpg").exists()


def test_edited_report_is_obeyed(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    rows = rows_of(report)
    exact = [r for r in rows if r["kind"] == "exact"]
    new_keeper = str(tree / "c" / "photo.jpg")
    for r in exact:
        r["keep"] = "yes" if r["path"] == new_keeper else "no"
    rows = [r for r in rows if r["path"] != str(tree / "b" / "photo copy.jpg")]  # left alone
    rows = [r for r in rows if r["kind"] != "similar"]
    write_rows(report, rows)
    q = tmp_path / "q"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    assert (tree / "c" / "photo.jpg").exists()
    assert (tree / "b" / "photo copy.jpg").exists()  # its row was deleted
    assert not (tree / "a" / "photo.jpg").exists()
    assert (q / str(tree / "a" / "photo.jpg").lstrip("/")).exists()
    assert (tree / "d" / "scene small.jpg").exists()


def test_changed_file_is_left_alone(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    changed = tree / "b" / "photo copy.jpg"
    changed.write_bytes(changed.read_bytes() + b"edited")
    q = tmp_path / "q"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    assert changed.exists()
    row = result_rows(tmp_path)[str(changed)]
    assert row["status"] == "left-alone" and "changed since" in row["reason"]
    assert not (tree / "c" / "photo.jpg").exists()  # the others were acted on


def test_changed_keeper_leaves_its_duplicates(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    keeper = tree / "a" / "photo.jpg"
    os.unlink(tree / "a" / "photo-link.jpg")
    keeper.write_bytes(b"not the photo any more")
    assert dedupe(report, tmp_path, "--quarantine", str(tmp_path / "q")) == 0
    assert (tree / "b" / "photo copy.jpg").exists() and (tree / "c" / "photo.jpg").exists()
    assert "keeper" in result_rows(tmp_path)[str(tree / "c" / "photo.jpg")]["reason"]


def test_refusals_touch_nothing(tree: Path, tmp_path: Path, capsys) -> None:
    report = find(tree, tmp_path / "dups.csv")
    before = snapshot(tree)
    q = tmp_path / "q"
    # a report of another kind
    other = tmp_path / "import.csv"
    with open(other, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([ReportHeader("import").cells(), ["source", "action"]])
    assert dedupe(other, tmp_path, "--quarantine", str(q)) == 2
    assert "not a find-duplicates report" in capsys.readouterr().err
    # no keeper left
    rows = rows_of(report)
    for r in rows:
        if r["kind"] == "exact":
            r["keep"] = "no"
    write_rows(report, rows)
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 2
    assert "no file left with keep=yes" in capsys.readouterr().err
    # a report made before the hash column
    old = tmp_path / "old.csv"
    with open(tmp_path / "dups.csv", encoding="utf-8") as f:
        first = f.readline()
    cols = [c for c in rows[0] if c not in ("hash", "phash")]
    with open(old, "w", newline="", encoding="utf-8") as f:
        f.write(first)
        w = csv.DictWriter(f, cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    assert dedupe(old, tmp_path, "--quarantine", str(q)) == 2
    err = capsys.readouterr().err
    assert "no hash column" in err and len(err.strip().splitlines()) == 1
    assert snapshot(tree) == before
    assert not q.exists()


def test_dryrun_changes_nothing(tree: Path, tmp_path: Path, capsys) -> None:
    report = find(tree, tmp_path / "dups.csv")
    before = snapshot(tree)
    q = tmp_path / "q"
    assert cli.main(["dedupe", str(report), "--quarantine", str(q), "--dryrun", "--report",
                     str(tmp_path / "dedupe.csv"), "--workers", "1"]) == 0  # fmt: skip
    assert "would be reclaimed" in capsys.readouterr().out
    assert snapshot(tree) == before and not q.exists()
    statuses = {r["status"] for r in result_rows(tmp_path).values()}
    assert "planned" in statuses and "done" not in statuses


def test_reference_and_keep_copies(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    q = tmp_path / "q"
    assert dedupe(report, tmp_path, "--quarantine", str(q), "--reference", str(tree / "c"),
                  "--keep-copies", "2") == 0  # fmt: skip
    done = result_rows(tmp_path)
    assert (tree / "c" / "photo.jpg").exists()
    assert "--reference" in done[str(tree / "c" / "photo.jpg")]["reason"]
    # keeper + the reference copy are two copies already: the copy in b/ goes
    assert not (tree / "b" / "photo copy.jpg").exists()
    # near group: one keeper, so --keep-copies 2 leaves the look-alike
    assert (tree / "d" / "scene small.jpg").exists()
    assert "--keep-copies 2" in done[str(tree / "d" / "scene small.jpg")]["reason"]


def test_keep_copies_prefers_other_folders(tmp_path: Path) -> None:
    root = tmp_path / "in"
    a = make_jpeg(root / "a" / "x.jpg", seed=1)
    for where in ("a/x copy.jpg", "b/x.jpg", "a/x copy 2.jpg"):
        (root / where).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(a, root / where)
    report = find(root, tmp_path / "dups.csv")
    keeper = next(r["path"] for r in rows_of(report) if r["keep"] == "yes")
    assert dedupe(report, tmp_path, "--quarantine", str(tmp_path / "q"), "--keep-copies", "2") == 0
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))
    assert len(left) == 2 and "b/x.jpg" in left and Path(keeper).exists()


def test_same_folder(tmp_path: Path) -> None:
    root = tmp_path / "in"
    a = make_jpeg(root / "a" / "x.jpg", seed=1)
    shutil.copy2(a, root / "a" / "x (1).jpg")
    (root / "b").mkdir()
    shutil.copy2(a, root / "b" / "x.jpg")
    report = find(root, tmp_path / "dups.csv")
    assert dedupe(report, tmp_path, "--quarantine", str(tmp_path / "q"), "--same-folder") == 0
    assert (root / "b" / "x.jpg").exists() and (root / "a" / "x.jpg").exists()
    assert not (root / "a" / "x (1).jpg").exists()


def test_rerun_finds_nothing_more_to_do(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    q = tmp_path / "q"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    quarantined = snapshot(q)
    assert dedupe(report, tmp_path, "--quarantine", str(q), out="again.csv") == 0
    assert snapshot(q) == quarantined
    assert {r["status"] for r in result_rows(tmp_path, "again.csv").values()} <= {
        "kept", "done", "left-alone"
    }  # fmt: skip


def kill_when(proc: subprocess.Popen, folder: Path, count: int) -> None:
    """kill -9 the run once `folder` holds `count` photos; it must not have ended before."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if folder.exists() and sum(1 for _ in folder.rglob("*.jpg")) >= count:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished


@pytest.mark.kill
def test_kill_during_quarantine_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "in"
    first = make_jpeg(root / "keep" / "k0.jpg", seed=1, size=(200, 150))
    for i in range(400):
        folder = root / f"f{i % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(first, folder / f"copy{i}.jpg")
    contents = {hash_file(first)}
    report = find(root, tmp_path / "dups.csv", "--prefer", str(root / "keep"))
    q = tmp_path / "q"
    command = [sys.executable, "-m", "photoorganiser", "dedupe", str(report),
               "--quarantine", str(q), "--report", str(tmp_path / "killed.csv"),
               "--workers", "1", "--quiet"]  # fmt: skip
    kill_when(subprocess.Popen(command, cwd=tmp_path), q, 20)
    assert 0 < sum(1 for _ in q.rglob("*.jpg")) < 400
    assert dedupe(report, tmp_path, "--quarantine", str(q), out="rerun.csv") == 0
    originals = list(root.rglob("*.jpg"))
    moved = [p for p in q.rglob("*.jpg")]
    assert [p.name for p in originals] == ["k0.jpg"]
    assert len(moved) == 400  # nothing lost, nothing twice
    assert {hash_file(p) for p in moved} == contents
    assert not [p for p in (*q.rglob(".*"), *root.rglob(".*")) if "po-tmp" in p.name]
    # two runs now (the killed one, the one that finished it): undo says the other is left
    capsys.readouterr()
    assert cli.main(["undo", "--quarantine", str(q), "--report", str(tmp_path / "u.csv")]) == 0
    out = capsys.readouterr().out
    assert "is not undone; undo it too with `photoorganiser undo`" in out, out


@pytest.mark.kill
@pytest.mark.parametrize("how", ["--quarantine", "--trash"])
def test_undo_straight_after_a_kill_brings_back_every_file_and_sidecar(
    tmp_path: Path, how: str
) -> None:
    """A dedupe killed mid-batch (photos with sidecars the keeper has too), then `undo` at
    once: the killed run's carried-out intents are logged first, so every photo and every
    sidecar comes back byte for byte, the batch in flight too."""
    root = tmp_path / "in"
    first = make_jpeg(root / "keep" / "k0.jpg", seed=1, size=(200, 150))
    (root / "keep" / "k0.xmp").write_text("<x:xmpmeta>caption</x:xmpmeta>")
    for i in range(300):
        folder = root / f"f{i % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(first, folder / f"copy{i}.jpg")
        if i % 2:
            (folder / f"copy{i}.jpg.xmp").write_text("<x:xmpmeta>caption</x:xmpmeta>")
    before = snapshot(root)
    report = find(root, tmp_path / "dups.csv", "--prefer", str(root / "keep"))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    where = tmp_path / "q" if how == "--quarantine" else tmp_path / "data" / "Trash"
    args = [how, str(where)] if how == "--quarantine" else [how, "--journal", str(tmp_path / "j")]
    command = [sys.executable, "-m", "photoorganiser", "dedupe", str(report), *args,
               "--report", str(tmp_path / "killed.csv"), "--workers", "1", "--quiet"]  # fmt: skip
    kill_when(subprocess.Popen(command, cwd=tmp_path, env=env), where, 70)
    assert snapshot(root) != before
    folder = ["--quarantine", str(where)] if how == "--quarantine" else args[1:]
    result = subprocess.run(
        [sys.executable, "-m", "photoorganiser", "undo", *folder, "--report",
         str(tmp_path / "u.csv"), "--quiet"], cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0
    assert snapshot(root) == before
    assert not [p for p in root.rglob(".*") if "po-tmp" in p.name]


def test_json_report_edited(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.json", "--format", "json")
    doc = json.loads(report.read_text())
    doc["rows"] = [r for r in doc["rows"] if r["kind"] == "similar"]
    for r in doc["rows"]:  # keep the small one instead
        r["keep"] = r["path"].endswith("scene small.jpg")
    report.write_text(json.dumps(doc))
    q = tmp_path / "q"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    assert not (tree / "a" / "scene.jpg").exists()
    assert (q / str(tree / "a" / "scene.jpg").lstrip("/")).exists()
    assert (tree / "d" / "scene small.jpg").exists()
    assert (tree / "b" / "photo copy.jpg").exists()  # its rows were deleted


def test_library_files_are_never_touched(tree: Path, tmp_path: Path) -> None:
    from photoorganiser.library.catalog import catalog_path

    report = find(tree, tmp_path / "dups.csv")
    catalog = catalog_path(tree / "c")
    catalog.parent.mkdir(parents=True)
    catalog.write_bytes(b"")  # c/ is a library
    assert dedupe(report, tmp_path, "--quarantine", str(tmp_path / "q")) == 0
    assert (tree / "c" / "photo.jpg").exists()
    assert "in the library" in result_rows(tmp_path)[str(tree / "c" / "photo.jpg")]["reason"]
    assert not (tree / "b" / "photo copy.jpg").exists()


def test_relative_and_linked_paths_are_left_alone(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    rows = [r for r in rows_of(report) if r["kind"] == "exact"]
    (tmp_path / "via").symlink_to(tree / "b")
    for r in rows:
        if r["path"].endswith("photo copy.jpg"):
            r["path"] = str(tmp_path / "via" / "photo copy.jpg")
        elif r["path"] == str(tree / "c" / "photo.jpg"):
            r["path"] = "in/c/photo.jpg"
    write_rows(report, rows)
    assert dedupe(report, tmp_path, "--quarantine", str(tmp_path / "q")) == 0
    done = result_rows(tmp_path)
    assert "symbolic link" in done[str(tmp_path / "via" / "photo copy.jpg")]["reason"]
    assert "not an absolute path" in done["in/c/photo.jpg"]["reason"]
    assert (tree / "b" / "photo copy.jpg").exists() and (tree / "c" / "photo.jpg").exists()


@pytest.mark.kill
def test_kill_during_hardlink_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "in"
    first = make_jpeg(root / "keep" / "k0.jpg", seed=1, size=(200, 150))
    names = []
    for i in range(400):
        folder = root / f"f{i % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        names.append(folder / f"copy{i}.jpg")
        shutil.copy2(first, names[-1])
    content = hash_file(first)
    report = find(root, tmp_path / "dups.csv", "--prefer", str(root / "keep"))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    command = [sys.executable, "-m", "photoorganiser", "dedupe", str(report), "--hardlink",
               "--report", str(tmp_path / "killed.csv"), "--workers", "1", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=tmp_path, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and first.stat().st_nlink < 20:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert 1 < first.stat().st_nlink < 401
    for name in names:  # every name holds the photo, linked or not yet
        assert hash_file(name) == content
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the killed run's journal
    code = cli.main(["dedupe", str(report), "--hardlink", "--report", str(tmp_path / "rerun.csv"),
                     "--workers", "1", "--quiet"])  # fmt: skip
    assert code == 0
    assert first.stat().st_nlink == 401
    assert all(hash_file(n) == content for n in names)
    assert not [p for p in root.rglob(".*") if "po-tmp" in p.name]


def test_killed_runs_temporaries_are_removed(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    q = tmp_path / "q"
    victim = tree / "b" / "photo copy.jpg"
    dest = q / str(victim).lstrip("/")
    dest.parent.mkdir(parents=True)
    leftover = dest.parent / f".{dest.name}.po-tmp-123-abcd"  # a copy a kill cut short
    leftover.write_bytes(b"half a copy")
    (q / ".photoorganiser").mkdir()
    entry = {"id": 1, "state": "intent", "action": "quarantine", "path": str(victim),
             "destination": str(dest)}  # fmt: skip
    (q / ".photoorganiser" / "dedupe-journal.jsonl").write_text(json.dumps(entry) + "\n")
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    assert not leftover.exists()
    assert hash_file(dest) == hash_file(tree / "a" / "photo.jpg")


# --- dedupe -> undo ----------------------------------------------------------------------


def undo(*args: str) -> int:
    return cli.main(["undo", *args, "--quiet"])


def inodes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_ino for p in root.rglob("*") if p.is_file()}


def test_undo_of_a_quarantine_puts_every_file_back(tree: Path, tmp_path: Path) -> None:
    before = snapshot(tree)
    report = find(tree, tmp_path / "dups.csv")
    q = tmp_path / "quarantine"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    assert snapshot(tree) != before
    report_dir = ["--report-dir", str(tmp_path / "r")]
    assert undo("--quarantine", str(q), "--dryrun", *report_dir) == 0
    assert snapshot(tree) != before  # a dry run changes nothing
    assert undo("--quarantine", str(q), *report_dir) == 0
    assert snapshot(tree) == before  # every file back, byte for byte
    quarantined = [p for p in q.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts]
    assert not quarantined
    assert undo("--quarantine", str(q), *report_dir) == 0  # undoing the undo redoes it
    again = [p for p in q.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts]
    assert again and snapshot(tree) != before
    assert undo("--quarantine", str(q), *report_dir) == 0  # and undoing that puts them back
    assert snapshot(tree) == before


def test_undo_of_a_hardlink_dedupe_gives_each_file_its_own_copy(tree: Path, tmp_path: Path) -> None:
    """Each duplicate gets its own copy back, with its own modification time and
    permission bits (not its keeper's, which the link shared)."""
    (tree / "b" / "photo copy.jpg").chmod(0o640)
    os.utime(tree / "b" / "photo copy.jpg", ns=(1_500_000_000 * 10**9, 1_433_548_800 * 10**9))
    before = snapshot(tree)
    own = {p: (p.stat().st_mtime_ns, p.stat().st_mode) for p in tree.rglob("*.jpg")}
    report = find(tree, tmp_path / "dups.csv")
    journal = tmp_path / "journal"
    assert dedupe(report, tmp_path, "--hardlink", "--journal", str(journal)) == 0
    linked = inodes(tree)
    shared = [p for p, i in linked.items() if list(linked.values()).count(i) > 1]
    assert len(shared) >= 3  # the duplicates are links to their keeper now
    assert undo("--journal", str(journal), "--report-dir", str(tmp_path / "r")) == 0
    assert snapshot(tree) == before
    after = inodes(tree)
    assert len(set(after.values())) >= len(after) - 1  # separate files again (one link was there)
    assert {p: (p.stat().st_mtime_ns, p.stat().st_mode) for p in tree.rglob("*.jpg")} == own


def test_undo_never_overwrites_a_place_taken_since(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    q = tmp_path / "quarantine"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    moved = [r["path"] for r in rows_of(tmp_path / "dedupe.csv") if r["status"] == "done"]
    Path(moved[0]).write_bytes(b"a new file took this name")
    assert undo("--quarantine", str(q), "--report", str(tmp_path / "u.csv")) == 1
    assert Path(moved[0]).read_bytes() == b"a new file took this name"
    got = {r["path"]: r for r in rows_of(tmp_path / "u.csv")}
    assert got[moved[0]]["status"] == "failed" and "taken" in got[moved[0]]["reason"]
    assert all(Path(p).exists() for p in moved[1:])


def test_undo_of_a_trash_dedupe_restores_from_the_trash(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    before = snapshot(tree)
    report = find(tree, tmp_path / "dups.csv")
    assert dedupe(report, tmp_path, "--trash") == 0
    trash = tmp_path / "data" / "Trash"
    assert list((trash / "files").iterdir()) and list((trash / "info").iterdir())
    assert undo("--journal", "--report-dir", str(tmp_path / "r")) == 0  # the default journal
    assert snapshot(tree) == before
    assert not list((trash / "files").iterdir()) and not list((trash / "info").iterdir())


def test_undo_of_a_delete_copies_each_back_from_its_keeper(tree: Path, tmp_path: Path) -> None:
    """A deleted exact duplicate comes back from its keeper (same bytes, checked), with
    its own modification time and permission bits; undoing the undo deletes it again;
    and once the keeper holds other content, the undo says it cannot be brought back."""
    (tree / "b" / "photo copy.jpg").chmod(0o640)
    before = snapshot(tree)
    times = {p: (p.stat().st_mtime_ns, p.stat().st_mode) for p in tree.rglob("*.jpg")}
    report = find(tree, tmp_path / "dups.csv")
    journal = tmp_path / "journal"
    assert dedupe(report, tmp_path, "--delete", "--yes", "--journal", str(journal)) == 0
    deleted = [r["path"] for r in rows_of(tmp_path / "dedupe.csv") if r["status"] == "done"]
    assert deleted and not any(Path(p).exists() for p in deleted)
    assert undo("--journal", str(journal), "--report", str(tmp_path / "u.csv")) == 0
    got = rows_of(tmp_path / "u.csv")
    assert {r["path"] for r in got} == set(deleted)
    assert {(r["status"], r["reason"]) for r in got} == {("done", "copied back from its keeper")}
    assert snapshot(tree) == before
    assert all(
        (Path(p).stat().st_mtime_ns, Path(p).stat().st_mode) == times[Path(p)] for p in deleted
    )
    # undoing the undo deletes them again, with the same checks
    assert undo("--journal", str(journal), "--report", str(tmp_path / "r.csv")) == 0
    assert not any(Path(p).exists() for p in deleted)
    # the keeper changed: nothing to copy back from
    keepers = {r["keeper"] for r in rows_of(tmp_path / "dedupe.csv") if r["status"] == "done"}
    for k in keepers:
        Path(k).write_bytes(b"other content")
    assert undo("--journal", str(journal), "--report", str(tmp_path / "u2.csv")) == 1
    got = rows_of(tmp_path / "u2.csv")
    assert all("cannot be brought back" in r["reason"] for r in got)
    assert not any(Path(p).exists() for p in deleted)


def test_reflink_shares_blocks_where_it_can_and_touches_nothing_where_it_cannot(
    tree: Path, tmp_path: Path
) -> None:
    before = snapshot(tree)
    report = find(tree, tmp_path / "dups.csv")
    code = dedupe(report, tmp_path, "--reflink")
    got = rows_of(tmp_path / "dedupe.csv")
    acted = [r for r in got if r["action"] == "reflink"]
    assert acted  # the exact duplicates were tried
    if all(r["status"] == "done" for r in acted):  # btrfs, XFS: same bytes, separate files
        assert code == 0
        for r in acted:
            assert Path(r["path"]).stat().st_ino != Path(r["keeper"]).stat().st_ino
    else:  # ext4, tmpfs: refused file by file, nothing changed
        assert code == 1
        assert all("no reflinks" in r["reason"] for r in acted if r["status"] == "failed")
    assert snapshot(tree) == before  # every name still holds its bytes
    assert not [p for p in tree.rglob("*") if "po-tmp" in p.name]
    near = [r for r in got if r["kind"] == "similar" and r["status"] == "left-alone"]
    assert near and all("not --reflink" in r["reason"] for r in near)


def test_an_undo_stopped_half_way_is_finished_by_running_it_again(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photoorganiser.runs import undo_dedupe

    before = snapshot(tree)
    report = find(tree, tmp_path / "dups.csv")
    q = tmp_path / "quarantine"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    real, calls = undo_dedupe.move_aside, []

    def killed_after_the_first(*args, **kwargs):
        if calls:
            raise SystemExit(137)  # the process dies here (the undo's end is never logged)
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(undo_dedupe, "move_aside", killed_after_the_first)
    with pytest.raises(SystemExit):
        undo("--quarantine", str(q), "--report-dir", str(tmp_path / "r"))
    monkeypatch.setattr(undo_dedupe, "move_aside", real)
    assert undo("--quarantine", str(q), "--report", str(tmp_path / "again.csv")) == 0
    assert snapshot(tree) == before
    assert "already back" in {r["reason"] for r in rows_of(tmp_path / "again.csv")}


def test_undoing_the_undo_of_a_hardlink_dedupe_links_them_again(tree: Path, tmp_path: Path) -> None:
    report = find(tree, tmp_path / "dups.csv")
    journal = tmp_path / "journal"
    assert dedupe(report, tmp_path, "--hardlink", "--journal", str(journal)) == 0
    linked = len(set(inodes(tree).values()))
    assert undo("--journal", str(journal), "--report-dir", str(tmp_path / "r")) == 0
    assert len(set(inodes(tree).values())) > linked  # separate copies
    assert undo("--journal", str(journal), "--report-dir", str(tmp_path / "r")) == 0
    assert len(set(inodes(tree).values())) == linked  # linked again


def sidecar_tree(root: Path) -> dict[str, Path]:
    """a/IMG_1.JPG with IMG_1.xmp (the keeper: it has a sidecar); b/IMG_1.JPG whose
    IMG_1.JPG.XMP holds the same bytes as the keeper's; c/IMG_1.JPG beside c/IMG_1.CR2,
    sharing c/IMG_1.xmp with the raw; d/IMG_1.JPG with no sidecar."""
    xmp = "<x:xmpmeta>rating 5, caption: grandma</x:xmpmeta>"
    a = make_jpeg(root / "a" / "IMG_1.JPG", seed=1)
    (root / "a" / "IMG_1.xmp").write_text(xmp)
    for folder in "bcd":
        (root / folder).mkdir()
        shutil.copy2(a, root / folder / "IMG_1.JPG")
    (root / "b" / "IMG_1.JPG.XMP").write_text(xmp)
    (root / "c" / "IMG_1.CR2").write_bytes(b"II*\x00 raw of another shot")
    (root / "c" / "IMG_1.xmp").write_text("<x:xmpmeta>the raw's edits</x:xmpmeta>")
    return {f: root / f / "IMG_1.JPG" for f in "abcd"}


@pytest.mark.parametrize("how", [["--quarantine", "Q"], ["--trash"], ["--delete", "--yes"]])
def test_a_sidecar_the_keeper_has_too_goes_with_its_duplicate_and_comes_back_with_undo(
    tmp_path: Path, how: list[str]
) -> None:
    """A duplicate whose sidecar holds the same bytes as one beside its keeper (any form of
    the name) goes with it, journalled and logged: the keeper keeps the edits. A sidecar
    the file shares with another file beside it (IMG_1.xmp of IMG_1.CR2) stays, said.
    Undo brings every one back, byte for byte, a deleted one from the keeper's twin."""
    root = tmp_path / "in"
    photos = sidecar_tree(root)
    before = snapshot(root)
    report = find(root, tmp_path / "dups.csv")
    keepers = [r["path"] for r in rows_of(report) if r["keep"] == "yes"]
    assert keepers == [str(photos["a"])]
    args = [a.replace("Q", str(tmp_path / "q")) for a in how]
    journal = ["--journal", str(tmp_path / "j")] if how[0] != "--quarantine" else []
    assert dedupe(report, tmp_path, *args, *journal, "--dryrun", out="plan.csv") == 0
    assert snapshot(root) == before
    assert dedupe(report, tmp_path, *args, *journal) == 0
    done = result_rows(tmp_path)
    plan = result_rows(tmp_path, "plan.csv")
    b, c, d = (str(photos[f]) for f in "bcd")
    assert {done[p]["status"] for p in (b, c, d)} == {"done"}
    assert (
        done[b]["reason"] == "with its sidecar IMG_1.JPG.XMP (its keeper has the same: IMG_1.xmp)"
    )
    assert plan[b]["reason"] == done[b]["reason"] and plan[b]["status"] == "planned"
    assert done[c]["reason"] == "its sidecar IMG_1.xmp stays with IMG_1.CR2"
    left = snapshot(root)
    assert sorted(left) == [
        "a/IMG_1.JPG", "a/IMG_1.xmp", "c/IMG_1.CR2", "c/IMG_1.xmp"
    ]  # fmt: skip
    if how[0] == "--quarantine":
        q = tmp_path / "q"
        assert (q / (root / "b" / "IMG_1.JPG.XMP").relative_to("/")).read_bytes() == before[
            "b/IMG_1.JPG.XMP"
        ]
    where = ["--quarantine", str(tmp_path / "q")] if how[0] == "--quarantine" else journal
    assert undo(*where, "--report", str(tmp_path / "u.csv")) == 0
    assert snapshot(root) == before
    undone = {r["path"]: r for r in rows_of(tmp_path / "u.csv")}
    assert undone[str(root / "b" / "IMG_1.JPG.XMP")]["status"] == "done"


def test_a_sidecar_of_a_near_duplicate_or_a_lone_picture_goes_with_it(tmp_path: Path) -> None:
    """A near duplicate's sidecar, or a blank picture's, describes that picture: quarantined,
    it goes along (not left without its photo), and undo brings both back."""
    from PIL import Image

    root = tmp_path / "in"
    make_jpeg(root / "a" / "scene.jpg", seed=7, size=(160, 120), quality=95)
    make_jpeg(root / "d" / "scene small.jpg", seed=7, size=(160, 120), quality=60)
    (root / "d" / "scene small.xmp").write_text("<x:xmpmeta>the small one's caption</x:xmpmeta>")
    (root / "e").mkdir()
    Image.new("RGB", (640, 480), (0, 0, 0)).save(root / "e" / "black.jpg")
    (root / "e" / "black.jpg.json").write_text('{"title": "black.jpg"}')
    before = snapshot(root)
    report = find(root, tmp_path / "dups.csv", "--blanks")
    rows = rows_of(report)
    assert {r["kind"] for r in rows if r["keep"] == "no"} == {"similar", "blank"}
    q = tmp_path / "q"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    done = result_rows(tmp_path)
    small, black = str(root / "d" / "scene small.jpg"), str(root / "e" / "black.jpg")
    assert done[small]["status"] == done[black]["status"] == "done"
    assert done[small]["reason"] == "with its sidecar scene small.xmp"
    assert done[black]["reason"] == "with its sidecar black.jpg.json"
    assert sorted(snapshot(root)) == ["a/scene.jpg"]
    assert (q / (root / "e" / "black.jpg.json").relative_to("/")).exists()
    assert undo("--quarantine", str(q), "--report", str(tmp_path / "u.csv")) == 0
    assert snapshot(root) == before


def test_a_sidecar_taken_along_is_put_back_when_its_photo_cannot_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sidecars go first; when the photo's own move then fails, they are put back and
    the photo is left alone, saying why: never a photo parted from its sidecar."""
    from photoorganiser.importing.execute import TransferError
    from photoorganiser.runs import dedupe as dedupe_module

    root = tmp_path / "in"
    photos = sidecar_tree(root)
    before = snapshot(root)
    report = find(root, tmp_path / "dups.csv")
    real = dedupe_module.move_aside

    def photo_fails(src, dst, *args, **kwargs):
        if Path(src) == photos["b"]:
            raise TransferError("the disk is full")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(dedupe_module, "move_aside", photo_fails)
    assert dedupe(report, tmp_path, "--quarantine", str(tmp_path / "q")) == 1
    row = result_rows(tmp_path)[str(photos["b"])]
    assert row["status"] == "failed"
    assert row["reason"] == "the disk is full; its sidecars were put back"
    assert (root / "b" / "IMG_1.JPG.XMP").read_bytes() == before["b/IMG_1.JPG.XMP"]
    assert photos["b"].read_bytes() == before["b/IMG_1.JPG"]


@pytest.mark.parametrize("how", [["--quarantine", "Q"], ["--trash"], ["--delete", "--yes"]])
def test_a_duplicate_with_its_own_sidecar_is_left_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: list[str]
) -> None:
    """Two copies of a photo, each with an XMP of its own (different edits), a third with
    none: the keeper stays; the copy without a sidecar is acted on; the copy whose sidecar
    would be left without its photo is left alone, saying so (any case of the name); a
    hard link leaves the same content under the name, so its sidecar is not in the way."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    root = tmp_path / "in"
    a = make_jpeg(root / "a" / "IMG_1.JPG", seed=1)
    (root / "a" / "IMG_1.xmp").write_text("<x:xmpmeta>rating 5</x:xmpmeta>")
    (root / "b").mkdir()
    shutil.copy2(a, root / "b" / "IMG_1.JPG")
    (root / "b" / "IMG_1.JPG.XMP").write_text("<x:xmpmeta>crop, caption</x:xmpmeta>")
    (root / "c").mkdir()
    shutil.copy2(a, root / "c" / "IMG_1.JPG")
    report = find(root, tmp_path / "dups.csv")
    rows = [r for r in rows_of(report) if r["path"].endswith(".JPG")]
    keepers = [r["path"] for r in rows if r["keep"] == "yes"]
    assert len(rows) == 3 and len(keepers) == 1 and "/c/" not in keepers[0]
    args = [a.replace("Q", str(tmp_path / "q")) for a in how]
    assert dedupe(report, tmp_path, *args) == 0
    done = result_rows(tmp_path)
    other = next(r["path"] for r in rows if r["keep"] == "no" and "/c/" not in r["path"])
    assert done[other]["status"] == "left-alone"
    assert "sidecar" in done[other]["reason"] and Path(other).exists()
    assert done[str(root / "c" / "IMG_1.JPG")]["status"] == "done"
    assert not (root / "c" / "IMG_1.JPG").exists()
    assert (root / "a" / "IMG_1.xmp").exists() and (root / "b" / "IMG_1.JPG.XMP").exists()
    if how[0] == "--quarantine":  # a hard link keeps the name: its sidecar still fits
        report = find(root, tmp_path / "dups2.csv")
        assert dedupe(report, tmp_path, "--hardlink", out="link.csv") == 0
        linked = result_rows(tmp_path, "link.csv")[other]
        assert linked["status"] == "done", linked
        assert os.stat(other).st_nlink == 2


@pytest.mark.parametrize("how", [["--quarantine", "Q"], ["--trash"], ["--delete", "--yes"]])
def test_sidecars_to_keeper_moves_the_edits_beside_a_keeper_that_has_none(
    tmp_path: Path, how: list[str]
) -> None:
    """The keeper is the copy without a copy marker, the copy holds the edits: with
    --sidecars-to-keeper its XMP (in its own form) moves beside the keeper under the
    keeper's name, and the copy goes; a copy whose keeper already has an XMP of its own is
    left alone (merging two is the person's). Undo puts everything back as it was."""
    root = tmp_path / "in"
    a = make_jpeg(root / "a" / "IMG_1.JPG", seed=1)
    (root / "b").mkdir()
    shutil.copy2(a, root / "b" / "IMG_1 (1).JPG")
    (root / "b" / "IMG_1 (1).JPG.xmp").write_text("<x:xmpmeta>crop, caption</x:xmpmeta>")
    c = make_jpeg(root / "c" / "IMG_2.JPG", seed=2)
    (root / "c" / "IMG_2.xmp").write_text("<x:xmpmeta>rating 3</x:xmpmeta>")
    (root / "d").mkdir()
    shutil.copy2(c, root / "d" / "IMG_2 copy.JPG")
    (root / "d" / "IMG_2 copy.xmp").write_text("<x:xmpmeta>rating 5</x:xmpmeta>")
    before = snapshot(root)
    report = find(root, tmp_path / "dups.csv")
    keepers = sorted(Path(r["path"]).name for r in rows_of(report) if r["keep"] == "yes")
    assert keepers == ["IMG_1.JPG", "IMG_2.JPG"]
    args = [a.replace("Q", str(tmp_path / "q")) for a in how]
    journal = ["--journal", str(tmp_path / "j")] if how[0] != "--quarantine" else []
    assert dedupe(report, tmp_path, *args, *journal, "--sidecars-to-keeper") == 0
    done = result_rows(tmp_path)
    copy1, copy2 = str(root / "b" / "IMG_1 (1).JPG"), str(root / "d" / "IMG_2 copy.JPG")
    assert done[copy1]["status"] == "done"
    assert done[copy1]["reason"] == (
        "its sidecar IMG_1 (1).JPG.xmp moved beside its keeper as IMG_1.JPG.xmp"
    )
    assert (root / "a" / "IMG_1.JPG.xmp").read_bytes() == before["b/IMG_1 (1).JPG.xmp"]
    assert done[copy2]["status"] == "left-alone" and "merging the two" in done[copy2]["reason"]
    assert sorted(snapshot(root)) == [
        "a/IMG_1.JPG", "a/IMG_1.JPG.xmp", "c/IMG_2.JPG", "c/IMG_2.xmp",
        "d/IMG_2 copy.JPG", "d/IMG_2 copy.xmp",
    ]  # fmt: skip
    where = ["--quarantine", str(tmp_path / "q")] if how[0] == "--quarantine" else journal
    assert undo(*where, "--report", str(tmp_path / "u.csv")) == 0
    assert snapshot(root) == before


def test_a_dedupe_while_another_holds_its_journal_exits_75(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two dedupes into one quarantine at once: the second says so in one line and exits
    75 (busy, try later), as a busy library does, not 2 (a mistake); undo alike."""
    import fcntl

    report = find(tree, tmp_path / "dups.csv")
    q = tmp_path / "q"
    (q / ".photoorganiser").mkdir(parents=True)
    before = snapshot(tree)
    with open(q / ".photoorganiser" / "dedupe.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        capsys.readouterr()
        assert dedupe(report, tmp_path, "--quarantine", str(q)) == 75
        assert undo("--quarantine", str(q)) == 75
        err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("another dedupe run holds" in line for line in err)
    assert snapshot(tree) == before


def test_what_a_trashing_killed_half_way_left_in_the_trash_is_tidied(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `dedupe --trash` killed while copying to the trash on another disk left: a
    temporary file in the trash, an info file whose file never came, and a whole verified
    copy with its info while the original is still in place (the move not finished). The
    next run tidies all three and trashes the file once; undo brings it back and leaves
    nothing of it in the trash."""
    import json as jsonlib
    from urllib.parse import quote

    from photoorganiser.library.journal import TEMP_MARK

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    report = find(tree, tmp_path / "dups.csv")
    dup = next(Path(r["path"]) for r in rows_of(report) if r["path"].endswith("photo copy.jpg"))
    keeper = next(
        Path(r["path"]) for r in rows_of(report) if r["keep"] == "yes" and r["kind"] == "exact"
    )
    data, st = dup.read_bytes(), dup.stat()
    files, info = tmp_path / "data" / "Trash" / "files", tmp_path / "data" / "Trash" / "info"
    files.mkdir(parents=True)
    info.mkdir()
    where = f"[Trash Info]\nPath={quote(os.fsencode(dup))}\nDeletionDate=2026-01-01T00:00:00\n"
    (files / f".{dup.name}{TEMP_MARK}123-abcd").write_bytes(data[:100])  # a copy cut short
    (info / f"{dup.name}.trashinfo").write_text(where)  # its file never came
    stem, suffix = os.path.splitext(dup.name)
    (files / f"{stem}.2{suffix}").write_bytes(data)  # whole, the original not removed yet
    (info / f"{stem}.2{suffix}.trashinfo").write_text(where)
    journal = tmp_path / "j"
    journal.mkdir()
    intent = {"id": 1, "state": "intent", "run": "20260101-000000-abcdef", "how": "trash",
              "path": str(dup), "destination": "", "keeper": str(keeper),
              "hash": hash_file(dup), "size": st.st_size, "mtime_ns": st.st_mtime_ns}  # fmt: skip
    (journal / "dedupe-journal.jsonl").write_text(jsonlib.dumps(intent) + "\n")
    assert dedupe(report, tmp_path, "--trash", "--journal", str(journal)) == 0
    mine = sorted(n for n in os.listdir(files) if n.startswith((stem, f".{stem}")))
    assert len(mine) == 1 and (files / mine[0]).read_bytes() == data, mine
    assert sorted(n for n in os.listdir(info) if n.startswith(stem)) == [f"{mine[0]}.trashinfo"]
    assert not dup.exists()
    assert undo("--journal", str(journal), "--report", str(tmp_path / "u.csv")) == 0
    assert dup.read_bytes() == data
    assert not [n for n in os.listdir(files) if n.startswith((stem, f".{stem}"))]
    assert not [n for n in os.listdir(info) if n.startswith(stem)]

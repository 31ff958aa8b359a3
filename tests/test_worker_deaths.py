"""A worker process that dies on one file (a decoder's crash, the out-of-memory killer,
kill -9) costs that file, not the run: pmap's `lost`, and the commands that use it.

The workers are spawned processes: what they run is a module-level function of this
module (imported by name in each worker), never a monkeypatch of the test's process.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from hanging import no_hang
from media import make_jpeg
from PIL import Image
from test_similar import save, scene

from photoorganiser.cli import main
from photoorganiser.core import parallel
from photoorganiser.duplicates import describe as describe_module
from photoorganiser.duplicates import report as dupreport
from photoorganiser.duplicates.stage import StageContext
from photoorganiser.duplicates.values import Kind, ReadFailure
from reports import rows as report_rows

POISONED = 137  # the item that kills the worker that reads it


def _doubled_but_137_kills(x: int) -> int:
    if x == POISONED:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a kill -9 would
    return 2 * x


def _doubled_but_two_kill(x: int) -> int:
    if x == 3:
        os._exit(7)  # an exit of its own: another exit code
    if x == 150:
        os.kill(os.getpid(), signal.SIGSEGV)  # as a decoder's crash would
    return 2 * x


def _always_dies(x: int) -> int:
    os._exit(9)


def _lost(x: int, why: str) -> tuple[int, str]:
    return (x, why)


class _Counted:
    def __init__(self) -> None:
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n


def _mapped(fn, count: int = 200, **kwargs) -> tuple[list[int], dict[int, str], _Counted]:
    """pmap of `fn` over range(count) on two workers, five items a chunk: the results
    (each item once), the lost items' reasons by item, the progress."""
    counted = _Counted()
    got = no_hang(
        lambda: list(
            parallel.pmap(
                fn, range(count), workers=2, chunksize=5, progress=counted, lost=_lost, **kwargs
            )
        ),
        120,
    )
    lost = dict(r for r in got if isinstance(r, tuple))
    read = [r for r in got if not isinstance(r, tuple)]
    assert len(got) == count and len(lost) + len(read) == count
    assert not [n for n, times in Counter(read).items() if times > 1]
    assert not multiprocessing.active_children()
    return read, lost, counted


def test_a_worker_that_dies_costs_its_item_alone() -> None:
    """One item of 200 kills its worker: every item gives one result, the innocent ones
    their own (those of its chunk and of the other chunks in the pool then were read
    again, one at a time), the poisoned one `lost` with why; the progress reaches 200."""
    read, lost, counted = _mapped(_doubled_but_137_kills)
    assert sorted(read) == [2 * x for x in range(200) if x != POISONED]
    assert lost == {POISONED: "not read: the process reading it ended unexpectedly (exit code -9)"}
    assert counted.done == 200


def test_lost_items_advance_the_progress_by_their_weight() -> None:
    read, lost, counted = _mapped(_doubled_but_137_kills, weight=lambda x: x + 1)
    assert sorted(read) == [2 * x for x in range(200) if x != POISONED]
    assert list(lost) == [POISONED]
    assert counted.done == sum(x + 1 for x in range(200))


def test_two_items_that_kill_their_workers_are_both_named() -> None:
    read, lost, counted = _mapped(_doubled_but_two_kill)
    assert sorted(read) == [2 * x for x in range(200) if x not in (3, 150)]
    assert lost == {
        3: "not read: the process reading it ended unexpectedly (exit code 7)",
        150: "not read: the process reading it ended unexpectedly (exit code -11)",
    }
    assert counted.done == 200


def test_workers_that_keep_dying_stop_being_replaced() -> None:
    """Every item kills its worker: after MAX_DEATHS deaths (the first among the chunks
    in the pool, then one per item read alone) no new pool: the rest are lost at once,
    saying so, and the run ends (no hang)."""
    read, lost, counted = _mapped(_always_dies)
    assert not read and sorted(lost) == list(range(200)) and counted.done == 200
    alone = [x for x, why in lost.items() if why.endswith("ended unexpectedly (exit code 9)")]
    assert len(alone) == parallel.MAX_DEATHS - 1
    rest = {why for x, why in lost.items() if x not in alone}
    assert rest == {
        f"not read: {parallel.MAX_DEATHS} processes reading files ended unexpectedly"
        " (the last: exit code 9)"
    }


def test_without_lost_a_death_still_stops_pmap() -> None:
    with pytest.raises(parallel.WorkerDied, match="exit code -9"):
        no_hang(
            lambda: list(parallel.pmap(_doubled_but_137_kills, range(200), workers=2, chunksize=5)),
            60,
        )
    assert not multiprocessing.active_children()


# --- the commands: a file that kills the worker reading it -------------------------------

REPO = Path(__file__).resolve().parents[1]
D0 = datetime(2019, 5, 1, 12, 0, 0)

HOOK = '''"""tests/test_worker_deaths.py's poison: in a process started with this folder on its
PYTHONPATH (a pool's worker), {module}.{name} kills its process (SIGKILL, as a decoder's
crash or the OOM killer would) when its first argument names a file called *POISON*."""

import functools
import os
import signal
from importlib import import_module

module = import_module({module!r})
real = getattr(module, {name!r})


@functools.wraps(real)
def poisoned(*args, **kwargs):
    if "POISON" in str(args[0]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)


setattr(module, {name!r}, poisoned)
'''


def poison_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> None:
    """The pool workers started from now on (spawned: new interpreters, which inherit the
    environment) die reading a *POISON* file in `module.name`; this process is untouched,
    so a poisoned file read here, not in a worker, would not die and fail the test."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK.format(module=module, name=name))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), str(REPO)]))


NOT_READ = "not read: the process reading it ended unexpectedly (exit code -9)"


def test_find_duplicates_reports_a_picture_that_kills_its_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """find-duplicates --similar --blanks over 70 pictures, one of which kills the worker
    decoding it (for its perceptual hash, then for its measures): the run ends, the
    look-alikes and the blank frame among the others are found (read again after the
    deaths), and the poisoned picture is one unreadable row saying why."""
    root = tmp_path / "in"
    for i in range(66):
        save(scene(i, (120, 90)), root / f"IMG_{i:04d}.jpg")
    look = scene(100)
    save(look, root / "look.jpg")
    save(look.resize((240, 180)), root / "look-small.jpg")
    save(Image.new("RGB", (320, 240)), root / "black.jpg")
    save(scene(101), root / "IMG_0030_POISON.jpg")
    poison_workers(tmp_path, monkeypatch, "photoorganiser.duplicates.similar", "load_square")
    report = tmp_path / "r.csv"
    args = ["find-duplicates", "--input", str(root), "--report", str(report), "--quiet"]
    assert main([*args, "--similar", "--blanks", "--workers", "2"]) == 1  # (a file unreadable)
    rows = [(Path(r.path).name, r.kind, r.reason) for r in dupreport.read_report(report)]
    assert sorted((name, kind) for name, kind, _ in rows) == [
        ("IMG_0030_POISON.jpg", Kind.UNREADABLE),
        ("black.jpg", Kind.BLANK),
        ("look-small.jpg", Kind.SIMILAR),
        ("look.jpg", Kind.SIMILAR),
    ]
    assert ("IMG_0030_POISON.jpg", Kind.UNREADABLE, NOT_READ) in rows
    assert not multiprocessing.active_children()


def test_describe_reports_a_file_that_kills_its_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Describing files in the pool (as for 5000 files and more), one of which kills its
    reader: the others are described, the poisoned one is a failure saying why; both
    ways in (paths, and paths with the sizes the scan saw)."""
    monkeypatch.setattr(describe_module, "IN_PROCESS_DESCRIBE", 0)
    paths = [make_jpeg(tmp_path / f"IMG_{i:04d}.jpg", D0, seed=i) for i in range(40)]
    paths[17] = make_jpeg(tmp_path / "IMG_0017_POISON.jpg", D0, seed=17)
    poison_workers(tmp_path, monkeypatch, "photoorganiser.media.metadata", "read_media")
    for sized in (False, True):
        ctx = StageContext(workers=2)
        if sized:
            files = [(str(p), p.stat().st_size) for p in paths]
            infos = {Path(k): v for k, v in describe_module.describe_files(files, ctx).items()}
        else:
            infos = describe_module.describe(paths, ctx)
        assert sorted(infos) == sorted(p for p in paths if p != paths[17])
        assert all(i.captured is not None and i.width == 64 for i in infos.values())
        assert ctx.failures == [ReadFailure(paths[17], NOT_READ)]
    assert not multiprocessing.active_children()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of 48 imported JPEGs (all of one day), one called *POISON*: made once for
    the module (tests copy it), by an import in this process (no worker to poison)."""
    base = tmp_path_factory.mktemp("built")
    inbox = base / "inbox"
    for i in range(47):
        make_jpeg(inbox / f"IMG_{i:04d}.jpg", D0, seed=i)
    make_jpeg(inbox / "IMG_0004_POISON.jpg", D0, seed=99)
    library = base / "library"
    code = main(
        ["import", "--input", str(inbox), "--output", str(library), "--workers", "1", "--quiet"]
        + ["--report", str(base / "import.csv")]
    )
    assert code == 0
    return library


def _library(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "library"
    shutil.copytree(built, copy, symlinks=True)
    return copy


def test_export_reports_a_photo_that_kills_its_converter(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export --workers 2 of 48 photos, three a task, one of which kills the worker reading
    it: each photo has its row, the others exported (those its worker had already
    written to their temporary names too, done again over them), the poisoned one failed
    saying why."""
    library = _library(built, tmp_path)
    poison_workers(tmp_path, monkeypatch, "photoorganiser.runs.export", "read_and_hash")
    report, to = tmp_path / "export.csv", tmp_path / "small"
    code = main(["export", "--output", str(library), "--to", str(to), "--report", str(report),
                 "--workers", "2", "--quiet", "--format", "webp", "--max-size", "32x32"]
                )  # fmt: skip
    assert code == 1  # (a file failed)
    got = {r["path"]: (r["status"], r["reason"]) for r in report_rows(report)}
    assert len(got) == 48
    poisoned = [path for path in got if "POISON" in path]
    assert [got.pop(path) for path in poisoned] == [("failed", NOT_READ)]
    assert {status for status, _ in got.values()} == {"exported"}
    assert len(list(to.rglob("*.webp"))) == 47
    left = to / ".photoorganiser-export" / "tmp"
    assert not left.exists() or not any(left.iterdir())  # no temporary file left behind
    assert not multiprocessing.active_children()


def test_verify_reports_the_batch_of_a_file_that_kills_its_reader(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify --workers 2 of 48 files (batches of 32), one of which kills the worker
    reading it: every file has its row; the poisoned file's batch, read again alone and
    dying again, is unreadable, each of its files saying why (verify's unit is the
    batch); the other batch is ok."""
    library = _library(built, tmp_path)
    poison_workers(tmp_path, monkeypatch, "photoorganiser.library.verify", "_read")
    report = tmp_path / "verify.csv"
    code = main(["verify", "--output", str(library), "--workers", "2", "--quiet",
                 "--report", str(report)])  # fmt: skip
    assert code == 1  # (files unreadable)
    got = {Path(r["path"]).name: (r["result"], r["detail"]) for r in report_rows(report)}
    assert len(got) == 48
    names = sorted(got)
    assert [n for n in names if "POISON" in n] == [names[5]]  # in the first batch
    assert {got[n] for n in names[:32]} == {("unreadable", NOT_READ)}
    assert {got[n] for n in names[32:]} == {("ok", "")}
    assert not multiprocessing.active_children()


def test_sync_reports_the_batch_of_a_file_that_kills_its_reader(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sync --reread --workers 2 of 48 files (batches of 3), one of which kills the worker
    reading it: the run ends, every file keeps its catalog row, the poisoned file's batch
    (read again alone, dying again) is reported as not read, to be read next run, and
    every other file is read."""
    library = _library(built, tmp_path)
    poison_workers(tmp_path, monkeypatch, "photoorganiser.media.analyse", "_analyse_fields")
    report = tmp_path / "sync.csv"
    code = main(["sync", "--output", str(library), "--workers", "2", "--quiet", "--reread",
                 "--report", str(report)])  # fmt: skip
    rows = report_rows(report)
    failed = {Path(r["path"]).name for r in rows if NOT_READ in " ".join(r.values())}
    assert any("POISON" in name for name in failed) and len(failed) == 3, rows
    assert code == 1
    assert not multiprocessing.active_children()


def test_import_reports_only_the_file_that_kills_its_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """import --workers 2 of 60 photos, one of which kills the worker reading it: the
    batches that worker's pool had are read again one at a time, so the poisoned photo is
    the one file not imported (a transient failure, read again next run, its row saying
    why) and every other photo is in the library."""
    inbox = tmp_path / "inbox"
    for i in range(59):
        make_jpeg(inbox / f"IMG_{i:04d}.jpg", D0, seed=i)
    make_jpeg(inbox / "IMG_0020_POISON.jpg", D0, seed=99)
    poison_workers(tmp_path, monkeypatch, "photoorganiser.media.metadata", "read_media")
    report = tmp_path / "import.csv"
    library = tmp_path / "library"
    code = main(["import", "--input", str(inbox), "--output", str(library), "--workers", "2",
                 "--quiet", "--report", str(report)])  # fmt: skip
    assert code == 1  # (a file failed)
    rows = {Path(r["source"]).name: r for r in report_rows(report)}
    assert len(rows) == 60
    poisoned = rows.pop("IMG_0020_POISON.jpg")
    assert poisoned["action"] == "error" and NOT_READ in " ".join(poisoned.values()), poisoned
    assert {r["action"] for r in rows.values()} == {"move"}
    assert len(list(library.rglob("*.jpg"))) == 59
    assert not multiprocessing.active_children()

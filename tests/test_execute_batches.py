"""Execute's batches (issue 14): a first move of many small files commits its intents and
flushes its folders once per batch of up to execute.BATCH files (was 64), a batch of big
files ends at execute.BATCH_BYTES; a source's lease goes with its descriptor; the inbox
folders a move emptied are found once per folder. Real files, through the CLI."""

from __future__ import annotations

import errno
import fcntl
import os
from datetime import datetime
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser.cli import main
from photoorganiser.core.values import Action, Decision, FileKind, Reason, ScanEntry, Why
from photoorganiser.importing import execute
from photoorganiser.library import journal as journal_module

WHEN = datetime(2019, 5, 6, 7, 8, 9)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def inbox_of(folder: Path, count: int, pad: int = 0) -> Path:
    base = make_jpeg(folder.parent / "base.jpg", WHEN).read_bytes() + bytes(pad)
    for i in range(count):
        sub = folder / f"{i // 400:03d}" / "deeper"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"IMG_{i:05d}.JPG").write_bytes(base + i.to_bytes(4, "big"))
    return folder


def imp(inbox: Path, library: Path, *more: str) -> int:
    args = ["import", "--input", str(inbox), "--output", str(library), "--workers", "1"]
    return main([*args, "--quiet", *more])


def files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts]


def watch_batches(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[Path]]:
    """How many transfers each intent commit recorded, and every folder flushed."""
    intents: list[int] = []
    flushed: list[Path] = []
    real_intend = journal_module.Journal.intend
    real_fsync_dir = execute._fsync_dir

    def intend(self, transfers):
        intents.append(len(transfers))
        return real_intend(self, transfers)

    def fsync_dir(folder):
        flushed.append(folder)
        real_fsync_dir(folder)

    monkeypatch.setattr(journal_module.Journal, "intend", intend)
    monkeypatch.setattr(execute, "_fsync_dir", fsync_dir)
    return intents, flushed


def test_a_first_move_of_small_files_journals_a_thousand_files_per_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 1500
    inbox = inbox_of(tmp_path / "in", count)
    library = tmp_path / "lib"
    intents, flushed = watch_batches(monkeypatch)
    assert imp(inbox, library, "--move") == 0
    assert len(files_in(library)) == count and not files_in(inbox)
    assert execute.BATCH >= 1000
    # 2 commits of intents (1024 + 476), not 24 of 64: each commit is a few fsyncs.
    assert intents == [execute.BATCH, count - execute.BATCH]
    # Each folder flushed once per batch it changed, not once per 64 files.
    inbox_folders = {p.parent for p in flushed if inbox in p.parents}
    assert len(inbox_folders) == 4
    assert len(flushed) <= 2 * (len(inbox_folders) + len({p.parent for p in files_in(library)}))
    assert not inbox.exists() or not any(inbox.iterdir())  # emptied folders removed


def test_a_batch_of_big_files_ends_at_batch_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed run's recovery reads every file of the batches in flight again, and a
    batch's copies are in flight together: a batch holds at most BATCH_BYTES of files."""
    inbox = inbox_of(tmp_path / "in", 25, pad=40_000)
    size = next(iter(files_in(inbox))).stat().st_size
    monkeypatch.setattr(execute, "BATCH_BYTES", 10 * size)
    intents, _ = watch_batches(monkeypatch)
    library = tmp_path / "lib"
    assert imp(inbox, library, "--copy") == 0
    assert len(files_in(library)) == 25
    assert intents == [10, 10, 5]


def decision(i: int, size: int, action: Action = Action.MOVE) -> Decision:
    entry = ScanEntry(Path(f"/in/{i}.jpg"), FileKind.IMAGE, size, 0, i, 1)
    return Decision(entry.path, action, Reason(Why.NEW), destination=Path(f"/lib/{i}.jpg"),
                    entry=entry)  # fmt: skip


def test_batches_bound_files_and_bytes_and_keep_the_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(execute, "BATCH", 4)
    monkeypatch.setattr(execute, "COPY_BATCH", 3)
    monkeypatch.setattr(execute, "BATCH_BYTES", 100)
    here = 1  # the library's device: decision() puts every source there
    small = [decision(i, 10) for i in range(10)]
    assert [len(b) for b in execute.batches(small, here)] == [4, 4, 2]  # renames
    # a move from another disk is a copy, and so is one whose disk is not known
    assert [len(b) for b in execute.batches(small, 2)] == [3, 3, 3, 1]
    assert [len(b) for b in execute.batches(small)] == [3, 3, 3, 1]
    copies = [decision(i, 10, Action.COPY) for i in range(7)]
    assert [len(b) for b in execute.batches(copies, here)] == [3, 3, 1]
    # bytes: a batch ends with the file that reaches BATCH_BYTES; a bigger file is a batch
    mixed = [decision(0, 60), decision(1, 60), decision(2, 500), decision(3, 1)]
    assert [len(b) for b in execute.batches(mixed, here)] == [2, 1, 1]
    # what is not transferred weighs nothing (a skipped big file)
    skipped = [decision(0, 500, Action.SKIP_EXISTS), decision(1, 10), decision(2, 10)]
    assert [len(b) for b in execute.batches(skipped, here)] == [3]
    flat = [d for b in execute.batches(small + mixed, here) for d in b]
    assert flat == small + mixed
    assert list(execute.batches([], here)) == []


def test_copies_are_still_made_sixty_four_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's copies are named once all are verified: a stop or a crash finds at
    most two batches of COPY_BATCH copies in flight (renames: BATCH)."""
    inbox = inbox_of(tmp_path / "in", 100)
    intents, _ = watch_batches(monkeypatch)
    assert imp(inbox, tmp_path / "lib", "--copy") == 0
    assert intents == [execute.COPY_BATCH, 100 - execute.COPY_BATCH] == [64, 36]


@pytest.mark.skipif(not hasattr(fcntl, "F_SETLEASE"), reason="Linux leases")
def test_a_sources_lease_is_released_when_it_is_closed(tmp_path: Path) -> None:
    """The source of a rename is opened and leased (a writer still at work refuses it);
    closing it releases the lease (no separate F_UNLCK): a writer may open it at once."""
    photo = make_jpeg(tmp_path / "a.jpg", WHEN)
    st = os.stat(photo, follow_symlinks=False)
    source = execute._open_source(photo, st, read=False)
    try:
        assert source.leased
        assert os.get_blocking(source.fd) is False  # a rename reads nothing
        with pytest.raises(BlockingIOError):  # our lease holds off a writer
            os.close(os.open(photo, os.O_WRONLY | os.O_NONBLOCK))
        source.blocking()  # a move to another disk reads it after all
        assert os.get_blocking(source.fd) is True
    finally:
        source.close()
    fd = os.open(photo, os.O_WRONLY | os.O_NONBLOCK)  # the lease went with the descriptor
    os.close(fd)


def test_a_file_being_written_is_still_not_renamed(tmp_path: Path) -> None:
    inbox = inbox_of(tmp_path / "in", 3)
    writing = sorted(files_in(inbox))[1]
    fd = os.open(writing, os.O_WRONLY)
    try:
        assert imp(inbox, tmp_path / "lib", "--move") == 0  # left for the next run
    finally:
        os.close(fd)
    assert writing.exists()
    assert len(files_in(tmp_path / "lib")) == 2


def test_emptied_folders_are_removed_once_each_and_roots_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    root = tmp_path / "in"
    moved = []
    for a in range(3):
        for b in range(3):
            folder = root / f"a{a}" / f"b{b}"
            folder.mkdir(parents=True)
            moved += [folder / f"{i}.jpg" for i in range(50)]
    (root / "a1" / "b2" / ".hidden").write_bytes(b"x")  # not empty: kept, and a1 with it
    outside = tmp_path / "elsewhere" / "x"
    outside.mkdir(parents=True)
    removed = execute.remove_empty_folders([*moved, outside / "1.jpg"], [root])
    assert removed == 3 * 3 - 1 + 2  # every b but a1/b2, then a0 and a2
    assert root.is_dir() and outside.is_dir()
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "a1",
        "a1/b2",
        "a1/b2/.hidden",
    ]


def test_a_source_that_is_a_fifo_now_is_refused_without_waiting(tmp_path: Path) -> None:
    """Opened O_NONBLOCK (a rename never clears it): a pipe swapped in is never waited on."""
    fifo = tmp_path / "p.jpg"
    os.mkfifo(fifo)
    st = os.stat(fifo)
    with pytest.raises(OSError) as info:
        execute._open_source(fifo, st, read=False)
    assert info.value.errno in (errno.EINVAL, errno.ENXIO)

"""The copy's read-back with O_DIRECT (issue 14): a copy is read back from the disk through
the descriptor that wrote it, past the page cache; a file system that refuses O_DIRECT is
read the usual way once the copy's pages are dropped; a copy the disk returns damaged is
never named and its source is left as it was; a run killed while copies are in flight
loses nothing. Real files, through the CLI."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from media import make_jpeg
from test_copy_speed import catalog_state, on_disk, photos, temporaries

from photoorganiser.cli import main
from photoorganiser.core import hashing
from photoorganiser.importing import execute
from reports import rows

REPO = Path(__file__).resolve().parents[1]
D0 = datetime(2021, 3, 4, 5, 6, 7)
O_DIRECT = getattr(os, "O_DIRECT", 0)

pytestmark = pytest.mark.skipif(not O_DIRECT, reason="no O_DIRECT on this platform")


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default reports/ lands in tmp_path, not the repo


def run(*args: str | Path) -> int:
    return main(["import", *map(str, args), "--workers", "1", "--quiet"])


def make_inbox(root: Path, count: int, pad: int = 0) -> Path:
    """`count` distinct photos (padded with `pad` bytes after their end), with their own
    times and permission bits."""
    old = datetime(2019, 6, 1).timestamp()
    for i in range(count):
        photo = make_jpeg(root / f"f{i % 3}" / f"IMG_{i:04d}.jpg", D0 + timedelta(hours=i), seed=i)
        if pad:
            with open(photo, "ab") as f:
                f.write(os.urandom(pad))
        os.utime(photo, (old + i, old + i))
        os.chmod(photo, 0o640 if i % 2 else 0o604)
    return root


def refuse_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without O_DIRECT (ramfs, some FUSE): setting the flag is refused."""
    real_fcntl = fcntl.fcntl

    def no_direct(fd, cmd, arg=0):
        if cmd == fcntl.F_SETFL and arg & O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(fd, cmd, arg)

    monkeypatch.setattr(hashing.fcntl, "fcntl", no_direct)


def contents(paths: list[Path]) -> Counter[str]:
    return Counter(hashing.hash_file(p) for p in paths)


def accepts_direct(folder: Path) -> bool:
    probe = folder / ".direct-probe"
    fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | O_DIRECT)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """How each read-back read its copy: 'direct' (with O_DIRECT set on the fd, checked
    at the call) or 'dropped' (the usual way, its pages dropped first)."""
    seen: dict[str, list[int]] = {"direct": [], "dropped": [], "refused": []}
    real_direct, real_dropped = hashing._hash_direct, hashing._hash_dropped

    def direct(fd: int) -> str:
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT
        seen["direct"].append(fd)
        try:
            return real_direct(fd)
        except OSError:
            seen["refused"].append(fd)
            raise

    def dropped(fd: int) -> str:
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT
        seen["dropped"].append(fd)
        return real_dropped(fd)

    monkeypatch.setattr(hashing, "_hash_direct", direct)
    monkeypatch.setattr(hashing, "_hash_dropped", dropped)
    return seen


def as_other_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A move copies, verifies, then removes (as from another disk), batched as copies."""
    monkeypatch.setattr(execute, "_move_in_place", lambda *a: False)
    monkeypatch.setattr(execute, "_device", lambda root: None)


# --- the read-back itself -------------------------------------------------------------


SIZES = (0, 1, 511, 4095, 4096, 2_500_001, hashing.CHUNK_SIZE, hashing.CHUNK_SIZE + 7)


@pytest.mark.parametrize("refused", [False, True], ids=["direct", "refused"])
def test_the_read_back_hashes_the_whole_file_from_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    if refused:  # a file system without O_DIRECT (ramfs, some FUSE): the usual read
        refuse_direct(monkeypatch)
    elif not accepts_direct(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    for size in (*SIZES, 2 * hashing.CHUNK_SIZE + 1):
        data = os.urandom(size)
        path = tmp_path / f"f{size}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)  # the fd stands at the end: the read-back starts at 0
            os.fsync(fd)
            assert hashing.hash_written(fd) == hashing.hash_bytes(data), size
            assert bool(fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT) is not refused
        finally:
            os.close(fd)
        assert hashing.hash_from_disk(path) == hashing.hash_file(path) == hashing.hash_bytes(data)


def test_a_direct_read_the_kernel_refuses_midway_is_read_again_the_usual_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: dict[str, list[int]]
) -> None:
    if not accepts_direct(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    real_readv = os.readv
    refusals = []

    def unaligned(fd, buffers):  # e.g. a device whose blocks are larger than the buffer's
        if fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT:
            refusals.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_readv(fd, buffers)

    monkeypatch.setattr(os, "readv", unaligned)
    data = os.urandom(hashing.CHUNK_SIZE + 99)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
        assert hashing.hash_written(fd) == hashing.hash_bytes(data)
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT  # cleared for the usual read
    finally:
        os.close(fd)
    assert refusals and reads["refused"] and reads["dropped"]


# --- copies through the CLI -----------------------------------------------------------


def test_each_copy_is_read_back_with_o_direct_and_kept_as_it_was(
    tmp_path: Path, reads: dict[str, list[int]]
) -> None:
    if not accepts_direct(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    inbox, library = make_inbox(tmp_path / "in", 12, pad=300_000), tmp_path / "lib"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in photos(inbox)}
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--copy", "--report", report) == 0
    assert len(reads["direct"]) == 12 and not reads["dropped"]
    got = rows(report)
    assert [r["status"] for r in got] == ["done"] * 12
    for r in got:
        data, mtime, mode = before[Path(r["source"])]
        copy = library / r["destination"]
        assert copy.read_bytes() == data
        assert copy.stat().st_mtime_ns == mtime and copy.stat().st_mode == mode
        assert Path(r["source"]).read_bytes() == data  # the source as it was
    assert not temporaries(library)
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0


@pytest.mark.parametrize("where", ["on-disk", "in-the-read"])
@pytest.mark.parametrize("refused", [False, True], ids=["direct", "refused"])
def test_a_copy_the_disk_returns_damaged_is_refused_and_its_source_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, refused: bool
) -> None:
    as_other_disk(monkeypatch)
    if refused:
        refuse_direct(monkeypatch)
    inbox, library = make_inbox(tmp_path / "in", 8, pad=100_000), tmp_path / "lib"
    victim = inbox / "f2" / "IMG_0005.jpg"
    original = (victim.read_bytes(), victim.stat().st_mtime_ns, victim.stat().st_ino)
    damaged: list[str] = []
    if where == "on-disk":  # the copy on the disk differs from what was written
        real_check = execute.hash_file

        def damage_then_check(fd: int) -> str:
            name = os.readlink(f"/proc/self/fd/{fd}")
            if f"_{victim.name}{execute.TEMP_MARK}" in name:
                byte = os.pread(fd, 1, 5000)
                os.pwrite(fd, bytes([byte[0] ^ 0x5A]), 5000)
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                damaged.append(name)
            return real_check(fd)

        monkeypatch.setattr(execute, "hash_file", damage_then_check)
    else:  # the read from the disk returns a wrong byte (the read-back's reads only)
        real_readv = os.readv

        def flipping(fd, buffers):
            n = real_readv(fd, buffers)
            name = os.readlink(f"/proc/self/fd/{fd}")
            if n > 5000 and f"_{victim.name}{execute.TEMP_MARK}" in name:
                buffers[0][5000] ^= 0x5A
                damaged.append(name)
            return n

        monkeypatch.setattr(os, "readv", flipping)
    report = tmp_path / "r.csv"
    assert run("--input", inbox, "--output", library, "--report", report) == 1
    assert damaged
    got = {Path(r["source"]).name: r for r in rows(report)}
    assert got[victim.name]["status"] == "failed"
    assert "read back from disk does not match" in got[victim.name]["error"]
    assert sum(r["status"] == "done" for r in got.values()) == 7
    assert photos(inbox) == [victim]  # the others moved; the victim left as it was
    assert (victim.read_bytes(), victim.stat().st_mtime_ns, victim.stat().st_ino) == original
    assert hashing.hash_bytes(original[0]) not in contents(photos(library))
    assert len(photos(library)) == 7 and not temporaries(library)
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0


def test_a_move_to_a_file_system_refusing_o_direct_is_verified_the_usual_way(
    tmp_path: Path, reads: dict[str, list[int]]
) -> None:
    """ramfs has no O_DIRECT (EINVAL): a real move to another file system, read back the
    usual way (on ramfs the pages are the file: there is no disk to read)."""
    point = tmp_path / "ramfs"
    point.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "ramfs", "ramfs", str(point)], capture_output=True)
    except OSError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip("cannot mount a ramfs here (needs root)")
    try:
        if accepts_direct(point):
            pytest.skip("this kernel's ramfs accepts O_DIRECT")
        inbox, library = make_inbox(tmp_path / "in", 10, pad=50_000), point / "lib"
        originals = contents(photos(inbox))
        assert run("--input", inbox, "--output", library) == 0  # a real EXDEV
        assert photos(inbox) == []
        assert contents(photos(library)) == originals
        assert len(reads["dropped"]) == 10 and not reads["direct"]
        assert not temporaries(library)
        files, intents = catalog_state(library)
        assert files == on_disk(library) and intents == 0
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


# --- a kill while copies are in flight ------------------------------------------------


KILLER = """
import os, signal, sys
if __name__ == "__main__":
    from photoorganiser.importing import execute
    execute.COPY_BATCH = 8  # several batches named before the kill, others in flight
    real, calls = execute.hash_file, []
    def dying(fd):
        calls.append(fd)
        if len(calls) == int(sys.argv[1]):  # SIGKILL: no finally, no atexit
            os.kill(os.getpid(), signal.SIGKILL)
        return real(fd)
    execute.hash_file = dying
    from photoorganiser.cli import main
    sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("nth", [1, 13, 30])
def test_a_move_killed_while_its_copies_are_read_back_loses_nothing(
    tmp_path: Path, small_fs, nth: int
) -> None:
    """A real move from another file system (a tmpfs inbox, the library in tmp_path: read
    back with O_DIRECT where it allows it), killed with SIGKILL as the nth copy is about
    to be read back (the other threads' copies in flight, earlier batches named); then a
    normal run finishes it."""
    inbox = make_inbox(small_fs("64m") / "in", 36, pad=400_000)
    library = tmp_path / "lib"
    originals = {hashing.hash_file(p): p.name for p in photos(inbox)}
    args = ["import", "--input", str(inbox), "--output", str(library), "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(nth), *args, "--quiet"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    # right after the kill: every photo in the inbox or once, whole, in the library
    placed = contents(photos(library))  # final names only (a temporary's ends otherwise)
    assert all(n == 1 for n in placed.values()), "a photo named twice"
    assert set(placed) <= set(originals), "a partial or foreign file under a final name"
    assert set(placed) | set(contents(photos(inbox))) == set(originals), "a photo lost"
    if nth > 16:
        assert placed, "no batch was named before the kill"
    assert run("--input", inbox, "--output", library) == 0
    assert photos(inbox) == [] and not temporaries(library)
    assert contents(photos(library)) == Counter(set(originals))
    files, intents = catalog_state(library)
    assert files == on_disk(library) and intents == 0

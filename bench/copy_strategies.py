"""The verified copy's disk pattern alone, beside `cp -r; sync`, on any disk.

    python bench/copy_strategies.py --to DIR [--files 2000] [--mb 2.5] [--rounds 3]
                                    [--workdir DIR] [STRATEGY ...]

No analysis, no journal, no catalog: only the copy's I/O, as execute makes it and as it
could be made, to tell whether the copy is limited by the disk or by how it is done.
Source files of random bytes are made once in --workdir (kept, reused); each strategy
copies them into --to (another disk, e.g. a RAM-backed ext4: see bench_table.py's
--copy-to) and ends with a `sync`; the source is read into the page cache before each
run, the copy removed and synced after it. Strategies:

  cp              cp -r + sync (the floor)
  per_file        execute's: 3 threads; each copy written, fsynced, its pages dropped,
                  read back with O_DIRECT and checked, then renamed; 64 a batch
  per_file5       the same with 5 threads
  batched         a batch of 64 written (no flush), then each fsynced, then read back
  batched_syncfs  the same with one syncfs for the batch
  pipelined       batch k+1 written while batch k is flushed and read back
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from photoorganiser.core.hashing import hash_written, thread_buffer  # noqa: E402

BATCH = 64
_libc = ctypes.CDLL(None, use_errno=True)


def make_sources(folder: Path, count: int, size: int) -> None:
    if folder.is_dir() and len(os.listdir(folder)) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    blob = os.urandom(size + 4096)
    for i in range(count):
        (folder / f"{i:06d}.jpg").write_bytes(
            i.to_bytes(8, "little") + blob[i % 4096 :][: size - 8]
        )
    os.sync()


def warm(folder: Path) -> None:
    for p in folder.iterdir():
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass


def write_one(src: Path, tmp: Path, flush: bool = True) -> tuple[int, str]:
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    h, view = xxhash.xxh3_128(), thread_buffer()
    while n := os.readv(fi, [view]):
        h.update(view[:n])
        w = 0
        while w < n:
            w += os.write(fo, view[w:n])
    os.close(fi)
    if flush:
        os.fsync(fo)
        os.posix_fadvise(fo, 0, 0, os.POSIX_FADV_DONTNEED)
    return fo, h.hexdigest()


def verify(fo: int, digest: str) -> None:
    if hash_written(fo) != digest:
        raise SystemExit("a copy read back differs")
    os.close(fo)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def per_file(src: Path, dst: Path, threads: int = 3) -> None:
    dst.mkdir()

    def job(name: str) -> None:
        tmp = dst / f".{name}.tmp"
        verify(*write_one(src / name, tmp))
        os.rename(tmp, dst / name)

    names = sorted(os.listdir(src))
    with ThreadPoolExecutor(threads) as pool:
        for b in range(0, len(names), BATCH):
            list(pool.map(job, names[b : b + BATCH]))
            fsync_dir(dst)


def batched(src: Path, dst: Path, threads: int = 3, syncfs: bool = False) -> None:
    dst.mkdir()
    names = sorted(os.listdir(src))

    def flush(written: tuple[int, str]) -> None:
        os.fsync(written[0])
        os.posix_fadvise(written[0], 0, 0, os.POSIX_FADV_DONTNEED)

    with ThreadPoolExecutor(threads) as pool:
        for b in range(0, len(names), BATCH):
            part = names[b : b + BATCH]
            got = list(pool.map(lambda n: write_one(src / n, dst / f".{n}.tmp", False), part))
            if syncfs:
                fd = os.open(dst, os.O_RDONLY)
                _libc.syncfs(fd)
                os.close(fd)
                for fo, _ in got:
                    os.posix_fadvise(fo, 0, 0, os.POSIX_FADV_DONTNEED)
            else:
                list(pool.map(flush, got))
            list(pool.map(lambda w: verify(*w), got))
            for n in part:
                os.rename(dst / f".{n}.tmp", dst / n)
            fsync_dir(dst)


def pipelined(src: Path, dst: Path, threads: int = 3) -> None:
    dst.mkdir()
    names = sorted(os.listdir(src))

    def check(written: tuple[int, str]) -> None:
        os.fsync(written[0])
        os.posix_fadvise(written[0], 0, 0, os.POSIX_FADV_DONTNEED)
        verify(*written)

    with ThreadPoolExecutor(threads) as writers, ThreadPoolExecutor(threads) as checkers:
        before = None
        for b in range(0, len(names) + BATCH, BATCH):
            part = names[b : b + BATCH]
            now = [writers.submit(write_one, src / n, dst / f".{n}.tmp", False) for n in part]
            if before:
                list(checkers.map(check, [f.result() for f in before[1]]))
                for n in before[0]:
                    os.rename(dst / f".{n}.tmp", dst / n)
                fsync_dir(dst)
            before = (part, now)


STRATEGIES = {
    "cp": lambda s, d: subprocess.run(["cp", "-r", str(s), str(d)], check=True),
    "per_file": per_file,
    "per_file5": lambda s, d: per_file(s, d, 5),
    "batched": batched,
    "batched_syncfs": lambda s, d: batched(s, d, syncfs=True),
    "pipelined": pipelined,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", type=Path, required=True, help="where the copies go")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/po-copy-strategies"))
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mb", type=float, default=2.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("strategies", nargs="*", metavar="STRATEGY", help=", ".join(STRATEGIES))
    args = parser.parse_args()
    chosen = args.strategies or ["cp", "per_file", "pipelined", "batched_syncfs"]
    if unknown := set(chosen) - set(STRATEGIES):
        parser.error(f"no such strategy: {', '.join(sorted(unknown))}")
    src = args.workdir / "sources"
    make_sources(src, args.files, int(args.mb * 1e6))
    dst = args.to / "po-copy-strategies"
    print(f"{args.files} files of {args.mb} MB into {args.to}; seconds incl. the final sync")
    for _ in range(args.rounds):
        for name in chosen:
            shutil.rmtree(dst, ignore_errors=True)
            os.sync()
            time.sleep(1)
            warm(src)
            t, c = time.perf_counter(), os.times()
            STRATEGIES[name](src, dst)
            os.sync()
            c2 = os.times()
            cpu = c2.user - c.user + c2.system - c.system + c2.children_user - c.children_user
            cpu += c2.children_system - c.children_system
            print(f"{name:15s} {time.perf_counter() - t:6.2f} s  cpu {cpu:5.2f} s", flush=True)
    shutil.rmtree(dst, ignore_errors=True)


if __name__ == "__main__":
    main()

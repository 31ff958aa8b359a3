"""Content hashes: XXH3-128 over whole files, read in large chunks.

`read_and_hash` is the analyse stage's one read of a file: it hashes every byte
and, for files small enough, hands the bytes on so that metadata parsing needs
no second read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import xxhash

CHUNK_SIZE = 4 << 20  # 4 MiB: large sequential reads
KEEP_LIMIT = 64 << 20  # files up to this size are kept in memory for metadata parsing
SAMPLE_SIZE = 64 << 10  # head/tail sample for the duplicate pre-filter


@dataclass(frozen=True, slots=True)
class HashedContent:
    hash: str  # 32 hex digits
    size: int  # bytes actually read
    data: bytes | None  # the whole content, when size <= keep_limit


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def read_and_hash(path: Path | str, keep_limit: int = KEEP_LIMIT) -> HashedContent:
    """Read `path` once: hash all of it, keep the bytes if it is small enough."""
    with open(path, "rb", buffering=0) as f:
        try:
            size = os.fstat(f.fileno()).st_size
        except OSError:  # pragma: no cover - fstat on an open file practically never fails
            size = CHUNK_SIZE + keep_limit + 1
        if size <= max(keep_limit, CHUNK_SIZE):  # one read (no big buffer for a small file)
            data = f.read()
            rest = f.read(CHUNK_SIZE)  # the file may have grown since fstat
            if not rest:
                return HashedContent(hash_bytes(data), len(data), _kept(data, keep_limit))
            hasher = xxhash.xxh3_128(data)
            total = len(data)
            while rest:
                hasher.update(rest)
                total += len(rest)
                rest = f.read(CHUNK_SIZE)
            return HashedContent(hasher.hexdigest(), total, None)
        hasher = xxhash.xxh3_128()
        total = 0
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        while n := f.readinto(buf):
            hasher.update(view[:n])
            total += n
        return HashedContent(hasher.hexdigest(), total, None)


def _kept(data: bytes, keep_limit: int) -> bytes | None:
    return data if len(data) <= keep_limit else None


def hash_file(path: Path | str) -> str:
    """XXH3-128 of the whole file, streamed in large chunks."""
    return read_and_hash(path, keep_limit=0).hash


def hash_sample(path: Path | str, size: int, sample: int = SAMPLE_SIZE) -> str:
    """A cheap pre-filter hash of the head and tail of a file of `size` bytes."""
    with open(path, "rb", buffering=0) as f:
        if size <= 2 * sample:
            return hash_bytes(f.read())
        hasher = xxhash.xxh3_128(f.read(sample))
        f.seek(size - sample)
        hasher.update(f.read(sample))
        return hasher.hexdigest()

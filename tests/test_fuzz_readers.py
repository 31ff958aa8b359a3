"""Fuzzing the readers: real files (built here, and one small file per format from the
corpus when it is there) mutated by bit flips, truncations, huge and looping offsets and
box/chunk/segment sizes of 0, 1 and 2^64-1 (tests/fuzzing.py). No exception but
MetadataError escapes, no read takes over a second, none allocates past what the file's
size allows. The long run is bench/fuzz_readers.py.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tests.fuzzing import MUTATORS, check, mutations
from tests.media import make_heic, make_jpeg, make_mov, make_mp4, make_png

PER_FILE = 120  # mutations per file, every kind in turn


def built_files(tmp_path: Path) -> list[Path]:
    when = datetime(2020, 1, 1, 12, 0, 0)
    return [
        make_jpeg(tmp_path / "a.jpg", when, make="X", model="Y", offset="+01:00"),
        make_heic(tmp_path / "a.heic", when),
        make_mp4(tmp_path / "a.mp4", when),
        make_mov(tmp_path / "a.mov", when, apple_creation_date="2020-01-01T12:00:00+0100"),
        make_png(tmp_path / "a.png"),
    ]


def corpus_sample(limit: int = 300_000) -> list[Path]:
    """The smallest corpus file of each format (as exiftool names it)."""
    if not (CORPUS / "manifest.csv").is_file():
        return []
    with open(CORPUS / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["file_type"] and 0 < int(r["bytes"]) < limit]
    best: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["file_type"] not in best or int(r["bytes"]) < int(best[r["file_type"]]["bytes"]):
            best[r["file_type"]] = r
    return [CORPUS / r["path"] for r in best.values() if r["file_type"] not in ("XMP", "JSON")]


def test_every_mutation_kind_changes_the_file(tmp_path: Path) -> None:
    data = make_mp4(tmp_path / "a.mp4", datetime(2020, 1, 1)).read_bytes()
    kinds = {kind for kind, mutated in mutations(data, 50, seed=1) if mutated != data}
    assert kinds == set(MUTATORS)


def test_mutated_files_are_read_safely(tmp_path: Path) -> None:
    files = built_files(tmp_path) + corpus_sample()
    faults = []
    reads = 0
    for n, path in enumerate(files):
        data = path.read_bytes()
        for i, (kind, mutated) in enumerate(mutations(data, PER_FILE, seed=n)):
            out = check(mutated, path.name, measure_memory=i % 10 == 0)
            reads += 1
            if out.fault:
                faults.append(f"{path.name} ({kind}): {out.fault}")
    assert reads >= 5 * PER_FILE
    assert faults == []


@pytest.mark.parametrize("size", [0, 1, 2**64 - 1])
def test_box_sizes_0_1_and_2_64(tmp_path: Path, size: int) -> None:
    import struct

    data = bytearray(make_mp4(tmp_path / "a.mp4", datetime(2020, 1, 1)).read_bytes())
    moov = data.index(b"moov") - 4
    if size <= 1:
        data[moov : moov + 4] = struct.pack(">I", size)
    else:
        data[moov : moov + 4] = struct.pack(">I", 1)
        data[moov + 8 : moov + 16] = struct.pack(">Q", size)
    out = check(bytes(data), "a.mp4", measure_memory=True)
    assert out.fault is None

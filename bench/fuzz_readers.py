"""Fuzz the readers on real files: the shared corpus and the files bench_more_files.py
fetched (its cache), each mutated many times (tests/fuzzing.py: bit flips, truncations,
huge and looping offsets, box/chunk/segment sizes of 0, 1 and 2^64-1).

    python bench/fuzz_readers.py [--per-file N] [--max-bytes B] [--seed S]

Prints the reads, how many raised MetadataError (the readers' one error), the faults (an
escaped exception, a read over 1 s, an allocation over 3x the file + 16 MiB), the slowest
read and the largest allocation against the file's size. Exits 1 when there is a fault.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photoorganiser.media.scan import (  # noqa: E402
    IMAGE_EXTENSIONS,
    RAW_EXTENSIONS,
    VIDEO_EXTENSIONS,
)
from tests.fuzzing import check, mutations  # noqa: E402

CORPUS = Path(os.environ.get("PHOTOORGANISER_CORPUS", REPO.parent / "shared" / "corpus" / "real"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "photoorganiser-bench"
MEDIA = IMAGE_EXTENSIONS | RAW_EXTENSIONS | VIDEO_EXTENSIONS


def inputs(max_bytes: int) -> list[Path]:
    out = []
    for root in (CORPUS, CACHE / "files"):
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if (
                    path.is_file()
                    and path.suffix.lower().lstrip(".") in MEDIA
                    and 0 < path.stat().st_size <= max_bytes
                ):
                    out.append(path)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-file", type=int, default=50)
    parser.add_argument("--max-bytes", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-every", type=int, default=10, help="tracemalloc 1 read in N")
    args = parser.parse_args()

    files = inputs(args.max_bytes)
    print(f"{len(files)} real files (corpus + fetched, <= {args.max_bytes} bytes)")
    reads = raised = 0
    times: list[float] = []
    kinds: Counter[str] = Counter()
    faults: list[str] = []
    worst_time = (0.0, "")
    worst_alloc = (0.0, "")
    start = time.perf_counter()
    for n, path in enumerate(files):
        data = path.read_bytes()
        for i, (kind, mutated) in enumerate(mutations(data, args.per_file, args.seed + n)):
            memory = i % args.memory_every == 0
            out = check(mutated, path.name, measure_memory=memory)
            reads += 1
            kinds[kind] += 1
            raised += out.raised
            if not memory:
                times.append(out.seconds)
                if out.seconds > worst_time[0]:
                    worst_time = (out.seconds, f"{path.name} ({kind})")
            elif out.peak is not None:
                ratio = out.peak / max(1, len(mutated))
                if out.peak > worst_alloc[0]:
                    worst_alloc = (out.peak, f"{path.name} ({kind}, {ratio:.1f}x its size)")
            if out.fault:
                faults.append(f"{path} ({kind}): {out.fault}")
    elapsed = time.perf_counter() - start
    times.sort()
    p99 = times[int(0.99 * (len(times) - 1))] if times else 0.0
    print(f"{reads} reads in {elapsed:.1f} s ({', '.join(f'{k} {v}' for k, v in kinds.items())})")
    print(f"MetadataError (not readable media): {raised} ({raised / max(1, reads):.0%})")
    if times:
        print(
            f"time per read: median {statistics.median(times) * 1e3:.2f} ms, "
            f"p99 {p99 * 1e3:.2f} ms, max {worst_time[0] * 1e3:.1f} ms ({worst_time[1]})"
        )
    print(f"largest allocation: {worst_alloc[0] / 1e6:.1f} MB ({worst_alloc[1]})")
    print(f"faults: {len(faults)}")
    for fault in faults[:50]:
        print("  " + fault)
    sys.exit(1 if faults else 0)


if __name__ == "__main__":
    main()

"""Make a test tree for the exact-duplicate benchmark, and know its true groups.

    python bench/make_tree.py DIR [--files 20000] [--big] [--seed 1]

The tree holds unique files, duplicate sets (2-4 copies under other names and
folders), many same-size non-duplicates (differing at the start, only in the middle
past the head/tail samples, or only in the last byte) and, with --big, a few large
files of 50-200 MB (a duplicated pair, a same-size pair differing in the middle, a
lone one). Contents are random bytes with media file names.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

EXTENSIONS = ("jpg", "JPG", "heic", "png", "mov", "mp4", "dng")
MB = 1 << 20


def make_tree(
    root: Path, files: int = 20_000, seed: int = 1, big: bool = True
) -> set[frozenset[str]]:
    """Write the tree under `root`; return the true duplicate groups (relative paths)."""
    rng = random.Random(seed)
    data_rng = np.random.default_rng(seed)
    folders = [f"{y}/{m:02d}-{rng.choice(['trip', 'home', 'phone', 'backup', 'misc'])}"
               for y in range(2005, 2025) for m in range(1, 11)]  # fmt: skip
    names: set[str] = set()
    groups: set[frozenset[str]] = set()

    def new_name() -> str:
        while True:
            folder = rng.choice(folders)
            name = f"{folder}/IMG_{rng.randrange(10**6):06d}.{rng.choice(EXTENSIONS)}"
            if name not in names:
                names.add(name)
                return name

    def write(name: str, data: bytes) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def size() -> int:
        return int(min(4 * MB, max(1024, rng.lognormvariate(10.6, 1.0))))  # median ~40 kB

    written = 0
    while written < files:
        roll = rng.random()
        if roll < 0.6:  # a unique file
            write(new_name(), data_rng.bytes(size()))
            written += 1
        elif roll < 0.8:  # a duplicate set
            data = data_rng.bytes(size())
            members = [new_name() for _ in range(rng.choice((2, 2, 2, 3, 4)))]
            for name in members:
                write(name, data)
            groups.add(frozenset(members))
            written += len(members)
        else:  # same-size non-duplicates
            n = max(200 * 1024, size())  # > 2 x 64 KiB: some differ only past the samples
            base = bytearray(data_rng.bytes(n))
            for k in range(rng.choice((2, 3, 4))):
                variant = bytearray(base)
                how = rng.choice(("head", "middle", "last"))
                if how == "head":
                    variant[:16] = data_rng.bytes(16)
                elif how == "middle":
                    variant[n // 2] ^= 0xFF - k
                else:
                    variant[-1] ^= 1 + k
                write(new_name(), bytes(variant))
                written += 1
    if big:
        pair = data_rng.bytes(200 * MB)
        members = [new_name(), new_name()]
        for name in members:
            write(name, pair)
        groups.add(frozenset(members))
        same = bytearray(data_rng.bytes(120 * MB))
        write(new_name(), bytes(same))
        same[60 * MB] ^= 0xFF
        write(new_name(), bytes(same))
        write(new_name(), data_rng.bytes(50 * MB))
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--big", action="store_true", help="add the 50-200 MB files")
    args = parser.parse_args()
    groups = make_tree(args.root, args.files, args.seed, args.big)
    print(f"{args.root}: {sum(len(g) for g in groups)} files in {len(groups)} duplicate groups")


if __name__ == "__main__":
    main()

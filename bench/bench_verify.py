"""`verify` throughput against the floor: xxhsum and sha256sum over the same files.

    python bench/bench_verify.py --files 400 --size-mb 4 [--workers 2] [--workdir DIR]

A library of N photos (a small JPEG padded with random bytes after its end, to the size
asked) is catalogued with `sync`, then read again by:

1. `photoorganiser verify` (XXH3-128 of every byte, checked against the catalog);
2. `photoorganiser verify --manifest` (XXH3-128 and SHA-256 from the same read);
3. `xxhsum -H2` (XXH128: the same hash, C, one process) and `sha256sum` over the same
   files: the floor each of our two runs is compared with;
4. `cat` of every file: the read floor;
5. `photoorganiser verify --older-than 30` right after: the incremental run (reads nothing).

Before every run the page cache is dropped (root only; said otherwise), so each reads the
disk, as verify itself asks for (it drops a file's cached pages before reading it). Peak
memory is the whole process tree's (pool workers included).
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from measure import Run, drop_caches, run, table  # noqa: E402

MB = 1 << 20


def base_jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (96, 64), rng.randbytes(96 * 64 * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def generate(folder: Path, count: int, size: int) -> int:
    total = 0
    rng = random.Random(1)
    for i in range(count):
        head = base_jpeg(i)
        data = head + rng.randbytes(max(0, size - len(head)))
        sub = folder / f"{2000 + i // 100}" / f"{i % 12 + 1:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"IMG_{i:06d}.jpg").write_bytes(data)
        total += len(data)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--size-mb", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="po-verify-", dir=args.workdir))
    library = work / "library"
    po = [sys.executable, "-m", "photoorganiser"]
    common = ["--quiet", "--workers", str(args.workers), "--report-dir", str(work / "reports")]
    try:
        print(f"generating {args.files} files of {args.size_mb:g} MB in {work} ...", flush=True)
        total = generate(library, args.files, int(args.size_mb * MB))
        done = run("sync", [*po, "sync", "--output", str(library), *common])
        if done.returncode != 0:
            sys.exit(f"sync failed: {done.stdout[-500:]}")
        cold = drop_caches()
        if not cold:
            print("(not root: the page cache cannot be dropped; peers may read from memory)")
        listing = work / "files.txt"
        names = sorted(str(p) for p in library.rglob("*.jpg"))
        listing.write_text("\0".join(names) + "\0")
        xargs = ["sh", "-c"]

        def each(tool: str) -> list[str]:
            return [*xargs, f"xargs -0 -n 256 {tool} < '{listing}' > /dev/null"]

        rows: list[Run] = []

        def timed(label: str, cmd: list[str]) -> None:
            drop_caches()
            r = run(label, cmd)
            rows.append(r)
            status = "" if r.returncode == 0 else f"  exit {r.returncode}: {r.stdout[-300:]}"
            print(f"  {label:<44} {r.seconds:8.2f} s{status}", flush=True)

        timed("cat (the read floor)", each("cat"))
        if shutil.which("xxhsum"):
            timed("xxhsum -H2 (XXH128)", each("xxhsum -H2"))
        timed("sha256sum", each("sha256sum"))
        timed("photoorganiser verify", [*po, "verify", "--output", str(library), *common])
        manifest = work / "manifest-sha256.txt"
        timed(
            "photoorganiser verify --manifest (+SHA-256)",
            [*po, "verify", "--output", str(library), "--manifest", str(manifest), *common],
        )
        timed(
            "photoorganiser verify --older-than 30",
            [*po, "verify", "--output", str(library), "--older-than", "30", *common],
        )
        mb = total / 1e6
        print()
        print(f"{args.files} files, {mb:,.0f} MB, workers {args.workers}, cold cache: {cold}")
        print(table(rows, args.files, mb, "sha256sum"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

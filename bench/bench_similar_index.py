"""Near-duplicate search at scale: the all-pairs search vs the multi-index search.

    python bench/bench_similar_index.py [--sizes 10000,100000,1000000] [--workers 2]
        [--pairs-up-to 100000] [--threshold 6]

Hashes are synthetic but shaped like real ones: random 8x8 DCT blocks with a natural
1/f spectrum, thresholded at their median into the 8 dihedral variants (as
similar.hash_pixels does), and 30% of the pictures are near copies of an earlier one
(noise on the coefficients, then turned or mirrored at random): clusters of
look-alikes among unrelated pictures. Each search runs in a child process; the table
gives its search time (hash generation excluded), CPU time, the peak memory of the
child's process tree (pool workers included), and the pairs found. The all-pairs search
is run up to --pairs-up-to hashes and extrapolated (quadratic) above; where both ran,
their pairs are checked to be the same.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import run  # noqa: E402

from photoorganiser.duplicates import mih, similar  # noqa: E402


def synthetic(n: int, hash_size: int = 8, seed: int = 0, copies: float = 0.3) -> np.ndarray:
    """(n, 8, words) uint64 variant hashes shaped like real pHashes (module docstring)."""
    rng = np.random.default_rng(seed)
    k = hash_size
    u = np.arange(k)
    spectrum = 1.0 / (1.0 + u[:, None] + u[None, :])
    sign = np.where(u % 2 == 1, -1.0, 1.0)
    words = similar.words_for(k * k)
    out = np.empty((n, 8, words), dtype=np.uint64)

    def turned(blocks: np.ndarray, variant: int) -> np.ndarray:
        transpose, flip_rows, flip_cols = similar.VARIANTS[variant]
        b = blocks.transpose(0, 2, 1) if transpose else blocks
        if flip_rows:
            b = b * sign[None, :, None]
        if flip_cols:
            b = b * sign[None, None, :]
        return b

    step = 100_000
    for s in range(0, n, step):
        m = min(step, n - s)
        blocks = rng.standard_normal((m, k, k)) * spectrum
        blocks[:, 0, 0] = 10 + np.abs(blocks[:, 0, 0])  # the mean brightness
        near = np.flatnonzero(rng.random(m) < copies)
        near = near[near > 0]
        source = (rng.random(near.size) * near).astype(np.int64)  # an earlier picture
        noisy = blocks[source] + rng.standard_normal((near.size, k, k)) * spectrum * 0.15
        turn = rng.integers(0, 8, near.size)
        for v in range(8):
            blocks[near[turn == v]] = turned(noisy[turn == v], v)
        for v in range(8):
            flat = turned(blocks, v).reshape(m, k * k)
            bits = flat > np.median(flat[:, 1:], axis=1)[:, None]
            packed = np.packbits(bits, axis=1)  # big-endian: coefficient 0 is the top bit
            pad = words * 8 - packed.shape[1]
            if pad:
                packed = np.concatenate([np.zeros((m, pad), np.uint8), packed], axis=1)
            out[s : s + m, v] = packed[:, ::-1].copy().view("<u8")  # pack(): little-endian
    return out


def child(n: int, method: str, threshold: int, workers: int) -> None:
    variants = synthetic(n)
    index = similar.HashIndex.from_arrays(variants, 64)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    plan = None
    if method == "index":
        plan = mih.plan_search(variants.reshape(-1, 1), index.upright, threshold, 64)
    i, j, d, v = index.search(threshold, workers=workers, method=method)
    seconds = time.perf_counter() - t0
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    digest = hashlib.sha256(b"".join(a.astype("<i8").tobytes() for a in (i, j, d, v)))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime - cpu0,
                "pairs": int(len(i)),
                "digest": digest.hexdigest()[:16],
                "plan": [[c.width, c.radius] for c in plan.chunks] if plan else None,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threshold", type=int, default=similar.default_threshold(8))
    parser.add_argument("--pairs-up-to", type=int, default=100_000)
    parser.add_argument("--child", nargs=2, metavar=("N", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(int(args.child[0]), args.child[1], args.threshold, args.workers)

    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"near-duplicate search, {args.threshold} bits, {args.workers} workers, 64-bit pHashes "
        "(30% near copies), time of the search alone, peak RSS of the process tree"
    )
    header = (
        f"{'hashes':>9} {'method':<7} {'seconds':>9} {'cpu s':>8} {'peak MB':>8} "
        f"{'pairs':>9} {'x index':>8}  plan (chunk bits, radius)"
    )
    print(header)
    print("-" * len(header))
    last_pairs: tuple[int, float] | None = None
    for n in sizes:
        rows = {}
        for method in ("pairs", "index"):
            if method == "pairs" and n > args.pairs_up_to:
                continue
            cmd = [sys.executable, __file__, "--child", str(n), method]
            cmd += ["--threshold", str(args.threshold), "--workers", str(args.workers)]
            r = run(f"{n} {method}", cmd)
            if r.returncode != 0:
                print(r.stdout)
                raise SystemExit(f"{method} at {n} failed")
            rows[method] = (json.loads(r.stdout.strip().splitlines()[-1]), r.peak_rss_mb)
        if "pairs" in rows:
            last_pairs = (n, rows["pairs"][0]["seconds"])
        index_s = rows["index"][0]["seconds"]
        for method, (out, peak) in rows.items():
            plan = out["plan"] or ""
            print(
                f"{n:>9} {method:<7} {out['seconds']:>9.2f} {out['cpu']:>8.1f} {peak:>8.0f} "
                f"{out['pairs']:>9} {out['seconds'] / index_s:>8.1f}  {plan}"
            )
        if "pairs" in rows:
            same = rows["pairs"][0]["digest"] == rows["index"][0]["digest"]
            print(f"{'':>9} same pairs (i, j, distance, variant): {'yes' if same else 'NO'}")
        elif last_pairs is not None:
            guess = last_pairs[1] * (n / last_pairs[0]) ** 2
            print(
                f"{n:>9} {'pairs':<7} {guess:>9.0f}  (extrapolated from {last_pairs[0]}: "
                f"quadratic), {guess / index_s:.0f}x the index"
            )


if __name__ == "__main__":
    main()

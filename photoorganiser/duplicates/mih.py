"""Multi-index hashing: every pair of hashes within t bits, without comparing all pairs.

The table holds the 8 variant hashes of every image, the queries are the upright
hashes; the pairs wanted are (i, j), i < j, with some variant of i within t bits of
j's upright hash (the all-pairs search in similar.py, exactly).

The bits are cut into m contiguous chunks of at most 64 bits, and chunk k gets a radius
r_k with sum(r_k) = t - m + 1 (the generalised pigeonhole principle): two hashes within
t bits are within r_k bits in some chunk k (else they would differ in at least
sum(r_k + 1) = t + 1 bits). So every query looks up, in each chunk, the buckets of the
keys within r_k bits of its own key; the entries found there are candidates, checked
with the exact XOR + popcount. With m = t + 1 every radius is 0 (equal chunks). All of
it is numpy over blocks of queries (sort, bucket starts, vectorised expansion), spread
over threads (numpy releases the GIL).

The plan (m and the radii) is chosen by an estimate of its cost from bucket sizes seen
on a sample; when no plan beats comparing all pairs, `plan_search` says so and the
caller keeps its all-pairs search: the pairs found are the same either way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.progress import Progress

DIRECT_BITS = 22  # chunks up to this wide get a bucket-start table (else a sorted search)
MAX_LOOKUPS = 1500  # keys looked up per query, all chunks together
CANDIDATES_PER_STEP = 1 << 21  # candidate entries expanded at once (memory bound)
QUERY_BLOCK = 4096  # queries per task
SAMPLE_QUERIES = 512
SAMPLE_ENTRIES = 1 << 18

# Rough costs in nanoseconds on one core (measured on the 2-core bench machine).
COST_PAIR_WORD = 0.9  # all pairs: one variant against one hash, per 64-bit word
COST_LOOKUP = 40.0  # one key looked up (XOR, two bucket bounds, the expansion's share)
COST_CANDIDATE = 12.0  # one candidate entry checked (gathers, XOR, popcount, filter)
COST_CANDIDATE_WORD = 4.0  # and per 64-bit word of the hash
COST_ENTRY = 120.0  # one table entry bucketed, per chunk (extraction, sort)


@dataclass(frozen=True, slots=True)
class Chunk:
    start: int  # first bit (bit 0 = the lowest bit of word 0)
    width: int  # 1..64 bits
    radius: int  # keys within this many bits are looked up

    def masks(self) -> np.ndarray:
        """Every XOR mask of at most `radius` bits within the chunk's width."""
        out = [0]
        for r in range(1, self.radius + 1):
            for combo in itertools.combinations(range(self.width), r):
                out.append(sum(1 << b for b in combo))
        return np.array(out, dtype=np.uint64)

    def lookups(self) -> int:
        return sum(math.comb(self.width, r) for r in range(self.radius + 1))


@dataclass(frozen=True, slots=True)
class Plan:
    chunks: tuple[Chunk, ...]
    cost_ns: float  # estimated
    candidates: float  # estimated candidate entries
    pairs_cost_ns: float  # the all-pairs search's, estimated

    @property
    def beats_pairs(self) -> bool:
        return self.cost_ns < self.pairs_cost_ns

    @property
    def lookups(self) -> int:
        return sum(c.lookups() for c in self.chunks)


def chunking(bits: int, threshold: int, m: int) -> tuple[Chunk, ...] | None:
    """`m` contiguous chunks over `bits` with radii summing to threshold - m + 1 (all 0
    when m > threshold + 1: at least one chunk is then equal)."""
    budget = max(0, threshold - m + 1)
    if m < 1 or m > bits:
        return None
    widths = [bits // m + (1 if k < bits % m else 0) for k in range(m)]
    if max(widths) > 64:
        return None
    # Wider chunks first in the list: they take the extra radius (fewer keys per bucket).
    radii = [budget // m + (1 if k < budget % m else 0) for k in range(m)]
    chunks, start = [], 0
    for w, r in zip(widths, radii, strict=True):
        chunks.append(Chunk(start, w, min(r, w)))
        start += w
    return tuple(chunks)


def chunk_keys(hashes: np.ndarray, chunk: Chunk) -> np.ndarray:
    """The chunk's bits of every hash ((n, words) uint64) as an (n,) uint64 key."""
    word, offset = divmod(chunk.start, 64)
    keys = hashes[:, word] >> np.uint64(offset)
    if offset + chunk.width > 64:
        keys = keys | (hashes[:, word + 1] << np.uint64(64 - offset))
    if chunk.width < 64:
        keys = keys & np.uint64((1 << chunk.width) - 1)
    return keys


class Buckets:
    """The table's entries bucketed by one chunk's key: `order` lists entry numbers by
    key (in entry order within a bucket); `bounds(keys)` gives each key's start in it
    and its bucket's size."""

    def __init__(self, keys: np.ndarray, width: int) -> None:
        index_type = np.int32 if keys.size < 2**31 else np.int64
        self.order = np.argsort(keys, kind="stable").astype(index_type, copy=False)
        if width <= DIRECT_BITS:
            counts = np.bincount(keys.view(np.int64), minlength=1 << width)
            self.counts: np.ndarray | None = counts.astype(index_type)
            self.starts: np.ndarray | None = np.zeros(counts.size, dtype=index_type)
            np.cumsum(counts[:-1], out=self.starts[1:])
            self.sorted_keys = None
        else:
            self.counts = self.starts = None
            self.sorted_keys = keys[self.order]

    def bounds(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.starts is not None and self.counts is not None:
            k = keys.view(np.int64)
            return self.starts[k], self.counts[k]
        lo = np.searchsorted(self.sorted_keys, keys, side="left")
        return lo, np.searchsorted(self.sorted_keys, keys, side="right") - lo


def plan_search(table: np.ndarray, queries: np.ndarray, threshold: int, bits: int) -> Plan | None:
    """The cheapest multi-index plan (None when every plan needs too many lookups).

    `table`: (n*8, words) variant hashes (entry e is image e // 8); `queries`: (n, words)
    upright hashes. Candidate counts are estimated on a sample of queries against a
    sample of entries, scaled up; `beats_pairs` compares with the all-pairs search.
    """
    n, words = queries.shape
    nv = table.shape[0] // max(n, 1)
    pairs_cost = n * (n - 1) / 2 * nv * words * COST_PAIR_WORD
    lowest = max(1, -(-bits // 64))
    feasible = [
        m
        for m in range(lowest, max(lowest, threshold + 1) + 1)
        if (c := chunking(bits, threshold, m)) is not None
        and sum(x.lookups() for x in c) <= MAX_LOOKUPS
    ]
    if not feasible:
        return None
    m0 = feasible[0]
    tried = [m for m in feasible if m <= m0 + 3 or m == feasible[-1]]
    rng = np.random.default_rng(0)
    q_sample = queries[rng.choice(n, size=min(n, SAMPLE_QUERIES), replace=False)]
    e_pick = rng.choice(table.shape[0], size=min(table.shape[0], SAMPLE_ENTRIES), replace=False)
    e_sample = table[e_pick]
    scale = (table.shape[0] / e_sample.shape[0]) * (n / q_sample.shape[0])
    plans = []
    for m in tried:
        chunks = chunking(bits, threshold, m)
        assert chunks is not None
        lookups = sum(c.lookups() for c in chunks)
        found = 0
        for chunk in chunks:
            keys = np.sort(chunk_keys(e_sample, chunk))
            probe = (chunk_keys(q_sample, chunk)[:, None] ^ chunk.masks()[None, :]).ravel()
            right = np.searchsorted(keys, probe, side="right")
            found += int((right - np.searchsorted(keys, probe, side="left")).sum())
        candidates = found * scale
        cost = (
            n * lookups * COST_LOOKUP
            + candidates * (COST_CANDIDATE + words * COST_CANDIDATE_WORD / 2)
            + table.shape[0] * m * COST_ENTRY
        )
        plans.append(Plan(chunks, cost, candidates, pairs_cost))
    return min(plans, key=lambda p: p.cost_ns)


def search_pairs(
    table: np.ndarray,
    queries: np.ndarray,
    threshold: int,
    plan: Plan,
    workers: int = 1,
    tmap: Callable | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Sorted unique pair keys i * n + j (i < j) with table entry of i within threshold
    of query j in all bits. `tmap(fn, items, workers=, progress=, weight=)`, when given,
    runs the query blocks in threads; `progress` advances by queries done."""
    n, words = queries.shape
    nv = table.shape[0] // n
    buckets = [Buckets(chunk_keys(table, c), c.width) for c in plan.chunks]
    probes = [chunk_keys(queries, c) for c in plan.chunks]
    masks = [c.masks() for c in plan.chunks]
    blocks = [(s, min(n, s + QUERY_BLOCK)) for s in range(0, n, QUERY_BLOCK)]

    single = table[:, 0].copy() if words == 1 else None  # one word: 1-D gathers
    upright = queries[:, 0].copy() if words == 1 else None
    index_type = np.int32 if table.shape[0] < 2**31 else np.int64

    def block(span: tuple[int, int]) -> np.ndarray:
        s, e = span
        found = []
        items = np.arange(s, e, dtype=index_type)
        for b, p, mk in zip(buckets, probes, masks, strict=True):
            lo, counts = b.bounds((p[s:e, None] ^ mk[None, :]).ravel())
            query = np.repeat(items, mk.size)
            nonempty = np.flatnonzero(counts)
            lo, counts, query = lo[nonempty], counts[nonempty], query[nonempty]
            for start, stop in _steps(counts):
                c = counts[start:stop]
                row = np.repeat(np.arange(start, stop, dtype=index_type), c)
                # position in `order` of candidate k of row r: lo[r] + (k - first of r)
                first = np.cumsum(c) - c
                pos = np.arange(row.size, dtype=np.int64)
                pos += (lo[start:stop] - first)[row - start]
                entries = b.order[pos]
                j = query[row]
                earlier = entries < j * nv  # entry e belongs to image e // nv
                entries, j = entries[earlier], j[earlier]
                if single is not None and upright is not None:
                    dist = np.bitwise_count(single[entries] ^ upright[j])
                else:
                    dist = np.bitwise_count(table[entries, 0] ^ queries[j, 0]).astype(np.uint16)
                    for w in range(1, words):
                        dist += np.bitwise_count(table[entries, w] ^ queries[j, w])
                near = np.flatnonzero(dist <= threshold)
                if near.size:
                    found.append((entries[near] // nv).astype(np.int64) * n + j[near])
        if not found:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(found))

    if tmap is not None and workers > 1 and len(blocks) > 1:
        parts = list(
            tmap(block, blocks, workers=workers, progress=progress, weight=lambda b: b[1] - b[0])
        )
    else:
        parts = []
        for span in blocks:
            parts.append(block(span))
            if progress is not None:
                progress.advance(span[1] - span[0])
    if not parts:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(parts))


def _steps(counts: np.ndarray) -> list[tuple[int, int]]:
    """Runs of lookups whose buckets hold about CANDIDATES_PER_STEP entries together (a
    bigger bucket alone in its run)."""
    ends = np.cumsum(counts, dtype=np.int64)
    out = []
    first = 0
    while first < counts.size:
        base = ends[first] - counts[first]
        last = int(np.searchsorted(ends, base + CANDIDATES_PER_STEP, side="right"))
        last = max(last, first + 1)
        out.append((first, last))
        first = last
    return out

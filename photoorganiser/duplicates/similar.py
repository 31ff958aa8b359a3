"""Near duplicates: a rotation- and mirror-invariant DCT perceptual hash and its search.

Every image is decoded small (JPEG draft mode), turned upright by its EXIF orientation,
reduced to a (4*hash_size)^2 grey square and transformed with a 2-D DCT. The
hash_size x hash_size low-frequency block, thresholded at its median, is the pHash.

The 8 rotations/mirrors of a picture have the same DCT up to a transpose and sign
flips of the odd frequencies, so all 8 variant hashes come from one DCT. The index
keeps each image's upright hash; a search finds every pair whose distance, from some
variant of the earlier image to the later one's upright hash, is within the threshold.
Two ways, with the same pairs: a multi-index over chunks of the hashes (mih.py: only
candidates that share a near chunk are compared), or every image's 8 variants against
all later images' upright hashes with numpy XOR + popcount over packed uint64 words, in
blocks spread over the worker pool; the cheaper one, by estimate, is used. Hashes of a
library's contents are kept in its catalog (phashcache.py), so they are computed once.

Guards against false positives: near-flat images are left out, pairs whose aspect
ratios differ (after allowing for a 90 degree turn) are rejected, and pairs whose
capture times say they are different shots (a burst) are left out unless asked for.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..core.parallel import pmap, tmap
from ..core.progress import Progress
from ..core.values import ScanEntry
from ..library.phashes import PerceptualHash
from ..media.heif import register_heif
from . import phashcache
from .describe import describe, upright_on_open
from .keep import choose_keep, kept_over
from .mih import plan_search, search_pairs
from .stage import BATCH_FILES, StageContext
from .values import (
    Burst,
    DuplicateGroup,
    FileInfo,
    KeepReason,
    KeepRule,
    Kind,
    LooksLike,
    Member,
    ReadFailure,
    StageCount,
    Turn,
    not_read,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_HASH_SIZE = 8
# Bump when what hash_image gives for the same bytes changes: hashes cached in a
# library's catalog (phashcache.py) under another version are then computed again.
PHASH_VERSION = 1
# Default threshold as a fraction of the hash's bits: 6 of 64. bench/bench_similar.py on
# 130 real photos x 13 transforms: 4-7 bits keep recall >= 0.99 on every transform (the
# non-blank pictures) at precision >= 0.99; from 8 bits precision falls (0.97 at 8-12,
# 0.88 at 14), because searching all 8 orientations gives 8 chances to a chance match.
DEFAULT_THRESHOLD_FRACTION = 6 / 64
FLAT_STD = 2.0  # grey levels (0-255) on the small square: below this, an image is "flat"
MAX_ASPECT_LOG = 0.10  # |log(aspect_a / aspect_b)| above this (~10.5%): different pictures
MIN_SIDE = 16  # pixels: smaller images are left out like flat ones
BURST_SECONDS = 2.0  # capture times further apart than this: separate shots
SEARCH_BLOCK = 512  # query images per search task

# The 8 dihedral transforms as (transpose, flip rows, flip columns) of the DCT block.
# A variant v of image A matching image B means: B looks like A after Turn(v).
VARIANTS = (
    (False, False, False),
    (False, False, True),
    (False, True, False),
    (False, True, True),
    (True, False, False),
    (True, True, False),
    (True, False, True),
    (True, True, True),
)


def default_threshold(hash_size: int) -> int:
    return round(hash_size * hash_size * DEFAULT_THRESHOLD_FRACTION)


@dataclass(frozen=True, slots=True)
class SimilarOptions:
    hash_size: int = DEFAULT_HASH_SIZE
    threshold: int | None = None  # bits; None: default_threshold(hash_size)
    include_bursts: bool = False
    prefer: tuple[Path, ...] = ()
    library: tuple[Path, ...] = ()  # library folders: their copy is kept first
    search: str = "auto"  # HashIndex.search's method: "auto", "index" or "pairs"


@dataclass(frozen=True, slots=True)
class ImageHash:
    """The perceptual hash of one image: its 8 variants (variants[0] upright) as ints."""

    path: Path
    width: int  # as displayed (after EXIF orientation)
    height: int
    variants: tuple[int, ...]
    flat: bool = False

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.height else 1.0


@dataclass(frozen=True, slots=True)
class Match:
    """Image `b` looks like image `a` after Turn(variant), `distance` bits apart."""

    a: int
    b: int
    distance: int
    variant: int


# --- hashing ------------------------------------------------------------------------


_DCT_CACHE: dict[int, np.ndarray] = {}


def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix C, so that C @ x is the DCT of a column x."""
    if n not in _DCT_CACHE:
        k = np.arange(n)[:, None]
        i = np.arange(n)[None, :]
        c = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
        c[0] /= math.sqrt(2)
        _DCT_CACHE[n] = c
    return _DCT_CACHE[n]


def low_dct(pixels: np.ndarray, hash_size: int) -> np.ndarray:
    """The hash_size x hash_size low-frequency block of the 2-D DCT of a square image."""
    c = dct_matrix(pixels.shape[0])[:hash_size]
    return c @ pixels @ c.T


def variant_blocks(block: np.ndarray) -> list[np.ndarray]:
    """The DCT blocks of the image's 8 rotations/mirrors, in VARIANTS order."""
    k = block.shape[0]
    odd = (np.arange(k) % 2 == 1).astype(np.float64)
    row_sign = (1 - 2 * odd)[:, None]
    col_sign = (1 - 2 * odd)[None, :]
    out = []
    for transpose, flip_rows, flip_cols in VARIANTS:
        b = block.T if transpose else block
        if flip_rows:
            b = b * row_sign
        if flip_cols:
            b = b * col_sign
        out.append(b)
    return out


def block_bits(block: np.ndarray) -> int:
    """Bits of a DCT block: coefficient above the median of the AC coefficients."""
    flat = block.ravel()
    median = np.median(flat[1:])
    bits = np.packbits(flat > median)
    return int.from_bytes(bits.tobytes(), "big") >> (len(bits) * 8 - flat.size)


def hash_pixels(pixels: np.ndarray, hash_size: int) -> tuple[tuple[int, ...], bool]:
    """8 variant hashes of a (4*hash_size)^2 grey image, and whether it is flat."""
    pixels = pixels.astype(np.float64)
    flat = float(pixels.std()) < FLAT_STD
    block = np.round(low_dct(pixels, hash_size), 6)  # no bits from rounding noise
    return tuple(block_bits(b) for b in variant_blocks(block)), flat


_TRANSPOSE_FOR_ORIENTATION = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}  # -> Image.Transpose


def load_square(path: str | Path, side: int):
    """The image upright (EXIF orientation applied), grey, side x side; and its display size.

    Same result as ImageOps.exif_transpose then a resize, but JPEGs are decoded at
    reduced size (draft mode) and the transpose is done on the small image.
    """
    from PIL import Image

    register_heif()
    with Image.open(path) as img:
        width, height = img.size
        try:
            orientation = 1 if upright_on_open(img) else int(img.getexif().get(0x0112, 1))
        except Exception:
            orientation = 1
        if img.format in ("JPEG", "MPO"):
            img.draft("L", (side * 2, side * 2))
        grey = img.convert("L")
    if min(grey.size) > side * 8:
        grey = grey.reduce(min(grey.size) // (side * 4))
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if method is not None:
        grey = grey.transpose(Image.Transpose(method))
        if orientation >= 5:
            width, height = height, width
    small = grey.resize((side, side), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.uint8), width, height


def hash_image(path: str | Path, hash_size: int = DEFAULT_HASH_SIZE) -> ImageHash:
    pixels, width, height = load_square(path, hash_size * 4)
    variants, flat = hash_pixels(pixels, hash_size)
    tiny = min(width, height) < MIN_SIDE  # a few pixels say too little to compare
    return ImageHash(Path(path), width, height, variants, flat or tiny)


def decoded(read: Callable[..., T], path: str, *args: object) -> T | ReadFailure:
    """`read(path, *args)` of an image, or the failure to decode it as a value (a pool
    worker's: undecodable or unreadable is reported, not fatal)."""
    try:
        return read(path, *args)
    except Exception as exc:
        return ReadFailure(Path(path), f"cannot decode image: {exc}")


def hash_worker(path: str, hash_size: int) -> ImageHash | ReadFailure:
    """Pool worker: hash one image; a failure as a value."""
    return decoded(hash_image, path, hash_size)


def hash_images(
    paths: Sequence[Path], hash_size: int, ctx: StageContext
) -> list[ImageHash | ReadFailure]:
    with Progress("phash", len(paths), ctx.show_progress) as progress:
        workers = ctx.workers if len(paths) >= 64 else 1
        # one image an item (BATCH_FILES // 4 of them a task): a worker that dies on one
        # costs that one
        return list(
            pmap(
                functools.partial(hash_worker, hash_size=hash_size),
                [str(p) for p in paths],
                workers=workers,
                progress=progress,
                chunksize=BATCH_FILES // 4,
                lost=not_read,
            )
        )


# --- the index and its search -------------------------------------------------------


def words_for(bits: int) -> int:
    return (bits + 63) // 64


def pack(values: Sequence[int], bits: int) -> np.ndarray:
    """Hashes as ints -> an (n, words) uint64 array."""
    words = words_for(bits)
    raw = b"".join(v.to_bytes(words * 8, "little") for v in values)
    return np.frombuffer(raw, dtype="<u8").reshape(len(values), words).astype(np.uint64)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def min_distance(a: ImageHash, b: ImageHash) -> tuple[int, int]:
    """(distance, variant): how close b is to any rotation/mirror of a."""
    upright = b.variants[0]
    return min((hamming(v, upright), i) for i, v in enumerate(a.variants))


class HashIndex:
    """Packed hashes of n images: `upright` (n, words) and `variants` (n, 8, words)."""

    def __init__(self, hashes: Sequence[ImageHash], bits: int) -> None:
        self.bits = bits
        n = len(hashes)
        words = words_for(bits)
        self.variants = pack([v for h in hashes for v in h.variants], bits).reshape(
            n, len(VARIANTS), words
        )
        self.upright = np.ascontiguousarray(self.variants[:, 0, :])

    @classmethod
    def from_arrays(cls, variants: np.ndarray, bits: int) -> HashIndex:
        index = cls.__new__(cls)
        index.bits = bits
        index.variants = variants
        index.upright = np.ascontiguousarray(variants[:, 0, :])
        return index

    def __len__(self) -> int:
        return self.variants.shape[0]

    @property
    def nbytes(self) -> int:
        return self.variants.nbytes + self.upright.nbytes

    def search(
        self,
        threshold: int,
        workers: int = 1,
        ctx: StageContext | None = None,
        method: str = "auto",
    ):
        """Every pair (i < j) within `threshold` bits under some rotation/mirror.

        Returns (i, j, distance, variant) int arrays, ordered by (i, j). `method`: "index"
        (multi-index hashing, mih.py), "pairs" (every image against every later one), or
        "auto": the index when its estimated cost is lower. The pairs are the same.
        """
        n = len(self)
        if n < 2:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty, empty
        if method == "pairs":
            return self.search_all_pairs(threshold, workers, ctx)
        table = self.variants.reshape(n * len(VARIANTS), -1)
        plan = plan_search(table, self.upright, threshold, self.bits)
        if plan is None or (method == "auto" and not plan.beats_pairs):
            return self.search_all_pairs(threshold, workers, ctx)
        log.debug(
            "near-duplicate index: %d chunks (radii %s), ~%.0f candidates",
            len(plan.chunks),
            [c.radius for c in plan.chunks],
            plan.candidates,
        )
        with Progress("search", n, ctx.show_progress if ctx else False) as progress:
            keys = search_pairs(table, self.upright, threshold, plan, workers, tmap, progress)
        i, j = keys // n, keys % n
        d, v = self.distances(i, j)
        return i, j, d, v

    def distances(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For pairs (i, j): the least distance of i's 8 variants to j's upright hash, and
        the first variant at that distance (as the all-pairs search says)."""
        dist = np.empty(i.size, dtype=np.int64)
        variant = np.empty(i.size, dtype=np.int64)
        step = 1 << 18
        for s in range(0, i.size, step):
            vi, uj = self.variants[i[s : s + step]], self.upright[j[s : s + step]]
            d = np.bitwise_count(vi ^ uj[:, None, :]).sum(axis=2, dtype=np.int64)
            variant[s : s + step] = d.argmin(axis=1)
            dist[s : s + step] = d.min(axis=1)
        return dist, variant

    def search_all_pairs(self, threshold: int, workers: int = 1, ctx: StageContext | None = None):
        """The blocked all-pairs search: every image's 8 variants against every later
        image's upright hash. Returns (i, j, distance, variant), ordered by (i, j)."""
        n = len(self)
        # Blocks of queries against every later image: equal work per task.
        tasks = [
            (self.variants[s : s + SEARCH_BLOCK], self.upright, s, threshold)
            for s in range(0, n, SEARCH_BLOCK)
        ]
        pairs = n * (n - 1) // 2
        workers = workers if pairs * len(VARIANTS) > 50_000_000 else 1
        parts = []
        show = ctx.show_progress if ctx else False
        with Progress("search", len(tasks), show) as progress:
            parts = list(pmap(search_worker, tasks, workers=workers, progress=progress))
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty, empty
        i, j, d, v = (np.concatenate([p[k] for p in parts]) for k in range(4))
        order = np.lexsort((j, i))
        return i[order], j[order], d[order], v[order]


def search_worker(task: tuple[np.ndarray, np.ndarray, int, int]):
    """Pool worker: queries[k] = 8 variants of image start+k, against table[j > start+k].

    Works on cache-sized blocks with preallocated buffers: XOR, popcount, min over the
    8 variants, and the variant is only looked up for the (rare) pairs within threshold.
    """
    queries, table, start, threshold = task
    nq, nv, words = queries.shape
    rows = nq * nv
    q = queries.reshape(rows, words)
    chunk = max(64, (1 << 18) // rows)  # ~256k distances per step: stays in cache
    xor = np.empty((rows, chunk), dtype=np.uint64)
    count = np.empty((rows, chunk), dtype=np.uint8)
    total = np.empty((rows, chunk), dtype=np.uint16) if words > 1 else None
    best_buf = np.empty((nq, chunk), dtype=np.uint16 if words > 1 else np.uint8)
    found: list[tuple[np.ndarray, ...]] = []
    for j0 in range(start + 1, table.shape[0], chunk):
        block = table[j0 : j0 + chunk]
        m = block.shape[0]
        x, c = xor[:, :m], count[:, :m]
        if total is None:
            np.bitwise_xor(q[:, 0, None], block[None, :, 0], out=x)
            dist = np.bitwise_count(x, out=c)
        else:
            dist = total[:, :m]
            dist.fill(0)
            for w in range(words):
                np.bitwise_xor(q[:, w, None], block[None, :, w], out=x)
                dist += np.bitwise_count(x, out=c)
        per_variant = dist.reshape(nq, nv, m)
        best = best_buf[:, :m]
        np.copyto(best, per_variant[:, 0, :])
        for v in range(1, nv):
            np.minimum(best, per_variant[:, v, :], out=best)
        qi, bj = np.nonzero(best <= threshold)
        if qi.size == 0:
            continue
        i = qi + start
        j = bj + j0
        later = j > i
        qi, bj, i, j = qi[later], bj[later], i[later], j[later]
        variant = per_variant[qi, :, bj].argmin(axis=1)
        found.append((i, j, best[qi, bj].astype(np.int64), variant.astype(np.int64)))
    if not found:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate([f[k] for f in found]).astype(np.int64) for k in range(4))


def aspect_compatible(a: ImageHash, b: ImageHash, variant: int) -> bool:
    """Same shape, allowing for the 90 degree turn that `variant` implies."""
    la, lb = math.log(a.aspect), math.log(b.aspect)
    if VARIANTS[variant][0]:  # transposed: b's width is a's height
        lb = -lb
    return abs(la - lb) <= MAX_ASPECT_LOG


def burst_note(a: FileInfo | None, b: FileInfo | None) -> Burst | None:
    """Why two look-alike pictures seem to be separate shots (a burst), or None."""
    if a is None or b is None or a.captured is None or b.captured is None:
        return None
    ta = a.captured.wall.replace(tzinfo=None)
    tb = b.captured.wall.replace(tzinfo=None)
    seconds = abs((ta - tb).total_seconds())
    if seconds > BURST_SECONDS:
        return Burst(seconds)
    if seconds > 0 and a.is_original and b.is_original:
        return Burst(seconds, two_originals=True)
    return None


def find_matches(
    hashes: Sequence[ImageHash],
    bits: int,
    threshold: int,
    workers: int = 1,
    ctx: StageContext | None = None,
    method: str = "auto",
) -> list[Match]:
    """Pairs of images within `threshold` bits (any rotation/mirror), same shape, not flat."""
    if len(hashes) < 2:
        return []
    index = HashIndex(hashes, bits)
    ii, jj, dd, vv = index.search(threshold, workers, ctx, method)
    return [
        Match(a, b, d, v)
        for a, b, d, v in zip(ii.tolist(), jj.tolist(), dd.tolist(), vv.tolist(), strict=True)
        if not hashes[a].flat and not hashes[b].flat and aspect_compatible(hashes[a], hashes[b], v)
    ]


def cache_params(hash_size: int) -> str:
    """What a cached perceptual hash depends on (library/phashes.py's `params`)."""
    return f"dct-dihedral v{PHASH_VERSION} size={hash_size}"


def image_hashes(
    entries: Sequence[ScanEntry],
    hash_size: int,
    ctx: StageContext,
    known: Mapping[Path, tuple[Path, str]] | None = None,
) -> list[ImageHash]:
    """The perceptual hash of every image (failures go to ctx.failures), sorted by path.

    `known`: path -> (library root, content hash) of library files whose catalog row
    still matches them: their hashes are read from that catalog when it has them, and
    the ones computed here are stored there (phashcache.py)."""
    known = known or {}
    bits = hash_size * hash_size
    params = cache_params(hash_size)
    cached = phashcache.load(known, params, bits, ctx) if known else {}
    hashes = [
        ImageHash(e.path, c.width, c.height, c.variants, c.flat)
        for e in entries
        if (c := cached.get(e.path)) is not None and len(c.variants) == len(VARIANTS)
    ]
    done = {h.path for h in hashes}
    todo = [e.path for e in entries if e.path not in done]
    fresh: list[tuple[Path, str, PerceptualHash]] = []
    for r in hash_images(todo, hash_size, ctx):
        if isinstance(r, ReadFailure):
            ctx.failures.append(r)
            continue
        hashes.append(r)
        if r.path in known:
            root, digest = known[r.path]
            fresh.append((root, digest, PerceptualHash(r.variants, r.width, r.height, r.flat)))
    if fresh:
        stored = phashcache.store(fresh, params, bits, ctx)
        ctx.note(f"{'phash':>10}: {stored} new hashes cached in the library", logging.DEBUG)
    if cached:
        ctx.note(f"{'phash':>10}: {len(done)} hashes read from the library's catalog")
    hashes.sort(key=lambda h: str(h.path))
    return hashes


def similar_groups(
    entries: Sequence[ScanEntry],
    options: SimilarOptions,
    ctx: StageContext,
    first_id: int = 1,
    known: Mapping[Path, tuple[Path, str]] | None = None,
) -> list[DuplicateGroup]:
    """Group near-duplicate images among `entries`; each group names one file to keep.
    `known`: the library files' content hashes (see `image_hashes`)."""
    threshold = (
        options.threshold if options.threshold is not None else default_threshold(options.hash_size)
    )
    bits = options.hash_size * options.hash_size
    hashes = image_hashes(entries, options.hash_size, ctx, known)
    flat = sum(h.flat for h in hashes)
    ctx.note(f"{'phash':>10}: {len(hashes)} images hashed ({flat} near-flat or tiny, left out)")
    ctx.flat.extend((h.path, h.width, h.height) for h in hashes if h.flat)
    if len(hashes) < 2:
        return []
    matches = find_matches(hashes, bits, threshold, ctx.workers, ctx, options.search)
    ctx.note(f"{'search':>10}: {len(matches)} look-alike pairs within {threshold} bits")
    involved = sorted({k for m in matches for k in (m.a, m.b)})
    infos = describe([hashes[k].path for k in involved], ctx)
    if options.library:
        prefixes = tuple(str(r).rstrip(os.sep) + os.sep for r in options.library)
        infos = {
            p: replace(i, in_library=True) if str(p).startswith(prefixes) else i
            for p, i in infos.items()
        }
    bursts: dict[tuple[int, int], Burst] = {}
    kept: list[Match] = []
    for m in matches:
        note = burst_note(infos.get(hashes[m.a].path), infos.get(hashes[m.b].path))
        if note is not None:
            bursts[(m.a, m.b)] = note
            if not options.include_bursts:
                continue
        kept.append(m)
    if bursts:
        verb = "kept" if options.include_bursts else "left out"
        ctx.note(f"{'bursts':>10}: {len(bursts)} pairs look like bursts ({verb})")
    kept.sort(key=lambda m: (m.distance, m.a, m.b))
    apart = set() if options.include_bursts else set(bursts)
    components = _components(len(hashes), [(m.a, m.b) for m in kept], apart)
    groups: list[DuplicateGroup] = []
    for comp in components:
        members = [k for k in comp if hashes[k].path in infos]
        if len(members) < 2:
            continue
        group = _similar_group(first_id + len(groups), members, hashes, infos, bursts, options)
        groups.append(group)
    ctx.counts.append(StageCount("similar", sum(len(g.members) for g in groups), len(groups)))
    return groups


def _components(
    n: int, edges: Sequence[tuple[int, int]], apart: AbstractSet[tuple[int, int]] = frozenset()
) -> list[list[int]]:
    """Connected components of `edges` (closest first), never joining two images that
    must stay `apart` (a burst pair) through a third one."""
    parent = list(range(n))
    members: dict[int, list[int]] = {}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ma, mb = members.get(ra, [ra]), members.get(rb, [rb])
        if apart and any((min(x, y), max(x, y)) in apart for x in ma for y in mb):
            continue
        root, other = min(ra, rb), max(ra, rb)
        parent[other] = root
        members[root] = ma + mb
        members.pop(other, None)
    return [sorted(m) for m in members.values() if len(m) > 1]


def _similar_group(
    group_id: int,
    members: list[int],
    hashes: Sequence[ImageHash],
    infos: dict[Path, FileInfo],
    bursts: dict[tuple[int, int], Burst],
    options: SimilarOptions,
) -> DuplicateGroup:
    by_path = {hashes[k].path: k for k in members}
    keep_info, why = choose_keep([infos[hashes[k].path] for k in members], options.prefer)
    keep_k = by_path[keep_info.path]
    rows: list[Member] = []
    for k in sorted(members, key=lambda k: (k != keep_k, str(hashes[k].path))):
        h = hashes[k]
        info = infos[h.path]
        reason: KeepReason | LooksLike
        if k == keep_k:
            distance, reason = 0, why
        else:
            distance, variant = min_distance(hashes[keep_k], h)
            resized = bool(info.pixels and keep_info.pixels and info.pixels != keep_info.pixels)
            note = burst_note(keep_info, info)
            if note is None:
                note = bursts.get((min(k, keep_k), max(k, keep_k)))
            over = kept_over(keep_info, info, options.prefer)
            reason = LooksLike(
                keep_info.path,
                Turn(variant),
                distance,
                size=(info.width, info.height) if resized else None,
                kept_size=(keep_info.width, keep_info.height) if resized else None,
                burst=note,
                in_library=keep_info.in_library and not info.in_library,
                kept_over=over,
                sizes=(info.size, keep_info.size) if over is KeepRule.LARGEST_FILE else None,
            )
        rows.append(
            Member(
                h.path,
                info.size,
                keep=k == keep_k,
                reason=reason,
                distance=distance,
                width=info.width or h.width,
                height=info.height or h.height,
                captured=info.captured,
                phash=f"{h.variants[0]:0{(options.hash_size**2 + 3) // 4}x}",
            )
        )
    return DuplicateGroup(group_id, Kind.SIMILAR, tuple(rows))

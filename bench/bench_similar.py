"""Near duplicates: accuracy of `--similar` on transformed real photos, vs imagehash.

    python bench/bench_similar.py [--corpus DIR] [--limit N] [--workers 2] [--index 100000]

Bases: the decodable photos >= 256 px in the corpus (never copied into the repo; the
transformed set is built in a temp dir), minus near-identical pictures the corpus holds
twice. Positives: each base after each transform. Negatives: every other pair, plus two
crops of each base (a 70% x 70% corner crop, a 70%-wide strip). For each transform the
pool is bases + transformed + crops; precision counts every pair reported in that pool.
Our pHash (dihedral, with the flat and aspect guards) at each threshold is shown next to
imagehash.phash at its best threshold. Then throughput (images/s) and the index's memory
and search time at --index synthetic hashes.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photoorganiser.duplicates import similar  # noqa: E402
from photoorganiser.duplicates.stage import StageContext  # noqa: E402

EXTS = {".jpg", ".jpeg", ".png", ".heic", ".heif", ".hif", ".tif", ".tiff", ".webp"}


def _transforms():
    from PIL import Image, ImageEnhance

    def save(img, path, fmt="JPEG", **kw):
        if fmt == "JPEG":
            kw.setdefault("quality", 90)
        img.save(path, fmt, **kw)

    def oriented(img, path):
        exif = Image.Exif()
        exif[0x0112] = 6  # stored turned left; the tag turns it back right
        save(img.transpose(Image.Transpose.ROTATE_90), path, exif=exif.tobytes())

    T = Image.Transpose
    return {
        "resize 50%": lambda im, p: save(im.resize((im.width // 2, im.height // 2)), p),
        "recompress q50": lambda im, p: save(im, p, quality=50),
        "JPEG->PNG": lambda im, p: save(im, p.with_suffix(".png"), "PNG"),
        "->HEIC": lambda im, p: save(im, p.with_suffix(".heic"), "HEIF", quality=50),
        "rotate 90": lambda im, p: save(im.transpose(T.ROTATE_90), p),
        "rotate 180": lambda im, p: save(im.transpose(T.ROTATE_180), p),
        "rotate 270": lambda im, p: save(im.transpose(T.ROTATE_270), p),
        "mirror": lambda im, p: save(im.transpose(T.FLIP_LEFT_RIGHT), p),
        "brightness +10%": lambda im, p: save(ImageEnhance.Brightness(im).enhance(1.1), p),
        "brightness -10%": lambda im, p: save(ImageEnhance.Brightness(im).enhance(0.9), p),
        "contrast +20%": lambda im, p: save(ImageEnhance.Contrast(im).enhance(1.2), p),
        "contrast -20%": lambda im, p: save(ImageEnhance.Contrast(im).enhance(0.8), p),
        "EXIF orientation": oriented,
    }


def load_bases(corpus: Path, limit: int | None):
    import pillow_heif
    from PIL import Image, ImageOps

    pillow_heif.register_heif_opener()
    bases = []
    for path in sorted(corpus.rglob("*")):
        if path.suffix.lower() not in EXTS or not path.is_file():
            continue
        try:
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img).convert("RGB")
        except Exception:
            continue
        if min(img.size) < 256:
            continue
        bases.append((path, img))
    # The corpus holds some pictures twice (the same test image in two projects):
    # drop near-identical ones so that "distinct photos" are distinct.
    thumbs = [np.asarray(im.convert("L").resize((16, 16)), dtype=np.float32) for _, im in bases]
    keep: list[int] = []
    for i, t in enumerate(thumbs):
        if all(np.abs(t - thumbs[k]).mean() > 6 for k in keep):
            keep.append(i)
    dropped = len(bases) - len(keep)
    bases = [bases[i] for i in keep]
    return (bases[:limit] if limit else bases), dropped


def pair_matrix(ours_variants: np.ndarray) -> np.ndarray:
    """D[i, j] = min over the 8 variants v of i of popcount(v ^ upright(j))."""
    n = ours_variants.shape[0]
    up = ours_variants[:, 0]
    d = np.empty((n, n), dtype=np.uint8)
    for s in range(0, n, 256):
        q = ours_variants[s : s + 256]  # (b, 8)
        d[s : s + 256] = np.bitwise_count(q[:, :, None] ^ up[None, None, :]).min(axis=1)
    return np.minimum(d, d.T)


def index_figures(n: int, hash_size: int, workers: int) -> None:
    """Memory and search time of the index at n synthetic random hashes."""
    words = similar.words_for(hash_size**2)
    threshold = similar.default_threshold(hash_size)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    variants = rng.integers(0, 2**63, size=(n, 8, words), dtype=np.uint64)
    index = similar.HashIndex.from_arrays(variants, hash_size**2)
    i, _j, _d, _v = index.search(threshold, workers=workers)
    search_s = time.perf_counter() - t0
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"\nindex of {n} hashes ({hash_size}x{hash_size} bits): {index.nbytes / 1e6:.1f} MB "
        f"of hashes ({index.nbytes / n:.0f} B/image, all 8 orientations); search (the "
        "multi-index, bench/bench_similar_index.py compares it with all pairs) "
        f"in {search_s:.1f} s with {workers} workers ({len(i)} random pairs <= {threshold} "
        f"bits); peak RSS: main process {own:.0f} MB, largest search worker {kids:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus" / "real")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--index", type=int, default=100_000, help="synthetic index size")
    parser.add_argument("--hash-size", type=int, default=8)
    parser.add_argument("--set", type=Path, help="build the transformed set here (kept, reused)")
    parser.add_argument("--show-fp", type=int, default=None, metavar="BITS")
    parser.add_argument("--only-index", type=int, default=None, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only_index:
        return index_figures(args.only_index, args.hash_size, args.workers)

    import imagehash
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    tmp = args.set or Path(tempfile.mkdtemp(prefix="bench-similar-"))
    tmp.mkdir(parents=True, exist_ok=True)
    reuse = (tmp / "crops").is_dir()
    try:
        bases, dropped = load_bases(args.corpus, args.limit)
        print(f"{len(bases)} base photos >= 256 px ({dropped} near-identical copies left out)")
        files: list[Path] = []
        role: list[tuple[str, int]] = []  # (what, base index)
        for i, (path, _img) in enumerate(bases):
            files.append(path)
            role.append(("base", i))
        t0 = time.perf_counter()
        for name, fn in _transforms().items():
            folder = tmp / name.replace(" ", "_").replace("%", "").replace(">", "")
            folder.mkdir(exist_ok=True)
            for i, (_path, img) in enumerate(bases):
                out = folder / f"{i}.jpg"
                if not reuse:
                    fn(img, out)
                out = next(folder.glob(f"{i}.*"))
                files.append(out)
                role.append((name, i))
        crops = tmp / "crops"
        crops.mkdir(exist_ok=True)
        for i, (_path, img) in enumerate(bases):
            w, h = img.size
            if not reuse:
                img.crop((0, 0, int(w * 0.7), int(h * 0.7))).save(crops / f"{i}-corner.jpg")
                img.crop((int(w * 0.15), 0, int(w * 0.85), h)).save(crops / f"{i}-strip.jpg")
            files += [crops / f"{i}-corner.jpg", crops / f"{i}-strip.jpg"]
            role += [("crop", i), ("crop", i)]
        print(f"{len(files)} images in the set (made in {time.perf_counter() - t0:.0f} s)")

        # --- our hashes (through the product's own pool path) and imagehash's --------
        ctx = StageContext(workers=args.workers)
        t0 = time.perf_counter()
        results = similar.hash_images(files, args.hash_size, ctx)
        ours_s = time.perf_counter() - t0
        by_path = {r.path: r for r in results if isinstance(r, similar.ImageHash)}
        failed = [f for f in files if f not in by_path]
        if failed:
            print(f"{len(failed)} could not be hashed, e.g. {failed[:3]}")
        t0 = time.perf_counter()
        ih = []
        for f in files:
            with Image.open(f) as im:
                ih.append(int(str(imagehash.phash(im)), 16))
        ih_s = time.perf_counter() - t0
        print(f"hashing: ours {len(files) / ours_s:.0f} images/s ({args.workers} workers), "
              f"imagehash.phash {len(files) / ih_s:.0f} images/s (1 process)")  # fmt: skip

        ok = [k for k, f in enumerate(files) if f in by_path]
        hashes = [by_path[files[k]] for k in ok]
        roles = [role[k] for k in ok]
        words = similar.words_for(args.hash_size**2)
        if words != 1:
            sys.exit("the accuracy table supports --hash-size up to 8")
        ours_var = np.array([h.variants for h in hashes], dtype=np.uint64)
        d_ours = pair_matrix(ours_var)
        ihv = np.array([ih[k] for k in ok], dtype=np.uint64)
        d_ih = np.bitwise_count(ihv[:, None] ^ ihv[None, :]).astype(np.uint8)
        # guards: flat images out, aspect ratios must agree (under the best variant)
        flat = np.array([h.flat for h in hashes])
        la = np.log(np.array([h.aspect for h in hashes]))
        same = np.abs(la[:, None] - la[None, :]) <= similar.MAX_ASPECT_LOG
        turned = np.abs(la[:, None] + la[None, :]) <= similar.MAX_ASPECT_LOG
        ok_pair = (same | turned) & ~flat[:, None] & ~flat[None, :]

        kinds = [k for k in _transforms()]
        if args.show_fp is not None:
            hit = np.triu((d_ours <= args.show_fp) & ok_pair, 1)
            for a, b in zip(*np.nonzero(hit), strict=True):
                ra, rb = roles[a], roles[b]
                same_picture = ra[1] == rb[1] and "crop" not in (ra[0], rb[0])
                if not same_picture:
                    print("FP", d_ours[a, b], ra, rb, hashes[a].path, hashes[b].path)
            return
        is_base = np.array([r[0] == "base" for r in roles])
        flat_base = np.zeros(len(bases), dtype=bool)
        for k, r in enumerate(roles):
            if r[0] == "base":
                flat_base[r[1]] = flat[k]
        is_crop = np.array([r[0] == "crop" for r in roles])
        base_of = np.array([r[1] for r in roles])

        def evaluate(dist: np.ndarray, t: int, guard: bool) -> dict[str, tuple[float, float]]:
            hit = dist <= t
            if guard:
                hit &= ok_pair
            np.fill_diagonal(hit, False)
            out = {}
            for kind in kinds:
                pool = is_base | is_crop | np.array([r[0] == kind for r in roles])
                idx = np.flatnonzero(pool)
                sub = np.triu(hit[np.ix_(idx, idx)], 1)
                ii, jj = np.nonzero(sub)
                a, b = idx[ii], idx[jj]
                true = (base_of[a] == base_of[b]) & (
                    (is_base[a] & ~is_crop[b] & ~is_base[b])
                    | (is_base[b] & ~is_crop[a] & ~is_base[a])
                )
                tp = int(true.sum())
                reported = len(a)
                positives = int(sum(1 for r in roles if r[0] == kind))
                out[kind] = (tp / positives, tp / reported if reported else 1.0)
                # recall over the pictures that are not blank (the flat guard's by design)
                tp_nf = int((true & ~flat_base[base_of[a]]).sum())
                out[kind + "*"] = (tp_nf / (positives - int(flat_base.sum())), float("nan"))
            base_index = {int(base_of[k]): k for k in np.flatnonzero(is_base)}
            crop_hits = [hit[base_index[int(base_of[j])], j] for j in np.flatnonzero(is_crop)]
            out["crops matched (neg.)"] = (float(np.mean(crop_hits)), float("nan"))
            return out

        def best_threshold(dist: np.ndarray, guard: bool) -> tuple[int, dict]:
            best = None
            for t in range(0, 33):
                res = evaluate(dist, t, guard)
                prec = min(p for k, (r, p) in res.items() if k in kinds)
                rec = min(r for k, (r, p) in res.items() if k in kinds)
                mean_rec = np.mean([r for k, (r, p) in res.items() if k in kinds])
                score = (prec >= 0.99, mean_rec if prec >= 0.99 else prec, rec)
                if best is None or score > best[0]:
                    best = (score, t, res)
            return best[1], best[2]

        t_default = similar.default_threshold(args.hash_size)
        ours_default = evaluate(d_ours, t_default, True)
        t_best, ours_best = best_threshold(d_ours, True)
        t_ih, ih_best = best_threshold(d_ih, False)
        print(f"\nthresholds: ours default {t_default} bits (best on this set {t_best}); "
              f"imagehash best {t_ih} bits")  # fmt: skip
        print(f"{'transform':<22}{'ours R':>8}{'R*':>7}{'ours P':>8}{'best R':>8}{'best P':>8}"
              f"{'imgh R':>8}{'imgh P':>8}")  # fmt: skip
        for kind in [*kinds, "crops matched (neg.)"]:
            r0, p0 = ours_default[kind]
            r1, p1 = ours_best[kind]
            r2, p2 = ih_best[kind]
            rs = ours_default.get(kind + "*", (float("nan"),))[0]
            print(
                f"{kind:<22}{r0:>8.3f}{rs:>7.3f}{p0:>8.3f}{r1:>8.3f}{p1:>8.3f}{r2:>8.3f}{p2:>8.3f}"
            )
        print(
            f"(R recall, P precision; R* recall without the {int(flat_base.sum())} blank bases "
            "the flat guard leaves out by design; 'best' = our hash at its best threshold)"
        )
        curve = []
        for t in [*range(4, 13), 14, 16]:
            res = evaluate(d_ours, t, True)
            curve.append(
                f"t={t:>2}: min R {min(res[k][0] for k in kinds):.3f}"
                f"  min R* {min(res[k + '*'][0] for k in kinds):.3f}"
                f"  min P {min(res[k][1] for k in kinds):.3f}"
            )
        print("ours by threshold:\n  " + "\n  ".join(curve))

        # --- the index at scale, in a fresh process (its memory alone) ---------------
        subprocess.run(
            [sys.executable, __file__, "--only-index", str(args.index), "--workers",
             str(args.workers), "--hash-size", str(args.hash_size)],
            check=True,
        )  # fmt: skip
    finally:
        if args.set is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

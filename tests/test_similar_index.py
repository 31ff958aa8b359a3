"""find-duplicates --similar at scale: the multi-index search finds exactly the pairs of
the all-pairs search, and a library's catalog keeps perceptual hashes across runs."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS
from PIL import Image
from test_similar import scene

from photoorganiser import cli
from photoorganiser.core.values import FileKind
from photoorganiser.duplicates import mih, similar
from photoorganiser.duplicates.find import find_duplicates, scan_inputs
from photoorganiser.duplicates.similar import ImageHash
from photoorganiser.duplicates.stage import StageContext
from photoorganiser.duplicates.values import FindOptions
from photoorganiser.library.catalog import STATE_DIR, catalog_path
from photoorganiser.library.lock import library_lock

# --- the index finds what comparing all pairs finds -----------------------------------


def synthetic_hashes(n: int, hash_size: int, seed: int) -> list[ImageHash]:
    """Hashes of smooth random pictures through the product's own hashing (8 dihedral
    variants from one DCT); about a third are near copies of an earlier picture, turned
    or mirrored and with some noise, so every distance from 0 up is present."""
    rng = np.random.default_rng(seed)
    side = 4 * hash_size
    pictures: list[np.ndarray] = []
    hashes = []
    for k in range(n):
        if k and rng.random() < 0.35:
            src = pictures[int(rng.integers(k))]
            turned = np.rot90(src, int(rng.integers(4)))
            if rng.random() < 0.5:
                turned = turned[:, ::-1]
            noise = rng.normal(0, float(rng.choice([0.5, 2, 5, 10])), turned.shape)
            pixels = np.clip(turned + noise, 0, 255)
        else:
            coarse = rng.uniform(0, 255, (4, 4))
            pixels = np.kron(coarse, np.ones((side // 4, side // 4)))
            pixels = pixels + rng.normal(0, 20, (side, side))
        pixels = np.ascontiguousarray(pixels)
        pictures.append(pixels)
        variants, flat = similar.hash_pixels(pixels, hash_size)
        hashes.append(ImageHash(Path(f"{k:05}"), 4, 3, variants, flat))
    return hashes


@pytest.mark.parametrize(("hash_size", "n"), [(4, 250), (8, 700), (16, 500), (32, 200)])
def test_index_finds_exactly_the_pairs_of_all_pairs(hash_size: int, n: int) -> None:
    bits = hash_size * hash_size
    index = similar.HashIndex(synthetic_hashes(n, hash_size, seed=hash_size), bits)
    seen = 0
    thresholds = sorted({*range(0, min(13, bits)), similar.default_threshold(hash_size)})
    for threshold in thresholds:
        expected = index.search(threshold, method="pairs")
        for method in ("index", "auto"):
            got = index.search(threshold, method=method)
            for name, a, b in zip("ijdv", expected, got, strict=True):
                assert np.array_equal(a, b), (hash_size, threshold, method, name)
        seen = max(seen, len(expected[0]))
    assert seen >= n // 5  # planted near copies were there to be found


def test_index_on_random_hashes_with_planted_neighbours(monkeypatch) -> None:
    """Uniform random 64-bit variants, and copies of a random variant with 0-12 bits
    flipped: every threshold, both searches agree (the variant named too), with query
    blocks in two threads and candidates expanded a few at a time."""
    monkeypatch.setattr(mih, "QUERY_BLOCK", 128)
    monkeypatch.setattr(mih, "CANDIDATES_PER_STEP", 500)
    rng = np.random.default_rng(7)
    n = 2000
    variants = rng.integers(0, 2**63, size=(n, 8, 1), dtype=np.uint64) << np.uint64(1)
    variants |= rng.integers(0, 2, size=(n, 8, 1), dtype=np.uint64)
    for k in range(1, n, 3):
        source = variants[int(rng.integers(k)), int(rng.integers(8)), 0]
        flips = rng.choice(64, size=int(rng.integers(0, 13)), replace=False)
        variants[k, 0, 0] = source ^ np.uint64(sum(1 << int(b) for b in flips))
    index = similar.HashIndex.from_arrays(variants, 64)
    for threshold in range(0, 13):
        expected = index.search(threshold, method="pairs")
        got = index.search(threshold, workers=2, method="index")
        assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True)), threshold
        assert len(expected[0]) >= (n // 3) * threshold // 13


@pytest.mark.parametrize("bits", [16, 64, 256, 1024])
def test_every_plan_keeps_the_pigeonhole(bits: int) -> None:
    """m chunks of at most 64 bits covering every bit, radii r_k with sum(r_k + 1) > t:
    two hashes within t bits are within r_k bits in some chunk."""
    for threshold in (t for t in (*range(0, 13), 24, 96) if t < bits):
        for m in range(1, min(bits, threshold + 8) + 1):
            chunks = mih.chunking(bits, threshold, m)
            if chunks is None:
                assert m * 64 < bits  # only when a chunk would be wider than a word
                continue
            assert sum(c.width for c in chunks) == bits and max(c.width for c in chunks) <= 64
            assert [c.start for c in chunks] == [sum(c.width for c in chunks[:k]) for k in range(m)]
            every_key = any(c.radius >= c.width for c in chunks)  # one chunk looks up all
            assert every_key or sum(c.radius + 1 for c in chunks) >= threshold + 1


def test_the_index_is_chosen_at_scale_and_pairs_when_small() -> None:
    rng = np.random.default_rng(3)
    big = rng.integers(0, 2**63, size=(50_000, 8, 1), dtype=np.uint64)
    plan = mih.plan_search(big.reshape(-1, 1), np.ascontiguousarray(big[:, 0]), 6, 64)
    assert plan is not None and plan.beats_pairs
    small = big[:50]
    plan = mih.plan_search(small.reshape(-1, 1), np.ascontiguousarray(small[:, 0]), 6, 64)
    assert plan is not None and not plan.beats_pairs


def corpus_images() -> list:
    entries, _ = scan_inputs([CORPUS])
    return [e for e in entries if e.kind is FileKind.IMAGE and e.size > 0]


def test_real_groups_are_the_same_with_the_index(corpus: Path, monkeypatch) -> None:
    """The corpus's photos: the groups (members, keepers, reasons) of the index search
    are those of the all-pairs search, at the default threshold and looser ones."""
    entries = corpus_images()
    ctx = StageContext(workers=2)
    hashed = similar.hash_images([e.path for e in entries], similar.DEFAULT_HASH_SIZE, ctx)
    monkeypatch.setattr(similar, "hash_images", lambda *_args: list(hashed))
    found = 0
    for threshold in (None, 10, 14):
        groups = {}
        for method in ("pairs", "index"):
            options = similar.SimilarOptions(threshold=threshold, search=method)
            groups[method] = similar.similar_groups(entries, options, StageContext(workers=2))
        assert groups["index"] == groups["pairs"], threshold
        found += len(groups["pairs"])
    assert found > 0


# --- the library's catalog keeps the perceptual hashes ----------------------------------


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A library (imported, with its catalog) holding a picture three ways and another."""
    src = tmp_path / "src"
    src.mkdir()
    picture = scene(3)
    picture.save(src / "original.jpg", quality=95)
    picture.resize((240, 180)).save(src / "small.jpg")
    picture.transpose(Image.Transpose.ROTATE_90).save(src / "turned.png")
    scene(8).save(src / "other.jpg")
    lib = tmp_path / "Library"
    args = ["import", "--input", str(src), "--output", str(lib), "--quiet", "--workers", "1"]
    assert cli.main([*args, "--report-dir", str(tmp_path / "reports")]) == 0
    return lib


def decoded(monkeypatch) -> list[Path]:
    """Every image the perceptual hash decodes from now on."""
    calls: list[Path] = []
    real = similar.load_square

    def counting(path, side):
        calls.append(Path(path))
        return real(path, side)

    monkeypatch.setattr(similar, "load_square", counting)
    return calls


def groups_of(root: Path, **kwargs) -> list[tuple[str, list[tuple[str, bool, str]]]]:
    options = FindOptions((root,), similar=True, workers=1, show_progress=False, **kwargs)
    result = find_duplicates(options)
    return [
        (g.kind.value, [(m.path.name, m.keep, str(m.reason)) for m in g.members])
        for g in result.groups
    ]


def cached_rows(lib: Path) -> int:
    with sqlite3.connect(catalog_path(lib)) as conn:
        return conn.execute("SELECT count(*) FROM phashes").fetchone()[0]


def test_a_second_search_over_the_library_reads_no_image(library: Path, monkeypatch) -> None:
    calls = decoded(monkeypatch)
    first = groups_of(library)
    assert len(calls) == 4 and cached_rows(library) == 4
    assert [len(members) for _, members in first] == [3]
    calls.clear()
    assert groups_of(library) == first
    assert calls == []
    # --library with a drive: the drive's files are decoded, the library's are not
    drive = library.parent / "drive"
    drive.mkdir()
    scene(3).resize((320, 240)).save(drive / "copy.jpg")
    calls.clear()
    with_drive = groups_of(drive, library=library)
    assert [p.name for p in calls] == ["copy.jpg"]
    assert [len(members) for _, members in with_drive] == [4]


def test_a_changed_library_file_is_decoded_again(library: Path, monkeypatch) -> None:
    calls = decoded(monkeypatch)
    first = groups_of(library)
    photo = next(p for p in library.rglob("*") if p.name.endswith("small.jpg"))
    st = photo.stat()
    os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the catalog no longer says
    calls.clear()
    assert groups_of(library) == first
    assert calls == [photo]


def test_a_busy_library_is_searched_but_not_written(library: Path, monkeypatch) -> None:
    calls = decoded(monkeypatch)
    before = catalog_path(library).read_bytes()
    with library_lock(library / STATE_DIR, "another run"):  # another run holds it
        first = groups_of(library)
    assert len(calls) == 4
    assert catalog_path(library).read_bytes() == before  # nothing written, nothing waited for
    calls.clear()
    assert groups_of(library) == first and len(calls) == 4  # free now: stored
    calls.clear()
    assert groups_of(library) == first and calls == []


def test_a_read_only_library_is_searched_but_not_written(
    library: Path, small_fs, monkeypatch
) -> None:
    mount = small_fs("64m")
    copy = shutil.copytree(library, mount / "Library")  # mtimes kept: the catalog still says
    expected = [
        (kind, [(name, keep, reason.replace(str(library), str(copy))) for name, keep, reason in m])
        for kind, m in groups_of(library)
    ]
    done = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot make the file system read-only here")
    try:
        calls = decoded(monkeypatch)
        assert groups_of(copy) == expected and len(calls) == 4
        calls.clear()
        assert groups_of(copy) == expected and len(calls) == 4
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], capture_output=True)


def test_the_cache_is_keyed_by_the_hash_size(library: Path, monkeypatch) -> None:
    calls = decoded(monkeypatch)
    groups_of(library)
    calls.clear()
    groups_of(library, hash_size=16)
    assert len(calls) == 4 and cached_rows(library) == 8
    with sqlite3.connect(catalog_path(library)) as conn:
        params = {r[0] for r in conn.execute("SELECT DISTINCT params FROM phashes")}
    assert params == {similar.cache_params(8), similar.cache_params(16)}

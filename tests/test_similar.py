"""find-duplicates --similar: perceptual hashes, their search, and near-duplicate groups."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from media import exif_bytes
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from photoorganiser import cli
from photoorganiser.duplicates import report as dupreport
from photoorganiser.duplicates import similar
from photoorganiser.duplicates.find import find_duplicates
from photoorganiser.duplicates.similar import ImageHash, aspect_compatible
from photoorganiser.duplicates.values import Burst, FindOptions, Kind, LooksLike, Turn


def scene(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A smooth, structured picture (gradient + blurred shapes): stable perceptual hashes."""
    rng = random.Random(seed)
    w, h = size
    base = Image.linear_gradient("L").rotate(rng.choice([0, 90, 180, 270])).resize(size)
    img = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base))
    draw = ImageDraw.Draw(img)
    for _ in range(7):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(40, w // 2), y0 + rng.randrange(40, h // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(3))


def save(img: Image.Image, path: Path, fmt: str = "JPEG", **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    img.save(path, fmt, **kwargs)
    return path


def with_orientation(img: Image.Image, path: Path) -> Path:
    """Pixels stored turned 90° left, EXIF orientation 6 says: turn right to display."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return save(img.transpose(Image.Transpose.ROTATE_90), path, exif=exif.tobytes())


TRANSFORMS = {
    "resized.jpg": lambda im, p: save(im.resize((im.width // 2, im.height // 2)), p),
    "recompressed.jpg": lambda im, p: save(im, p, quality=40),
    "converted.png": lambda im, p: save(im, p, "PNG"),
    "converted.heic": lambda im, p: save(im, p, "HEIF", quality=60),
    "rot90.jpg": lambda im, p: save(im.transpose(Image.Transpose.ROTATE_90), p),
    "rot180.jpg": lambda im, p: save(im.transpose(Image.Transpose.ROTATE_180), p),
    "rot270.png": lambda im, p: save(im.transpose(Image.Transpose.ROTATE_270), p, "PNG"),
    "mirror.jpg": lambda im, p: save(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), p),
    "brighter.jpg": lambda im, p: save(ImageEnhance.Brightness(im).enhance(1.1), p),
    "contrast.jpg": lambda im, p: save(ImageEnhance.Contrast(im).enhance(0.85), p),
    "oriented.jpg": with_orientation,
}


def run(root: Path, **kwargs) -> dict[frozenset[str], Kind]:
    result = find_duplicates(
        FindOptions((root,), similar=True, workers=1, show_progress=False, **kwargs)
    )
    return {frozenset(m.path.name for m in g.members): g.kind for g in result.groups}


def test_transformed_copies_are_found_and_distinct_pictures_are_not(tmp_path: Path) -> None:
    root = tmp_path / "in"
    original = scene(1)
    save(original, root / "original.jpg", quality=95, exif=exif_bytes(make="Canon"))
    for name, make in TRANSFORMS.items():
        make(original, root / "copies" / name)
    save(scene(2), root / "other" / "different-2.jpg")
    save(scene(3), root / "other" / "different-3.jpg")
    save(scene(4, (360, 480)), root / "other" / "different-4-portrait.jpg")
    groups = run(root)
    assert groups == {frozenset({"original.jpg", *TRANSFORMS}): Kind.SIMILAR}


def test_similar_group_rows(tmp_path: Path) -> None:
    root = tmp_path / "in"
    original = scene(5)
    save(original, root / "original.jpg", quality=95, exif=exif_bytes(make="Canon"))
    save(original.resize((240, 180)), root / "small.png", "PNG")
    save(original.transpose(Image.Transpose.ROTATE_90), root / "turned.jpg")
    report = tmp_path / "r.csv"
    args = ["find-duplicates", "--input", str(root), "--report", str(report), "--similar"]
    assert cli.main([*args, "--workers", "1"]) == 0
    rows = dupreport.read_report(report)
    assert {r.kind for r in rows} == {Kind.SIMILAR} and len(rows) == 3
    keep = [r for r in rows if r.keep]
    assert [Path(r.path).name for r in keep] == ["original.jpg"]  # highest resolution
    turned = next(r for r in rows if r.path.endswith("turned.jpg"))
    assert "rotated" in turned.reason and turned.distance is not None
    assert (turned.width, turned.height) == (360, 480)


def test_flat_and_blank_images_are_not_grouped(tmp_path: Path) -> None:
    """Blank frames all have the same (all-zero) pHash: only the flatness guard keeps a
    black frame, a white page and a grey card apart."""
    root = tmp_path / "in"
    for level in (0, 128, 255):
        save(Image.new("RGB", (400, 300), (level,) * 3), root / f"blank{level}.png", "PNG")
    rng = np.random.default_rng(0)
    for level in (40, 220):  # near-blank: a little sensor noise
        pixels = np.clip(level + rng.normal(0, 1.0, (300, 400)), 0, 255).astype(np.uint8)
        save(Image.fromarray(pixels), root / f"near-blank{level}.jpg")
    assert run(root) == {}


def test_different_aspect_ratio_is_not_a_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "in"
    original = scene(6)
    save(original, root / "original.jpg")
    save(original.resize((480, 240)), root / "squashed.jpg")  # same content, other shape
    assert run(root) == {}
    a = ImageHash(Path("a"), 400, 300, (0,) * 8)
    assert aspect_compatible(a, ImageHash(Path("b"), 200, 150, (0,) * 8), 0)
    assert aspect_compatible(a, ImageHash(Path("b"), 300, 400, (0,) * 8), 5)  # rotated 90
    assert not aspect_compatible(a, ImageHash(Path("b"), 300, 400, (0,) * 8), 0)
    assert not aspect_compatible(a, ImageHash(Path("b"), 400, 200, (0,) * 8), 0)


def test_bursts_are_left_out_unless_asked(tmp_path: Path) -> None:
    root = tmp_path / "in"
    original = scene(7)
    t0, t1 = datetime(2021, 6, 1, 12, 0, 0), datetime(2021, 6, 1, 12, 0, 5)
    save(original, root / "IMG_0001.jpg", quality=95, exif=exif_bytes(t0, make="Canon"))
    shifted = original.transform(original.size, Image.Transform.AFFINE, (1, 0, 3, 0, 1, 2))
    save(shifted, root / "IMG_0002.jpg", quality=95, exif=exif_bytes(t1, make="Canon"))
    assert run(root) == {}
    assert run(root, include_bursts=True) == {
        frozenset({"IMG_0001.jpg", "IMG_0002.jpg"}): Kind.SIMILAR
    }
    result = find_duplicates(
        FindOptions((root,), similar=True, include_bursts=True, workers=1, show_progress=False)
    )
    other = next(m for m in result.groups[0].members if not m.keep)
    assert isinstance(other.reason, LooksLike) and isinstance(other.reason.burst, Burst)
    assert "burst" in dupreport.reason_text(other.reason)


def test_an_undated_copy_does_not_chain_a_burst_together(tmp_path: Path) -> None:
    root = tmp_path / "in"
    original = scene(7)
    t0, t1 = datetime(2021, 6, 1, 12, 0, 0), datetime(2021, 6, 1, 12, 0, 5)
    save(original, root / "IMG_0001.jpg", quality=95, exif=exif_bytes(t0, make="Canon"))
    save(original, root / "IMG_0002.jpg", quality=90, exif=exif_bytes(t1, make="Canon"))
    save(original.resize((240, 180)), root / "undated-small.png", "PNG")  # like both
    groups = run(root)
    assert len(groups) == 1
    (members,) = groups
    assert "undated-small.png" in members and len(members) == 2


def test_exact_copies_stay_exact_with_similar(tmp_path: Path) -> None:
    root = tmp_path / "in"
    original = save(scene(8), root / "a.jpg")
    (root / "b.jpg").write_bytes(original.read_bytes())
    save(scene(8).resize((240, 180)), root / "c.jpg")
    result = find_duplicates(FindOptions((root,), similar=True, workers=1, show_progress=False))
    kinds = sorted((g.kind.value, sorted(m.path.name for m in g.members)) for g in result.groups)
    assert kinds == [("exact", ["a.jpg", "b.jpg"]), ("similar", ["a.jpg", "c.jpg"])]


def test_dct_variants_are_the_hashes_of_the_turned_pixels() -> None:
    pixels = np.asarray(scene(9).convert("L").resize((32, 32)), dtype=np.float64)
    variants, flat = similar.hash_pixels(pixels, 8)
    assert not flat
    turned = {
        Turn.MIRRORED: pixels[:, ::-1],
        Turn.ROTATED_90: np.rot90(pixels),
        Turn.ROTATED_180: np.rot90(pixels, 2),
        Turn.ROTATED_270: np.rot90(pixels, 3),
    }
    for turn, p in turned.items():
        upright = similar.hash_pixels(np.ascontiguousarray(p), 8)[0][0]
        assert variants[turn.value] == upright, turn
    assert len(set(variants)) == 8


@pytest.mark.parametrize("hash_size", [8, 16])
def test_index_search_matches_brute_force(hash_size: int) -> None:
    rng = random.Random(hash_size)
    bits = hash_size * hash_size
    hashes = []
    for k in range(700):
        base = rng.getrandbits(bits)
        if k % 7 == 3:  # a planted near copy of the previous image, under some variant
            base = hashes[-1].variants[k % 8] ^ (1 << rng.randrange(bits))
        variants = (base, *(rng.getrandbits(bits) for _ in range(7)))
        hashes.append(ImageHash(Path(f"{k}"), 4, 3, variants))
    threshold = bits // 8
    index = similar.HashIndex(hashes, bits)
    i, j, d, _ = index.search(threshold)
    found = set(zip(i.tolist(), j.tolist(), d.tolist(), strict=True))
    expected = set()
    for a in range(len(hashes)):
        for b in range(a + 1, len(hashes)):
            dist, _v = similar.min_distance(hashes[a], hashes[b])
            if dist <= threshold:
                expected.add((a, b, dist))
    assert found == expected and len(expected) >= 100


def test_an_oriented_tiff_is_turned_upright_once(tmp_path: Path) -> None:
    """A portrait shot as a TIFF and as a JPEG, both stored landscape with EXIF orientation
    6, and the same picture stored upright: one picture, the same way up. (Pillow turns a
    TIFF upright as it opens it: turned again, it lay on its side, a "rotated" copy.)"""
    picture = scene(11, (240, 120))
    exif = Image.Exif()
    exif[0x0112] = 6
    root = tmp_path / "in"
    root.mkdir()
    picture.save(root / "portrait.jpg", quality=95, exif=exif)
    picture.save(root / "portrait.tif", exif=exif)
    picture.rotate(-90, expand=True).save(root / "other.jpg", quality=95)  # upright already
    report = tmp_path / "r.csv"
    args = ["find-duplicates", "--input", str(root), "--similar", "--report", str(report)]
    assert cli.main([*args, "--workers", "1", "--quiet"]) == 0
    rows = {Path(r.path).name: r for r in dupreport.read_report(report)}
    assert set(rows) == {"portrait.jpg", "portrait.tif", "other.jpg"}
    assert {r.group_id for r in rows.values()} == {1}
    tif, jpg = rows["portrait.tif"], rows["portrait.jpg"]
    assert (tif.width, tif.height) == (jpg.width, jpg.height)
    assert all((r.distance or 0) <= 2 for r in rows.values())
    dropped = [r.reason for r in rows.values() if not r.keep]
    assert len(dropped) == 2 and all("(same orientation;" in why for why in dropped), dropped

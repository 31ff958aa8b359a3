"""Thumbnails (media/thumbs.py) and the library's thumbnail cache (library/thumbs.py).

Real files: JPEGs with EXIF orientation (piexif), HEIC (pillow-heif), RAW files of the
corpus, a real video made by ffmpeg when it is installed, damaged files.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import piexif
import pytest
from media import make_heic, make_jpeg
from PIL import Image

from photoorganiser.core.hashing import hash_file
from photoorganiser.library import thumbs as cache_module
from photoorganiser.library.lock import UnsafeStateFile
from photoorganiser.library.thumbs import ThumbCache
from photoorganiser.media import thumbs
from photoorganiser.media.thumbs import make_thumbnail

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")

RED, BLUE = (255, 0, 0), (0, 0, 255)


def decoded(jpeg: bytes | None) -> Image.Image:
    assert jpeg is not None
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG"
    return img.convert("RGB")


def near(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 60 for a, b in zip(pixel, colour, strict=False))


def corner_jpeg(path: Path, orientation: int, size: tuple[int, int] = (800, 400)) -> Path:
    """Blue, with a red top-left quarter as stored; EXIF says how to turn it upright."""
    img = Image.new("RGB", size, BLUE)
    img.paste(RED, (0, 0, size[0] // 4, size[1] // 4))
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation}})
    img.save(path, "JPEG", quality=95, exif=exif)
    return path


# --- make_thumbnail ----------------------------------------------------------------------


def test_a_jpeg_is_shrunk_to_its_longest_side(tmp_path: Path) -> None:
    img = decoded(make_thumbnail(corner_jpeg(tmp_path / "a.jpg", 1), 200))
    assert img.size == (200, 100)
    assert near(img.getpixel((3, 3)), RED) and near(img.getpixel((196, 96)), BLUE)


def test_exif_orientation_6_is_turned_upright(tmp_path: Path) -> None:
    img = decoded(make_thumbnail(corner_jpeg(tmp_path / "a.jpg", 6), 200))
    assert img.size == (100, 200)  # stored landscape, shown portrait
    # turned 90 degrees clockwise: the stored top-left corner is now the top-right one
    assert near(img.getpixel((96, 3)), RED)
    assert near(img.getpixel((3, 3)), BLUE)
    assert near(img.getpixel((96, 196)), BLUE)


def test_a_small_image_keeps_its_size(tmp_path: Path) -> None:
    img = decoded(make_thumbnail(make_jpeg(tmp_path / "a.jpg", size=(64, 48)), 320))
    assert img.size == (64, 48)


def test_a_heic(tmp_path: Path) -> None:
    img = decoded(make_thumbnail(make_heic(tmp_path / "a.heic", size=(400, 300)), 100))
    assert img.size == (100, 75)


def test_a_heic_turned_once(tmp_path: Path) -> None:
    """HEIF turns by its irot box, which libheif applies; its EXIF orientation says the
    same again and must not turn it a second time."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    img = Image.new("RGB", (400, 200), BLUE)
    img.paste(RED, (0, 0, 100, 50))
    path = tmp_path / "a.heic"
    img.save(path, "HEIF", quality=90, exif=piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}}))
    shown = decoded(make_thumbnail(path, 200))
    assert shown.size == (100, 200)
    assert near(shown.getpixel((95, 3)), RED) and near(shown.getpixel((3, 3)), BLUE)


@pytest.mark.parametrize("make", [None, "NIKON CORPORATION"])
def test_a_tiff_turned_once(tmp_path: Path, make: str | None) -> None:
    """Pillow's TIFF plugin turns a TIFF upright as it loads it: its EXIF orientation must
    not turn it a second time. A plain TIFF whose EXIF names a Nikon is a photo too, not
    a NEF without previews."""
    img = Image.new("RGB", (400, 200), BLUE)
    img.paste(RED, (0, 0, 100, 50))
    zeroth: dict[int, object] = {piexif.ImageIFD.Orientation: 6}
    if make:
        zeroth[piexif.ImageIFD.Make] = make.encode()
    path = tmp_path / "a.tif"
    img.save(path, "TIFF", exif=piexif.dump({"0th": zeroth}))
    shown = decoded(make_thumbnail(path, 200))
    assert shown.size == (100, 200)
    assert near(shown.getpixel((95, 3)), RED) and near(shown.getpixel((3, 3)), BLUE)


def test_a_png_with_alpha(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGBA", (300, 150), (0, 0, 255, 255)).save(path)
    img = decoded(make_thumbnail(path, 100))
    assert img.size == (100, 50) and near(img.getpixel((50, 25)), BLUE)


def test_raw_files_by_their_previews(corpus: Path) -> None:
    dng = decoded(make_thumbnail(corpus / "photoprism/canon_eos_6d.dng", 320))
    assert max(dng.size) == 320 and dng.width > dng.height
    # the CR3's preview is stored landscape; the CR3 says orientation 6 (its preview says none)
    cr3 = decoded(make_thumbnail(corpus / "file-type/fixture.cr3", 320))
    assert cr3.height > cr3.width
    for name in ("hachoir/canon.raw.cr2", "exiftool/FujiFilm.raf", "exiv2/Canon-R6-pruned.CR3"):
        assert make_thumbnail(corpus / name, 64) is not None, name


def test_damaged_files_give_none(tmp_path: Path) -> None:
    good = corner_jpeg(tmp_path / "good.jpg", 1).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good[: len(good) // 2])
    assert make_thumbnail(cut) is None
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(5000))
    assert make_thumbnail(noise) is None
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert make_thumbnail(empty) is None
    assert make_thumbnail(tmp_path / "missing.jpg") is None
    (tmp_path / "folder.jpg").mkdir()
    assert make_thumbnail(tmp_path / "folder.jpg") is None


def test_links_and_fifos_are_not_read(tmp_path: Path) -> None:
    real = corner_jpeg(tmp_path / "real.jpg", 1)
    (tmp_path / "link.jpg").symlink_to(real)
    assert make_thumbnail(tmp_path / "link.jpg") is None
    os.mkfifo(tmp_path / "fifo.jpg")
    started = time.monotonic()
    assert make_thumbnail(tmp_path / "fifo.jpg") is None
    assert time.monotonic() - started < 5


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_decompression_bomb_gives_none(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(60_000, 60_000))  # 3.6 gigapixels in a few hundred bytes
    started = time.monotonic()
    assert make_thumbnail(bomb) is None
    assert time.monotonic() - started < 5
    assert Image.MAX_IMAGE_PIXELS is not None  # the limit stays


def make_video(path: Path, seconds: float, colour: str = "red") -> Path:
    assert FFMPEG is not None
    subprocess.run(
        [FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i"]
        + [f"color=c={colour}:s=160x120:d={seconds}", "-c:v", "mpeg4", str(path)],
        check=True,
        timeout=60,
    )
    return path


@needs_ffmpeg
def test_a_video_poster_frame(tmp_path: Path) -> None:
    long = make_video(tmp_path / "long.mp4", 2)
    img = decoded(make_thumbnail(long, 80))
    assert img.size == (80, 60) and near(img.getpixel((40, 30)), RED)
    short = make_video(tmp_path / "short.mp4", 0.4, "blue")  # shorter than the 1 s seek
    img = decoded(make_thumbnail(short, 320))
    assert img.size == (160, 120) and near(img.getpixel((80, 60)), BLUE)


def test_a_video_without_ffmpeg_gives_none(tmp_path: Path) -> None:
    from media import make_mp4

    video = make_mp4(tmp_path / "a.mp4", None)
    assert make_thumbnail(video, ffmpeg=None) is None
    made = thumbs.thumbnail(video, ffmpeg=None)
    assert made.jpeg is None and not made.final  # not the content's fault


def test_a_stuck_ffmpeg_is_stopped(tmp_path: Path) -> None:
    from media import make_mp4

    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    started = time.monotonic()
    video = make_mp4(tmp_path / "a.mp4", None)
    assert make_thumbnail(video, ffmpeg=str(fake), time_limit=1.0) is None
    assert time.monotonic() - started < 10


# --- the cache ---------------------------------------------------------------------------


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = thumbs.thumbnail

    def counting(path: Path, *args: object, **kwargs: object) -> thumbs.Thumbnail:
        calls.append(path)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(thumbs, "thumbnail", counting)
    return calls


def library_with_photo(tmp_path: Path) -> tuple[Path, Path, str]:
    library = tmp_path / "lib"
    (library / ".photoorganiser").mkdir(parents=True)
    (library / "2021").mkdir()
    photo = corner_jpeg(library / "2021" / "a.jpg", 6)
    return library, photo, hash_file(photo)


def test_the_cache_makes_once_then_reads(tmp_path: Path, counted: list[Path]) -> None:
    library, photo, digest = library_with_photo(tmp_path)
    cache = ThumbCache(library)
    first = cache.get(digest, photo, 128)
    assert decoded(first).size == (64, 128)
    kept = library / ".photoorganiser" / "thumbs" / digest[:2] / f"{digest}-128.jpg"
    assert cache.path_for(digest, 128) == kept
    assert kept.read_bytes() == first
    assert cache.get(digest, photo, 128) == first
    assert counted == [photo]  # the second get decoded nothing
    assert not [p for p in kept.parent.iterdir() if p.name.endswith(".tmp")]
    # another size is another thumbnail
    assert decoded(cache.get(digest, photo, 64)).size == (32, 64)
    assert len(counted) == 2


def test_the_wrong_content_is_never_cached(tmp_path: Path, counted: list[Path]) -> None:
    library, photo, digest = library_with_photo(tmp_path)
    other = "0123456789abcdef" * 2
    cache = ThumbCache(library)
    assert cache.get(other, photo, 128) is None
    thumbs_dir = library / ".photoorganiser" / "thumbs"
    assert not thumbs_dir.exists() or not any(thumbs_dir.rglob("*.*"))
    # the file changed since the catalog saw it: no thumbnail, and none cached
    corner_jpeg(photo, 1)
    assert cache.get(digest, photo, 128) is None
    assert not thumbs_dir.exists() or not any(thumbs_dir.rglob("*.*"))
    assert cache.get(digest, tmp_path / "gone.jpg", 128) is None


def test_a_broken_file_is_remembered(tmp_path: Path, counted: list[Path]) -> None:
    library = tmp_path / "lib"
    broken = library / "b.jpg"
    broken.parent.mkdir()
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 3000)
    digest = hash_file(broken)
    cache = ThumbCache(library)
    assert cache.get(digest, broken, 128) is None
    marker = library / ".photoorganiser" / "thumbs" / digest[:2] / f"{digest}-128.fail"
    assert marker.exists() and marker.stat().st_size == 0
    assert cache.get(digest, broken, 128) is None
    assert len(counted) == 1
    old = time.time() - cache_module.FAIL_RETRY - 10  # an old marker: tried again
    os.utime(marker, (old, old))
    assert cache.get(digest, broken, 128) is None
    assert len(counted) == 2


def test_a_video_without_ffmpeg_is_not_remembered(tmp_path: Path) -> None:
    from media import make_mp4

    library = tmp_path / "lib"
    video = make_mp4(library / "v.mp4", None)
    digest = hash_file(video)
    assert ThumbCache(library, ffmpeg=None).get(digest, video, 128) is None
    thumbs_dir = library / ".photoorganiser" / "thumbs"
    assert not thumbs_dir.exists() or not any(thumbs_dir.rglob("*.*"))


def test_a_linked_thumbs_folder_is_refused(tmp_path: Path) -> None:
    library, photo, digest = library_with_photo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (library / ".photoorganiser" / "thumbs").symlink_to(elsewhere)
    with pytest.raises(UnsafeStateFile):
        ThumbCache(library).get(digest, photo, 128)
    assert list(elsewhere.iterdir()) == []


def test_a_linked_shard_or_file_is_refused(tmp_path: Path) -> None:
    library, photo, digest = library_with_photo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shard = library / ".photoorganiser" / "thumbs" / digest[:2]
    shard.parent.mkdir(parents=True)
    shard.symlink_to(elsewhere)
    with pytest.raises(UnsafeStateFile):
        ThumbCache(library).get(digest, photo, 128)
    assert list(elsewhere.iterdir()) == []
    shard.unlink()
    shard.mkdir()
    target = tmp_path / "target.jpg"
    target.write_bytes(b"\xff\xd8 not yours \xff\xd9")
    (shard / f"{digest}-128.jpg").symlink_to(target)
    with pytest.raises(UnsafeStateFile):
        ThumbCache(library).get(digest, photo, 128)
    assert target.read_bytes() == b"\xff\xd8 not yours \xff\xd9"


def test_a_read_only_library_still_gets_thumbnails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library, photo, digest = library_with_photo(tmp_path)

    def read_only(*args: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cache_module, "_write", read_only)
    assert decoded(ThumbCache(library).get(digest, photo, 128)).size == (64, 128)
    assert not (library / ".photoorganiser" / "thumbs" / digest[:2] / f"{digest}-128.jpg").exists()


def test_malformed_requests_are_refused(tmp_path: Path) -> None:
    library, photo, digest = library_with_photo(tmp_path)
    cache = ThumbCache(library)
    for bad in ("../../etc/passwd", digest.upper(), digest[:-1], ""):
        with pytest.raises(ValueError):
            cache.get(bad, photo, 128)
    for size in (0, 8, 100_000):
        with pytest.raises(ValueError):
            cache.get(digest, photo, size)


def test_a_cut_cached_file_is_made_again(tmp_path: Path, counted: list[Path]) -> None:
    library, photo, digest = library_with_photo(tmp_path)
    cache = ThumbCache(library)
    good = cache.get(digest, photo, 128)
    assert good is not None
    cache.path_for(digest, 128).write_bytes(good[:100])  # a crash while it was written
    assert cache.get(digest, photo, 128) == good
    assert len(counted) == 2


@needs_ffmpeg
def test_the_cache_keeps_a_video_poster(tmp_path: Path, counted: list[Path]) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    video = make_video(library / "v.mp4", 2)
    digest = hash_file(video)
    cache = ThumbCache(library)
    first = cache.get(digest, video, 64)
    assert decoded(first).size == (64, 48)
    assert cache.get(digest, video, 64) == first
    assert len(counted) == 1

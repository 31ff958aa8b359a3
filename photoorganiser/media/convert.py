"""Smaller copies of photos: decode, turn upright, resize, encode (JPEG, WebP, AVIF).

`convert(data, fmt, spec)` takes a photo's bytes (`fmt` as metadata.read_media names
the content's format) and gives the encoded copy, or raises ConvertError with a reason a
person understands. Everything happens in memory; nothing here touches a file.

    photos   Pillow (+ pillow-heif for HEIC/HEIF, and AVIF when Pillow has no AVIF
             plugin of its own); the pixels turned upright by the EXIF orientation, the
             tag then set to 1, so every viewer shows the copy the same way
    RAW      the largest embedded JPEG preview that decodes (previews.py), turned upright
             by its own orientation, else by the RAW's; a TIFF that only bears a RAW's
             name (a plain TIFF with a Nikon, Sony or Pentax make: previews.is_raw) is a
             photo, and a TIFF Pillow cannot decode falls back to its previews
    EXIF     kept (capture date, camera, GPS unless `strip_gps`); the ICC profile kept
    size     `max_size` (W, H): fitted inside, the ratio kept, never enlarged; with
             `keep_ratio=False` exactly W x H, filled and centre-cropped (never stretched)

AVIF is written by Pillow's own plugin (Pillow >= 11.2 built with libavif) when it has
one; pillow-heif reads AVIF but writes it only when its libheif has an AVIF encoder.
`can_write(fmt)` says whether this machine can.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from enum import Enum

from .heif import register_heif
from .previews import TIFF_BASED, is_raw, orientation, previews

MAX_PREVIEWS = 4
_ORIENTATION = 0x0112
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_POINTERS = (_EXIF_IFD, _GPS_IFD, 0xA005, 0x014A)  # IFD pointers: written from their IFDs
_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}  # EXIF orientation -> Image.Transpose


class OutFormat(Enum):
    JPEG = "jpeg"
    WEBP = "webp"
    AVIF = "avif"

    @property
    def extension(self) -> str:
        return ".jpg" if self is OutFormat.JPEG else f".{self.value}"


class ConvertError(Exception):
    """This photo cannot be converted (undecodable, too large, no preview...)."""


class NoPreview(ConvertError):
    """A RAW file without an embedded preview Pillow can decode: nothing to export."""


@dataclass(frozen=True, slots=True)
class ConvertSpec:
    format: OutFormat = OutFormat.JPEG
    quality: int = 80
    max_size: tuple[int, int] | None = None
    keep_ratio: bool = True
    strip_gps: bool = False


@dataclass(frozen=True, slots=True)
class Converted:
    data: bytes
    width: int
    height: int


def can_write(fmt: OutFormat) -> bool:
    """Whether an encoder for `fmt` exists on this machine."""
    from PIL import Image, features

    if fmt is OutFormat.JPEG:
        return True
    if fmt is OutFormat.WEBP:
        return bool(features.check("webp"))
    if features.check("avif"):
        return True
    register_heif()
    try:
        import pillow_heif

        return bool(pillow_heif.libheif_info().get("AVIF")) and "AVIF" in Image.SAVE
    except Exception:  # pragma: no cover - pillow-heif missing or too old
        return False


def convert(data: bytes, fmt: str, spec: ConvertSpec, *, damaged: bool = False) -> Converted:
    """The photo's smaller copy (see the module's docstring). `damaged`: the photo is known
    to be damaged (the catalog says so: a truncated JPEG imported as it is); what can be
    decoded of it is converted (Pillow's LOAD_TRUNCATED_IMAGES: the part lost is grey),
    instead of a ConvertError. Only then: a photo thought sound that turns out truncated
    is an error, not silently half a picture."""
    if is_raw(data, fmt):
        turn = orientation(data, fmt)
        for preview in previews(data, fmt)[:MAX_PREVIEWS]:
            try:
                return _convert(preview, spec, fallback_orientation=turn, formats=("JPEG",))
            except ConvertError:
                continue
        raise NoPreview("a RAW file with no embedded preview that can be decoded: not exported")
    try:
        return _convert(data, spec, fallback_orientation=1, damaged=damaged)
    except ConvertError:
        if fmt not in TIFF_BASED:
            raise
    return convert(data, "DNG", spec)  # a TIFF Pillow cannot decode: its preview


def _convert(
    data: bytes,
    spec: ConvertSpec,
    *,
    fallback_orientation: int,
    formats: tuple[str, ...] | None = None,
    damaged: bool = False,
) -> Converted:
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES  # (a global: set for this photo only)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning, odd TIFF tags...
        try:
            ImageFile.LOAD_TRUNCATED_IMAGES = damaged
            return _convert_quietly(data, spec, fallback_orientation, formats)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated


def _convert_quietly(
    data: bytes, spec: ConvertSpec, fallback_orientation: int, formats: tuple[str, ...] | None
) -> Converted:
    from PIL import Image, ImageOps

    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, odd TIFF tags...
            with Image.open(io.BytesIO(data), formats=formats) as img:
                exif = img.getexif()
                icc = img.info.get("icc_profile") if img.mode != "CMYK" else None
                turn = int(exif.get(_ORIENTATION, 0) or 0)
                tagged = 1 <= turn <= 8
                turn = turn if tagged else fallback_orientation
                if img.format in ("JPEG", "MPO") and spec.max_size and spec.keep_ratio:
                    w, h = spec.max_size
                    img.draft("RGB", (w, h) if turn <= 4 else (h, w))
                img.load()
                if tagged and _ORIENTATION not in img.getexif():
                    turn = 1  # Pillow turned it upright as it loaded it (its TIFF plugin does)
                pic = _mode_for(img, spec.format)
        method = _TRANSPOSE.get(turn)
        if method is not None:
            pic = pic.transpose(Image.Transpose(method))
        if spec.max_size is not None:
            if spec.keep_ratio:
                pic.thumbnail(spec.max_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            else:
                pic = ImageOps.fit(pic, spec.max_size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        options: dict[str, object] = {"quality": spec.quality}
        exif_data = exif_bytes(exif, spec.strip_gps)
        if exif_data:
            options["exif"] = exif_data
        if icc:
            options["icc_profile"] = icc
        if spec.format is OutFormat.JPEG:
            pic.save(out, "JPEG", optimize=True, **options)
        elif spec.format is OutFormat.WEBP:
            pic.save(out, "WEBP", method=4, **options)
        else:
            pic.save(out, "AVIF", **options)
        return Converted(out.getvalue(), pic.width, pic.height)
    except Image.DecompressionBombError:
        raise ConvertError("larger than Pillow's decompression-bomb limit") from None
    except MemoryError:
        raise ConvertError("not enough memory to decode it") from None
    except ConvertError:
        raise
    except Image.UnidentifiedImageError:
        raise ConvertError("cannot convert it: no image a decoder can read (damaged?)") from None
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, ...)
        raise ConvertError(f"cannot convert it ({type(exc).__name__}: {exc})") from None


def exif_bytes(exif, strip_gps: bool) -> bytes:
    """The photo's EXIF for its copy: orientation 1, GPS left out with `strip_gps`. A
    damaged EXIF (offsets past its end, GPS degrees written as text) keeps every tag that
    can be written again, one by one; b"" when none can."""
    from PIL import Image

    exif[_ORIENTATION] = 1
    if strip_gps and _GPS_IFD in exif:
        del exif[_GPS_IFD]
    try:
        return exif.tobytes()
    except Exception:
        pass
    clean = Image.Exif()

    def fits() -> bool:
        try:
            clean.tobytes()
        except Exception:
            return False
        return True

    for tag, value in list(exif.items()):
        if tag in _POINTERS:
            continue
        clean[tag] = value
        if not fits():
            del clean[tag]
    for pointer in (_EXIF_IFD, _GPS_IFD):
        if pointer not in exif or (pointer == _GPS_IFD and strip_gps):
            continue
        try:
            tags = dict(exif.get_ifd(pointer))
        except Exception:
            continue
        for tag, value in tags.items():
            clean.get_ifd(pointer)[tag] = value
            if not fits():
                del clean.get_ifd(pointer)[tag]
    return clean.tobytes() if fits() else b""


def _mode_for(img, fmt: OutFormat):
    """The decoded image in a mode the encoder takes: JPEG has no alpha (white behind)."""
    from PIL import Image

    alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if alpha and fmt is not OutFormat.JPEG:
        return img.convert("RGBA")
    if alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("RGB", "L"):
        return img.copy()
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return img.convert("RGB")


def is_animated(data: bytes) -> bool:
    """Several frames (an animated GIF or WebP): copied as it is, never flattened."""
    from PIL import Image

    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
        with img:
            return bool(getattr(img, "is_animated", False)) and img.format in ("GIF", "WEBP", "PNG")
    except Exception:
        return False


# --- videos (--video-transcode) ----------------------------------------------------------


def crf_of(quality: int) -> int:
    """H.264's constant rate factor for a 1-100 quality: 80 -> 23 (x264's default), 100 -> 18
    (visually lossless), 1 -> 43."""
    return round(18 + (100 - quality) * 0.25)


def transcode(source: str, target: str, spec: ConvertSpec, ffmpeg: str) -> None:
    """An H.264/AAC MP4 of the video at `source`, written by ffmpeg to `target` (which must
    not exist): fitted in `spec.max_size` (never enlarged, the ratio kept), its metadata
    (creation time, GPS) kept. ConvertError with ffmpeg's own last line when it fails."""
    import subprocess

    scale = []
    if spec.max_size is not None:
        w, h = spec.max_size
        box = f"w='min({w},iw)':h='min({h},ih)'"
        scale = ["-vf", f"scale={box}:force_original_aspect_ratio=decrease:force_divisible_by=2"]
    command = [
        ffmpeg,
        *("-nostdin", "-hide_banner", "-loglevel", "error", "-n"),
        *("-protocol_whitelist", "file"),
        *("-i", "file:" + os.path.abspath(source)),
        *("-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "0"),
        *("-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf_of(spec.quality))),
        *("-pix_fmt", "yuv420p", *scale),
        *("-c:a", "aac", "-b:a", "160k"),
        *("-movflags", "+faststart+use_metadata_tags", "-f", "mp4"),
        "file:" + os.path.abspath(target),
    ]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise ConvertError(f"cannot run ffmpeg: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConvertError(f"ffmpeg could not transcode it: {lines[-1] if lines else 'failed'}")

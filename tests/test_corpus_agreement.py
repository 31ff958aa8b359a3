"""read_media agrees with exiftool 12.57 (manifest.csv) on the real-file corpus.

Every disagreement is listed below with the reason it is deliberate (or a known gap); a file
that disagrees without being listed fails, and so does a listed file that now agrees.
The corpus lives outside the repo (PHOTOORGANISER_CORPUS, default ../shared/corpus/real);
without it this module is skipped.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from photoorganiser.core.values import MediaInfo
from photoorganiser.media.metadata import MetadataError, read_media

CORPUS = Path(
    os.environ.get(
        "PHOTOORGANISER_CORPUS", Path(__file__).resolve().parents[2] / "shared/corpus/real"
    )
)
SIDECAR_EXTENSIONS = {".xmp", ".json", ".aae"}  # not media: read by dates.*, not read_media
TZ = ZoneInfo("UTC")
MIN_AGREEMENT = 0.97

_KEYS_VS_UTC = (
    "Apple Keys:CreationDate (recording start, local time + zone) is preferred to the UTC "
    "QuickTime CreateDate exiftool reports (written when recording ended): {}"
)
DATE_EXCEPTIONS: dict[str, str] = {
    "elodie/video.mov": _KEYS_VS_UTC.format("they disagree by 11 months (2015-01-19 vs 12-12)"),
    "pigallery2/live_photo/IMG_7943_HEVC.MOV": _KEYS_VS_UTC.format(
        "Keys says 2026-03-23 like its HEIC partner; CreateDate says 2026-05-23"
    ),
    "file-type/fixture.mov": _KEYS_VS_UTC.format("same shot, instants 17 s apart"),
    "lychee/train.mov": _KEYS_VS_UTC.format("same shot, instants 1 s apart"),
    "metadata-extractor/with-gps.mov": _KEYS_VS_UTC.format("same shot, instants 17 s apart"),
    "pigallery2/before_epoch.jpg": (
        "DateTimeOriginal 1601-06-06 is before 1826 (the Windows FILETIME epoch: a zero date "
        "in disguise); we fall through to CreateDate 2015-06-12"
    ),
    "exiftool/Pentax.avi": (
        "RIFF DateTimeOriginal is '2009/10/27 12:14:34'; exiftool 12.57 prints 12:14:00 for "
        "this slash format, we keep the seconds (the Pentax maker-note time says 12:14:34)"
    ),
    "exif-py/long_description.jpg": (
        "MWG order: XMP photoshop:DateCreated 2003-08-31 (when the picture was taken) outranks "
        "xmp:CreateDate 2005-12-17 (the file's); `exiftool -use MWG -DateTimeOriginal` says "
        "2003:08:31 too"
    ),
}
MAKE_EXCEPTIONS: dict[str, str] = {
    "exiftool/QuickTime.mov": "known gap: Make only in Pentax's proprietary udta TAGS atom",
    "hachoir/pentax_320x240.mov": "known gap: Make only in Pentax's proprietary udta TAGS atom",
}
MODEL_EXCEPTIONS: dict[str, str] = {}
SIZE_EXCEPTIONS: dict[str, str] = {
    "exiftool/SigmaDP2.x3f": (
        "the X3F header says 2640x1760 (exiftool's SigmaRaw:ImageWidth/Height too); its Composite "
        "ImageSize takes the 8x8 of the shrunk preview JPEG in this test file"
    ),
    "phockup/exif.mp4": (
        "crafted file: tkhd width/height are 8.0 in 16.16 fixed point (stsd says 8x8 too); "
        "exiftool 12.57 prints the raw 524288"
    ),
}
EXCEPTIONS = {
    "date": DATE_EXCEPTIONS,
    "make": MAKE_EXCEPTIONS,
    "model": MODEL_EXCEPTIONS,
    "size": SIZE_EXCEPTIONS,
}


def load_manifest(corpus: Path = CORPUS) -> list[dict[str, str]]:
    with open(corpus / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r for r in rows if Path(r["path"]).suffix.lower() not in SIDECAR_EXTENSIONS]


def is_broken(row: dict[str, str]) -> bool:
    """The manifest says the file cannot be read as media (0 bytes, zeros, broken)."""
    return not row["file_type"] or "broken" in row["notes"]


@dataclass
class Check:
    field: str
    agrees: bool
    expected: str
    got: str


def expected_vs_got(row: dict[str, str], info: MediaInfo | None) -> list[Check]:
    """One Check per field the manifest has a value for."""
    checks = []
    if row["capture_date"]:
        expected = datetime.strptime(row["capture_date"], "%Y-%m-%d %H:%M:%S")
        got = None
        if info is not None and info.captured is not None:
            got = info.captured.wall
            if "QuickTime date: UTC by spec" in row["notes"]:  # compare the instant
                got = got - (info.captured.utc_offset or timedelta(0))
            got = got.replace(microsecond=0)
        checks.append(
            Check(
                "date",
                got == expected,
                row["capture_date"],
                info.captured.isoformat() if info and info.captured else "None",
            )
        )
    for name in ("make", "model"):
        if row[name]:
            value = getattr(info, name) if info else None
            checks.append(Check(name, value == row[name], row[name], str(value)))
    if row["width"] and row["height"]:
        got_size = f"{info.width}x{info.height}" if info else "None"
        expected_size = f"{row['width']}x{row['height']}"
        checks.append(Check("size", got_size == expected_size, expected_size, got_size))
    return checks


def read_row(row: dict[str, str], corpus: Path = CORPUS) -> MediaInfo | MetadataError:
    path = corpus / row["path"]
    try:
        return read_media(path, path.read_bytes(), TZ)
    except MetadataError as exc:
        return exc


if not (CORPUS / "manifest.csv").is_file():
    pytest.skip(f"real-file corpus not found at {CORPUS}", allow_module_level=True)


@pytest.fixture(scope="module")
def results() -> list[tuple[dict[str, str], MediaInfo | MetadataError]]:
    return [(row, read_row(row)) for row in load_manifest()]


def test_only_broken_files_raise(results) -> None:
    wrongly_raised = {
        row["path"]: str(out)
        for row, out in results
        if isinstance(out, MetadataError) and not is_broken(row)
    }
    assert wrongly_raised == {}


@pytest.mark.parametrize("field", ["date", "make", "model", "size"])
def test_agreement_with_exiftool(results, field: str) -> None:
    exceptions = EXCEPTIONS[field]
    total = agree = 0
    unexpected: dict[str, str] = {}
    now_agree: list[str] = []
    for row, out in results:
        info = out if isinstance(out, MediaInfo) else None
        for check in expected_vs_got(row, info):
            if check.field != field:
                continue
            total += 1
            agree += check.agrees
            listed = row["path"] in exceptions
            if not check.agrees and not listed:
                unexpected[row["path"]] = f"exiftool {check.expected!r}, we {check.got!r}"
            elif check.agrees and listed:
                now_agree.append(row["path"])
    assert unexpected == {}, "disagreements not listed as deliberate"
    assert now_agree == [], "listed as disagreeing but they agree now: remove them"
    assert total > 0
    assert agree / total >= MIN_AGREEMENT, f"{field}: {agree}/{total}"


def test_exception_lists_name_real_rows() -> None:
    paths = {row["path"] for row in load_manifest()}
    for exceptions in EXCEPTIONS.values():
        assert set(exceptions) <= paths

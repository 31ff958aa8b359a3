"""Benchmark read_media on the real-file corpus, and compare with exiftool in the same run.

    python bench/bench_metadata.py [--corpus DIR] [--repeat N] [--no-exiftool]

Reads each media file once (bytes, then parse: what the importer does), reports files/s,
MB/s, peak memory, agreement with the manifest (exiftool 12.57), then times
`exiftool -fast -r ... -json` on the same files.

Dates are measured twice: `date` strictly (our date against exiftool's pick), and
`date (tag we chose)`: a difference agrees at that level when our date is exiftool's own
reading of the tag we took it from (same local time and zone; the manifest's notes record
it), e.g. an iPhone video's Keys:CreationDate where exiftool picks the UTC CreateDate.
Every date that differs strictly is printed with its reason and whether it agrees at
tag level. Timings on a shared machine are noisy:
quote the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photoorganiser.core.values import DateSource, MediaInfo  # noqa: E402
from photoorganiser.media.metadata import MetadataError, read_media  # noqa: E402

# The one corpus setting (README, "Development"): the tests use the same.
CORPUS = Path(os.environ.get("PHOTOORGANISER_CORPUS", REPO.parent / "shared" / "corpus" / "real"))

BIG = 64 * 1024 * 1024  # above this the importer passes data=None
TAG_LEVEL = "date (tag we chose)"  # exiftool's reading of the tag our date came from

# our DateSource -> the exiftool tag name the manifest's date_tag column uses
_TAG = {
    DateSource.EXIF_DATETIME_ORIGINAL: "DateTimeOriginal",
    DateSource.XMP_DATETIME_ORIGINAL: "DateTimeOriginal",
    DateSource.QUICKTIME_DATETIME_ORIGINAL: "DateTimeOriginal",
    DateSource.RIFF_DATETIME_ORIGINAL: "DateTimeOriginal",
    DateSource.MATROSKA_DATE: "DateTimeOriginal",
    DateSource.H264_DATETIME_ORIGINAL: "DateTimeOriginal",
    DateSource.CANON_RAW_DATE: "DateTimeOriginal",
    DateSource.SIGMA_RAW_DATE: "DateTimeOriginal",
    DateSource.CASIO_DATE: "DateTimeOriginal",
    DateSource.DV_DATETIME_ORIGINAL: "DateTimeOriginal",
    DateSource.IPTC_DATE_CREATED: "DateTimeOriginal",  # exiftool's Composite
    DateSource.EXIF_CREATE_DATE: "CreateDate",
    DateSource.XMP_CREATE_DATE: "CreateDate",
    DateSource.QUICKTIME_CREATE_DATE: "CreateDate",
    DateSource.QUICKTIME_MEDIA_CREATE_DATE: "MediaCreateDate",
    DateSource.QUICKTIME_UTC_NAME_ZONE: "CreateDate",
}


def run_ours(paths: list[Path]) -> tuple[float, int, dict[Path, MediaInfo | MetadataError]]:
    out: dict[Path, MediaInfo | MetadataError] = {}
    total_bytes = 0
    start = time.perf_counter()
    for path in paths:
        size = path.stat().st_size
        data = path.read_bytes() if size <= BIG else None
        total_bytes += size
        try:
            out[path] = read_media(path, data, TZ)
        except MetadataError as exc:
            out[path] = exc
    return time.perf_counter() - start, total_bytes, out


def run_exiftool(paths: list[Path]) -> float | None:
    exe = shutil.which("exiftool")
    if exe is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".args", delete=False) as fh:
        fh.write("\n".join(str(p) for p in paths) + "\n")
        argfile = fh.name
    cmd = [
        exe,
        "-fast",
        "-r",
        "-DateTimeOriginal",
        "-CreateDate",
        "-Make",
        "-Model",
        "-ImageSize",
        "-json",
        "-charset",
        "filename=utf8",
        "-@",
        argfile,
    ]
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    Path(argfile).unlink(missing_ok=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours; best is kept")
    parser.add_argument("--no-exiftool", action="store_true")
    args = parser.parse_args()

    if not (args.corpus / "manifest.csv").is_file():
        print(
            f"no corpus at {args.corpus} (no manifest.csv there): give --corpus DIR or set"
            " PHOTOORGANISER_CORPUS; nothing measured"
        )
        return
    # the agreement rules live with the corpus test (which skips at import without a corpus)
    os.environ["PHOTOORGANISER_CORPUS"] = str(args.corpus)
    global TZ, expected_vs_got
    from tests.test_corpus_agreement import (
        DATE_EXCEPTIONS,
        TZ,
        expected_vs_got,
        load_manifest,
        tag_level_agrees,
    )

    rows = load_manifest(args.corpus)
    paths = [args.corpus / r["path"] for r in rows]
    best = None
    results: dict[Path, MediaInfo | MetadataError] = {}
    for _ in range(max(1, args.repeat)):
        elapsed, total_bytes, results = run_ours(paths)
        best = elapsed if best is None else min(best, elapsed)
    assert best is not None
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    differ: list[tuple[str, str, str, bool]] = []  # path, exiftool, ours, tag-level agrees
    for row, path in zip(rows, paths, strict=True):
        out = results[path]
        info = out if isinstance(out, MediaInfo) else None
        for check in expected_vs_got(row, info):
            total[check.field] += 1
            agree[check.field] += check.agrees
            if check.field == "date":
                tag_level = check.agrees or tag_level_agrees(row, info)
                total[TAG_LEVEL] += 1
                agree[TAG_LEVEL] += tag_level
                if not check.agrees:
                    differ.append((row["path"], check.expected, check.got, tag_level))
        if row["date_tag"] and info is not None and info.captured is not None:
            ours = _TAG.get(info.captured.source)
            if ours is not None:
                total["date_source"] += 1
                agree["date_source"] += ours == row["date_tag"]
    errors = sum(isinstance(v, MetadataError) for v in results.values())

    ext_time = None if args.no_exiftool else run_exiftool(paths)
    if not args.no_exiftool and shutil.which("exiftool"):
        # the same files read by exiftool with `-use MWG`: its MWG composite dates
        from bench_more_files import compare, exiftool_json

        plain, mwg = exiftool_json(paths), exiftool_json(paths, "-use", "MWG")
        for path in paths:
            out = results[path]
            info = out if isinstance(out, MediaInfo) else None
            doc = plain.get(str(path), {})
            checks = compare(doc, info, mwg.get(str(path), {}))
            if "date_mwg" in checks and "date" in checks:
                total["date (MWG)"] += 1
                agree["date (MWG)"] += checks["date_mwg"]

    n = len(paths)
    mb = total_bytes / 1e6
    print(f"corpus: {args.corpus}  files: {n}  ({mb:.1f} MB, {errors} MetadataError)")
    print()
    print(f"{'reader':<24}{'seconds':>9}{'files/s':>10}{'MB/s':>9}")
    print(
        f"{'read_media (best of ' + str(args.repeat) + ')':<24}{best:>9.3f}"
        f"{n / best:>10.0f}{mb / best:>9.1f}"
    )
    if ext_time is not None:
        print(f"{'exiftool -fast':<24}{ext_time:>9.3f}{n / ext_time:>10.0f}{mb / ext_time:>9.1f}")
        print(f"throughput ratio read_media / exiftool: {ext_time / best:.1f}x")
    print(f"peak memory (maxrss): {maxrss_mb:.0f} MB")
    print()
    print(f"{'agreement with manifest':<26}{'agree':>7}{'of':>6}{'rate':>9}")
    for field in ("date", TAG_LEVEL, "date (MWG)", "date_source", "make", "model", "size"):
        if total[field]:
            rate = agree[field] / total[field]
            print(f"{field:<26}{agree[field]:>7}{total[field]:>6}{rate:>9.1%}")
    if differ:
        print()
        print(f"dates that differ from exiftool's pick ({len(differ)}):")
        for where, theirs, ours, tag_level in differ:
            level = "agrees at tag level" if tag_level else "differs at tag level too"
            reason = DATE_EXCEPTIONS.get(where, "NOT LISTED: no reason recorded")
            print(f"  {where}: exiftool {theirs}, we {ours} ({level})\n    {reason}")


if __name__ == "__main__":
    main()

"""Small pure pieces: names, templates, sanitising, dates in the report."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from photoorganiser.core.values import CaptureDate, DateSource, FileKind
from photoorganiser.importing.paths import (
    TemplateError,
    fit_name,
    parse_template,
    sanitise_component,
    with_suffix_number,
)
from photoorganiser.library.index import _is_variant
from photoorganiser.media.scan import classify


@pytest.mark.parametrize(
    "name, expected",
    [
        ("img.jpg", True),
        ("img_1.jpg", True),
        ("img_12.jpg", True),
        ("img_.jpg", False),
        ("img_a.jpg", False),
        ("img_1_2.jpg", False),
        ("img_١.jpg", False),  # an Arabic-Indic digit is a digit, but not ours
        ("img.jpeg", False),
        ("img2.jpg", False),
        ("other.jpg", False),
    ],
)
def test_numbered_variants_of_a_name(name: str, expected: bool) -> None:
    assert _is_variant(name, "img", ".jpg") is expected


@pytest.mark.parametrize(
    "raw, safe",
    [
        ("Canon EOS 5D", "Canon EOS 5D"),
        ("EOS/5D", "EOS_5D"),
        ("..", "unknown"),
        ("../../etc", "_._etc"),
        ("a\x00b\x1fc", "a_b_c"),
        ('<>:"|?*', "_______"),
        ("  spaced   out  ", "spaced out"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("", "unknown"),
        ("e\u0301", "\u00e9"),  # NFD from a Mac becomes NFC
    ],
)
def test_sanitise_component(raw: str, safe: str) -> None:
    assert sanitise_component(raw) == safe


def test_long_names_are_cut_on_a_character_boundary_keeping_the_extension() -> None:
    name = fit_name("é" * 300, ".jpeg")
    assert name.endswith(".jpeg") and len(name.encode()) <= 200
    name.encode("utf-8").decode("utf-8")  # still valid UTF-8
    assert with_suffix_number("IMG_0001.jpg", 3) == "IMG_0001_3.jpg"


@pytest.mark.parametrize(
    "template, message",
    [
        ("", "empty"),
        ("/abs/{stem}{ext}", "relative"),
        ("C:/x/{stem}{ext}", "relative"),
        ("{year}/../{stem}{ext}", "'..'"),
        ("{year}/{nope}", "unknown field"),
        ("{year:04d}/{stem}{ext}", "no format spec"),
        ("{year}/photo.jpg", "must contain a field"),
        ("{year/{stem}", "cannot read"),
    ],
)
def test_bad_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template(template)


def test_capture_date_iso_format() -> None:
    wall = datetime(2021, 7, 4, 18, 30, 0)
    assert CaptureDate(wall, DateSource.MTIME).isoformat() == "2021-07-04T18:30:00"
    with_zone = CaptureDate(wall, DateSource.QUICKTIME_CREATION_DATE, timedelta(hours=-3.5))
    assert with_zone.isoformat() == "2021-07-04T18:30:00-03:30"
    sub = CaptureDate(
        wall.replace(microsecond=120000),
        DateSource.EXIF_DATETIME_ORIGINAL,
        timedelta(hours=5, minutes=45),
    )
    assert sub.isoformat() == "2021-07-04T18:30:00.120000+05:45"


@pytest.mark.parametrize(
    "name, kind",
    [
        ("IMG_1.JPG", FileKind.IMAGE),
        ("a.HeIc", FileKind.IMAGE),
        ("x.CR3", FileKind.RAW),
        ("v.MTS", FileKind.VIDEO),
        ("IMG_1.AAE", FileKind.SIDECAR),
        ("IMG_1.jpg.json", FileKind.SIDECAR),
        ("notes.txt", FileKind.OTHER),
        ("README", FileKind.OTHER),
        (".hidden.jpg", FileKind.OTHER),
        ("desktop.ini", FileKind.OTHER),
    ],
)
def test_classify(name: str, kind: FileKind) -> None:
    assert classify(name)[0] is kind


@pytest.mark.parametrize("output", ["", "/media/phone/Pictures small"])
def test_a_report_header_reads_back_as_written_csv_and_json(output: str) -> None:
    """The header's fields, `output=` (an export's folder) among them, read back the same
    from its CSV cells and from a JSON report's header object."""
    from photoorganiser.core.reportfile import ReportHeader, _header_from_fields, header_fields

    header = ReportHeader(
        "export", library="/lib", inputs=("/in a", "/in,b"), output=output, mode="webp",
        dryrun=True, command="export --to x", created="2026-11-30T10:00:00",
    )  # fmt: skip
    assert ReportHeader.from_cells(header.cells()) == header
    assert _header_from_fields(header_fields(header)) == header
    assert ("output" in header_fields(header)) == bool(output)


def test_a_recovery_line_says_what_happened_to_the_files_in_words() -> None:
    """One line per killed run on the terminal: counts of files and what recovery did with
    them, in words (it printed "832 record, 64 undone")."""
    from photoorganiser.runs.startup import _said

    assert _said("record", 832) == "832 files recorded in the catalog"
    assert _said("undone", 1) == "1 file not transferred yet (left in place)"
    assert _said("finish-move failed", 2) == "2 files not moved (the move could not finish)"


def test_a_report_folder_on_a_read_only_disk_is_said_so(tmp_path, monkeypatch) -> None:
    """A read-only mount (a card's write-protect switch, an `ro` backup disk) is named as
    such, not as a permission problem the person would look for in vain."""
    import os
    from types import SimpleNamespace

    from photoorganiser.core import reportfile

    real = os.statvfs(tmp_path)
    monkeypatch.setattr(reportfile.os, "access", lambda *a, **k: False)
    monkeypatch.setattr(
        reportfile.os, "statvfs", lambda p: SimpleNamespace(
            f_flag=real.f_flag | os.ST_RDONLY, f_bavail=real.f_bavail, f_frsize=real.f_frsize
        )
    )  # fmt: skip
    with pytest.raises(reportfile.ReportUnwritable, match="on a read-only file system"):
        reportfile.check_place(tmp_path / "r.csv")

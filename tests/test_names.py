"""Names: what a file name or a template may hold, and how path text is stored and shown.

- textsafe: CSV cells no spreadsheet runs, and a lossless UTF-8 form of any path;
- non-UTF-8 file names (old FAT cards, Windows zips) read, stored and reported
  losslessly, and sanitised only where they enter a new name;
- invisible and bidirectional characters kept out of new names;
- templates that cannot give each file its own name refused before anything moves.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import random
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from media import make_jpeg
from recovering import recover

from photoorganiser.cli import main
from photoorganiser.core.textsafe import (
    csv_cell,
    display_text,
    from_csv_cell,
    path_text,
    text_path,
)
from photoorganiser.core.values import TransferMode
from photoorganiser.duplicates import find as duplicates
from photoorganiser.duplicates import report as dupreport
from photoorganiser.duplicates.values import Kind
from photoorganiser.importing.collisions import resolve
from photoorganiser.importing.paths import (
    MAX_COMPONENT_BYTES,
    TemplateError,
    _truncate_utf8,
    fit_name,
    parse_template,
    sanitise_component,
)
from photoorganiser.importing.plan import PlanOptions, plan
from photoorganiser.library.catalog import Catalog
from photoorganiser.library.index import CatalogLibrary
from photoorganiser.library.journal import Journal
from photoorganiser.library.sync import Change, sync_library
from photoorganiser.media.analyse import AnalyseOptions, analyse_entry
from photoorganiser.media.scan import scan

# --- textsafe: CSV cells -------------------------------------------------------------

TRICKY = [
    "",
    "'",
    "''",
    "'''x",
    "=",
    "=1+2",
    '=HYPERLINK("http://x","y")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "'=x",
    "''=x",
    "'x",
    "x'",
    "x=1",
    " =1",
    "\n=1",
    "IMG_0001.jpg",
    "é",
    "\ud800",
]


def _strings(seed: int, count: int) -> list[str]:
    """Many strings built from the characters that matter, in every position."""
    alphabet = ["'", "=", "+", "-", "@", "\t", "\r", "\n", "a", " ", "\\", "x", "é", "\udce9"]
    rng = random.Random(seed)
    out = ["".join(p) for n in range(4) for p in itertools.product(alphabet[:8], repeat=n)]
    out += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(count)]
    return out


@pytest.mark.parametrize("value", TRICKY)
def test_csv_cell_round_trips_tricky_values(value: str) -> None:
    assert from_csv_cell(csv_cell(value)) == value


def test_csv_cell_round_trips_every_short_combination() -> None:
    values = _strings(seed=1, count=5000)
    assert len(values) > 5000
    for value in values:
        assert from_csv_cell(csv_cell(value)) == value, repr(value)


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'x", "''x"),
        ("x=1", "x=1"),
        ("IMG.jpg", "IMG.jpg"),
        ("", ""),
    ],
)
def test_csv_cell_defuses_formulas(value: str, cell: str) -> None:
    assert csv_cell(value) == cell


def test_from_csv_cell_leaves_a_quote_csv_cell_did_not_add() -> None:
    assert from_csv_cell("'x") == "'x"  # csv_cell never writes this: "'x" -> "''x"
    assert from_csv_cell("'") == "'"


# --- textsafe: path text ---------------------------------------------------------------

NAMES = [
    os.fsdecode(b"caf\xe9.jpg"),
    os.fsdecode(b"\xff\xfe.jpg"),
    os.fsdecode(b"/media/card/DCIM/\x80\x81\x9f/IMG.JPG"),
    "back\\slash.jpg",
    "\\",
    "\\\\",
    "\\x41.jpg",  # the four characters, not an escape
    "\\xff.jpg",
    "\\u2028",
    "\\" + os.fsdecode(b"\xe9"),
    "x\ud800y",  # a lone surrogate surrogateescape never makes (unpaired UTF-16 half)
    "\udc41",
    "plain/name.jpg",
    "café/ünï cödé 😀.jpg",
    "",
]


@pytest.mark.parametrize("name", NAMES)
def test_path_text_round_trips_and_is_valid_utf8(name: str) -> None:
    text = path_text(name)
    text.encode("utf-8")  # never raises
    assert text_path(text) == name
    assert text_path(path_text(Path(name))) == str(Path(name))


def test_path_text_round_trips_random_names() -> None:
    for value in _strings(seed=2, count=5000):
        text = path_text(value)
        text.encode("utf-8")
        assert text_path(text) == value, repr(value)


def test_path_text_reads_every_byte_back_exactly() -> None:
    raw = bytes(range(1, 256)).replace(b"/", b"")
    name = os.fsdecode(raw)
    assert os.fsencode(text_path(path_text(name))) == raw
    assert os.fsencode(text_path(path_text(os.fsencode(name)))) == raw


def test_path_text_scheme() -> None:
    assert path_text(os.fsdecode(b"caf\xe9.jpg")) == "caf\\xe9.jpg"
    assert path_text("a\\b") == "a\\\\b"
    assert path_text("x\ud800") == "x\\ud800"
    # Plain names are unchanged, so catalogs written before the scheme read the same.
    for plain in ("/photos/2004/12/IMG_1.jpg", "café.jpg", "a b/c'd.jpg"):
        assert path_text(plain) == plain == text_path(plain)


def test_text_path_leaves_text_it_did_not_write() -> None:
    assert text_path("C:\\x41\\photos") == "C:\\x41\\photos"  # \x41 is ASCII: never escaped
    assert text_path("a\\b") == "a\\b"  # a lone backslash from before the scheme


def test_display_text_is_printable_utf8() -> None:
    shown = display_text("cannot read " + os.fsdecode(b"/in/caf\xe9.jpg") + " C:\\x")
    assert shown == "cannot read /in/caf\\xe9.jpg C:\\x"
    shown.encode("utf-8")


# --- sanitise_component: bytes that are not UTF-8, invisible characters ---------------------


@pytest.mark.parametrize(
    "raw, safe",
    [
        (b"caf\xe9", "café"),  # cp1252 (a Windows zip)
        (b"\xff", "ÿ"),
        (b"\x81", "_"),  # undefined in cp1252
        (b"caf\xc3\xa9_\xe9", "café_é"),  # UTF-8 and one cp1252 byte: only it read as cp1252
        (b"\x93quoted\x94", "\u201cquoted\u201d"),
    ],
)
def test_undecodable_bytes_are_read_as_cp1252_in_new_names(raw: bytes, safe: str) -> None:
    assert sanitise_component(os.fsdecode(raw)) == safe


@pytest.mark.parametrize(
    "raw, safe",
    [
        ("gpj\u202e.exe", "gpj.exe"),  # RIGHT-TO-LEFT OVERRIDE: shows as "exe.jpg"
        ("a\u202ab\u202bc\u202cd\u202de", "abcde"),
        ("a\u2066b\u2067c\u2068d\u2069e", "abcde"),
        ("a\u200eb\u200fc\u061cd", "abcd"),
        ("zero\u200bwidth\u200c\u200djoin\u2060\ufeff", "zerowidthjoin"),
        ("soft\u00adhyphen", "softhyphen"),
        ("c1\x80\x85\x9fend", "c1end"),
        ("\u202e", "unknown"),
        ("e\u200b\u0301", "\u00e9"),  # removal brings the accent to its letter: composed
    ],
)
def test_invisible_and_bidi_characters_are_removed(raw: str, safe: str) -> None:
    assert sanitise_component(raw) == safe


def test_sanitise_component_is_idempotent_and_valid_utf8() -> None:
    # apply.py re-sanitises a reviewed report's names and refuses any that change.
    extra = ["\u202e", "\u200b", "\u0301", "\x85", "\ud800", "\udce9", "CON", "..", "/"]
    for value in _strings(seed=3, count=3000) + [a + b for a in extra for b in extra]:
        once = sanitise_component(value)
        once.encode("utf-8")
        assert sanitise_component(once) == once, repr(value)


def test_truncation_never_raises_on_undecodable_bytes() -> None:
    name = os.fsdecode(b"\xe9" * 300)
    cut = _truncate_utf8(name, MAX_COMPONENT_BYTES)
    assert len(cut.encode("utf-8")) <= MAX_COMPONENT_BYTES
    fitted = fit_name(name, ".jpg")
    assert fitted.endswith(".jpg") and len(fitted.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert len(sanitise_component(name).encode("utf-8")) <= MAX_COMPONENT_BYTES


# --- templates: refused before anything moves ------------------------------------------------


@pytest.mark.parametrize(
    "template, message",
    [
        ("{year}/{month}", 'file name part "{month}" has no per-file field: add {stem}'),
        ("{year}/{month}/{day}", "no per-file field"),
        ("{make}/{model}", "no per-file field"),
        ("{year}/photo.jpg", "must contain a field"),
        (
            "%Y/%m/%d/{stem}{ext}",
            "strftime patterns are not supported: write {year}/{month}/{day}/{stem}{ext}",
        ),
        ("%Y/%m", "strftime patterns are not supported: write {year}/{month}/{stem}{ext}"),
        (
            "%Y%m%d_%H%M%S",
            "write {year}{month}{day}_{hour}{minute}{second}",
        ),
        ("%Y/%j/{stem}", "strftime patterns are not supported: write fields in braces"),
        ("YYYY/MM/DD", "are not supported: write {year}/{month}/{day}/{stem}{ext}"),
        ("YYYY-MM/{stem}{ext}", "write {year}-{month}/{stem}{ext}"),
        ("{year}/hh-mm-ss_{stem}", "write {year}/{hour}-{minute}-{second}_{stem}"),
        ("{year}/{stem}.jpg", 'fixed extension ".jpg"'),
        ("{year}/{stem}{ext}_{hash8}", "{ext} must end"),
    ],
)
def test_templates_that_cannot_name_files_are_refused(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(template)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "template, text",
    [
        ("{year}/{month}/{stem}", "{year}/{month}/{stem}{ext}"),
        ("{stem}", "{stem}{ext}"),
        ("{year}/{hash8}", "{year}/{hash8}{ext}"),
        ("{year}/{date}/{hour}{minute}{second}", "{year}/{date}/{hour}{minute}{second}{ext}"),
        ("{year}\\{month}\\{stem}{ext}", "{year}/{month}/{stem}{ext}"),
        ("{make}/{model}/{year}/{stem}{ext}", "{make}/{model}/{year}/{stem}{ext}"),
        ("MMS/{stem}{ext}".lower(), "mms/{stem}{ext}"),  # a word, not a token
        ("MMS/{stem}{ext}", "MMS/{stem}{ext}"),
        ("Y{stem}YYY", "Y{stem}YYY{ext}"),  # no token across a field
        ("100%/{stem}", "100%/{stem}{ext}"),  # a % that is no strftime pattern
    ],
)
def test_the_extension_is_added_when_the_template_leaves_it_out(template: str, text: str) -> None:
    parsed = parse_template(template)
    assert parsed.text == text
    assert "ext" in parsed.fields


def test_every_suggested_template_is_accepted() -> None:
    for template in ["%Y/%m", "%Y/%m/%d/%H%M%S", "YYYY/MM", "%F/{stem}", "YYYY/YYYY-MM-DD"]:
        with pytest.raises(TemplateError) as caught:
            parse_template(template)
        suggestion = str(caught.value).split("write ", 1)[1]
        parse_template(suggestion)


# --- non-UTF-8 names through the catalog and the journal -------------------------------------

D0 = datetime(2004, 12, 1, 10, 0, 0)


def _bytes_path(folder: Path, *names: bytes) -> Path:
    """`folder`/`names` as Python names a path whose bytes are not UTF-8."""
    return Path(os.fsdecode(os.path.join(os.fsencode(str(folder)), *names)))


def _jpeg_at(path: Path, seed: int, date: datetime = D0) -> Path:
    """A real JPEG at a path whose name may be any bytes (made elsewhere, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    made = make_jpeg(path.parent / f"made-{seed}.jpg", date, seed=seed)
    os.rename(made, path)
    return path


def _analysed(paths: list[Path]):
    by_path = {e.path: e for e in scan(sorted({p.parent for p in paths}))}
    return [analyse_entry(by_path[p], AnalyseOptions()) for p in paths]


def _raw(catalog: Catalog, sql: str) -> list[tuple]:
    return [tuple(row) for row in catalog.conn.execute(sql)]


def test_catalog_stores_non_utf8_names_as_valid_text_and_reads_them_back(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    cafe = _jpeg_at(_bytes_path(library, b"2004", b"caf\xe9.jpg"), seed=1)
    odd = _jpeg_at(_bytes_path(library, b"2004", b"\xff\\x41.jpg"), seed=2)
    source = _bytes_path(tmp_path, b"in\xe9", b"a.jpg")
    catalog = Catalog.open(library)
    with catalog.transaction():
        for path, result in zip([cafe, odd], _analysed([cafe, odd]), strict=True):
            st = path.stat()
            catalog.put_file(path, st.st_size, st.st_mtime_ns, st.st_ino, result, source=source)

    stored = sorted(_raw(catalog, "SELECT path, source_path FROM files"))
    assert stored == [
        ("2004/\\xff\\\\x41.jpg", str(tmp_path) + "/in\\xe9/a.jpg"),
        ("2004/caf\\xe9.jpg", str(tmp_path) + "/in\\xe9/a.jpg"),
    ]
    stats = catalog.file_stats()
    assert set(stats) == {catalog.relative(cafe), catalog.relative(odd)}
    (row,) = catalog.find_by_hash(_analysed([cafe])[0].hash)
    assert library / row.path == cafe and (library / row.path).exists()
    with catalog.transaction():
        catalog.remove_files([catalog.relative(cafe)])
    assert set(catalog.file_stats()) == {catalog.relative(odd)}


def test_analysis_cache_of_non_utf8_inputs_round_trips_and_forgets(tmp_path: Path) -> None:
    inbox = _bytes_path(tmp_path, b"in\xe9 \\x")  # undecodable byte and a backslash
    kept = _jpeg_at(_bytes_path(inbox, b"caf\xe9.jpg"), seed=1)
    gone = _jpeg_at(_bytes_path(inbox, b"\xff.jpg"), seed=2)
    plain = _jpeg_at(tmp_path / "in" / "plain.jpg", seed=3)  # shares no prefix: kept
    catalog = Catalog.open(tmp_path / "lib")
    results = _analysed([kept, gone, plain])
    with catalog.transaction():
        catalog.remember(results, "opts")
    for result in results:
        assert catalog.cached(result.entry, "opts") == result
    assert catalog.cached_many([r.entry for r in results], "opts") == {
        r.entry.path: r for r in results
    }
    for (text,) in _raw(catalog, "SELECT path FROM sources"):
        text.encode("utf-8")

    os.unlink(gone)
    with catalog.transaction():
        assert catalog.forget_unseen_sources([inbox, plain.parent], {kept, plain}) == 1
    assert catalog.cached(results[1].entry, "opts") is None
    assert catalog.cached(results[0].entry, "opts") == results[0]
    assert catalog.cached(results[2].entry, "opts") == results[2]
    with catalog.transaction():
        catalog.forget_sources([kept])
    assert catalog.cached(results[0].entry, "opts") is None


def test_journal_recovers_a_killed_move_of_a_non_utf8_name(tmp_path: Path) -> None:
    inbox, library = _bytes_path(tmp_path, b"in\xe9"), tmp_path / "lib"
    src = _jpeg_at(_bytes_path(inbox, b"caf\xe9.jpg"), seed=1)
    catalog = Catalog.open(library)
    options = PlanOptions(library, parse_template("{year}/{stem}"), TransferMode.MOVE)
    (decision,) = resolve(plan(_analysed([src]), options), CatalogLibrary(catalog))
    assert decision.destination == library / "2004" / "café.jpg"
    Journal(catalog, "killed-run").intend([decision])
    (source_text,) = _raw(catalog, "SELECT source FROM journal")[0]
    assert source_text == str(tmp_path) + "/in\\xe9/caf\\xe9.jpg"

    decision.destination.parent.mkdir(parents=True)
    shutil.copy2(src, decision.destination)  # copied and published, killed before the unlink
    (done,) = recover(catalog)
    assert done.state == "recovered" and done.source == src
    assert not src.exists() and decision.destination.exists()
    assert _raw(catalog, "SELECT path, source_path FROM files") == [
        ("2004/café.jpg", str(tmp_path) + "/in\\xe9/caf\\xe9.jpg")
    ]


def test_sync_catalogues_non_utf8_library_names_once(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    _jpeg_at(_bytes_path(library, b"2004", b"caf\xe9.jpg"), seed=1)
    _jpeg_at(_bytes_path(library, b"2004", b"a\\b.jpg"), seed=2)
    catalog = Catalog.open(library)
    first = sync_library(catalog, AnalyseOptions(), workers=1, progress=False)
    assert first.count(Change.ADDED) == 2
    again = sync_library(catalog, AnalyseOptions(), workers=1, progress=False)
    assert again.changes == [] and again.unchanged == 2
    os.unlink(_bytes_path(library, b"2004", b"caf\xe9.jpg"))
    after = sync_library(catalog, AnalyseOptions(), workers=1, progress=False)
    assert [(c.path, c.change) for c in after.changes] == [
        (_bytes_path(library, b"2004", b"caf\xe9.jpg"), Change.REMOVED)
    ]
    assert catalog.count_files() == 1


# --- the find-duplicates report: any name, no formulas -----------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_find_duplicates_reports_non_utf8_and_formula_names(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "photos"
    names = [b"caf\xe9.jpg", b"\xff\\x41.jpg", b"=HYPERLINK(1).jpg", b"'quoted.jpg"]
    paths = [_jpeg_at(_bytes_path(tree, name), seed=7) for name in names]  # one content, 4 names
    report = tmp_path / f"dups.{fmt}"

    status = main(
        ["find-duplicates", "--input", str(tree), "--report", str(report), "--workers", "1"]
    )

    assert status == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"Report: {report}"
    text = report.read_bytes().decode("utf-8")  # valid UTF-8 throughout
    rows = dupreport.read_report(report)
    assert sorted(r.path for r in rows) == sorted(map(str, paths))
    assert {r.group_id for r in rows} == {1} and sum(bool(r.keep) for r in rows) == 1
    if fmt == "csv":
        cells = [cell for line in csv.reader(io.StringIO(text)) for cell in line]
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
        assert str(tmp_path).startswith("/")  # so a path cell never needs the quote
        assert any(c.endswith("/caf\\xe9.jpg") for c in cells)
        assert any(c.endswith("/\\xff\\\\x41.jpg") for c in cells)


def test_dupreport_csv_cells_are_defused_and_read_back(tmp_path: Path) -> None:
    rows = [
        dupreport.ReportRow(
            1, Kind.EXACT, 0, "=cmd|' /C calc'!A0", 10, 1, 1, None, True, "-keep: +largest"
        ),
        dupreport.ReportRow(
            1, Kind.EXACT, 0, os.fsdecode(b"@caf\xe9\\x"), 10, 1, 1, None, False, "'dup"
        ),
    ]
    for fmt in dupreport.ReportFormat:
        path = dupreport.write_report(rows, tmp_path / f"r.{fmt.value}", fmt)
        assert dupreport.read_report(path) == rows
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as f:
        written = list(csv.reader(f))[1:]  # after the report's header line
    assert written[1][3] == "'=cmd|' /C calc'!A0" and written[1][9] == "'-keep: +largest"
    assert written[2][3] == "'@caf\\xe9\\\\x" and written[2][9] == "''dup"


def test_find_duplicates_summary_shows_an_unreadable_non_utf8_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "photos"
    _jpeg_at(tree / "kept.jpg", seed=7)
    victim = _jpeg_at(_bytes_path(tree, b"gone\xe9.jpg"), seed=7)  # same size: must be read
    real_scan = duplicates.scan_rows

    def scan_then_vanish(inputs):
        found = real_scan(inputs)
        victim.unlink()  # disappears between scan and read; its error names it
        return found

    monkeypatch.setattr(duplicates, "scan_rows", scan_then_vanish)
    report = tmp_path / "dups.csv"

    status = main(
        ["find-duplicates", "--input", str(tree), "--report", str(report), "--workers", "1"]
    )

    assert status == 1
    assert "unreadable: " + str(tmp_path) + "/photos/gone\\xe9.jpg" in capsys.readouterr().out
    (row,) = [r for r in dupreport.read_report(report) if r.kind is Kind.UNREADABLE]
    assert row.path == str(victim)
    row.reason.encode("utf-8")


# --- templates through the command line --------------------------------------------------------


def _import(*args: str | Path) -> int:
    return main(["import", *map(str, args), "--workers", "1", "--quiet"])


@pytest.fixture
def one_photo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the default reports/ lands in tmp_path
    inbox = tmp_path / "inbox"
    make_jpeg(inbox / "IMG.jpg", D0, seed=1)
    return inbox


@pytest.mark.parametrize(
    "template",
    [
        "{year}/{month}",
        "{year}/{month}/{day}",
        "{stem}.jpg",
        "%Y/%m/%d/{stem}{ext}",
        "%Y%m%d_%H%M%S",
        "YYYY/MM/DD",
        "{year}/{stem}{ext}_{hash8}",
    ],
)
def test_cli_refuses_a_template_that_cannot_name_files_before_anything_moves(
    one_photo: Path, tmp_path: Path, template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "library"
    before = sorted((p, p.read_bytes()) for p in one_photo.rglob("*"))

    status = _import("--input", one_photo, "--output", library, "--template", template)

    assert status == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("photoorganiser: error: ")
    assert "template" in line or "write {" in line
    assert not library.exists()
    assert not (tmp_path / "reports").exists()
    assert sorted((p, p.read_bytes()) for p in one_photo.rglob("*")) == before


def test_cli_strftime_refusal_shows_the_template_in_fields(
    one_photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _import(
        "--input", one_photo, "--output", tmp_path / "lib", "--template", "%Y/%m/%d/{stem}{ext}"
    )
    assert status == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(
        "strftime patterns are not supported: write {year}/{month}/{day}/{stem}{ext}"
    )


def test_a_template_without_ext_keeps_each_files_extension(one_photo: Path, tmp_path: Path) -> None:
    make_jpeg(one_photo / "other" / "Clip.JPG", D0, seed=2)
    library, plan_csv = tmp_path / "library", tmp_path / "plan.csv"
    template = "{year}/{month}/{stem}"

    dry = _import(
        "--input", one_photo, "--output", library, "--template", template, "--dryrun",
        "--report", plan_csv,
    )  # fmt: skip
    assert dry == 0
    lines = plan_csv.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("source,"))
    planned = sorted(r["destination"] for r in csv.DictReader(lines[header:]))
    assert planned == [str(library / "2004/12/Clip.jpg"), str(library / "2004/12/IMG.jpg")]

    assert _import("--input", one_photo, "--output", library, "--template", template) == 0
    files = sorted(
        str(p.relative_to(library)) for p in library.rglob("*.*") if ".photoorganiser" not in str(p)
    )
    assert files == ["2004/12/Clip.jpg", "2004/12/IMG.jpg"]


def test_import_help_shows_template_examples_that_work(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    out = capsys.readouterr().out
    examples = [
        "{year}/{month}/{year}{month}{day}_{hour}{minute}{second}_{stem}{ext}",
        "{year}/{month}/{stem}{ext}",
        "{year}/{date}/{hour}{minute}{second}_{stem}{ext}",
        "{make}/{model}/{year}/{stem}{ext}",
    ]
    for example in examples:
        assert f"\n  {example}\n" in out  # on its own line: the epilog is not re-wrapped
        assert parse_template(example).text == example
    assert "{ext} is added" in " ".join(out.split())


# --- end to end: a folder of non-UTF-8 names ---------------------------------------------------


def test_import_of_non_utf8_names_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inbox, library = tmp_path / "inbox", tmp_path / "library"
    cafe = _jpeg_at(_bytes_path(inbox, b"caf\xe9.jpg"), seed=1)
    odd = _jpeg_at(_bytes_path(inbox, b"\xff.jpg"), seed=2, date=datetime(2004, 12, 1, 11, 0, 0))
    with open(os.path.join(os.fsencode(str(inbox)), b"caf\xe9.jpg"), "rb") as f:
        cafe_bytes = f.read()
    odd_bytes = odd.read_bytes()
    template = "{year}/{month}/{stem}{ext}"

    dry = _import(
        "--input", inbox, "--output", library, "--template", template, "--dryrun",
        "--report", tmp_path / "plan.csv",
    )  # fmt: skip
    assert dry == 0 and not library.exists() and cafe.exists() and odd.exists()
    plan_text = (tmp_path / "plan.csv").read_bytes().decode("utf-8")
    assert "caf\\xe9.jpg" in plan_text and "\\xff.jpg" in plan_text

    real = _import(
        "--input", inbox, "--output", library, "--template", template,
        "--report", tmp_path / "done.csv",
    )  # fmt: skip
    assert real == 0
    assert not cafe.exists() and not odd.exists()
    assert (library / "2004/12/café.jpg").read_bytes() == cafe_bytes
    assert (library / "2004/12/ÿ.jpg").read_bytes() == odd_bytes
    done = (tmp_path / "done.csv").read_bytes().decode("utf-8")
    assert "caf\\xe9.jpg" in done and "\\xff.jpg" in done
    assert main(["sync", "--output", str(library), "--quiet", "--workers", "1"]) == 0


@pytest.mark.parametrize("stem", ["holiday_" * 25, "é" * 120, "a" * 197])
@pytest.mark.parametrize(
    "template", ["{year}/{month}/{stem}{ext}", "{year}/{date}_{hour}{minute}_{stem}{ext}"]
)
def test_a_long_name_keeps_its_extension_and_stays_in_the_catalog(
    tmp_path: Path, stem: str, template: str
) -> None:
    """A name past the 200-byte limit (legal on ext4: up to 255) is shortened in its stem,
    never through its extension, whatever the template adds to it; the library's own
    sync and verify then still see the photo (cut to `holiday_holi` without `.jpg`, sync
    reported it removed and verify checked nothing)."""
    source = make_jpeg(tmp_path / "in" / f"{stem}.jpg", "2000:03:31 10:44:15")
    lib = tmp_path / "lib"
    args = ["import", "--input", str(source.parent), "--output", str(lib), "--template", template]
    assert main([*args, "--workers", "1", "--quiet", "--report", str(tmp_path / "r.csv")]) == 0
    (placed,) = [p for p in lib.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts]
    assert placed.name.endswith(".jpg") and len(placed.name.encode()) <= 200
    assert placed.name.startswith(("2000-03-31_1044_", stem[:8])), placed.name
    report = tmp_path / "sync.csv"
    assert main(["sync", "--output", str(lib), "--quiet", "--report", str(report)]) == 0
    assert [r for r in csv.reader(report.read_text().splitlines()[2:])] == []  # no change
    report = tmp_path / "verify.csv"
    assert main(["verify", "--output", str(lib), "--quiet", "--report", str(report)]) == 0
    rows = list(csv.DictReader(report.read_text().splitlines()[1:]))
    assert [(Path(r["path"]).name, r["result"]) for r in rows] == [(placed.name, "ok")]

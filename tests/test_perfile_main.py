"""The import's main process, per file (issue 14): the fast paths give exactly what the
general code gives. A library that holds nothing is asked nothing per file, destinations
are rendered with folder parts sanitised once and made from one path per folder, the
analyses are matched to their entries by identity, a row's date is written once."""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import os
import pickle
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser.cli import main
from photoorganiser.core.lazypath import path_from_text
from photoorganiser.core.values import (
    Action,
    Analysis,
    CaptureDate,
    DateSource,
    FileKind,
    MediaInfo,
    Outcome,
    ScanEntry,
    Status,
    TransferMode,
    Why,
)
from photoorganiser.importing import paths
from photoorganiser.importing.collisions import resolve
from photoorganiser.importing.plan import PlanOptions, _Destinations, plan
from photoorganiser.importing.report import outcome_cells, reason_text
from photoorganiser.library.index import DiskLibrary
from photoorganiser.media.scan import scan
from photoorganiser.runs import importer
from reports import split

D1 = datetime(2020, 1, 2, 3, 4, 5)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _analysis(path: str, content: str, when: datetime | None = D1, **media: object) -> Analysis:
    p = Path(path)
    ext = p.suffix.lower()
    kind = {".mov": FileKind.VIDEO, ".xmp": FileKind.SIDECAR, ".cr2": FileKind.RAW}.get(
        ext, FileKind.IMAGE
    )
    entry = ScanEntry(p, kind, size=len(content), mtime_ns=1, inode=hash(path) & 0xFFFF)
    captured = None if when is None else CaptureDate(when, DateSource.EXIF_DATETIME_ORIGINAL)
    return Analysis(entry, content * 32, MediaInfo(captured, **media), captured)


# --- the library that holds nothing -----------------------------------------------------


def test_a_library_holds_nothing_only_when_nothing_but_its_state_is_there(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    assert DiskLibrary(root).holds_nothing()  # no folder yet
    root.mkdir()
    assert DiskLibrary(root).holds_nothing()
    (root / ".photoorganiser").mkdir()
    assert DiskLibrary(root).holds_nothing()
    (root / "2020").mkdir()  # a folder, even empty, is something
    assert not DiskLibrary(root).holds_nothing()
    (root / "2020").rmdir()
    (root / "a.jpg").write_bytes(b"x")
    assert not DiskLibrary(root).holds_nothing()
    (root / "a.jpg").unlink()
    (root / "link").symlink_to(tmp_path)
    assert not DiskLibrary(root).holds_nothing()
    (root / "link").unlink()
    (root / ".photoorganiser").rmdir()
    (root / ".photoorganiser").write_bytes(b"")  # a file of that name is not the state folder
    assert not DiskLibrary(root).holds_nothing()


class _AskEveryFile:
    """The same library without `holds_nothing`: collisions ask it about every file."""

    def __init__(self, inner: DiskLibrary) -> None:
        self.inner = inner
        self.asked = 0

    def names_in(self, folder: Path) -> frozenset[str]:
        self.asked += 1
        return self.inner.names_in(folder)

    def find_content(self, content_hash: str, size: int, near: Path) -> Path | None:
        self.asked += 1
        return self.inner.find_content(content_hash, size, near)

    def find_nearby(self, content_hash: str, size: int, near: Path) -> Path | None:
        return self.inner.find_nearby(content_hash, size, near)

    def imported_from(self, sidecar: Path) -> tuple[Path, Path] | None:
        return None

    def unfinished_moves(self) -> dict[Path, Path]:
        return {}


def _messy_plan(library: Path) -> list:
    results = [
        _analysis("/in/a/IMG_1.JPG", "a"),
        _analysis("/in/b/IMG_1.JPG", "b"),  # another content, the same name: numbered
        _analysis("/in/c/IMG_1 (1).JPG", "a"),  # a copy of a/IMG_1.JPG: skip-duplicate
        _analysis("/in/d/IMG_1.JPG", "a"),  # and another one
        _analysis("/in/live/IMG_7.HEIC", "c"),
        _analysis("/in/live/IMG_7.MOV", "d"),  # its Live Photo video: the same stem
        _analysis("/in/live/IMG_7.HEIC.xmp", "e", None),  # its sidecar
        _analysis("/in/raw/DSC_2.CR2", "f"),
        _analysis("/in/raw/DSC_2.JPG", "g"),  # RAW+JPEG
        _analysis("/in/undated/x.jpg", "h", None),
        _analysis("/in/undated/x.png", "i", None),
        _analysis("/in/con.jpg", "j"),  # a reserved name
        ScanEntry(Path("/in/notes.txt"), FileKind.OTHER, ignore_reason="not a photo"),
    ]
    template = paths.parse_template(paths.DEFAULT_TEMPLATE)
    return plan(results, PlanOptions(library, template, TransferMode.COPY))


def test_collisions_in_a_library_that_holds_nothing_are_those_asked_file_by_file(
    tmp_path: Path,
) -> None:
    library = tmp_path / "lib"
    decisions = _messy_plan(library)
    asking = _AskEveryFile(DiskLibrary(library))
    slow = resolve(list(decisions), asking, Action.COPY)  # (a list is resolved in place)
    fast = resolve(list(decisions), DiskLibrary(library), Action.COPY)
    assert asking.asked > len(decisions)  # the general way asked it about every file
    assert fast == slow
    actions = sorted(d.action.value for d in fast)
    assert actions.count("skip-duplicate") == 2
    numbered = [d for d in fast if d.reason.numbered]
    assert len(numbered) == 1 and numbered[0].destination.name.endswith("_IMG_1_1.jpg")


def test_a_library_holding_a_file_is_still_asked(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    decisions = _messy_plan(library)
    first = next(d for d in decisions if d.source == Path("/in/a/IMG_1.JPG"))
    first.destination.parent.mkdir(parents=True)
    first.destination.write_bytes(b"something else")  # takes the name, not the content
    out = resolve(decisions, DiskLibrary(library), Action.COPY)
    mine = next(d for d in out if d.source == first.source)
    assert mine.destination.name.endswith("_IMG_1_1.jpg")  # the name was taken


# --- rendering -----------------------------------------------------------------------


def _render_reference(template: paths.Template, a: Analysis) -> str:
    """render_text as it was: the whole template formatted, then split and sanitised."""
    source = a.entry.path
    stem = paths.sanitise_component(source.stem, fallback="photo")
    ext = paths.sanitise_component(source.suffix.lower(), fallback="")
    if ext and not ext.startswith("."):
        ext = "." + ext
    if a.captured is None and template.needs_date:
        return f"{paths.UNDATED_FOLDER}/{paths.fit_name(stem, ext)}"
    media = a.media
    values = {
        "stem": stem,
        "ext": ext,
        "make": paths.sanitise_component(media.make or ""),
        "model": paths.sanitise_component(media.model or ""),
        "width": str(media.width or 0),
        "height": str(media.height or 0),
        "hash8": a.hash[:8],
        "kind": a.entry.kind.value,
    }
    if a.captured is not None:
        w = a.captured.wall
        values |= {
            "year": f"{w.year:04d}",
            "month": f"{w.month:02d}",
            "day": f"{w.day:02d}",
            "hour": f"{w.hour:02d}",
            "minute": f"{w.minute:02d}",
            "second": f"{w.second:02d}",
            "date": f"{w.year:04d}-{w.month:02d}-{w.day:02d}",
        }
    rendered = template.text.format_map(values)
    raw = [p for p in rendered.split("/") if p.strip()]
    parts = [paths.sanitise_component(p, fallback="_") for p in raw]
    if parts and ext and raw[-1].lower().endswith(ext) and not parts[-1].lower().endswith(ext):
        # cut by the length limit: the stem is shortened, never the extension
        parts[-1] = paths.fit_name(paths.sanitise_component(raw[-1][: -len(ext)], "_"), ext)
    if not parts:
        parts = [paths.fit_name(stem, ext)]
    *folders, name = parts
    if ext and name.lower().endswith(ext):
        name = paths.fit_name(name[: -len(ext)], ext)
    return "/".join([*folders, name])


TEMPLATES = [
    paths.DEFAULT_TEMPLATE,
    "{year}/{month}/{stem}",
    "{stem}{ext}",
    "{make}/{model}/{date}/{hash8}{ext}",
    "{kind} {make}/ {year} /{width}x{height}_{stem}",
    "..x/{model}.../{year}{month}{day}_{hour}{minute}{second}",
    "{year}/con/{stem}",
]
STEMS = ["IMG_0001", "a.b", "con", " lead", "Café", "x" * 250, ".hidden", "tab\there", "e\u0301"]
EXTS = [".JPG", ".jpeg", "", ".", ".Tar.GZ", ".j\u00e9"]


@pytest.mark.parametrize("text", TEMPLATES)
def test_rendering_is_what_the_whole_template_rendered_gives(text: str) -> None:
    template = paths.parse_template(text)
    for stem in STEMS:
        for ext in EXTS:
            for when in (D1, datetime(999, 12, 31, 23, 59, 58), None):
                for make, model in ((None, None), ("Can/on", "EOS: 5D"), ("..", " ")):
                    a = _analysis(f"/in/{stem}{ext}", "ab", when, make=make, model=model)
                    expected = _render_reference(template, a)
                    assert paths.render_text(template, a) == expected, (stem, ext, make)


@pytest.mark.parametrize("root", ["/", "/lib", "/lib/", "/a b/lib"])
def test_destinations_are_the_paths_the_text_gives(root: str) -> None:
    place = _Destinations(Path(root))
    for text in ("2020/01/a.jpg", "2020/01/b.jpg", "undated/c.png", "d.jpg", "x/y/z/e.jpg"):
        made = path_from_text(place.text(text))
        expected = Path(f"{root.rstrip('/')}/{text}")
        assert made == expected
        assert str(made) == str(expected) and made.name == expected.name
        assert made.parent == expected.parent and hash(made) == hash(expected)


# --- analysis and report ----------------------------------------------------------------


@pytest.mark.parametrize("copies", [False, True])
def test_each_analysis_is_matched_to_its_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copies: bool
) -> None:
    """Results carry the very entry they were asked for (matched by identity); one that
    carries a copy (analysed elsewhere) is matched by its path, never left unanalysed."""
    inbox = tmp_path / "inbox"
    for i in range(5):
        make_jpeg(inbox / f"IMG_{i}.JPG", D1 + timedelta(minutes=i), seed=i)
    (inbox / "notes.txt").write_text("x")
    if copies:
        analyse = importer.analyse

        def copying(*args, **kwargs):
            for r in analyse(*args, **kwargs):
                yield dataclasses.replace(r, entry=dataclasses.replace(r.entry))

        monkeypatch.setattr(importer, "analyse", copying)
    report = tmp_path / "r.csv"
    args = ["import", "--input", str(inbox), "--output", str(tmp_path / "lib"), "--dryrun"]
    assert main([*args, "--report", str(report), "--workers", "2", "--quiet"]) == 0
    rows = {Path(r["source"]).name: r for r in csv.DictReader(io.StringIO(split(report)[1]))}
    assert len(rows) == 6
    for i in range(5):
        assert rows[f"IMG_{i}.JPG"]["action"] == "move"
        assert rows[f"IMG_{i}.JPG"]["captured_at"] == f"2020-01-02T03:0{4 + i}:05"
    assert rows["notes.txt"]["action"] == "ignore"


def test_a_rows_reason_is_the_reason_text(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    results = [
        _analysis("/in/a.jpg", "a"),
        _analysis("/in/b.jpg", "b", D1.replace(microsecond=5)),
        _analysis("/in/c.jpg", "c", None),
    ]
    mtime = CaptureDate(D1, DateSource.MTIME, timedelta(hours=-3))
    a = _analysis("/in/d.jpg", "d")
    results.append(Analysis(a.entry, a.hash, a.media, mtime))
    template = paths.parse_template(paths.DEFAULT_TEMPLATE)
    decisions = plan(results, PlanOptions(library, template, TransferMode.MOVE))
    for d in decisions:
        cells = outcome_cells(Outcome(d, Status.PLANNED))
        assert cells[4] == reason_text(d.reason, d.analysis.captured)
        assert cells[9] == (d.analysis.captured.isoformat() if d.analysis.captured else "")
        if d.analysis.captured is not None:  # the reason names the analysis's date
            assert d.analysis.captured.isoformat() in cells[4]
    # plain new files share one reason (one object, not one per file)
    news = [d.reason for d in decisions if d.reason.why is Why.NEW]
    assert len(news) == 2 and news[0] is news[1]


# --- paths held as their text -----------------------------------------------------------

TEXTS = ["/", "/a", "/lib/2020/01/IMG_1.jpg", "//net/share/x.JPG", "rel/a.b.c", "/a b/c\udce9.jpg"]


@pytest.mark.parametrize("text", TEXTS)
def test_a_path_made_from_its_text_is_the_path(text: str) -> None:
    made, real = path_from_text(text), Path(text)
    assert str(made) == str(real) and os.fspath(made) == text and repr(made) == repr(real)
    assert path_from_text(text) == real and real == path_from_text(text)
    assert hash(path_from_text(text)) == hash(real) and {real: 1}[path_from_text(text)] == 1
    made = path_from_text(text)
    assert (made.name, made.suffix, made.stem, made.parts) == (
        real.name, real.suffix, real.stem, real.parts,
    )  # fmt: skip
    assert made.parent == real.parent and made / "x" == real / "x"
    assert isinstance(made, Path) and made.is_absolute() == real.is_absolute()
    back = pickle.loads(pickle.dumps(path_from_text(text)))
    assert back == real and type(back) is type(real)
    assert copy.deepcopy(path_from_text(text)) == real
    assert sorted([path_from_text(text), Path("/m")]) == sorted([real, Path("/m")])


def test_scanned_paths_are_the_paths_of_their_files(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("a.jpg", "sub/b.JPG", "c d.png"):
        (tmp_path / "in" / name).write_bytes(b"x")
    found = sorted(e.path for e in scan([tmp_path / "in"]))
    expected = sorted(p for p in (tmp_path / "in").rglob("*") if p.is_file())
    assert found == expected
    assert [str(p) for p in found] == [str(p) for p in expected]
    assert all(p.exists() for p in found)

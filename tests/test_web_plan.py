"""The Import plan page (issue 12): a real dry-run report reviewed through the web app
(API level), saved, and applied by the real command line: exactly the reviewed plan."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest
from media import make_jpeg
from web import client, submit, wait

from photoorganiser import cli
from photoorganiser.core.reportfile import ReportHeader, ReportWriter, read_header
from photoorganiser.importing.report import COLUMNS, read_report
from photoorganiser.importing.review import (
    Review,
    ReviewRefused,
    destination_problem,
    leaders,
    write_reviewed,
)
from photoorganiser.runs import apply as apply_module

MTIME = datetime(2019, 3, 4, 5, 6, 7).timestamp()
# The job API is built at the same time as this page (web/jobs.py, web/api.py).


def make_inbox(root: Path) -> Path:
    """Real JPEGs: two dated by EXIF (one with a sidecar and a camera), one dated only by
    its modification time, one duplicate of another, and a file that is not media."""
    inbox = root / "inbox"
    make_jpeg(inbox / "IMG_0001.jpg", datetime(2021, 6, 7, 8, 9, 10), seed=1, make="Canon",
              model="Canon EOS 5D")  # fmt: skip
    make_jpeg(inbox / "IMG_0002.jpg", datetime(2020, 1, 2, 3, 4, 5), seed=2)
    (inbox / "IMG_0002.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"></rdf:RDF></x:xmpmeta>'
    )
    nodate = make_jpeg(inbox / "scan.jpg", seed=3)
    os.utime(nodate, (MTIME, MTIME))
    (inbox / "old").mkdir()
    shutil.copy2(inbox / "IMG_0001.jpg", inbox / "old" / "IMG_0001 (1).jpg")
    (inbox / "notes.txt").write_text("not a photo")
    return inbox


def dry_run(tmp_path: Path) -> tuple[Path, Path, Path]:
    inbox = make_inbox(tmp_path)
    lib = tmp_path / "lib"
    lib.mkdir()
    reports = lib / ".photoorganiser" / "reports"
    status = cli.main(
        [
            "import",
            "--input",
            str(inbox),
            "--output",
            str(lib),
            "--dryrun",
            "--quiet",
            "--report-dir",
            str(reports),
        ]  # fmt: skip
    )
    assert status == 0
    (report,) = reports.glob("import-*.csv")
    return inbox, lib, report


def rows_by_name(report: Path) -> dict[str, object]:
    return {Path(r.source).name: r for r in read_report(report)}


def ref_of(report: Path) -> str:
    return f"0:{report.name}"


def test_the_import_report_has_a_why_column_at_its_end(tmp_path: Path) -> None:
    _inbox, _lib, report = dry_run(tmp_path)
    assert COLUMNS[-1] == "why"
    got = rows_by_name(report)
    assert got["IMG_0001.jpg"].why == "new"
    assert got["scan.jpg"].why == "mtime" and got["scan.jpg"].date_source == "mtime"
    assert got["IMG_0001 (1).jpg"].why == "duplicate"
    assert got["IMG_0002.xmp"].why == "sidecar"
    assert got["notes.txt"].why == "ignored"


def test_the_page_lists_dry_runs_and_shows_a_plan_with_thumbnails_and_counts(
    tmp_path: Path,
) -> None:
    _inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    with client(lib) as c:
        r = c.get("/plan")
        assert r.status_code == 200
        assert report.name in r.text and 'id="dryrun"' in r.text
        r = c.get("/plan", params={"report": ref_of(report)})
        assert r.status_code == 200, r.text
        page = r.text
        # one row per file; a thumbnail for each file with a hash, through the token
        assert page.count('class="row') == 6
        for name in ("IMG_0001.jpg", "IMG_0002.jpg", "scan.jpg", "IMG_0001 (1).jpg"):
            assert f"/thumb/{rows[name].hash}?size=160&amp;path=" in page
        assert page.count('<img class="thumb"') == 5  # the sidecar has a hash too; notes none
        # the report's own labels, and counts per filter value
        assert "To move" in page and "Duplicate within this run" in page and "Ignored" in page
        assert "file modification time (1)" in page
        assert "EXIF:DateTimeOriginal (3)" in page
        assert "dated by modification time (1)" in page
        assert "Canon EOS 5D (2)" in page
        assert re.search(r'id="count-ticked">4<', page)  # 3 photos and a sidecar to move
        # the thumbnail of a file under review is served (the picture, or an icon while
        # library/thumbs.py is a stand-in), never refused
        src = re.search(r'<img class="thumb"[^>]* src="([^"]+)"', page).group(1)
        t = c.get(src.replace("&amp;", "&"))
        assert t.status_code == 200 and t.headers["content-type"].startswith("image/")


def test_filters_show_exactly_the_matching_rows(tmp_path: Path) -> None:
    _inbox, lib, report = dry_run(tmp_path)
    with client(lib) as c:

        def names(**params) -> list[str]:
            r = c.get("/plan", params={"report": ref_of(report), **params})
            assert r.status_code == 200
            return re.findall(r'<div class="name">([^<]*)</div>', r.text)

        assert names(date="mtime") == ["scan.jpg"]
        assert names(why="mtime") == ["scan.jpg"]
        assert names(why="duplicate") == ["IMG_0001 (1).jpg"]
        assert names(action="Ignored") == ["notes.txt"]
        assert sorted(names(camera="Canon EOS 5D")) == ["IMG_0001 (1).jpg", "IMG_0001.jpg"]
        assert names(q="SCAN") == ["scan.jpg"]
        assert names(date="mtime", q="IMG") == []
        assert names(date="~") == ["notes.txt"] or "notes.txt" in names(date="~")
        assert len(names()) == 6


def decide(c, report: Path, *changes: dict, status: int = 200) -> dict:
    r = c.post("/plan/decisions", json={"report": ref_of(report), "changes": list(changes)})
    assert r.status_code == status, r.text
    return r.json()


def test_decisions_persist_and_bad_destinations_are_refused(tmp_path: Path) -> None:
    _inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    one, two, scan = rows["IMG_0001.jpg"], rows["IMG_0002.jpg"], rows["scan.jpg"]
    with client(lib) as c:
        answer = decide(c, report, {"source": scan.source, "ticked": False})
        assert answer["counts"]["left_alone"] == 1
        answer = decide(c, report, {"source": one.source, "destination": "Holiday/first.jpg"})
        assert answer["rows"][0]["destination"] == "Holiday/first.jpg"
        for bad, why in (
            ("../x.jpg", "'..'"),
            ("/etc/x.jpg", "relative"),
            ("Holiday/first.png", "extension must stay .jpg"),
            ("Holiday/first.jpg", "another planned file"),  # one's new name
            ("HOLIDAY/FIRST.JPG", "another planned file"),  # the same name but for case
            (".photoorganiser/x.jpg", "state"),
            ("a/b:c.jpg", "not a safe"),
        ):
            answer = decide(c, report, {"source": two.source, "destination": bad}, status=409)
            assert answer["error"].startswith("refused: ") and why in answer["error"], (bad, answer)
        (lib / "2000").mkdir()
        make_jpeg(lib / "2000" / "taken.jpg", seed=9)
        answer = decide(
            c, report, {"source": two.source, "destination": "2000/taken.jpg"}, status=409
        )
        assert "already exists in the library" in answer["error"]
        # the sidecar follows its photo's new name, and is left alone with it
        answer = decide(c, report, {"source": two.source, "destination": "Holiday/second.jpg"})
        got = {Path(s["source"]).name: s for s in answer["rows"]}
        assert got["IMG_0002.xmp"]["destination"] == "Holiday/second.xmp"
        answer = decide(c, report, {"source": two.source, "ticked": False})
        assert {Path(s["source"]).name: s["ticked"] for s in answer["rows"]} == {
            "IMG_0002.jpg": False,
            "IMG_0002.xmp": False,
        }
        answer = decide(
            c, report, {"source": rows["IMG_0002.xmp"].source, "ticked": True}, status=409
        )
        assert "travels with IMG_0002.jpg" in answer["error"]
        decide(c, report, {"source": two.source, "ticked": True})
    draft = lib / ".photoorganiser" / "reviews" / f"{report.name}.json"
    assert draft.is_file()
    # a new server (a browser restart) shows the same decisions
    with client(lib) as c:
        page = c.get("/plan", params={"report": ref_of(report)}).text
        assert 'value="Holiday/first.jpg"' in page and 'value="Holiday/second.xmp"' in page
        assert re.search(r'id="count-left">1<', page) and re.search(r'id="count-edited">3<', page)
        left = c.get("/plan", params={"report": ref_of(report), "state": "left-alone"}).text
        assert re.findall(r'<div class="name">([^<]*)</div>', left) == ["scan.jpg"]
        # bulk: everything the filter shows
        r = c.post(
            "/plan/decisions",
            json={"report": ref_of(report), "bulk": {"q": "IMG_000", "ticked": False}},
        )
        assert r.json()["changed"] == 3  # IMG_0001, IMG_0002 (+ its sidecar), not the duplicate
        assert r.json()["counts"]["ticked"] == 0
        r = c.post("/plan/decisions", json={"report": ref_of(report), "bulk": {"ticked": True}})
        assert r.json()["counts"]["ticked"] == 4


def test_the_review_refuses_what_apply_refuses() -> None:
    lib = Path("/lib")
    for text in ("a/b.jpg", "2021/06/x y.jpg", "../b.jpg", "a//b.jpg", "a/.b.jpg", "a/con.jpg",
                 "a/b\x01.jpg", "a/" + "x" * 300 + ".jpg", ".photoorganiser/b.jpg"):  # fmt: skip
        ours = destination_problem(text, "a/b.jpg")
        theirs = apply_module._unsafe_destination(lib / text, lib)
        if theirs is not None:
            assert ours is not None, text


def applied(tmp_path: Path, lib: Path, saved: Path) -> int:
    return cli.main(["apply", str(saved), "--output", str(lib), "--quiet",
                     "--report", str(tmp_path / "applied.csv")])  # fmt: skip


def test_save_then_apply_does_exactly_the_reviewed_plan(tmp_path: Path) -> None:
    inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    with client(lib) as c:
        decide(c, report, {"source": rows["scan.jpg"].source, "ticked": False})
        decide(
            c, report, {"source": rows["IMG_0002.jpg"].source, "destination": "Holiday/second.jpg"}
        )
        r = c.post("/plan/save", json={"report": ref_of(report)})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["counts"] == {"rows": 5, "transfers": 3, "left_alone": 1, "edited": 2}
        saved = lib / ".photoorganiser" / "reports" / answer["name"]
        assert answer["ref"] == f"0:{saved.name}"
        # saving again makes another file: nothing is ever replaced
        again = c.post("/plan/save", json={"report": ref_of(report)}).json()
        assert again["name"] != answer["name"]
        # the saved plan is a plan of its own, listed and reviewable
        assert c.get("/plan", params={"report": answer["ref"]}).status_code == 200
    header = read_header(saved)
    assert header.kind == "import" and header.dryrun and header.library == str(lib.absolute())
    assert header.inputs == (str(inbox.absolute()),)
    before_scan = (inbox / "scan.jpg").read_bytes()
    assert applied(tmp_path, lib, saved) == 0
    # exactly the reviewed plan: the ticked files at their (edited) destinations
    assert (lib / "Holiday" / "second.jpg").read_bytes() == make_jpeg(
        tmp_path / "probe" / "x.jpg", datetime(2020, 1, 2, 3, 4, 5), seed=2
    ).read_bytes()
    assert (lib / "Holiday" / "second.xmp").is_file()
    assert Path(rows["IMG_0001.jpg"].destination).is_file()
    assert not (inbox / "IMG_0001.jpg").exists() and not (inbox / "IMG_0002.jpg").exists()
    # the unticked file, the duplicate and the other file are left in the inbox
    assert (inbox / "scan.jpg").read_bytes() == before_scan
    assert not Path(rows["scan.jpg"].destination).exists()
    assert (inbox / "old" / "IMG_0001 (1).jpg").is_file() and (inbox / "notes.txt").is_file()
    media = sorted(
        str(p.relative_to(lib))
        for p in lib.rglob("*")
        if p.is_file() and ".photoorganiser" not in p.parts
    )
    assert media == sorted(
        [
            "Holiday/second.jpg",
            "Holiday/second.xmp",
            os.path.relpath(rows["IMG_0001.jpg"].destination, lib),
        ]
    )
    outcome = {Path(r.source).name: r for r in read_report(tmp_path / "applied.csv")}
    assert "edited in review" in outcome["IMG_0002.jpg"].reason
    assert "scan.jpg" not in outcome


def test_a_sidecar_whose_photos_row_was_deleted_is_left_alone_in_review_as_in_apply(
    tmp_path: Path,
) -> None:
    """One rule for both ways of leaving a photo alone: unticked in the review, or its row
    deleted from the CSV by hand. Its sidecar is left alone with it either way (the review
    shows it so and will not tick it), and apply carries out the same plan."""
    inbox, lib, report = dry_run(tmp_path)
    header, rows = read_header(report), read_report(report)
    names = [Path(r.source).name for r in rows]
    photo, sidecar = names.index("IMG_0002.jpg"), names.index("IMG_0002.xmp")
    assert leaders(rows, header.library) == {sidecar: photo}
    # unticked in the review: the saved plan lists neither
    review = Review(header, rows, unticked=[rows[photo].source])
    assert review.states()[sidecar] == "left-alone"
    saved, counts = write_reviewed(report, review, lambda name: tmp_path / name)
    assert counts["left_alone"] == 2
    assert {Path(r.source).name for r in read_report(saved)} == set(names) - {
        "IMG_0002.jpg",
        "IMG_0002.xmp",
    }
    # deleted by hand: the review of that plan shows the sidecar left alone too
    by_hand = [r for r in rows if r.source != rows[photo].source]
    kept = [Path(r.source).name for r in by_hand].index("IMG_0002.xmp")
    assert leaders(by_hand, header.library) == {kept: None}
    review = Review(header, by_hand)
    assert not review.ticked(kept) and review.states()[kept] == "left-alone"
    with pytest.raises(ReviewRefused, match="IMG_0002.jpg, which this plan does not list"):
        review.set_ticked(by_hand[kept].source, True)
    assert review.set_many(range(len(by_hand)), True) == 0
    # ... and apply leaves both in the inbox, as after the review
    edited = tmp_path / "by-hand.csv"
    lines = report.read_text(encoding="utf-8").splitlines(keepends=True)
    edited.write_text(
        "".join(ln for ln in lines if not ln.startswith(rows[photo].source + ",")),
        encoding="utf-8",
    )
    assert applied(tmp_path, lib, edited) == 0
    assert (inbox / "IMG_0002.jpg").is_file() and (inbox / "IMG_0002.xmp").is_file()
    outcome = {Path(r.source).name: r for r in read_report(tmp_path / "applied.csv")}
    assert outcome["IMG_0002.xmp"].action == "ignore" and "IMG_0002.jpg" not in outcome
    assert outcome["IMG_0002.xmp"].why == "leader-left"


def test_a_review_with_a_collision_is_not_saved(tmp_path: Path) -> None:
    _inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    one, scan = rows["IMG_0001.jpg"], rows["scan.jpg"]
    with client(lib) as c:
        # scan left alone: its planned name is free, so another file may take it ...
        decide(c, report, {"source": scan.source, "ticked": False})
        decide(
            c, report, {"source": one.source, "destination": os.path.relpath(scan.destination, lib)}
        )
        # ... and scan cannot be ticked again while that is so
        answer = decide(c, report, {"source": scan.source, "ticked": True}, status=409)
        assert "now another file's destination" in answer["error"]
        r = c.post("/plan/decisions", json={"report": ref_of(report), "bulk": {"ticked": True}})
        assert r.json()["changed"] == 0 and r.json()["counts"]["left_alone"] == 1
        r = c.post("/plan/save", json={"report": ref_of(report)})
        assert r.status_code == 200


def test_a_plan_of_20000_rows_renders_a_page_quickly(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    reports = lib / ".photoorganiser" / "reports"
    reports.mkdir(parents=True)
    report = reports / "import-20260101-000000.csv"
    header = ReportHeader("import", library=str(lib), inputs=(str(tmp_path / "in"),), dryrun=True,
                          mode="move", created="2026-01-01T00:00:00")  # fmt: skip
    sources = ["mtime", "EXIF:DateTimeOriginal", "filename"]
    with ReportWriter(report, header, COLUMNS) as w:
        w.write_rows(
            [
                str(tmp_path / "in" / f"d{i % 97}" / f"IMG_{i:05d}.jpg"),
                "move",
                "planned",
                str(lib / "2020" / "01" / f"IMG_{i:05d}.jpg"),
                "new: ...",
                "",
                "",
                "1000",
                f"{i:032x}",
                "2020-01-01T00:00:00",
                sources[i % 3],
                "Canon",
                f"Model {i % 5}",
                "64",
                "48",
                "JPEG",
                "",
                "mtime" if i % 3 == 0 else "new",
            ]  # fmt: skip
            for i in range(20_000)
        )
    with client(lib) as c:
        ref = ref_of(report)
        c.get("/plan", params={"report": ref})  # parsed once, then cached
        for params in (
            {},
            {"date": "mtime"},
            {"q": "IMG_1999"},
            {"page": 50},
            {"why": "mtime", "page": 3},
        ):
            # CPU time of this process (the app runs in it): what the page costs, not
            # how busy the machine is with other tests
            start = time.process_time()
            r = c.get("/plan", params={"report": ref, **params})
            took = time.process_time() - start
            assert r.status_code == 200
            assert took < 0.5, (params, took)
        assert "file modification time (6,667)" in r.text
        start = time.process_time()
        decide(
            c,
            report,
            {"source": str(tmp_path / "in" / "d3" / "IMG_00003.jpg"), "destination": "x/y.jpg"},
        )
        assert time.process_time() - start < 0.5


def test_an_older_report_without_why_groups_reasons_by_action(tmp_path: Path) -> None:
    _inbox, lib, report = dry_run(tmp_path)
    with open(report, newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    old = report.with_name("import-19990101-000000.csv")
    with open(old, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        for row in lines:
            w.writerow(row if row[0].startswith("#") else row[:-1])
    with client(lib) as c:
        r = c.get("/plan", params={"report": ref_of(old)})
        assert r.status_code == 200
        assert "reason (by action)" in r.text
        got = c.get("/plan", params={"report": ref_of(old), "why": "Ignored"}).text
        assert re.findall(r'<div class="name">([^<]*)</div>', got) == ["notes.txt"]


def test_only_import_dry_runs_are_reviewed_here(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    reports = lib / ".photoorganiser" / "reports"
    reports.mkdir(parents=True)
    with ReportWriter(reports / "import-x.csv", ReportHeader("import", library=str(lib)), COLUMNS):
        pass
    with client(lib) as c:
        assert c.get("/plan", params={"report": "0:import-x.csv"}).status_code == 404
        assert c.get("/plan", params={"report": "0:../../etc/passwd"}).status_code == 404
        r = c.post("/plan/save", json={"report": "0:import-x.csv"})
        assert r.status_code == 404


def test_apply_as_a_job(tmp_path: Path) -> None:
    inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    with client(lib) as c:
        decide(c, report, {"source": rows["scan.jpg"].source, "ticked": False})
        saved = c.post("/plan/save", json={"report": ref_of(report)}).json()
        job = wait(c, submit(c, "apply", report=saved["ref"]), timeout=60)
        assert job["status"] == "done", job
    assert Path(rows["IMG_0001.jpg"].destination).is_file()
    assert (inbox / "scan.jpg").is_file()


def test_a_name_that_is_not_utf8_is_reviewed_by_its_report_text(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    odd = os.fsdecode(b"caf\xe9.jpg")
    make_jpeg(inbox / odd, datetime(2018, 5, 6, 7, 8, 9), seed=5)
    make_jpeg(inbox / "plain.jpg", datetime(2018, 5, 6, 7, 8, 10), seed=6)
    lib = tmp_path / "lib"
    lib.mkdir()
    reports = lib / ".photoorganiser" / "reports"
    assert cli.main(["import", "--input", str(inbox), "--output", str(lib), "--dryrun",
                     "--quiet", "--report-dir", str(reports)]) == 0  # fmt: skip
    (report,) = reports.glob("import-*.csv")
    (row,) = [r for r in read_report(report) if "\\xe9" in r.source]
    with client(lib) as c:
        page = c.get("/plan", params={"report": ref_of(report)}).text
        at = page.index(f'data-source="{row.source}"')
        src = re.search(r'<img class="thumb"[^>]* src="([^"]+)"', page[at:]).group(1)
        assert "caf%5Cxe9.jpg" in src  # the report's own text for the name
        assert c.get(src.replace("&amp;", "&")).status_code == 200
        decide(c, report, {"source": row.source, "destination": "2018/cafe.jpg"})
        saved = c.post("/plan/save", json={"report": ref_of(report)}).json()
    assert applied(tmp_path, lib, reports / saved["name"]) == 0
    assert (lib / "2018" / "cafe.jpg").is_file() and not (inbox / odd).exists()


def test_the_draft_is_never_written_through_a_link(tmp_path: Path) -> None:
    _inbox, lib, report = dry_run(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, lib / ".photoorganiser" / "reviews")
    scan = rows_by_name(report)["scan.jpg"]
    with client(lib) as c:
        r = c.post(
            "/plan/decisions",
            json={"report": ref_of(report), "changes": [{"source": scan.source, "ticked": False}]},
        )
        assert r.status_code == 500 and "cannot keep the review" in r.json()["error"]
    assert os.listdir(elsewhere) == []


def test_a_file_that_travels_with_another_cannot_be_given_its_own_destination(
    tmp_path: Path,
) -> None:
    """A sidecar edited on its own was accepted, then stayed at its own name when its
    photo was edited: applied, an orphan in the library. Its destination is its photo's
    to give (refused in the API with why), an edit of it in an older draft is dropped
    (it follows its photo again), and the applied plan keeps the two together."""
    inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    photo, sidecar = rows["IMG_0002.jpg"].source, rows["IMG_0002.xmp"].source
    with client(lib) as c:
        answer = decide(c, report, {"source": sidecar, "destination": "2024/01/notes.xmp"},
                        status=409)  # fmt: skip
        assert answer["error"] == (
            "refused: it follows IMG_0002.jpg: edit that file's destination, and it follows"
        )
        answer = decide(c, report, {"source": photo, "destination": "2024/01/holiday.jpg"})
        got = {Path(s["source"]).name: s["destination"] for s in answer["rows"]}
        assert got == {"IMG_0002.jpg": "2024/01/holiday.jpg", "IMG_0002.xmp": "2024/01/holiday.xmp"}
        # the page says why, and offers no edit of it
        page = c.get("/plan", params={"report": ref_of(report)}).text
        assert re.search(r'readonly[^>]*data-fixed="refused: it follows IMG_0002.jpg: edit', page)
        assert page.count("readonly") == 1
    # a draft kept before the rule, with the sidecar given a name of its own
    draft = lib / ".photoorganiser" / "reviews" / f"{report.name}.json"
    data = json.loads(draft.read_text())
    data["destinations"][sidecar] = "2024/01/notes.xmp"
    draft.write_text(json.dumps(data))
    with client(lib) as c:
        page = c.get("/plan", params={"report": ref_of(report)}).text
        assert 'value="2024/01/holiday.xmp"' in page and "notes.xmp" not in page
        saved = c.post("/plan/save", json={"report": ref_of(report)}).json()["name"]
    assert applied(tmp_path, lib, lib / ".photoorganiser" / "reports" / saved) == 0
    assert sorted(os.listdir(lib / "2024" / "01")) == ["holiday.jpg", "holiday.xmp"]
    assert not (inbox / "IMG_0002.xmp").exists()


def test_apply_refuses_a_follower_given_a_name_of_its_own_by_hand(tmp_path: Path) -> None:
    """apply does not re-derive a follower's name from its file's: a plan whose sidecar
    destination was edited by hand apart from its photo's is refused for that sidecar
    (the same rule as the review's), so the library never holds it as an orphan. Its
    photo goes on; the sidecar stays in the inbox, with why."""
    inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    planned = rows["IMG_0002.xmp"].destination
    edited = tmp_path / "by-hand.csv"
    text = report.read_text(encoding="utf-8")
    assert text.count(planned) == 1
    edited.write_text(text.replace(planned, str(lib / "2024" / "notes.xmp")), encoding="utf-8")
    assert applied(tmp_path, lib, edited) == 1
    outcome = {Path(r.source).name: r for r in read_report(tmp_path / "applied.csv")}
    assert outcome["IMG_0002.xmp"].action == "error"
    assert "it follows IMG_0002.jpg, so its destination must be named after" in (
        outcome["IMG_0002.xmp"].error
    )
    assert not (lib / "2024" / "notes.xmp").exists() and (inbox / "IMG_0002.xmp").is_file()
    assert Path(rows["IMG_0002.jpg"].destination).is_file()

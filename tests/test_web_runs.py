"""The runs and jobs page (web/runs.py) on a real library: the import run with its
report (linked when it lies in a report folder, its path shown otherwise), the undo
runs, a busy library, refused report refs, and an undo started as a job."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
from test_web_library import REPORTS, make_library
from web import TOKEN, client

from photoorganiser.cli import main
from photoorganiser.library.catalog import STATE_DIR, Catalog
from photoorganiser.library.lock import library_lock
from photoorganiser.library.runlog import list_runs


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("webruns"))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A library of its own, for a test that undoes (files go back to its inbox)."""
    return make_library(tmp_path)


def runs_of(library: Path):
    catalog = Catalog.open(library, readonly=True)
    assert catalog is not None
    try:
        return list_runs(catalog)
    finally:
        catalog.close()


def row_of(text: str, run_id: str) -> str:
    m = re.search(rf'<tr id="run-{re.escape(run_id)}".*?</tr>', text, re.S)
    assert m, f"no row for run {run_id}"
    return m[0]


def test_the_import_run_is_listed_with_its_report(built: Path) -> None:
    (run,) = runs_of(built)
    report = Path(run.report)
    assert report.parent == built / REPORTS
    with client(built, start_jobs=False) as c:
        r = c.get("/runs")
        assert r.status_code == 200
        row = row_of(r.text, run.id)
        assert '<span class="kind">import</span>' in row
        assert ">finished<" in row
        assert "6 moved" in row
        ref = f"0:{report.name}"
        assert f'href="/runs/report?ref={ref.replace(":", "%3A")}&amp;token={TOKEN}"' in row
        assert "<summary>summary</summary>" in row and "Moved" in html.unescape(row)
        # the undo button says what will be reversed
        button = re.search(r'<button type="button" class="undo"([^>]*)>', row)[1]
        assert f'data-run="{run.id}"' in button
        assert "move 6 files back where they came from" in html.unescape(button)
        # the report itself, as text
        r = c.get("/runs/report", params={"ref": ref})
        assert r.status_code == 200
        assert r.content == report.read_bytes()
        assert r.headers["content-type"].startswith("text/plain")
        assert "inline" in r.headers["content-disposition"]
        r = c.get("/runs/report", params={"ref": ref, "download": "1"})
        assert "attachment" in r.headers["content-disposition"]


def test_report_refs_outside_the_report_folders_are_refused(built: Path) -> None:
    with client(built, start_jobs=False) as c:
        for bad in (
            "",
            "nope",
            "0:../../catalog.sqlite",
            "0:../catalog.sqlite",
            "0:/etc/passwd",
            "7:import.csv",
            "0:missing.csv",
            "0:.hidden.csv",
        ):
            r = c.get("/runs/report", params={"ref": bad})
            assert r.status_code == 404, bad
            assert b"SQLite" not in r.content


def test_a_report_elsewhere_is_shown_as_its_path(tmp_path: Path) -> None:
    from media import make_jpeg

    make_jpeg(tmp_path / "inbox" / "a.jpg", "2020:05:06 07:08:09")
    library = tmp_path / "Library"
    elsewhere = tmp_path / "my reports"
    code = main(
        ["import", "--input", str(tmp_path / "inbox"), "--output", str(library), "--quiet"]
        + ["--report-dir", str(elsewhere)]
    )
    assert code == 0
    (run,) = runs_of(library)
    assert Path(run.report).parent == elsewhere
    with client(library, start_jobs=False) as c:
        row = row_of(c.get("/runs").text, run.id)
        assert "report-link" not in row
        assert '<span class="muted report-path"' in row and html.escape(run.report) in row
        r = c.get("/runs/report", params={"ref": f"0:{Path(run.report).name}"})
        assert r.status_code == 404
    # named as a report folder by `serve --reports`, it is linked
    with client(library, reports=[elsewhere], start_jobs=False) as c:
        row = row_of(c.get("/runs").text, run.id)
        assert "report-link" in row and f"ref=1%3A{Path(run.report).name}" in row


def test_an_undo_is_a_run_and_can_be_undone_too(library: Path) -> None:
    code = main(
        ["undo", "--output", str(library), "--quiet", "--report-dir", str(library / REPORTS)]
    )
    assert code == 0
    first, undo = runs_of(library)
    assert undo.kind == "undo" and undo.moved_back == 6
    with client(library, start_jobs=False) as c:
        text = c.get("/runs").text
        # newest first
        assert text.index(f'id="run-{undo.id}"') < text.index(f'id="run-{first.id}"')
        row = row_of(text, undo.id)
        assert "6 moved back" in row
        assert "This undoes an undo" in html.unescape(row)
        # the import, its files all moved back, has nothing left... but its log still
        # says what it did: undoing it again is the undo's business (it says so)
        assert 'class="undo"' in row_of(text, first.id)


def test_a_run_that_changed_nothing_has_no_undo_button(tmp_path: Path) -> None:
    from media import make_jpeg

    make_jpeg(tmp_path / "inbox" / "a.jpg", "2020:05:06 07:08:09")
    library = tmp_path / "Library"
    reports = ["--report-dir", str(library / REPORTS), "--quiet"]
    assert (
        main(
            ["import", "--input", str(tmp_path / "inbox"), "--output", str(library), "--copy"]
            + reports
        )
        == 0
    )
    assert (
        main(["import", "--input", str(tmp_path / "inbox"), "--output", str(library)] + reports)
        == 0
    )
    first, second = runs_of(library)
    assert first.copied == 1 and second.changed == 0
    with client(library, start_jobs=False) as c:
        text = c.get("/runs").text
        assert "1 copied" in row_of(text, first.id)
        assert 'class="undo"' in row_of(text, first.id)
        assert "remove 1 copies it made" in html.unescape(row_of(text, first.id))
        assert 'class="undo"' not in row_of(text, second.id)
        assert "nothing" in row_of(text, second.id)


def test_a_busy_library_still_lists_its_runs(built: Path) -> None:
    (run,) = runs_of(built)
    with library_lock(built / STATE_DIR, "import (a test)"), client(built, start_jobs=False) as c:
        r = c.get("/runs")
        assert r.status_code == 200
        assert 'id="busy"' in r.text and "is using this library" in r.text
        row_of(r.text, run.id)


def test_a_library_without_runs_says_so(tmp_path: Path) -> None:
    bare = tmp_path / "Photos"
    bare.mkdir()
    with client(bare, start_jobs=False) as c:
        r = c.get("/runs")
        assert r.status_code == 200
        assert 'id="no-runs"' in r.text and "No runs yet" in r.text
        assert 'id="jobs"' in r.text  # the jobs table, filled in by the script
    assert list(bare.iterdir()) == []  # a look creates nothing


def test_undo_from_the_page_runs_as_a_job(library: Path) -> None:
    (run,) = runs_of(library)
    with client(library) as c:
        r = c.post("/api/jobs", json={"command": "undo", "run": run.id})
        assert r.status_code in (200, 201, 202), r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while True:
            job = c.get(f"/api/jobs/{job_id}").json()
            if job["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "done", job
        listed = c.get("/api/jobs").json()
        jobs = listed if isinstance(listed, list) else listed["jobs"]
        assert job_id in [j["id"] for j in jobs]
        runs = runs_of(library)
        assert [r.kind for r in runs] == ["import", "undo"]
        assert runs[1].moved_back == 6
        assert "6 moved back" in row_of(c.get("/runs").text, runs[1].id)


def test_a_report_is_shown_as_a_table(built: Path) -> None:
    (run,) = runs_of(built)
    ref = f"0:{Path(run.report).name}"
    with client(built, start_jobs=False) as c:
        row = row_of(c.get("/runs").text, run.id)
        assert f'href="/runs/report/view?ref={ref.replace(":", "%3A")}&amp;token={TOKEN}"' in row
        r = c.get("/runs/report/view", params={"ref": ref})
        assert r.status_code == 200
        text = html.unescape(r.text)
        assert "6 of 6 rows" in text
        assert f"Input</dt><dd>{built.parent / 'inbox'}" in text
        assert "<th>source</th><th>action</th><th>status</th><th>destination</th>" in r.text
        rows = re.findall(r"<tr>\s*<td class=\"col-source\">(.*?)</td>", r.text, re.S)
        assert len(rows) == 6
        # a file the run put in the library links to its page
        links = re.findall(r'<a href="(/library/photo\?[^"]+)">', r.text)
        assert len(links) == 6
        photo = c.get(html.unescape(links[0]))
        assert photo.status_code == 200 and "Where it came from" in photo.text
        # filtered by action and status
        r = c.get("/runs/report/view", params={"ref": ref, "action": "move", "status": "done"})
        assert "6 of 6 rows" in r.text
        r = c.get("/runs/report/view", params={"ref": ref, "action": "copy"})
        assert "0 of 6 rows" in r.text and 'id="no-rows"' in r.text
        for bad in ("0:../catalog.sqlite", "3:x.csv", ""):
            assert c.get("/runs/report/view", params={"ref": bad}).status_code == 404

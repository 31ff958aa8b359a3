"""The library browser and the runs page in a real Chromium: browse to a month, open a
photo, go to the next with the arrow key, back with Escape; the runs page's undo asks
first, and follows the job it starts (the job API answered here by the test)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from test_web_library import make_library
from web import TOKEN, live_server, screenshot


def until(page, expression: str, timeout: float = 10) -> None:
    """Wait until `expression` is true in the page (polled from here: the page's CSP
    forbids the string evaluation wait_for_function uses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("browserlib"))


def test_browse_a_month_open_a_photo_and_go_next(page, library: Path) -> None:
    with live_server(library) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/library?token={TOKEN}")
        # the newest month is shown; go to January 2019 through the timeline
        assert page.locator("#month-title").inner_text().startswith("June 2021")
        assert page.locator("#grid li").count() == 4
        page.click('a[data-month="2019-01"]')
        page.wait_for_url(re.compile(r"month=2019-01"))
        assert page.locator("#month-title").inner_text().startswith("January 2019")
        assert page.locator("#grid li").count() == 1
        page.click('a[data-month="2021-06"]')
        page.wait_for_url(re.compile(r"month=2021-06"))
        img = page.locator("#grid img").first
        assert img.get_attribute("loading") == "lazy"
        until(page, "[...document.images].every((i) => i.complete)")
        assert page.evaluate("document.querySelector('#grid img').naturalWidth") > 0
        screenshot(page, "library")

        # a filter applies as soon as it is chosen
        page.select_option("select[name=kind]", "video")
        page.wait_for_url(re.compile(r"kind=video"))
        assert page.locator("#grid li").count() == 1
        page.select_option("select[name=kind]", "")
        page.wait_for_url(lambda url: "kind=video" not in url)
        assert page.locator("#grid li").count() == 4

        # open the first photo: its page, then the next one with the arrow key
        page.locator("#grid a").first.click()
        page.wait_for_url(re.compile(r"/library/photo"))
        assert "EXIF:DateTimeOriginal" in page.locator("#date-source").inner_text()
        assert page.locator("#camera").inner_text() == "Canon EOS 5D"
        assert page.locator("#source").inner_text().endswith("canon.jpg")
        assert page.locator("#prev").count() == 0
        until(page, "document.querySelector('img.large').complete")
        screenshot(page, "photo")
        page.keyboard.press("ArrowRight")
        page.wait_for_url(re.compile(r"phone\.jpg"))
        assert page.locator("#camera").inner_text() == "Apple iPhone 12"
        page.keyboard.press("ArrowRight")
        page.wait_for_url(re.compile(r"clip\.mp4"))
        assert page.locator("video").count() == 1
        page.keyboard.press("ArrowRight")
        page.wait_for_url(re.compile(r"paris\.jpg"))
        if page.locator("#place").count():
            assert "48.85840° N" in page.locator("#coords").inner_text()
            assert page.locator("#osm").get_attribute("rel") == "noreferrer noopener"
            screenshot(page, "photo-place")
        page.keyboard.press("ArrowLeft")
        page.wait_for_url(re.compile(r"clip\.mp4"))
        page.keyboard.press("Escape")
        page.wait_for_url(re.compile(r"/library\?.*month=2021-06.*#at-2"))
        assert page.locator("#grid li").count() == 4
        # back on the grid, the video has the focus; the arrows move it, Enter opens
        focused = "document.activeElement.closest('li') && document.activeElement.closest('li').id"
        assert page.evaluate(focused) == "tile-2"
        page.keyboard.press("ArrowLeft")
        assert page.evaluate(focused) == "tile-1"
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"phone\.jpg"))
        page.go_back()
        page.wait_for_url(re.compile(r"month=2021-06"))
        # [ goes to the older month
        page.locator("body").press("[")
        page.wait_for_url(re.compile(r"month=2019-01"))
        assert page.locator("#month-title").inner_text().startswith("January 2019")
    assert page.errors == []


def test_the_runs_page_asks_before_an_undo_and_follows_its_job(page, library: Path) -> None:
    calls: list[dict] = []
    jobs: list[dict] = []

    def job_api(route) -> None:
        request = route.request
        calls.append(
            {
                "method": request.method,
                "url": request.url,
                "auth": request.headers.get("authorization"),
                "body": request.post_data,
            }
        )
        if request.method == "POST":
            jobs.append(
                {
                    "id": "j1",
                    "command": "undo",
                    "options": json.loads(request.post_data or "{}"),
                    "report_exists": False,
                    "status": "running",
                    "stage": "execute",
                    "done": 2,
                    "total": 6,
                    "eta_s": 3,
                    "report": None,
                }
            )
            route.fulfill(status=202, content_type="application/json", body='{"id": "j1"}')
        else:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(jobs))

    with live_server(library) as address:
        base = address.split("/?")[0]
        page.route(re.compile(r".*/api/jobs.*"), job_api)
        page.goto(f"{base}/runs?token={TOKEN}")
        rows = page.locator("#runs tbody tr")
        assert rows.count() == 1
        assert "6 moved" in rows.first.inner_text()
        assert page.locator("#runs a.report-link").count() == 1
        assert page.locator("#jobs-empty").is_visible()
        screenshot(page, "runs")
        # the run's report, as a table
        page.click("#runs a.report-link")
        page.wait_for_url(re.compile(r"/runs/report/view"))
        assert page.locator("#rows tbody tr").count() == 6
        screenshot(page, "run-report")
        page.select_option("select[name=action]", "move")
        page.wait_for_url(re.compile(r"action=move"))
        assert page.locator("#rows tbody tr").count() == 6
        page.go_back()
        page.go_back()
        page.wait_for_url(re.compile(r"/runs\?"))

        # the confirmation says which run and what will be reversed; Cancel does nothing
        page.click("button.undo")
        dialog = page.locator("#confirm-undo")
        assert dialog.is_visible()
        run_id = page.locator("button.undo").get_attribute("data-run")
        assert page.locator("#confirm-run").inner_text() == run_id
        assert "move 6 files back" in page.locator("#confirm-what").inner_text()
        screenshot(page, "runs-undo")
        page.keyboard.press("Escape")
        assert not dialog.is_visible()
        assert [c for c in calls if c["method"] == "POST"] == []

        # confirmed: one job started, with the token as a Bearer header, and followed
        page.click("button.undo")
        page.click("#confirm-ok")
        page.wait_for_selector('#jobs tr[data-job="j1"]')
        (post,) = [c for c in calls if c["method"] == "POST"]
        assert json.loads(post["body"]) == {"command": "undo", "run": run_id}
        assert post["auth"] == f"Bearer {TOKEN}"
        row = page.locator('#jobs tr[data-job="j1"]')
        assert "running" in row.inner_text() and "2 / 6" in row.inner_text()
        assert f"undo {run_id}" in row.inner_text()
        assert row.locator("a").count() == 0  # no report yet
        assert row.locator("button.cancel").count() == 1
        screenshot(page, "runs-job")
        # Cancel asks the job API to stop it
        row.locator("button.cancel").click()
        until(page, "document.getElementById('toast').textContent.includes('cancel')")
        (delete,) = [c for c in calls if c["method"] == "DELETE"]
        assert delete["url"].endswith("/api/jobs/j1") and delete["auth"] == f"Bearer {TOKEN}"
        # once it ends, the page is loaded again: the runs list has changed
        with page.expect_navigation(timeout=10_000):
            jobs[0] |= {"status": "done", "done": 6, "report": "0:undo-report.csv"}
            jobs[0] |= {"report_exists": True}
        page.wait_for_selector('#jobs tr[data-job="j1"] .pill.keep')
        assert page.locator('#jobs tr[data-job="j1"] button.cancel').count() == 0
        link = page.locator('#jobs tr[data-job="j1"] a')
        assert link.inner_text() == "undo-report.csv"
        assert "/runs/report/view?ref=0%3Aundo-report.csv" in link.get_attribute("href")
    assert page.errors == []


def test_undo_a_run_from_the_page(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    library = make_library(tmp_path)
    inbox = tmp_path / "inbox"
    assert not (inbox / "canon.jpg").exists()
    with live_server(library) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/runs?token={TOKEN}")
        page.click("button.undo")
        page.click("#confirm-ok")
        # the job is followed to its end, then the page shows the undo as a run
        expect(page.locator("#runs tbody tr")).to_have_count(2, timeout=90_000)
        expect(page.locator("#jobs .pill.keep")).to_have_count(1)
        assert "6 moved back" in page.locator("#runs tbody tr").first.inner_text()
        assert page.locator("#runs tbody tr").first.locator("a.report-link").count() == 1
        screenshot(page, "runs-undone")
    assert (inbox / "canon.jpg").exists() and (inbox / "old" / "winter.jpg").exists()
    assert page.errors == []

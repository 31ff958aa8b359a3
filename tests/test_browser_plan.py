"""The Import plan page in a real browser (Debian's Chromium): filter to the file dated by
its modification time, leave it alone with the keyboard, give another file a new
name, save, and apply the saved plan with the real command line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import expect
from test_web_plan import applied, dry_run, rows_by_name
from web import TOKEN, live_server, screenshot


def test_review_a_plan_in_the_browser_then_apply_it(tmp_path: Path, page) -> None:
    inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/plan?token={TOKEN}")
        page.get_by_role("link", name=report.name).first.click()
        page.wait_for_selector("#plan-table")
        assert page.locator("tr.row").count() == 6
        assert page.locator("img.thumb").count() == 5

        # filter: dated by modification time, one row
        page.select_option("#filter-date", "mtime")
        page.wait_for_url("**date=mtime**")
        assert page.locator("tr.row").count() == 1
        assert page.locator("tr.row .name").inner_text() == "scan.jpg"
        # j selects it, space leaves it alone
        page.keyboard.press("j")
        with page.expect_response("**/plan/decisions"):
            page.keyboard.press(" ")
        page.wait_for_selector("tr.row.off")
        expect(page.locator("tr.row input.tick")).not_to_be_checked()
        expect(page.locator("#count-left")).to_have_text("1")

        # back to all rows; a bad destination is refused inline, a good one taken
        page.click("#clear-filters")
        page.wait_for_selector("tr.row >> nth=5")
        two = page.locator(f'tr.row[data-source="{rows["IMG_0002.jpg"].source}"]')
        two.locator(".c-source").click()
        page.keyboard.press("e")  # edits the selected row's destination
        dest = two.locator("input.dest")
        assert dest.evaluate("el => el === document.activeElement")
        dest.fill("../escape.jpg")
        with page.expect_response("**/plan/decisions"):
            dest.press("Enter")
        expect(two.locator(".problem")).to_contain_text("refused: ")
        dest.fill("Holiday/second.jpg")
        with page.expect_response("**/plan/decisions"):
            dest.press("Enter")
        page.wait_for_selector(f'tr.row.edited[data-source="{rows["IMG_0002.jpg"].source}"]')
        expect(two.locator(".problem")).to_have_text("")
        sidecar = page.locator(f'tr.row[data-source="{rows["IMG_0002.xmp"].source}"] input.dest')
        expect(sidecar).to_have_value("Holiday/second.xmp")

        # a reload (a closed browser) keeps the decisions
        page.reload()
        page.wait_for_selector("#plan-table")
        assert page.locator("tr.row.off").count() == 1
        assert page.locator("tr.row.edited").count() == 2

        # j/k move between rows, / goes to the text filter
        page.locator("h1").click()
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("k")
        expect(page.locator("tr.row.current")).to_have_count(1)
        expect(page.locator("tr.row.current .name")).to_have_text("IMG_0001.jpg")
        page.keyboard.press("/")
        expect(page.locator("#filter-q")).to_be_focused()

        # s saves
        page.locator("h1").click()
        with page.expect_response("**/plan/save"):
            page.keyboard.press("s")
        page.wait_for_selector("#saved:not([hidden])")
        expect(page.locator("#saved-link")).to_contain_text("reviewed")
        name = page.locator("#saved-link").inner_text()
        assert name.endswith(".csv") and "reviewed" in name
        screenshot(page, "plan")
        page.goto(f"{base}/plan?token={TOKEN}")
        assert page.locator(f"a[href*='{quote(name)}']").count() >= 1
        screenshot(page, "plan-list")
        assert page.errors == []

    saved = lib / ".photoorganiser" / "reports" / name
    assert applied(tmp_path, lib, saved) == 0
    assert (lib / "Holiday" / "second.jpg").is_file() and (lib / "Holiday" / "second.xmp").is_file()
    assert Path(rows["IMG_0001.jpg"].destination).is_file()
    assert (inbox / "scan.jpg").is_file() and not Path(rows["scan.jpg"].destination).exists()
    assert (inbox / "old" / "IMG_0001 (1).jpg").is_file()
    assert not (inbox / "IMG_0002.jpg").exists()
    assert sorted(os.listdir(lib / "Holiday")) == ["second.jpg", "second.xmp"]


def test_apply_from_the_page_runs_a_job(tmp_path: Path, page) -> None:
    inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/plan?token={TOKEN}&report={quote('0:' + report.name)}")
        scan = page.locator(f'tr.row[data-source="{rows["scan.jpg"].source}"] input.tick')
        with page.expect_response("**/plan/decisions"):
            scan.uncheck()
        expect(page.locator("#count-ticked")).to_have_text("3")
        page.click("#apply")
        expect(page.locator("#confirm-text")).to_contain_text("3 files will be transferred")
        page.click("#confirm-ok")
        page.wait_for_selector("#job:not([hidden])")
        ended = re.compile(r"^Appl(ied|y \w+)$")  # not "Applying" any more
        expect(page.locator("#job-title")).to_have_text(ended, timeout=60_000)
        assert page.locator("#job-title").inner_text() == "Applied"
        assert page.locator("#job-outcome a").count() == 2
        screenshot(page, "plan-applied")
        assert page.errors == []
    assert Path(rows["IMG_0001.jpg"].destination).is_file()
    assert Path(rows["IMG_0002.jpg"].destination).is_file()
    assert (inbox / "scan.jpg").is_file() and not Path(rows["scan.jpg"].destination).exists()


def test_a_new_dry_run_from_the_page_opens_its_plan(tmp_path: Path, page) -> None:
    from test_web_plan import make_inbox

    inbox = make_inbox(tmp_path)
    lib = tmp_path / "lib"
    lib.mkdir()
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/plan?token={TOKEN}")
        page.fill("#dryrun-inputs", str(inbox))
        page.click("#dryrun-start")
        page.wait_for_url("**report=**", timeout=60_000)
        page.wait_for_selector("#plan-table")
        assert page.locator("tr.row").count() == 6
        assert page.errors == []
    assert (inbox / "IMG_0001.jpg").is_file()  # a dry run changes nothing


def test_a_sidecar_is_not_edited_apart_from_its_photo_in_the_browser(tmp_path: Path, page) -> None:
    """e on a sidecar's row says it follows its photo (its destination takes no typing);
    its photo's edit carries it along."""
    _inbox, lib, report = dry_run(tmp_path)
    rows = rows_by_name(report)
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/plan?report={quote('0:' + report.name)}&token={TOKEN}")
        page.wait_for_selector("#plan-table")
        side = page.locator(f'tr.row[data-source="{rows["IMG_0002.xmp"].source}"]')
        side.locator(".c-source").click()
        page.keyboard.press("e")
        page.keyboard.type("2024/01/notes.xmp")
        page.keyboard.press("Enter")
        expect(side.locator(".problem")).to_have_text(
            "refused: it follows IMG_0002.jpg: edit that file's destination, and it follows"
        )
        expect(side.locator("input.dest")).to_have_value(rows["IMG_0002.xmp"].destination
                                                          .split(str(lib) + "/")[1])  # fmt: skip
        photo = page.locator(f'tr.row[data-source="{rows["IMG_0002.jpg"].source}"]')
        photo.locator(".c-source").click()
        page.keyboard.press("e")
        page.keyboard.type("2024/01/holiday.jpg")
        with page.expect_response("**/plan/decisions"):
            page.keyboard.press("Enter")
        expect(side.locator("input.dest")).to_have_value("2024/01/holiday.xmp")
        assert page.errors == []

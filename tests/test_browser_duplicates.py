"""The Duplicates page in a real browser (Debian's Chromium): the suggested keeper
pre-selected, keep/drop by keyboard and mouse, a group never left with nothing kept,
the review saved as a report whose keep column says what was decided."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect
from test_web_duplicates import real_inputs, real_report
from web import TOKEN, live_server, screenshot

from photoorganiser.core.reportfile import read_header
from photoorganiser.duplicates.report import read_report


def card(page, group: int, number: int):
    return page.locator(f"#group-{group} .dup[data-number='{number}']")


def wait_state(page, group: int, number: int, state: str) -> None:
    page.wait_for_selector(f"#group-{group} .dup[data-number='{number}'].{state}")


def test_review_by_keyboard_and_save(tmp_path: Path, page) -> None:
    lib, inputs, report = real_report(tmp_path)
    a, b, small = inputs / "a" / "IMG_1.jpg", inputs / "b" / "IMG_1.jpg", inputs / "b" / "small.jpg"
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/duplicates?report=0%3Adups.csv&token={TOKEN}")
        # the suggested keeper pre-selected, its reason shown; group 1 has the focus
        assert page.locator("#group-1").get_attribute("class").split().count("focus") == 1
        assert "keep" in card(page, 1, 1).get_attribute("class").split()
        assert "suggested" in card(page, 1, 1).get_attribute("class").split()
        assert "drop" in card(page, 1, 2).get_attribute("class").split()
        assert "keep: highest resolution" in page.locator("#group-2 header").inner_text()

        page.keyboard.press("2")  # keep the copy in b too
        wait_state(page, 1, 2, "keep")
        page.keyboard.press("1")  # then drop the one in a
        wait_state(page, 1, 1, "drop")
        assert "changed" in page.locator("#group-1").get_attribute("class").split()

        page.keyboard.press("j")
        page.wait_for_selector("#group-2.focus")
        page.keyboard.press("1")  # the only file kept: refused, and said
        page.wait_for_selector("#group-2 .groupmsg:has-text('no file kept')")
        assert "keep" in card(page, 2, 1).get_attribute("class").split()
        # the same file, kept here and dropped in group 1: warned
        warned = page.locator("#group-2 .dup[data-number='1'] .other.warn")
        assert warned.inner_text() == "also in group 1: drop"

        card(page, 2, 2).locator(".name").click()  # a click keeps the small one
        wait_state(page, 2, 2, "keep")
        page.keyboard.press("x")  # all but the keeper dropped
        wait_state(page, 2, 2, "drop")
        page.keyboard.press("Enter")  # accept the suggestion
        page.keyboard.press("k")
        page.wait_for_selector("#group-1.focus")
        assert page.locator("#dup-dropped").inner_text() == "2"
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "duplicates")

        page.keyboard.press("s")
        page.wait_for_selector("#dup-result:has-text('Saved the reviewed report')")
        command = page.locator("#dup-result code").inner_text()
        assert command.startswith("photoorganiser dedupe ") and "--quarantine" in command

        page.reload()  # the decisions are kept
        wait_state(page, 1, 1, "drop")
        wait_state(page, 1, 2, "keep")

        assert page.errors == []

    saved = sorted(report.parent.glob("dups-reviewed-*.csv"))
    assert saved, "no reviewed report"
    keep = {(r.group_id, r.path): r.keep for r in read_report(saved[0])}
    assert keep == {
        (1, str(a)): False,
        (1, str(b)): True,
        (2, str(a)): True,
        (2, str(small)): False,
    }


def test_pages_and_the_list_of_reports(tmp_path: Path, page) -> None:
    from test_web_duplicates import many_groups

    lib = tmp_path / "lib"
    many_groups(lib, 45)
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/duplicates?token={TOKEN}")
        assert "45" in page.locator("#dup-reports").inner_text()
        screenshot(page, "duplicates-list")
        page.click("text=review")
        page.wait_for_selector("#group-1.focus")
        page.keyboard.press("n")
        page.wait_for_selector("#group-21.focus")
        page.keyboard.press("p")  # back: the last group of the page has the focus
        page.wait_for_selector("#group-20.focus")
        page.keyboard.press("a")  # accept moves on, no change
        page.wait_for_selector("#group-20.focus")
        assert page.locator("#dup-changed").inner_text() == "0"
        assert "3 files could not be read" in page.locator("#unreadable summary").inner_text()
        assert page.errors == []


def test_search_then_quarantine_the_rest_as_jobs(tmp_path: Path, page) -> None:
    lib, inputs = real_inputs(tmp_path)
    b, small = inputs / "b" / "IMG_1.jpg", inputs / "b" / "small.jpg"
    quarantine = tmp_path / "q"
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/duplicates?token={TOKEN}")
        page.fill("#dup-inputs", str(inputs))
        page.check("#dup-blanks")  # blank & bad pictures too
        page.click("text=Start the search")
        page.wait_for_selector("#group-1.focus", timeout=60_000)  # the search's report opened
        assert "report=0%3Afind-duplicates-" in page.url
        (made,) = (lib / ".photoorganiser" / "reports").glob("find-duplicates-*")
        assert "--blanks --dark" in read_header(made).command
        page.fill("#dup-quarantine", str(quarantine))
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#dup-run")
        page.wait_for_selector("#toast:has-text('Quarantine done')", timeout=60_000)
        assert page.errors == []
    assert not b.exists() and not small.exists() and (inputs / "a" / "IMG_1.jpg").is_file()
    assert sorted(p.name for p in quarantine.rglob("*.jpg")) == ["IMG_1.jpg", "small.jpg"]


def test_blank_and_bad_pictures_by_click_and_keyboard(tmp_path: Path, page) -> None:
    from test_web_duplicates import blanks_report

    lib, files, report = blanks_report(tmp_path)
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/duplicates?report=0%3Adups.csv&token={TOKEN}")
        page.click("#show-pictures")  # the tab beside the groups' filters
        page.wait_for_selector("#picture-1.focus")
        assert page.locator("#groups.pictures .dup").count() == 3
        white = page.locator(f".dup[data-path='{files['white']}']")
        assert white.get_attribute("class").split().count("drop") == 1  # the report's
        assert "blank: grey-level spread 0.00" in white.locator(".reason").inner_text()
        assert "too flat or small" in page.locator("#flat summary").inner_text()
        white.locator(".name").click()  # a click keeps it
        page.wait_for_selector(f".dup.keep[data-path='{files['white']}']")
        page.keyboard.press("k")  # the night picture, before it
        page.wait_for_selector("#picture-2.focus")
        page.keyboard.press("1")  # kept...
        page.wait_for_selector("#picture-2 .dup.keep")
        page.keyboard.press("a")  # ...then the suggestion taken again: dropped
        page.wait_for_selector("#picture-2 .dup.drop")
        page.wait_for_selector("#picture-3.focus")
        assert page.locator("#dup-pictures-dropped").inner_text() == "2"
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "duplicates-blanks")
        page.keyboard.press("s")
        page.wait_for_selector("#dup-result:has-text('Saved the reviewed report')")
        assert page.errors == []
    saved = sorted(report.parent.glob("dups-reviewed-*.csv"))
    keep = {Path(r.path).name: r.keep for r in read_report(saved[0]) if r.group_id == 0}
    assert keep == {"black.jpg": False, "white.jpg": True, "night.jpg": False, "tiny.jpg": True}


def test_after_quarantine_the_page_shows_what_is_gone_and_how_to_undo(tmp_path: Path, page) -> None:
    """A file moved away by hand before the page was opened (its thumbnail never made)
    shows the no-thumbnail icon, not a broken image, and is said gone; the dedupe job's
    line says what it did from its report (1 done, 1 left alone: the file moved by hand),
    how to undo it; reloaded, nothing is left marked drop and Quarantine is off."""
    lib, inputs, _report = real_report(tmp_path)
    b, small = inputs / "b" / "IMG_1.jpg", inputs / "b" / "small.jpg"
    small.rename(tmp_path / "moved-by-hand.jpg")
    quarantine = tmp_path / "q"
    with live_server(lib) as address:
        base = address.split("/?")[0]
        page.goto(f"{base}/duplicates?report=0%3Adups.csv&token={TOKEN}")
        page.wait_for_selector("#group-1.focus")
        gone = page.locator(".dup.gone")
        expect(gone).to_have_count(1)
        expect(gone.locator(".gonenote")).to_have_text("gone: moved or deleted since the report")
        gone.locator("img.thumb").scroll_into_view_if_needed()
        expect(gone.locator("img.thumb")).to_have_attribute("src", re.compile(r"nothumb\.svg"))
        expect(page.locator("#dup-dropped")).to_have_text("1")
        expect(page.locator("#group-2")).to_have_class(re.compile(r"\bdone\b"))
        page.fill("#dup-quarantine", str(quarantine))
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#dup-run")
        page.wait_for_selector("#toast:has-text('Quarantine done')", timeout=60_000)
        result = page.locator("#dup-result")
        expect(result).to_contain_text("1 done, 1 left alone")
        expect(result).to_contain_text(f"photoorganiser undo --quarantine {quarantine}")
        expect(result).to_contain_text("the Runs page cannot undo a dedupe")
        expect(page.locator("#dup-run")).to_be_disabled()
        page.reload()
        page.wait_for_selector("#group-1.focus")
        page.mouse.wheel(0, 3000)
        expect(page.locator("#dup-dropped")).to_have_text("0")
        expect(page.locator(".dup.gone")).to_have_count(2)
        expect(page.locator("#dup-run")).to_be_disabled()
        expect(page.locator("#dup-ran")).to_contain_text("1 done, 1 left alone by its checks")
        broken = page.evaluate(
            "() => Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0)"
            ".length"
        )
        assert broken == 0
        screenshot(page, "duplicates-after-dedupe")
        assert page.errors == []
    assert not b.exists()

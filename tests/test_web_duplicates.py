"""The Duplicates page through its HTTP API: a real find-duplicates report reviewed
(exact copies and a resized near duplicate, made from real JPEGs by the real CLI), its
groups paged, decisions kept across restarts, a group never left with nothing kept, and
the reviewed report saved as a new file that the real `dedupe` carries out."""

from __future__ import annotations

import os
import random
import time
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

from media import exif_bytes
from PIL import Image, ImageDraw, ImageFilter
from web import client, submit, wait

from photoorganiser import cli
from photoorganiser.core.reportfile import ReportHeader, read_header
from photoorganiser.core.textsafe import path_text
from photoorganiser.duplicates import review as dupreview
from photoorganiser.duplicates.report import ReportFormat, ReportRow, read_report, write_report
from photoorganiser.duplicates.values import Kind

REF = "0:dups.csv"


def scene(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A smooth picture with shapes: perceptual hashes stable under resizing."""
    rng = random.Random(seed)
    w, h = size
    base = Image.linear_gradient("L").resize(size)
    img = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base))
    draw = ImageDraw.Draw(img)
    for _ in range(7):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(40, w // 2), y0 + rng.randrange(40, h // 2)
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    return img.filter(ImageFilter.GaussianBlur(3))


def real_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """(library, inputs): in/a/IMG_1.jpg, its exact copy in/b/IMG_1.jpg, a resized
    in/b/small.jpg and an unrelated in/c/other.jpg; an empty library."""
    lib, inputs = tmp_path / "lib", tmp_path / "in"
    lib.mkdir()
    picture = scene(5)
    (inputs / "a").mkdir(parents=True)
    (inputs / "b").mkdir()
    (inputs / "c").mkdir()
    picture.save(
        inputs / "a" / "IMG_1.jpg",
        "JPEG",
        quality=95,
        exif=exif_bytes("2020:01:02 03:04:05", make="Canon"),
    )
    (inputs / "b" / "IMG_1.jpg").write_bytes((inputs / "a" / "IMG_1.jpg").read_bytes())
    picture.resize((240, 180)).save(inputs / "b" / "small.jpg", "JPEG", quality=85)
    scene(9).save(inputs / "c" / "other.jpg", "JPEG")
    return lib, inputs


def real_report(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(library, inputs, report): real_inputs searched by the real CLI."""
    lib, inputs = real_inputs(tmp_path)
    report = lib / ".photoorganiser" / "reports" / "dups.csv"
    args = ["find-duplicates", "--input", str(inputs), "--similar", "--report", str(report)]
    assert cli.main([*args, "--workers", "1", "--quiet"]) == 0
    return lib, inputs, report


class Cards(HTMLParser):
    """The groups and cards of a review page: {group id: [(path, classes)]}."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.groups: dict[int, list[tuple[str, set[str]]]] = {}
        self.group_classes: dict[int, set[str]] = {}
        self.current: int | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("data-group"):
            self.current = int(a["data-group"])
            self.groups[self.current] = []
            self.group_classes[self.current] = set((a.get("class") or "").split())
        elif tag == "article" and self.current is not None:
            classes = set((a.get("class") or "").split())
            self.groups[self.current].append((a["data-path"], classes))

    def state(self, group: int) -> dict[str, str]:
        return {
            Path(p).parent.name + "/" + Path(p).name: "keep" if "keep" in c else "drop"
            for p, c in self.groups[group]
        }


def page(c, ref: str = REF, **params) -> str:
    r = c.get("/duplicates", params={"report": ref, **params})
    assert r.status_code == 200, r.text
    return r.text


def decide(c, group: int, keep: dict[Path, bool], ref: str = REF):
    return c.post(
        "/duplicates/decisions",
        json={"report": ref, "group": group, "keep": {str(p): v for p, v in keep.items()}},
    )


def test_a_real_report_is_listed_and_reviewed(tmp_path: Path) -> None:
    lib, inputs, report = real_report(tmp_path)
    with client(lib) as c:
        listing = c.get("/duplicates")
        assert listing.status_code == 200
        assert "dups.csv" in listing.text and f"report={REF.replace(':', '%3A')}" in listing.text
        assert 'id="dup-search"' in listing.text  # a new search can be started

        html = page(c)
        cards = Cards(html)
        assert sorted(cards.groups) == [1, 2]
        exact = cards.group_classes[1]
        assert "group" in exact and "changed" not in exact
        # the suggested keeper pre-selected, the copies marked drop
        assert cards.state(1) == {"a/IMG_1.jpg": "keep", "b/IMG_1.jpg": "drop"}
        assert cards.state(2) == {"a/IMG_1.jpg": "keep", "b/small.jpg": "drop"}
        suggested = [p for p, cls in cards.groups[2] if "suggested" in cls]
        assert suggested == [str(inputs / "a" / "IMG_1.jpg")]
        # facts and the report's own reason text, shown as it is
        assert "480×360" in html and "240×180" in html and "2020-01-02 03:04:05" in html
        assert "keep: highest resolution (480x360)" in html
        assert "240x180 vs 480x360" in html
        assert "also in group 2: keep" in html  # the same file in an exact and a similar group
        assert "other.jpg" not in html
        # each thumbnail names the file by the report's path text, and is served
        rows = {(r.group_id, r.path): r for r in read_report(report)}
        small = rows[(2, str(inputs / "b" / "small.jpg"))]
        src = f"/thumb/{small.hash}?size=320"
        assert src in html
        thumb = c.get(f"/thumb/{small.hash}", params={"size": 320, "path": small.path})
        assert thumb.status_code == 200
        # the quarantine folder suggested beside the searched folder
        assert f'value="{tmp_path}/duplicates-quarantine"' in html
        assert 'src="/static/duplicates.js?token=' in html


def test_each_card_names_the_sidecars_beside_its_copy(tmp_path: Path) -> None:
    """A copy's edits are beside it: its card says `sidecar: NAME` (as the disk names
    them now, any case), so the person choosing the keeper sees which copy carries them;
    a copy with none says nothing of sidecars."""
    lib, inputs = real_inputs(tmp_path)
    (inputs / "b" / "IMG_1.JPG.XMP").write_text("<x:xmpmeta>crop</x:xmpmeta>")
    (inputs / "b" / "IMG_1.aae").write_text("<plist>edits</plist>")
    report = lib / ".photoorganiser" / "reports" / "dups.csv"
    args = ["find-duplicates", "--input", str(inputs), "--similar", "--report", str(report)]
    assert cli.main([*args, "--workers", "1", "--quiet"]) == 0
    with client(lib) as c:
        html = page(c)
    cards = html.split("<article")[1:]
    said = {
        card.split('data-path="', 1)[1].split('"', 1)[0]: 'class="sidecars"' in card
        for card in cards
    }
    assert said == {
        str(inputs / "a" / "IMG_1.jpg"): False,
        str(inputs / "b" / "IMG_1.jpg"): True,
        str(inputs / "b" / "small.jpg"): False,
    }
    assert all(
        "sidecar: IMG_1.JPG.XMP, IMG_1.aae" in card for card in cards if 'class="sidecars"' in card
    )


def many_groups(lib: Path, groups: int, unreadable: int = 3) -> Path:
    """A report of `groups` exact pairs written by the project's writer (no files behind)."""
    rows: list[ReportRow] = []
    for g in range(1, groups + 1):
        digest = f"{g:032x}"
        rows.append(
            ReportRow(g, Kind.EXACT, 0, f"/photos/{g}/IMG_{g}.jpg", 1000 + g, 400, 300,
                      "2021-05-06T07:08:09", True, "keep: first by name", digest)
        )  # fmt: skip
        rows.append(
            ReportRow(g, Kind.EXACT, 0, f"/photos/{g}/copy/IMG_{g}.jpg", 1000 + g, 400, 300,
                      None, False, f"same content as /photos/{g}/IMG_{g}.jpg", digest)
        )  # fmt: skip
    for n in range(unreadable):
        rows.append(
            ReportRow(0, Kind.UNREADABLE, None, f"/photos/bad{n}.jpg", None, None, None, None,
                      None, "cannot read: Permission denied")
        )  # fmt: skip
    path = lib / ".photoorganiser" / "reports" / "many.csv"
    header = ReportHeader("duplicates", inputs=("/photos",), created="2026-01-02T03:04:05")
    write_report(rows, path, ReportFormat.CSV, header)
    return path


def test_thousands_of_groups_are_paged_quickly(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    many_groups(lib, 2500)
    with client(lib) as c:
        timings = []
        for params in ({}, {"page": 2}, {"page": 125}, {"page": 999}, {"page": "x"}):
            start = time.perf_counter()
            html = page(c, "0:many.csv", **params)
            timings.append(time.perf_counter() - start)
            cards = Cards(html)
            assert len(cards.groups) == 20
            last = params.get("page") in (125, 999)
            first = 2481 if last else 21 if params.get("page") == 2 else 1
            assert sorted(cards.groups) == list(range(first, first + 20))
            assert ("page 125 of 125" if last else "of 125") in html
            assert "2,500 groups" in html and "3 files could not be read" in html
        assert max(timings) < 1.0, timings  # the first read included
        assert sum(timings[1:]) / 4 < 0.3, timings  # then from the parsed report
        # the list of reports says how many groups
        assert "2,500" in c.get("/duplicates").text
        # only one kind of group: every group is exact here
        assert "of 125" in page(c, "0:many.csv", show="exact")
        assert "No group to show here" in page(c, "0:many.csv", show="similar")


def test_decisions_persist_across_restarts(tmp_path: Path) -> None:
    lib, inputs, _ = real_report(tmp_path)
    a, b = inputs / "a" / "IMG_1.jpg", inputs / "b" / "IMG_1.jpg"
    with client(lib) as c:
        r = decide(c, 1, {b: True, a: False})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["keep"] == {str(a): False, str(b): True} and answer["changed"] is True
        assert answer["totals"]["changed"] == 1
    draft = lib / ".photoorganiser" / "reviews" / "dups.csv.json"
    assert draft.is_file()
    with client(lib) as c:  # a new server: the draft is shown over the report
        cards = Cards(page(c))
        assert cards.state(1) == {"a/IMG_1.jpg": "drop", "b/IMG_1.jpg": "keep"}
        assert "changed" in cards.group_classes[1]
        assert cards.state(2) == {"a/IMG_1.jpg": "keep", "b/small.jpg": "drop"}
        assert sorted(Cards(page(c, show="changed")).groups) == [1]
        assert sorted(Cards(page(c, show="similar")).groups) == [2]
        # accepting the suggestion again leaves nothing changed
        r = decide(c, 1, {a: True, b: False})
        assert r.status_code == 200 and r.json()["changed"] is False
        cards = Cards(page(c))
        assert cards.state(1) == {"a/IMG_1.jpg": "keep", "b/IMG_1.jpg": "drop"}
        assert "changed" not in cards.group_classes[1]


def test_a_group_is_never_left_with_nothing_kept(tmp_path: Path) -> None:
    lib, inputs, _ = real_report(tmp_path)
    a, small = inputs / "a" / "IMG_1.jpg", inputs / "b" / "small.jpg"
    with client(lib) as c:
        r = decide(c, 2, {a: False})
        assert r.status_code == 400
        assert "no file kept" in r.json()["error"]
        assert Cards(page(c)).state(2) == {"a/IMG_1.jpg": "keep", "b/small.jpg": "drop"}
        # a path of another group, a group the report lacks, malformed requests
        assert decide(c, 2, {inputs / "b" / "IMG_1.jpg": True}).status_code == 400
        assert decide(c, 7, {a: True}).status_code == 400
        for body in (
            {"report": REF, "group": "2", "keep": {str(a): True}},
            {"report": REF, "group": 2, "keep": {str(a): "yes"}},
            {"report": REF, "group": 2, "keep": {}},
            {"group": 2, "keep": {str(a): True}},
        ):
            assert c.post("/duplicates/decisions", json=body).status_code == 400, body
        assert c.post("/duplicates/decisions", content=b"not json").status_code == 400
        # both kept, then the keeper dropped: allowed, one file is still kept
        assert decide(c, 2, {small: True}).status_code == 200
        assert decide(c, 2, {a: False}).status_code == 200
        assert Cards(page(c)).state(2) == {"a/IMG_1.jpg": "drop", "b/small.jpg": "keep"}


def test_save_writes_a_reviewed_report_that_dedupe_carries_out(tmp_path: Path) -> None:
    lib, inputs, report = real_report(tmp_path)
    original = report.read_bytes()
    a, b, small = inputs / "a" / "IMG_1.jpg", inputs / "b" / "IMG_1.jpg", inputs / "b" / "small.jpg"
    copy_bytes = b.read_bytes()
    with client(lib) as c:
        # group 2: the person keeps the small one too
        assert decide(c, 2, {small: True}).status_code == 200
        r = c.post("/duplicates/save", json={"report": REF})
        assert r.status_code == 200, r.text
        saved = r.json()
        again = c.post("/duplicates/save", json={"report": REF}).json()
        listing = c.get("/duplicates").text
    path = Path(saved["path"])
    assert path.parent == report.parent and path.name.startswith("dups-reviewed-")
    assert saved["ref"] == f"0:{path.name}" and saved["name"] in listing
    assert again["path"] != saved["path"] and path.is_file()  # a new file each time
    assert report.read_bytes() == original  # the report reviewed is never changed
    header = read_header(path)
    assert header is not None and header.kind == "duplicates"
    assert header.inputs == (str(inputs),)
    keep = {(r.group_id, r.path): r.keep for r in read_report(path)}
    assert keep == {
        (1, str(a)): True,
        (1, str(b)): False,
        (2, str(a)): True,
        (2, str(small)): True,
    }
    assert any("kept in review" in r.reason for r in read_report(path))
    # the real dedupe accepts it and quarantines exactly the file marked drop
    quarantine = tmp_path / "quarantine"
    out = tmp_path / "dedupe-reports"
    argv = ["dedupe", str(path), "--quarantine", str(quarantine), "--report-dir", str(out)]
    assert cli.main([*argv, "--workers", "1", "--quiet"]) == 0
    assert not b.exists() and a.is_file() and small.is_file()
    moved = [p for p in quarantine.rglob("IMG_1.jpg")]
    assert len(moved) == 1 and moved[0].read_bytes() == copy_bytes


def test_save_refuses_a_review_that_would_move_every_copy(tmp_path: Path) -> None:
    lib, inputs, report = real_report(tmp_path)
    a, b, small = inputs / "a" / "IMG_1.jpg", inputs / "b" / "IMG_1.jpg", inputs / "b" / "small.jpg"
    with client(lib) as c:
        # group 2 keeps the small one only; group 1 still drops the other full-size copy
        assert decide(c, 2, {small: True, a: False}).status_code == 200
        r = c.post("/duplicates/save", json={"report": REF})
        assert r.status_code == 400 and "group 1 keeps only" in r.json()["error"]
        # keeping the exact copy in folder b instead is fine: the picture stays there
        assert decide(c, 1, {b: True, a: False}).status_code == 200
        assert c.post("/duplicates/save", json={"report": REF}).status_code == 200
    assert len(list(report.parent.glob("dups-reviewed-*.csv"))) == 1


def test_the_reviewed_report_never_replaces_a_file(tmp_path: Path) -> None:
    lib, _inputs, report = real_report(tmp_path)
    rows = read_report(report)
    review = dupreview.Review.of(rows)
    header = read_header(report)
    now = datetime(2026, 3, 4, 5, 6, 7)
    taken = report.parent / "dups-reviewed-20260304-050607.csv"
    taken.write_text("someone else's file")
    first = dupreview.write_reviewed(
        dupreview.reviewed_rows(rows, review, {}), header, report, report.parent, now
    )
    second = dupreview.write_reviewed(rows, header, report, report.parent, now)
    assert taken.read_text() == "someone else's file"
    assert first.name == "dups-reviewed-20260304-050607-2.csv"
    assert second.name == "dups-reviewed-20260304-050607-3.csv"
    assert read_report(first) == read_report(second) == rows
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".")]  # no temporary
    # a review of a reviewed report is named after the first
    assert dupreview.reviewed_name(first, now) == "dups-reviewed-20260304-050607.csv"


def test_bad_report_names_are_refused(tmp_path: Path) -> None:
    lib, _inputs, report = real_report(tmp_path)
    (tmp_path / "x.csv").write_bytes(report.read_bytes())
    plan = report.parent / "import-1.csv"
    plan.write_text("# photoorganiser report,format=1,kind=import\nsource,action\n")
    with client(lib) as c:
        for ref in ("0:../x.csv", "0:sub/x.csv", "0:..", "../x.csv", "0:.", "0:a\\b.csv"):
            assert c.get("/duplicates", params={"report": ref}).status_code in (403, 404), ref
            r = c.post("/duplicates/save", json={"report": ref})
            assert r.status_code in (403, 404), ref
            r = c.post(
                "/duplicates/decisions", json={"report": ref, "group": 1, "keep": {"/": True}}
            )
            assert r.status_code in (403, 404), ref
        for ref in ("9:dups.csv", "0:nope.csv", str(tmp_path / "x.csv"), "/etc/passwd"):
            assert c.get("/duplicates", params={"report": ref}).status_code == 404, ref
        assert c.get("/duplicates", params={"report": "0:import-1.csv"}).status_code == 400
        # a report given by its own path (a job says where it wrote it)
        assert c.get("/duplicates", params={"report": str(report)}).status_code == 200


def test_drafts_are_never_written_through_a_link(tmp_path: Path) -> None:
    lib, inputs, _ = real_report(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, lib / ".photoorganiser" / "reviews")
    with client(lib) as c:
        r = decide(c, 1, {inputs / "b" / "IMG_1.jpg": True})
        assert r.status_code == 400 and "link" in r.json()["error"]
    assert list(elsewhere.iterdir()) == []


def test_quarantine_the_rest_runs_dedupe_as_a_job(tmp_path: Path) -> None:
    lib, inputs, _ = real_report(tmp_path)
    b = inputs / "b" / "IMG_1.jpg"
    quarantine = tmp_path / "duplicates-quarantine"
    with client(lib) as c:
        saved = c.post("/duplicates/save", json={"report": REF}).json()
        job_id = submit(c, "dedupe", report=saved["ref"], quarantine=str(quarantine))
        job = wait(c, job_id, timeout=60)
    assert job["status"] == "done", job
    assert not b.exists() and (inputs / "a" / "IMG_1.jpg").is_file()
    assert len(list(quarantine.rglob("*.jpg"))) == 2  # the copy and the small one


def test_any_file_name_survives_the_review(tmp_path: Path) -> None:
    """A name that is not UTF-8 (an old FAT card) and one a spreadsheet would run: shown,
    decided on by the report's path text, and written back exactly."""
    lib, inputs = tmp_path / "lib", tmp_path / "in"
    lib.mkdir()
    first = Path(os.fsdecode(os.fsencode(inputs) + b"/caf\xe9.jpg"))
    inputs.mkdir()
    scene(3).save(first, "JPEG")
    second = inputs / "=HYPERLINK(1).jpg"
    second.write_bytes(first.read_bytes())
    report = lib / ".photoorganiser" / "reports" / "names.json"
    argv = ["find-duplicates", "--input", str(inputs), "--report", str(report), "--quiet"]
    assert cli.main([*argv, "--workers", "1"]) == 0
    ref = "0:names.json"
    with client(lib) as c:
        html = page(c, ref)
        assert "caf\\xe9.jpg" in html and "=HYPERLINK(1).jpg" in html
        keep = {p: "keep" in cls for p, cls in Cards(html).groups[1]}
        assert path_text(first) in keep and path_text(second) in keep
        flipped = {p: not k for p, k in keep.items()}
        r = c.post("/duplicates/decisions", json={"report": ref, "group": 1, "keep": flipped})
        assert r.status_code == 200, r.text
        saved = c.post("/duplicates/save", json={"report": ref}).json()
    assert saved["name"].endswith(".json")
    rows = {r.path: r.keep for r in read_report(Path(saved["path"]))}
    assert rows == {str(first): flipped[path_text(first)], str(second): flipped[path_text(second)]}


# --- blank, dark and blurred pictures ---------------------------------------------------


def blanks_report(tmp_path: Path) -> tuple[Path, dict[str, Path], Path]:
    """(library, files, report): a black, a white, a dark (night) and a normal JPEG, an
    exact pair and a tiny picture, searched by the real `find-duplicates --similar
    --blanks --dark`."""
    lib, root = tmp_path / "lib", tmp_path / "in"
    lib.mkdir()
    (root / "copy").mkdir(parents=True)
    night = Image.eval(scene(3, (320, 240)), lambda v: v // 25)  # a faint scene, a lamp
    ImageDraw.Draw(night).ellipse((200, 40, 230, 70), fill=(255, 240, 200))
    files = {
        "black": root / "black.jpg",
        "white": root / "white.jpg",
        "night": root / "night.jpg",
        "normal": root / "normal.jpg",
        "pair": root / "pair.jpg",
        "copy": root / "copy" / "pair.jpg",
        "tiny": root / "tiny.jpg",
    }
    Image.new("RGB", (320, 240), (0, 0, 0)).save(files["black"], "JPEG")
    Image.new("RGB", (320, 240), (255, 255, 255)).save(files["white"], "JPEG")
    night.save(files["night"], "JPEG")
    scene(1, (320, 240)).save(files["normal"], "JPEG")
    scene(2, (320, 240)).save(files["pair"], "JPEG")
    files["copy"].write_bytes(files["pair"].read_bytes())
    scene(4).resize((12, 10)).save(files["tiny"], "JPEG")
    report = lib / ".photoorganiser" / "reports" / "dups.csv"
    args = ["find-duplicates", "--input", str(root), "--similar", "--blanks", "--dark"]
    assert cli.main([*args, "--report", str(report), "--workers", "1", "--quiet"]) == 0
    return lib, files, report


class PictureCards(HTMLParser):
    """The picture cards of a review page: {path: (kind, "keep" or "drop")}."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.cards: dict[str, tuple[str, str]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "article" and a.get("data-kind"):
            classes = set((a.get("class") or "").split())
            state = "keep" if "keep" in classes else "drop"
            self.cards[a["data-path"] or ""] = (a["data-kind"] or "", state)


def test_blank_and_dark_pictures_are_reviewed_saved_and_quarantined(tmp_path: Path) -> None:
    lib, files, report = blanks_report(tmp_path)
    black, white, night = files["black"], files["white"], files["night"]
    with client(lib) as c:
        html = page(c)  # the groups first, a note about the pictures
        assert "3 blank, dark or blurred" in html and "show=pictures" in html
        assert "1 picture too flat or small to compare" in html
        assert "tiny.jpg" in html and 'data-kind="' not in html
        html = page(c, show="pictures")
        assert PictureCards(html).cards == {
            str(black): ("blank", "drop"),
            str(white): ("blank", "drop"),
            str(night): ("dark", "drop"),
        }
        assert "mean grey level 6.75 under 10" in html and ">6.75<" in html  # reason, measure
        # the white one kept: the decision persists, in the same draft as the groups'
        r = decide(c, 0, {white: True})
        assert r.status_code == 200, r.text
        assert r.json()["keep"] == {str(white): True} and r.json()["changed"] is True
        assert r.json()["totals"]["dropped"] == 3  # the copy in a group, black, night
        assert decide(c, 1, {files["copy"]: True}).status_code == 200
        assert decide(c, 0, {files["normal"]: False}).status_code == 400  # not a picture
        assert decide(c, 0, {black: "no"}).status_code == 400
    with client(lib) as c:  # a new server: the draft is read again
        cards = PictureCards(page(c, show="pictures")).cards
        assert cards[str(white)] == ("blank", "keep") and cards[str(black)][1] == "drop"
        assert decide(c, 1, {files["copy"]: False}).status_code == 200  # back as suggested
        r = c.post("/duplicates/save", json={"report": REF})
        assert r.status_code == 200, r.text
        assert r.json()["dropped"] == 3
    saved = Path(r.json()["path"])
    rows = {(row.kind.value, Path(row.path).name): row for row in read_report(saved)}
    assert {k: row.keep for k, row in rows.items() if k[0] != "exact"} == {
        ("blank", "black.jpg"): False,
        ("blank", "white.jpg"): True,
        ("dark", "night.jpg"): False,
        ("flat", "tiny.jpg"): True,
    }
    assert rows["blank", "white.jpg"].reason.startswith("kept in review; blank: grey-level")
    assert rows["dark", "night.jpg"].measure == 6.752
    # the real dedupe quarantines exactly the pictures left dropped, and the copy
    quarantine = tmp_path / "q"
    argv = ["dedupe", str(saved), "--quarantine", str(quarantine)]
    assert cli.main([*argv, "--report-dir", str(tmp_path / "out"), "--quiet"]) == 0
    gone = {k for k, p in files.items() if not p.exists()}
    assert gone == {"black", "night", "copy"}
    moved = sorted(p.name for p in quarantine.rglob("*.jpg"))
    assert moved == ["black.jpg", "night.jpg", "pair.jpg"]


def test_after_a_dedupe_the_page_says_what_is_gone_and_what_is_left(tmp_path: Path) -> None:
    """After "Quarantine the rest" the page showed the same groups, every file marked
    drop still counted and offered, the card's "open" a 404. A file no longer at its
    path is said gone and not counted; a group whose dropped files are all gone is done;
    the dedupe's report is linked with how to undo it; its job says what it did (done,
    left alone) from its report, not its progress's count."""
    lib, inputs, report = real_report(tmp_path)
    b, small = inputs / "b" / "IMG_1.jpg", inputs / "b" / "small.jpg"
    quarantine = tmp_path / "q"
    with client(lib) as c:
        assert '<span id="dup-dropped">2</span> marked drop' in page(c)
        saved = c.post("/duplicates/save", json={"report": REF}).json()
        # the small copy changes after the review: dedupe's checks leave it alone
        with Image.open(small) as im:
            im.rotate(90).save(small, "JPEG", quality=70)
        job_id = submit(c, "dedupe", report=saved["ref"], quarantine=str(quarantine))
        job = wait(c, job_id, timeout=60)
        assert job["status"] == "done", job
        assert job["outcome"]["done"] == 1 and job["outcome"]["left-alone"] == 1, job
        assert not b.exists() and small.is_file()
        html = page(c)
        cards = Cards(html)
        assert "done" in cards.group_classes[1] and "done" not in cards.group_classes[2]
        gone = [p for g in cards.groups.values() for p, classes in g if "gone" in classes]
        assert gone == [path_text(b)]
        assert html.count("gone: moved or deleted since the report") == 1
        assert "done: the files it drops are gone" in html
        assert '<span id="dup-dropped">1</span> marked drop' in html
        assert '<span id="dup-gone">1</span> gone since the report' in html
        # the gone card opens nothing (its original would be a 404)
        assert html.count('class="open"') == 3
        assert 'id="dup-run" class="danger">' in html  # one file is still to quarantine
        assert 'id="dup-ran"' in html and "1 done, 1 left alone by its checks" in html
        assert f"photoorganiser undo --quarantine {quarantine}" in html
        assert f"ref={job['report'].replace(':', '%3A')}" in html
        assert "the Runs page cannot undo a dedupe" in html
        # a decision's totals leave the gone file out too
        answer = decide(c, 2, {inputs / "a" / "IMG_1.jpg": True, small: True}).json()
        assert answer["totals"]["dropped"] == 0 and answer["totals"]["reclaimable"] == 0
        html = page(c)
        assert '<span id="dup-dropped">0</span> marked drop' in html
        assert 'id="dup-run" class="danger" disabled' in html

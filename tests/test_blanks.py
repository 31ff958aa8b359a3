"""find-duplicates --blanks/--dark/--blurred, flat images under --similar, and dedupe of
the pictures judged on their own: real images made here, the real CLI."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from media import make_jpeg
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from photoorganiser import cli
from photoorganiser.core.hashing import hash_file
from photoorganiser.duplicates import quality
from photoorganiser.duplicates.values import BLANK_THRESHOLD, BLUR_THRESHOLD, DARK_THRESHOLD


def scene(size: tuple[int, int] = (800, 600), seed: int = 0) -> Image.Image:
    """A detailed picture: broad shading, shapes, fine lines, a little sensor noise."""
    rng = random.Random(seed)
    base = Image.frombytes("RGB", (8, 6), rng.randbytes(8 * 6 * 3)).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(base)
    w, h = size
    for _ in range(60):
        x, y = rng.randrange(w), rng.randrange(h)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + rng.randrange(10, 80), y + rng.randrange(10, 80)), fill=colour)
        else:
            draw.line((x, y, rng.randrange(w), rng.randrange(h)), fill=colour, width=2)
    noise = Image.frombytes("L", size, rng.randbytes(w * h)).point(lambda v: v // 32)
    return ImageChops.add(base, Image.merge("RGB", (noise, noise, noise)))


def save(img: Image.Image, path: Path, quality: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=quality)
    return path


@pytest.fixture
def shots(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "in"
    rng = random.Random(5)
    pocket = Image.frombytes("L", (640, 480), bytes(rng.randrange(0, 10) for _ in range(640 * 480)))
    lamp = Image.eval(scene(seed=3), lambda v: v // 25)  # night: a faint scene...
    ImageDraw.Draw(lamp).ellipse((380, 80, 420, 120), fill=(255, 240, 200))  # ...and a lamp
    return {
        "black": save(Image.new("RGB", (640, 480), (0, 0, 0)), root / "black.jpg"),
        "white": save(Image.new("RGB", (640, 480), (255, 255, 255)), root / "white.jpg"),
        "pocket": save(pocket.convert("RGB"), root / "pocket.jpg"),
        "scene": save(scene(seed=1), root / "scene.jpg"),
        "dark": save(lamp, root / "night.jpg"),
        "blurred": save(scene(seed=2).filter(ImageFilter.GaussianBlur(8)), root / "blurred.jpg"),
    }


def find(root: Path, report: Path, *extra: str) -> int:
    args = ["find-duplicates", "--input", str(root), "--report", str(report), "--quiet"]
    return cli.main([*args, "--workers", "1", *extra])


def rows_of(report: Path) -> list[dict[str, str]]:
    lines = report.read_text(encoding="utf-8").splitlines()
    return list(csv.DictReader(lines[1:]))


def by_path(report: Path) -> dict[str, dict[str, str]]:
    return {r["path"]: r for r in rows_of(report)}


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_measures_tell_the_made_pictures_apart(shots: dict[str, Path]) -> None:
    m = {name: quality.measure_image(p) for name, p in shots.items()}
    for name in ("black", "white", "pocket"):
        assert m[name].spread < BLANK_THRESHOLD, name
    for name in ("scene", "dark", "blurred"):
        assert m[name].spread > 2 * BLANK_THRESHOLD, name
    assert m["dark"].brightness < DARK_THRESHOLD < m["scene"].brightness
    assert m["blurred"].brightness > DARK_THRESHOLD
    assert m["blurred"].sharpness < BLUR_THRESHOLD < m["scene"].sharpness
    assert m["dark"].sharpness > BLUR_THRESHOLD  # the lamp's edge: dark, not blurred


def test_blanks_dark_blurred_rows(shots: dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    assert find(tmp_path / "in", report, "--blanks", "--dark", "--blurred") == 0
    rows = by_path(report)
    kinds = {Path(p).name: r["kind"] for p, r in rows.items()}
    assert kinds == {
        "black.jpg": "blank",
        "white.jpg": "blank",
        "pocket.jpg": "blank",
        "night.jpg": "dark",
        "blurred.jpg": "blurred",
    }
    for path, r in rows.items():
        assert r["group_id"] == "0" and r["keep"] == "no"
        assert r["hash"] == hash_file(path)  # dedupe checks it
        assert float(r["measure"]) >= 0
    night = rows[str(shots["dark"])]
    assert night["reason"] == (
        f"dark: mean grey level {float(night['measure']):.2f} under 10 (--dark-threshold)"
    )
    assert "under 3 (--blank-threshold)" in rows[str(shots["black"])]["reason"]
    assert "under 20 (--blur-threshold)" in rows[str(shots["blurred"])]["reason"]
    # only what is asked for; JSON the same rows
    report = tmp_path / "r.json"
    assert find(tmp_path / "in", report, "--blanks") == 0
    doc = json.loads(report.read_text())
    assert "measure" in doc["columns"]
    assert {(Path(i["path"]).name, i["kind"]) for i in doc["rows"]} == {
        ("black.jpg", "blank"),
        ("white.jpg", "blank"),
        ("pocket.jpg", "blank"),
    }


def test_thresholds_the_user_sets(shots: dict[str, Path], tmp_path: Path, capsys) -> None:
    report = tmp_path / "r.csv"
    assert find(tmp_path / "in", report, "--blurred", "--blur-threshold", "0") == 0
    assert rows_of(report) == []
    assert find(tmp_path / "in", report, "--dark", "--dark-threshold", "255") == 0
    dark = {Path(p).name for p in by_path(report)}
    assert {"night.jpg", "scene.jpg", "black.jpg", "blurred.jpg"} <= dark
    assert "white.jpg" not in dark
    capsys.readouterr()
    for bad, says in (
        (["--blank-threshold", "5"], "--blank-threshold needs --blanks"),
        (["--dark", "--dark-threshold", "-1"], "--dark-threshold must be a number, 0 or more"),
        (["--blurred", "--blur-threshold", "nan"], "--blur-threshold must be a number"),
    ):
        out = tmp_path / "never.csv"
        assert find(tmp_path / "in", out, *bad) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1
        assert not out.exists()


def test_flat_images_are_reported_by_similar(shots: dict[str, Path], tmp_path: Path) -> None:
    tiny = make_jpeg(tmp_path / "in" / "tiny.jpg", seed=4, size=(10, 8))
    report = tmp_path / "r.csv"
    assert find(tmp_path / "in", report, "--similar") == 0
    rows = by_path(report)
    flat = {Path(p).name: r for p, r in rows.items() if r["kind"] == "flat"}
    assert set(flat) == {"black.jpg", "white.jpg", "pocket.jpg", "tiny.jpg"}
    assert all(r["keep"] == "yes" and r["group_id"] == "0" for r in flat.values())
    assert flat["tiny.jpg"]["reason"].startswith("tiny (10x8 pixels): left out of the near")
    assert flat["black.jpg"]["reason"].startswith("near-flat (640x480")
    # with --blanks the blank frames are blank rows, not flat ones; the tiny one stays flat
    assert find(tmp_path / "in", report, "--similar", "--blanks") == 0
    kinds = {Path(p).name: r["kind"] for p, r in by_path(report).items()}
    assert kinds == {"black.jpg": "blank", "white.jpg": "blank", "pocket.jpg": "blank",
                     "tiny.jpg": "flat"}  # fmt: skip
    assert str(tiny) in by_path(report)


def test_summary_counts_the_pictures(shots: dict[str, Path], tmp_path: Path, capsys) -> None:
    args = ["find-duplicates", "--input", str(tmp_path / "in"), "--report", str(tmp_path / "r.csv")]
    assert cli.main([*args, "--workers", "1", "--blanks", "--dark", "--blurred"]) == 0
    out = capsys.readouterr().out
    assert "blank / dark / blurred" in out and "3 / 1 / 1" in out


def dedupe(report: Path, tmp_path: Path, *args: str) -> int:
    out = ["--report", str(tmp_path / "dedupe.csv"), "--workers", "1", "--quiet"]
    return cli.main(["dedupe", str(report), *args, *out])


def write_rows(report: Path, rows: list[dict[str, str]]) -> None:
    """The report as a person saves it after editing: header line and columns kept."""
    with open(report, encoding="utf-8") as f:
        first = f.readline()
    with open(report, "w", newline="", encoding="utf-8") as f:
        f.write(first)
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_dedupe_quarantines_blank_rows_and_undo_brings_them_back(
    shots: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "in"
    copy = root / "again" / "black copy.jpg"
    copy.parent.mkdir()
    copy.write_bytes(shots["black"].read_bytes())  # an exact copy: in a group and a blank row
    before = snapshot(root)
    report = tmp_path / "r.csv"
    assert find(root, report, "--blanks", "--dark", "--blurred") == 0
    rows = rows_of(report)
    assert {r["kind"] for r in rows} == {"exact", "blank", "dark", "blurred"}
    # the person reviewing keeps the night shot, and empties the pocket shot's keep
    for r in rows:
        if r["kind"] == "dark":
            r["keep"] = "yes"
        if r["path"] == str(shots["pocket"]):
            r["keep"] = ""
    write_rows(report, rows)
    q = tmp_path / "quarantine"
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    done = {Path(r["path"]).name: r for r in rows_of(tmp_path / "dedupe.csv")}
    for name in ("white.jpg", "blurred.jpg", "black copy.jpg"):
        assert not (root / name).exists() and not (root / "again" / name).exists()
    assert done["pocket.jpg"]["status"] == "kept"
    for name, path in shots.items():
        if name in ("scene", "dark", "pocket", "black"):  # black.jpg: its group's keeper
            assert path.exists()
        else:
            assert (q / path.relative_to("/")).read_bytes() == before[path.name]
    assert (q / copy.relative_to("/")).exists()
    statuses = sorted((r["kind"], r["status"]) for r in rows_of(tmp_path / "dedupe.csv"))
    assert ("dark", "kept") in statuses and ("blank", "done") in statuses
    assert not any(s == "failed" for _, s in statuses)
    assert done["white.jpg"]["action"] == "quarantine"
    assert done["black.jpg"]["status"] == "left-alone"  # the blank row, after the group's
    # undo brings every one back, byte for byte
    rd = ["--report-dir", str(tmp_path / "u")]
    assert cli.main(["undo", "--quarantine", str(q), *rd, "--quiet"]) == 0
    assert snapshot(root) == before


def test_dedupe_checks_blank_rows_like_duplicates(shots: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "in"
    report = tmp_path / "r.csv"
    assert find(root, report, "--blanks") == 0
    before = snapshot(root)
    # no keeper to link to, and the only copy: --delete and --hardlink leave them alone
    for how in (["--delete", "--yes"], ["--hardlink"]):
        assert dedupe(report, tmp_path, *how) == 0
        assert snapshot(root) == before
        why = {r["status"] + ": " + r["reason"] for r in rows_of(tmp_path / "dedupe.csv")}
        assert len(why) == 1 and "only --quarantine or --trash act on it" in why.pop()
    # a file changed since the report is left alone; a dry run touches nothing
    shots["white"].write_bytes(shots["scene"].read_bytes())
    q = tmp_path / "q"
    assert dedupe(report, tmp_path, "--quarantine", str(q), "--dryrun") == 0
    assert not q.exists()
    assert dedupe(report, tmp_path, "--quarantine", str(q)) == 0
    done = {Path(r["path"]).name: r for r in rows_of(tmp_path / "dedupe.csv")}
    assert done["white.jpg"]["status"] == "left-alone"
    assert "changed since the report" in done["white.jpg"]["reason"]
    assert shots["white"].exists() and not shots["black"].exists()


def test_corpus_defaults_flag_what_the_eye_sees(corpus: Path) -> None:
    """The real files the defaults flag, each checked by eye (a black frame, a dark
    frame with a line of text, an out-of-focus light), and real pictures that are not."""
    blank = ["exiv2/Canon.HIF", "metadata-extractor/Sony DSC-P12.jpg", "exiv2/exiv2-bug1114.jpg"]
    dark = ["pigallery2/UTC-20240413-203730-Reykjavik.jpg", "metadata-extractor/Issue 609.jpg"]
    sharp = ["exif-py/mountains.avif", "metadata-extractor/HP PhotoSmart 735.jpg"]
    for name in blank:
        assert quality.measure_image(corpus / name).spread < BLANK_THRESHOLD, name
    for name in dark:
        m = quality.measure_image(corpus / name)
        assert m.brightness < DARK_THRESHOLD < m.spread, name
    blurred = quality.measure_image(corpus / "metadata-extractor/Canon PowerShot S330.jpg")
    assert blurred.sharpness < BLUR_THRESHOLD
    night = quality.measure_image(corpus / "metadata-extractor/Casio EX-S1.jpg")
    assert night.brightness > DARK_THRESHOLD  # a night photo, not a dark frame
    for name in sharp:
        m = quality.measure_image(corpus / name)
        assert m.sharpness > BLUR_THRESHOLD and m.spread > BLANK_THRESHOLD, name


def test_trash_of_poor_pictures_and_undo(
    shots: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = tmp_path / "in"
    before = snapshot(root)
    report = tmp_path / "r.csv"
    assert find(root, report, "--dark", "--blurred") == 0
    assert dedupe(report, tmp_path, "--trash") == 0
    trashed = sorted(p.name for p in (tmp_path / "data" / "Trash" / "files").iterdir())
    # without --blanks a blank frame is dark (black, pocket) or blurred (any uniform one)
    assert trashed == ["black.jpg", "blurred.jpg", "night.jpg", "pocket.jpg", "white.jpg"]
    assert shots["scene"].exists()
    rd = ["--report-dir", str(tmp_path / "u")]
    assert cli.main(["undo", "--journal", *rd, "--quiet"]) == 0
    assert snapshot(root) == before


@pytest.mark.parametrize("how", [["--quarantine", "Q"], ["--trash"]])
def test_a_groups_keeper_is_never_taken_by_its_blank_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: list[str]
) -> None:
    """Two copies of a black frame: an exact group (keep one) and two blank rows (keep=no),
    as find-duplicates --blanks proposes them. Dedupe takes the copy, and leaves the
    group's keeper, saying why: two decisions on one file, the one that keeps it wins
    (its copy went on the promise that it stays). Every copy gone needs the person to
    delete the group's rows."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    root = tmp_path / "pics"
    black = save(Image.new("RGB", (320, 240)), root / "old" / "frame.jpg")
    (root / "phone").mkdir()
    (root / "phone" / "frame (1).jpg").write_bytes(black.read_bytes())
    report = tmp_path / "r.csv"
    assert find(root, report, "--blanks") == 0
    rows = rows_of(report)
    assert sorted((r["kind"], r["keep"]) for r in rows) == [
        ("blank", "no"), ("blank", "no"), ("exact", "no"), ("exact", "yes")
    ]  # fmt: skip
    args = [a.replace("Q", str(tmp_path / "q")) for a in how]
    assert dedupe(report, tmp_path, *args) == 0
    assert black.exists() and not (root / "phone" / "frame (1).jpg").exists()
    done = rows_of(tmp_path / "dedupe.csv")
    keeper_rows = {(r["kind"], r["status"]) for r in done if r["path"] == str(black)}
    assert keeper_rows == {("exact", "kept"), ("blank", "left-alone")}
    (why,) = [r["reason"] for r in done if r["path"] == str(black) and r["kind"] == "blank"]
    assert why.startswith("the keeper of group 1 (keep=yes there)")
    # the person deletes the group's rows: the blank rows act on each copy left
    write_rows(report, [r for r in rows if r["kind"] == "blank"])
    assert dedupe(report, tmp_path, *args) == 0
    assert not black.exists()

"""What a first import writes to the catalog: few transactions and statements per file,
a write volume of a few times the catalog's size, and the journal's intents on the disk
before any file moves (issue 14)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser.cli import main
from photoorganiser.importing import execute
from photoorganiser.library import catalog as catalog_module
from photoorganiser.library import journal as journal_module
from photoorganiser.library.catalog import Catalog, catalog_path

REPO = Path(__file__).resolve().parent.parent
WHEN = datetime(2019, 5, 6, 7, 8, 9)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default reports/ lands in tmp_path, not the repo


def inbox_of(folder: Path, count: int) -> Path:
    """`count` distinct small JPEGs (one EXIF'd photo, a different tail each), in
    folders of 500."""
    base = make_jpeg(folder.parent / "base.jpg", WHEN).read_bytes()
    for i in range(count):
        sub = folder / f"{i // 500:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"IMG_{i:05d}.JPG").write_bytes(base + i.to_bytes(4, "big"))
    return folder


def imp(inbox: Path, library: Path, *more: str) -> int:
    return main(
        ["import", "--input", str(inbox), "--output", str(library), "--workers", "1", "--quiet"]
        + list(more)
    )


def library_photos(library: Path) -> list[Path]:
    return [p for p in library.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts]


def test_transactions_and_statements_per_file_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 1500
    inbox = inbox_of(tmp_path / "in", count)
    library = tmp_path / "lib"
    transactions = 0
    statements = 0
    real_transaction = Catalog.transaction

    def counting_transaction(self: Catalog):
        nonlocal transactions
        transactions += 1
        return real_transaction(self)

    class Counting(catalog_module._Connection):
        def execute(self, *args):
            nonlocal statements
            statements += 1
            return super().execute(*args)

        def executemany(self, *args):
            nonlocal statements
            statements += 1
            return super().executemany(*args)

    monkeypatch.setattr(Catalog, "transaction", counting_transaction)
    monkeypatch.setattr(catalog_module, "_Connection", Counting)
    assert imp(inbox, library, "--move") == 0
    assert len(library_photos(library)) == count
    # One durable transaction per batch of intents (execute.BATCH), one per group of
    # settlements, and a handful per run (schema, run record, analyses, the end).
    batches = -(-count // execute.BATCH)
    groups = -(-count // journal_module.SETTLE_EVERY)
    assert transactions <= batches + groups + 15, transactions
    # Was 2 transactions per batch and ~6 statements per file (one INSERT per intent,
    # catalog row, history row, state...): the writes are now a few statements per batch.
    # The one read per file left: is this content already in the library (index.py).
    assert statements <= 1.2 * count, statements
    with sqlite3.connect(catalog_path(library)) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == count
        assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == count
        states = dict(conn.execute("SELECT state, count(*) FROM journal GROUP BY state"))
        assert states == {"done": count}
        # Each catalog row holds its own analysis (the intent's text, reused).
        pairs = conn.execute(
            "SELECT f.record, j.record, f.hash, json_extract(f.record, '$.hash')"
            " FROM files f JOIN journal j ON j.destination = f.path"
        ).fetchall()
        assert len(pairs) == count
        assert all(fr == jr and h == rh for fr, jr, h, rh in pairs)


def test_the_intents_are_on_disk_before_a_file_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every transfer's intent is committed (read by another connection) before it
    starts, and the settlements of the files before it are read by the run's own
    connection even while they are not written yet."""
    count = 300  # > BATCH, < SETTLE_EVERY: settlements stay pending across batches
    inbox = inbox_of(tmp_path / "in", count)
    library = tmp_path / "lib"
    real_transfer = execute.transfer
    seen: list[tuple[str | None, int]] = []

    def checking_transfer(d, *args, **kwargs):
        other = sqlite3.connect(f"{catalog_path(library).as_uri()}?mode=ro", uri=True)
        try:
            row = other.execute(
                "SELECT state FROM journal WHERE source = ?", (str(d.source),)
            ).fetchone()
            on_disk = other.execute("SELECT count(*) FROM files").fetchone()[0]
        finally:
            other.close()
        seen.append((row[0] if row else None, on_disk))
        real_transfer(d, *args, **kwargs)

    monkeypatch.setattr(execute, "transfer", checking_transfer)
    assert imp(inbox, library, "--move") == 0
    assert len(seen) == count
    assert {state for state, _ in seen} == {"intent"}, "a file moved before its intent"
    # The settlements were held back (fewer, bigger transactions), and all are there now.
    assert max(files for _, files in seen) == 0
    with sqlite3.connect(catalog_path(library)) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == count


def test_pending_settlements_are_read_by_the_run_and_written_on_close(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    catalog = Catalog.open(library)
    assert catalog is not None
    calls = []

    def write() -> None:
        calls.append(1)
        with catalog.transaction() as conn:
            conn.execute(
                "INSERT INTO runs (id, started_at, command, status) VALUES ('r', 'now', 'x', 'y')"
            )

    catalog.defer(write)
    other = sqlite3.connect(catalog_path(library))
    assert other.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # not on disk yet
    assert catalog.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1  # read: written
    assert other.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    catalog.defer(write)
    catalog.close()  # closing writes what is pending
    assert other.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert len(calls) == 2
    other.close()


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/PID/io")
def test_a_first_import_writes_a_few_times_the_catalog(tmp_path: Path) -> None:
    """write_bytes of the whole process tree (reaped children included, read by the
    shell that ran it): was ~10x the catalog's size (a transaction of ~150 rewritten
    pages per 64 files)."""
    count = 2000
    inbox = inbox_of(tmp_path / "in", count)
    library = tmp_path / "lib"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = '"$@" >/dev/null; rc=$?; grep write_bytes /proc/$$/io; exit $rc'
    cmd = [sys.executable, "-m", "photoorganiser", "import", "--input", str(inbox)]
    cmd += ["--output", str(library), "--workers", "1", "--quiet", "--move"]
    cmd += ["--report-dir", str(tmp_path / "reports")]
    done = subprocess.run(["sh", "-c", script, "sh", *cmd], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = int(done.stdout.split("write_bytes:")[1].split()[0])
    size = catalog_path(library).stat().st_size
    assert len(library_photos(library)) == count
    report = sum(p.stat().st_size for p in (tmp_path / "reports").iterdir())
    assert written - report <= 4 * size, (written, size, report)


def test_settlements_wait_for_no_more_than_settle_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big files are settled sooner (a killed run's recovery reads each unsettled file
    again): past SETTLE_BYTES, the next batch's intents commit them."""
    count = 200
    inbox = inbox_of(tmp_path / "in", count)
    library = tmp_path / "lib"
    monkeypatch.setattr(journal_module, "SETTLE_BYTES", 1)
    monkeypatch.setattr(execute, "BATCH", 64)  # several batches of these 200 files
    real_transfer = execute.transfer
    on_disk: list[int] = []

    def counting_transfer(d, *args, **kwargs):
        other = sqlite3.connect(f"{catalog_path(library).as_uri()}?mode=ro", uri=True)
        try:
            on_disk.append(other.execute("SELECT count(*) FROM files").fetchone()[0])
        finally:
            other.close()
        real_transfer(d, *args, **kwargs)

    monkeypatch.setattr(execute, "transfer", counting_transfer)
    assert imp(inbox, library, "--move") == 0
    batch = execute.BATCH
    # While batch k moves, the batches before k - 1 are on the disk (batch k - 1 may still
    # be settling: execute overlaps a batch's copies with the naming of the one before).
    assert on_disk[2 * batch] >= batch and on_disk[3 * batch] >= 2 * batch, on_disk[::batch]


def test_a_plain_media_is_encoded_as_the_general_encoder_does() -> None:
    """The fast path for a media that is only its date and its camera's facts writes the
    very text the general encoder writes (and reads back as the same analysis): facts with
    quotes, non-ASCII and line separators, every date source, zones, no date, a fallback
    date apart from the media's, every kind of file."""
    import random
    from datetime import timedelta

    from photoorganiser.core.values import (
        Analysis,
        CaptureDate,
        DateSource,
        FileKind,
        MediaFacts,
        MediaInfo,
        ScanEntry,
    )

    rng = random.Random(14)
    facts = [
        MediaFacts("Canon", 'EOS "5D" \\ é', 6000, 4000, "JPEG"),
        MediaFacts(),
        MediaFacts(None, None, None, None, "MP4", True, ("truncated",), ("odd \u2028 tag",)),
    ]

    def a_date() -> CaptureDate | None:
        if rng.random() < 0.2:
            return None
        offset = rng.choice([None, timedelta(hours=2), timedelta(hours=-5, minutes=-30)])
        wall = datetime(2020, 1, 2, 3, 4, 5, rng.choice([0, 123456]))
        return CaptureDate(wall, rng.choice(list(DateSource)), offset)

    for i in range(2000):
        entry = ScanEntry(Path(f"/in/{i}.jpg"), rng.choice(list(FileKind)), 10, 0, 1)
        media_date = a_date()
        captured = media_date if rng.random() < 0.5 else a_date()
        media = MediaInfo._of(media_date, rng.choice(facts))
        analysis = Analysis(entry, f"{rng.getrandbits(128):032x}", media, captured)
        assert isinstance(analysis.info, MediaFacts)  # the fast path's case
        text = catalog_module.encode(analysis)
        assert text == catalog_module._encode(analysis)
        assert catalog_module.decode(text, entry) == analysis

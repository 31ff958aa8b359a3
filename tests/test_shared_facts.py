"""A file's media facts (camera, size, format, state) are one shared value for the files
of one camera, wherever analyses are made: the pool, in-process, the catalog's cache.
A million-file run holds one MediaInfo a file, and it holds only what is the file's own."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from media import make_jpeg

from photoorganiser.core.values import Analysis, CaptureDate, DateSource, MediaFacts, MediaInfo
from photoorganiser.library.catalog import decode, encode
from photoorganiser.media.analyse import AnalyseOptions, analyse
from photoorganiser.media.scan import scan

WHEN = datetime(2021, 6, 5, 4, 3, 2)


def test_media_info_reads_and_changes_as_before() -> None:
    captured = CaptureDate(WHEN, DateSource.EXIF_DATETIME_ORIGINAL)
    m = MediaInfo(captured, "Canon", "EOS 80D", 6000, 4000, "JPEG", latitude=1.5, longitude=2.5)
    facts = (m.make, m.model, m.width, m.height, m.format)
    assert facts == ("Canon", "EOS 80D", 6000, 4000, "JPEG")
    assert (m.is_video, m.problems, m.warnings, m.content_id) == (False, (), (), None)
    assert (m.latitude, m.longitude, m.gps_offset) == (1.5, 2.5, None)
    noted = dataclasses.replace(m, warnings=("a note",))  # zones.py adds a note this way
    assert noted.warnings == ("a note",) and noted.make == "Canon" and noted.latitude == 1.5
    assert noted != m and m.warnings == ()
    redated = dataclasses.replace(m, captured=None)
    assert redated.facts is m.facts and redated.captured is None
    assert pickle.loads(pickle.dumps(noted)) == noted
    assert MediaInfo() == MediaInfo(facts=MediaFacts())
    assert MediaInfo(make="X").facts == MediaFacts(make="X")
    assert MediaInfo(gps_offset=timedelta(hours=2)).gps_offset == timedelta(hours=2)


@pytest.fixture
def one_camera(tmp_path: Path) -> Path:
    for i in range(8):
        make_jpeg(
            tmp_path / "in" / f"IMG_{i}.JPG",
            WHEN + timedelta(minutes=i),
            seed=i,
            make="Canon",
            model="EOS 80D",
        )
    make_jpeg(tmp_path / "in" / "other.jpg", WHEN, seed=99, make="Nikon", model="D70")
    return tmp_path / "in"


@pytest.mark.parametrize("workers", [1, 2])
def test_the_files_of_one_camera_share_their_facts(one_camera: Path, workers: int) -> None:
    entries = list(scan([one_camera]))
    results = list(analyse(entries, AnalyseOptions(), workers=workers))
    assert all(isinstance(r, Analysis) for r in results)
    canon = [r for r in results if r.media.make == "Canon"]
    nikon = [r for r in results if r.media.make == "Nikon"]
    assert len(canon) == 8 and len(nikon) == 1
    assert len({id(r.media.facts) for r in canon}) == 1  # one value for the 8 files
    assert nikon[0].media.facts is not canon[0].media.facts
    # ... while each keeps its own date
    assert len({r.captured.wall for r in canon}) == 8
    assert all(r.media.captured is r.captured for r in canon)


def test_analyses_read_back_from_the_catalog_share_their_facts(one_camera: Path) -> None:
    entries = list(scan([one_camera]))
    results = list(analyse(entries, AnalyseOptions(), workers=1))
    back = [decode(encode(r), r.entry) for r in results]
    assert back == results  # nothing lost on the way
    canon = [b for b in back if b.media.make == "Canon"]
    assert len({id(b.media.facts) for b in canon}) == 1

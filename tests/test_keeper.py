"""The keeper policy: which exact copy a careful person keeps, and the rule that said so."""

from __future__ import annotations

from pathlib import Path

import pytest

from photoorganiser.core.keeper import Copy, KeepRule, choose_copy, has_copy_marker

COPIES = [
    "IMG_1 (1).JPG", "IMG_1(2).jpg", "IMG_1 - Copy.JPG", "IMG_1 - Copy (2).JPG",
    "Copy of IMG_1.JPG", "IMG_1 copy.JPG", "IMG_1 copy 2.JPG", "IMG_1_copy.JPG", "IMG_1-copy.jpg",
    "DSCN0010_copy.JPG", "IMG_1 - Kopie.JPG", "IMG_1 - Copie.JPG", "IMG_1 - Copia.jpg",
    "IMG_1 - コピー.JPG", "IMG_1 - 副本.jpg", "IMG_1 - копия.jpg", "Kopie von IMG_1.jpg",
    "IMG_1 KOPIE.JPG",
]  # fmt: skip
ORIGINALS = [
    "IMG_1.JPG", "IMG_0001.JPG", "copyright.jpg", "Copenhagen 2004.jpg", "IMG_1_1.jpg",
    "photocopy.jpg", "2004 (Christmas).jpg", "Copy.jpg", "20040101_120000_IMG_1.jpg",
]  # fmt: skip


@pytest.mark.parametrize("name", COPIES)
def test_copy_markers_are_recognised(name: str) -> None:
    assert has_copy_marker(name)


@pytest.mark.parametrize("name", ORIGINALS)
def test_original_names_are_not_copies(name: str) -> None:
    assert not has_copy_marker(name)


def test_the_rules_in_order() -> None:
    lib = Copy(Path("/lib/2004/IMG_1 (1).JPG"), mtime_ns=9, in_library=True)
    pref = Copy(Path("/drive/keep/IMG_1 (1).JPG"), mtime_ns=8)
    original = Copy(Path("/drive/other/deeper/IMG_1.JPG"), mtime_ns=7)
    with_aae = Copy(Path("/phone/IMG_1 (2).JPG"), mtime_ns=6, sidecars=1)
    old = Copy(Path("/phone/IMG_1 (3).JPG"), mtime_ns=1)
    everything = [old, with_aae, original, pref, lib]
    assert choose_copy(everything).rule is KeepRule.IN_LIBRARY
    choice = choose_copy(everything[:4], prefer=[Path("/drive/keep")])
    assert choice.keeper == pref and choice.folder == Path("/drive/keep")
    assert choose_copy(everything[:3]).keeper == original
    assert choose_copy(everything[:3]).rule is KeepRule.ORIGINAL_NAME
    assert choose_copy([old, with_aae]).rule is KeepRule.HAS_SIDECARS
    second = 1_000_000_000
    assert choose_copy([Copy(Path("/a/x.jpg"), 50 * second), Copy(Path("/b/x.jpg"), 2)]).rule is (
        KeepRule.OLDEST
    )
    # copies made within FAT's 2 s are not older or newer: the next rule decides
    same_time = [Copy(Path("/abc/x.jpg"), 3 * second), Copy(Path("/a/x.jpg"), 3 * second + 7)]
    assert choose_copy(same_time).rule is KeepRule.SHORTEST_PATH
    short, long = Copy(Path("/a/x.jpg")), Copy(Path("/abc/x.jpg"))
    assert choose_copy([long, short]).keeper == short
    assert choose_copy([Copy(Path("/b/x.jpg")), Copy(Path("/a/x.jpg"))]).rule is KeepRule.FIRST_PATH
    assert choose_copy([short]).rule is KeepRule.ONLY


def test_the_same_input_in_any_order_gives_the_same_choice() -> None:
    copies = [Copy(Path(f"/p/{n}"), mtime_ns=3) for n in ("b.jpg", "a.jpg", "a (1).jpg")]
    assert {choose_copy(copies[i:] + copies[:i]).keeper.path for i in range(3)} == {
        Path("/p/a.jpg")
    }

"""A worker process that dies on one file (a decoder's crash, the out-of-memory killer,
kill -9) costs that file, not the run: pmap's `lost`, and the commands that use it.

The workers are spawned processes: what they run is a module-level function of this
module (imported by name in each worker), never a monkeypatch of the test's process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import Counter

import pytest
from hanging import no_hang

from photoorganiser.core import parallel

POISONED = 137  # the item that kills the worker that reads it


def _doubled_but_137_kills(x: int) -> int:
    if x == POISONED:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a kill -9 would
    return 2 * x


def _doubled_but_two_kill(x: int) -> int:
    if x == 3:
        os._exit(7)  # an exit of its own: another exit code
    if x == 150:
        os.kill(os.getpid(), signal.SIGSEGV)  # as a decoder's crash would
    return 2 * x


def _always_dies(x: int) -> int:
    os._exit(9)


def _lost(x: int, why: str) -> tuple[int, str]:
    return (x, why)


class _Counted:
    def __init__(self) -> None:
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n


def _mapped(fn, count: int = 200, **kwargs) -> tuple[list[int], dict[int, str], _Counted]:
    """pmap of `fn` over range(count) on two workers, five items a chunk: the results
    (each item once), the lost items' reasons by item, the progress."""
    counted = _Counted()
    got = no_hang(
        lambda: list(
            parallel.pmap(
                fn, range(count), workers=2, chunksize=5, progress=counted, lost=_lost, **kwargs
            )
        ),
        120,
    )
    lost = dict(r for r in got if isinstance(r, tuple))
    read = [r for r in got if not isinstance(r, tuple)]
    assert len(got) == count and len(lost) + len(read) == count
    assert not [n for n, times in Counter(read).items() if times > 1]
    assert not multiprocessing.active_children()
    return read, lost, counted


def test_a_worker_that_dies_costs_its_item_alone() -> None:
    """One item of 200 kills its worker: every item gives one result, the innocent ones
    their own (those of its chunk and of the other chunks in the pool then were read
    again, one at a time), the poisoned one `lost` with why; the progress reaches 200."""
    read, lost, counted = _mapped(_doubled_but_137_kills)
    assert sorted(read) == [2 * x for x in range(200) if x != POISONED]
    assert lost == {POISONED: "not read: the process reading it ended unexpectedly (exit code -9)"}
    assert counted.done == 200


def test_lost_items_advance_the_progress_by_their_weight() -> None:
    read, lost, counted = _mapped(_doubled_but_137_kills, weight=lambda x: x + 1)
    assert sorted(read) == [2 * x for x in range(200) if x != POISONED]
    assert list(lost) == [POISONED]
    assert counted.done == sum(x + 1 for x in range(200))


def test_two_items_that_kill_their_workers_are_both_named() -> None:
    read, lost, counted = _mapped(_doubled_but_two_kill)
    assert sorted(read) == [2 * x for x in range(200) if x not in (3, 150)]
    assert lost == {
        3: "not read: the process reading it ended unexpectedly (exit code 7)",
        150: "not read: the process reading it ended unexpectedly (exit code -11)",
    }
    assert counted.done == 200


def test_workers_that_keep_dying_stop_being_replaced() -> None:
    """Every item kills its worker: after MAX_DEATHS deaths (the first among the chunks
    in the pool, then one per item read alone) no new pool: the rest are lost at once,
    saying so, and the run ends (no hang)."""
    read, lost, counted = _mapped(_always_dies)
    assert not read and sorted(lost) == list(range(200)) and counted.done == 200
    alone = [x for x, why in lost.items() if why.endswith("ended unexpectedly (exit code 9)")]
    assert len(alone) == parallel.MAX_DEATHS - 1
    rest = {why for x, why in lost.items() if x not in alone}
    assert rest == {
        f"not read: {parallel.MAX_DEATHS} processes reading files ended unexpectedly"
        " (the last: exit code 9)"
    }


def test_without_lost_a_death_still_stops_pmap() -> None:
    with pytest.raises(parallel.WorkerDied, match="exit code -9"):
        no_hang(
            lambda: list(parallel.pmap(_doubled_but_137_kills, range(200), workers=2, chunksize=5)),
            60,
        )
    assert not multiprocessing.active_children()

"""A call that must not hang: a blocked open() cannot be interrupted, so the tests of
reading safely run it in a thread and fail (instead of hanging the suite) when it blocks."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest


def no_hang(fn: Callable[[], object], seconds: float = 5.0, fifo: Path | None = None) -> object:
    """fn() in a thread that must finish within `seconds` (a blocked open() cannot be
    interrupted, so a hang fails the test instead of hanging the suite). A reader stuck
    opening `fifo` is released by opening it for writing."""
    box_: dict[str, object] = {}

    def run() -> None:
        try:
            box_["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box_["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if fifo is not None:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"still blocked after {seconds} s")
    if "error" in box_:
        raise box_["error"]  # type: ignore[misc]
    return box_["result"]

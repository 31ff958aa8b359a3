"""Progress bars with an ETA on a terminal; silent otherwise."""

from __future__ import annotations

import sys
from types import TracebackType


class Progress:
    """A context manager for one stage: `with Progress("analyse", total, on) as p: p.advance()`."""

    def __init__(self, description: str, total: int | None, enabled: bool) -> None:
        self.description = description
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._rich = None  # a rich.progress.Progress, imported only when shown
        self._task = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("[bold]{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._rich.__enter__()
            self._task = self._rich.add_task(self.description, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        if self._rich is not None:
            self._rich.advance(self._task, n)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.__exit__(exc_type, exc, tb)

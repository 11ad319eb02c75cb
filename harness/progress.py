"""Progress on the terminal: a rich progress display when stderr is a terminal, plain log lines
otherwise (CI logs, pipes), nothing when quiet. Components report through ``Context.progress``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .components import Progress


class LineProgress(Progress):
    """One line per finished task with its duration: readable in CI logs."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    def log(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        start = time.perf_counter()
        yield lambda n=1: None
        self.log(f"  {description}: done in {time.perf_counter() - start:.1f}s")


class RichProgress(Progress):
    """Live bars for long phases (encoding, indexing), above the log of finished cells."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self.console = Console(stderr=True)
        self.bars = Bars(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=True,
        )

    def log(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        task_id = self.bars.add_task(description, total=total)
        try:
            yield lambda n=1: self.bars.advance(task_id, n)
        finally:
            self.bars.remove_task(task_id)

    def __enter__(self):
        self.bars.start()
        return self

    def __exit__(self, *exc):
        self.bars.stop()


def make_progress(quiet: bool = False) -> Progress:
    if quiet:
        return Progress()
    if sys.stderr.isatty():
        return RichProgress()
    return LineProgress()

"""Phase timing: every phase of a cell (load, index, retrieve, rerank, evaluate) records its
wall time (``time.perf_counter``) and whether it did the work or served it from a cache. The
measurement issue slots latency distributions and memory in here; a phase record is plain data
that lands in the cell's result JSON as it is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Phases:
    """Ordered phase records of one cell: ``{"index": {"seconds": 0.4, "cache": "miss"}}``."""

    def __init__(self):
        self.records: dict[str, dict] = {}

    @contextmanager
    def measure(self, name: str, **info) -> Iterator[dict]:
        """Time the block; ``info`` (and what the block adds to the yielded dict) is recorded.

        The record is kept even when the block raises, so a failed cell shows where it failed.
        """
        record = {"seconds": None, **info}
        self.records[name] = record
        start = time.perf_counter()
        try:
            yield record
        finally:
            record["seconds"] = round(time.perf_counter() - start, 6)

    def note(self, name: str, **info) -> None:
        """A phase that did no work in this cell (served from a cache, shared with a cell)."""
        self.records[name] = {"seconds": None, **info}

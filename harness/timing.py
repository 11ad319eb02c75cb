"""Phase records: every phase of a cell (load_dataset, load_model, index, query_encode, search,
retrieve, rerank, evaluate, ...) records its wall time, the figures its ``Meter`` takes (memory,
device peaks; see measure/meter.py) and whether it did the work or served it from a cache. A phase
record is plain data that lands in the cell's result JSON as it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .measure.meter import Meter

Listener = Callable[[str, "dict | None"], None]


class Phases:
    """Ordered phase records of one cell: ``{"index": {"seconds": 0.4, "cache": "miss", "figures": ...}}``.

    ``listener(name, None)`` is called when a phase starts and ``listener(name, record)`` when it
    ends, so an isolated cell can tell its parent where it is (and was, if it gets killed).
    """

    def __init__(self, meter: Meter | None = None, listener: Listener | None = None):
        self.records: dict[str, dict] = {}
        self.meter = meter or Meter()
        self.listener = listener
        self.failed: str | None = None  # the innermost phase an exception left

    @contextmanager
    def measure(self, name: str, **info) -> Iterator[dict]:
        """Measure the block; ``info`` (and what the block adds to the yielded dict) is recorded.

        The record is kept even when the block raises, so a failed cell shows where it failed.
        ``seconds`` is a plain copy of ``figures["wall"]["value"]`` for tools that want a number.
        """
        record = {"seconds": None, **info}
        self.records[name] = record
        if self.listener:
            self.listener(name, None)
        span = self.meter.start()
        try:
            yield record
        except BaseException:
            self.failed = self.failed or name
            raise
        finally:
            seconds, figures = self.meter.stop(span)
            record["seconds"] = round(seconds, 6)
            record["figures"] = {**figures, **record.get("figures", {})}
            if self.listener:
                self.listener(name, record)

    def note(self, name: str, **info) -> None:
        """A phase that did no work in this cell (served from a cache, shared with a cell).

        A note never replaces a phase measured in this cell: an index built for the latency loops
        stays on record when the quality run then finds it in memory.
        """
        if "figures" not in self.records.get(name, {}):
            self.records[name] = {"seconds": None, **info}

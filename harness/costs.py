"""Cost counters: what a pipeline's components did for each query, counted (not timed).

A component reports counts through ``ctx.costs.add(qid, name=value, ...)``: non-negative numbers
added to per-query counters. The runner counts two itself, for every pair-scoring call that goes
through it (the default ``Ranker.rerank``, nested scorers from ``ctx.scorer``; see scoring.py):

* ``scorer_calls``: calls of a ranker's ``score_pairs``;
* ``pairs_scored``: the (query, document) pairs those calls scored.

Components add their own as they like (``flops`` when they know them). A count given without a
query id (``qid=None``: work for no one query, such as scoring done while indexing) is kept apart
as ``unattributed``, never spread over the queries.

The cell result summarises the counters (``summary``): per counter its ``total`` over the queries,
``mean_per_query`` (that total over the cell's queries, a query with no count counting 0), the
``unattributed`` part when there is one, ``per_query`` when the suite keeps per-query values, and
``source``: how this cell got the counts. Counts a component gave for query ids the cell does not
have are kept apart as ``unknown_queries`` (how many ids, their total, a few examples), never in
the total, the mean or the per-query values. A stage whose run the cell computed counted them now
(``measured``); a stage served from memory (``memory``: computed by an earlier cell of this run)
or from the artifact cache (``cache``: computed by an earlier run) brings the counts recorded
when its run was computed, since counts, unlike times, do not depend on when or where they are
taken. Several sources join with ``+`` (``measured+cache``). A cached run recorded before counters
existed has no counts to bring: the counters it would have added are unknown, and every counter
of the cell says so (``incomplete``: the phases whose counts are missing), so no partial total is
ever shown as the whole.

Nothing here imports numpy or torch.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Iterator
from numbers import Real
from typing import Any

from .errors import ComponentError

SCHEMA = "harness.costs/1"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SOURCES = ("measured", "memory", "cache")
# The counters the runner keeps for pair scoring (scoring.py).
SCORER_CALLS = "scorer_calls"
PAIRS_SCORED = "pairs_scored"


class Costs:
    """Per-query counters of one cell (``ctx.costs``): ``add`` accumulates, ``summary`` reports."""

    def __init__(self) -> None:
        self._per_query: dict[str, dict[str, float]] = {}  # counter -> qid -> value
        self._unattributed: dict[str, float] = {}  # counter -> value
        self._sources: dict[str, set[str]] = {}  # counter -> where its counts came from
        self.incomplete: list[str] = []  # phases served from a cache entry that recorded no counts
        self._stages: set[str] = set()  # stage runs (cache keys) whose counts are in already
        self._paused = False

    def add(self, qid: str | None, **counts: float) -> None:
        """Add ``counts`` (counter name -> non-negative number) to query ``qid``'s counters;
        ``qid=None`` counts work for no one query (kept apart as ``unattributed``)."""
        self._add(qid, counts, "measured")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """While open, counts are dropped: the latency loops run the query path thousands of
        times, and a scorer a component kept from an earlier call must not count them here."""
        self._paused, before = True, self._paused
        try:
            yield
        finally:
            self._paused = before

    def _add(self, qid: str | None, counts: dict, source: str) -> None:
        if qid is not None and not isinstance(qid, str):
            raise ComponentError(f"ctx.costs.add: the query id must be a string or None, got {qid!r}")
        for name, value in counts.items():
            if not NAME.fullmatch(name):
                raise ComponentError(f"ctx.costs.add: counter name {name!r} is not an identifier")
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
                raise ComponentError(f"ctx.costs.add: counter {name!r} of query {qid!r} must be a finite number "
                                     f">= 0, got {value!r}")
        if self._paused:
            return
        for name, value in counts.items():
            value = int(value) if isinstance(value, int) else float(value)
            if qid is None:
                self._unattributed[name] = self._unattributed.get(name, 0) + value
                self._per_query.setdefault(name, {})
            else:
                counter = self._per_query.setdefault(name, {})
                counter[qid] = counter.get(qid, 0) + value
            self._sources.setdefault(name, set()).add(source)

    # -- what a stage counted, recorded with its run and restored with it ----------------------

    def mark(self) -> dict:
        """The counters as they are now; ``since(mark)`` is what was counted after."""
        return {"per_query": {name: dict(values) for name, values in self._per_query.items()},
                "unattributed": dict(self._unattributed), "incomplete": len(self.incomplete)}

    def since(self, mark: dict) -> dict:
        """What was counted after ``mark`` was taken, as plain data (what ``restore`` takes)."""
        per_query = {}
        for name, values in self._per_query.items():
            before = mark["per_query"].get(name, {})
            changed = {qid: value - before.get(qid, 0) for qid, value in values.items()
                       if value != before.get(qid, 0)}
            if changed or name not in mark["per_query"]:
                per_query[name] = changed
        unattributed = {name: value - mark["unattributed"].get(name, 0) for name, value in self._unattributed.items()
                        if value != mark["unattributed"].get(name, 0)}
        return {"schema": SCHEMA, "per_query": per_query, "unattributed": unattributed,
                "incomplete": self.incomplete[mark["incomplete"]:]}

    def restore(self, recorded: dict, source: str) -> None:
        """Add counts ``since`` recorded for a stage whose run is served from ``memory`` or the
        ``cache`` instead of being computed in this cell."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        for name, values in recorded.get("per_query", {}).items():
            self._per_query.setdefault(name, {})
            self._sources.setdefault(name, set()).add(source)
            for qid, value in values.items():
                self._add(qid, {name: value}, source)
        for name, value in recorded.get("unattributed", {}).items():
            self._add(None, {name: value}, source)
        self.incomplete += [p for p in recorded.get("incomplete", []) if p not in self.incomplete]

    def first_count(self, stage_key: str) -> bool:
        """Whether the stage run ``stage_key`` is counted here for the first time (and note it is):
        a run a cell gets twice was computed once, and counts once."""
        new = stage_key not in self._stages
        self._stages.add(stage_key)
        return new

    def unknown(self, phase: str) -> None:
        """A stage served from a cache entry that recorded no counts: what it counted is unknown."""
        if phase not in self.incomplete:
            self.incomplete.append(phase)

    # -- reading -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The counters, in the order they were first counted."""
        return list(self._per_query)

    def total(self, name: str) -> float:
        """A counter's sum over the queries (the unattributed part aside); 0 when never counted."""
        return _plain(math.fsum(self._per_query.get(name, {}).values()), self._per_query.get(name, {}).values())

    def per_query(self, name: str) -> dict[str, float]:
        return dict(self._per_query.get(name, {}))

    def totals(self, recorded: dict | None = None) -> dict[str, float]:
        """``{counter: sum over queries and unattributed}`` of these counts or of ``recorded``
        (a ``since`` record): what a phase record shows."""
        recorded = recorded if recorded is not None else self.since({"per_query": {}, "unattributed": {},
                                                                     "incomplete": 0})
        out = {}
        for name, values in recorded["per_query"].items():
            parts = [*values.values(), recorded["unattributed"].get(name, 0)]
            out[name] = _plain(math.fsum(parts), parts)
        return out

    def summary(self, queries: Iterable[str], per_query: bool = False) -> dict[str, dict[str, Any]]:
        """The cell result's ``costs``: ``{counter: {total, mean_per_query, queries, source,
        [unattributed], [incomplete], [per_query]}}`` over ``queries`` (the cell's query ids)."""
        queries = list(queries)
        known = set(queries)
        out = {}
        for name, values in self._per_query.items():
            mine = [v for qid, v in values.items() if qid in known]
            total = _plain(math.fsum(mine), mine)
            entry: dict[str, Any] = {
                "total": total,
                "mean_per_query": total / len(queries) if queries else None,
                "queries": len(queries),
                "source": "+".join(s for s in SOURCES if s in self._sources.get(name, ())),
            }
            if name in self._unattributed:
                entry["unattributed"] = self._unattributed[name]
            stray = sorted(qid for qid in values if qid not in known)
            if stray:  # counted for query ids the cell does not have: kept apart, never in the total
                parts = [values[qid] for qid in stray]
                entry["unknown_queries"] = {"queries": len(stray), "total": _plain(math.fsum(parts), parts),
                                            "examples": stray[:5]}
            if self.incomplete:
                entry["incomplete"] = list(self.incomplete)
            if per_query:
                entry["per_query"] = {qid: values.get(qid, 0) for qid in queries}
            out[name] = entry
        return out


def _plain(total: float, parts: Iterable) -> float | int:
    """``total`` as an int when every part was an int (pair counts stay whole numbers)."""
    return int(total) if all(isinstance(p, int) for p in parts) else total


def reported(entry: dict | None, name: str = "", source: str = "cell result") -> float | None:
    """The mean per query a leaderboard shows for counter ``name`` of a cell result (``source``
    names it in errors), or None when there is none or the counts are incomplete (a partial total
    is not shown as the whole). An entry that is not laid out as ``summary`` writes it (a
    ``mean_per_query`` that is a string, say) is a ``ResultsError``, not a silent blank."""
    if entry is None:
        return None
    check_entry(entry, name, source)
    if entry.get("incomplete"):
        return None
    return entry.get("mean_per_query")


def check_entry(entry: Any, name: str = "", source: str = "cell result") -> None:
    """Raise ``ResultsError`` unless ``entry`` is one counter's summary as ``Costs.summary``
    writes it: ``total`` and ``mean_per_query`` finite numbers >= 0 (``mean_per_query`` may be
    null), ``queries`` an integer, ``unattributed`` a number, ``per_query`` numbers by query id,
    ``incomplete`` a list of phase names."""
    from .cellresult import fail

    key = f"costs.{name}" if name else "costs"
    if not isinstance(entry, dict):
        raise fail(source, key, "an object (a counter's summary)", entry)
    for field, nullable in (("total", False), ("mean_per_query", True), ("unattributed", False)):
        if field not in entry or (nullable and entry[field] is None):
            continue
        if not _count(entry[field]):
            raise fail(source, f"{key}.{field}", "a finite number >= 0" + (" or null" if nullable else ""),
                       entry[field])
    if "queries" in entry and (isinstance(entry["queries"], bool) or not isinstance(entry["queries"], int)):
        raise fail(source, f"{key}.queries", "an integer", entry["queries"])
    per_query = entry.get("per_query")
    if per_query is not None:
        if not isinstance(per_query, dict):
            raise fail(source, f"{key}.per_query", "an object (query id: count)", per_query)
        for qid, value in per_query.items():
            if not _count(value):
                raise fail(source, f"{key}.per_query.{qid}", "a finite number >= 0", value)
    incomplete = entry.get("incomplete")
    if incomplete is not None and (not isinstance(incomplete, list) or not all(isinstance(p, str) for p in incomplete)):
        raise fail(source, f"{key}.incomplete", "a list of phase names", incomplete)


def check_summary(costs: Any, source: str = "cell result") -> None:
    """Raise ``ResultsError`` unless ``costs`` (a cell result's ``costs``) holds counter summaries
    (``check_entry``) under identifier names."""
    from .cellresult import fail

    if not isinstance(costs, dict):
        raise fail(source, "costs", "an object (counter: summary)", costs)
    for name, entry in costs.items():
        if not NAME.fullmatch(name):
            raise fail(source, f"costs.{name}", "a counter named by an identifier", name)
        check_entry(entry, name, source)


def _count(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    try:
        return math.isfinite(value) and value >= 0
    except OverflowError:  # an int beyond any float (10**400): not a count a cell can have made
        return False

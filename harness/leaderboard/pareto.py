"""Pareto fronts: the pipelines no other pipeline beats on quality and cost at once.

A point (quality, cost) *dominates* another when it is at least as good on both and strictly
better on one (higher quality; lower latency or memory, higher QPS). The front is the set of
points nothing dominates: for any pipeline off the front, another one is as good or better on
both counts. Identical points do not dominate each other, so both stay on the front. Fronts use
the point estimates: a pipeline just off the front may not differ significantly from one on it.

The cost axes are latency, throughput and memory (``COST_AXES``) and every cost counter the cells
report (``costs.pairs_scored``: mean per query, lower is better). Counters do not depend on the
hardware, so their fronts are drawn even when the timings' are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from .table import COST_AXES, COUNTER


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``a`` dominates ``b``; both are ``(quality, cost)`` with quality higher-is-better and
    cost lower-is-better (negate a higher-is-better cost such as QPS before calling)."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def pareto_front(points: dict[str, tuple[float, float]], *, lower_cost_is_better: bool = True) -> list[str]:
    """The names of the non-dominated points of ``{name: (quality, cost)}``, best quality first.

    O(n²), which is nothing at leaderboard sizes, and obviously right.
    """
    sign = 1.0 if lower_cost_is_better else -1.0
    oriented = {name: (q, sign * c) for name, (q, c) in points.items()}
    front = [name for name, p in oriented.items()
             if not any(dominates(other, p) for key, other in oriented.items() if key != name)]
    return sorted(front, key=lambda name: (-oriented[name][0], oriented[name][1]))


def fronts(rows: list[dict], quality: str | None, cost_refusal: str | None) -> tuple[dict, str | None]:
    """``({axis: {"front": [names], "points": n}}, note)`` for one dataset's rows (each with
    ``name``, ``status`` and ``values``). The note says why there is no front at all."""
    if quality is None:
        return {}, "no front: the suite has no metric"
    ok = [r for r in rows if r["status"] == "ok" and _number(r["values"].get(quality))]
    counters = {c: True for r in ok for c in r["values"] if c.startswith(COUNTER)}
    axes = counters if cost_refusal else {**COST_AXES, **counters}
    out = {}
    for axis, lower in axes.items():
        points = {r["name"]: (r["values"][quality], r["values"][axis]) for r in ok if _number(r["values"].get(axis))}
        if points:
            out[axis] = {"front": pareto_front(points, lower_cost_is_better=lower), "points": len(points)}
    if not out and cost_refusal:
        return {}, "no front: the cells were measured on different hardware (re-render with --mixed-hardware)"
    if not out:
        return {}, ("no front: no latency, throughput or memory figures (set measure.latency and "
                    "measure.memory to measure them)")
    return out, None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value

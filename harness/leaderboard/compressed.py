"""Compressed vs parent: each compressed pipeline beside its uncompressed parent (parents.py).

Per dataset and device, for each compressed pipeline whose parent has a cell there: every
metric's difference (compressed - parent), the cost ratios (compressed / parent: p50 and p95
latency, QPS, peak memory; only where the base table shows cost), the model size ratio
(sizes.py) and, when ``[stats] margin`` is set, the non-inferiority verdict on ``margin_metric``
(harness.stats.noninferiority, with the run's test, alpha and seed). The leaderboard dict holds
it as ``compressed``; the renderers show it as its own table.
"""

from __future__ import annotations

from ..cellresult import CellResult
from ..stats import StatsError, non_inferiority_verdict
from ..stats.noninferiority import RULE
from .parents import find_parents
from .sizes import size_comparison
from .table import COST_AXES


def _ratio(value, parent):
    if value is None or parent is None or isinstance(value, str) or isinstance(parent, str) or parent <= 0:
        return None
    return value / parent


def compressed_section(rows: list[dict], by_key: dict, cells: list[CellResult], metrics: list[str], settings,
                       notes: list[str]) -> dict | None:
    """The ``compressed`` entry of the leaderboard dict, or None when no pipeline of the run is
    compressed or declares a parent."""
    parents = find_parents(cells)
    if not parents:
        return None
    notes.extend(p.note for p in parents if p.note)
    metric = settings.margin_metric or (metrics[0] if metrics else None)
    margin = settings.margin
    if margin is not None and metric not in metrics:
        notes.append(f"non-inferiority: the margin metric {metric!r} is not a metric of this run: no verdicts")
        margin = None
    found = {p.pipeline: p for p in parents if p.parent}
    by_cell = {(r["dataset"], r["pipeline"], r["device"]): r for r in rows}
    pairs = []
    for row in rows:
        parent = found.get(row["pipeline"])
        if parent is None:
            continue
        parent_row = by_cell.get((row["dataset"], parent.parent, row["device"]))
        where = f"{row['dataset']} ({row['device']}), {row['pipeline']} vs {parent.parent}"
        pairs.append(_pair(row, parent.parent, parent_row, parent.how, by_key, metrics, metric, margin, settings,
                           notes, where))
    return {"metric": metric, "margin": margin, "test": settings.test, "alpha": settings.alpha,
            "rule": RULE if margin is not None else None,
            "parents": [p.to_dict() for p in parents], "rows": pairs}


def _pair(row: dict, parent_name: str, parent_row: dict | None, how: str, by_key: dict, metrics: list[str],
          metric: str | None, margin: float | None, settings, notes: list[str], where: str) -> dict:
    out = {"dataset": row["dataset"], "pipeline": row["pipeline"], "device": row["device"], "parent": parent_name,
           "how": how, "status": "ok", "quality": {}, "cost": {}, "size": None, "verdict": None}
    if parent_row is None:
        out["status"] = "parent not run"
        notes.append(f"{where}: the parent has no cell here: nothing to compare")
        return out
    if row["status"] != "ok" or parent_row["status"] != "ok":
        out["status"] = "failed" if row["status"] != "ok" else "parent failed"
        return out
    for name in metrics:
        value, base = row["values"].get(name), parent_row["values"].get(name)
        out["quality"][name] = {"value": value, "parent": base,
                                "difference": None if value is None or base is None else value - base}
    for axis in COST_AXES:
        value, base = row["values"].get(axis), parent_row["values"].get(axis)
        if value is not None or base is not None:
            out["cost"][axis] = {"value": value, "parent": base, "ratio": _ratio(value, base)}
    cell, parent = by_key[_key(row)], by_key[_key(parent_row)]
    out["size"] = size_comparison(cell, parent)
    if margin is not None:
        out["verdict"] = _verdict(cell, parent, metric, margin, settings, notes, where)
    return out


def _key(row: dict) -> tuple[str, str, str]:
    return row["dataset"], row["pipeline"], row["device"]


def _verdict(cell: CellResult, parent: CellResult, metric: str, margin: float, s, notes: list[str],
             where: str) -> dict | None:
    values, base = cell.per_query.get(metric), parent.per_query.get(metric)
    if not values or not base:
        notes.append(f"{where}: no per-query {metric} values (output.per_query = false?): no non-inferiority verdict")
        return None
    try:
        found = non_inferiority_verdict(base, values, margin, alpha=s.alpha, test=s.test,
                                        samples=s.permutation_samples, seed=s.seed)
    except StatsError as exc:
        notes.append(f"{where}: no non-inferiority verdict ({exc})")
        return None
    return {"metric": metric, **found.to_dict()}

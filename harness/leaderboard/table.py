"""The leaderboard's base table: one row per cell, quality metrics next to cost.

Cost columns: single-stream p50/p95 latency per query (ms), offline throughput (QPS), the cell's
peak resident memory (MiB), and the wall seconds of the index, retrieve and rerank phases. Cost
measured on different hardware does not belong in one ranking: when the cells' hardware
fingerprints differ, the cost columns are left out (and the reason given) unless
``mixed_hardware`` is set, which adds a ``hardware`` column instead.
"""

from __future__ import annotations

from ..measure.hardware import describe

TIME_PHASES = ("index", "retrieve", "rerank")
LATENCY = ("p50", "p95")
MIB = 2**20
# The cost figures a Pareto front can be drawn against: column -> whether lower is better.
COST_AXES = {"p50 ms": True, "p95 ms": True, "QPS": False, "peak MiB": True}


def leaderboard_frame(manifest: dict, cells: list[dict], mixed_hardware: bool = False):
    """A pandas DataFrame: dataset, pipeline, device, each metric, cost columns, status."""
    import pandas as pd

    rows = base_rows(manifest, cells, mixed_hardware)
    frame = pd.DataFrame(rows)
    return frame if frame.empty else frame.dropna(axis=1, how="all")


def base_rows(manifest: dict, cells: list[dict], mixed_hardware: bool = False) -> list[dict]:
    """The rows of ``leaderboard_frame`` as dicts, in leaderboard order: datasets in suite order,
    then the first metric descending (ties keep cell order), failed cells last."""
    metrics = metric_labels(manifest, cells)
    dataset_order = {name: i for i, name in enumerate(manifest.get("datasets", []))}
    show_cost = mixed_hardware or not hardware_refusal(cells)
    rows = []
    for cell in cells:
        info = cell["cell"]
        row = {"dataset": info["dataset"], "pipeline": info["pipeline"], "device": info["device"]}
        for metric in metrics:
            row[metric] = cell.get("metrics", {}).get(metric)
        if show_cost:
            row.update(_cost(cell))
        if show_cost and mixed_hardware:
            row["hardware"] = (cell.get("hardware") or {}).get("hash")
        row["status"] = "ok" if cell["status"] == "ok" else f"failed: {cell['error']['type']}"
        rows.append(row)

    def order(item):
        number, row = item
        value = row.get(metrics[0]) if metrics else None
        missing = value is None or value != value
        return (dataset_order.get(row["dataset"], len(dataset_order)), missing, 0 if missing else -value, number)

    return [row for _, row in sorted(enumerate(rows), key=order)]


def metric_labels(manifest: dict, cells: list[dict]) -> list[str]:
    """The suite's metrics in order, or every metric the cells hold, sorted."""
    return list(manifest.get("metrics") or sorted({m for c in cells for m in c.get("metrics", {})}))


def _cost(cell: dict) -> dict:
    """Latency, QPS and peak memory of a cell that finished (a failed cell's partial figures rank
    nothing), and the seconds of its phases (shown also for failed cells: where the time went)."""
    ok = cell["status"] == "ok"
    latency = (cell.get("latency") or {}) if ok else {}
    single = (latency.get("single_stream") or {}).get("latency", {})
    row = {f"{name} ms": single.get(name, {}).get("value") for name in LATENCY}
    row["QPS"] = ((latency.get("offline") or {}).get("qps") or {}).get("value")
    peak = ((cell.get("memory") or {}).get("peak_rss") or {}).get("value") if ok else None
    row["peak MiB"] = peak / MIB if peak is not None else None
    for phase in TIME_PHASES:
        row[f"{phase} s"] = _phase_seconds(cell.get("phases", {}), phase)
    return row


def cost_spread(cell: dict) -> dict:
    """Error bars of the cost figures, where the result has them: the bootstrap intervals of p50
    and p95, and the slowest and fastest batch for QPS. ``{column: [low, high]}``."""
    latency = cell.get("latency") or {} if cell["status"] == "ok" else {}
    single = (latency.get("single_stream") or {}).get("latency", {})
    out = {}
    for name in LATENCY:
        ci = (single.get(name) or {}).get("ci")
        if ci:
            out[f"{name} ms"] = [ci["low"], ci["high"]]
    spread = ((latency.get("offline") or {}).get("qps") or {}).get("spread")
    if spread:
        out["QPS"] = [spread["min"], spread["max"]]
    return out


def _phase_seconds(phases: dict, name: str) -> float | str | None:
    """Seconds the phase took in this run, or "cached" when it did no work here."""
    record = phases.get(name)
    if record is None:
        return None
    if record.get("cache") in ("hit", "memory"):
        return "cached"
    return record.get("seconds")


def hardware_refusal(cells: list[dict]) -> str | None:
    """Why the cells' cost figures cannot share a ranking (different hardware), or None."""
    groups: dict[str | None, list[dict]] = {}
    for cell in cells:
        if cell["status"] == "ok":
            hardware = cell.get("hardware") or {}
            groups.setdefault(hardware.get("hash"), []).append(hardware)
    if len(groups) < 2:
        return None
    seen = "; ".join(f"{len(members)} cell(s) on {describe(members[0]) if key else 'unrecorded hardware'}"
                     for key, members in groups.items())
    return (f"cost columns left out: the cells were measured on {len(groups)} different machines ({seen}); "
            "timings and memory from different hardware do not rank together. Compare quality here, or "
            "re-render with --mixed-hardware to show cost side by side with a hardware column")

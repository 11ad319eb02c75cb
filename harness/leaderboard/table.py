"""The leaderboard's base table: one row per cell, quality metrics next to cost.

Cost columns: single-stream p50/p95 latency per query (ms), offline throughput (QPS), the cell's
peak resident memory (MiB), and the wall seconds of the index, retrieve and rerank phases. Cost
measured on different hardware does not belong in one ranking: when the cells' hardware
fingerprints differ, the cost columns are left out (and the reason given) unless
``mixed_hardware`` is set, which adds a ``hardware`` column instead.

Cost counters (the cell result's ``costs``, harness/costs.py) add a column each, ``costs.<name>``:
the counter's mean per query. Counts do not depend on the hardware, so they are shown either way;
a counter whose counts are incomplete (a cached run recorded before counters existed) shows none.
Each is a Pareto axis too (``cost_axes``), lower being better.

``settings``: what the pipeline's first stage computed with, from its stage record's
``identity`` (``settings_text``): ``bm25: k1=1.5 b=0.75 method=lucene ... preset=bm25s``, so
two BM25 pipelines are told apart by their settings, not only by their names.
"""

from __future__ import annotations

from ..cellresult import CellResult, Phase, as_results
from ..costs import reported
from ..measure.hardware import describe

TIME_PHASES = ("index", "retrieve", "rerank")
LATENCY = ("p50", "p95")
MIB = 2**20
# The cost figures a Pareto front can be drawn against: column -> whether lower is better.
COST_AXES = {"p50 ms": True, "p95 ms": True, "QPS": False, "peak MiB": True}
COUNTER = "costs."  # a cost counter's column: costs.<name>, its mean per query


def cost_axes(columns) -> dict[str, bool]:
    """The Pareto axes of a leaderboard with these columns: ``COST_AXES`` and every cost counter."""
    return {**COST_AXES, **{c: True for c in columns if c.startswith(COUNTER)}}


def counter_names(cells: list[CellResult]) -> list[str]:
    """The cost counters any cell reports, in the order they first appear."""
    return list(dict.fromkeys(name for cell in cells for name in (cell.costs or {})))


def cached_counts(cell: CellResult) -> list[str]:
    """The counter columns of ``cell`` whose counts came (wholly or partly) from the artifact cache:
    counted when an earlier run computed the stage, not in this run."""
    return [COUNTER + name for name, entry in (cell.costs or {}).items()
            if isinstance(entry, dict) and "cache" in str(entry.get("source", "")).split("+")]


def leaderboard_frame(manifest: dict, cells: list[CellResult], mixed_hardware: bool = False):
    """A pandas DataFrame: dataset, pipeline, device, each metric, cost columns, status."""
    import pandas as pd

    rows = base_rows(manifest, as_results(cells), mixed_hardware)
    frame = pd.DataFrame(rows)
    return frame if frame.empty else frame.dropna(axis=1, how="all")


def base_rows(manifest: dict, cells: list[CellResult], mixed_hardware: bool = False) -> list[dict]:
    """The rows of ``leaderboard_frame`` as dicts, in leaderboard order: datasets in suite order,
    then the first metric descending (ties keep cell order), failed cells last."""
    cells = as_results(cells)
    metrics = metric_labels(manifest, cells)
    dataset_order = {name: i for i, name in enumerate(manifest.get("datasets", []))}
    show_cost = mixed_hardware or not hardware_refusal(cells)
    counters = counter_names(cells)
    rows = []
    for cell in cells:
        info = cell.cell
        row = {"dataset": info.dataset, "pipeline": info.pipeline, "device": info.device}
        for metric in metrics:
            row[metric] = cell.metrics.get(metric)
        if show_cost:
            row.update(_cost(cell))
        for name in counters:  # counts, not timings: shown whatever the hardware
            entry = (cell.costs or {}).get(name)
            row[COUNTER + name] = reported(entry, name, f"cell {cell.cell.id}") if cell.ok else None
        if show_cost and mixed_hardware:
            row["hardware"] = cell.hardware.hash if cell.hardware else None
        row["settings"] = settings_text(cell)
        row["status"] = "ok" if cell.ok else f"failed: {cell.error.type if cell.error else 'unknown'}"
        rows.append(row)

    def order(item):
        number, row = item
        value = row.get(metrics[0]) if metrics else None
        missing = value is None or value != value
        return (dataset_order.get(row["dataset"], len(dataset_order)), missing, 0 if missing else -value, number)

    return [row for _, row in sorted(enumerate(rows), key=order)]


def settings_text(cell: CellResult) -> str | None:
    """``plugin: key=value key=value ...`` from the first stage's recorded identity: its plain values
    (strings, numbers, booleans, null as ``none``), leaving out nested tables and lists and
    content hashes (64 hex digits); None when the cell recorded no identity."""
    stage = cell.stages[0] if cell.stages else None
    identity = stage.identity if stage else None
    if not isinstance(identity, dict) or not identity:
        return None
    parts = []
    for key, value in identity.items():
        if value is None:
            value = "none"
        elif not isinstance(value, (str, int, float, bool)):
            continue
        elif isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            continue
        parts.append(f"{key}={value}")
    # spaces, not commas, between settings: a CSV field stays unquoted
    return f"{stage.plugin}: {' '.join(parts)}" if stage.plugin else " ".join(parts)


def metric_labels(manifest: dict, cells: list[CellResult]) -> list[str]:
    """The suite's metrics in order, or every metric the cells hold, sorted."""
    return list(manifest.get("metrics") or sorted({m for c in cells for m in c.metrics}))


def _cost(cell: CellResult) -> dict:
    """Latency, QPS and peak memory of a cell that finished (a failed cell's partial figures rank
    nothing), and the seconds of its phases (shown also for failed cells: where the time went)."""
    single = single_stream_figures(cell)
    row = {f"{name} ms": single[name].value if name in single else None for name in LATENCY}
    qps = cell.latency.offline.qps if cell.ok and cell.latency and cell.latency.offline else None
    row["QPS"] = qps.value if qps else None
    peak = cell.memory.peak_rss if cell.ok and cell.memory else None
    row["peak MiB"] = peak.value / MIB if peak and peak.value is not None else None
    for phase in TIME_PHASES:
        row[f"{phase} s"] = _phase_seconds(cell.phases, phase)
    return row


def single_stream_figures(cell: CellResult) -> dict:
    """The single-stream latency figures (p50, p95, ...) of a cell that finished, else none."""
    latency = cell.latency if cell.ok else None
    return latency.single_stream.latency if latency and latency.single_stream else {}


def cost_spread(cell: CellResult) -> dict:
    """Error bars of the cost figures, where the result has them: the bootstrap intervals of p50
    and p95, and the slowest and fastest batch for QPS. ``{column: [low, high]}``."""
    single = single_stream_figures(cell)
    out = {}
    for name in LATENCY:
        ci = single[name].ci if name in single else None
        if ci:
            out[f"{name} ms"] = [ci.low, ci.high]
    qps = cell.latency.offline.qps if cell.ok and cell.latency and cell.latency.offline else None
    if qps and qps.spread:
        out["QPS"] = [qps.spread.min, qps.spread.max]
    return out


def _phase_seconds(phases: dict[str, Phase], name: str) -> float | str | None:
    """Seconds the phase took in this run, or "cached" when it did no work here."""
    record = phases.get(name)
    if record is None:
        return None
    if record.cache in ("hit", "memory"):
        return "cached"
    return record.seconds


def hardware_refusal(cells: list[CellResult]) -> str | None:
    """Why the cells' cost figures cannot share a ranking (different hardware), or None."""
    groups: dict[str | None, list[dict]] = {}
    for cell in as_results(cells):
        if cell.ok:
            hardware = cell.hardware.to_dict() if cell.hardware else {}
            groups.setdefault(hardware.get("hash"), []).append(hardware)
    if len(groups) < 2:
        return None
    seen = "; ".join(f"{len(members)} cell(s) on {describe(members[0]) if key else 'unrecorded hardware'}"
                     for key, members in groups.items())
    return (f"cost columns left out: the cells were measured on {len(groups)} different machines ({seen}); "
            "timings and memory from different hardware do not rank together. Compare quality here, or "
            "re-render with --mixed-hardware to show cost side by side with a hardware column")

"""Leaderboards: one row per cell, quality metrics next to cost, as Markdown and CSV.

Rendered from the cell result files alone, so ``harness leaderboard RUN_DIR`` re-renders any
results folder, including one copied from another machine.

Cost columns: single-stream p50/p95 latency per query (ms), offline throughput (QPS), the cell's
peak resident memory (MiB), and the wall seconds of the index, retrieve and rerank phases. Cost
measured on different hardware does not belong in one ranking: when the cells' hardware
fingerprints differ, the cost columns are left out (and the reason given) unless
``mixed_hardware`` is set, which adds a ``hardware`` column instead.
"""

from __future__ import annotations

from pathlib import Path

from .measure.hardware import describe
from .results import load_run, write_atomic

TIME_PHASES = ("index", "retrieve", "rerank")
LATENCY = ("p50", "p95")
MIB = 2**20


def leaderboard_frame(manifest: dict, cells: list[dict], mixed_hardware: bool = False):
    """A pandas DataFrame: dataset, pipeline, device, each metric, cost columns, status."""
    import pandas as pd

    metrics = manifest.get("metrics") or sorted({m for c in cells for m in c.get("metrics", {})})
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
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["_dataset"] = frame["dataset"].map(lambda d: dataset_order.get(d, len(dataset_order)))
    sort = ["_dataset"] + ([metrics[0]] if metrics else [])
    frame = frame.sort_values(sort, ascending=[True] + [False] * (len(sort) - 1), na_position="last", kind="stable")
    frame = frame.drop(columns="_dataset").reset_index(drop=True)
    return frame.dropna(axis=1, how="all")


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


def render_markdown(manifest: dict, frame, refusal: str | None = None) -> str:
    from tabulate import tabulate

    env = manifest.get("environment", {})
    lines = [
        f"# {manifest.get('suite')} — run {manifest.get('run_id')}",
        "",
        f"- status: {manifest.get('status')}; started {manifest.get('started')}, "
        f"finished {manifest.get('finished', '-')}",
        f"- harness {manifest.get('harness')}; Python {env.get('python')}; host {env.get('host')}; "
        f"CPU {env.get('cpu')}",
        f"- retrieval depth k = {manifest.get('k')}; metrics: trec_eval measures (pytrec_eval), mean over every "
        "judged query, a query with no results scores 0 (trec_eval -c)",
        "- times: wall seconds of each phase in this run; `cached` = served from the artifact cache or "
        "shared with an earlier cell, not measured here",
    ]
    if any(c in frame.columns for c in ("p50 ms", "QPS", "peak MiB")):
        lines.append(_cost_line(manifest))
    if refusal:
        lines.append(f"- {refusal}")
    lines.append("")
    if frame.empty:
        return "\n".join(lines + ["No cell results."]) + "\n"
    rows = [[_cell_text(column, value) for column, value in row.items()] for row in frame.to_dict("records")]
    align = ["left" if c in ("dataset", "pipeline", "device", "hardware", "status") else "right"
             for c in frame.columns]
    table = tabulate(rows, headers=list(frame.columns), tablefmt="github", disable_numparse=True, colalign=align)
    return "\n".join(lines + [table]) + "\n"


def _cost_line(manifest: dict) -> str:
    measure = manifest.get("measure") or {}
    n = measure.get("latency_queries")
    sample = f"a seeded sample of up to {n} queries" if n else "all queries"
    hardware = manifest.get("hardware")
    where = f" on {describe(hardware)}" if hardware else ""
    threads = measure.get("threads") or "default"
    return (f"- cost{where}: p50/p95 ms = single-stream latency per query ({sample}, ≥ "
            f"{measure.get('repetitions')} passes, threads {threads}); QPS = offline, the same queries in one "
            "batch; peak MiB = largest resident memory of the cell's phases (isolation "
            f"{(manifest.get('executor') or {}).get('isolation')}); methods in each cell's JSON")


def _cell_text(column: str, value) -> str:
    """Metrics with 4 decimals, seconds and milliseconds with 3, QPS and MiB with 1, gaps as "-"."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        if column.endswith((" s", " ms")):
            return f"{value:.3f}"
        return f"{value:.1f}" if column in ("QPS", "peak MiB") else f"{value:.4f}"
    return str(value)


def write_leaderboard(run_dir: str | Path, mixed_hardware: bool = False) -> list[Path]:
    """Write leaderboard.md and leaderboard.csv (as the run's output settings ask)."""
    run_dir = Path(run_dir)
    manifest, cells = load_run(run_dir)
    frame = leaderboard_frame(manifest, cells, mixed_hardware)
    refusal = None if mixed_hardware else hardware_refusal(cells)
    formats = (manifest.get("output") or {}).get("leaderboard", ["md", "csv"])
    written = []
    if "md" in formats:
        write_atomic(run_dir / "leaderboard.md", render_markdown(manifest, frame, refusal))
        written.append(run_dir / "leaderboard.md")
    if "csv" in formats:
        write_atomic(run_dir / "leaderboard.csv", frame.to_csv(index=False))
        written.append(run_dir / "leaderboard.csv")
    return written

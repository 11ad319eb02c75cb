"""Leaderboards: one row per cell, quality metrics next to phase times, as Markdown and CSV.

Rendered from the cell result files alone, so ``harness leaderboard RUN_DIR`` re-renders any
results folder, including one copied from another machine.
"""

from __future__ import annotations

from pathlib import Path

from .results import load_run, write_atomic

TIME_PHASES = ("index", "retrieve", "rerank")


def leaderboard_frame(manifest: dict, cells: list[dict]):
    """A pandas DataFrame: dataset, pipeline, device, each metric, phase seconds, status."""
    import pandas as pd

    metrics = manifest.get("metrics") or sorted({m for c in cells for m in c.get("metrics", {})})
    dataset_order = {name: i for i, name in enumerate(manifest.get("datasets", []))}
    rows = []
    for cell in cells:
        info = cell["cell"]
        row = {"dataset": info["dataset"], "pipeline": info["pipeline"], "device": info["device"]}
        for metric in metrics:
            row[metric] = cell.get("metrics", {}).get(metric)
        for phase in TIME_PHASES:
            row[f"{phase} s"] = _phase_seconds(cell.get("phases", {}), phase)
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


def _phase_seconds(phases: dict, name: str) -> float | str | None:
    """Seconds the phase took in this run, or "cached" when it did no work here."""
    record = phases.get(name)
    if record is None:
        return None
    if record.get("cache") in ("hit", "memory"):
        return "cached"
    return record.get("seconds")


def render_markdown(manifest: dict, frame) -> str:
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
        "",
    ]
    if frame.empty:
        return "\n".join(lines + ["No cell results."]) + "\n"
    rows = [[_cell_text(column, value) for column, value in row.items()] for row in frame.to_dict("records")]
    align = ["left" if c in ("dataset", "pipeline", "device", "status") else "right" for c in frame.columns]
    table = tabulate(rows, headers=list(frame.columns), tablefmt="github", disable_numparse=True, colalign=align)
    return "\n".join(lines + [table]) + "\n"


def _cell_text(column: str, value) -> str:
    """Metrics with 4 decimals, seconds with 3, gaps as "-"."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if column.endswith(" s") else f"{value:.4f}"
    return str(value)


def write_leaderboard(run_dir: str | Path) -> list[Path]:
    """Write leaderboard.md and leaderboard.csv (as the run's output settings ask)."""
    run_dir = Path(run_dir)
    manifest, cells = load_run(run_dir)
    frame = leaderboard_frame(manifest, cells)
    formats = (manifest.get("output") or {}).get("leaderboard", ["md", "csv"])
    written = []
    if "md" in formats:
        write_atomic(run_dir / "leaderboard.md", render_markdown(manifest, frame))
        written.append(run_dir / "leaderboard.md")
    if "csv" in formats:
        write_atomic(run_dir / "leaderboard.csv", frame.to_csv(index=False))
        written.append(run_dir / "leaderboard.csv")
    return written

"""Leaderboards: quality next to cost, with intervals, significance, tie groups and Pareto fronts.

Rendered from the cell result files alone, so ``harness leaderboard RUN_DIR`` re-renders any
results folder, including one copied from another machine. The numbers are computed once
(analysis.py) into ``leaderboard.json``; the Markdown, CSV and HTML renderers read that dict and
nothing else. docs/leaderboards.md describes every output.

* table.py: the base rows (metrics, cost, status) and the hardware check;
* analysis.py + significance.py: intervals, tests against the baseline, tie groups, macro means;
* parents.py, sizes.py, compressed.py: each compressed pipeline beside its uncompressed parent
  (quality deltas, cost and size ratios, the non-inferiority verdict);
* stages.py: each cascade stage by stage (quality, candidate recall, oracle ceiling, flags), and
  its CSV, ``leaderboard-stages.csv``;
* pareto.py: the fronts; render.py: Markdown and CSV; html.py, page.py, plotjs.py: the HTML page.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..cellresult import LEADERBOARD_FORMATS
from ..results import load_run, write_atomic
from . import stages
from .analysis import SCHEMA, analyse
from .table import hardware_refusal, leaderboard_frame

FORMATS = LEADERBOARD_FORMATS  # what run.json's output.leaderboard may list (checked when it is read)
FILES = {"md": "leaderboard.md", "csv": "leaderboard.csv", "json": "leaderboard.json", "html": "leaderboard.html"}

__all__ = ["FORMATS", "SCHEMA", "analyse", "hardware_refusal", "leaderboard_frame", "render_csv", "render_html",
           "render_markdown", "write_leaderboard"]


def write_leaderboard(run_dir: str | Path, mixed_hardware: bool = False, *, baseline: str | None = None,
                      intervals: str | None = None, formats=None, margin: float | None = None,
                      margin_metric: str | None = None) -> list[Path]:
    """Compute the leaderboard of ``run_dir`` and write the formats the run's output settings ask
    for (``formats`` overrides them; ``baseline``, ``intervals``, ``margin`` and ``margin_metric``
    override its ``[stats]`` settings); returns the paths written, in ``FORMATS`` order (with the CSV,
    ``leaderboard-stages.csv`` when the run has cascades)."""
    run_dir = Path(run_dir)
    manifest, cells = load_run(run_dir)  # ResultsError naming a damaged file
    data = clean(analyse(manifest, cells, mixed_hardware=mixed_hardware, baseline=baseline, intervals=intervals,
                         margin=margin, margin_metric=margin_metric))
    wanted = formats if formats is not None else (manifest.get("output") or {}).get("leaderboard", FORMATS)
    renderers = {"md": render_markdown, "csv": render_csv, "html": render_html,
                 "json": lambda d: json.dumps(d, indent=1, ensure_ascii=False, allow_nan=False) + "\n"}
    written = []
    for fmt in FORMATS:
        if fmt not in wanted:
            continue
        write_atomic(run_dir / FILES[fmt], renderers[fmt](data))
        written.append(run_dir / FILES[fmt])
        if fmt == "csv":  # the cascades' stages, one row each, beside it
            staged = stages.csv_text(data)
            if staged is not None:
                write_atomic(run_dir / stages.CSV_FILE, staged)
                written.append(run_dir / stages.CSV_FILE)
            else:  # none now: an earlier rendering's file would contradict leaderboard.json
                (run_dir / stages.CSV_FILE).unlink(missing_ok=True)
    return written


def clean(value):
    """JSON-safe: NaN and infinities (a t statistic without variance) become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def render_markdown(data: dict) -> str:
    from .render import render_markdown as render

    return render(data)


def render_csv(data: dict) -> str:
    from .render import render_csv as render

    return render(data)


def render_html(data: dict) -> str:
    from .html import render_html as render

    return render(data)

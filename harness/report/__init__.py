"""Run histories and run comparisons: ``harness report`` and ``harness compare``.

* rules.py: when a change counts (quality: paired test; latency: rank test plus a minimum change);
* compare.py: two runs side by side (``compare_runs``);
* history.py: a suite's runs as a report: trends and the latest run's regressions (``build_report``);
* html.py: ``report.html``;
* index.py: ``index.html`` over the suites of a results folder (``harness report results/``).

docs/leaderboards.md describes the rules, the outputs and the exit statuses.
"""

from __future__ import annotations

import json
import os
from importlib import import_module
from pathlib import Path
from urllib.parse import quote

# Loaded on first use, so that the CLI can wire in commands.py without importing numpy and scipy.
_EXPORTS = {"compare_runs": "compare", "render_text": "compare", "build_report": "history",
            "summary_text": "history", "suite_folders": "index", "write_reports": "index"}
__all__ = ["build_report", "compare_runs", "render_text", "suite_folders", "summary_text", "write_report",
           "write_reports"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def write_report(results_dir: str | Path, out_dir: str | Path | None = None, **options) -> tuple[dict, list[Path]]:
    """Build the report of ``results_dir`` and write ``report.json`` and ``report.html`` into
    ``out_dir`` (default: ``results_dir``); ``options`` as ``build_report``."""
    from ..leaderboard import clean
    from ..results import write_atomic
    from .history import build_report
    from .html import render_report_html

    report = clean(build_report(results_dir, **options))
    out = Path(out_dir or results_dir)
    prefix = Path(os.path.relpath(Path(results_dir).resolve(), out.resolve())).as_posix()
    if prefix != ".":  # the runs' leaderboard links, from where report.html is
        for run in report["runs"]:
            if run["leaderboard"]:
                run["leaderboard"] = f"{quote(prefix)}/{run['leaderboard']}"
    paths = [out / "report.json", out / "report.html"]
    write_atomic(paths[0], json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    write_atomic(paths[1], render_report_html(report))
    return report, paths

"""The Python API, mirroring the command line for notebook users (see harness/__init__.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cellresult import CellResult
from .components import Progress
from .errors import NotFoundError, UsageError
from .results import MANIFEST, load_run, run_dirs
from .runner import RunOutcome, run_suite
from .suite import Suite, load_suite, validate

__all__ = ["Results", "compare", "load_results", "load_suite", "report", "run", "validate"]


def run(suite: Suite | str | Path, *, overrides=(), progress: Progress | None = None, **options) -> RunOutcome:
    """Run a suite (a ``Suite`` or a path); options as ``harness run``: ``pipelines``,
    ``datasets``, ``devices``, ``new``, ``resume``, ``force``, ``results_dir``; ``registry``
    (components to use instead of the installed plugins) also validates a suite given as a path."""
    if not isinstance(suite, Suite):
        suite = load_suite(suite, overrides, options.get("registry"))
    elif overrides:  # a Suite is already validated: overrides would be silently lost
        raise UsageError("overrides apply to a suite file: pass them to load_suite(path, overrides)")
    return run_suite(suite, progress=progress, **options)


@dataclass
class Results:
    """A results folder as pandas DataFrames.

    ``cells``: one row per cell (dataset, pipeline, device, status, each metric, phase seconds);
    ``per_query``: long form (dataset, pipeline, device, metric, query, value);
    ``manifest`` (``run.json``) and ``raw`` (the cells' ``CellResult``, checked as read; see
    harness/cellresult.py) for everything else.
    """

    run_dir: Path
    manifest: dict
    raw: list[CellResult]

    @property
    def cells(self):
        import pandas as pd

        rows = []
        for cell in self.raw:
            info = cell.cell
            row = {"dataset": info.dataset, "pipeline": info.pipeline, "device": info.device,
                   "status": cell.status, "error": cell.error.message if cell.error else None}
            row.update(cell.metrics)
            for phase, record in cell.phases.items():
                row[f"{phase}_seconds"] = record.seconds
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def per_query(self):
        import pandas as pd

        rows = [
            (c.cell.dataset, c.cell.pipeline, c.cell.device, metric, qid, value)
            for c in self.raw
            for metric, values in c.per_query.items()
            for qid, value in values.items()
        ]
        return pd.DataFrame(rows, columns=["dataset", "pipeline", "device", "metric", "query", "value"])


def load_results(path: str | Path) -> Results:
    """A run folder, or a suite's results folder (its latest run)."""
    path = Path(path)
    if not (path / MANIFEST).is_file():
        runs = run_dirs(path)
        if not runs:
            raise NotFoundError(f"{path} holds no harness run (no {MANIFEST} in it or its subfolders)")
        path = runs[-1]
    manifest, cells = load_run(path)  # checked: ResultsError naming a damaged or foreign file
    return Results(path, manifest, cells)


def compare(run_a: str | Path, run_b: str | Path, **options) -> dict:
    """``harness compare`` as a dict (``harness.compare/1``): run B against run A, per pipeline and
    metric, with paired tests and cost ratios; options ``threshold``, ``cost_alpha``,
    ``mixed_hardware`` (docs/leaderboards.md)."""
    from .report import compare_runs

    return compare_runs(run_a, run_b, **options)


def report(results_dir: str | Path, **options) -> dict:
    """``harness report`` as a dict (``harness.report/1``), without writing files: trends over a
    suite's runs and the latest run's regressions (``report["regressions"]``); options
    ``reference``, ``threshold``, ``cost_alpha``, ``mixed_hardware``."""
    from .report import build_report

    return build_report(results_dir, **options)

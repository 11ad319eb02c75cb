"""Running a suite: each cell's result written the moment it is complete.

One cell is the unit of work, caching and failure. A cell that raises is recorded as failed with
its error and the others still run. A killed run loses at most the cells in flight: the next
``harness run`` of the suite resumes it (see results.py). One run at a time per suite folder: the
run holds its lock (results.RunLock) throughout. What a cell does lives in cell.py, stage
execution and caching in stages.py, where cells run in executors/: the local executor (one cell
at a time, in this process or each in a fresh worker process) or a Dask cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, executors, provenance
from .cache import ArtifactCache, cache_key
from .cell import CellRunner, now
from .cellresult import CellResult
from .components import Progress
from .errors import UsageError
from .executors.base import Job, RunContext, remove_partial_files
from .measure import hardware
from .plugins import Registry, get_registry
from .results import MANIFEST, RUN_SCHEMA, RunLock, choose_run_dir, load_cell, read_manifest, write_json
from .suite import Cell, MeasureSettings, Suite


@dataclass
class RunOutcome:
    run_dir: Path
    resumed: bool
    results: list[CellResult] = field(default_factory=list)
    kept: int = 0  # cells already complete in a resumed run

    @property
    def failed(self) -> list[CellResult]:
        return [r for r in self.results if not r.ok]


def cell_key(suite: Suite, cell: Cell) -> str:
    """What decides a cell's result: its dataset, pipeline, device, k, metrics and how it is measured."""
    dataset = cell.dataset
    return cache_key(
        {"name": dataset.name, "provider": dataset.provider, "params": dataset.params,
         "fields": dataset.fields, "queries": dataset.queries, "grades": dataset.grades},
        cell.pipeline.config(), cell.device, suite.k, [m.label for m in suite.metrics],
        suite.measure.cell_config(),
    )


def isolation_mode(measure: MeasureSettings) -> str:
    """``subprocess`` or ``none``: as set, else isolated when memory is measured or cells have a timeout."""
    return measure.isolation or ("subprocess" if measure.memory or measure.timeout else "none")


def run_suite(
    suite: Suite, *, pipelines=(), datasets=(), devices=(), new: bool = False,
    resume: str | None = None, force: bool = False, results_dir: str | Path | None = None,
    progress: Progress | None = None, registry: Registry | None = None, mixed_hardware: bool = False,
) -> RunOutcome:
    """Run the selected cells of ``suite``; see the module docstring for resume semantics."""
    cells = suite.cells(pipelines, datasets, devices)
    if not cells:
        raise UsageError("no cells selected: check --pipeline/--dataset/--device against the suite")
    progress = progress or Progress()
    root = Path(results_dir or suite.output.dir)
    with RunLock(root, suite.name) as lock:  # one harness run per suite folder (RunLocked otherwise)
        if lock.stale:
            progress.log(f"note: the last run here (pid {lock.stale.get('pid')} on {lock.stale.get('host')}) "
                         "ended without releasing its lock; an unfinished run is resumed")
        run_dir, resumed = choose_run_dir(root / suite.name, new=new, resume=resume)
        outcome = RunOutcome(run_dir, resumed)
        progress.log(f"{'resuming' if resumed else 'new'} run {run_dir} ({len(cells)} cells)")
        for cell in suite.unsupported(pipelines, datasets, devices):
            progress.log(f"skipped {cell.id}: no stage of {cell.pipeline.name!r} runs on {cell.device}")
        mode = isolation_mode(suite.measure)
        if suite.measure.timeout and mode == "none" and suite.execution.executor == "local":
            progress.log("note: measure.timeout is enforced for isolated cells only; isolation = \"none\" ignores it")
        cache_dir = Path(suite.output.cache_dir) if suite.output.cache_dir else root / ".cache"
        cache = ArtifactCache(cache_dir, enabled=suite.output.cache and not force)
        with executors.create(suite, progress) as executor:  # a Dask cluster lives as long as this block
            manifest = _start_manifest(suite, run_dir, cells, resumed, executor.describe(mode))
            write_json(run_dir / MANIFEST, manifest)
            remove_partial_files(run_dir)
            runner = CellRunner(suite, registry or get_registry(), cache, progress, manifest["environment"])
            jobs = []
            for number, cell in enumerate(cells, 1):
                key = cell_key(suite, cell)
                existing = load_cell(run_dir, cell.slug, cell.id)
                if existing and existing.ok and existing.cell.key == key:
                    outcome.kept += 1
                    outcome.results.append(existing)
                    progress.log(f"[{number}/{len(cells)}] {cell.id}: already done in this run")
                else:
                    jobs.append(Job(number, cell, key))
            context = RunContext(suite, run_dir, cache, runner, mode, progress)
            for done, result in enumerate(executor.run(jobs, context), outcome.kept + 1):
                outcome.results.append(result)
                progress.log(f"[{done}/{len(cells)}] {result.cell.id}: {_summary(result)}")
        order = {c.id: i for i, c in enumerate(cells)}  # suite order, however the cells ran
        outcome.results.sort(key=lambda r: order.get(r.cell.id, len(order)))
        from .leaderboard import write_leaderboard

        manifest.update(status="finished", finished=now())
        write_json(run_dir / MANIFEST, manifest)
        write_leaderboard(run_dir, mixed_hardware=mixed_hardware)
    return outcome


def _start_manifest(suite: Suite, run_dir: Path, cells: list[Cell], resumed: bool, executor: dict) -> dict:
    previous = read_manifest(run_dir / MANIFEST) if resumed else {}  # ResultsError when damaged
    listed = dict(previous.get("cells", {}))
    listed.update({c.id: c.slug for c in cells})
    return {
        "schema": RUN_SCHEMA,
        "suite": suite.name,
        "suite_file": str(suite.path),
        "suite_sha256": cache_key(suite.text),
        "run_id": run_dir.name,
        "status": "running",
        "started": previous.get("started", now()),
        "resumed": previous.get("resumed", 0) + 1 if resumed else 0,
        "harness": __version__,
        "k": suite.k,
        "metrics": [m.label for m in suite.metrics],
        "stats": suite.stats.to_dict(),
        "measure": suite.measure.to_dict(),
        "executor": executor,
        "output": suite.output.to_dict(),
        "datasets": [d.name for d in suite.datasets],
        "pipelines": [p.name for p in suite.pipelines],
        "cells": listed,
        "environment": provenance.environment(suite.base_dir),
        "hardware": hardware.fingerprint(),
    }


def _summary(result: CellResult) -> str:
    seconds = f"{result.seconds or 0.0:.1f}s"
    if not result.ok:
        error = result.error
        return f"FAILED in {error.phase} ({error.type}: {error.message}) {seconds}"
    shown = ", ".join(f"{k} {v:.4f}" for k, v in list(result.metrics.items())[:3] if v is not None)
    return f"{shown} ({seconds})"

"""Running a suite: cells one after another, each result written the moment it is complete.

One cell is the unit of work, caching and failure. A cell that raises is recorded as failed with
its error and the others still run. A killed run loses at most the cell in flight: the next
``harness run`` of the suite resumes it (see results.py). What a cell does lives in cell.py, stage
execution and caching in stages.py.

The local executor runs one cell at a time, so a cell's cost is never measured beside another
cell of the run; each result says so (``execution.concurrent``) with the machine's load average
before and after. With ``measure.isolation = "subprocess"`` (the default when memory is measured or
a timeout is set) each cell runs in a fresh worker process (measure/isolation.py): its own heap,
thread caps set before any import, pinned CPUs, a timeout, and a failed result written here when
the OS kills it.
"""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, provenance
from .cache import ArtifactCache, cache_key
from .cell import CellRunner, now
from .components import Progress
from .measure import hardware, isolation
from .plugins import Registry, get_registry
from .results import MANIFEST, RUN_SCHEMA, cell_path, choose_run_dir, load_cell, read_json, write_json
from .suite import Cell, Suite


@dataclass
class RunOutcome:
    run_dir: Path
    resumed: bool
    results: list[dict] = field(default_factory=list)
    kept: int = 0  # cells already complete in a resumed run

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.results if r["status"] != "ok"]


def cell_key(suite: Suite, cell: Cell) -> str:
    """What decides a cell's result: its dataset, pipeline, device, k, metrics and how it is measured."""
    dataset = cell.dataset
    return cache_key(
        {"name": dataset.name, "provider": dataset.provider, "params": dataset.params,
         "fields": dataset.fields, "queries": dataset.queries, "grades": dataset.grades},
        cell.pipeline.config(), cell.device, suite.k, [m.label for m in suite.metrics],
        {k: v for k, v in suite.measure.items() if k != "devices"},
    )


def isolation_mode(measure: dict) -> str:
    """``subprocess`` or ``none``: as set, else isolated when memory is measured or cells have a timeout."""
    return measure["isolation"] or ("subprocess" if measure["memory"] or measure["timeout"] else "none")


def run_suite(
    suite: Suite, *, pipelines=(), datasets=(), devices=(), new: bool = False,
    resume: str | None = None, force: bool = False, results_dir: str | Path | None = None,
    progress: Progress | None = None, registry: Registry | None = None, mixed_hardware: bool = False,
) -> RunOutcome:
    """Run the selected cells of ``suite``; see the module docstring for resume semantics."""
    cells = suite.cells(pipelines, datasets, devices)
    if not cells:
        raise ValueError("no cells selected: check --pipeline/--dataset/--device against the suite")
    progress = progress or Progress()
    root = Path(results_dir or suite.output["dir"])
    run_dir, resumed = choose_run_dir(root / suite.name, new=new, resume=resume)
    mode = isolation_mode(suite.measure)
    manifest = _start_manifest(suite, run_dir, cells, resumed, mode)
    write_json(run_dir / MANIFEST, manifest)
    _remove_partial_files(run_dir)
    outcome = RunOutcome(run_dir, resumed)
    progress.log(f"{'resuming' if resumed else 'new'} run {run_dir} ({len(cells)} cells)")
    for cell in suite.unsupported(pipelines, datasets, devices):
        progress.log(f"skipped {cell.id}: no stage of {cell.pipeline.name!r} runs on {cell.device}")
    if suite.measure["timeout"] and mode == "none":
        progress.log("note: measure.timeout is enforced for isolated cells only; isolation = \"none\" ignores it")
    cache_dir = Path(suite.output["cache_dir"]) if suite.output["cache_dir"] else root / ".cache"
    cache = ArtifactCache(cache_dir, enabled=suite.output["cache"] and not force)
    runner = CellRunner(suite, registry or get_registry(), cache, progress, manifest["environment"])
    execution = {"executor": "local", "isolation": mode, "timeout": suite.measure["timeout"],
                 # one cell at a time: nothing else of this run shares the machine with a cell
                 "concurrent": {"allowed": suite.measure["concurrent"], "alongside": []}}
    for number, cell in enumerate(cells, 1):
        key = cell_key(suite, cell)
        existing = load_cell(run_dir, cell.slug)
        if existing and existing["status"] == "ok" and existing["cell"]["key"] == key:
            outcome.kept += 1
            outcome.results.append(existing)
            progress.log(f"[{number}/{len(cells)}] {cell.id}: already done in this run")
            continue
        if mode == "subprocess":
            result = _run_isolated(runner, cache, cell, key, run_dir, execution)
        else:
            result = runner.run(cell, key, run_dir, execution)
        outcome.results.append(result)
        progress.log(f"[{number}/{len(cells)}] {cell.id}: {_summary(result)}")
    from .leaderboard import write_leaderboard

    manifest.update(status="finished", finished=now())
    write_json(run_dir / MANIFEST, manifest)
    write_leaderboard(run_dir, mixed_hardware=mixed_hardware)
    return outcome


def _start_manifest(suite: Suite, run_dir: Path, cells: list[Cell], resumed: bool, mode: str) -> dict:
    previous = read_json(run_dir / MANIFEST) if resumed else {}
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
        "stats": suite.stats,
        "measure": suite.measure,
        "executor": {"name": "local", "cells_at_once": 1, "isolation": mode},
        "output": suite.output,
        "datasets": [d.name for d in suite.datasets],
        "pipelines": [p.name for p in suite.pipelines],
        "cells": listed,
        "environment": provenance.environment(suite.base_dir),
        "hardware": hardware.fingerprint(),
    }


def _run_isolated(runner: CellRunner, cache: ArtifactCache, cell: Cell, key: str, run_dir: Path,
                  execution: dict) -> dict:
    """The cell in a worker process; its result, or the failure the parent saw."""
    measure = runner.suite.measure
    cpus = isolation.cpus_for(measure["threads"])
    # The attempt id tells this attempt's result from one an earlier attempt left behind.
    execution = {**execution, "attempt": uuid.uuid4().hex, "cpus": cpus}
    job = {"suite": runner.suite, "cell": cell, "key": key, "run_dir": run_dir, "environment": runner.environment,
           "cache": (cache.root, cache.enabled), "execution": execution}
    try:
        payload = pickle.dumps(job)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        return _failure(runner, cell, key, run_dir, execution, "IsolationError",
                        f"the cell cannot be handed to a worker process ({exc}): its components must be "
                        "importable by module path, or set measure.isolation = \"none\"")
    child = isolation.run_child(payload, threads=measure["threads"], cpus=cpus, timeout=measure["timeout"],
                                log=runner.progress.log)
    result = load_cell(run_dir, cell.slug)
    if result and result.get("execution", {}).get("attempt") == execution["attempt"]:
        return result
    phase = child.phase or "start"
    if child.timed_out:
        kind, message = "Timeout", f"the cell ran past measure.timeout = {measure['timeout']:g} s in phase " \
                                   f"{phase}; its process was killed"
    elif child.signal:
        kind, message = "Killed", f"the cell's process was killed by {child.signal} in phase {phase}"
        if child.oom_kills:
            message += " by the kernel's out-of-memory killer (the cgroup's oom_kill count rose)"
        elif child.signal == "SIGKILL":
            message += "; a SIGKILL nobody sent by hand is usually the out-of-memory killer (see dmesg)"
    else:
        last = f": {child.stderr[-1]}" if child.stderr else ""
        kind, message = "WorkerError", f"the cell's worker exited with status {child.returncode} without a result{last}"
    error = {"signal": child.signal, "exit_code": child.returncode, "out_of_memory": child.oom_kills > 0,
             "stderr": child.stderr}
    return _failure(runner, cell, key, run_dir, execution, kind, message, phase, child.records, child.seconds, error)


def _failure(runner: CellRunner, cell: Cell, key: str, run_dir: Path, execution: dict, kind: str, message: str,
             phase: str = "start", records: dict | None = None, seconds: float = 0.0, more: dict | None = None) -> dict:
    """A failed result written by the parent for a cell whose worker left none."""
    result = runner.skeleton(cell, key)
    result["error"] = {"phase": phase, "type": kind, "message": message, "traceback": None, **(more or {})}
    result["phases"] = records or {}
    result["hardware"] = hardware.fingerprint(cell.device)
    result.update(execution=execution, seconds=seconds, finished=now())
    write_json(cell_path(run_dir, cell.slug), result)
    _remove_partial_files(run_dir)  # what the killed worker was writing
    return result


def _remove_partial_files(run_dir: Path) -> None:
    """Temporary files of a killed run (never mistaken for results, but clutter)."""
    for folder in (run_dir / "cells", run_dir / "runs"):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
            tmp.unlink(missing_ok=True)


def _summary(result: dict) -> str:
    seconds = f"{result['seconds']:.1f}s"
    if result["status"] != "ok":
        error = result["error"]
        return f"FAILED in {error['phase']} ({error['type']}: {error['message']}) {seconds}"
    shown = ", ".join(f"{k} {v:.4f}" for k, v in list(result["metrics"].items())[:3] if v is not None)
    return f"{shown} ({seconds})"

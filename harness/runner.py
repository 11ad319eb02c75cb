"""Running a suite: cells one after another, each result written the moment it is complete.

One cell is the unit of work, caching and failure. A cell that raises is recorded as failed with
its error and the others still run. A killed run loses at most the cell in flight: the next
``harness run`` of the suite resumes it (see results.py). Stage execution and caching live in
stages.py; what a result holds is assembled here.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, provenance
from .cache import ArtifactCache, cache_key
from .collection import Collection
from .components import Context, Progress
from .datasets import DatasetError, load_dataset
from .plugins import Registry, get_registry
from .results import (
    CELL_SCHEMA,
    MANIFEST,
    RUN_SCHEMA,
    cell_path,
    choose_run_dir,
    load_cell,
    read_json,
    run_file_path,
    write_atomic,
    write_json,
)
from .stages import StageExecutor
from .suite import Cell, Suite
from .timing import Phases
from .trecfiles import format_run

AVERAGING = (
    "arithmetic mean over every judged query of the dataset; a judged query with no results "
    "scores 0 (trec_eval -c); queries without judgments are not evaluated"
)


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
    """What decides a cell's result: its dataset, pipeline, device, k and metrics."""
    dataset = cell.dataset
    return cache_key(
        {"name": dataset.name, "provider": dataset.provider, "params": dataset.params,
         "fields": dataset.fields, "queries": dataset.queries, "grades": dataset.grades},
        cell.pipeline.config(), cell.device, suite.k, [m.label for m in suite.metrics],
    )


def run_suite(
    suite: Suite, *, pipelines=(), datasets=(), devices=(), new: bool = False,
    resume: str | None = None, force: bool = False, results_dir: str | Path | None = None,
    progress: Progress | None = None, registry: Registry | None = None,
) -> RunOutcome:
    """Run the selected cells of ``suite``; see the module docstring for resume semantics."""
    cells = suite.cells(pipelines, datasets, devices)
    if not cells:
        raise ValueError("no cells selected: check --pipeline/--dataset/--device against the suite")
    progress = progress or Progress()
    root = Path(results_dir or suite.output["dir"])
    run_dir, resumed = choose_run_dir(root / suite.name, new=new, resume=resume)
    manifest = _start_manifest(suite, run_dir, cells, resumed)
    write_json(run_dir / MANIFEST, manifest)
    _remove_partial_files(run_dir)
    outcome = RunOutcome(run_dir, resumed)
    progress.log(f"{'resuming' if resumed else 'new'} run {run_dir} ({len(cells)} cells)")
    for cell in suite.unsupported(pipelines, datasets, devices):
        progress.log(f"skipped {cell.id}: no stage of {cell.pipeline.name!r} runs on {cell.device}")
    cache_dir = Path(suite.output["cache_dir"]) if suite.output["cache_dir"] else root / ".cache"
    runner = _CellRunner(suite, registry or get_registry(),
                         ArtifactCache(cache_dir, enabled=suite.output["cache"] and not force),
                         progress, manifest["environment"])
    for number, cell in enumerate(cells, 1):
        key = cell_key(suite, cell)
        existing = load_cell(run_dir, cell.slug)
        if existing and existing["status"] == "ok" and existing["cell"]["key"] == key:
            outcome.kept += 1
            outcome.results.append(existing)
            progress.log(f"[{number}/{len(cells)}] {cell.id}: already done in this run")
            continue
        result = runner.run(cell, key, run_dir)
        outcome.results.append(result)
        progress.log(f"[{number}/{len(cells)}] {cell.id}: {_summary(result)}")
    from .leaderboard import write_leaderboard

    manifest.update(status="finished", finished=_now())
    write_json(run_dir / MANIFEST, manifest)
    write_leaderboard(run_dir)
    return outcome


def _start_manifest(suite: Suite, run_dir: Path, cells: list[Cell], resumed: bool) -> dict:
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
        "started": previous.get("started", _now()),
        "resumed": previous.get("resumed", 0) + 1 if resumed else 0,
        "harness": __version__,
        "k": suite.k,
        "metrics": [m.label for m in suite.metrics],
        "stats": suite.stats,
        "measure": suite.measure,
        "output": suite.output,
        "datasets": [d.name for d in suite.datasets],
        "pipelines": [p.name for p in suite.pipelines],
        "cells": listed,
        "environment": provenance.environment(suite.base_dir),
    }


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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _CellRunner:
    """Runs cells in order, keeping collections and stage outputs of the current dataset."""

    def __init__(self, suite: Suite, registry: Registry, cache: ArtifactCache, progress: Progress, environment: dict):
        self.suite = suite
        self.registry = registry
        self.progress = progress
        self.environment = environment
        self.stages = StageExecutor(registry, cache)
        self._dataset: str | None = None
        self._collection: Collection | DatasetError | None = None

    def run(self, cell: Cell, key: str, run_dir: Path) -> dict:
        phases = Phases()
        result = self._skeleton(cell, key)
        started = time.perf_counter()
        phase = "load"
        try:
            collection = self._load(cell, phases)
            result["dataset"] = collection.describe()
            ctx = self._context(cell, collection, phases)
            phase = "retrieve"
            run, run_key = self.stages.retrieve(cell.pipeline.retriever, collection, collection.queries,
                                                self.suite.k, ctx, phases)
            if cell.pipeline.ranker:
                phase = "rerank"
                run = self.stages.rerank(cell.pipeline.ranker, collection, collection.queries, run, run_key,
                                         ctx, phases)
            phase = "evaluate"
            with phases.measure("evaluate"):
                self._evaluate(result, collection, run, ctx)
            phase = "write"
            if self.suite.output["run_files"]:
                path = run_file_path(run_dir, cell.slug)
                write_atomic(path, format_run(run, cell.pipeline.name))
                result["run_file"] = str(path.relative_to(run_dir))
            result["status"] = "ok"
        except Exception as exc:  # a failing cell is recorded; the suite goes on
            result["error"] = {
                "phase": phase, "type": type(exc).__name__, "message": str(exc),
                "traceback": traceback.format_exc(),
            }
        result["phases"] = phases.records
        result["seconds"] = round(time.perf_counter() - started, 6)
        result["finished"] = _now()
        result["libraries_loaded"] = provenance.loaded_libraries()
        write_json(cell_path(run_dir, cell.slug), result)
        return result

    def _skeleton(self, cell: Cell, key: str) -> dict:
        dataset = cell.dataset
        components = {}
        for stage in filter(None, (cell.pipeline.retriever, cell.pipeline.ranker)):
            info = self.registry.find(stage.kind, stage.plugin)
            components[stage.kind] = {"plugin": stage.plugin, "distribution": info.distribution,
                                      "version": info.version}
        return {
            "schema": CELL_SCHEMA,
            "cell": {"id": cell.id, "key": key, "slug": cell.slug, "dataset": dataset.name,
                     "pipeline": cell.pipeline.name, "base": cell.pipeline.base or cell.pipeline.name,
                     "sweep": cell.pipeline.sweep, "device": cell.device},
            "status": "failed",
            "error": None,
            "config": {
                "k": self.suite.k, "seed": self.suite.seed, "device": cell.device,
                "threads": self.suite.measure["threads"],
                "dataset": {"provider": dataset.provider, "params": dataset.params, "fields": dataset.fields,
                            "queries": dataset.queries,
                            "grades": {str(k): v for k, v in (dataset.grades or {}).items()} or None},
                "pipeline": cell.pipeline.config(),
                "metrics": [m.label for m in self.suite.metrics],
            },
            "components": components,
            "started": _now(),
            "environment": self.environment,
        }

    def _load(self, cell: Cell, phases: Phases) -> Collection:
        """The cell's collection, loaded once per dataset (a load error fails its every cell)."""
        if self._dataset != cell.dataset.name:
            self.stages.reset()
            self._dataset = cell.dataset.name
            with phases.measure("load", cache="miss"):
                try:
                    self._collection = load_dataset(cell.dataset, self.registry, self.suite.base_dir)
                except DatasetError as exc:
                    self._collection = exc
        else:
            phases.note("load", cache="memory")
        if isinstance(self._collection, DatasetError):
            raise self._collection
        return self._collection

    def _context(self, cell: Cell, collection: Collection, phases: Phases) -> Context:
        ctx = Context(device=cell.device, base_dir=self.suite.base_dir, seed=self.suite.seed,
                      progress=self.progress, collection=collection, cache=self.stages.cache)

        def retrieve(spec, queries, k):  # nested retrievers (rank fusion) share the caches
            return self.stages.retrieve(spec, collection, queries, k, ctx, phases, prefix=f"{spec.plugin}.")[0]

        ctx.retrieve = retrieve
        return ctx

    def _evaluate(self, result: dict, collection: Collection, run, ctx: Context) -> None:
        from .metrics import evaluate

        values = evaluate(self.suite.metrics, collection.qrels, run, ctx, complete=True)
        result["metrics"] = {label: v.aggregate for label, v in values.items()}
        if self.suite.output["per_query"]:
            result["per_query"] = {label: v.per_query for label, v in values.items() if v.per_query is not None}
        first = next(iter(values.values()), None)
        result["evaluation"] = {
            "tool": f"pytrec_eval {provenance.version_of('pytrec-eval-terrier')} (trec_eval measures)",
            "averaging": AVERAGING,
            "judged_queries": len(collection.qrels),
            "queries_without_results": first.details.get("queries_without_results") if first else None,
            "details": {label: v.details for label, v in values.items()},
        }

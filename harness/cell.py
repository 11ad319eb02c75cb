"""One cell, run in this process: its phases, cost figures, quality and result file.

The order within a cell: ``load_dataset``; when the suite asks for latency, the stages are made
ready (``load_model``, ``index``, ``prepare``) and the query path is timed (phase ``latency``) on
live components, never served from a cache; then the quality run, one fold over the pipeline's
stages (pipeline.py: ``retrieve``, ``rerank``, ``rerank.2``, ...), each stage's run computed or
served from memory or the artifact cache, recorded in the result's ``stages``; stage attribution
(harness/attribution.py, when present) fills in each stage's quality; the artifacts the metrics
need (artifacts.py: phase ``artifacts`` when a cached run left some missing, and the ``pipeline``
rerun); and ``evaluate``.
The cost counters the stages report (``ctx.costs``, costs.py) are summarised into ``costs``; the
latency loops count into a context of their own, and nothing they do reaches the cell's counters.
The result is written atomically, by this process whether it is the run's own or an isolated worker.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import time
import traceback
from pathlib import Path

from . import artifacts, banks, pipeline, provenance
from .cache import ArtifactCache
from .cellresult import (
    CellError,
    CellId,
    CellResult,
    Config,
    Execution,
    Figure,
    Hardware,
    Latency,
    Memory,
    MetricProvider,
    Phase,
    StageRecord,
)
from .collection import Collection
from .components import Context, Progress
from .costs import Costs
from .datasets import DatasetError, load_dataset
from .errors import HarnessError
from .measure import hardware, latency
from .measure.figures import figure
from .measure.isolation import apply_threads
from .measure.meter import Meter
from .plugins import Registry
from .results import cell_path, run_file_path, write_atomic, write_cell
from .stages import StageExecutor
from .suite import Cell, Suite
from .timing import Listener, Phases
from .trecfiles import run_text

AVERAGING = (
    "arithmetic mean over every judged query of the dataset; a judged query with no results "
    "scores 0 (trec_eval -c); queries without judgments are not evaluated"
)
PEAK_METHOD = "the largest rss_peak among the cell's phases (each phase's method says how it was taken)"
MADE = "the cell result being made"  # names the source of a part that fails its check (a bug, not a file)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class CellRunner:
    """Runs cells in order, keeping the collection and ready components of the current dataset."""

    def __init__(self, suite: Suite, registry: Registry, cache: ArtifactCache, progress: Progress,
                 environment: dict, listener: Listener | None = None):
        self.suite = suite
        self.registry = registry
        self.progress = progress
        self.environment = environment
        self.listener = listener
        self.stages = StageExecutor(registry, cache, suite.measure.index_threads)
        self._dataset: str | None = None
        self._collection: Collection | DatasetError | None = None

    def run(self, cell: Cell, key: str, run_dir: Path, execution: dict) -> CellResult:
        """Run ``cell`` and write its result; ``execution`` says how (isolation, concurrency)."""
        measure = self.suite.measure
        result = self.skeleton(cell, key)
        result.execution = Execution.parse({**execution, "pid": os.getpid(),
                                            "load_average": {"start": _load_average(measure.threads)}},
                                           MADE, "execution")
        started = time.perf_counter()
        phases = Phases(listener=self.listener)
        step, meter = "start", None
        try:
            apply_threads(measure.threads)
            meter = phases.meter = Meter.open(cell.device, measure_memory=measure.memory,
                                              threads=measure.threads)
            result.device = meter.device.describe()
            step = "load_dataset"
            collection = self._load(cell, phases)
            result.dataset = collection.describe()
            ctx = self._context(cell, collection, phases)
            if measure.latency:
                step = "latency"
                result.latency = Latency.parse(self._latency(cell, collection, ctx, phases), MADE, "latency")
            step = "retrieve"
            ran = pipeline.run_pipeline(self.stages, cell.pipeline.stages, collection, collection.queries,
                                        self.suite.k, ctx, phases)
            run = ran.run
            result.stages = [StageRecord.parse(record, MADE, f"stages.{i}") for i, record in enumerate(ran.records)]
            # what the stages counted (costs.py): computed now, or recorded with a run served instead
            result.costs = ctx.costs.summary(collection.queries, per_query=self.suite.output.per_query)
            step = "attribution"
            self._attribute(result, ran, collection, ctx)
            step = "artifacts"
            ctx.artifacts[artifacts.PIPELINE] = artifacts.pipeline_rerun(self.stages, cell, self.suite.k, ctx, phases)
            artifacts.ready_stages(self.stages, cell, collection, ctx, phases,
                                   {name for m in self.suite.metrics for name in m.requires})
            step = "evaluate"
            with phases.measure("evaluate"):
                self._evaluate(result, collection, run, ctx)
            step = "write"
            if self.suite.output.run_files:
                path = run_file_path(run_dir, cell.slug)
                write_atomic(path, run_text(run, cell.pipeline.name))  # streamed, a query at a time
                result.run_file = str(path.relative_to(run_dir))
            result.status = "ok"
        except (Exception, SystemExit) as exc:  # a failing cell is recorded; the suite goes on (a plugin
            # calling sys.exit() included: it ends the cell, not the run; Ctrl-C still stops the run)
            message = str(exc) if not isinstance(exc, SystemExit) else \
                f"a component called sys.exit({exc.code!r}) during {phases.failed or step}"
            result.error = CellError(phase=phases.failed or step, type=type(exc).__name__, message=message,
                                     traceback=traceback.format_exc())
        finally:
            if meter:
                meter.close()
        result.phases = phase_records(phases.records)
        if measure.memory:
            result.memory = Memory.parse(_memory(phases.records, meter), MADE, "memory")
        result.hardware = Hardware.parse(hardware.fingerprint(meter.device.name if meter else cell.device), MADE,
                                         "hardware")
        result.execution.threads = provenance.threads()
        end = _load_average(measure.threads)
        result.execution.load_average.end = None if end is None else Figure.parse(end, MADE, "load_average.end")
        result.seconds = round(time.perf_counter() - started, 6)
        result.finished = now()
        result.libraries_loaded = provenance.loaded_libraries()
        try:
            write_cell(cell_path(run_dir, cell.slug), result)
        except (TypeError, ValueError) as exc:  # something a component returned is not JSON data: the
            # cell fails, saying so, and is written without it; the other cells go on
            result.status, result.metrics, result.per_query, result.evaluation = "failed", {}, {}, None
            result.error = CellError(phase="write", type=type(exc).__name__,
                                     message=f"the cell result cannot be written: {exc}",
                                     traceback=traceback.format_exc())
            write_cell(cell_path(run_dir, cell.slug), result)
        return result

    def skeleton(self, cell: Cell, key: str) -> CellResult:
        """A result before anything ran: what the cell is and how it is configured (each stage's
        record has its component; the run fills in the rest)."""
        dataset = cell.dataset
        stages = []
        for i, stage in enumerate(cell.pipeline.stages):
            info = self.registry.find(stage.kind, stage.plugin)
            stages.append(StageRecord(stage=i, kind=stage.kind, plugin=stage.plugin, distribution=info.distribution,
                                      version=info.version, compressors=[c.config() for c in stage.compressors],
                                      depth=stage.depth if i else None,
                                      interpolate=stage.interpolate if i else None))
        return CellResult(
            cell=CellId(id=cell.id, key=key, slug=cell.slug, dataset=dataset.name, pipeline=cell.pipeline.name,
                        base=cell.pipeline.base or cell.pipeline.name, sweep=cell.pipeline.sweep, device=cell.device),
            status="failed",
            error=None,
            config=Config(
                k=self.suite.k, seed=self.suite.seed, device=cell.device,
                threads=self.suite.measure.threads,
                measure=self.suite.measure.cell_config(),
                dataset={"provider": dataset.provider, "params": dataset.params, "fields": dataset.fields,
                         "queries": dataset.queries,
                         "grades": {str(k): v for k, v in (dataset.grades or {}).items()} or None},
                pipeline=cell.pipeline.config(),
                metrics=[m.label for m in self.suite.metrics],
            ),
            stages=stages,
            started=now(),
            environment=self.environment,
        )

    def _load(self, cell: Cell, phases: Phases) -> Collection:
        """The cell's collection, loaded once per dataset (a load error fails its every cell)."""
        if self._dataset != cell.dataset.name:
            self.stages.reset()
            self._dataset = cell.dataset.name
            with phases.measure("load_dataset", cache="miss"):
                try:
                    self._collection = load_dataset(cell.dataset, self.registry, self.suite.base_dir)
                except DatasetError as exc:
                    self._collection = exc
        else:
            phases.note("load_dataset", cache="memory")
        if isinstance(self._collection, DatasetError):
            raise self._collection
        return self._collection

    def _context(self, cell: Cell, collection: Collection, phases: Phases) -> Context:
        ctx = Context(device=cell.device, base_dir=self.suite.base_dir, seed=self.suite.seed,
                      progress=self.progress, collection=collection, cache=self.stages.cache, k=self.suite.k,
                      banks=banks.maker(collection, cell.dataset, self.registry, self.suite.base_dir))
        ctx.retrieve = self.stages.nested(collection, ctx, phases)  # rank fusion: nested runs share the caches
        ctx.scorer = self.stages.scorers(collection, ctx, phases)  # nested rankers, counted into ctx.costs
        ctx.encoder = self.stages.encoders(collection, ctx, phases)  # nested retrievers' vectors (encoding.py)
        return ctx

    def _latency(self, cell: Cell, collection: Collection, ctx: Context, phases: Phases) -> dict:
        """The query path timed on ready components, in this run (see measure/latency.py)."""
        stages, measure = cell.pipeline.stages, self.suite.measure
        components = pipeline.ready_stages(self.stages, stages, collection, ctx, phases)
        queries = latency.sample_queries(collection.queries, measure.latency_queries, self.suite.seed)
        # The timed calls get a context of their own: nested retrievers answer every call
        # themselves; progress bars, notes and artifacts of thousands of calls are neither shown
        # nor kept (nor timed), and none of them becomes the cell's: nor do their cost counters.
        timed = dataclasses.replace(ctx, progress=Progress(), artifacts={}, phase={}, costs=Costs())
        timed.retrieve = self.stages.nested(collection, timed, phases, live=True)
        timed.scorer = self.stages.scorers(collection, timed, phases, live=True)
        timed.encoder = self.stages.encoders(collection, timed, phases, live=True)
        for stage in stages:  # nested rankers: ready, not timed
            self.stages.ready_scorers(stage, timed)
        call = pipeline.live_path(components, stages, self.suite.k, timed, phases.meter.now)
        modes = [mode for mode in latency.MODES if mode in measure.latency]
        self.progress.log(f"  {cell.id}: timing {' and '.join(modes)} on {len(queries)} queries")
        with phases.measure("latency", queries=len(queries), modes=modes), ctx.costs.paused():
            figures = latency.measure(call, queries, modes, latency.Settings.of(measure, self.suite.seed),
                                      phases.meter.figure)
        return {"modes": modes, **figures}

    def _attribute(self, result: CellResult, ran: pipeline.PipelineRun, collection: Collection,
                   ctx: Context) -> None:
        """Each stage's quality, the recall of its input and its oracle ceiling, from the stage
        runs (harness/attribution.py), into the stage records; skipped when that module is absent."""
        if importlib.util.find_spec("harness.attribution") is None:  # not in this tree: the records keep nulls
            return
        from . import attribution

        metric = self.suite.metrics[0] if self.suite.metrics else None
        if metric is None:
            return
        filled = attribution.attribute(ran.runs, [r.to_dict() for r in result.stages], collection.qrels, metric,
                                       ctx)
        for record, values in zip(result.stages, filled, strict=True):
            for key in pipeline.ATTRIBUTION:
                if key in values:
                    setattr(record, key, values[key])

    def _evaluate(self, result: CellResult, collection: Collection, run, ctx: Context) -> None:
        from .metrics import evaluate

        values = evaluate(self.suite.metrics, collection.qrels, run, ctx, complete=True)
        result.metrics = {label: v.aggregate for label, v in values.items()}
        for label, v in values.items():  # a metric isolated from its failure (metrics.py): said, not hidden
            if v.aggregate is None and v.details.get("failed"):
                self.progress.log(f"  {result.cell.id}: {label} unavailable: {v.details['unavailable']}")
        if self.suite.output.per_query:
            result.per_query = {label: v.per_query for label, v in values.items() if v.per_query is not None}
        first = next(iter(values.values()), None)
        result.metric_providers = {label: MetricProvider(**record) for label, record
                                   in metric_providers(self.suite.metrics, self.registry).items()}
        result.evaluation = {
            "tool": f"pytrec_eval {provenance.version_of('pytrec-eval-terrier')} (trec_eval measures)",
            "averaging": AVERAGING,
            "judged_queries": len(collection.qrels),
            "queries_without_results": first.details.get("queries_without_results") if first else None,
            "details": {label: v.details for label, v in values.items()},
        }


def metric_providers(metrics, registry: Registry) -> dict[str, dict]:
    """Who provided each metric, by label (docs/results.md, "Metric providers"): its family, and the
    plugin, distribution, version and origin that registered it (the registry's record, as a
    stage's); ``computed_by`` names the library that computes it, for a built-in family that
    pytrec_eval computes (``pytrec_eval 0.5``), else null. A family the registry does not know
    (a metric made in code) has null provider fields."""
    pytrec = None
    out = {}
    for metric in metrics:
        try:
            info = registry.find("metric", metric.name)
        except HarnessError:  # unknown or provided twice: said when the suite was validated
            info = None
        computed_by = None
        if info is not None and _pytrec_eval_family(info.cls):
            pytrec = pytrec or f"pytrec_eval {provenance.version_of('pytrec-eval-terrier') or '(version unknown)'}"
            computed_by = pytrec
        out[metric.label] = {"family": metric.name, "plugin": info.plugin if info else None,
                             "distribution": info.distribution if info else None,
                             "version": info.version if info else None,
                             "origin": info.origin if info else None, "computed_by": computed_by}
    return out


def _pytrec_eval_family(cls: type) -> bool:
    """Whether a metric class is a built-in family pytrec_eval computes (builtin/measures.py: each
    names its trec_eval measure; ``Judged``, computed by the harness, names none)."""
    return cls.__module__ == "harness.builtin.measures" and bool(getattr(cls, "measure", ""))


def phase_records(records: dict[str, dict]) -> dict[str, Phase]:
    """Phase records (timing.py) as the result holds them."""
    return {name: Phase.parse(record, MADE, f"phases.{name}") for name, record in records.items()}


def _memory(records: dict, meter: Meter | None) -> dict:
    if meter is None:  # failed before anything was measured
        return {}
    if meter.memory is None:
        return {"unavailable": "no /proc/self/status on this platform: peak memory is not measured"}
    peaks = [(r["figures"]["rss_peak"]["value"], name) for name, r in records.items()
             if "rss_peak" in r.get("figures", {})]
    if not peaks:
        return {}
    value, phase = max(peaks)
    return {"peak_rss": meter.figure(value, "bytes", PEAK_METHOD, phase=phase)}


def _load_average(threads: int | None) -> dict | None:
    """The 1-minute load average: a busy machine shows here."""
    if not hasattr(os, "getloadavg"):
        return None
    return figure(round(os.getloadavg()[0], 2), "runnable processes", "os.getloadavg(): the kernel's 1-minute "
                  "average of runnable (and uninterruptible) processes on the whole machine", threads=threads)

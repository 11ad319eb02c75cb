"""What a cell's metrics get beyond (qrels, run): ``ctx.artifacts``, filled before evaluation.

Two contracts, both looked up through ``Metric.requires`` (docs/plugins.md, "Metric"):

* **Stage artifacts** (a dense retriever's ``embeddings``): by-products a stage puts into
  ``ctx.artifacts`` when it is made ready (``index``, ``load``, ``prepare``) or runs. A cell whose
  run came from the run cache made no stage ready, so when a metric needs an artifact the cell
  lacks, ``ready_stages`` makes the pipeline's stages ready (from their own caches where they
  have them: for a dense retriever that is loading the cached corpus vectors), recorded as phase
  ``artifacts``; a stage whose class declares what it publishes (``Component.publishes``) and
  names none of the missing artifacts is left alone (a cached BM25 cell is not re-indexed for
  ``embeddings``). A metric's value thus never depends on whether the run was cached. An artifact
  no stage publishes stays missing: the metric is reported unavailable ("needs embeddings").
* **``pipeline``**: ``ctx.artifacts["pipeline"]`` is a callable ``rerun(collection, name="rerun")
  -> Run`` that runs the cell's pipeline (its stages, as pipeline.py runs them) on another collection (a
  perturbed corpus, say) with the suite's k, for every query of that collection. Its components
  are fresh (a stage executor of its own, nothing kept in memory from the cell's collection); the
  artifact cache is shared, and since its keys hold the corpus fingerprint, a changed corpus is
  indexed, encoded and retrieved anew, and the same changed corpus is served from the cache in
  a later run. Its phases are recorded in the cell's under ``<name>.`` (``rerun.index``,
  ``rerun.retrieve``; a second call with the same name gets ``rerun-2.``). What its stages
  publish stays in its own context, never in the cell's artifacts.
"""

from __future__ import annotations

from collections.abc import Callable

from .collection import Collection
from .components import Context
from .pipeline import ready_stage, run_pipeline
from .ranking import Run
from .stages import StageExecutor
from .suite import Cell
from .timing import Phases

PIPELINE = "pipeline"


def ready_stages(stages: StageExecutor, cell: Cell, collection: Collection, ctx: Context, phases: Phases,
                 needed: set[str]) -> None:
    """Make the cell's stages ready when ``needed`` artifacts are missing, so they can publish them."""
    missing = sorted(needed - set(ctx.artifacts))
    if not missing:
        return
    readied = [(i, spec) for i, spec in enumerate(cell.pipeline.stages) if _may_publish(spec, missing)]
    if not readied:
        return
    with phases.measure("artifacts", needs=missing) as record:
        for i, spec in readied:
            ready_stage(stages, i, spec, collection, ctx, phases)
        record["published"] = [name for name in missing if name in ctx.artifacts]


def _may_publish(spec, missing: list[str]) -> bool:
    """Whether making ``spec``'s component ready could publish one of ``missing``: when its class
    declares what it publishes (``Component.publishes``), only if that names one of them."""
    declared = spec.cls.publishes
    return declared is None or bool(set(declared) & set(missing))


def pipeline_rerun(stages: StageExecutor, cell: Cell, k: int, ctx: Context, phases: Phases) -> Callable[..., Run]:
    """The ``pipeline`` artifact of ``cell`` (see the module docstring); ``stages`` is the cell's
    executor, whose registry and artifact cache the reruns use."""
    used: set[str] = set()

    def rerun(collection: Collection, name: str = "rerun") -> Run:
        unique, n = name, 1
        while unique in used:
            n += 1
            unique = f"{name}-{n}"
        used.add(unique)
        prefix = unique + "."
        fresh = StageExecutor(stages.registry, stages.cache, stages.index_threads)
        own = Context(device=ctx.device, base_dir=ctx.base_dir, seed=ctx.seed, progress=ctx.progress,
                      collection=collection, cache=ctx.cache)
        own.retrieve = fresh.nested(collection, own, phases, prefix=prefix)
        own.scorer = fresh.scorers(collection, own, phases, prefix=prefix)  # its counts stay in own.costs
        own.encoder = fresh.encoders(collection, own, phases, prefix=prefix)
        return run_pipeline(fresh, cell.pipeline.stages, collection, collection.queries, k, own, phases, prefix).run

    return rerun

"""Running a pipeline: one fold over its stages.

A pipeline is a first-stage retriever and any number of rankers after it (``PipelineSpec.stages``).
``run_pipeline`` runs them in order: the retriever's run of the queries (``k`` each), then each
ranker on the top ``depth`` of the run before it, its reranked head above the rest of that run in
its order (``rerank_merge``: a stage never drops or invents documents, and the tail keeps its
order underneath). Every stage prefix is a cached unit: stage ``i``'s run is keyed by its own
identity, depth and interpolation and the key of the run it reranked (stages.py), so a pipeline
that extends another, or shares its first stages with it, reuses their runs (``memory`` within a
run, ``hit`` from the artifact cache across runs), and each stage record says which it was.

**Interpolation.** A ranker with ``interpolate = α`` (0 ≤ α ≤ 1) orders its head by
``α·own + (1−α)·before``, where ``own`` is its score and ``before`` the score of the run it
reranked (as that run holds it), each min-max normalised over the head of its query
(``(s − min) / (max − min)``; 0 for every document when all scores are equal). The combined value
is the head's score in the stage's run; the tail stays below the head, as without interpolation.
α = 1 keeps the ranker's order, α = 0 the order before it.

**Contracts.** Every stage's run is checked as it comes out of the executor, computed or served
(contracts.py: finite scores within single precision, each document once, the first stage's
query and document ids known to the collection, trec_eval's order), before the next stage, a
metric or the run file sees it: a violation fails the cell with a ``ContractError`` naming the
component, query and document; a run out of order is sorted by its scores (the stage record says
``resorted``); a component declaring ``foreign_ids = "drop"`` has unknown ids dropped and counted
(the stage record's ``foreign``). ``Run``'s own refusals raised in a component's code (a NaN, a
document twice) are reported the same way, naming the component.

Everything else that walks a pipeline walks the same stage list: ``ready_stages`` (components made
ready, for the latency loops and for artifacts a cached run did not publish) and ``live_path``
(the query path those loops time). Phase names come from ``stages.stage_names``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import contracts
from .collection import Collection
from .components import Context
from .errors import HarnessError
from .measure import latency
from .ranking import Run
from .stages import StageExecutor, StageOutput, stage_names
from .suite import StageSpec
from .timing import Phases

ATTRIBUTION = ("metric", "quality", "input_recall", "ceiling")
"""Keys of a stage record filled by stage attribution (harness/attribution.py), null until then."""


@dataclass
class StageResult:
    """One stage of a pipeline run: its spec, position, output and record."""

    index: int
    spec: StageSpec
    output: StageOutput
    record: dict

    @property
    def run(self) -> Run:
        return self.output.run


@dataclass
class PipelineRun:
    """A pipeline's run: the final ``run`` and every stage's (``stages``, in order)."""

    stages: list[StageResult]

    @property
    def run(self) -> Run:
        return self.stages[-1].run

    @property
    def runs(self) -> list[Run]:
        """Each stage's run, in order: stage ``i``'s is the input of stage ``i + 1``."""
        return [stage.run for stage in self.stages]

    @property
    def records(self) -> list[dict]:
        """The stage records, as the cell result's ``stages`` holds them."""
        return [stage.record for stage in self.stages]


def run_pipeline(executor: StageExecutor, stages: Sequence[StageSpec], collection: Collection,
                 queries: Mapping[str, str], k: int, ctx: Context, phases: Phases, prefix: str = "") -> PipelineRun:
    """Run ``stages`` on ``queries`` of ``collection`` (see the module docstring); ``prefix`` names
    the phases of a rerun (``perturbed.``)."""
    if not stages:
        raise ValueError("a pipeline needs at least one stage")
    out: list[StageResult] = []
    for index, spec in enumerate(stages):
        names = stage_names(index, prefix)
        component = contracts.who(spec.kind, spec.plugin)
        try:
            if index == 0:
                output = executor.first_stage(spec, collection, queries, k, ctx, phases, names)
            else:
                before = out[-1].output
                output = executor.next_stage(spec, collection, queries, before.run, before.key, ctx, phases, names)
        except ValueError as exc:
            phases.failed = phases.failed or names.run
            if not isinstance(exc, HarnessError) and _raised_by_run(exc):  # Run's own checks, in the plugin's code
                raise contracts.ContractError(f"{component}: {exc}") from exc
            raise
        except BaseException:
            phases.failed = phases.failed or names.run  # a contract broken after the phase's own block
            raise
        try:  # a computed run was checked before the executor kept it; a served one is checked here
            checked = output.checked or contracts.check_stage(output.run, index, spec, collection, queries)
        except contracts.ContractError:
            phases.failed = phases.failed or names.run
            raise
        if checked.run is not output.run:
            output = dataclasses.replace(output, run=checked.run)
        record = stage_record(index, spec, output, names.run)
        if checked.resorted:
            record["resorted"] = True
        if checked.dropped:
            record["foreign"] = checked.dropped
            ctx.progress.log(f"  {component}: dropped {checked.dropped['pairs']} results naming "
                             f"{checked.dropped['queries']} unknown queries and {checked.dropped['documents']} "
                             "unknown documents")
        out.append(StageResult(index, spec, output, record))
    return PipelineRun(out)


def _raised_by_run(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by ``Run``'s own checks (harness/ranking.py): a plugin built a
    run with a NaN score or a document twice, and the message names the query and document."""
    from . import ranking

    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename == ranking.__file__


def stage_record(index: int, spec: StageSpec, output: StageOutput, phase: str) -> dict:
    """A stage's record in the cell result (docs/results.md, "Stage records")."""
    ident = output.ident
    return {
        "stage": index, "kind": spec.kind, "plugin": spec.plugin, "distribution": ident["distribution"],
        "version": ident["version"], "identity": ident["identity"], "compressors": ident["compressors"],
        "depth": spec.depth if index else None, "interpolate": spec.interpolate if index else None,
        "phase": phase, "cache": output.cache, "seconds": output.seconds, "run_key": output.key,
        **{key: None for key in ATTRIBUTION},
    }


def ready_stage(executor: StageExecutor, index: int, spec: StageSpec, collection: Collection, ctx: Context,
                phases: Phases, prefix: str = ""):
    """Stage ``index``'s component, made ready (indexed or prepared) without consulting the run cache."""
    names = stage_names(index, prefix)
    if index == 0:
        return executor.retriever(spec, collection, ctx, phases, names=names)
    return executor.ranker(spec, collection, ctx, phases, names=names)


def ready_stages(executor: StageExecutor, stages: Sequence[StageSpec], collection: Collection, ctx: Context,
                 phases: Phases, prefix: str = "") -> list:
    """Every stage's component, ready, in order."""
    return [ready_stage(executor, i, spec, collection, ctx, phases, prefix) for i, spec in enumerate(stages)]


def live_path(components: Sequence, stages: Sequence[StageSpec], k: int, ctx: Context,
              now: Callable[[], int]) -> latency.Call:
    """The query path of ready ``components`` (``ready_stages``) as the latency loops time it:
    ``call(queries) -> {stage phase: nanoseconds}`` (measure/latency.py)."""
    rankers = [latency.LiveRanker(stage_names(i).run, component, spec.depth, spec.interpolate)
               for i, (component, spec) in enumerate(zip(components, stages, strict=True)) if i]
    return latency.cascade_path(components[0], rankers, k, ctx, now)


def merge_stage(run: Run, rescored: Run, depth: int, alpha: float | None = None) -> Run:
    """``run`` with its top ``depth`` replaced by ``rescored`` (interpolated with ``run``'s scores
    when ``alpha`` is set), the rest below in its order: what a ranker stage makes of its input."""
    from .ranking import rerank_merge

    head = run.truncate(depth)
    return rerank_merge(run, rescored if alpha is None else interpolate(head, rescored, alpha), depth)


def interpolate(head: Run, rescored: Run, alpha: float) -> Run:
    """``alpha·own + (1 − alpha)·before`` per document of each query's head, both scores min-max
    normalised over that head (module docstring). ``ValueError`` when ``rescored`` does not hold
    exactly ``head``'s documents of a query."""
    out = {}
    mine = rescored.scores
    for qid, before in head.items():
        own = mine.get(qid, {})
        if set(own) != set(before):
            extra = sorted(set(own) - set(before))[:3]
            missing = sorted(set(before) - set(own))[:3]
            raise ValueError(f"query {qid!r}: the ranker must return exactly its {len(before)} candidates "
                             f"(unexpected: {extra}, missing: {missing})")
        a, b = _minmax(own), _minmax(before)
        out[qid] = {doc: alpha * a[doc] + (1 - alpha) * b[doc] for doc in before}
    return Run.from_scores(out)


def _minmax(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {doc: (score - low) / span if span > 0 else 0.0 for doc, score in scores.items()}

"""Stage attribution: what each stage of a cascade adds, and what its input allowed it.

For a pipeline of stages (a retriever, then rankers each reordering the top ``depth`` of the run
before it), ``attribute`` gives per stage, on the suite's first metric:

* ``quality``: the metric of the run after the stage (the last stage's is the cell's value);
* ``input_recall`` (stages after the first): ``R@depth`` of the previous stage's run, the share of
  the relevant documents (grade >= 1) among the candidates the stage was handed, averaged over
  the judged queries as every metric is (trec_eval -c); the harness's own ``R@depth``, so it
  equals that metric on the previous run;
* ``ceiling`` (stages after the first): the metric on the **oracle** reordering of the stage's
  input, ``oracle_rerank(previous run, qrels, depth)``: the previous run with its top ``depth``
  sorted by grade, the rest untouched. What a perfect reranker of those candidates reaches; the
  gap ``ceiling - quality`` is what this stage leaves on the table, and a low ceiling says its
  candidates (the stages before) cap it.

The first stage has no input to reorder: its input recall and ceiling are None (a "perfect first
stage" would be the ideal ranking of the whole collection, which measures the qrels, not the
pipeline). docs/metrics.md ("Stage attribution") states the definitions and the oracle's tie rule.
Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .components import Context, Metric
from .ranking import Run

__all__ = ["attribute", "oracle_rerank"]


def oracle_rerank(run: Run | Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
                  depth: int | None) -> Run:
    """``run`` with each query's first ``depth`` documents (in trec_eval's order) reordered by
    their grade in ``qrels``, highest first, and the documents past ``depth`` below them in their
    order: what a perfect reranker of the top ``depth`` returns.

    An unjudged document counts as grade 0, so a negatively judged one ranks below it; documents
    of equal grade keep their order in ``run``. ``depth`` None (or beyond a query's list) reorders
    the whole list. The result is built with ``Run.from_ranked``, so trec_eval reads it in exactly
    this order. Every query of ``run`` is kept, an empty one empty.
    """
    if not isinstance(run, Run):
        run = Run.from_scores(run)
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be at least 0, got {depth}")
    ordered: dict[str, list[tuple[str, float]]] = {}
    for qid, docs in run.items():
        ranked = list(docs.items())
        cut = len(ranked) if depth is None else min(depth, len(ranked))
        head, tail = ranked[:cut], ranked[cut:]
        grades = qrels.get(qid) or {}
        # sorted() is stable: equal grades keep the input order
        head.sort(key=lambda pair: -grades.get(pair[0], 0))
        ordered[qid] = head + tail
    return Run.from_ranked(ordered)


def attribute(stage_runs: Sequence[Run], stages: Sequence[Mapping[str, Any]], qrels: dict[str, dict[str, int]],
              metric: Metric | str, ctx: Context | None = None) -> list[dict]:
    """Per stage: ``{"metric", "quality", "input_recall", "ceiling"}``.

    ``stage_runs[i]`` is the run after stage ``i``: stage 0's the retriever's, each later one the
    whole run after reranking the top ``stages[i]["depth"]`` of ``stage_runs[i - 1]`` (a depth of
    None: the whole list). ``metric`` is evaluated exactly as the cell evaluates it
    (``harness.metrics.evaluate``, trec_eval -c), so the last stage's quality is the cell's value.
    A metric unavailable here (it needs artifacts ``ctx`` lacks) gives None for quality and
    ceiling. Stage 0's ``input_recall`` and ``ceiling`` are None.
    """
    from .metrics import evaluate, parse_metric

    if len(stage_runs) != len(stages):
        raise ValueError(f"{len(stage_runs)} stage runs for {len(stages)} stages")
    if isinstance(metric, str):
        metric = parse_metric(metric)
    ctx = ctx or Context()

    def value(m: Metric, run: Run) -> float | None:
        return evaluate([m], qrels, run, ctx, complete=True)[m.label].aggregate

    out = []
    for i, (run, stage) in enumerate(zip(stage_runs, stages, strict=True)):
        if not isinstance(run, Run):
            run = Run.from_scores(run)
        record = {"metric": metric.label, "quality": value(metric, run), "input_recall": None, "ceiling": None}
        if i > 0:
            previous = stage_runs[i - 1]
            if not isinstance(previous, Run):
                previous = Run.from_scores(previous)
            depth = stage.get("depth")
            record["input_recall"] = value(parse_metric(f"R@{recall_depth(previous, depth)}"), previous)
            record["ceiling"] = value(metric, oracle_rerank(previous, qrels, depth))
        out.append(record)
    return out


def recall_depth(run: Run, depth: int | None) -> int:
    """The cutoff of a stage's input recall: its depth, or (None: the whole list) the longest list."""
    if depth is not None:
        if depth < 1:
            raise ValueError(f"a reranking stage's depth must be at least 1, got {depth}")
        return int(depth)
    return max([1, *run._sizes()])

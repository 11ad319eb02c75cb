"""``ExactRecall@k``: recall of an exact top-k, against a reference retriever's run.

For approximate search and approximated scorers: ``{metric = "ExactRecall@10", reference =
{plugin = "dense", ...}}`` compares each evaluated query's top 10 with the top 10 of the
reference retriever (the exact method of the same family), as ``harness.exact.recall_of_exact``
defines it. The reference's run comes from the runner (``ctx.retrieve``), for every query of the
collection at the suite's depth k: it is computed once per configuration and collection in a run
(a pipeline with the same retriever shares it) and kept in the artifact cache like any stage's
run, its phases recorded as a nested retriever's (``dense.retrieve``) inside ``evaluate``. Outside
a runner (``ctx.retrieve`` is None) the reference is built and indexed here, on
``ctx.collection``. docs/metrics.md has the definition.
"""

from __future__ import annotations

import dataclasses

from ..cache import cache_key
from ..components import Context, Metric, MetricValue
from ..exact import recall_of_exact, reference_spec
from ..hookspecs import hookimpl
from ..params import Param
from ..ranking import Run
from .measures import trec_mean

UNAVAILABLE = "needs the collection (ctx.collection) to run its reference retriever"
COMPRESSED = "needs the runner to apply its reference's compressors (ctx.retrieve)"


class ExactRecall(Metric):
    """Recall of an exact top-k: the share of a reference retriever's top k found in the run's top k."""

    name = "ExactRecall"
    cutoff_rule = "required"
    params = {
        "cutoff": Param(int, None, nullable=True, min=1, help="rank cutoff k (the number after @)"),
        "reference": Param("retriever", help="the exact retriever to compare with: a table like a pipeline's "
                           "retriever, {plugin = \"dense\", ...}"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self._standalone: dict[tuple, Run] = {}

    def reference_spec(self):
        """The reference as a ``StageSpec``: the suite validator puts one in ``self.reference``; a
        table (a metric parsed outside a suite) is validated against the installed plugins once."""
        if isinstance(self.reference, dict):
            self.reference = reference_spec(self.reference)
        return self.reference

    @classmethod
    def evaluate_batch(cls, metrics: list[Metric], qrels: dict, run: Run, ctx: Context) -> dict[str, MetricValue]:
        """Metrics with the same reference configuration share one reference run."""
        groups: dict[str, list[ExactRecall]] = {}
        for metric in metrics:
            groups.setdefault(cache_key(metric.reference_spec().config()), []).append(metric)
        out = {}
        for group in groups.values():
            depth = ctx.k or max(m.cutoff for m in group)
            reference = group[0].reference_run(ctx, depth)
            for metric in group:
                out[metric.label] = metric.compare(run, reference, depth)
        return out

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        depth = ctx.k or self.cutoff
        return self.compare(run, self.reference_run(ctx, depth), depth)

    def compare(self, run: Run, reference: Run | str, depth: int) -> MetricValue:
        if isinstance(reference, str):
            return MetricValue(aggregate=None, per_query=None, details={"unavailable": reference})
        per_query = recall_of_exact(run, reference, self.cutoff, queries=list(run))
        empty = sum(not reference.ranked(q) for q in per_query)
        details = {"reference": self.reference_spec().config(), "reference_depth": depth,
                   "empty_reference": empty}
        return MetricValue(trec_mean(per_query), per_query, details)

    def reference_run(self, ctx: Context, depth: int) -> Run | str:
        """The reference's run for every query of the collection, ``depth`` documents each; or why
        there is none."""
        collection = ctx.collection
        if collection is None:
            return UNAVAILABLE
        spec = self.reference_spec()
        if ctx.retrieve is not None:
            return ctx.retrieve(spec, collection.queries, depth)
        if spec.compressors:
            return COMPRESSED
        key = (collection.fingerprint, depth)
        if key not in self._standalone:
            own = dataclasses.replace(ctx, artifacts={}, phase={})
            retriever = spec.build()
            retriever.setup(own)
            retriever.index(collection, own)
            self._standalone = {key: retriever.retrieve(collection.queries, depth, own)}
        return self._standalone[key]


@hookimpl
def harness_metrics():
    return [ExactRecall]

"""``MetricContract``: the rules every metric family must follow, as pytest tests.

The metrics are parsed from ``specs`` (suite names; by default the family with and without a
cutoff, as its ``cutoff_rule`` allows) with the built-in families beside it, and evaluated
through ``harness.metrics.evaluate``, as the runner does, on the kit's qrels and a handful of
runs: ideal, reversed, ties, only unjudged documents, queries without results, no results at all.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, ClassVar

import pytest

from ..components import Context, MetricValue
from ..metrics import evaluate, parse_metric
from ..ranking import Run
from .base import Contract
from .data import registry_with, tiny_collection

VALUES = "test_returns_metric_values"


def metric_runs(qrels: dict[str, dict[str, int]], doc_ids: list[str]) -> dict[str, Run]:
    """Runs that cover what a metric must survive, for ``qrels`` over the corpus ``doc_ids``."""
    ideal, worst, ties, unjudged = {}, {}, {}, {}
    for qid, judged in qrels.items():
        best_first = sorted(judged, key=lambda d: (-judged[d], d))
        others = [d for d in doc_ids if d not in judged]
        ideal[qid] = [(d, float(len(doc_ids) - i)) for i, d in enumerate(best_first + others)]
        worst[qid] = [(d, float(len(doc_ids) - i)) for i, d in enumerate(others + best_first[::-1])]
        ties[qid] = {d: 1.0 for d in doc_ids}
        unjudged[qid] = {d: 1.0 / (1 + i) for i, d in enumerate(others)}
    half = {qid: docs for i, (qid, docs) in enumerate(ideal.items()) if i % 2 == 0}
    return {
        "ideal": Run.from_ranked(ideal),
        "reversed": Run.from_ranked(worst),
        "ties": Run.from_scores(ties),
        "unjudged": Run.from_scores(unjudged),
        "some queries without results": Run.from_ranked(half),
        "no results": Run({}),
    }


class MetricContract(Contract):
    """Subclass as ``class TestMine(MetricContract): component = Mine``."""

    kind = "metric"
    #: Suite names to parse and evaluate; None: the family, with and without a cutoff as allowed.
    specs: ClassVar[list[str | dict[str, Any]] | None] = None
    #: The smallest possible value (the largest is the class's ``upper_bound``); None: unbounded.
    lower_bound: ClassVar[float | None] = 0.0

    def spec_list(self) -> list[str | dict[str, Any]]:
        if self.specs is not None:
            return list(self.specs)
        name, rule = self.component.name, self.component.cutoff_rule
        return {"required": [f"{name}@5"], "none": [name]}.get(rule, [name, f"{name}@5"])

    def metrics(self) -> list:
        registry = registry_with(self.component)
        return [parse_metric(spec, registry) for spec in self.spec_list()]

    def make_context(self) -> Context:
        """The context metrics are evaluated with; a metric that ``requires`` artifacts gets
        them here (override and fill ``artifacts``)."""
        return Context(collection=tiny_collection())

    def aggregate(self, per_query: dict[str, float]) -> float:
        """The aggregate the per-query values imply: their mean (override for another average)."""
        return sum(per_query.values()) / len(per_query) if per_query else 0.0

    def evaluations(self):
        """(run name, complete, evaluated queries, {label: MetricValue}) for every kit run, with
        trec_eval -c and without."""
        collection = tiny_collection()
        ctx, metrics = self.make_context(), self.metrics()
        for metric in metrics:  # the runner turns a value above upper_bound into an unavailable one;
            metric.upper_bound = None  # here test_values_in_range is the rule that says so
        missing = sorted({a for m in metrics for a in m.requires if a not in ctx.artifacts})
        assert not missing, f"the metric requires {missing}: override make_context() to provide them"
        out = []
        for name, run in metric_runs(collection.qrels, [d.id for d in collection.docs]).items():
            for complete in (True, False):
                queries = {q for q, judged in collection.qrels.items() if judged and (complete or run.scores.get(q))}
                try:
                    values = evaluate(metrics, collection.qrels, run, ctx, complete=complete)
                except KeyError as exc:
                    raise AssertionError(f"evaluate_batch returned no value under the label {exc}: key values by "
                                         "metric.label") from None
                for metric in metrics:
                    check_value(metric, values.get(metric.label), f"run {name!r}")
                out.append((name, complete, queries, values))
        return out

    def checked(self):
        return self.prerequisite(VALUES, self.evaluations)

    # -- the rules ---------------------------------------------------------------------------

    def test_label_round_trips(self):
        """``metric.label`` parses back (``harness.metrics.parse_metric``) into the same family
        with the same parameters, and the same label: results are keyed by it."""
        registry = registry_with(self.component)
        for spec in self.spec_list():
            metric = parse_metric(spec, registry)
            label = metric.label
            again = parse_metric(label, registry)
            assert type(again) is type(metric) and again.config == metric.config, (
                f"{spec!r} → label {label!r} → {again!r}, not {metric!r}"
            )
            assert again.label == label, f"{spec!r}: label {label!r} parses into label {again.label!r}"

    def test_returns_metric_values(self):
        """Evaluation returns a ``MetricValue`` per metric under its ``label``: a finite number as
        ``aggregate``; ``per_query`` a dict of numbers, or None for a ``per_query = False`` family."""
        self.evaluations()

    def test_one_value_per_query(self):
        """``per_query`` has exactly the queries evaluated: every judged query with trec_eval -c
        (one without results too), the judged queries the run has without."""
        if not self.component.per_query:
            pytest.skip("per_query = False: no per-query values")
        for name, complete, queries, values in self.checked():
            for label, value in values.items():
                assert set(value.per_query) == queries, (
                    f"{label}, run {name!r}, complete={complete}: per-query values for {sorted(value.per_query)}, "
                    f"evaluated queries {sorted(queries)}"
                )

    def test_values_in_range(self):
        """Every value (per query and aggregate) lies within [``lower_bound``, ``upper_bound``]."""
        low = -math.inf if self.lower_bound is None else self.lower_bound
        high = math.inf if self.component.upper_bound is None else self.component.upper_bound
        for name, complete, _, values in self.checked():
            for label, value in values.items():
                for qid, x in [("aggregate", value.aggregate), *(value.per_query or {}).items()]:
                    assert low <= x <= high, (
                        f"{label}, run {name!r}, complete={complete}: {qid} = {x}, outside [{low}, {high}]"
                    )

    def test_aggregate_consistent(self):
        """The aggregate is the mean of the per-query values (``aggregate()`` says otherwise for
        families that average differently)."""
        if not self.component.per_query:
            pytest.skip("per_query = False: nothing to be consistent with")
        for name, complete, _, values in self.checked():
            for label, value in values.items():
                expected = self.aggregate(value.per_query)
                assert math.isclose(value.aggregate, expected, rel_tol=1e-6, abs_tol=1e-9), (
                    f"{label}, run {name!r}, complete={complete}: aggregate {value.aggregate}, per-query values imply "
                    f"{expected}"
                )


def check_value(metric, value, where: str) -> None:
    assert isinstance(value, MetricValue), f"{metric.label}, {where}: got {value!r}, not a MetricValue"
    assert _number(value.aggregate) and math.isfinite(value.aggregate), (
        f"{metric.label}, {where}: aggregate {value.aggregate!r} is not a finite number"
    )
    if not metric.per_query:
        assert value.per_query is None, f"{metric.label}, {where}: per_query = False, but per-query values came back"
        return
    assert isinstance(value.per_query, dict), f"{metric.label}, {where}: per_query is {value.per_query!r}, not a dict"
    bad = {q: v for q, v in value.per_query.items() if not (_number(v) and math.isfinite(v))}
    assert not bad, f"{metric.label}, {where}: per-query values that are not finite numbers: {bad}"


def _number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)

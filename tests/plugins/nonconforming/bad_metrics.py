"""Metric families that each break one rule of ``MetricContract`` (see README.md)."""

from __future__ import annotations

from harness.components import Metric, MetricValue
from harness.params import Param


class Good(Metric):
    """Share of the relevant documents found in the first ``cutoff`` (recall)."""

    name = "NcGood"
    params = {
        "cutoff": Param(int, None, nullable=True, min=1, help="rank cutoff"),
        "rel": Param(int, 1, min=1, help="minimum grade counted relevant"),
    }

    def value(self, judged: dict[str, int], ranked: list[str]) -> float:
        relevant = {d for d, grade in judged.items() if grade >= self.rel}
        top = ranked[: self.cutoff] if self.cutoff else ranked
        return len(relevant & set(top)) / len(relevant) if relevant else 0.0

    def evaluate(self, qrels, run, ctx):
        per_query = {qid: self.value(qrels.get(qid, {}), list(docs)) for qid, docs in run.items()}
        return MetricValue(sum(per_query.values()) / len(per_query) if per_query else 0.0, per_query)


class BadDefault(Good):
    """Declares a default its own parameter refuses."""

    params = {**Good.params, "rel": Param(int, 0, min=1, help="minimum grade counted relevant")}

    def __init__(self, **params):
        super().__init__(**params)
        self.rel = max(self.rel, 1)


class BadLabel(Good):
    """Labels itself as trec_eval names measures: ``NcGood_cut_5`` does not parse back."""

    @property
    def label(self):
        return f"{self.name}_cut_{self.cutoff}" if self.cutoff else self.name


class WrongKeys(Good):
    """Keys its batch results by family name instead of label."""

    @classmethod
    def evaluate_batch(cls, metrics, qrels, run, ctx):
        return {m.name: m.evaluate(qrels, run, ctx) for m in metrics}


class MissingQueries(Good):
    """Leaves out the queries without results."""

    def evaluate(self, qrels, run, ctx):
        value = super().evaluate(qrels, run, ctx)
        per_query = {q: v for q, v in value.per_query.items() if run[q]}
        return MetricValue(sum(per_query.values()) / len(per_query) if per_query else 0.0, per_query)


class OutOfRange(Good):
    """Counts the relevant documents found instead of their share."""

    def value(self, judged, ranked):
        top = ranked[: self.cutoff] if self.cutoff else ranked
        return float(sum(1 for d in top if judged.get(d, 0) >= self.rel))


class DividesByAllJudged(Good):
    """Averages over every judged query, also when fewer were evaluated."""

    def evaluate(self, qrels, run, ctx):
        value = super().evaluate(qrels, run, ctx)
        return MetricValue(sum(value.per_query.values()) / len(qrels), value.per_query)


GOOD = Good
BREAKS = {
    "test_declares_a_valid_component": BadDefault,
    "test_label_round_trips": BadLabel,
    "test_returns_metric_values": WrongKeys,
    "test_one_value_per_query": MissingQueries,
    "test_values_in_range": OutOfRange,
    "test_aggregate_consistent": DividesByAllJudged,
}

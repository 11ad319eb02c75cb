"""Metric names, ``evaluate``'s averaging and batching, trec_eval's report, run-file round trips."""

from __future__ import annotations

import random
from typing import ClassVar

import pytest
import pytrec_eval

from harness.components import Context, Metric, MetricValue
from harness.metrics import MetricError, evaluate, parse_metric, trec_eval_report
from harness.params import Param
from harness.plugins import ComponentInfo, PluginInfo, Registry
from harness.ranking import Run, rerank_merge
from harness.trecfiles import format_run, read_run

# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    ["AP", "AP@100", "nDCG", "nDCG@10", "P@10", "P(rel=2)@10", "R@1000", "RR", "RR@10", "Rprec",
     "Bpref", "Judged@10", "Judged", "Bpref(rel=2)", "AP(rel=3,judged_only=True)@5",
     "nDCG(judged_only=True)@20"],
)  # fmt: skip
def test_labels_round_trip(label):
    metric = parse_metric(label)
    assert metric.label == label
    assert parse_metric(metric.label).config == metric.config


@pytest.mark.parametrize(
    "spec, label",
    [
        (" nDCG @ 10 ", "nDCG@10"),
        ("P( rel = 2 )@10", "P(rel=2)@10"),
        ("AP(rel=1)", "AP"),  # defaults are not printed
        ("nDCG(cutoff=10)", "nDCG@10"),
        ("RR(judged_only=False)@+10", "RR@10"),
        ({"metric": "nDCG", "cutoff": 10}, "nDCG@10"),
        ({"metric": "P@5", "rel": 2}, "P(rel=2)@5"),
    ],
)
def test_other_spellings_print_canonically(spec, label):
    assert parse_metric(spec).label == label


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nDGC@10", "no metric named 'nDGC' \\(did you mean 'nDCG@10'\\?\\)"),
        ("Recal@100", "no metric named 'Recal' \\(did you mean 'R@100'\\?\\)"),  # not Rprec
        ("Recall", "Recall \\(R\\) needs a cutoff, e.g. R@10"),
        ("ndcg_cut", "ndcg_cut needs a cutoff, e.g. ndcg_cut_10 \\(nDCG@10\\)"),
        ("bpref@10", "bpref \\(Bpref\\) takes no cutoff"),
        ("recall_100@100", "cutoff given twice"),
        ("P", "P needs a cutoff, e.g. P@10"),
        ("R", "R needs a cutoff, e.g. R@10"),
        ("Rprec@10", "Rprec takes no cutoff"),
        ("Bpref(cutoff=5)", "Bpref takes no cutoff"),
        ("nDCG@0", "cutoff: must be >= 1, got 0"),
        ("nDCG@ten", "the cutoff after @ must be an integer, got 'ten'"),
        ("nDCG@", "the cutoff after @ must be an integer"),
        ("nDCG@1.5", "must be an integer"),
        ("AP(rell=2)", "rell: unknown parameter \\(did you mean 'rel'\\?\\)"),
        ("nDCG(rel=2)@10", "rel: unknown parameter"),
        ("P(rel='2')@10", "rel: must be a int"),
        ("AP(judged_only=1)", "judged_only: must be a bool"),
        ("AP(2)", "parameters are written name=value"),
        ("AP(rel=x)", "cannot read its parameters"),
        ("P(cutoff=5)@10", "cutoff given twice"),
        ("@10", "cannot read metric"),
        (42, "a metric is a name like 'nDCG@10'"),
        ({"cutoff": 10}, "a table with 'metric'"),
        ({"metric": "AP", "depth": 10}, "depth: unknown parameter"),
    ],
)
def test_parse_errors_say_what_is_wrong(spec, message):
    with pytest.raises(MetricError, match=message):
        parse_metric(spec)


class Hubness(Metric):
    """A corpus-level diagnostic from a third party."""

    name = "hub-ness"
    params = {"k": Param(int, 10, min=1)}
    cutoff_rule = "none"
    per_query = False
    upper_bound = None  # a count: its value here is 3.0
    requires = ("embeddings",)

    def evaluate(self, qrels, run, ctx):
        return MetricValue(aggregate=float(len(ctx.artifacts["embeddings"])))


class CountingBase(Metric):
    """Families sharing one batch implementation, counting its calls."""

    calls: ClassVar[list] = []
    params = {"cutoff": Param(int, None, nullable=True, min=1)}

    @classmethod
    def evaluate_batch(cls, metrics, qrels, run, ctx):
        CountingBase.calls.append([m.label for m in metrics])
        return {
            m.label: MetricValue(1.0, {q: 1.0 for q in run}, {"seen": len(run)}) for m in metrics
        }


class Alpha(CountingBase):
    """First of two families in one batch."""

    name = "Alpha"


class Beta(CountingBase):
    """Second of two families in one batch."""

    name = "Beta"


def registry_with(*classes) -> Registry:
    info = PluginInfo("third", "third-party", "1.0")
    info.components = [
        ComponentInfo("metric", c.name, c, "third", "third-party", "1.0") for c in classes
    ]
    return Registry([info])


def test_third_party_families_parse_the_same_way():
    registry = registry_with(Hubness, Alpha)
    assert parse_metric("hub-ness(k=5)", registry).label == "hub-ness(k=5)"
    assert parse_metric({"metric": "hub-ness", "k": 3}, registry).config == {"k": 3}
    assert parse_metric("Alpha@3", registry).label == "Alpha@3"
    with pytest.raises(MetricError, match="hub-ness takes no cutoff"):
        parse_metric("hub-ness@10", registry)
    assert parse_metric("alpha@2", registry).label == "Alpha@2"  # another letter case
    with pytest.raises(MetricError, match="did you mean 'Alpha@2'"):
        parse_metric("Alpah@2", registry)


# --- evaluate ----------------------------------------------------------------------------------

QRELS = {"q1": {"a": 1, "b": 0}, "q2": {"c": 2}, "q3": {"d": 1}, "q4": {}}
RUN = {"q1": {"a": 1.0, "b": 2.0}, "q2": {"c": 1.0}, "q5": {"a": 1.0}, "q3": {}}


def test_complete_counts_every_judged_query():
    values = evaluate([parse_metric("RR"), parse_metric("P@1")], QRELS, Run.from_scores(RUN))
    assert values["RR"].per_query == {"q1": 0.5, "q2": 1.0, "q3": 0.0}
    assert values["RR"].aggregate == pytest.approx(0.5)
    assert values["P@1"].details == {"queries": 3, "queries_without_results": 1, "complete": True}
    missing = {"q1": {"a": 1.0}}  # q2 and q3 have no results at all
    values = evaluate([parse_metric("RR")], QRELS, Run.from_scores(missing))
    assert values["RR"].per_query == {"q1": 1.0, "q2": 0.0, "q3": 0.0}
    assert values["RR"].details["queries_without_results"] == 2


def test_intersection_averages_over_judged_queries_with_a_run():
    values = evaluate([parse_metric("RR")], QRELS, Run.from_scores(RUN), complete=False)
    # q3 is in the run (with no documents); q4 has no judgments; q5 is not judged.
    assert values["RR"].per_query == {"q1": 0.5, "q2": 1.0, "q3": 0.0}
    assert values["RR"].details == {"queries": 3, "queries_without_results": 1, "complete": False}
    values = evaluate([parse_metric("RR")], QRELS, {"q1": {"a": 1.0}}, complete=False)
    assert values["RR"].per_query == {"q1": 1.0} and values["RR"].aggregate == 1.0


def test_aggregate_is_trec_eval_mean():
    rng = random.Random(3)
    qrels = {f"q{i}": {f"d{j}": rng.randint(0, 2) for j in range(20)} for i in range(40)}
    run = {q: {f"d{j}": rng.random() for j in range(30)} for q in qrels}
    direct = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(run)
    values = evaluate([parse_metric("AP")], qrels, Run.from_scores(run))
    assert values["AP"].per_query == {q: v["map"] for q, v in direct.items()}
    # trec_eval sums in query-id order, then divides: the same double.
    assert values["AP"].aggregate == sum(direct[q]["map"] for q in sorted(direct)) / len(direct)


def test_plain_dicts_are_sorted_like_run_files():
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}  # tie: trec_eval puts b first
    assert evaluate([parse_metric("RR@1")], qrels, run)["RR@1"].aggregate == 0.0


def test_keys_follow_the_order_given_and_batches_are_shared():
    CountingBase.calls.clear()
    registry = registry_with(Alpha, Beta)
    metrics = [parse_metric("Beta@2", registry), parse_metric("nDCG@10"),
               parse_metric("Alpha", registry), parse_metric("AP")]  # fmt: skip
    values = evaluate(metrics, QRELS, Run.from_scores(RUN))
    assert list(values) == ["Beta@2", "nDCG@10", "Alpha", "AP"]
    assert CountingBase.calls == [["Beta@2", "Alpha"]]  # one call for both families
    # The batch sees exactly the evaluated queries; its own details are kept.
    assert values["Alpha"].details == {"queries": 3, "queries_without_results": 1,
                                       "complete": True, "seen": 3}  # fmt: skip


def test_metrics_needing_missing_artifacts_are_unavailable():
    hub = Hubness(k=5)
    values = evaluate([hub, parse_metric("RR")], QRELS, Run.from_scores(RUN))
    assert values["hub-ness(k=5)"] == MetricValue(None, None, {"unavailable": "needs embeddings"})
    assert values["RR"].aggregate == pytest.approx(0.5)
    ctx = Context(artifacts={"embeddings": [1, 2, 3]})
    assert evaluate([hub], QRELS, Run.from_scores(RUN), ctx)["hub-ness(k=5)"].aggregate == 3.0


# --- trec_eval's report ------------------------------------------------------------------------

REPORT_QRELS = {"2": {"a": 1}, "10": {"a": 1, "b": 1}, "3": {"z": 1}}
REPORT_RUN = {"2": {"a": 1.0, "b": 0.5}, "10": {"b": 1.0, "x": 0.9, "a": 0.1}}


def test_report_layout():
    text = trec_eval_report(REPORT_QRELS, REPORT_RUN, ["RR", "P@2"])
    assert text == "RR                    \tall\t1.0000\nP@2                   \tall\t0.5000\n"


def test_report_per_query_in_trec_eval_order():
    text = trec_eval_report(REPORT_QRELS, Run.from_scores(REPORT_RUN), ["RR", "AP"], per_query=True)
    rows = [line.split("\t") for line in text.splitlines()]
    assert [(m.rstrip(), q) for m, q, _ in rows] == [
        ("RR", "10"), ("AP", "10"), ("RR", "2"), ("AP", "2"), ("RR", "all"), ("AP", "all"),
    ]  # fmt: skip
    assert all(len(m) == 22 for m, _, _ in rows)
    assert [v for _, _, v in rows] == ["1.0000", "0.8333", "1.0000", "1.0000", "1.0000", "0.9167"]


def test_report_complete_changes_only_the_averages():
    text = trec_eval_report(REPORT_QRELS, REPORT_RUN, ["AP"], per_query=True, complete=True)
    # Query 3 has no results: trec_eval -c -q prints no line for it, but averages over it.
    assert text.splitlines() == [
        "AP                    \t10\t0.8333",
        "AP                    \t2\t1.0000",
        "AP                    \tall\t0.6111",
    ]


def test_report_precision_and_metric_objects():
    text = trec_eval_report(REPORT_QRELS, REPORT_RUN, [parse_metric("AP")], precision=6)
    assert text == "AP                    \tall\t0.916667\n"


def test_report_refuses_metrics_a_run_file_cannot_feed():
    with pytest.raises(MetricError, match="needs embeddings"):
        trec_eval_report(REPORT_QRELS, REPORT_RUN, [Hubness()])


# --- run files ---------------------------------------------------------------------------------

ROUND_TRIP_METRICS = ["AP", "nDCG", "nDCG@5", "P@5", "R@10", "RR", "RR@3", "Rprec", "Bpref",
                      "Judged@3", "Judged@10"]  # fmt: skip


def random_case(seed: int) -> tuple[dict, dict]:
    rng = random.Random(seed)
    qrels, run = {}, {}
    for q in range(30):
        docs = [f"d{rng.randint(0, 60)}" for _ in range(40)]
        qrels[f"q{q}"] = {d: rng.choice([-1, 0, 0, 1, 2, 3]) for d in docs[:15]}
        # Coarse scores: many ties, some straddling every cutoff.
        run[f"q{q}"] = {d: rng.randint(0, 8) / 4 for d in docs}
    return qrels, run


def assert_same_metrics(qrels, run: Run, tmp_path):
    path = tmp_path / "run.trec"
    path.write_text(format_run(run, "test"), encoding="utf-8")
    again = read_run(path)
    assert again == run  # same order, same doubles
    metrics = [parse_metric(m) for m in ROUND_TRIP_METRICS]
    values = evaluate(metrics, qrels, run)
    assert evaluate(metrics, qrels, again) == values
    # pytrec_eval re-sorts the scores itself: they must tell it the run's order, as unambiguous
    # scores (1000, 999, ...) do.
    by_rank = Run({q: {d: 1000.0 - i for i, d in enumerate(docs)} for q, docs in run.items()})
    assert evaluate(metrics, qrels, by_rank) == values


def test_run_file_round_trip_keeps_metrics(tmp_path):
    qrels, scores = random_case(1)
    assert_same_metrics(qrels, Run.from_scores(scores), tmp_path)


def test_reranked_run_round_trip_keeps_metrics(tmp_path):
    qrels, scores = random_case(2)
    original = Run.from_scores(scores)
    rng = random.Random(5)
    # The reranker scores the top 10 far below the tail's first-stage scores, with ties.
    head = Run.from_scores(
        {q: {d: -rng.randint(0, 3) for d in list(docs)[:10]} for q, docs in original.items()}
    )
    merged = rerank_merge(original, head, depth=10)
    for q, docs in merged.items():  # the encoded order: reranked head, then the original tail
        assert list(docs)[:10] == list(head[q])
        assert list(docs)[10:] == list(original[q])[10:]
    assert_same_metrics(qrels, merged, tmp_path)


def test_a_parameter_given_twice_is_refused():
    from harness.metrics import MetricError, parse_metric

    with pytest.raises(MetricError, match="rel given twice"):
        parse_metric("AP(rel=2, rel=3)")

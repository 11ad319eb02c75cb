"""Stage attribution (harness/attribution.py): quality after each stage, the recall of its
candidates, and its ceiling, the metric on an oracle reordering of its input's head.

The constructed case: hand-made qrels (graded, one negative grade, a judged query with no results,
an unjudged query in the run) and a first-stage run; a perfect reranker reaches its ceiling
exactly, a reversing one stays below, and no reordering of the head ever beats the ceiling.
"""

from __future__ import annotations

import math
from itertools import permutations

import pytest
import pytrec_eval
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.attribution import attribute, oracle_rerank
from harness.metrics import evaluate, parse_metric
from harness.ranking import Run, rerank_merge

QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0, "d4": -1, "d5": 1},
    "q2": {"e1": 1, "e2": 3},
    "q3": {"f1": 1},  # judged, never retrieved: scores 0 everywhere (trec_eval -c)
    "q4": {"g1": 0},  # judged, nothing relevant
}
FIRST = Run.from_scores({
    "q1": {"d3": 0.9, "d4": 0.8, "d2": 0.7, "x1": 0.6, "d1": 0.5, "d5": 0.4, "x2": 0.3},
    "q2": {"e9": 5.0, "e1": 4.0, "e8": 3.0, "e2": 2.0},  # e2 within depth 4, past depth 3
    "q4": {"g1": 1.0, "g2": 0.5},
    "q9": {"z": 1.0},  # not judged: ignored, as trec_eval ignores it
})
DEPTH = 4
STAGES = [{"kind": "retriever", "depth": None}, {"kind": "ranker", "depth": DEPTH}]


def rerank(run: Run, depth: int, score) -> Run:
    """A reranker of the top ``depth`` through the harness's own merge: ``score(qid, doc, rank)``."""
    heads = {q: {d: score(q, d, r) for r, d in enumerate(list(docs)[:depth])} for q, docs in run.items()}
    return rerank_merge(run, Run.from_scores(heads), depth)


def perfect(run: Run, depth: int, qrels=QRELS) -> Run:
    """Scores the head by grade (unjudged 0), ties by the input order: a perfect reranker."""
    return rerank(run, depth, lambda q, d, r: (qrels.get(q) or {}).get(d, 0) * 1000.0 - r)


def reversed_head(run: Run, depth: int) -> Run:
    return rerank(run, depth, lambda q, d, r: float(r))


def value(metric: str, run: Run, qrels=QRELS) -> float:
    return evaluate([parse_metric(metric)], qrels, run, complete=True)[metric].aggregate


# -- the oracle -------------------------------------------------------------------------------------


def test_oracle_sorts_the_head_by_grade_and_keeps_the_tail():
    oracle = oracle_rerank(FIRST, QRELS, DEPTH)
    # head d3(0) d4(-1) d2(1) x1(unjudged): d2, then the 0s in input order (d3, x1), the -1 last
    assert list(oracle["q1"]) == ["d2", "d3", "x1", "d4", "d1", "d5", "x2"]
    assert list(oracle["q2"]) == ["e2", "e1", "e9", "e8"]
    assert list(oracle["q4"]) == ["g1", "g2"] and list(oracle["q9"]) == ["z"]
    assert set(oracle) == set(FIRST)


def test_oracle_order_survives_trec_evals_sort():
    """The scores encode the order (Run.from_ranked): a run file read back keeps it."""
    oracle = oracle_rerank(FIRST, QRELS, DEPTH)
    again = Run.from_scores({q: dict(docs) for q, docs in oracle.items()})
    assert {q: list(d) for q, d in again.items()} == {q: list(d) for q, d in oracle.items()}


def test_oracle_depth_beyond_the_list_and_none_reorder_everything():
    for depth in (100, None):
        oracle = oracle_rerank(FIRST, QRELS, depth)
        assert list(oracle["q1"]) == ["d1", "d2", "d5", "d3", "x1", "x2", "d4"]
        assert list(oracle["q2"]) == ["e2", "e1", "e9", "e8"]


def test_oracle_keeps_empty_queries_and_takes_dicts():
    oracle = oracle_rerank({"q1": {}, "q2": {"e1": 1.0, "e2": 1.0}}, QRELS, 2)
    assert oracle["q1"] == {} and list(oracle["q2"]) == ["e2", "e1"]  # e2 (grade 3) first
    unchanged = oracle_rerank(FIRST, QRELS, 0)  # depth 0: nothing to reorder
    assert {q: list(d) for q, d in unchanged.items()} == {q: list(d) for q, d in FIRST.items()}


def test_negative_grades_rank_below_unjudged():
    run = Run.from_scores({"q": {"neg": 3.0, "unj": 2.0, "zero": 1.0}})
    assert list(oracle_rerank(run, {"q": {"neg": -2, "zero": 0, "r": 1}}, 3)["q"]) == ["unj", "zero", "neg"]


def test_the_ceiling_by_hand():
    """nDCG of the oracle run for q1, written out: gains 1, 0, 0, 0 | 2, 1, 0 (the tail as it was)."""
    ceiling = attribute([FIRST, FIRST], STAGES, {"q1": QRELS["q1"]}, parse_metric("nDCG"))[1]["ceiling"]
    dcg = 1 / math.log2(2) + 2 / math.log2(6) + 1 / math.log2(7)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ceiling == pytest.approx(dcg / ideal, abs=1e-12)


# -- attribute -------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["nDCG@10", "nDCG@2", "AP", "P@3", "RR", "R@5", "AP(rel=2)", "nDCG"])
def test_a_perfect_reranker_reaches_its_ceiling(metric):
    after = perfect(FIRST, DEPTH)
    found = attribute([FIRST, after], STAGES, QRELS, parse_metric(metric))
    assert found[1]["quality"] == found[1]["ceiling"]  # exactly: the same order, the same numbers
    assert found[1]["quality"] == value(metric, after)  # the cell's value of the final run
    assert found[0] == {"metric": metric, "quality": value(metric, FIRST), "input_recall": None, "ceiling": None}


@pytest.mark.parametrize("metric", ["nDCG@10", "AP", "RR"])
def test_a_reversing_reranker_stays_below_its_ceiling(metric):
    found = attribute([FIRST, reversed_head(FIRST, DEPTH)], STAGES, QRELS, parse_metric(metric))
    assert found[1]["quality"] < found[1]["ceiling"]


def test_input_recall_is_r_at_depth_of_the_previous_run_and_pytrec_evals():
    found = attribute([FIRST, perfect(FIRST, DEPTH)], STAGES, QRELS, parse_metric("nDCG@10"))
    assert found[1]["input_recall"] == value(f"R@{DEPTH}", FIRST)
    # pytrec_eval directly on the same dicts; the judged queries it never sees (q3) count 0 (-c),
    # summed in trec_eval's order (ids as strings)
    direct = pytrec_eval.RelevanceEvaluator(QRELS, {f"recall.{DEPTH}"}).evaluate(FIRST.scores)
    per_query = {q: direct.get(q, {}).get(f"recall_{DEPTH}", 0.0) for q in QRELS}
    assert found[1]["input_recall"] == sum(per_query[q] for q in sorted(per_query)) / len(per_query)
    # by hand: q1 holds d2 of d1, d2, d5; q2 both of e1, e2; q3 nothing; q4 has nothing relevant (0)
    assert found[1]["input_recall"] == pytest.approx((1 / 3 + 1 + 0 + 0) / 4)


def test_the_ceiling_is_capped_by_the_candidates():
    """e2 (grade 3) lies past depth 3 in q2: the ceiling at depth 3 is below the one at depth 4."""
    shallow = attribute([FIRST, FIRST], [STAGES[0], {"kind": "ranker", "depth": 3}], {"q2": QRELS["q2"]},
                        "nDCG@10")[1]
    deep = attribute([FIRST, FIRST], STAGES, {"q2": QRELS["q2"]}, "nDCG@10")[1]
    assert shallow["input_recall"] == 0.5 and deep["input_recall"] == 1.0
    assert shallow["ceiling"] < deep["ceiling"] == 1.0


def test_three_stages_each_against_its_own_input():
    second = reversed_head(FIRST, DEPTH)
    third = perfect(second, 2)
    stages = [*STAGES, {"kind": "ranker", "depth": 2}]
    found = attribute([FIRST, second, third], stages, QRELS, parse_metric("nDCG@10"))
    assert [f["quality"] for f in found] == [value("nDCG@10", r) for r in (FIRST, second, third)]
    assert found[2]["input_recall"] == value("R@2", second)
    assert found[2]["ceiling"] == found[2]["quality"]  # perfect on its own input's top 2
    assert found[2]["ceiling"] < found[1]["ceiling"]  # top 2 of a reversed head: less to work with


def test_queries_without_results_and_depth_beyond_every_list():
    """q3 (judged, absent from the run) and an empty q1 count 0; depth 50 reorders every list."""
    run = Run.from_scores({"q1": {}, "q2": {"e1": 1.0, "e2": 0.5}})
    stages = [STAGES[0], {"kind": "ranker", "depth": 50}]
    found = attribute([run, perfect(run, 50)], stages, QRELS, parse_metric("nDCG@10"))[1]
    assert found["quality"] == found["ceiling"] == value("nDCG@10", perfect(run, 50))
    assert found["input_recall"] == pytest.approx((0 + 1 + 0 + 0) / 4)
    none = attribute([run, run], [STAGES[0], {"kind": "ranker", "depth": None}], QRELS, "R@1000")[1]
    assert none["input_recall"] == value("R@2", run)  # the whole list: as deep as the longest


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="2 stage runs for 1 stages"):
        attribute([FIRST, FIRST], STAGES[:1], QRELS, "AP")
    with pytest.raises(ValueError, match="at least 1"):
        attribute([FIRST, FIRST], [STAGES[0], {"kind": "ranker", "depth": 0}], QRELS, "AP")


# -- the ceiling bounds every reordering of the head -------------------------------------------------

DOCS = [f"d{i}" for i in range(7)]


@st.composite
def cases(draw):
    """A run of one to three queries over 7 documents (scores with ties), graded qrels with
    negative grades and unjudged documents, a depth, and a permutation of each query's head."""
    queries = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    run, qrels, heads = {}, {}, {}
    depth = draw(st.integers(1, 8))
    for q in queries:
        docs = draw(st.lists(st.sampled_from(DOCS), max_size=7, unique=True))
        run[q] = {d: float(draw(st.integers(0, 3))) for d in docs}
        judged = draw(st.dictionaries(st.sampled_from(DOCS), st.integers(-1, 3), max_size=7))
        if judged and max(judged.values()) < 0:
            # trec_eval 9.0.8 (pytrec_eval) keeps state across topics, and a topic judged only
            # negatively, evaluated after graded ones, can loop for ever in its nDCG: not made here
            judged[next(iter(judged))] = 0
        if judged:
            qrels[q] = judged
        heads[q] = draw(st.permutations(range(min(depth, len(docs)))))
    if not qrels:
        qrels["a"] = {"d0": 1}
    return Run.from_scores(run), qrels, depth, heads


@pytest.mark.parametrize("metric", ["nDCG@3", "nDCG", "AP", "AP@2", "RR", "P@2"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_ceiling_is_at_least_every_reordering_of_the_head(metric, case):
    run, qrels, depth, heads = case
    permuted = {}
    for q, docs in run.items():
        ranked = list(docs.items())
        head = [ranked[i] for i in heads[q]]
        permuted[q] = head + ranked[len(head):]
    after = Run.from_ranked(permuted)
    found = attribute([run, after], [STAGES[0], {"kind": "ranker", "depth": depth}], qrels, parse_metric(metric))
    assert found[1]["ceiling"] >= found[1]["quality"] - 1e-12


@pytest.mark.parametrize("metric", ["nDCG@2", "AP"])
def test_the_ceiling_is_the_best_of_all_reorderings(metric):
    """Every permutation of a 5-document head, exhaustively: the ceiling is their maximum."""
    run = Run.from_scores({"q": {"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0, "e": 1.0, "f": 0.5}})
    qrels = {"q": {"b": 1, "d": 3, "e": -1, "f": 2, "c": 0}}
    ranked = list(run["q"].items())
    best = max(value(metric, Run.from_ranked({"q": list(p) + ranked[5:]}), qrels) for p in permutations(ranked[:5]))
    found = attribute([run, run], [STAGES[0], {"kind": "ranker", "depth": 5}], qrels, metric)[1]
    assert found["ceiling"] == best

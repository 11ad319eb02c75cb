"""``Run`` keeps each query in trec_eval's order; ``from_ranked`` encodes any order in scores."""

from __future__ import annotations

import math
import random

import pytest
import pytrec_eval

from harness.ranking import Run, encode_order, rerank_merge, trec_order


def trec_eval_ranking(docs: dict[str, float]) -> list[str]:
    """The order pytrec_eval (trec_eval's C code) sees: each document's reciprocal rank when it
    alone is relevant, inverted."""
    ranks = {}
    for doc in docs:
        rr = pytrec_eval.RelevanceEvaluator({"q": {doc: 1}}, {"recip_rank"}).evaluate({"q": docs})
        ranks[round(1 / rr["q"]["recip_rank"])] = doc
    return [ranks[r] for r in sorted(ranks)]


def test_trec_order_is_score_then_doc_id_descending():
    scored = {"a": 1.0, "c": 2.0, "b": 1.0, "d": 0.5, "B": 1.0}
    assert [d for d, _ in trec_order(scored)] == ["c", "b", "a", "B", "d"]
    assert [d for d, _ in trec_order(scored)] == trec_eval_ranking(scored)


def test_trec_order_compares_scores_in_single_precision():
    # trec_eval holds scores in a C float: these two doubles tie there, so "b" ranks first.
    scored = {"a": 1.0 + 1e-12, "b": 1.0}
    assert trec_eval_ranking(scored) == ["b", "a"]
    assert [d for d, _ in trec_order(scored)] == ["b", "a"]
    assert trec_order(scored) == [("b", 1.0), ("a", 1.0 + 1e-12)]  # scores themselves kept


def test_from_scores_sorts_and_accepts_pairs():
    run = Run.from_scores({1: [("x", 0.1), ("y", 0.3)], "q2": {"z": 1}})
    assert list(run) == ["1", "q2"]
    assert run.ranked("1") == [("y", 0.3), ("x", 0.1)]
    assert run["q2"] == {"z": 1.0} and isinstance(run["q2"]["z"], float)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_scores_rejected(bad):
    with pytest.raises(ValueError, match="not finite"):
        Run.from_scores({"q": {"a": 1.0, "b": bad}})
    with pytest.raises(ValueError, match="not finite"):
        Run.from_ranked({"q": [("a", 1.0), ("b", bad)]})


def test_duplicates_rejected_by_from_ranked():
    with pytest.raises(ValueError, match="ranked twice"):
        Run.from_ranked({"q": [("a", 2.0), ("b", 1.0), ("a", 0.5)]})


def test_encoding_keeps_ordered_scores_bit_for_bit():
    rng = random.Random(7)
    ranked = sorted(((f"d{i}", rng.uniform(-50, 50)) for i in range(500)), key=lambda x: -x[1])
    ranked += [("e2", -60.0), ("e1", -60.0)]  # a tie already in trec_eval's order
    encoded = encode_order("q", ranked)
    assert list(encoded.items()) == ranked  # same order, identical doubles


def test_encoding_lowers_only_out_of_order_scores():
    ranked = [("a", 1.0), ("b", 5.0), ("c", 5.0), ("d", 0.25), ("e", 0.25)]
    encoded = encode_order("q", ranked)
    assert list(encoded) == ["a", "b", "c", "d", "e"]
    assert encoded["a"] == 1.0 and encoded["d"] == 0.25  # in order: untouched
    assert encoded["b"] < 1.0 and encoded["c"] < encoded["b"]  # out of order: lowered
    assert encoded["e"] < encoded["d"]  # tie with e > d would put e first: lowered too
    assert trec_eval_ranking(encoded) == ["a", "b", "c", "d", "e"]


def test_encoding_survives_single_precision():
    # One double below 1.0 is still 1.0 as a float: the next float below is used.
    ranked = [("a", 1.0), ("z", 1.0), ("y", 3.0)]
    encoded = encode_order("q", ranked)
    assert trec_eval_ranking(encoded) == ["a", "z", "y"]
    assert Run.from_scores({"q": encoded}) == Run({"q": encoded})


def test_encoding_below_single_precision_range_raises():
    with pytest.raises(ValueError, match="single-precision"):
        encode_order("q", [("a", -3.4028234663852886e38), ("b", 0.0)])


def test_rerank_merge_keeps_tail_below_reranked_head():
    original = Run.from_scores({"q": {"a": 9.0, "b": 8.0, "c": 7.0, "t2": 6.0, "t1": 6.0}})
    # The reranker scores on another scale (below the tail's), with a tie: b, a in trec order.
    head = Run.from_scores({"q": {"a": -2.0, "b": -2.0, "c": -1.0}})
    merged = rerank_merge(original, head, depth=3)
    assert list(merged["q"]) == ["c", "b", "a", "t2", "t1"]
    assert merged["q"]["c"] == -1.0 and merged["q"]["b"] == -2.0 == merged["q"]["a"]
    assert trec_eval_ranking(merged["q"]) == ["c", "b", "a", "t2", "t1"]
    assert Run.from_scores(merged.scores) == merged  # re-sorting changes nothing


def test_rerank_merge_leaves_queries_without_a_tail_and_checks_candidates():
    original = Run.from_scores({"q": {"a": 2.0, "b": 1.0}})
    merged = rerank_merge(original, Run.from_scores({"q": {"a": 0.0, "b": 3.0}}), depth=5)
    assert merged.ranked("q") == [("b", 3.0), ("a", 0.0)]
    with pytest.raises(ValueError, match="unexpected: \\['x'\\], missing: \\['b'\\]"):
        rerank_merge(original, Run.from_scores({"q": {"a": 1.0, "x": 1.0}}), depth=2)


def test_run_helpers():
    run = Run.from_scores({"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {}})
    assert len(run) == 2 and "q1" in run and "q3" not in run
    assert run.num_docs() == 3
    assert run.truncate(2) == Run({"q1": {"a": 3.0, "b": 2.0}, "q2": {}})
    assert run.ranked("missing") == []
    assert run != Run({"q1": {"b": 2.0, "a": 3.0, "c": 1.0}, "q2": {}})  # order matters

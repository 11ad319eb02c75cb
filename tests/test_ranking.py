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


# -- the array-backed Run: every constructor against a pure-Python reference ---------------------

import pickle  # noqa: E402
from array import array  # noqa: E402

import numpy as np  # noqa: E402

from harness import ranking  # noqa: E402
from harness.components import Context  # noqa: E402
from harness.metrics import evaluate, parse_metric  # noqa: E402


def reference_order(docs: dict[str, float]) -> list[tuple[str, float]]:
    """trec_eval's order, written plainly: by (score as a C float, doc id), descending."""
    single = {d: array("f", [s])[0] for d, s in docs.items()}
    return sorted(docs.items(), key=lambda item: (single[item[0]], item[0]), reverse=True)


IDS = ["a", "b", "B", "aa", "a b", "é", "ä", "z", "Z9", "日本", "10", "9", "1e3", "x\x01", "x", "🙂"]


def tricky_case(seed: int, queries: int = 12, corpus: int = 60):
    """Scores full of ties: equal doubles, doubles equal only as floats, -0.0 beside 0.0, and
    ids that order differently as bytes, by case, by length and by code point."""
    rng = random.Random(seed)
    names = IDS + [f"d{i}" for i in range(corpus - len(IDS))]
    base = [0.0, -0.0, 1.0, 1.0 + 1e-12, 1.0 - 1e-12, 2.5, -3.0, 1e-40, 7.0 / 3.0, 1e39]
    run = {}
    for q in range(queries):
        docs = rng.sample(names, rng.randint(0, len(names)))
        run[f"q{q}"] = {d: rng.choice(base + [rng.uniform(-5, 5)]) for d in docs}
    return run


def as_flat(run):
    qids = [q for q, docs in run.items() for _ in docs]
    docs = [d for docs in run.values() for d in docs]
    scores = [s for docs in run.values() for s in docs.values()]
    return qids, docs, scores


def as_topk(run, pad: int = 2, shuffle: int = 0):
    """The run as top-k rows over a shared id list: rows padded with -1, in a shuffled order."""
    rng = random.Random(shuffle)
    vocab = sorted({d for docs in run.values() for d in docs})
    place = {d: i for i, d in enumerate(vocab)}
    width = max((len(d) for d in run.values()), default=0) + pad
    indices = np.full((len(run), width), -1, dtype=np.int64)
    scores = np.zeros((len(run), width))
    for i, docs in enumerate(run.values()):
        cols = rng.sample(range(width), len(docs))
        for col, (d, s) in zip(cols, docs.items(), strict=True):
            indices[i, col], scores[i, col] = place[d], s
    return list(run), vocab, indices, scores


def every_constructor(run):
    """The same scores built every way there is."""
    flat = as_flat(run)
    shuffled = list(zip(*flat, strict=True))
    random.Random(3).shuffle(shuffled)
    return {
        "from_scores(dict)": Run.from_scores(run),
        "from_scores(pairs)": Run.from_scores({q: list(d.items())[::-1] for q, d in run.items()}),
        "from_arrays": Run.from_arrays(*flat),
        "from_arrays(numpy)": Run.from_arrays(np.array(flat[0]), np.array(flat[1]), np.array(flat[2])),
        "from_arrays(interleaved)": Run.from_arrays(*map(list, zip(*shuffled, strict=True))) if shuffled else None,
        "from_topk": Run.from_topk(*as_topk(run)),
    }


@pytest.mark.parametrize("seed", range(6))
def test_constructors_agree_with_the_reference_order(seed):
    run = tricky_case(seed)
    for how, built in every_constructor(run).items():
        if built is None:
            continue
        with_docs = [q for q in run if run[q]] if how.startswith("from_arrays") else list(run)
        if how == "from_arrays(interleaved)":  # queries come in the order they first appear
            assert sorted(built) == sorted(with_docs), how
        else:
            assert list(built) == with_docs, how
        for q in with_docs:
            expected = reference_order(run[q])
            assert built.ranked(q) == expected, (how, q)
            assert list(built[q].items()) == expected, (how, q)
            assert list(built.scores[q].items()) == expected, (how, q)
            assert all(type(s) is float for _, s in built.ranked(q)), (how, q)


def test_reference_order_is_pytrec_evals():
    run = tricky_case(11, queries=4, corpus=len(IDS))
    for q, docs in run.items():
        if docs:
            assert [d for d, _ in reference_order(docs)] == trec_eval_ranking(docs), q


def test_constructors_are_equal_runs():
    run = {q: docs for q, docs in tricky_case(5).items() if docs}
    built = [r for r in every_constructor(run).values() if r is not None]
    for other in built[1:]:
        if list(other) == list(built[0]):
            assert other == built[0]
    assert Run.from_scores(run) == Run.from_topk(*as_topk(run)) == Run.from_arrays(*as_flat(run))


def test_numpy_tie_breaking_matches_python(monkeypatch):
    run = tricky_case(7, queries=30)
    python = Run.from_topk(*as_topk(run)).scores
    monkeypatch.setattr(ranking, "_NUMPY_TIES", 0)
    for built in (Run.from_topk(*as_topk(run)), Run.from_arrays(*as_flat(run)), Run.from_scores(run)):
        for q, docs in built.items():
            assert list(docs.items()) == list(python[q].items()) == reference_order(run[q])


def test_single_precision_ties_break_by_doc_id():
    # 1.0 + 1e-12 and 1.0 are one float: "b" > "a" goes first; -0.0 and 0.0 tie: "y" first.
    scores = {"a": 1.0 + 1e-12, "b": 1.0, "x": -0.0, "y": 0.0, "w": 1e39, "v": 2e39}
    expected = ["w", "v", "b", "a", "y", "x"]  # 1e39 and 2e39 are both inf as floats: w > v
    assert trec_eval_ranking(scores) == expected
    for built in every_constructor({"q": scores}).values():
        assert list(built["q"]) == expected
        assert built["q"]["a"] == 1.0 + 1e-12  # the doubles themselves kept


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_scores_rejected_by_every_constructor(bad):
    run = {"q1": {"a": 1.0}, "q2": {"a": 1.0, "b": bad, "c": 2.0}}
    message = "query 'q2', document 'b': score .* is not finite"
    with pytest.raises(ValueError, match=message):
        Run.from_scores(run)
    with pytest.raises(ValueError, match=message):
        Run.from_scores({q: list(d.items()) for q, d in run.items()})
    with pytest.raises(ValueError, match=message):
        Run.from_arrays(*as_flat(run))
    with pytest.raises(ValueError, match=message):
        Run.from_topk(*as_topk(run))


def test_numpy_scores_in_dicts_are_taken_as_floats():
    run = Run.from_scores({"q": {"a": np.float32(0.5), "b": np.float64(2.0), "c": 1}})
    assert run.ranked("q") == [("b", 2.0), ("c", 1.0), ("a", 0.5)]
    assert all(type(s) is float for _, s in run.ranked("q"))
    values = evaluate([parse_metric("RR")], {"q": {"c": 1}}, run)
    assert values["RR"].per_query == {"q": 0.5}


def test_duplicates_rejected_by_every_constructor():
    with pytest.raises(ValueError, match="query 'q': document 'a' is ranked twice"):
        Run.from_scores({"q": [("a", 2.0), ("b", 1.0), ("a", 0.5)]})
    with pytest.raises(ValueError, match="query 'q': document 'a' is ranked twice"):
        Run.from_arrays(["p", "q", "q", "q"], ["a", "a", "b", "a"], [1.0, 2.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="query 'q': document 'b' is ranked twice"):
        Run.from_topk(["p", "q"], ["a", "b", "c"], [[0, 1, -1], [1, 2, 1]], [[1.0, 2.0, 0.0], [3, 2, 1]])
    with pytest.raises(ValueError, match="query 'q' is given twice"):
        Run.from_topk(["q", "q"], ["a", "b"], [[0], [1]], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="query '1' is given twice"):
        Run.from_scores({1: {"a": 1.0}, "1": {"b": 1.0}})


def test_topk_padding_and_empty_queries():
    run = Run.from_topk(
        ["q1", "q2", "q3"], np.array(["a", "b", "c"]),
        np.array([[2, -1, 0], [-1, -1, -1], [1, 0, 2]]), np.array([[1.0, 9.0, 3.0], [9, 9, 9], [1, 1, 1]]),
    )
    assert list(run) == ["q1", "q2", "q3"] and len(run) == 3 and run.num_docs() == 5
    assert run.ranked("q1") == [("a", 3.0), ("c", 1.0)]
    assert run["q2"] == {} and "q2" in run and run.ranked("q2") == []
    assert run.ranked("q3") == [("c", 1.0), ("b", 1.0), ("a", 1.0)]
    assert Run.from_topk([], [], np.zeros((0, 5), dtype=int), np.zeros((0, 5))).scores == {}
    assert Run.from_arrays([], [], []).scores == {} and len(Run.from_arrays([], [], [])) == 0
    assert Run.from_scores({"q": {}, "p": []}).scores == {"q": {}, "p": {}}
    with pytest.raises(ValueError, match="out of range"):
        Run.from_topk(["q"], ["a"], [[1]], [[1.0]])
    with pytest.raises(ValueError, match="queries × k"):
        Run.from_topk(["q", "p"], ["a"], [[0]], [[1.0]])


def test_dict_document_ids_become_strings_when_read():
    run = Run.from_scores({"q": {1: 0.5, "b": 2.0}})
    assert run.scores == {"q": {"b": 2.0, "1": 0.5}} and list(run["q"]) == ["b", "1"]
    values = evaluate([parse_metric("RR")], {"q": {"1": 1}}, Run.from_scores({"q": {1: 0.5, "b": 2.0}}))
    assert values["RR"].per_query == {"q": 0.5}
    with pytest.raises(ValueError, match="query 'q': document '1' is ranked twice"):
        _ = Run.from_scores({"q": {1: 0.5, "1": 2.0}}).scores


def test_ids_become_strings():
    run = Run.from_topk([7], [10, 20], [[1, 0]], [[1.0, 2.0]])
    assert run.scores == {"7": {"10": 2.0, "20": 1.0}}
    assert Run.from_arrays([7, 7], [10, 20], [1, 2]).scores == {"7": {"20": 2.0, "10": 1.0}}
    with pytest.raises(ValueError, match="ranked twice"):
        Run.from_arrays(["q", "q"], [1, "1"], [1.0, 2.0])


def test_reading_api_on_array_runs():
    run = Run.from_topk(["q1", "q2"], ["a", "b", "c", "d"], [[0, 1, 2], [3, 2, -1]], [[1.0, 3.0, 2.0], [5.0, 5.0, 0]])
    assert [q for q, _ in run.items()] == ["q1", "q2"] and "q3" not in run
    assert run.truncate(2) == Run({"q1": {"b": 3.0, "c": 2.0}, "q2": {"d": 5.0, "c": 5.0}})
    assert run.truncate(2).num_docs() == 4 and run.truncate(0).scores == {"q1": {}, "q2": {}}
    qids, docs, scores = run.to_arrays()
    assert qids.tolist() == ["q1"] * 3 + ["q2"] * 2
    assert docs.tolist() == ["b", "c", "a", "d", "c"] and scores.tolist() == [3.0, 2.0, 1.0, 5.0, 5.0]
    assert pickle.loads(pickle.dumps(run)) == run
    assert run != Run({"q1": {"c": 2.0, "b": 3.0, "a": 1.0}, "q2": {"d": 5.0, "c": 5.0}})  # order matters
    assert run != {"q1": {}}
    with pytest.raises(KeyError):
        run["missing"]


def test_run_wraps_dicts_as_given():
    given = {"q": {"low": 1.0, "high": 2.0, "nan": math.nan}}
    run = Run(given)
    assert run.scores is given and list(run["q"]) == ["low", "high", "nan"]
    assert run.truncate(2).scores == {"q": {"low": 1.0, "high": 2.0}}


# -- evaluation: the rank-encoded input pytrec_eval gets for array-built runs ------------------

EVAL_METRICS = ["AP", "AP@5", "nDCG", "nDCG@3", "P@1", "P@5", "R@5", "RR", "RR@1", "RR@3", "Rprec",
                "Bpref", "Judged@3", "Judged", "P(rel=2)@5", "RR(rel=2)@2", "AP(judged_only=True)",
                "nDCG(judged_only=True)@3", "RR(judged_only=True)@2", "Bpref(rel=2)"]  # fmt: skip


def tricky_qrels(run, seed: int):
    rng = random.Random(seed)
    qrels = {}
    for q, docs in run.items():
        pool = list(docs) + [f"unretrieved{i}" for i in range(3)] + ["d0", "é", "\x1f1"]
        picked = rng.sample(pool, min(len(pool), rng.randint(0, 8)))
        qrels[q] = {d: rng.choice([-1, 0, 1, 2, 3]) for d in picked}
    qrels["judged-only"] = {"a": 1}
    return qrels


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("complete", [True, False])
def test_every_constructor_evaluates_as_the_scores_do(seed, complete):
    run = tricky_case(seed, corpus=40)
    qrels = tricky_qrels(run, seed)
    if seed % 2:  # no judged id looks like a filler: the rank-encoded input is used
        qrels = {q: {d: g for d, g in judged.items() if not d.startswith("\x1f")} for q, judged in qrels.items()}
    metrics = [parse_metric(m) for m in EVAL_METRICS]
    expected = evaluate(metrics, qrels, Run({q: dict(reference_order(d)) for q, d in run.items()}),
                        complete=complete)
    for how, built in every_constructor(run).items():
        if built is None:
            continue
        got = evaluate(metrics, qrels, built, Context(), complete=complete)
        for label in EVAL_METRICS:
            if not how.startswith("from_arrays"):  # those lack the queries without documents
                assert got[label].per_query == expected[label].per_query, (how, label)
                assert got[label].aggregate == expected[label].aggregate, (how, label)
            else:
                assert {q: v for q, v in got[label].per_query.items() if run.get(q)} == {
                    q: v for q, v in expected[label].per_query.items() if run.get(q)}, (how, label)


def test_rank_encoded_input_keeps_judgments_at_their_ranks():
    run = Run.from_topk(["q"], ["a", "b", "c", "d"], [[3, 0, 1, 2]], [[4.0, 3.0, 3.0, 1.0]])
    compact = run._compact({"q": {"b": 1, "c": 0, "zz": 2}})
    # d (unjudged), b, a (unjudged), c: judged ids kept at their ranks, scores 0, -1, -2, ...
    assert sorted(compact["q"].items(), key=lambda x: -x[1]) == [
        ("\x1f0", 0.0), ("b", -1.0), ("\x1f2", -2.0), ("c", -3.0)]
    assert run._compact({"q": {"\x1f1": 1}}) is None  # a judged id that is a filler id
    assert run._trec_input({"q": {"\x1f1": 1}}) == run.scores


def test_rr_cutoff_is_recip_rank_on_the_first_k():
    import pytrec_eval

    run = tricky_case(9, queries=20)
    qrels = tricky_qrels(run, 9)
    for spec, k, flag in [("RR@1", 1, False), ("RR@3", 3, False), ("RR(judged_only=True)@2", 2, True)]:
        values = evaluate([parse_metric(spec)], qrels, Run.from_scores(run), complete=False)
        heads = {}
        for q, docs in run.items():
            ranked = [(d, s) for d, s in reference_order(docs) if not flag or qrels.get(q, {}).get(d, -1) >= 0]
            heads[q] = dict(ranked[:k])
        direct = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, judged_docs_only_flag=flag).evaluate(heads)
        assert values[spec].per_query == {q: v["recip_rank"] for q, v in direct.items()}, spec


def test_long_rankings_evaluate_alike():
    rng = np.random.default_rng(4)
    vocab = [f"doc{i}" for i in range(5000)]
    indices = np.stack([rng.choice(5000, 1500, replace=False) for _ in range(3)])
    scores = rng.integers(0, 50, (3, 1500)).astype(float)  # ties everywhere
    topk = Run.from_topk(["a", "b", "c"], vocab, indices, scores)
    plain = {q: dict(zip((vocab[i] for i in row), s.tolist(), strict=True))
             for q, row, s in zip(["a", "b", "c"], indices, scores, strict=True)}
    qrels = {q: {vocab[i]: int(g) for i, g in zip(row[::37], rng.integers(0, 3, 41), strict=False)}
             for q, row in zip(["a", "b", "c"], indices, strict=True)}
    metrics = [parse_metric(m) for m in EVAL_METRICS]
    reference = Run({q: dict(reference_order(d)) for q, d in plain.items()})
    assert evaluate(metrics, qrels, topk) == evaluate(metrics, qrels, reference)
    assert topk == Run.from_scores(plain)
    names, values = ranking._fillers(1500)
    assert names[1499] == "\x1f1499" and values[1499] == -1499.0


# -- from_arrays: ids told apart by object, then by value ---------------------------------------


@pytest.fixture(params=["table", "hash table", "per pair"])
def arrays_path(request, monkeypatch):
    """Each way from_arrays can number the document ids: a table indexed by the objects'
    addresses, a hash table of them, or (most ids an object of their own) none."""
    if request.param == "table":
        monkeypatch.setattr(ranking, "_TABLE_SLOTS", 2**40)
    elif request.param == "hash table":
        monkeypatch.setattr(ranking, "_TABLE_SLOTS", 0)
    else:
        monkeypatch.setattr(ranking, "_shared_ids", lambda docs: None)
    return request.param


def fresh(ids):
    """Equal strings, each a distinct object."""
    return ["".join(list(d)) if isinstance(d, str) else d for d in ids]


@pytest.mark.parametrize("seed", range(4))
def test_from_arrays_agrees_on_every_path(arrays_path, seed):
    run = {q: docs for q, docs in tricky_case(seed).items() if docs}
    qids, docs, scores = as_flat(run)
    expected = Run.from_scores(run)
    assert Run.from_arrays(qids, docs, scores) == expected
    assert Run.from_arrays(qids, fresh(docs), scores) == expected  # equal ids in other objects
    some = [d if i % 5 else "".join(list(d)) for i, d in enumerate(docs)]  # the same, in places
    assert Run.from_arrays(qids, some, scores) == expected
    shuffled = list(zip(qids, docs, scores, strict=True))
    random.Random(seed).shuffle(shuffled)  # no query's pairs together
    built = Run.from_arrays(*map(list, zip(*shuffled, strict=True)))
    assert sorted(built) == sorted(run)
    assert {q: list(built[q].items()) for q in built} == {q: list(expected[q].items()) for q in expected}
    qrels = tricky_qrels(run, seed)
    metrics = [parse_metric(m) for m in EVAL_METRICS]
    assert evaluate(metrics, qrels, built) == evaluate(metrics, qrels, expected)


def test_from_arrays_duplicates_on_every_path(arrays_path):
    message = "query 'q': document 'a' is ranked twice"
    a = "".join(["a"])  # "a" again, another object
    cases = [
        (["p", "q", "q", "q"], ["a", "a", "b", "a"]),  # the same object twice
        (["p", "q", "q", "q"], ["a", "a", "b", a]),  # equal ids, distinct objects
        (["q", "p", "q", "p", "q"], ["b", "a", "a", "b", a]),  # the query's pairs apart
    ]
    base = ["a", "b", "c"]
    cases += [  # most objects shared: told apart by address, then by value
        (["p"] * 3 + ["o"] * 3 + ["q"] * 3, base + base + ["a", "c", "a"]),
        (["p"] * 3 + ["o"] * 3 + ["q"] * 3, base + base + ["a", "b", a]),
        (["p"] * 3 + ["q"] * 3 + ["o"] * 3 + ["q"], base * 3 + [a]),
    ]
    for qids, docs in cases:
        with pytest.raises(ValueError, match=message):
            Run.from_arrays(qids, docs, [1.0] * len(docs))
    if arrays_path != "per pair":  # the last: four objects, three ids
        assert sorted(ranking._shared_ids(np.array(docs, dtype=object))[0]) == base
    with pytest.raises(ValueError, match="query 'q': document '1' is ranked twice"):
        Run.from_arrays(["p"] * 3 + ["o"] * 3 + ["q"] * 4, ["1", "2", "3"] * 3 + [1], [1.0] * 10)
    # The first query with a document twice, its first document seen before, as from_scores says.
    qids = ["r", "q", "q", "q", "q", "r", "r"]
    docs = ["x", "c", "b", "b", "c", "y", "x"]
    with pytest.raises(ValueError, match="query 'r': document 'x' is ranked twice"):
        Run.from_arrays(qids, docs, [1.0] * 7)
    with pytest.raises(ValueError, match="query 'r': document 'x' is ranked twice"):
        Run.from_scores({"r": [("x", 1.0), ("y", 1.0), ("x", 1.0)], "q": [("c", 1.0), ("b", 1.0)]})
    with pytest.raises(ValueError, match="query 'q': document 'b' is ranked twice"):
        Run.from_arrays(qids[1:5], docs[1:5], [1.0] * 4)
    # A non-finite score is reported before a document twice, as everywhere.
    with pytest.raises(ValueError, match="not finite"):
        Run.from_arrays(["q", "q", "q"], ["a", "a", "b"], [1.0, 2.0, math.nan])


def test_from_arrays_ids_become_strings_on_every_path(arrays_path):
    assert Run.from_arrays([7, 7, 8], [10, 20, 10], [1, 2, 3]).scores == {
        "7": {"20": 2.0, "10": 1.0}, "8": {"10": 3.0}}
    numbers = np.array([3, 1, 3, 2], dtype=np.int64)
    assert Run.from_arrays(["q", "q", "p", "p"], numbers, [1.0, 2.0, 3.0, 4.0]).scores == {
        "q": {"1": 2.0, "3": 1.0}, "p": {"2": 4.0, "3": 3.0}}
    # 1 and "1" are one id, "1"; 1 and 1.0 are two, "1" and "1.0"; None is "None".
    with pytest.raises(ValueError, match="query 'q': document '1' is ranked twice"):
        Run.from_arrays(["q", "q", "q"], [1, "b", "1"], [1.0, 2.0, 3.0])
    mixed = Run.from_arrays(["q", "q", "q", "p", "p"], [1, 1.0, None, "1", 2], [1.0, 2.0, 3.0, 4.0, 0.5])
    assert list(mixed["q"].items()) == [("None", 3.0), ("1.0", 2.0), ("1", 1.0)]
    assert list(mixed["p"].items()) == [("1", 4.0), ("2", 0.5)]
    with pytest.raises(ValueError, match="query 'p': document '1' is ranked twice"):
        Run.from_arrays(["p", "p"], ["1", 1], [4.0, 0.5])
    assert all(type(d) is str for d in mixed.to_arrays()[1])


def test_from_arrays_small_and_empty(arrays_path):
    assert Run.from_arrays([], [], []).scores == {}
    assert Run.from_arrays(np.array([], dtype=str), np.array([], dtype=object), np.zeros(0)).scores == {}
    assert Run.from_arrays(["q"], ["a"], [1.0]).scores == {"q": {"a": 1.0}}
    assert Run.from_arrays(["q", "p"], ["a", "a"], [1.0, 2.0]).scores == {"q": {"a": 1.0}, "p": {"a": 2.0}}
    ids = np.array(["a", "b", "c", "a"], dtype=object)[::2]  # not contiguous in memory
    assert Run.from_arrays(["q", "q"], ids, [1.0, 2.0]).scores == {"q": {"c": 2.0, "a": 1.0}}


def test_from_arrays_from_a_corpus_evaluates_as_from_topk(arrays_path):
    rng = np.random.default_rng(5)
    corpus = np.array([f"doc{i}" for i in range(3000)], dtype=object)
    indices = np.stack([rng.choice(3000, 400, replace=False) for _ in range(20)])
    scores = rng.integers(0, 30, indices.shape).astype(float)  # ties everywhere
    qids = [f"q{i}" for i in range(20)]
    topk = Run.from_topk(qids, corpus, indices, scores)
    flat = Run.from_arrays(np.repeat(np.array(qids, dtype=object), 400), corpus[indices].ravel(), scores.ravel())
    assert flat == topk
    qrels = {q: {corpus[i]: int(g) for i, g in zip(row[::13], rng.integers(0, 3, 31), strict=False)}
             for q, row in zip(qids, indices, strict=True)}
    metrics = [parse_metric(m) for m in EVAL_METRICS]
    assert evaluate(metrics, qrels, flat) == evaluate(metrics, qrels, topk)


def test_topk_with_lengths_and_single_precision():
    """``lengths``: rows one after another without padding; float32 scores and int32 indices are
    kept as given (no copy, the same values read as floats), and read back as before."""
    codes = np.array([2, 0, 1, 1, 0, 2], dtype=np.int32)
    scores = np.array([1.5, 3.0, 0.1, 2.0, 2.0, 0.25], dtype=np.float32)
    run = Run.from_topk(["q1", "q2", "q3"], ["a", "b", "c"], codes, scores, lengths=[3, 0, 3])
    padded = Run.from_topk(["q1", "q2", "q3"], ["a", "b", "c"], [[2, 0, 1], [-1, -1, -1], [1, 0, 2]],
                           scores.astype(np.float64)[[0, 1, 2, 0, 0, 0, 3, 4, 5]].reshape(3, 3))
    assert run == padded and run["q2"] == {} and run.ranked("q3") == [("b", 2.0), ("a", 2.0), ("c", 0.25)]
    assert run["q1"] == {"a": 3.0, "c": 1.5, "b": float(np.float32(0.1))}
    assert run._pairs.values.dtype == np.float32 and run._pairs.codes.dtype == np.int32
    assert np.shares_memory(run._pairs.values, scores) or run._pairs.ordered
    assert run.to_arrays()[2].dtype == np.float64
    assert evaluate([parse_metric("RR")], {"q3": {"a": 1}}, run)["RR"].per_query == {"q3": 0.5}
    with pytest.raises(ValueError, match="query 'q3': document 'b' is ranked twice"):
        Run.from_topk(["q1", "q3"], ["a", "b"], np.array([1, 0, 1, 1]), np.zeros(4), lengths=[1, 3])
    with pytest.raises(ValueError, match="add up"):
        Run.from_topk(["q1"], ["a", "b"], np.array([1, 0]), np.zeros(2), lengths=[3])
    with pytest.raises(ValueError, match="negative"):
        Run.from_topk(["q1"], ["a", "b"], np.array([1, -1]), np.zeros(2), lengths=[2])
    with pytest.raises(ValueError, match="not finite"):
        Run.from_topk(["q1"], ["a", "b"], np.array([1, 0]), np.array([1.0, np.nan], dtype=np.float32), lengths=[2])
    with pytest.raises(ValueError, match="not finite"):  # a sum that overflows is not the check
        Run.from_topk(["q1"], ["a", "b", "c"], np.array([[1, 0, 2]]), np.array([[1e308, 1e308, np.inf]]))
    assert Run.from_topk(["q"], ["a", "b"], [[1, 0]], [[1e308, 1e308]]).ranked("q") == [("b", 1e308), ("a", 1e308)]
    # the duplicate check runs a slice of queries at a time: one found across slices' edges
    many = 3 * ranking._SLICE // 1000
    rows = np.tile(np.arange(1000), (many, 1))
    rows[-1, 500] = 7
    with pytest.raises(ValueError, match=f"query 'q{many - 1}': document 'd7' is ranked twice"):
        Run.from_topk([f"q{i}" for i in range(many)], [f"d{i}" for i in range(1000)], rows, np.ones(rows.shape))

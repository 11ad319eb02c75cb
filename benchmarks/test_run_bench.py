"""Building a ``Run`` of 5,000 queries × 1,000 scored documents and evaluating it, against
pytrec_eval evaluating the same scores from a dict.

(a) ``pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run_dict)``, the reference;
(b) ``Run.from_scores(run_dict)`` then ``harness.metrics.evaluate`` as the runner calls it;
(c) ``Run.from_topk`` on the top-k matrices (what the dense retriever's ``search`` does), then
    the same;
(d) ``Run.from_arrays`` on flat per-pair arrays (a query id, doc id and score per pair), then
    the same.

Seeded data, as a dense retriever returns it: float32 scores, each row descending (with the
occasional tie), ids from a corpus of 1,000,000 documents, 20 graded judgments per query (15
among its first 200 documents, 5 it did not retrieve). Measures: nDCG@10, RR@10, R@100, AP,
P@10 (for pytrec_eval: ndcg_cut.10, recip_rank, recall.100, map, P.10: RR@10 is recip_rank
where it is at least 1/10).

``make bench`` times each, then ``test_ratios`` times them again in turn (``time.perf_counter``,
the best of 5 rounds each), prints the ratios to (a) and asserts (b), (c) and (d) cost at most
1.2 times (a); docs/metrics.md quotes them. (d) is given a Python str per pair, gathered from the
corpus's ids as a retriever's would be: it tells them apart by object first (addresses, in C),
and reads and hashes only the distinct ones, as (c) reads the corpus's.
``pytest benchmarks --benchmark-disable`` (the CI smoke) runs (a) to (d) once on 200 queries ×
100 documents and checks that they agree; it skips the ratios, which noise must never fail.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

import numpy as np
import pytest
import pytrec_eval

from harness.collection import Collection, Document
from harness.components import Context, Metric
from harness.contracts import check_run
from harness.metrics import evaluate, parse_metric
from harness.ranking import Run

QUERIES, DEPTH, CORPUS, JUDGED, POOL = 5_000, 1_000, 1_000_000, 20, 200
SMOKE = (200, 100, 20_000, JUDGED, 50)
METRICS = ["nDCG@10", "RR@10", "R@100", "AP", "P@10"]
MEASURES = {"ndcg_cut.10", "recip_rank", "recall.100", "map", "P.10"}
ROUNDS, LIMIT = 5, 1.2
GROUP = pytest.mark.benchmark(group=f"build a Run and evaluate it: {QUERIES:,} queries x {DEPTH:,} documents")


@dataclass
class Data:
    qrels: dict[str, dict[str, int]]
    run_dict: dict[str, dict[str, float]]  # (a) and (b)
    query_ids: list[str]  # (c): rows of the top-k matrices
    doc_ids: np.ndarray  # the corpus's ids (object array)
    indices: np.ndarray  # queries × depth, into doc_ids
    scores: np.ndarray  # queries × depth, float64 holding float32 values
    flat: tuple  # (d): query id, doc id, score per pair
    metrics: list[Metric]
    collection: Collection  # whose query and document ids the checks know


@pytest.fixture(scope="module")
def data(request) -> Data:
    smoke = request.config.getoption("benchmark_disable")
    queries, depth, corpus, judged, pool = SMOKE if smoke else (QUERIES, DEPTH, CORPUS, JUDGED, POOL)
    rng = np.random.default_rng(0)
    doc_ids = np.empty(corpus, dtype=object)
    doc_ids[:] = [f"d{i}" for i in range(corpus)]
    query_ids = [f"q{i}" for i in range(queries)]
    # Distinct documents per query: a random start, stride 97 (97 * depth < corpus), shuffled.
    indices = rng.permuted((rng.integers(0, corpus, (queries, 1)) + np.arange(depth) * 97) % corpus, axis=1)
    scores = -np.sort(-rng.random((queries, depth), dtype=np.float32), axis=1).astype(np.float64)
    run_dict, qrels = {}, {}
    for i, q in enumerate(query_ids):
        ids = doc_ids[indices[i]].tolist()
        run_dict[q] = dict(zip(ids, scores[i].tolist(), strict=True))
        picked = [ids[j] for j in rng.choice(pool, judged - 5, replace=False)] + [f"u{i}-{j}" for j in range(5)]
        qrels[q] = dict(zip(picked, rng.integers(0, 4, judged).tolist(), strict=True))
    flat = (np.repeat(np.array(query_ids, dtype=object), depth), doc_ids[indices].ravel(), scores.ravel())
    metrics = [parse_metric(m) for m in METRICS]
    collection = Collection("bench", [Document(i, "") for i in doc_ids.tolist()], dict.fromkeys(query_ids, ""), qrels)
    check_run(Run.from_scores({query_ids[0]: {doc_ids[0]: 1.0}}), "warm-up", collection.queries, collection)
    return Data(qrels, run_dict, query_ids, doc_ids, indices, scores, flat, metrics, collection)


def checked(d: Data, run: Run) -> Run:
    """The checks the runner makes on a first stage's run before anything sees it."""
    return check_run(run, "retriever 'bench'", d.collection.queries, d.collection).run


def pytrec_eval_direct(d: Data):
    return pytrec_eval.RelevanceEvaluator(d.qrels, MEASURES).evaluate(d.run_dict)


def harness_from_scores(d: Data):
    return evaluate(d.metrics, d.qrels, Run.from_scores(d.run_dict), Context(), complete=True)


def harness_from_topk(d: Data):
    run = Run.from_topk(d.query_ids, d.doc_ids, d.indices, d.scores)
    return evaluate(d.metrics, d.qrels, run, Context(), complete=True)


def harness_from_arrays(d: Data):
    return evaluate(d.metrics, d.qrels, Run.from_arrays(*d.flat), Context(), complete=True)


CASES = {
    "(a) pytrec_eval from the dict": pytrec_eval_direct,
    "(b) Run.from_scores(dict) + evaluate": harness_from_scores,
    "(c) Run.from_topk + evaluate": harness_from_topk,
    "(d) Run.from_arrays + evaluate": harness_from_arrays,
}


# The runner's contract checks on a first stage's run (harness.contracts.check_run: finite scores,
# each document once, known query and document ids, trec_eval's order), on a run built each way:
# timed beside the cases above, reported as a share of (a)'s time (what checking adds to a cell).
def check_inputs(d: Data) -> dict:
    """A fresh run per check case, built as (b), (c), (d) build theirs (a Run keeps what it
    computed: each check starts from scratch)."""
    return {"(b') check a Run.from_scores run": Run.from_scores(d.run_dict),
            "(c') check a Run.from_topk run": Run.from_topk(d.query_ids, d.doc_ids, d.indices, d.scores),
            "(d') check a Run.from_arrays run": Run.from_arrays(*d.flat)}


def test_checks_pass_on_every_build(data):
    for name, run in check_inputs(data).items():
        assert checked(data, run).num_docs() == len(data.query_ids) * data.indices.shape[1], name


def as_pytrec_eval(values) -> dict[str, dict[str, float]]:
    """The harness's per-query values under pytrec_eval's measure keys (RR@10 left out)."""
    keys = {"nDCG@10": "ndcg_cut_10", "R@100": "recall_100", "AP": "map", "P@10": "P_10"}
    out: dict[str, dict[str, float]] = {}
    for label, key in keys.items():
        for q, v in values[label].per_query.items():
            out.setdefault(q, {})[key] = v
    return out


@GROUP
@pytest.mark.parametrize("case", list(CASES))
def test_build_and_evaluate(benchmark, data, case):
    result = benchmark.pedantic(CASES[case], args=(data,), rounds=ROUNDS, iterations=1)
    if case.startswith("(a)"):
        assert len(result) == len(data.query_ids)
        return
    direct = pytrec_eval_direct(data)
    assert as_pytrec_eval(result) == {q: {k: v[k] for k in ("ndcg_cut_10", "recall_100", "map", "P_10")}
                                      for q, v in direct.items()}
    rr = {q: v["recip_rank"] if v["recip_rank"] >= 0.1 else 0.0 for q, v in direct.items()}
    assert result["RR@10"].per_query == rr


@pytest.mark.benchmark(group="build a Run and evaluate it: ratios (each the best of 5, in turn)")
def test_ratios(benchmark, data):
    """(b), (c), (d) against (a), timed in turn so that a busy moment hits them all alike."""
    if benchmark.disabled:
        pytest.skip("ratios are measured only with benchmarks enabled (make bench)")

    def measure() -> dict[str, float]:
        best = dict.fromkeys(CASES, float("inf"))
        for _ in range(ROUNDS):
            for name, case in CASES.items():
                gc.collect()
                started = time.perf_counter()
                case(data)
                best[name] = min(best[name], time.perf_counter() - started)
            for name, run in check_inputs(data).items():
                gc.collect()
                started = time.perf_counter()
                checked(data, run)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
        return best

    best = benchmark.pedantic(measure, rounds=1, iterations=1)
    reference = best["(a) pytrec_eval from the dict"]
    ratios = {name: seconds / reference for name, seconds in best.items()}
    benchmark.extra_info.update({name: round(ratio, 3) for name, ratio in ratios.items()})
    print()
    for name, seconds in best.items():
        print(f"{name:<40} {seconds:7.3f} s  {ratios[name]:5.2f}x")  # a check: its share of (a)
    assert ratios["(b) Run.from_scores(dict) + evaluate"] <= LIMIT
    assert ratios["(c) Run.from_topk + evaluate"] <= LIMIT
    assert ratios["(d) Run.from_arrays + evaluate"] <= LIMIT

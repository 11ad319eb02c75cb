"""The harness's evaluation against a direct pytrec_eval call, on 5,000 queries × 1,000 documents.

``make bench`` runs these for real; ``pytest benchmarks --benchmark-disable`` (the CI smoke) calls
each once. The harness must cost at most 1.2 times the direct call: it hands pytrec_eval the run's
own dicts and adds only per-query bookkeeping.
"""

from __future__ import annotations

import numpy as np
import pytest
import pytrec_eval

from harness.metrics import evaluate, parse_metric
from harness.ranking import Run

QUERIES, DEPTH, JUDGED, CORPUS = 5_000, 1_000, 20, 1_000_000
GROUP = pytest.mark.benchmark(group="evaluate 5000x1000")
METRICS = ["AP", "nDCG@10", "P@10", "R@100", "RR", "Rprec", "Bpref"]
MEASURES = {"map", "ndcg_cut.10", "P.10", "recall.100", "recip_rank", "Rprec", "bpref"}


@pytest.fixture(scope="module")
def data() -> tuple[dict, Run]:
    """A seeded run and graded qrels: 15 judgments among each query's top 200 and 5 for documents
    it did not retrieve. Scores descend by at least 0.01, distinct even as trec_eval's
    single-precision floats, so the dicts are in trec_eval's order as built."""
    rng = np.random.default_rng(0)
    scores = 2.0 * DEPTH - np.cumsum(rng.random((QUERIES, DEPTH)) + 0.01, axis=1)
    # Distinct ids per query: a random start, stride 97 (97 * DEPTH < CORPUS), shuffled over ranks.
    docs = (rng.integers(0, CORPUS, (QUERIES, 1)) + np.arange(DEPTH) * 97) % CORPUS
    docs = rng.permuted(docs, axis=1)
    run, qrels = {}, {}
    for i in range(QUERIES):
        ids = [f"d{d}" for d in docs[i].tolist()]
        run[f"q{i}"] = dict(zip(ids, scores[i].tolist(), strict=True))
        picked = [ids[j] for j in rng.choice(200, JUDGED - 5, replace=False)]
        picked += [f"u{i}-{j}" for j in range(5)]
        qrels[f"q{i}"] = dict(zip(picked, rng.integers(0, 4, JUDGED).tolist(), strict=True))
    sample = {q: run[q] for q in list(run)[:50]}
    assert Run.from_scores(sample) == Run(sample)
    return qrels, Run(run)


@GROUP
def test_harness_evaluate(benchmark, data):
    qrels, run = data
    metrics = [parse_metric(m) for m in METRICS]
    values = benchmark(evaluate, metrics, qrels, run)
    assert list(values) == METRICS
    assert values["AP"].details["queries"] == QUERIES


@GROUP
def test_pytrec_eval_direct(benchmark, data):
    qrels, run = data

    def direct():
        return pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run.scores)

    results = benchmark(direct)
    assert len(results) == QUERIES

"""``dense`` with ``index = "flat"`` against raw FAISS: top-100 of 1,000 queries over 100,000
random normalised 384-dimensional vectors, the same ``IndexFlatIP`` searched both ways.

The harness side is ``Dense.search(query_vectors, k)``: the FAISS search with the index's search
settings applied and the arrays handed to ``Run.from_topk``, i.e. a finished ``Run``; the peer is
``index.search(queries, k)``, which returns the two arrays only. Both on one thread (FAISS's
OpenMP pool follows torch's, which ``one_torch_thread`` sets to 1), in CPU seconds, minimum of
interleaved rounds (the default ``exact`` search timed beside them, for the docs); the ratio is
printed (docs/plugins/transformers.md quotes it) and must stay within 1.1. ``pytest benchmarks
--benchmark-disable`` (the CI smoke) checks the results only, on a tenth of the documents.
"""

from __future__ import annotations

import gc
import time

import pytest
from benchdata import unit_vectors

torch = pytest.importorskip("torch")
faiss = pytest.importorskip("faiss")
import numpy as np  # noqa: E402
from harness_transformers import Dense, faiss_index  # noqa: E402
from harness_transformers.base import QueryVectors  # noqa: E402

QUERIES, DOCS, DIM, K, ROUNDS = 1_000, 100_000, 384, 100, 5
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def setup(request):
    """(Dense searching a flat index, the same index for the raw search, query vectors)."""
    smoke = request.config.getoption("benchmark_disable")
    queries, docs = unit_vectors(QUERIES, DOCS // 10 if smoke else DOCS, DIM)
    index = faiss_index.build(docs.numpy(), "flat", {})
    dense = Dense(model="unused", index="flat")  # a model is needed to encode, not to search
    dense._doc_ids, dense._docs = [f"d{i}" for i in range(len(docs))], docs
    dense._faiss = dense._faiss_cpu = index
    ids = [f"q{i}" for i in range(QUERIES)]
    exact = Dense(model="unused")  # today's default: the blocked torch search, for comparison
    exact._doc_ids, exact._docs = dense._doc_ids, docs
    return dense, index, QueryVectors(ids, queries), exact


def harness_search(dense, vectors):
    return dense.search(vectors, K)


def raw_search(index, vectors):
    faiss.omp_set_num_threads(1)
    return index.search(np.ascontiguousarray(vectors.vectors.numpy()), K)


def test_same_results(setup):
    dense, index, vectors, exact = setup
    run = harness_search(dense, vectors)
    scores, indices = raw_search(index, vectors)
    for row in (0, len(vectors.ids) // 2, len(vectors.ids) - 1):
        qid = vectors.ids[row]
        assert list(run[qid]) == [f"d{i}" for i in indices[row]]
        assert list(run[qid].values()) == scores[row].astype(np.float64).tolist()  # identical
        np.testing.assert_allclose(list(exact.search(vectors, K)[qid].values()), scores[row], atol=1e-5)


@pytest.mark.benchmark(group=f"flat top-{K}: {QUERIES:,} queries x {DOCS:,} documents ({DIM}-d): harness / faiss")
def test_ratio(benchmark, setup):
    if benchmark.disabled:
        pytest.skip("the ratio is measured only with benchmarks enabled (make bench)")
    dense, index, vectors, exact = setup

    def timed(function, *args) -> float:
        gc.collect()
        started = time.process_time()
        function(*args)
        return time.process_time() - started

    def measure() -> dict[str, float]:
        best = {"harness": float("inf"), "faiss": float("inf"), "exact": float("inf")}
        for _ in range(ROUNDS):
            best["harness"] = min(best["harness"], timed(harness_search, dense, vectors))
            best["faiss"] = min(best["faiss"], timed(raw_search, index, vectors))
            best["exact"] = min(best["exact"], timed(harness_search, exact, vectors))
        return best

    timed(harness_search, dense, vectors)  # warm-up: BLAS and OpenMP pools
    best = benchmark.pedantic(measure, rounds=1, iterations=1)
    ratio = best["harness"] / best["faiss"]
    benchmark.extra_info["ratio"] = round(ratio, 3)
    print(f"\nflat, {len(dense._doc_ids):,} docs x {QUERIES:,} queries, top {K}, 1 thread, min of {ROUNDS} "
          f"interleaved: harness {best['harness']:.3f} s  faiss {best['faiss']:.3f} s  ratio {ratio:.3f}x  "
          f"(index = exact: {best['exact']:.3f} s)")
    assert ratio <= 1.1

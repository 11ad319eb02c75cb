"""What measuring costs: per measured call, and for a whole measured suite against the same work
scripted by hand (load, index, quality run, single-stream and offline loops, evaluation).

``make bench`` runs these for real; ``pytest benchmarks --benchmark-disable`` (the CI smoke) runs
each once on a tiny workload. Targets: under 5 µs of timing overhead per measured call; a measured
suite at most 1.03 times the hand-written script. docs/measurement.md quotes the ratios.

The work is ``spin``, a retriever doing real CPU work per query (a dot product with 20,000 document
vectors and a top-k). The suite runs in-process (``isolation = "none"``) to compare like with like;
the third suite benchmark is the same suite with each cell in a worker process, to price isolation.
"""

from __future__ import annotations

import json
import os
import time
import zlib

import pytest
import pytrec_eval

from harness import hookimpl
from harness.components import Context, Retriever
from harness.datasets import DatasetSpec, load_dataset
from harness.measure import latency
from harness.measure.latency import Settings, query_path, sample_queries
from harness.measure.meter import Meter
from harness.params import Param
from harness.plugins import load_registry
from harness.ranking import Run
from harness.runner import run_suite
from harness.suite import load_suite

DOCS, QUERIES, K = 20_000, 200, 10
CALL_GROUP = pytest.mark.benchmark(group="measure: per call (10,000 calls of a no-op query path)")
SUITE_GROUP = pytest.mark.benchmark(group="measure: suite vs by hand")
MEASURES = {"map", "ndcg_cut.10", "recip_rank"}


class Spin(Retriever):
    """A dot product with every document vector and a top-k per query: CPU work, no sleeping."""

    name = "spin"
    params = {"dim": Param(int, 64)}

    def index(self, collection, ctx):
        import numpy as np

        self.ids = [d.id for d in collection.docs]
        self.matrix = np.random.default_rng(0).standard_normal((len(self.ids), self.dim), dtype=np.float32)

    def retrieve(self, queries, k, ctx):
        import numpy as np

        out = {}
        for qid, text in queries.items():
            vector = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(self.dim, dtype=np.float32)
            scores = self.matrix @ vector
            top = np.argpartition(-scores, k)[:k]
            out[qid] = {self.ids[i]: float(scores[i]) for i in top}
        return Run.from_scores(out)


class Noop(Retriever):
    name = "noop"
    RUN = Run.from_scores({"q": {"d": 1.0}})

    def retrieve(self, queries, k, ctx):
        return self.RUN


@hookimpl
def harness_retrievers():
    return [Spin]


def registry_env() -> dict:
    return {**os.environ, "HARNESS_PLUGIN_MODULES": "test_measure_bench"}


# -- per call ---------------------------------------------------------------------------------

CALLS = [(f"q{i}", f"query {i}") for i in range(100)]
REPEAT = 100


def bare_loop(retriever):
    for _ in range(REPEAT):
        for qid, text in CALLS:
            retriever.retrieve({qid: text}, K, None)


def measured_loop(retriever):
    call = query_path(retriever, None, None, K, None, Meter().now)
    return latency.single_stream(call, CALLS, Settings(warmup=0, repetitions=REPEAT, min_duration=0))


@CALL_GROUP
def test_bare_calls(benchmark):
    benchmark(bare_loop, Noop())


@CALL_GROUP
def test_measured_calls(benchmark):
    samples = benchmark(measured_loop, Noop())
    assert len(samples.calls) == len(CALLS) * REPEAT
    # the target, checked here too: best of 5 of each, per call
    best = {}
    for loop in (bare_loop, measured_loop):
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            loop(Noop())
            runs.append(time.perf_counter() - start)
        best[loop] = min(runs) / (len(CALLS) * REPEAT)
    overhead = best[measured_loop] - best[bare_loop]
    assert overhead < 5e-6, f"{overhead * 1e6:.2f} µs of timing overhead per measured call"


# -- a measured suite against the same work by hand --------------------------------------------


@pytest.fixture(scope="module")
def workload(tmp_path_factory, request) -> dict:
    """A BEIR folder with 20,000 documents and 200 queries; settings sized for real benchmarking
    or, under --benchmark-disable, for a quick smoke run."""
    import numpy as np

    smoke = request.config.getoption("benchmark_disable", False)
    folder = tmp_path_factory.mktemp("spin")
    docs, queries = (500, 20) if smoke else (DOCS, QUERIES)
    rng = np.random.default_rng(1)
    with open(folder / "corpus.jsonl", "w") as f:
        for i in range(docs):
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": f"document {i}"}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for i in range(queries):
            f.write(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) + "\n")
    (folder / "qrels").mkdir()
    lines = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{d}\t1" for i in range(queries)
                                             for d in rng.choice(docs, 5, replace=False)]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    measure = ({"latency_queries": 5, "warmup": 1, "repetitions": 1, "min_duration": 0} if smoke else
               {"latency_queries": 100, "warmup": 10, "repetitions": 3, "min_duration": 4.0})
    return {"folder": folder, "measure": measure, "rounds": 1 if smoke else 3}


def suite_text(workload: dict, isolation: str) -> str:
    m = workload["measure"]
    return f"""
name = "spin"
k = {K}
metrics = ["AP", "nDCG@10", "RR"]
[[datasets]]
source = "beir:{workload['folder']}"
[[pipelines]]
name = "spin"
retriever = {{plugin = "spin"}}
[measure]
latency = ["single-stream", "offline"]
memory = true
isolation = "{isolation}"
warmup = {m['warmup']}
repetitions = {m['repetitions']}
min_duration = {m['min_duration']}
latency_queries = {m['latency_queries']}
[output]
cache = false
"""


def by_hand(workload: dict) -> dict:
    """What a careful user would script: the same loops, timed with perf_counter_ns."""
    import numpy as np

    m = workload["measure"]
    collection = load_dataset(DatasetSpec("spin", "beir", {"path": str(workload["folder"])}), load_registry(),
                              workload["folder"])
    ctx = Context()
    retriever = Spin()
    retriever.index(collection, ctx)
    run = retriever.retrieve(collection.queries, K, ctx)
    qrels = collection.qrels
    per_query = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate({q: run.scores.get(q, {}) for q in qrels})
    quality = {m_: float(np.mean([v[m_.replace(".", "_")] for v in per_query.values()])) for m_ in MEASURES}
    queries = sample_queries(collection.queries, m["latency_queries"], 0)

    def timed(batch):
        start = time.perf_counter_ns()
        retriever.retrieve(batch, K, ctx)
        return time.perf_counter_ns() - start

    timed(dict(queries[:1]))  # cold
    for i in range(m["warmup"]):
        timed(dict([queries[i % len(queries)]]))
    single, passes = [], 0
    while passes < m["repetitions"] or sum(single) < m["min_duration"] * 1e9:
        single += [timed({qid: text}) for qid, text in queries]
        passes += 1
    timed(dict(queries))  # warm-up batch
    batches = []
    while len(batches) < m["repetitions"] or sum(batches) < m["min_duration"] * 1e9:
        batches.append(timed(dict(queries)))
    return {"quality": quality, "p50": np.percentile(single, 50), "p95": np.percentile(single, 95),
            "qps": len(queries) / (np.median(batches) / 1e9)}


def measured(workload: dict, isolation: str, tmp_path) -> dict:
    path = tmp_path / f"spin-{isolation}.toml"
    path.write_text(suite_text(workload, isolation))
    registry = load_registry(registry_env())
    outcome = run_suite(load_suite(path, registry=registry), registry=registry, results_dir=tmp_path / "results",
                        new=True)
    (result,) = outcome.results
    assert result["status"] == "ok", result["error"]
    return result


@SUITE_GROUP
def test_suite_by_hand(benchmark, workload):
    out = benchmark.pedantic(by_hand, args=(workload,), rounds=workload["rounds"], iterations=1)
    assert out["qps"] > 0


@SUITE_GROUP
def test_suite_measured(benchmark, workload, tmp_path):
    result = benchmark.pedantic(measured, args=(workload, "none", tmp_path), rounds=workload["rounds"], iterations=1)
    assert result["latency"]["single_stream"]["latency"]["p50"]["value"] > 0


@SUITE_GROUP
def test_suite_measured_isolated(benchmark, workload, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGIN_MODULES", "test_measure_bench")  # the worker finds spin
    result = benchmark.pedantic(measured, args=(workload, "subprocess", tmp_path), rounds=workload["rounds"],
                                iterations=1)
    assert result["execution"]["isolation"] == "subprocess" and result["memory"]["peak_rss"]["value"] > 0

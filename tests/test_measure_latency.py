"""Latency loops and their arithmetic: exact with a fake clock, within tolerance with real sleeps."""

from __future__ import annotations

import pytest
from fakes import TwoStep, WordOverlap, registry_with

from harness.measure import latency
from harness.measure.latency import Settings, bootstrap_intervals, percentile, query_path, sample_queries
from harness.measure.meter import Meter
from harness.ranking import Run
from harness.runner import run_suite
from harness.suite import load_suite
from harness.timing import Phases

QUERIES = [("q1", "a"), ("q2", "b b"), ("q3", "c c c"), ("q4", "d d d d")]


class FakeClock:
    """Advances only when a fake component says it worked."""

    def __init__(self):
        self.ns = 0

    def __call__(self):
        return self.ns

    def work(self, ms: float):
        self.ns += int(ms * 1_000_000)


class Retriever:
    """Takes 2 ms per query word on the fake clock; counts its calls."""

    def __init__(self, clock):
        self.clock, self.calls = clock, 0

    def retrieve(self, queries, k, ctx):
        self.calls += 1
        self.clock.work(2 * sum(len(t.split()) for t in queries.values()))
        return Run.from_scores({q: {"d1": 1.0, "d2": 0.5} for q in queries})


class Ranker:
    def __init__(self, clock):
        self.clock = clock

    def rerank(self, queries, candidates, ctx):
        assert all(len(docs) == 1 for _, docs in candidates.items())  # the depth-1 head
        self.clock.work(1 * len(queries))
        return candidates


def path(clock, ranker=True):
    retriever = Retriever(clock)
    call = query_path(retriever, Ranker(clock) if ranker else None, 1, 10, None, Meter(clock=clock).now)
    return retriever, call


def test_percentiles_are_numpy_linear():
    values = list(range(1, 11))
    assert percentile(values, 50) == 5.5
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile(values, 100) == 10.0
    assert percentile([3.0], 99) == 3.0


def test_bootstrap_intervals():
    assert bootstrap_intervals([4.0] * 20, [50, 95], 200, seed=1) == [(4.0, 4.0), (4.0, 4.0)]
    skewed = [1.0] * 50 + [float(i) for i in range(2, 52)]
    first = bootstrap_intervals(skewed, [50, 95], 500, seed=3)
    assert first == bootstrap_intervals(skewed, [50, 95], 500, seed=3)  # seeded: reproducible
    assert first != bootstrap_intervals(skewed, [50, 95], 500, seed=4)
    for (low, high), q in zip(first, [50, 95], strict=True):
        assert low <= percentile(skewed, q) <= high
        assert min(skewed) <= low <= high <= max(skewed)
    many = [float(i % 97) for i in range(30_000)]  # resampled in blocks, not one 500 x 30000 array
    (low, high), = bootstrap_intervals(many, [50], 100, seed=0)
    assert low <= percentile(many, 50) <= high


def test_query_path_times_each_stage_exactly():
    clock = FakeClock()
    _, call = path(clock)
    assert call({"q3": "c c c"}) == {"retrieve": 6_000_000, "rerank": 1_000_000}
    assert call(dict(QUERIES)) == {"retrieve": 20_000_000, "rerank": 4_000_000}


def test_query_path_two_step():
    retriever = TwoStep()
    retriever.index(type("C", (), {"docs": [], "contents": None})(), None)
    call = query_path(retriever, None, None, 5, None, Meter().now)
    assert set(call({"q": "x"})) == {"query_encode", "search"}


def test_single_stream_samples_are_queries_times_repetitions():
    clock = FakeClock()
    retriever, call = path(clock)
    samples = latency.single_stream(call, QUERIES, Settings(warmup=3, repetitions=5, min_duration=0))
    assert retriever.calls == 3 + 4 * 5 and samples.passes == 5
    assert len(samples.calls) == 4 * 5
    assert samples.totals()[:4] == [3_000_000, 5_000_000, 7_000_000, 9_000_000]
    assert samples.stage("rerank") == [1_000_000] * 20


def test_min_duration_adds_whole_passes():
    clock = FakeClock()
    retriever, call = path(clock, ranker=False)  # a pass measures 2+4+6+8 = 20 ms
    samples = latency.single_stream(call, QUERIES, Settings(warmup=0, repetitions=2, min_duration=0.05))
    assert samples.passes == 3 and len(samples.calls) == 12  # 60 ms >= 50 ms after 3 passes
    batches = latency.offline(call, QUERIES, Settings(repetitions=2, min_duration=0.1))
    assert len(batches.calls) == 5  # 5 x 20 ms = 100 ms; plus one warm-up batch not kept
    assert retriever.calls == 12 + 6


def test_measure_reports_exact_figures():
    clock = FakeClock()
    _, call = path(clock)
    s = Settings(warmup=2, repetitions=3, min_duration=0, bootstrap_samples=100, seed=7)
    out = latency.measure(call, QUERIES, ["single-stream", "offline"], s, Meter(threads=3, clock=clock).figure)
    assert out["queries"] == 4
    assert out["cold"]["value"] == 3.0 and out["cold"]["unit"] == "ms" and "one query" in out["cold"]["method"]
    single = out["single_stream"]
    totals = [3.0, 5.0, 7.0, 9.0]  # ms per query, every pass alike
    assert single["passes"] == 3
    for name, q in latency.PERCENTILES.items():
        fig = single["latency"][name]
        assert fig["value"] == pytest.approx(percentile(totals * 3, q))
        assert fig["samples"] == 12 and fig["warmup"] == 2 and fig["threads"] == 3 and fig["device"] == "cpu"
        assert fig["ci"]["low"] <= fig["value"] <= fig["ci"]["high"] and fig["ci"]["confidence"] == 0.95
        assert "seed 7" in fig["ci"]["method"] and "100 resamples" in fig["ci"]["method"]
    assert single["latency"]["p50"]["value"] == 6.0 and single["latency"]["max"]["value"] == 9.0
    assert single["latency"]["mean"]["value"] == 6.0
    assert set(single["stages"]) == {"retrieve", "rerank"}
    assert single["stages"]["rerank"]["p95"]["value"] == 1.0
    offline = out["offline"]
    assert offline["batch_seconds"]["value"] == 0.024  # 20 ms retrieve + 4 ms rerank
    assert offline["qps"]["value"] == pytest.approx(4 / 0.024, abs=1e-3) and offline["qps"]["samples"] == 3
    assert offline["qps"]["unit"] == "queries/s" and offline["qps"]["warmup"] == 1
    assert offline["stages"]["rerank"]["value"] == 0.004


def test_offline_only_has_a_batch_as_its_cold_call():
    clock = FakeClock()
    _, call = path(clock)
    out = latency.measure(call, QUERIES, ["offline"], Settings(min_duration=0), Meter(clock=clock).figure)
    assert "single_stream" not in out and out["cold"]["value"] == 24.0 and "a batch of 4" in out["cold"]["method"]
    with pytest.raises(ValueError, match="no queries"):
        latency.measure(call, [], ["offline"], Settings(), Meter().figure)


def test_sample_queries():
    queries = {f"q{i:02d}": f"text {i}" for i in range(30)}
    assert sample_queries(queries, None, 0) == sorted(queries.items())
    assert sample_queries(queries, 50, 0) == sorted(queries.items())
    picked = sample_queries(queries, 10, seed=5)
    assert len(picked) == 10 == len(set(picked)) and picked == sample_queries(queries, 10, seed=5)
    assert picked != sample_queries(queries, 10, seed=6)


def test_two_step_phases_time_the_steps_inside_retrieve():
    retriever = TwoStep()
    retriever.index(type("C", (), {"docs": [], "contents": None})(), None)
    phases = Phases()
    with latency.two_step_phases(retriever, phases, prefix="x."):
        retriever.retrieve({"q": "a"}, 5, None)
    assert list(phases.records) == ["x.query_encode", "x.search"]
    assert "encode_queries" not in vars(retriever)  # the methods are the class's again
    with latency.two_step_phases(WordOverlap(), phases):  # not two-step: nothing to time
        pass


SUITE = """
name = "paced"
k = 5
metrics = ["AP"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "paced"
retriever = {plugin = "paced", ms = 5}

[measure]
latency = ["single-stream", "offline"]
warmup = 2
repetitions = 3
min_duration = 0
"""


def test_a_retriever_that_sleeps_a_known_time(write_suite, tmp_path):
    registry = registry_with()
    (result,) = run_suite(load_suite(write_suite(SUITE), registry=registry), results_dir=tmp_path,
                          registry=registry).results
    assert result["status"] == "ok", result["error"]
    single = result["latency"]["single_stream"]["latency"]
    assert single["p50"]["samples"] == 5 * 3  # queries x repetitions
    for name in ("p50", "p90", "p95"):  # sleep(5 ms) overshoots a little; a busy machine more
        assert 5.0 <= single[name]["value"] <= 9.0, (name, single[name])
    assert single["p50"]["value"] <= single["p90"]["value"] <= single["p99"]["value"] <= single["max"]["value"]
    qps = result["latency"]["offline"]["qps"]["value"]
    assert 100 <= qps <= 200, qps  # 5 queries x 5 ms = 25 ms a batch: at most 200 queries/s

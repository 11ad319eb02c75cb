"""Latency and throughput of a pipeline's query path, with their spread.

* **single-stream**: one query per call, as a search box sees them. ``warmup`` calls are discarded,
  then whole passes over the sampled queries run until there are at least ``repetitions`` passes
  and ``min_duration`` seconds of measured time; percentiles of the per-query latency each get a
  bootstrap confidence interval.
* **offline**: every sampled query in one call per stage, as a batch job sees them; one warm-up
  batch, then at least ``repetitions`` batches and ``min_duration`` seconds; queries per second.

The loops take a ``call(queries) -> {stage: nanoseconds}`` (see ``cascade_path``) that times
each stage itself, so harness bookkeeping between stages is never counted as latency.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..suite.sections import MeasureSettings

MODES = ("single-stream", "offline")
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
STAGE_PERCENTILES = ("p50", "p95")
CONFIDENCE = 0.95
Call = Callable[[dict[str, str]], dict[str, int]]


_MEASURE = MeasureSettings()  # the [measure] defaults, declared there once


@dataclass
class Settings:
    """What the loops read: ``[measure]`` warmup, repetitions, min_duration (seconds) and
    bootstrap_samples, defaulting as ``MeasureSettings`` declares them, and the seed."""

    warmup: int = _MEASURE.warmup
    repetitions: int = _MEASURE.repetitions
    min_duration: float = _MEASURE.min_duration
    bootstrap_samples: int = _MEASURE.bootstrap_samples
    seed: int = 0  # the suite's seed

    @classmethod
    def of(cls, measure: MeasureSettings, seed: int) -> Settings:
        return cls(measure.warmup, measure.repetitions, measure.min_duration, measure.bootstrap_samples, seed)


def two_step(retriever) -> bool:
    """Whether a retriever offers ``encode_queries(queries)`` and ``search(vectors, k)``."""
    from ..capabilities import TwoStep, supports

    return supports(retriever, TwoStep)


@contextmanager
def two_step_phases(retriever, phases, prefix: str = "") -> Iterator[None]:
    """While open, a two-step retriever's ``encode_queries`` and ``search`` calls are timed as
    ``query_encode`` and ``search`` phases (the last call's, should it make several): ``retrieve``
    runs as written, with whatever else it does, and its steps are still told apart."""
    if not two_step(retriever) or {"encode_queries", "search"} & set(vars(retriever)):
        yield
        return

    def timed(method, phase):
        def call(*args, **kwargs):
            with phases.measure(prefix + phase):
                return method(*args, **kwargs)

        return call

    retriever.encode_queries = timed(retriever.encode_queries, "query_encode")  # shadows the method
    retriever.search = timed(retriever.search, "search")
    try:
        yield
    finally:
        del retriever.encode_queries, retriever.search


class LiveRanker(NamedTuple):
    """A ranker stage of the timed query path: its phase ``name`` (``rerank``, ``rerank.2``), the
    ready ``ranker``, its ``depth`` and ``interpolate`` (stages.py, pipeline.py)."""

    name: str
    ranker: Any
    depth: int
    interpolate: float | None = None


def query_path(retriever, ranker, depth: int | None, k: int, ctx, now: Callable[[], int]):
    """A retriever and at most one ranker (``cascade_path`` with one ``rerank`` stage)."""
    rankers = [] if ranker is None else [LiveRanker("rerank", ranker, depth)]
    return cascade_path(retriever, rankers, k, ctx, now)


def cascade_path(retriever, rankers: Sequence[LiveRanker], k: int, ctx, now: Callable[[], int]):
    """The pipeline's query path as ``call(queries) -> {stage: nanoseconds}``, each stage timed
    on its own with ``now`` (which syncs the device): the retriever (``retrieve``, or
    ``query_encode`` and ``search``), then each ranker on the top ``depth`` of the run before it.
    Cutting the head and merging a ranker's head back above the tail (interpolating, where a stage
    does) for the next ranker are harness bookkeeping, not timed; after the last ranker there is
    none."""
    from ..pipeline import merge_stage  # (pipeline.py imports this module)

    steps = two_step(retriever)

    def call(queries: Mapping[str, str]) -> dict[str, int]:
        start = now()
        if steps:
            vectors = retriever.encode_queries(queries)
            encoded = now()
            run = retriever.search(vectors, k)
            end = now()
            times = {"query_encode": encoded - start, "search": end - encoded}
        else:
            run = retriever.retrieve(queries, k, ctx)
            times = {"retrieve": now() - start}
        for i, stage in enumerate(rankers):
            head = run.truncate(stage.depth)
            start = now()
            rescored = stage.ranker.rerank(queries, head, ctx)
            times[stage.name] = now() - start
            if i + 1 < len(rankers):
                run = merge_stage(run, rescored, stage.depth, stage.interpolate)
        return times

    return call


def sample_queries(queries: Mapping[str, str], n: int | None, seed: int) -> list[tuple[str, str]]:
    """``n`` queries drawn with ``seed`` (all of them, by id, when ``n`` is None or too large)."""
    items = sorted(queries.items())
    return items if n is None or n >= len(items) else random.Random(seed).sample(items, n)


@dataclass
class Samples:
    """Per-call stage times (ns) in call order; ``passes`` over the queries (single-stream)."""

    calls: list[dict[str, int]]
    passes: int = 0

    def totals(self) -> list[int]:
        return [sum(times.values()) for times in self.calls]

    def stage(self, name: str) -> list[int]:
        return [times[name] for times in self.calls]


def single_stream(call: Call, queries: list[tuple[str, str]], s: Settings) -> Samples:
    _need(queries)
    for i in range(s.warmup):
        qid, text = queries[i % len(queries)]
        call({qid: text})
    out, measured = Samples([]), 0
    while out.passes < s.repetitions or measured < s.min_duration * 1e9:
        for qid, text in queries:
            times = call({qid: text})
            out.calls.append(times)
            measured += sum(times.values())
        out.passes += 1
    return out


def offline(call: Call, queries: list[tuple[str, str]], s: Settings) -> Samples:
    _need(queries)
    batch = dict(queries)
    call(batch)  # one warm-up batch: a batch warms everything a batch touches
    out, measured = Samples([]), 0
    while len(out.calls) < s.repetitions or measured < s.min_duration * 1e9:
        times = call(batch)
        out.calls.append(times)
        measured += sum(times.values())
    return out


def _need(queries) -> None:
    if not queries:
        raise ValueError("no queries to measure latency on")


def percentile(values, q: float) -> float:
    """numpy's default (linear interpolation between order statistics)."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def bootstrap_intervals(values, qs: list[float], resamples: int, seed: int) -> list[tuple[float, float]]:
    """Percentile-bootstrap ``CONFIDENCE`` intervals of the ``qs``-th percentiles of ``values``
    (one set of resamples for all of them)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    rows = max(1, 1_000_000 // len(data))  # resample in blocks: bounded memory for long runs
    stats = []
    for start in range(0, resamples, rows):
        picks = rng.integers(0, len(data), size=(min(rows, resamples - start), len(data)))
        stats.append(np.percentile(data[picks], qs, axis=1))  # shape (len(qs), rows)
    tail = (1 - CONFIDENCE) / 2 * 100
    bounds = np.percentile(np.concatenate(stats, axis=1), [tail, 100 - tail], axis=1)
    return [(float(low), float(high)) for low, high in bounds.T]


# -- figures --------------------------------------------------------------------------------


def measure(call: Call, queries: list[tuple[str, str]], modes, s: Settings, fig) -> dict:
    """Run the requested modes after one cold call; ``fig`` is ``Meter.figure``."""
    _need(queries)
    first = dict(queries[:1]) if "single-stream" in modes else dict(queries)
    cold = call(first)
    what = "one query" if len(first) == 1 else f"a batch of {len(first)} queries"
    out = {"queries": len(queries), "cold": fig(
        round(sum(cold.values()) / 1e6, 6), "ms",
        f"the first call of the query path ({what}) after the model load and index, before any warm-up: "
        "includes lazy initialisation and compilation; timed like the samples, reported apart")}
    if "single-stream" in modes:
        out["single_stream"] = _single_figures(single_stream(call, queries, s), s, fig)
    if "offline" in modes:
        out["offline"] = _offline_figures(offline(call, queries, s), len(queries), s, fig)
    return out


def _loop_text(s: Settings, unit: str) -> str:
    return f"at least {s.repetitions} {unit} and {s.min_duration:g} s of measured time"


def _single_figures(samples: Samples, s: Settings, fig) -> dict:
    method = (f"single-stream: one query per call over the sampled queries, {s.warmup} warm-up calls "
              f"discarded, whole passes until {_loop_text(s, 'passes')}; each stage timed on its own "
              "(device synchronised before each clock reading)")
    ci = f"percentile bootstrap over the samples, {s.bootstrap_samples} resamples, seed {s.seed}"

    def summary(values_ns: list[int], names, what: str) -> dict:
        values = [v / 1e6 for v in values_ns]
        bounds = bootstrap_intervals(values, [PERCENTILES[n] for n in names], s.bootstrap_samples, s.seed)
        out = {}
        for name, (low, high) in zip(names, bounds, strict=True):
            out[name] = fig(round(percentile(values, PERCENTILES[name]), 6), "ms",
                            f"{name} of {what} (numpy linear interpolation); {method}",
                            samples=len(values), warmup=s.warmup,
                            ci={"low": round(low, 6), "high": round(high, 6), "confidence": CONFIDENCE, "method": ci})
        out["mean"] = fig(round(sum(values) / len(values), 6), "ms", f"mean of {what}; {method}",
                          samples=len(values), warmup=s.warmup)
        return out

    stages = list(samples.calls[0])
    return {
        "passes": samples.passes,
        "latency": summary(samples.totals(), list(PERCENTILES), "per-query latency (the sum of its stages)"),
        "repetitions": _per_pass(samples),
        "stages": {stage: summary(samples.stage(stage), STAGE_PERCENTILES, f"{stage} time per query")
                   for stage in stages},
    }


def _offline_figures(samples: Samples, queries: int, s: Settings, fig) -> dict:
    method = (f"offline: all {queries} sampled queries in one call per stage, one warm-up batch, then "
              f"{_loop_text(s, 'batches')}; each stage timed on its own (device synchronised before each "
              "clock reading)")
    batches = [sum(times.values()) / 1e9 for times in samples.calls]
    median = _median(batches)
    return {
        "qps": fig(round(queries / median, 3), "queries/s", f"queries / median batch seconds; {method}",
                   samples=len(batches), warmup=1,
                   spread={"min": round(queries / max(batches), 3), "max": round(queries / min(batches), 3)}),
        "batch_seconds": fig(round(median, 6), "s", f"median seconds per batch; {method}",
                             samples=len(batches), warmup=1),
        # one value per batch: what `harness report` rank-tests between runs (asv-style)
        "repetitions": {"unit": "queries/s", "method": "queries / seconds of each timed batch, in order",
                        "qps": [round(queries / b, 3) for b in batches]},
        "stages": {stage: fig(round(_median([t / 1e9 for t in samples.stage(stage)]), 6), "s",
                              f"median seconds of {stage} per batch; {method}", samples=len(batches), warmup=1)
                   for stage in samples.calls[0]},
    }


def _per_pass(samples: Samples) -> dict:
    """p50 and p95 of each pass's per-query latency (ms), in pass order: a compact record of the
    repetitions, kept so that two runs' figures can be rank-tested (``harness report``)."""
    totals = samples.totals()
    size = len(totals) // samples.passes
    passes = [[v / 1e6 for v in totals[i * size:(i + 1) * size]] for i in range(samples.passes)]
    return {"unit": "ms", "method": "p50 and p95 of the per-query latency within each pass, in pass order",
            "p50": [round(percentile(p, 50.0), 6) for p in passes],
            "p95": [round(percentile(p, 95.0), 6) for p in passes]}


def _median(values: list[float]) -> float:
    return percentile(values, 50.0)

"""Tests of the run-based hubness: the conformance kit, the skewness against scipy's (as the
QB-Norm and DBNorm code calls it), the counts against a brute-force count, and the hub share."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from harness_diagnostics import HubShare, RunHubness
from harness_diagnostics.run_hubness import hub_share, occurrences, skewness

from harness.collection import Collection, Document
from harness.components import Context
from harness.metrics import evaluate, parse_metric
from harness.ranking import Run
from harness.testing import MetricContract, registry_with


class TestRunHubness(MetricContract):
    component = RunHubness
    specs = ["RunHubness@1", "RunHubness@5"]
    lower_bound = None


class TestHubShare(MetricContract):
    component = HubShare
    specs = ["HubShare@1", "HubShare@10"]


def random_run(seed: int, queries: int = 40, docs: int = 300, k: int = 30) -> Run:
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.5, size=docs) + 0.01  # a few popular documents: hubs
    weights /= weights.sum()
    out = {}
    for q in range(queries):
        picked = rng.choice(docs, size=k, replace=False, p=weights)
        out[f"q{q}"] = {f"d{d:03d}": float(rng.integers(0, 5)) for d in picked}  # ties on purpose
    return Run.from_scores(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_counts_and_skewness_are_the_reference_codes(seed):
    from scipy.stats import skew

    run = random_run(seed)
    k = 10
    # brute force: each query's top k in trec_eval's order (score, then document id, descending)
    expected = Counter()
    for docs in run.scores.values():
        ordered = sorted(docs.items(), key=lambda x: (np.float32(x[1]), x[0]), reverse=True)
        expected.update(d for d, _ in ordered[:k])
    counts = occurrences(run, k)
    assert counts == expected
    # as get_skewness in DBNorm's dbnorm.py: skew of the Counter's counts, scipy's default bias=True
    assert skewness(list(counts.values())) == pytest.approx(float(skew(list(expected.values()))), rel=1e-12)


def test_skewness_of_equal_counts_is_zero():
    assert skewness([3, 3, 3]) == 0.0 and skewness([]) == 0.0


def test_a_star_run_has_high_hubness_and_share():
    """Every query has the hub first: one document of 200 takes a tenth of the top-10 places."""
    docs = [Document(f"d{i:03d}", "x") for i in range(200)]
    collection = Collection("c", docs, {f"q{i}": "x" for i in range(50)}, {f"q{i}": {"d001": 1} for i in range(50)})
    run = Run.from_scores({f"q{i}": {"d000": 9.0, **{f"d{1 + (i * 9 + j) % 199:03d}": 1.0 for j in range(9)}}
                           for i in range(50)})
    registry = registry_with(RunHubness, HubShare)
    metrics = [parse_metric("RunHubness@10", registry), parse_metric("HubShare@10", registry)]
    values = evaluate(metrics, collection.qrels, run, Context(collection=collection))
    counts = occurrences(run, 10)
    assert counts["d000"] == 50
    assert values["HubShare@10"].aggregate == pytest.approx(
        sum(sorted(counts.values(), reverse=True)[:math.ceil(200 / 100)]) / 500)
    assert values["RunHubness@10"].aggregate > 5
    assert values["RunHubness@10"].details["hubs"]["d000"] == 50
    # the even run: every document the same number of times
    even = Run.from_scores({f"q{i}": {f"d{(i * 10 + j) % 200:03d}": 1.0 for j in range(10)} for i in range(40)})
    assert evaluate(metrics, collection.qrels, even, Context(collection=collection))["RunHubness@10"].aggregate == 0


def test_hub_share_takes_the_largest_counts():
    assert hub_share(Counter({"a": 5, "b": 3, "c": 2}), 1) == 0.5
    assert hub_share(Counter({"a": 5, "b": 3, "c": 2}), 2) == 0.8
    assert hub_share(Counter(), 1) == 0.0


def test_hub_share_needs_the_collection():
    registry = registry_with(HubShare)
    metric = parse_metric("HubShare@10", registry)
    run = Run.from_scores({"q1": {"d1": 1.0}})
    value = evaluate([metric], {"q1": {"d1": 1}}, run, Context())["HubShare@10"]
    assert value.aggregate is None and "ctx.collection" in value.details["unavailable"]

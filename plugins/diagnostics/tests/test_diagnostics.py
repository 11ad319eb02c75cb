"""Tests of the diagnostics: the conformance kit on each family, RankMe on matrices of known rank,
the k-occurrence on a constructed case and against a brute-force count."""

from __future__ import annotations

import math

import numpy as np
import pytest
from harness_diagnostics import AntiHubs, Hubness, RankMe
from harness_diagnostics.hubness import k_occurrence, skewness
from harness_diagnostics.rankme import effective_rank

from harness.components import Context
from harness.metrics import evaluate, parse_metric
from harness.plugins import load_registry
from harness.ranking import Run
from harness.testing import MetricContract, registry_with, tiny_collection


def embeddings(matrix, ids=None) -> dict:
    ids = ids or [f"d{i}" for i in range(len(matrix))]
    return {"embeddings": {"doc_ids": ids, "documents": np.asarray(matrix, dtype=np.float32), "normalized": False}}


class DiagnosticContract(MetricContract):
    def make_context(self):
        collection = tiny_collection()
        vectors = np.random.default_rng(0).normal(size=(len(collection.docs), 8))
        return Context(collection=collection, artifacts=embeddings(vectors, [d.id for d in collection.docs]))


class TestRankMe(DiagnosticContract):
    component = RankMe
    specs = ["RankMe", "RankMe(center=True)", {"metric": "RankMe", "sample": 5}]


class TestHubness(DiagnosticContract):
    component = Hubness
    specs = ["hubness", "hubness(k=3)", {"metric": "hubness", "k": 2, "sample": 6}]
    lower_bound = None  # a skewness


class TestAntiHubs(DiagnosticContract):
    component = AntiHubs
    specs = ["antihubs", "antihubs(k=1)"]


def test_the_plugin_is_installed_and_loads():
    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-diagnostics"})
    assert registry.broken() == [] and registry.conflicts() == []
    for name in ("RankMe", "hubness", "antihubs"):
        assert registry.find("metric", name).distribution == "ir-harness-diagnostics"


# -- RankMe ------------------------------------------------------------------------------------


def orthonormal(rows: int, cols: int, seed: int) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(rows, cols)))[0]


@pytest.mark.parametrize("rank", [1, 5, 32])
def test_rankme_of_equal_singular_values_is_the_rank(rank):
    matrix = orthonormal(300, rank, 0) @ orthonormal(64, rank, 1).T  # rank `rank`, singular values all 1
    assert effective_rank(matrix) == pytest.approx(rank, rel=1e-3)  # ε = 1e-7 adds a little


def test_rankme_of_known_singular_values():
    values = np.array([4.0, 2.0, 1.0, 1.0])
    matrix = orthonormal(100, 4, 2) @ np.diag(values) @ orthonormal(16, 4, 3).T
    p = np.concatenate([values / values.sum(), np.zeros(12)]) + 1e-7  # 16 singular values, 12 of them 0
    assert effective_rank(matrix) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-9)  # 3.3637
    assert effective_rank(np.zeros((5, 3))) == 0.0 and effective_rank(np.zeros((0, 3))) == 0.0


def test_rankme_through_evaluate_centering_and_sampling():
    rng = np.random.default_rng(4)
    # rank 3 around a large common offset: centring removes the offset's direction
    matrix = rng.normal(size=(400, 3)) @ orthonormal(24, 3, 5).T + 50 * orthonormal(24, 1, 6).T
    metrics = [parse_metric(s) for s in ("RankMe", "RankMe(center=True)", "RankMe(sample=100)")]
    ctx = Context(artifacts=embeddings(matrix))
    values = evaluate(metrics, {"q": {"d1": 1}}, Run.from_scores({"q": {"d1": 1.0}}), ctx)
    plain, centered, sampled = (values[m.label] for m in metrics)
    assert plain.aggregate < 1.5 < 2.9 < centered.aggregate <= 3.0001
    assert sampled.details["rows_used"] == 100 and sampled.details["sampled"] is True
    assert plain.details["documents"] == 400 and plain.per_query is None


def test_without_embeddings_the_diagnostics_are_unavailable():
    values = evaluate([parse_metric("RankMe"), parse_metric("hubness")], {"q": {"d1": 1}}, Run.from_scores({}))
    assert {v.details["unavailable"] for v in values.values()} == {"needs embeddings"}
    assert all(v.aggregate is None for v in values.values())


# -- hubness -----------------------------------------------------------------------------------


def star(points: int = 5) -> np.ndarray:
    """A hub (the pole) and ``points`` unit vectors 60° from it, evenly around it: each point's
    nearest neighbour is the hub (cosine 0.5 against at most 0.48), and the hub's are all tied."""
    angles = 2 * math.pi * np.arange(points) / points
    ring = np.stack([np.sin(math.pi / 3) * np.cos(angles), np.sin(math.pi / 3) * np.sin(angles),
                     np.full(points, np.cos(math.pi / 3))], axis=1)
    return np.vstack([[0.0, 0.0, 1.0], ring])


def test_k_occurrence_of_a_star():
    counts = k_occurrence(star(), 1)
    # every point has the hub as its neighbour; the hub's tie goes to the earliest point, d1
    assert counts.tolist() == [5, 1, 0, 0, 0, 0]
    # N = [5, 1, 0, 0, 0, 0]: mean 1, deviations (4, 0, -1, -1, -1, -1): variance 20/6, third moment 60/6
    assert skewness(counts) == pytest.approx(10 / (20 / 6) ** 1.5)
    values = evaluate([parse_metric("hubness(k=1)"), parse_metric("antihubs(k=1)")], {"q": {"d1": 1}},
                      Run.from_scores({}), Context(artifacts=embeddings(star())))
    assert values["hubness(k=1)"].aggregate == pytest.approx(1.6432, abs=1e-4)
    assert values["hubness(k=1)"].details["hubs"]["d0"] == 5
    assert values["antihubs(k=1)"].aggregate == pytest.approx(4 / 6)


def brute_force(matrix: np.ndarray, k: int) -> list[int]:
    counts = [0] * len(matrix)
    for i, row in enumerate((matrix @ matrix.T).astype(np.float32)):
        order = sorted((j for j in range(len(matrix)) if j != i), key=lambda j: (-row[j], j))
        for j in order[:k]:
            counts[j] += 1
    return counts


@pytest.mark.parametrize("k", [1, 3, 7, 40])
def test_k_occurrence_equals_a_brute_force_count(k, monkeypatch):
    from harness_diagnostics import hubness

    monkeypatch.setattr(hubness, "BLOCK", 7)  # several blocks of rows
    matrix = np.random.default_rng(k).normal(size=(30, 4))
    matrix = np.vstack([matrix, matrix[:5]])  # duplicates: ties, broken by corpus order
    expected = brute_force(matrix, min(k, len(matrix) - 1))
    assert k_occurrence(matrix, k).tolist() == expected
    assert sum(expected) == len(matrix) * min(k, len(matrix) - 1)  # the mean of N_k is k


def test_an_even_space_has_no_hubs():
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    counts = k_occurrence(circle, 2)  # every point's neighbours are the two beside it
    assert counts.tolist() == [2] * 12 and skewness(counts) == 0.0


def test_hubness_registry_names_parse():
    registry = registry_with(RankMe, Hubness, AntiHubs)
    metric = parse_metric({"metric": "hubness", "k": 5}, registry)
    assert metric.label == "hubness(k=5)" and metric.per_query is False

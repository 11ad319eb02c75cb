"""Tests of the fusion retrievers: the conformance kit on each, the definitions against
hand-computed scores, and a suite where the hybrid pipeline reuses its parts' runs."""

from __future__ import annotations

import textwrap

import pytest
from harness_fusion import RRF, CombMNZ, CombSUM
from harness_fusion.fusion import normalized, shared_ranks

from harness.components import Context
from harness.params import check_params
from harness.plugins import load_registry
from harness.runner import run_suite
from harness.suite import load_suite
from harness.testing import RetrieverContract, tiny_collection, write_beir
from harness.trecfiles import format_run

BM25_TWICE = [{"plugin": "bm25"}, {"plugin": "bm25", "k1": 1.2, "b": 0.75, "stemmer": "english"}]


class TestRRF(RetrieverContract):
    component = RRF
    params = {"retrievers": BM25_TWICE}


class TestCombSUM(RetrieverContract):
    component = CombSUM
    params = {"retrievers": BM25_TWICE, "normalize": "zscore"}


class TestCombMNZ(RetrieverContract):
    component = CombMNZ
    params = {"retrievers": BM25_TWICE, "weights": [2, 1], "depth": 4}


def test_the_plugin_is_installed_and_loads():
    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-fusion"})
    assert registry.broken() == [] and registry.conflicts() == []
    for name in ("rrf", "combsum", "combmnz"):
        assert registry.find("retriever", name).distribution == "ir-harness-fusion"


# -- the definitions, on two replayed runs ----------------------------------------------------

RUN_A = {"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "q2": {"d4": 1.0}}
RUN_B = {"q1": {"d3": 0.9, "d1": 0.5, "d4": 0.1}}


@pytest.fixture
def replayed(tmp_path):
    """``{"plugin": "trec-run", ...}`` tables replaying RUN_A and RUN_B, and a context."""
    from harness.ranking import Run

    specs = []
    for name, scores in (("a", RUN_A), ("b", RUN_B)):
        (tmp_path / f"{name}.run").write_text(format_run(Run.from_scores(scores), name))
        specs.append({"plugin": "trec-run", "path": f"{name}.run"})
    return specs, Context(base_dir=tmp_path)


def fuse(cls, specs, ctx, k=10, **params):
    fusion = cls(retrievers=specs, **params)
    fusion.index(tiny_collection(), ctx)
    return fusion.retrieve({"q1": "x", "q2": "y"}, k, ctx)


def test_rrf_equals_the_hand_computed_sums(replayed):
    specs, ctx = replayed
    run = fuse(RRF, specs, ctx)
    expected = {"d1": 1 / 61 + 1 / 62, "d3": 1 / 63 + 1 / 61, "d2": 1 / 62, "d4": 1 / 63}
    assert list(run["q1"]) == ["d1", "d3", "d2", "d4"]
    assert run["q1"] == pytest.approx(expected, abs=1e-15)
    assert run["q2"] == pytest.approx({"d4": 1 / 61})  # a query only one run answers
    weighted = fuse(RRF, specs, ctx, k0=0, weights=[1, 3])
    assert weighted["q1"] == pytest.approx({"d3": 1 / 3 + 3, "d1": 1 + 3 / 2, "d4": 1, "d2": 1 / 2})


def test_combsum_and_combmnz_equal_the_hand_computed_sums(replayed):
    specs, ctx = replayed
    # min-max per query: run a gives d1 1, d2 0.5, d3 0; run b gives d3 1, d1 (0.5-0.1)/0.8 = 0.5, d4 0
    assert fuse(CombSUM, specs, ctx)["q1"] == pytest.approx({"d1": 1.5, "d3": 1.0, "d2": 0.5, "d4": 0.0})
    assert fuse(CombMNZ, specs, ctx)["q1"] == pytest.approx({"d1": 3.0, "d3": 2.0, "d2": 0.5, "d4": 0.0})
    raw = fuse(CombSUM, specs, ctx, normalize="none")["q1"]
    assert raw == pytest.approx({"d1": 3.5, "d2": 2.0, "d3": 1.9, "d4": 0.1})
    assert fuse(CombSUM, specs, ctx)["q2"] == {"d4": 1.0}  # a single score normalises to 1


def test_depth_and_k(replayed):
    specs, ctx = replayed
    shallow = fuse(RRF, specs, ctx, depth=1)  # each run contributes its first document only
    assert shallow["q1"] == pytest.approx({"d1": 1 / 61, "d3": 1 / 61})
    assert list(shallow["q1"]) == ["d3", "d1"]  # a tie: trec_eval's order, document id descending
    assert list(fuse(RRF, specs, ctx, depth=1, k=1)["q1"]) == ["d3"]  # and the cut at k follows it


def test_ties_in_a_nested_run_share_a_rank():
    assert shared_ranks([("a", 2.0), ("b", 1.0), ("c", 1.0), ("d", 0.5)]) == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert normalized([("a", 2.0), ("b", 4.0)], "zscore") == {"a": -1.0, "b": 1.0}
    assert normalized([("a", 2.0), ("b", 2.0)], "minmax") == {"a": 1.0, "b": 1.0}


def test_parameters_are_checked():
    assert check_params(RRF.params, {"retrievers": []}) == [("retrievers", "must name at least one retriever")]
    assert check_params(RRF.params, {"retrievers": BM25_TWICE, "weights": [1, -1]})[0][0] == "weights"
    assert check_params(RRF.params, {"retrievers": BM25_TWICE, "weights": [0, 0]})[0][1] == (
        "needs at least one positive weight")
    with pytest.raises(ValueError, match="3 weights for 2 retrievers"):
        RRF(retrievers=BM25_TWICE, weights=[1, 1, 1])


# -- in a suite --------------------------------------------------------------------------------

SUITE = """
name = "hybrid"
k = 10
metrics = ["nDCG@10", "RR"]

[[datasets]]
name = "tiny"
source = "beir:{beir}"

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25"}

[[pipelines]]
name = "bm25-stemmed"
retriever = {plugin = "bm25", stemmer = "english"}

[[pipelines]]
name = "hybrid"
retriever = {plugin = "rrf", retrievers = [{plugin = "bm25"}, {plugin = "bm25", stemmer = "english"}]}

[[pipelines]]
name = "hybrid-mnz"
retriever = {plugin = "combmnz", retrievers = [{plugin = "bm25"}, {plugin = "bm25", stemmer = "english"}]}
"""




def test_a_hybrid_pipeline_reuses_its_parts_runs(tmp_path):
    beir = write_beir(tmp_path / "tiny", tiny_collection())
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text(textwrap.dedent(SUITE).replace("{beir}", str(beir)))
    outcome = run_suite(load_suite(suite_file), results_dir=tmp_path / "results")
    assert not outcome.failed, [r["error"] for r in outcome.failed]
    cells = {r["cell"]["pipeline"]: r for r in outcome.results}
    phases = cells["hybrid"]["phases"]
    # the plain pipelines' runs, from memory; the second bm25 named apart from the first
    assert phases["bm25.retrieve"]["cache"] == "memory" and phases["bm25-2.retrieve"]["cache"] == "memory"
    assert phases["retrieve"]["fusion"] == {"retrievers": 2, "depth": 10}
    assert cells["hybrid"]["metrics"]["nDCG@10"] > 0
    nested = cells["hybrid"]["stages"][0]["identity"]
    assert nested["retrievers"][1]["stemmer"] == "english"
    again = run_suite(load_suite(suite_file), results_dir=tmp_path / "results", new=True)
    fused = {r["cell"]["pipeline"]: r for r in again.results}["hybrid-mnz"]
    assert fused["phases"]["retrieve"]["cache"] == "hit"  # a second run: the fused run itself is cached
    assert fused["metrics"] == cells["hybrid-mnz"]["metrics"]

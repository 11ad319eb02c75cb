"""The Python API: harness.load_suite / validate / run / load_results."""

from __future__ import annotations

import pytest
from fakes import registry_with

import harness
from harness.suite import Suite
from harness.suite.text import SuiteError

SUITE = """
name = "api"
k = 5
metrics = ["nDCG@3", "AP", "P@2"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "overlap"
retriever = {plugin = "overlap"}

[[pipelines]]
name = "reranked"
retriever = {plugin = "overlap"}
ranker = {plugin = "reverse", depth = 2}
"""
JUDGED_QUERIES = 5  # tiny_beir: q1..q5 all have judgments


def test_load_suite_and_validate(write_suite):
    path = write_suite(SUITE)
    registry = registry_with()
    suite = harness.load_suite(path, registry=registry)
    assert isinstance(suite, Suite) and suite.name == "api"
    assert [c.id for c in suite.cells()] == ["tiny/overlap/cpu", "tiny/reranked/cpu"]
    assert harness.validate(path, registry=registry) == []
    assert harness.load_suite(path, ["k=7"], registry=registry).k == 7


def test_validate_returns_problems_and_load_suite_raises(write_suite):
    path = write_suite(SUITE.replace("depth = 2", "depth = 50").replace('"P@2"', '"P@20"'))
    problems = harness.validate(path, registry=registry_with())
    assert {p.path for p in problems} == {"pipelines[1].ranker.depth", "metrics[2]"}
    assert all(p.line for p in problems)
    with pytest.raises(SuiteError) as info:
        harness.load_suite(path, registry=registry_with())
    assert info.value.problems == problems


def test_validate_without_fakes_names_the_unknown_plugin(write_suite):
    problems = harness.validate(write_suite(SUITE))  # the installed plugins only
    assert problems and all("overlap" in p.message or "reverse" in p.message for p in problems)
    assert harness.validate(write_suite(SUITE, "x.toml").parent / "missing.toml")[0].message == "no such suite file"


def test_run_a_suite_object_and_load_results(write_suite, tmp_path):
    registry = registry_with()
    suite = harness.load_suite(write_suite(SUITE), registry=registry)
    outcome = harness.run(suite, registry=registry, results_dir=tmp_path / "results")
    assert not outcome.failed and len(outcome.results) == 2
    assert outcome.run_dir.parent == tmp_path / "results" / "api"

    results = harness.load_results(outcome.run_dir)
    assert results.run_dir == outcome.run_dir
    assert results.manifest["suite"] == "api" and len(results.raw) == 2
    cells = results.cells
    assert list(cells["pipeline"]) == ["overlap", "reranked"]
    assert set(cells["status"]) == {"ok"} and cells["error"].isna().all()
    for metric in ("nDCG@3", "AP", "P@2"):
        assert metric in cells.columns
        assert list(cells[metric]) == [r["metrics"][metric] for r in outcome.results]
    assert "retrieve_seconds" in cells.columns and "rerank_seconds" in cells.columns

    per_query = results.per_query
    assert list(per_query.columns) == ["dataset", "pipeline", "device", "metric", "query", "value"]
    assert len(per_query) == 3 * JUDGED_QUERIES * 2  # metrics × judged queries × cells
    ap = per_query[(per_query.metric == "AP") & (per_query.pipeline == "overlap")]
    assert ap["value"].mean() == pytest.approx(outcome.results[0]["metrics"]["AP"])
    assert set(per_query["query"]) == {"q1", "q2", "q3", "q4", "q5"}


def test_load_results_of_the_suite_folder_is_the_latest_run(write_suite, tmp_path):
    registry = registry_with()
    suite = harness.load_suite(write_suite(SUITE), registry=registry)
    first = harness.run(suite, registry=registry, results_dir=tmp_path / "results")
    second = harness.run(suite, registry=registry, results_dir=tmp_path / "results", pipelines=["overlap"])
    assert second.run_dir != first.run_dir
    latest = harness.load_results(tmp_path / "results" / "api")
    assert latest.run_dir == second.run_dir
    assert list(latest.cells["pipeline"]) == ["overlap"]
    assert harness.load_results(str(first.run_dir)).run_dir == first.run_dir


def test_run_a_path_with_overrides_and_registry(write_suite, tmp_path):
    registry = registry_with()
    outcome = harness.run(write_suite(SUITE), overrides=["k=4"], registry=registry,
                          results_dir=tmp_path / "results", pipelines=["reranked"])
    assert [r["cell"]["pipeline"] for r in outcome.results] == ["reranked"]
    assert outcome.results[0]["config"]["k"] == 4


def test_run_a_suite_object_with_overrides_is_an_error(write_suite, tmp_path):
    registry = registry_with()
    suite = harness.load_suite(write_suite(SUITE), registry=registry)
    with pytest.raises(ValueError, match="overrides"):
        harness.run(suite, overrides=["k=4"], registry=registry, results_dir=tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_failed_cells_in_results(write_suite, tmp_path):
    body = SUITE.replace('name = "reranked"\nretriever = {plugin = "overlap"}',
                         'name = "reranked"\nretriever = {plugin = "failing"}')
    registry = registry_with()
    outcome = harness.run(harness.load_suite(write_suite(body), registry=registry), registry=registry,
                          results_dir=tmp_path / "results")
    results = harness.load_results(outcome.run_dir)
    cells = results.cells.set_index("pipeline")
    assert cells.loc["reranked", "status"] == "failed"
    assert cells.loc["reranked", "error"] == "this retriever always fails"
    assert len(results.per_query) == 3 * JUDGED_QUERIES  # only the cell that ran


def test_load_results_without_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no harness run"):
        harness.load_results(tmp_path)
    with pytest.raises(FileNotFoundError):
        harness.load_results(tmp_path / "missing")


def test_api_names():
    assert set(harness.api.__all__) >= {"load_suite", "validate", "run", "load_results"}
    with pytest.raises(AttributeError):
        harness.not_a_function  # noqa: B018

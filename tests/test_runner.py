"""Running suites: results, run files that reproduce the metrics, failures, resume, caching."""

from __future__ import annotations

import json

import pytest
import pytrec_eval
from fakes import PersistentOverlap, registry_with

from harness.results import MANIFEST, read_json
from harness.runner import run_suite
from harness.suite import load_suite
from harness.trecfiles import read_qrels, read_run

SUITE = """
name = "t"
k = 5
metrics = ["nDCG@3", "AP", "RR", "P@2", "R@5", "Judged@3"]

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


def run(write_suite, tmp_path, body=SUITE, overrides=(), **options):
    registry = registry_with()
    suite = load_suite(write_suite(body), overrides, registry=registry)
    return run_suite(suite, results_dir=tmp_path / "results", registry=registry, **options)


def test_results_layout_and_run_files_reproduce_metrics(write_suite, tmp_path, tiny_beir):
    outcome = run(write_suite, tmp_path)
    assert not outcome.failed and not outcome.resumed
    manifest = read_json(outcome.run_dir / MANIFEST)
    assert manifest["status"] == "finished" and manifest["schema"] == "harness.run/1"
    assert list(manifest["cells"]) == ["tiny/overlap/cpu", "tiny/reranked/cpu"]
    qrels = {}
    for line in (tiny_beir / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    for result in outcome.results:
        assert result["schema"] == "harness.cell/1" and result["status"] == "ok"
        assert set(result["per_query"]["AP"]) == set(qrels)  # every judged query counts
        assert result["evaluation"]["queries_without_results"] == 1  # q5 matches nothing
        run_file = read_run(outcome.run_dir / result["run_file"])
        complete = {q: run_file.scores.get(q, {}) for q in qrels}  # trec_eval -c
        measures = pytrec_eval.RelevanceEvaluator(qrels, {"map", "ndcg_cut.3", "P.2", "recall.5", "recip_rank"})
        per_query = measures.evaluate(complete)
        for label, measure in [("AP", "map"), ("nDCG@3", "ndcg_cut_3"), ("P@2", "P_2"), ("R@5", "recall_5"),
                               ("RR", "recip_rank")]:
            expected = sum(v[measure] for v in per_query.values()) / len(per_query)
            assert result["metrics"][label] == pytest.approx(expected, abs=1e-12), label
    assert (outcome.run_dir / "leaderboard.md").read_text().count("| tiny ") == 2
    assert "overlap" in (outcome.run_dir / "leaderboard.csv").read_text()


def test_reranker_reorders_head_and_keeps_tail(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path)
    first, reranked = (read_run(outcome.run_dir / r["run_file"]) for r in outcome.results)
    for qid in first:
        original = list(first[qid])
        assert list(reranked[qid]) == original[:2][::-1] + original[2:]


def test_failing_cell_is_recorded_and_others_run(write_suite, tmp_path):
    body = SUITE.replace('name = "reranked"\nretriever = {plugin = "overlap"}',
                         'name = "reranked"\nretriever = {plugin = "failing"}')
    outcome = run(write_suite, tmp_path, body)
    ok, failed = outcome.results
    assert ok["status"] == "ok"
    assert failed["status"] == "failed" and failed["error"]["phase"] == "retrieve"
    assert failed["error"]["message"] == "this retriever always fails"
    assert "RuntimeError" in failed["error"]["traceback"]
    assert "failed: RuntimeError" in (outcome.run_dir / "leaderboard.md").read_text()


def test_missing_dataset_fails_its_cells_with_the_reason(write_suite, tmp_path):
    body = SUITE.replace('source = "beir:{beir}"', 'source = "beir:{beir}-missing"')
    outcome = run(write_suite, tmp_path, body)
    assert len(outcome.failed) == 2
    error = outcome.failed[0]["error"]
    assert error["phase"] == "load" and error["type"] == "DatasetError"
    assert "missing" in error["message"]


def test_resume_keeps_finished_cells_and_new_run_after_finish(write_suite, tmp_path):
    first = run(write_suite, tmp_path)
    manifest = read_json(first.run_dir / MANIFEST)
    manifest["status"] = "running"  # as a killed run leaves it
    (first.run_dir / MANIFEST).write_text(json.dumps(manifest))
    (first.run_dir / "cells" / "tiny__reranked__cpu.json").unlink()
    resumed = run(write_suite, tmp_path)
    assert resumed.resumed and resumed.run_dir == first.run_dir and resumed.kept == 1
    assert read_json(first.run_dir / MANIFEST)["status"] == "finished"
    again = run(write_suite, tmp_path)
    assert not again.resumed and again.run_dir != first.run_dir
    forced_new = run(write_suite, tmp_path, new=True)
    assert forced_new.run_dir not in (first.run_dir, again.run_dir)
    named = run(write_suite, tmp_path, resume=first.run_dir.name)
    assert named.run_dir == first.run_dir and named.kept == 2


def test_cache_serves_unchanged_work_and_force_recomputes(write_suite, tmp_path):
    first = run(write_suite, tmp_path)
    phases = first.results[1]["phases"]
    assert first.results[0]["phases"]["retrieve"]["cache"] == "miss"
    assert phases["retrieve"]["cache"] == "memory"  # one first stage for both pipelines
    assert phases["rerank"]["cache"] == "miss"
    second = run(write_suite, tmp_path)
    assert second.results[0]["phases"]["retrieve"]["cache"] == "hit"
    assert second.results[1]["phases"]["rerank"]["cache"] == "hit"
    assert second.results[0]["metrics"] == first.results[0]["metrics"]
    forced = run(write_suite, tmp_path, force=True)
    assert forced.results[0]["phases"]["retrieve"]["cache"] == "miss"


def test_editing_a_parameter_reruns_only_what_it_affects(write_suite, tmp_path):
    run(write_suite, tmp_path)
    changed = run(write_suite, tmp_path, overrides=["pipelines.reranked.weight=2.0"])
    overlap, reranked = changed.results
    assert overlap["phases"]["retrieve"]["cache"] == "hit"
    assert reranked["phases"]["retrieve"]["cache"] == "miss"


def test_index_cache_for_persistent_retrievers(write_suite, tmp_path):
    body = SUITE.replace('{plugin = "overlap"}', '{plugin = "overlap-persistent"}')
    PersistentOverlap.loads = 0
    first = run(write_suite, tmp_path, body)
    assert first.results[0]["phases"]["index"]["cache"] == "miss"
    assert first.results[1]["phases"]["retrieve"]["cache"] == "memory"
    # a new k: runs are not reusable, the index is
    second = run(write_suite, tmp_path, body, overrides=["k=6"])
    assert second.results[0]["phases"]["index"]["cache"] == "hit"
    assert PersistentOverlap.loads == 1
    assert second.results[0]["phases"]["retrieve"]["cache"] == "miss"


def test_nested_retrievers_run_through_the_runner(write_suite, tmp_path):
    body = SUITE.replace('name = "reranked"\nretriever = {plugin = "overlap"}',
                         'name = "reranked"\n'
                         'retriever = {plugin = "fusion", retrievers = [{plugin = "overlap"}, {plugin = "bm25"}]}')
    outcome = run(write_suite, tmp_path, body)
    fused = outcome.results[1]
    assert fused["status"] == "ok", fused["error"]
    assert fused["phases"]["overlap.retrieve"]["cache"] == "memory"  # the overlap pipeline's run
    assert fused["phases"]["bm25.retrieve"]["cache"] == "miss"
    assert fused["config"]["pipeline"]["retriever"]["retrievers"][1]["plugin"] == "bm25"


def test_compressors_run_and_report(write_suite, tmp_path):
    body = SUITE.replace('name = "reranked"\nretriever = {plugin = "overlap"}',
                         'name = "reranked"\n'
                         'retriever = {plugin = "overlap-compressible", compressors = [{plugin = "halve"}]}')
    outcome = run(write_suite, tmp_path, body)
    compressed = outcome.results[1]
    assert compressed["status"] == "ok", compressed["error"]
    report = compressed["phases"]["compress"]["reports"][0]
    assert report["compressor"]["plugin"] == "halve" and report["weight"] == [1.0, 0.5]
    scores = read_run(outcome.run_dir / compressed["run_file"])
    assert max(max(d.values()) for d in scores.scores.values()) <= 1.5  # weights halved


def test_selection_and_no_cells(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, pipelines=["reranked"])
    assert [r["cell"]["pipeline"] for r in outcome.results] == ["reranked"]
    with pytest.raises(ValueError, match="no cells selected"):
        run(write_suite, tmp_path, pipelines=["nope"])


def test_qrels_are_read_back_from_beir(tiny_beir, tmp_path):
    # guard for the comparison above: the TREC qrels writer/reader agree with the BEIR file
    from harness.trecfiles import format_qrels

    qrels = {"q1": {"d3": 2, "d1": 1}}
    (tmp_path / "q.txt").write_text(format_qrels(qrels))
    assert read_qrels(tmp_path / "q.txt") == qrels


def test_damaged_cached_run_is_rebuilt_and_says_so(write_suite, tmp_path):
    run(write_suite, tmp_path)
    for run_file in (tmp_path / "results" / ".cache" / "runs").glob("*/run.trec"):
        run_file.write_text(run_file.read_text()[:-20])  # truncated
    again = run(write_suite, tmp_path)
    phases = again.results[0]["phases"]["retrieve"]
    assert phases["cache"] == "miss" and "truncated" in phases["discarded"]
    assert again.results[0]["metrics"] == run(write_suite, tmp_path).results[0]["metrics"]

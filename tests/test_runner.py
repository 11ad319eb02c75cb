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
        assert result["schema"] == "harness.cell/2" and result["status"] == "ok"
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
    assert error["phase"] == "load_dataset" and error["type"] == "DatasetError"
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


MEASURED = SUITE + """
[measure]
latency = ["single-stream", "offline"]
warmup = 1
repetitions = 2
min_duration = 0
bootstrap_samples = 50
"""


def test_phases_of_a_two_step_retriever_with_a_model(write_suite, tmp_path):
    body = SUITE.replace('name = "reranked"\nretriever = {plugin = "overlap"}',
                         'name = "reranked"\nretriever = {plugin = "two-step"}')
    reranked = run(write_suite, tmp_path, body).results[1]
    phases = reranked["phases"]
    assert list(phases) == ["load_dataset", "load_model", "index", "retrieve", "query_encode", "search", "prepare",
                            "rerank", "evaluate"]  # the steps inside their retrieve
    assert phases["load_dataset"]["cache"] == "memory"  # loaded by the first cell
    assert phases["index"]["figures"]["parameter_bytes"]["value"] == 96006
    assert phases["index"]["figures"]["docs_per_second"]["unit"] == "documents/s"
    assert phases["retrieve"]["seconds"] >= phases["search"]["seconds"]
    for record in phases.values():
        if record["seconds"] is not None:
            assert record["figures"]["wall"]["value"] == record["seconds"]


def test_latency_is_measured_in_this_run_even_when_quality_is_cached(write_suite, tmp_path):
    first = run(write_suite, tmp_path, MEASURED)
    second = run(write_suite, tmp_path, MEASURED)
    for result in second.results:
        assert result["status"] == "ok", result["error"]
        assert result["phases"]["retrieve"]["cache"] in ("hit", "memory")  # quality from the cache
        assert result["phases"]["latency"]["figures"]["wall"]["value"] > 0  # cost measured now
        single = result["latency"]["single_stream"]["latency"]["p50"]
        assert single["samples"] == 5 * 2 and single["warmup"] == 1
    overlap, reranked = second.results
    assert overlap["phases"]["index"]["cache"] == "miss"  # built for the latency loops, in this run
    assert set(reranked["latency"]["single_stream"]["stages"]) == {"retrieve", "rerank"}
    assert reranked["latency"]["offline"]["qps"]["samples"] == 2
    assert first.results[0]["metrics"] == overlap["metrics"]


def test_latency_of_nested_retrievers_never_uses_the_run_cache(write_suite, tmp_path):
    body = MEASURED.replace('name = "reranked"\nretriever = {plugin = "overlap"}',
                            'name = "reranked"\n'
                            'retriever = {plugin = "fusion", retrievers = [{plugin = "overlap"}, {plugin = "bm25"}]}')
    outcome = run(write_suite, tmp_path, body)
    fused = outcome.results[1]
    assert fused["status"] == "ok", fused["error"]
    assert fused["phases"]["bm25.index"]["cache"] == "miss"  # made ready inside the cold call
    assert fused["latency"]["single_stream"]["latency"]["p50"]["samples"] == 10
    runs = list((tmp_path / "results" / ".cache" / "runs").iterdir())
    assert len(runs) == 4  # overlap, fusion, bm25 and the rerank: none for single queries


def test_measure_settings_are_part_of_the_cell_key(write_suite, tmp_path):
    first = run(write_suite, tmp_path, MEASURED)
    manifest = read_json(first.run_dir / MANIFEST)
    manifest["status"] = "running"
    (first.run_dir / MANIFEST).write_text(json.dumps(manifest))
    resumed = run(write_suite, tmp_path, MEASURED, overrides=["measure.warmup=2"])
    assert resumed.run_dir == first.run_dir and resumed.kept == 0
    assert resumed.results[0]["config"]["measure"]["warmup"] == 2


def test_every_cell_records_hardware_and_how_it_ran(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path)
    manifest = read_json(outcome.run_dir / MANIFEST)
    assert manifest["executor"] == {"name": "local", "cells_at_once": 1, "isolation": "none"}
    for result in outcome.results:
        assert result["hardware"]["hash"] == manifest["hardware"]["hash"]
        assert result["execution"]["concurrent"] == {"allowed": False, "alongside": []}
        assert result["device"] == {"name": "cpu"}
        assert "latency" not in result and "memory" not in result  # not asked for


def test_latency_loops_report_no_progress(write_suite, tmp_path):
    from contextlib import contextmanager

    from harness.components import Progress

    class Recorder(Progress):
        tasks = 0

        @contextmanager
        def task(self, description, total=None):
            type(self).tasks += 1
            yield lambda n=1: None

    body = MEASURED.replace('{plugin = "overlap"}', '{plugin = "chatty"}', 1)
    outcome = run(write_suite, tmp_path, body, pipelines=["overlap"], progress=Recorder())
    assert outcome.results[0]["latency"]["single_stream"]["latency"]["p50"]["samples"] == 10
    assert Recorder.tasks == 1  # the quality run's; none of the dozens of timed calls


def test_component_identity_is_recorded_even_from_cache(write_suite, tmp_path):
    run(write_suite, tmp_path)
    cached = run(write_suite, tmp_path)  # a new run served from the cache
    assert cached.results[0]["phases"]["retrieve"]["cache"] == "hit"
    assert cached.results[0]["stages"][0]["identity"] == {"weight": 1.0}
    assert cached.results[0]["stages"][0]["cache"] == "hit"
    assert cached.results[1]["stages"][1]["identity"] == {} and cached.results[1]["stages"][1]["plugin"] == "reverse"

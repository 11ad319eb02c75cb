"""The quickstart on real data: its leaderboard equals pytrec_eval on the written run files, its
neural cells share one encoded corpus and a second run reuses it, and ``irds:cranfield``
(grade-mapped) is the same collection as the shared BEIR folder.

The quickstart runs with the session's artifact cache (``session_cache_dir``), so the corpus is
encoded at most once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import ir_datasets
import pandas as pd
import pytest
import pytrec_eval

from harness.components import Context
from harness.datasets import DatasetSpec, load_dataset
from harness.plugins import get_registry
from harness.runner import run_suite
from harness.suite import load_suite
from harness.trecfiles import read_run

QUICKSTART = Path(__file__).resolve().parents[1] / "suites" / "quickstart.toml"
CRANFIELD_GRADES = {1: 4, 2: 3, 3: 2, 4: 1, -1: 0}

pytestmark = pytest.mark.slow
COMPRESSED = {"dense-minilm-bf16", "dense-minilm-int8", "dense-minilm-svd"}
PIPELINES = {"bm25", "bm25-stemmed", "dense-minilm", "hybrid-rrf", "bm25+bi-encoder", "cascade-int8-fp32", *COMPRESSED}


def run_quickstart(cache_dir: Path, results: Path, *overrides: str):
    suite = load_suite(QUICKSTART, overrides=[f'output.cache_dir="{cache_dir}"', *overrides])
    outcome = run_suite(suite, results_dir=results, new=True)
    assert not outcome.failed, [r["error"]["message"] for r in outcome.failed]
    return outcome, {r["cell"]["pipeline"]: r for r in outcome.results}


QUALITY_ONLY = ("measure.latency=[]", "measure.memory=false")  # cost is tested on its own below


def test_quickstart_leaderboard_equals_pytrec_eval_on_run_files(irds_cranfield, session_cache_dir, tmp_path):
    outcome, cells = run_quickstart(session_cache_dir, tmp_path, *QUALITY_ONLY)
    board = pd.read_csv(outcome.run_dir / "leaderboard.csv")
    assert set(board["pipeline"]) == PIPELINES
    # all-MiniLM-L6-v2 lands on the shared folder's reference (its README), and the ranker reads
    # the vectors the dense pipeline stored
    assert cells["dense-minilm"]["metrics"]["nDCG@10"] == pytest.approx(0.3736, abs=0.01)
    assert cells["bm25+bi-encoder"]["phases"]["prepare"]["embeddings"]["cache"] == "hit"
    assert cells["bm25+bi-encoder"]["metrics"]["nDCG@10"] > cells["bm25"]["metrics"]["nDCG@10"]
    # the hybrid fuses the plain pipelines' runs (from memory or the cache, never retrieved again)
    hybrid = cells["hybrid-rrf"]["phases"]
    assert {hybrid["bm25.retrieve"]["cache"], hybrid["dense.retrieve"]["cache"]} <= {"memory", "hit"}
    assert cells["hybrid-rrf"]["metrics"]["nDCG@10"] > cells["dense-minilm"]["metrics"]["nDCG@10"]
    # label-free diagnostics: defined for the dense retrievers, unavailable for BM25
    assert 100 < cells["dense-minilm"]["metrics"]["RankMe"] <= 384 and cells["dense-minilm"]["metrics"]["hubness"] > 0
    assert cells["bm25"]["metrics"]["RankMe"] is None
    # bf16 keeps the quality (embeddings ~ fp32); each compressed cell carries its compression report
    assert cells["dense-minilm-bf16"]["metrics"]["nDCG@10"] == pytest.approx(0.3736, abs=0.005)
    for name in COMPRESSED:
        (report,) = cells[name]["phases"]["compress"]["reports"]
        assert report["bytes_after"] < report["bytes_before"] and report["layers"], name
    qrels = {}
    for qrel in ir_datasets.load(irds_cranfield).qrels_iter():  # independent of the harness
        qrels.setdefault(qrel.query_id, {})[qrel.doc_id] = CRANFIELD_GRADES[qrel.relevance]
    for result in outcome.results:
        run = read_run(outcome.run_dir / result["run_file"])
        complete = {q: run.scores.get(q, {}) for q in qrels}  # every judged query counts
        per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map"}).evaluate(complete)
        ndcg = sum(v["ndcg_cut_10"] for v in per_query.values()) / len(qrels)
        row = board[board["pipeline"] == result["cell"]["pipeline"]].iloc[0]
        assert row["nDCG@10"] == pytest.approx(ndcg, rel=0, abs=1e-12)
        assert result["metrics"]["nDCG@10"] == pytest.approx(ndcg, rel=0, abs=1e-15)
        ap = sum(v["map"] for v in per_query.values()) / len(qrels)
        assert result["metrics"]["AP"] == pytest.approx(ap, abs=1e-15)


def test_a_second_run_reuses_every_embedding(irds_cranfield, session_cache_dir, tmp_path):
    quality_only = QUALITY_ONLY  # caching is the point here, not cost
    run_quickstart(session_cache_dir, tmp_path, *quality_only)  # fills the cache (unless a test did)
    _, again = run_quickstart(session_cache_dir, tmp_path, *quality_only)
    assert set(again) == PIPELINES
    for name, cell in again.items():  # every stage's run served (cache, or a prefix shared in memory)
        phases = cell["phases"]
        assert phases.get("rerank.2", phases.get("rerank", phases["retrieve"]))["cache"] == "hit", name
        for phase in ("retrieve", "rerank", "rerank.2"):
            assert phase not in phases or phases[phase]["cache"] in ("hit", "memory"), (name, phase)
    # Another k needs new runs; the corpus vectors still come from the embedding cache.
    _, other_k = run_quickstart(session_cache_dir, tmp_path, *quality_only, "k=100",
                                "pipelines.cascade-int8-fp32.stages[1].depth=100")  # within the new k
    assert other_k["dense-minilm"]["phases"]["retrieve"]["cache"] == "miss"
    assert other_k["dense-minilm"]["phases"]["index"]["embeddings"]["cache"] == "hit"
    assert other_k["bm25+bi-encoder"]["phases"]["prepare"]["embeddings"]["cache"] == "hit"
    assert other_k["bm25+bi-encoder"]["phases"]["rerank"]["embeddings"] == {"documents_encoded": 0}


def test_quickstart_measures_cost_for_every_pipeline(irds_cranfield, session_cache_dir, tmp_path):
    """The demo's [measure] settings (on fewer queries), on BM25 and on MiniLM with each of its
    compressed variants: latency percentiles, QPS and memory reach the leaderboard, and each
    compressed pipeline is shown beside its parent with quality delta, cost and size ratios and a
    non-inferiority verdict."""
    suite = load_suite(QUICKSTART, overrides=[f'output.cache_dir="{session_cache_dir}"', "measure.latency_queries=20",
                                              "measure.warmup=2"])
    outcome = run_suite(suite, results_dir=tmp_path, pipelines=["bm25", "dense-minilm", *sorted(COMPRESSED)])
    assert not outcome.failed, [r["error"]["message"] for r in outcome.failed]
    board = pd.read_csv(outcome.run_dir / "leaderboard.csv")
    cost = [c for c in board.columns if c.endswith(("p50 ms", "p95 ms", "QPS", "peak MiB"))]
    assert len(cost) >= 4, list(board.columns)
    assert board[cost].notna().all().all()
    rows = json.loads((outcome.run_dir / "leaderboard.json").read_text())["compressed"]["rows"]
    compressed = {row["pipeline"]: row for row in rows}
    assert set(compressed) == COMPRESSED
    for row in compressed.values():
        assert row["parent"] == "dense-minilm" and row["status"] == "ok", row
        assert row["verdict"]["verdict"] in ("non-inferior", "inferior", "inconclusive")
        assert 0 < row["size"]["ratio"] < 1 and row["cost"]["p50 ms"]["ratio"] > 0, row
        assert row["quality"]["nDCG@10"]["difference"] == pytest.approx(
            row["quality"]["nDCG@10"]["value"] - row["quality"]["nDCG@10"]["parent"])
    assert compressed["dense-minilm-bf16"]["verdict"]["verdict"] == "non-inferior"  # no loss at all
    assert compressed["dense-minilm-bf16"]["size"]["ratio"] == pytest.approx(0.5, abs=0.01)


def test_irds_cranfield_and_beir_folder_give_same_bm25_scores(irds_cranfield, cranfield_dir):
    registry = get_registry()
    irds = load_dataset(DatasetSpec("irds", "irds", {"id": irds_cranfield}, fields=("text",), grades=CRANFIELD_GRADES),
                        registry, Path.cwd())
    beir = load_dataset(DatasetSpec("beir", "beir", {"path": str(cranfield_dir)}, fields=("text",)),
                        registry, Path.cwd())
    positive = {q: {d: g for d, g in docs.items() if g > 0} for q, docs in irds.qrels.items()}
    assert positive == beir.qrels
    bm25 = registry.get("retriever", "bm25")
    runs = []
    for collection in (irds, beir):
        retriever = bm25(k1=0.9, b=0.4)
        retriever.index(collection, Context())
        runs.append(retriever.retrieve(collection.queries, 100, Context()))
    a, b = runs
    assert set(a) == set(b) == set(beir.queries)
    for qid in a:
        assert list(a[qid]) == list(b[qid])
        assert list(a[qid].values()) == pytest.approx(list(b[qid].values()), rel=1e-6)

"""The quickstart on real data: its leaderboard equals pytrec_eval on the written run files, its
neural cells share one encoded corpus and a second run reuses it, and ``irds:cranfield``
(grade-mapped) is the same collection as the shared BEIR folder.

The quickstart runs with the session's artifact cache (``session_cache_dir``), so the corpus is
encoded at most once per test session."""

from __future__ import annotations

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
PIPELINES = {"bm25", "bm25-stemmed", "dense-minilm", "bm25+bi-encoder"}


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
    for name, cell in again.items():  # every run served from the cache: nothing encoded
        assert cell["phases"].get("rerank", cell["phases"]["retrieve"])["cache"] == "hit", name
    # Another k needs new runs; the corpus vectors still come from the embedding cache.
    _, other_k = run_quickstart(session_cache_dir, tmp_path, *quality_only, "k=100")
    assert other_k["dense-minilm"]["phases"]["retrieve"]["cache"] == "miss"
    assert other_k["dense-minilm"]["phases"]["index"]["embeddings"]["cache"] == "hit"
    assert other_k["bm25+bi-encoder"]["phases"]["prepare"]["embeddings"]["cache"] == "hit"
    assert other_k["bm25+bi-encoder"]["phases"]["rerank"]["embeddings"] == {"documents_encoded": 0}


def test_quickstart_measures_cost_for_every_pipeline(irds_cranfield, session_cache_dir, tmp_path):
    """The demo's [measure] settings as they are, on the BM25 pipelines (the neural ones cost the
    same machinery, only slower): latency percentiles, QPS and memory reach the leaderboard."""
    suite = load_suite(QUICKSTART, overrides=[f'output.cache_dir="{session_cache_dir}"'])
    outcome = run_suite(suite, results_dir=tmp_path, pipelines=["bm25", "bm25-stemmed"])
    assert not outcome.failed
    board = pd.read_csv(outcome.run_dir / "leaderboard.csv")
    cost = [c for c in board.columns if "p50" in c or "p95" in c or "QPS" in c or "MiB" in c]
    assert len(cost) >= 4, list(board.columns)
    assert board[cost].notna().all().all()


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

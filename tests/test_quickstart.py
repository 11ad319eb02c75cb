"""The quickstart on real data: its leaderboard equals pytrec_eval on the written run files, and
``irds:cranfield`` (grade-mapped) is the same collection as the shared BEIR folder."""

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




def test_quickstart_leaderboard_equals_pytrec_eval_on_run_files(irds_cranfield, tmp_path):
    outcome = run_suite(load_suite(QUICKSTART), results_dir=tmp_path)
    assert not outcome.failed
    board = pd.read_csv(outcome.run_dir / "leaderboard.csv")
    assert len(board) >= 2 and set(board["pipeline"]) >= {"bm25", "bm25-stemmed"}
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

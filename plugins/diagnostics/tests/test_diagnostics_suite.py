"""The diagnostics in a suite: a dense retriever on a tiny random BERT publishes its corpus
vectors, and a second run, whose run comes from the cache, gets the same vectors (the runner makes
the index ready from the embedding cache) and so the same values."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from harness_diagnostics.rankme import effective_rank

from harness.runner import run_suite
from harness.suite import load_suite
from harness.testing import tiny_collection, write_beir

DIAGNOSTICS = ["RankMe", "hubness", "antihubs", "hubness(k=3)"]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    """A random 2-layer, 32-dimensional BERT whose vocabulary is the tiny collection's words (as the
    transformers plugin's tests build theirs: the tokenizer read from a folder with vocab.txt)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("models") / "tiny-encoder"
    folder.mkdir()
    collection = tiny_collection()
    words = sorted({w for d in collection.docs for w in re.findall(r"[a-z]+", collection.contents(d).lower())})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=len(words) + 5)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder




def suite_file(tmp_path: Path, encoder: Path) -> Path:
    beir = write_beir(tmp_path / "tiny", tiny_collection())
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "diagnostics"
        k = 10
        metrics = ["nDCG@10", "RankMe", "hubness", "antihubs", {{ metric = "hubness", k = 3 }}]
        [[datasets]]
        name = "tiny"
        source = "beir:{beir}"
        [[pipelines]]
        name = "dense"
        retriever = {{ plugin = "dense", model = "{encoder}", max_length = 32 }}
        [[pipelines]]
        name = "bm25"
        retriever = {{ plugin = "bm25" }}
        """))
    return path


def encoded(encoder: Path) -> np.ndarray:
    """The tiny collection's vectors, as a dense retriever indexed outside a suite publishes them."""
    from harness_transformers import Dense

    from harness.components import Context

    collection = tiny_collection()
    dense, ctx = Dense(model=str(encoder), max_length=32), Context(collection=collection)
    dense.index(collection, ctx)
    matrix = ctx.artifacts["embeddings"]["documents"]
    assert matrix.shape == (12, 32) and np.allclose(np.linalg.norm(matrix, axis=1), 1, atol=1e-5)
    return matrix


def run(path: Path, results: Path) -> dict[str, dict]:
    outcome = run_suite(load_suite(path), results_dir=results, new=True)
    assert not outcome.failed, [r["error"] for r in outcome.failed]
    return {r["cell"]["pipeline"]: r for r in outcome.results}


def test_a_cached_run_gets_the_same_diagnostics(tmp_path, tiny_encoder):
    path = suite_file(tmp_path, tiny_encoder)
    first = run(path, tmp_path / "results")
    dense = first["dense"]
    assert dense["phases"]["retrieve"]["cache"] == "miss"
    assert "artifacts" not in dense["phases"]  # the index was built for the run: it published the vectors
    values = {label: dense["metrics"][label] for label in DIAGNOSTICS}
    assert 1 < values["RankMe"] <= 12  # 12 documents, 32 dimensions
    assert 0 <= values["antihubs"] < 1
    details = dense["evaluation"]["details"]
    assert details["RankMe"]["rows_used"] == 12 and details["RankMe"]["normalized"] is True
    assert sum(details["hubness"]["hubs"].values()) <= 12 * 10
    # the very matrix the retriever scores with, normalised, float32 as published
    assert values["RankMe"] == pytest.approx(effective_rank(encoded(tiny_encoder).astype(np.float64)), rel=1e-6)

    second = run(path, tmp_path / "results")
    cached = second["dense"]
    assert cached["phases"]["retrieve"]["cache"] == "hit"
    # the metrics need the vectors the cached run did not bring: the index is made ready for them,
    # its vectors read from the embedding cache, nothing encoded
    artifacts = cached["phases"]["artifacts"]
    assert artifacts["needs"] == ["embeddings"] and artifacts["published"] == ["embeddings"]
    assert cached["phases"]["index"]["embeddings"]["cache"] == "hit"
    assert {label: cached["metrics"][label] for label in DIAGNOSTICS} == values
    assert cached["evaluation"]["details"]["hubness"] == details["hubness"]

    # bm25 publishes no vectors: its diagnostics are unavailable, in either run
    for cells in (first, second):
        bm25 = cells["bm25"]
        assert all(bm25["metrics"][label] is None for label in DIAGNOSTICS)
        assert bm25["evaluation"]["details"]["RankMe"]["unavailable"] == "needs embeddings"
    # bm25 declares that it publishes nothing (Component.publishes): a cached cell is not made ready
    assert {"artifacts", "index"}.isdisjoint(second["bm25"]["phases"])


"""The dense vectors' store (cache.py): encoded a slice at a time straight into a memory-mapped
cache entry that every reader shares; a corpus on disk (harness/corpus.py) encodes to the very
vectors a list does, and a suite gives the same runs from either store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from harness_transformers import Dense, base, tokens

from harness.cache import ArtifactCache
from harness.components import Context
from harness.testing.data import on_disk

from .helpers import run_in_both_stores


def mapped_file(array) -> Path | None:
    """The file whose mapping holds ``array``'s data (Linux: /proc/self/maps), or None."""
    address = array.__array_interface__["data"][0]
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, *rest = line.split(maxsplit=5)
        low, high = (int(x, 16) for x in span.split("-"))
        if low <= address < high:
            return Path(rest[4]).resolve() if len(rest) == 5 and rest[4].startswith("/") else None
    return None


def indexed(folder, collection, ctx, **params) -> Dense:
    dense = Dense(model=str(folder), **params)
    dense.identity(ctx)
    dense.index(collection, ctx)
    return dense


def test_slices_give_the_vectors_of_one_call(tiny_encoder, collection, monkeypatch):
    whole = indexed(tiny_encoder, collection, Context(), batch_size=3)._docs.clone()
    # Windows of 4 texts, slices of 8: 24 texts in three slices, each a whole number of windows.
    monkeypatch.setattr(tokens, "CHUNK", 4)
    monkeypatch.setattr(base, "SLICE", 8)
    sliced = indexed(tiny_encoder, collection, Context(), batch_size=3)._docs
    reference = Dense(model=str(tiny_encoder), batch_size=3)
    reference.identity(Context())
    reference.setup(Context())
    one_call = reference._encoder().encode(collection.texts())  # the same 4-text windows, one call
    assert torch.equal(sliced, one_call)
    torch.testing.assert_close(sliced, whole, atol=1e-5, rtol=0)  # other windows: float noise only


def test_the_cache_entry_is_the_store(tiny_encoder, collection, tmp_path):
    ctx = Context(cache=ArtifactCache(tmp_path))
    dense = indexed(tiny_encoder, collection, ctx)
    (entry,) = (tmp_path / "embeddings").iterdir()
    stored = np.load(entry / "embeddings.npy", allow_pickle=False)
    assert np.array_equal(dense._docs.numpy(), stored)
    assert not list((tmp_path / "embeddings").glob(".filling-*"))  # the staging file became the entry
    again_ctx = Context(cache=ArtifactCache(tmp_path))
    again = indexed(tiny_encoder, collection, again_ctx)
    assert again_ctx.phase["embeddings"]["cache"] == "hit"
    # Served memory-mapped from the entry's file, shared with the embeddings artifact.
    array = again._docs.numpy()
    if Path("/proc/self/maps").exists():
        assert mapped_file(array) == (entry / "embeddings.npy").resolve()
    assert np.shares_memory(again_ctx.artifacts["embeddings"]["documents"], array)
    assert np.array_equal(array, stored)


def test_an_encoding_that_fails_stores_nothing(tiny_encoder, collection, tmp_path, monkeypatch):
    ctx = Context(cache=ArtifactCache(tmp_path))
    dense = Dense(model=str(tiny_encoder))
    dense.identity(ctx)

    def broken(self, out, texts, ctx, what):
        out[:2] = 1.0
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Dense, "encode_into", broken)
    try:
        dense.index(collection, ctx)
    except RuntimeError:
        pass
    assert not [p for p in (tmp_path / "embeddings").iterdir()]


def test_a_corpus_on_disk_encodes_to_the_same_vectors(tiny_encoder, collection, tmp_path):
    memory = indexed(tiny_encoder, collection, Context(), batch_size=4)
    disk = indexed(tiny_encoder, on_disk(collection), Context(), batch_size=4)
    assert torch.equal(memory._docs, disk._docs)
    queries = dict(collection.queries)
    assert memory.retrieve(queries, 10, Context()).scores == disk.retrieve(queries, 10, Context()).scores


def test_a_suite_gives_the_same_runs_from_either_store(tiny_encoder, beir, tmp_path):
    text = f'''name = "store"
k = 10
metrics = ["nDCG@10", "AP"]
[[datasets]]
source = "beir:{beir}"
corpus_store = "STORE"
[[pipelines]]
name = "bm25"
retriever = {{plugin = "bm25"}}
[[pipelines]]
name = "dense"
retriever = {{plugin = "dense", model = "{tiny_encoder}", batch_size = 4}}
[[pipelines]]
name = "hnsw"
retriever = {{plugin = "dense", model = "{tiny_encoder}", batch_size = 4, index = "hnsw"}}
[[pipelines]]
name = "rerank"
retriever = {{plugin = "bm25"}}
ranker = {{plugin = "bi-encoder", model = "{tiny_encoder}", depth = 5}}
[output]
run_files = true
'''
    runs, _ = run_in_both_stores(tmp_path, text)
    assert len(runs["memory"]) == 4 and runs["memory"] == runs["disk"]

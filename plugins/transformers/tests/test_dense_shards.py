"""``dense`` through the harness's corpus shard protocol (harness/executors/shards.py): shards
encoded apart and merged give the vectors one ``index`` gives, in the embedding cache entry that
``index`` and the ``bi-encoder`` ranker read."""

from __future__ import annotations

import json

import torch
from harness_transformers import Dense

from harness.cache import ArtifactCache
from harness.components import Context, Progress
from harness.executors.shards import Shard, run_shard_job
from harness.plugins import load_registry
from harness.runner import run_suite
from harness.suite import load_suite

SHARDS = [Shard(0, 3, 0, 10), Shard(1, 3, 10, 20), Shard(2, 3, 20, 24)]


def ready(folder, ctx) -> Dense:
    dense = Dense(model=str(folder), batch_size=4)
    dense.identity(ctx)
    dense.setup(ctx)
    return dense


def test_sharded_and_unsharded_embeddings_are_equal(tiny_encoder, collection, tmp_path):
    whole_ctx = Context(cache=ArtifactCache(tmp_path / "whole"))
    parts_ctx = Context(cache=ArtifactCache(tmp_path / "parts"))
    whole = ready(tiny_encoder, whole_ctx)
    whole.index(collection, whole_ctx)
    sharded = ready(tiny_encoder, parts_ctx)
    assert not sharded.index_cached(collection, parts_ctx)
    folders = []
    for shard in SHARDS:
        folders.append(tmp_path / f"shard{shard.number}")
        folders[-1].mkdir()
        sharded.index_shard(collection, shard, folders[-1], parts_ctx)
    sharded.merge_index(collection, folders, parts_ctx)
    # Equal up to the float noise batch composition brings (the plugin's own bound for batch sizes).
    torch.testing.assert_close(sharded._docs, whole._docs, atol=1e-5, rtol=0)
    queries = dict(collection.queries)
    ranked = [{q: list(docs) for q, docs in d.retrieve(queries, 5, c).items()}
              for d, c in ((sharded, parts_ctx), (whole, whole_ctx))]
    assert ranked[0] == ranked[1]
    # The merge wrote the entry index() reads: a fresh retriever finds it and encodes nothing.
    fresh_ctx = Context(cache=parts_ctx.cache)
    fresh = ready(tiny_encoder, fresh_ctx)
    assert fresh.index_cached(collection, fresh_ctx)
    fresh.index(collection, fresh_ctx)
    assert fresh_ctx.phase["embeddings"]["cache"] == "hit"
    assert fresh_ctx.phase["embeddings"]["built"]["shards"] == 3
    assert whole.embedding_key(collection) == fresh.embedding_key(collection)


def test_shard_jobs_feed_the_cells_embeddings(tiny_encoder, beir, tmp_path):
    """The executor's shard jobs (run here in-process, as a worker's process runs them): plan,
    three shards, merge; then a cell of the suite reads the merged vectors from the cache."""
    registry = load_registry()
    suite_path = tmp_path / "dense.toml"
    suite_path.write_text(f'name = "sharded"\nk = 10\nmetrics = ["nDCG@10", "AP"]\n[[datasets]]\n'
                          f'source = "beir:{beir}"\n[[pipelines]]\nname = "dense"\n'
                          f'retriever = {{plugin = "dense", model = "{tiny_encoder}"}}\n')

    def suite(cache_dir):
        return load_suite(suite_path, [f'output.cache_dir="{cache_dir}"'], registry=registry)

    shared = suite(tmp_path / "cache")
    (cell,) = shared.cells()
    cache = ArtifactCache(tmp_path / "cache")

    def job(kind, **more):
        reply = run_shard_job({"kind": kind, "suite": shared, "cell": cell, **more}, registry, cache, Progress())
        assert "error" not in reply, reply
        return reply

    plan = job("plan")
    assert plan["documents"] == 24 and not plan["ready"]
    for shard in SHARDS:
        job("shard", shard=shard, index_key=plan["key"])
    assert job("merge", shards=SHARDS, index_key=plan["key"])["merged"] == 3
    assert job("plan")["ready"]  # nothing left to shard
    sharded = run_suite(shared, results_dir=tmp_path / "sharded", registry=registry).results[0]
    whole = run_suite(suite(tmp_path / "fresh"), results_dir=tmp_path / "whole", registry=registry).results[0]
    embeddings = sharded["phases"]["index"]["embeddings"]
    assert embeddings["cache"] == "hit" and embeddings["built"]["shards"] == 3
    assert whole["phases"]["index"]["embeddings"]["cache"] == "miss"
    assert json.dumps(sharded["metrics"]) == json.dumps(whole["metrics"])


def test_shards_on_the_batching_window_give_the_unsharded_vectors_bit_for_bit(tiny_encoder, collection, tmp_path,
                                                                               monkeypatch):
    """Shards planned with ``Dense.shard_unit`` (the window tokens.py batches in) form exactly the
    batches one unsharded index forms, so the merged entry, stored under the unsharded key, holds
    the very vectors an unsharded run writes: a warm cache filled by shards and an empty one agree."""
    from harness_transformers import tokens

    from harness.executors.shards import plan_shards

    monkeypatch.setattr(tokens, "CHUNK", 8)  # a window the 24-document corpus spans three times
    monkeypatch.setattr(Dense, "shard_unit", 8)
    shards = plan_shards(len(collection.docs), 5, Dense.shard_unit)  # 5 rounds up to 8
    assert [(s.start, s.stop) for s in shards] == [(0, 8), (8, 16), (16, 24)]
    whole_ctx = Context(cache=ArtifactCache(tmp_path / "whole"))
    parts_ctx = Context(cache=ArtifactCache(tmp_path / "parts"))
    whole = ready(tiny_encoder, whole_ctx)
    whole.index(collection, whole_ctx)
    sharded = ready(tiny_encoder, parts_ctx)
    folders = []
    for shard in shards:
        folders.append(tmp_path / f"shard{shard.number}")
        folders[-1].mkdir()
        sharded.index_shard(collection, shard, folders[-1], parts_ctx)
    sharded.merge_index(collection, folders, parts_ctx)
    assert torch.equal(sharded._docs, whole._docs)


def test_the_shard_unit_is_the_batching_window():
    from harness_transformers import tokens

    assert Dense.shard_unit == tokens.CHUNK

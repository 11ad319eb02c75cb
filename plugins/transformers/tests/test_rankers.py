"""The ``cross-encoder`` and ``bi-encoder`` rankers: scores, parity, candidates under a depth, pair
scoring (``score_pairs``) and the counts they report."""

from __future__ import annotations

import pytest
import torch
from harness_transformers import BiEncoder, CrossEncoder, Dense
from harness_transformers.tokens import Tokens

from harness.cache import ArtifactCache
from harness.components import Context, Retriever
from harness.params import Param
from harness.ranking import Run, trec_order
from harness.runner import run_suite
from harness.scoring import scorer_for
from harness.suite import load_suite

from .helpers import registry_with, sentences


def prepared(cls, folder, collection, ctx=None, **params):
    ranker = cls(model=str(folder), **params)
    ctx = ctx or Context()
    ranker.identity(ctx)
    ranker.prepare(collection, ctx)
    return ranker


def candidates(collection, depth=10) -> Run:
    """Each query's first ``depth`` documents in a fixed order (scores descending)."""
    ids = [d.id for d in collection.docs]
    return Run.from_scores({q: {d: float(-i) for i, d in enumerate((ids[j:] + ids[:j])[:depth])}
                            for j, q in enumerate(collection.queries)})


# -- cross-encoder ----------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["logit", "sigmoid"])
def test_cross_encoder_equals_sentence_transformers_predict(tiny_cross, collection, score):
    from sentence_transformers import CrossEncoder as Peer

    pairs = [(q, d) for q in sentences(6, seed=5, longest=8) for d in collection.texts()[:20]]
    peer = Peer(str(tiny_cross), device="cpu")
    activation = torch.nn.Identity() if score == "logit" else torch.nn.Sigmoid()
    expected = peer.predict(pairs, batch_size=16, activation_fn=activation)
    ranker = prepared(CrossEncoder, tiny_cross, collection, score=score, batch_size=16)
    assert ranker.score_text_pairs(pairs, Context()) == pytest.approx(expected.tolist(), abs=1e-5)


def test_cross_encoder_batch_size_and_order_do_not_change_scores(tiny_cross, collection):
    pairs = [(q, d) for q in sentences(2, seed=2) for d in collection.texts()[:20]]
    one = prepared(CrossEncoder, tiny_cross, collection, batch_size=1).score_text_pairs(pairs, Context())
    many = prepared(CrossEncoder, tiny_cross, collection, batch_size=32).score_text_pairs(pairs, Context())
    backwards = prepared(CrossEncoder, tiny_cross, collection).score_text_pairs(pairs[::-1], Context())
    assert many == pytest.approx(one, abs=1e-5)
    assert backwards[::-1] == pytest.approx(one, abs=1e-5)


def test_cross_encoder_truncates_the_document_not_the_query(tiny_cross, collection):
    ranker = prepared(CrossEncoder, tiny_cross, collection, max_length=16)
    query, doc = "shock wave drag", "wing " * 30
    # Everything past the window is cut from the document: appending to it changes nothing...
    first, longer = ranker.score_text_pairs([(query, doc), (query, doc + "heat flow")], Context())
    assert longer == pytest.approx(first, abs=1e-6)
    # ...while the query, kept whole, still decides the score.
    (other,) = ranker.score_text_pairs([("shock wave lift", doc)], Context())
    assert other != pytest.approx(first, abs=1e-6)


def test_cross_encoder_accepts_a_query_longer_than_the_window(tiny_cross, collection):
    ranker = prepared(CrossEncoder, tiny_cross, collection, max_length=16)
    (encoding,) = Tokens(ranker._tokenizer, 16).encode_pairs([("heat " * 40, "wing flow")])
    assert len(encoding) == 13 and encoding.ids.count(ranker._tokenizer.convert_tokens_to_ids("heat")) == 8
    (score,) = ranker.score_text_pairs([("heat " * 40, "wing flow")], Context())
    assert score == score  # a number: no truncation error


@pytest.mark.parametrize("max_length", [12, 40, 512])
def test_pair_inputs_equal_the_tokenizers_only_second_truncation(tiny_cross, max_length):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_cross)
    pairs = [(q, d) for q in sentences(3, seed=7, longest=5) for d in sentences(6, seed=8)]
    pairs.append(("", "wing"))
    tokens = Tokens(tokenizer, max_length)
    expected = tokenizer([q for q, _ in pairs], [d for _, d in pairs], truncation="only_second",
                         max_length=max_length)
    for encoding, ids, types in zip(tokens.encode_pairs(pairs), expected["input_ids"], expected["token_type_ids"],
                                    strict=True):
        assert (encoding.ids, encoding.type_ids) == (ids, types)
    rows, inputs = next(tokens.pairs(pairs, 4))
    assert set(inputs) == {"input_ids", "token_type_ids", "attention_mask"}
    for row, ids, mask in zip(rows, inputs["input_ids"].tolist(), inputs["attention_mask"].tolist(), strict=True):
        assert ids[: sum(mask)] == expected["input_ids"][row] and set(ids[sum(mask):]) <= {tokenizer.pad_token_id}


def test_two_output_head_needs_a_label(tiny_cross_two, collection):
    with pytest.raises(ValueError, match="set label"):
        prepared(CrossEncoder, tiny_cross_two, collection)
    pairs = [("wing flow", "heat transfer"), ("shock", "shock wave")]
    logits = prepared(CrossEncoder, tiny_cross_two, collection, label=1).score_text_pairs(pairs, Context())
    probabilities = prepared(CrossEncoder, tiny_cross_two, collection, label=1, score="softmax")
    first = prepared(CrossEncoder, tiny_cross_two, collection, label=0).score_text_pairs(pairs, Context())
    expected = torch.tensor([first, logits]).T.softmax(dim=1)[:, 1]
    assert probabilities.score_text_pairs(pairs, Context()) == pytest.approx(expected.tolist(), abs=1e-6)


def test_softmax_needs_several_outputs_and_label_must_exist(tiny_cross, collection):
    with pytest.raises(ValueError, match="several outputs"):
        prepared(CrossEncoder, tiny_cross, collection, score="softmax")
    with pytest.raises(ValueError, match="label 3"):
        prepared(CrossEncoder, tiny_cross, collection, label=3)


def test_cross_encoder_rerank_returns_exactly_the_candidates(tiny_cross, collection):
    ranker = prepared(CrossEncoder, tiny_cross, collection)
    given = candidates(collection)
    ctx = Context()
    reranked = ranker.rerank(collection.queries, given, ctx)
    assert {q: set(d) for q, d in reranked.items()} == {q: set(d) for q, d in given.items()}
    assert ctx.phase["pairs"] == given.num_docs() and ctx.phase["model"]["source"] == "folder"
    q = next(iter(given))
    scores = ranker.score_text_pairs([(collection.queries[q], collection.text(d)) for d in given[q]], Context())
    assert [reranked[q][d] for d in given[q]] == pytest.approx(scores, abs=1e-6)


def test_unknown_candidate_is_a_clear_error(tiny_cross, collection):
    ranker = prepared(CrossEncoder, tiny_cross, collection)
    with pytest.raises(ValueError, match="'nope' of query 'q1' is not a document"):
        ranker.rerank(collection.queries, Run.from_scores({"q1": {"nope": 1.0}}), Context())


# -- bi-encoder -------------------------------------------------------------------------------


def test_bi_encoder_without_cache_encodes_only_the_candidates(tiny_encoder, collection):
    ctx = Context()
    ranker = prepared(BiEncoder, tiny_encoder, collection, ctx)
    assert ctx.phase["embeddings"]["cache"] == "off"
    given = candidates(collection, depth=5)
    reranked = ranker.rerank(collection.queries, given, ctx)
    assert ctx.phase["embeddings"] == {"documents_encoded": len({d for q in given for d in given[q]})}
    assert {q: set(d) for q, d in reranked.items()} == {q: set(d) for q, d in given.items()}
    ranker.rerank(collection.queries, given, ctx)  # kept for later queries
    assert ctx.phase["embeddings"] == {"documents_encoded": 0}


def test_bi_encoder_scores_equal_the_dense_retrievers(tiny_encoder, collection, tmp_path):
    cache = ArtifactCache(tmp_path)
    dense = Dense(model=str(tiny_encoder))
    dense.identity(Context())
    dense.index(collection, Context(cache=cache))
    full = dense.retrieve(collection.queries, len(collection.docs), Context())
    ctx = Context(cache=cache)
    ranker = prepared(BiEncoder, tiny_encoder, collection, ctx)
    assert ctx.phase["embeddings"]["cache"] == "hit"  # the dense retriever's vectors
    reranked = ranker.rerank(collection.queries, candidates(collection, depth=len(collection.docs)), ctx)
    assert ctx.phase["embeddings"] == {"documents_encoded": 0}
    for qid in collection.queries:
        assert reranked[qid] == pytest.approx(full[qid], abs=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
def test_rankers_on_cuda_match_cpu(tiny_cross, tiny_encoder, collection):
    given = candidates(collection)
    for cls, folder in ((CrossEncoder, tiny_cross), (BiEncoder, tiny_encoder)):
        rankers = {device: prepared(cls, folder, collection, device=device) for device in ("cpu", "cuda")}
        runs = {device: r.rerank(collection.queries, given, Context()) for device, r in rankers.items()}
        for qid in given:
            assert runs["cuda"][qid] == pytest.approx(runs["cpu"][qid], abs=1e-4)
        texts = [collection.text("d01"), "wing flutter at high speed"]  # a document's text and another
        pairs = {device: r.score_pairs("heat transfer", texts, Context()) for device, r in rankers.items()}
        assert pairs["cuda"] == pytest.approx(pairs["cpu"], abs=1e-4)


# -- pair scoring and counts --------------------------------------------------------------------


def test_cross_encoder_score_pairs_equals_its_rerank_scores_and_rerank_counts(tiny_cross, collection):
    ranker = prepared(CrossEncoder, tiny_cross, collection)
    given = candidates(collection, depth=6)
    ctx = Context()
    reranked = ranker.rerank(collection.queries, given, ctx)
    for qid in given:
        texts = [collection.text(d) for d in given[qid]]
        scores = ranker.score_pairs(collection.queries[qid], texts, Context())
        assert [reranked[qid][d] for d in given[qid]] == pytest.approx(scores, abs=1e-6)
    assert ctx.costs.per_query("pairs_scored") == {q: 6 for q in given}
    assert ctx.costs.per_query("scorer_calls") == {q: 1 for q in given}
    assert ranker.score_pairs("wing", [], Context()) == []


def test_cross_encoder_default_rerank_would_order_as_its_own(tiny_cross, collection):
    """Its own rerank (every query in one batched pass) and the harness's default (one call per query)
    give the same ranking: a ranker with only score_pairs loses nothing but speed."""
    from harness.scoring import rerank_by_pairs

    ranker = prepared(CrossEncoder, tiny_cross, collection)
    given = candidates(collection, depth=8)
    own, default = Context(), Context(collection=collection)
    mine = ranker.rerank(collection.queries, given, own)
    theirs = rerank_by_pairs(ranker, collection.queries, given, default)
    for qid in given:
        assert list(mine[qid]) == list(theirs[qid]) and mine[qid] == pytest.approx(theirs[qid], abs=1e-6)
    assert own.costs.summary(given) == default.costs.summary(given)


def test_bi_encoder_score_pairs_equals_its_rerank_scores(tiny_encoder, collection):
    ranker = prepared(BiEncoder, tiny_encoder, collection)
    given = candidates(collection, depth=5)
    ctx = Context()
    reranked = ranker.rerank(collection.queries, given, ctx)
    assert ctx.costs.per_query("pairs_scored") == {q: 5 for q in given}
    for qid in given:
        texts = [collection.text(d) for d in given[qid]]
        scores = ranker.score_pairs(collection.queries[qid], texts, Context())
        assert [reranked[qid][d] for d in given[qid]] == pytest.approx(scores, abs=1e-5)
    # texts that are no document of the collection are encoded for the call
    query, text = collection.queries["q1"], collection.text("d03")
    (known,) = ranker.score_pairs(query, [text], Context())
    stranger, again = ranker.score_pairs(query, ["wing flutter at high speed", text], Context())
    assert again == pytest.approx(known, abs=1e-5) and stranger != pytest.approx(known, abs=1e-6)


class Shortlist(Retriever):
    """Scores the first ``budget`` documents exactly through a nested ranker: a tiny ANNCUR-like cascade."""

    name = "shortlist"
    params = {"ranker": Param("ranker", help="the exact scorer"), "budget": Param(int, 4, min=1)}

    def index(self, collection, ctx):
        self.docs = [(d.id, collection.contents(d)) for d in collection.docs[: self.budget]]

    def retrieve(self, queries, k, ctx):
        scorer = scorer_for(ctx, self.ranker)
        out = {}
        for qid, text in queries.items():
            scores = scorer.score(text, [t for _, t in self.docs], qid=qid)
            out[qid] = dict(trec_order(dict(zip([d for d, _ in self.docs], scores, strict=True)))[:k])
        return Run.from_scores(out)


def test_a_cross_encoder_nested_in_a_retriever_counts_its_pairs_in_the_cell(tmp_path, beir, tiny_cross):
    registry = registry_with(Shortlist)
    path = tmp_path / "suite.toml"
    path.write_text(f"""
name = "nested"
k = 10
metrics = ["nDCG@10"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "shortlist"
retriever = {{plugin = "shortlist", budget = 4, ranker = {{plugin = "cross-encoder", model = "{tiny_cross}"}}}}

[[pipelines]]
name = "reranked"
retriever = {{plugin = "shortlist", budget = 6, ranker = {{plugin = "cross-encoder", model = "{tiny_cross}"}}}}
ranker = {{plugin = "cross-encoder", model = "{tiny_cross}", depth = 3}}
""")
    outcome = run_suite(load_suite(path, registry=registry), results_dir=tmp_path / "results", registry=registry)
    shortlist, reranked = outcome.results
    assert shortlist["status"] == "ok" and reranked["status"] == "ok", (shortlist["error"], reranked["error"])
    assert shortlist["costs"]["pairs_scored"]["per_query"] == {q: 4 for q in ("q1", "q2", "q3", "q4")}
    assert shortlist["costs"]["scorer_calls"]["total"] == 4
    assert shortlist["phases"]["cross-encoder.score"]["pairs"] == 16
    assert shortlist["phases"]["cross-encoder.ranker.load_model"]["seconds"] is not None
    # nested (6 per query) and reranking (3 per query) add up; the ready model is shared
    assert reranked["costs"]["pairs_scored"]["per_query"] == {q: 9 for q in ("q1", "q2", "q3", "q4")}
    assert reranked["phases"]["prepare"]["cache"] == "memory"

"""Tests of dbnorm: every formula against a direct numpy implementation, a constructed star (one
document close to every query) whose hub loses its queries, the banks (no evaluated query ever in
the bank or the tuning of its own fold), validation, and the cache key."""

from __future__ import annotations

import numpy as np
import pytest
from harness_dbnorm import DBNorm, DBNormRetriever
from harness_dbnorm import normalize as nz

from harness.collection import Collection, Document
from harness.components import Context, Retriever
from harness.params import Param
from harness.plugins import load_registry
from harness.suite import StageSpec

METHODS = ("is", "dis", "dualis", "dualdis", "csls")


def test_the_plugin_is_installed_and_loads():
    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-dbnorm"})
    assert registry.broken() == [] and registry.conflicts() == []
    assert registry.find("ranker", "dbnorm").distribution == "ir-harness-dbnorm"
    assert registry.find("retriever", "dbnorm").distribution == "ir-harness-dbnorm"


# -- the formulas, against direct implementations -------------------------------------------------

def unit(rng, *shape):
    x = rng.normal(size=shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture
def spaces():
    rng = np.random.default_rng(7)
    docs, queries, bank = unit(rng, 30, 8), unit(rng, 6, 8), unit(rng, 9, 8)
    return docs, queries, bank


def direct_is(S, B, beta):
    return np.exp(beta * S) / np.exp(beta * B).sum(axis=0)


def direct_gallery(S, docs, gallery, beta):
    """exp(β s(q, d)) / Σ_{g in gallery, g ≠ d} exp(β s(g, d)), one document at a time."""
    out = np.empty_like(S)
    for d in range(docs.shape[0]):
        total = sum(np.exp(beta * docs[g] @ docs[d]) for g in gallery if g != d)
        out[:, d] = np.exp(beta * S[:, d]) / total
    return out


def direct_active(rows, docs, k, skip=None):
    active = set()
    for r, row in enumerate(rows):
        scores = docs @ row
        if skip is not None:
            scores[skip[r]] = -np.inf
        active.update(np.argsort(-scores)[:k].tolist())
    return active


def test_inverted_softmax_is_the_ratio_of_exponentials(spaces):
    docs, queries, bank = spaces
    S, B = queries @ docs.T, bank @ docs.T
    got = nz.normalized("is", S, log_q=nz.column_logsumexp(bank, docs, 3.0), beta_query=3.0)
    np.testing.assert_allclose(got, np.log(direct_is(S, B, 3.0)), rtol=1e-10, atol=1e-10)


def test_column_logsumexp_holds_for_a_large_beta_and_across_blocks(spaces, monkeypatch):
    docs, _, bank = spaces
    monkeypatch.setattr(nz, "BLOCK", 4)  # three blocks and a remainder
    beta = 400.0  # exp(400) overflows float64: the direct sum must go through the maximum
    got = nz.column_logsumexp(bank, docs, beta)
    B = beta * (bank @ docs.T)
    top = B.max(axis=0)
    np.testing.assert_allclose(got, top + np.log(np.exp(B - top).sum(axis=0)), rtol=1e-12)


def test_dual_inverted_softmax_leaves_the_document_out_of_its_gallery_term(spaces):
    docs, queries, bank = spaces
    S, B = queries @ docs.T, bank @ docs.T
    gallery = np.array([0, 3, 4, 10, 17, 29])
    got = nz.normalized("dualis", S, log_q=nz.column_logsumexp(bank, docs, 2.0),
                        log_g=nz.column_logsumexp(docs[gallery], docs, 5.0, exclude=gallery),
                        beta_query=2.0, beta_gallery=5.0)
    expected = direct_is(S, B, 2.0) * direct_gallery(S, docs, gallery, 5.0)
    np.testing.assert_allclose(got, np.log(expected), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 3])
def test_dynamic_variants_normalise_only_rows_whose_top1_is_activated(spaces, k):
    docs, queries, bank = spaces
    S, B = queries @ docs.T, bank @ docs.T
    gallery = np.arange(0, 30, 2)
    a_q = direct_active(bank, docs, k)
    a_g = direct_active(docs[gallery], docs, k, skip=gallery)
    assert nz.activation_set(bank, docs, k).nonzero()[0].tolist() == sorted(a_q)
    assert nz.activation_set(docs[gallery], docs, k, exclude=gallery).nonzero()[0].tolist() == sorted(a_g)
    log_q = nz.column_logsumexp(bank, docs, 4.0)
    log_g = nz.column_logsumexp(docs[gallery], docs, 4.0, exclude=gallery)
    dis = nz.normalized("dis", S, log_q=log_q, beta_query=4.0, active=nz.activation_set(bank, docs, k))
    dual = nz.normalized("dualdis", S, log_q=log_q, log_g=log_g, beta_query=4.0, beta_gallery=4.0,
                         active=nz.activation_set(bank, docs, k)
                         | nz.activation_set(docs[gallery], docs, k, exclude=gallery))
    full_is = np.log(direct_is(S, B, 4.0))
    full_dual = full_is + np.log(direct_gallery(S, docs, gallery, 4.0))
    for row in range(len(S)):
        top = int(np.argmax(S[row]))
        np.testing.assert_allclose(dis[row], full_is[row] if top in a_q else S[row], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(dual[row], full_dual[row] if top in a_q | a_g else S[row], rtol=1e-10,
                                   atol=1e-10)


def test_csls_is_twice_the_similarity_less_both_neighbourhood_means(spaces):
    docs, queries, bank = spaces
    S, B = queries @ docs.T, bank @ docs.T
    k = 4
    got = nz.normalized("csls", S, r_bank=nz.mean_top_k(B, k, axis=0), csls_k=k)
    r_t = np.array([np.mean(sorted(row)[-k:]) for row in S])
    r_s = np.array([np.mean(sorted(B[:, d])[-k:]) for d in range(B.shape[1])])
    np.testing.assert_allclose(got, 2 * S - r_t[:, None] - r_s[None, :], rtol=1e-12)


def test_ndcg_is_trec_evals():
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    gains = [{1: 2.0, 3: 1.0}, {}]  # the second row has no relevant document: left out
    dcg = 2 / np.log2(3) + 1 / np.log2(5)
    ideal = 2 + 1 / np.log2(3)
    assert nz.ndcg_at(scores, gains, 10) == pytest.approx(dcg / ideal)


# -- a constructed star: one document close to every query ----------------------------------------

class Table(Retriever):
    """Vectors looked up by text (an Embedder for tests)."""

    name = "table"
    params = {"dim": Param(int, 64)}
    vectors: dict[str, np.ndarray] = {}

    def index(self, collection, ctx):
        self.ids, self.docs = self.embed_corpus(collection, ctx)

    def retrieve(self, queries, k, ctx):
        raise NotImplementedError

    def embed_corpus(self, collection, ctx):
        return [d.id for d in collection.docs], np.stack([self.vectors[d.text] for d in collection.docs])

    def embed_queries(self, texts, ctx):
        return np.stack([self.vectors[t] for t in texts])


TABLE = StageSpec(kind="retriever", plugin="table", params={}, cls=Table)


def star(n: int = 20, dim: int = 64, seed: int = 3) -> Collection:
    """Document ``hub`` has cosine 0.9 with every query; each query's relevant document d<i>
    about 0.83, every other document much less. Queries t<i> are judged (evaluated), b<i>
    unjudged (the bank, built the same way)."""
    rng = np.random.default_rng(seed)
    e0 = np.zeros(dim)
    e0[0] = 1
    directions = unit(rng, n, dim)
    directions[:, 0] = 0
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    vectors = {"hub": e0}
    docs = [Document("hub", "hub")]
    queries, qrels = {}, {}
    for i, u in enumerate(directions):
        vectors[f"doc {i}"] = 0.5 * e0 + np.sqrt(0.75) * u
        docs.append(Document(f"d{i:02d}", f"doc {i}"))
        for kind in ("t", "b"):
            jitter = u + 0.05 * rng.normal(size=dim) * (np.arange(dim) > 0)
            vectors[f"{kind} query {i}"] = 0.9 * e0 + np.sqrt(0.19) * jitter / np.linalg.norm(jitter)
            queries[f"{kind}{i:02d}"] = f"{kind} query {i}"
        qrels[f"t{i:02d}"] = {f"d{i:02d}": 1}
    Table.vectors = vectors
    return Collection("star", docs, queries, qrels)


def top1_count(run, doc: str, qids) -> int:
    return sum(1 for q in qids if next(iter(run.scores[q])) == doc)


@pytest.mark.parametrize("method", METHODS)
def test_the_hub_loses_its_queries(method):
    collection = star()
    tests = [q for q in collection.queries if q.startswith("t")]
    ctx = Context(collection=collection)
    plain = Table()
    plain.index(collection, ctx)
    raw = plain.docs @ plain.embed_queries([collection.queries[q] for q in tests], ctx).T
    assert (raw.argmax(axis=0) == 0).all(), "the hub is every query's nearest document before"
    retriever = DBNormRetriever(encoder=TABLE, method=method, query_bank="unjudged", beta_query=10.0,
                                beta_gallery=10.0, gallery_size=None)
    retriever.index(collection, ctx)
    run = retriever.retrieve({q: collection.queries[q] for q in tests}, 5, ctx)
    assert top1_count(run, "hub", tests) == 0
    assert all(next(iter(run.scores[q])) == f"d{q[1:]}" for q in tests)  # each its own document


def test_the_retriever_matches_a_direct_computation():
    collection = star()
    tests = [q for q in collection.queries if q.startswith("t")]
    bank = [q for q in collection.queries if q.startswith("b")]
    ctx = Context(collection=collection)
    retriever = DBNormRetriever(encoder=TABLE, method="dualis", query_bank="unjudged", beta_query=3.0,
                                beta_gallery=7.0, gallery_size=None)
    retriever.index(collection, ctx)
    run = retriever.retrieve({q: collection.queries[q] for q in tests}, 21, ctx)
    V = np.stack([Table.vectors[d.text] for d in collection.docs])
    Q = np.stack([Table.vectors[collection.queries[q]] for q in tests])
    B = np.stack([Table.vectors[collection.queries[q]] for q in bank])
    expected = np.log(direct_is(Q @ V.T, B @ V.T, 3.0) * direct_gallery(Q @ V.T, V, range(len(V)), 7.0))
    ids = [d.id for d in collection.docs]
    for row, qid in enumerate(tests):
        got = run.scores[qid]
        assert set(got) == set(ids)
        np.testing.assert_allclose([got[d] for d in ids], expected[row], rtol=1e-6)


def test_the_ranker_reorders_exactly_its_candidates_as_the_retriever_ranks():
    from harness.ranking import Run

    collection = star()
    tests = {q: t for q, t in collection.queries.items() if q.startswith("t")}
    ctx = Context(collection=collection)
    params = dict(encoder=TABLE, method="dualdis", query_bank="unjudged", gallery_size=8)
    retriever, ranker = DBNormRetriever(**params), DBNorm(**params)
    retriever.index(collection, ctx)
    ranker.prepare(collection, ctx)
    full = retriever.retrieve(tests, 21, ctx)
    candidates = Run.from_scores({q: {d: 1.0 for d in ("hub", "d00", "d01", f"d{q[1:]}")} for q in tests})
    reranked = ranker.rerank(tests, candidates, ctx)
    for q in tests:
        assert set(reranked.scores[q]) == set(candidates.scores[q])
        assert list(reranked.scores[q]) == [d for d in full.scores[q] if d in candidates.scores[q]]


# -- banks: no evaluated query normalises itself, nor tunes its own β -----------------------------

def judged_collection(n_queries: int = 30) -> Collection:
    collection = star(n_queries)
    queries = {q: t for q, t in collection.queries.items() if q.startswith("t")}
    return Collection("star-judged", collection.docs, queries, collection.qrels)


def test_no_evaluated_query_is_in_its_own_bank_or_its_own_tuning():
    collection = judged_collection()
    ctx = Context(collection=collection, seed=5)
    retriever = DBNormRetriever(encoder=TABLE, method="dualis", query_bank="folds:5", tune=[1.0, 10.0])
    retriever.index(collection, ctx)
    bank = retriever._bank
    for (bank_ids, _, _), members in retriever.query_plan(list(collection.queries)).items():
        for qid in members:
            assert qid not in bank_ids
            assert all(bank.fold_of(b) != bank.fold_of(qid) for b in bank_ids)
    for target in [*range(5), None]:
        for tuning, bank_ids in retriever.tuning_plan(target, collection.qrels):
            folds = {bank.fold_of(q) for q in tuning}
            assert len(folds) == 1 and target not in folds  # tuned on another fold's judgments
            assert not set(bank_ids) & set(tuning)
            assert {bank.fold_of(b) for b in bank_ids}.isdisjoint(folds | {target})
    assert set(ctx.phase["tuning"]) == {"0", "1", "2", "3", "4", "None"}


def test_tuning_picks_the_beta_the_held_out_folds_prefer():
    """On the star IS with β = 10 puts each query's own document first, while β = 0 makes every
    score equal (ties in trec_eval's order: the hub, the largest id, first): tuning must pick 10."""
    collection = judged_collection()
    ctx = Context(collection=collection)
    retriever = DBNormRetriever(encoder=TABLE, method="is", query_bank="folds:5", tune=[0.0, 10.0])
    retriever.index(collection, ctx)
    assert {v["beta_query"] for v in ctx.phase["tuning"].values()} == {10.0}
    run = retriever.retrieve(collection.queries, 3, ctx)
    assert top1_count(run, "hub", collection.queries) == 0


def test_validation_names_the_parameter(tmp_path):
    problems = DBNormRetriever.check_config({"tune": [1.0], "query_bank": "unjudged", "method": "is"}, tmp_path)
    assert problems and problems[0][0] == "tune" and "folds:<k>" in problems[0][1]
    assert DBNorm.check_config({"tune": [1.0], "query_bank": "folds:2", "method": "is"}, tmp_path)
    assert DBNorm.check_config({"tune": [1.0], "query_bank": "folds:5", "method": "csls"}, tmp_path)[0][1] == \
        "csls has no β to tune"
    assert DBNorm.check_config({"tune": [1.0], "query_bank": "folds:5", "method": "is"}, tmp_path) == []


def test_the_identity_follows_the_bank():
    collection = judged_collection()
    ctx = Context(collection=collection)
    a = DBNormRetriever(encoder=TABLE, query_bank="folds:5").identity(ctx)
    b = DBNormRetriever(encoder=TABLE, query_bank="folds:3").identity(ctx)
    c = DBNormRetriever(encoder=TABLE, query_bank="folds:5", seed=9).identity(ctx)
    assert a["bank"] != b["bank"] and a["bank"] != c["bank"]

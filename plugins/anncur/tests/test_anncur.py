"""Tests of ``anncur`` and ``exhaustive``: the conformance kit, exactness on a scorer of known
rank against a direct numpy computation, the call count formula, anchors never evaluated queries,
cache keys, edge cases, validation, and the real Cranfield collection."""

from __future__ import annotations

import random
import textwrap

import numpy as np
import pytest
from anncur_fakes import vector
from harness_anncur import Anncur, Exhaustive

from harness.cache import ArtifactCache
from harness.collection import Collection, Document
from harness.components import Context
from harness.ranking import trec_order
from harness.suite import validate
from harness.testing import RetrieverContract

LOW_RANK = {"plugin": "low-rank", "rank": 3}


class TestAnncur(RetrieverContract):
    component = Anncur
    params = {"scorer": LOW_RANK, "anchor_queries": None, "anchor_docs": 4, "budget": 3}


class TestAnncurFirstStageAnchors(RetrieverContract):
    component = Anncur
    params = {"scorer": LOW_RANK, "anchor_source": "folds:2", "anchor_queries": None, "anchor_docs": 3, "budget": 2,
              "anchor_strategy": "retriever", "anchor_retriever": {"plugin": "bm25"}}


class TestExhaustive(RetrieverContract):
    component = Exhaustive
    params = {"scorer": LOW_RANK}


def test_the_plugin_is_installed_and_loads():
    from harness.plugins import load_registry

    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-anncur"})
    assert registry.broken() == [] and registry.conflicts() == []
    for name in ("anncur", "exhaustive"):
        assert registry.find("retriever", name).distribution == "ir-harness-anncur"


# -- a synthetic collection and the numpy oracle ---------------------------------------------------


def synthetic(n_docs: int = 80, n_queries: int = 12, unjudged: int = 30, seed: int = 0) -> Collection:
    """Random word documents; ``n_queries`` judged queries and ``unjudged`` more (the anchor bank)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    docs = [Document(f"d{i:03d}", " ".join(rng.choices(words, k=rng.randint(3, 12)))) for i in range(n_docs)]
    queries = {f"q{i:02d}": " ".join(rng.choices(words, k=3)) for i in range(n_queries + unjudged)}
    qrels = {f"q{i:02d}": {f"d{i:03d}": 1} for i in range(n_queries)}
    return Collection("synthetic", docs, queries, qrels, fields=("text",))


def oracle_scores(queries: list[str], texts: list[str], rank: int):
    """The low-rank scorer's matrix computed directly: Φ Ψᵀ."""
    phi = np.array([vector(q, rank, "q") for q in queries])
    psi = np.array([vector(t, rank, "d") for t in texts])
    return phi @ psi.T


def indexed(collection, tmp_path=None, **params):
    ctx = Context(collection=collection, cache=ArtifactCache(tmp_path / "cache") if tmp_path else None)
    retriever = Anncur(**{"scorer": LOW_RANK, "anchor_source": "unjudged", **params})
    retriever.index(collection, ctx)
    return retriever, ctx


def evaluated(collection) -> dict[str, str]:
    return {q: collection.queries[q] for q in collection.qrels}


def test_the_approximation_is_exact_for_a_scorer_of_rank_r():
    from harness_anncur import cur

    collection = synthetic()
    retriever, _ = indexed(collection, anchor_queries=10, anchor_docs=6)
    texts = collection.texts()
    exact = oracle_scores(list(evaluated(collection).values()), texts, 3)
    proj = retriever._projection(retriever._bank.ids, tuple(retriever._random))
    assert proj.rank == 3  # rank(R[:, anchors]) = r
    for row in range(len(exact)):
        c = exact[row, list(proj.anchors)]
        assert np.allclose(cur.approximate(c, proj), exact[row], rtol=1e-9, atol=1e-9)


def test_the_approximation_is_not_exact_when_the_anchors_cannot_span_the_rank():
    """The control: with k_i < r the same computation must miss (else the test above proves nothing)."""
    from harness_anncur import cur

    collection = synthetic()
    retriever, _ = indexed(collection, scorer={"plugin": "low-rank", "rank": 8}, anchor_queries=10, anchor_docs=4)
    exact = oracle_scores(list(evaluated(collection).values()), collection.texts(), 8)
    proj = retriever._projection(retriever._bank.ids, tuple(retriever._random))
    c = exact[0, list(proj.anchors)]
    assert not np.allclose(cur.approximate(c, proj), exact[0], atol=1e-3)


def test_with_an_exact_approximation_the_run_is_the_exhaustive_top_k():
    collection = synthetic()
    queries = evaluated(collection)
    retriever, ctx = indexed(collection, anchor_queries=10, anchor_docs=6, budget=10)
    run = retriever.retrieve(queries, 10, ctx)
    exact = oracle_scores(list(queries.values()), collection.texts(), 3)
    ids = [d.id for d in collection.docs]
    for row, qid in enumerate(queries):
        expected = trec_order(dict(zip(ids, exact[row], strict=True)))[:10]
        assert [d for d, _ in run.ranked(qid)] == [d for d, _ in expected]
        assert [s for _, s in run.ranked(qid)] == pytest.approx([s for _, s in expected], abs=1e-12)


@pytest.mark.parametrize(("anchor_docs", "budget"), [(5, 20), (12, 8), (3, 0)])
def test_pairs_per_query_follow_the_formula(anchor_docs, budget):
    """k_i + the non-anchor documents of the approximate top ``budget``, with the approximation
    and its top computed here by numpy (rank 6 > k_i for some: approximate, not exact)."""
    collection = synthetic()
    queries = evaluated(collection)
    rank = 6
    retriever, ctx = indexed(collection, scorer={"plugin": "low-rank", "rank": rank}, anchor_queries=15,
                             anchor_docs=anchor_docs, budget=budget)
    offline_pairs = ctx.costs.totals()["pairs_scored"]
    assert offline_pairs == 15 * len(collection.docs)  # R, unattributed
    assert ctx.costs.total("pairs_scored") == 0
    run = retriever.retrieve(queries, 100, ctx)
    ids, texts = [d.id for d in collection.docs], collection.texts()
    bank = list(retriever._bank.queries.values())
    R = oracle_scores(bank, texts, rank)
    anchors = retriever._random
    pinv = np.linalg.pinv(R[:, anchors], rcond=1e-6)
    exact = oracle_scores(list(queries.values()), texts, rank)
    pairs = ctx.costs.per_query("pairs_scored")
    for row, qid in enumerate(queries):
        approx = exact[row, anchors] @ pinv @ R
        approx[anchors] = exact[row, anchors]
        shortlist = [d for d, _ in trec_order(dict(zip(ids, approx, strict=True)))[:budget]]
        new = [d for d in shortlist if ids.index(d) not in anchors]
        assert pairs[qid] == anchor_docs + len(new)
        assert ctx.costs.per_query("scorer_calls")[qid] == (2 if new else 1)
        assert set(run[qid]) == {ids[a] for a in anchors} | set(new)


def test_no_evaluated_query_is_ever_an_anchor(tmp_path):
    collection = synthetic()
    judged_texts = {collection.queries[q] for q in collection.qrels}
    for source in ("unjudged", "pseudo:first-sentence"):
        retriever, ctx = indexed(collection, anchor_source=source, anchor_queries=8)
        scorer = ctx.scorer(retriever.scorer).ranker
        offline = [q for q, n in scorer.calls if n == len(collection.docs)]
        assert len(offline) == 8 and not set(offline) & judged_texts
        assert not set(retriever._scores.rows) & set(collection.qrels)
    # k-fold banks: each query's anchor rows come from the other folds only
    used = {}

    class Spy(Anncur):
        def _projection(self, bank_ids, anchors):
            used.setdefault(self._current, set()).update(bank_ids)
            return super()._projection(bank_ids, anchors)

    spy = Spy(scorer=LOW_RANK, anchor_source="folds:3", anchor_queries=None, anchor_docs=4, budget=5)
    ctx = Context(collection=collection)
    spy.index(collection, ctx)
    for qid, text in evaluated(collection).items():
        spy._current = qid
        spy.retrieve({qid: text}, 10, ctx)
    folds = spy._bank.folds
    for qid, rows in used.items():
        own = next(f for f in folds if qid in f)
        assert rows and not rows & set(own), f"{qid}: anchors from its own fold"


def test_the_anchor_scores_are_cached_and_keyed_by_what_decides_them(tmp_path):
    collection = synthetic()
    base = {"anchor_queries": 10, "anchor_docs": 6, "budget": 10}
    _, ctx = indexed(collection, tmp_path, **base)
    key = ctx.phase["anchor_scores"]["key"]
    assert ctx.phase["anchor_scores"]["cache"] == "miss"
    # what R does not depend on: the cache serves it, no scorer call made offline
    for change in ({"anchor_docs": 4}, {"budget": 3}, {"rcond": 1e-3}, {"anchor_strategy": "retriever",
                                                                        "anchor_retriever": {"plugin": "bm25"}}):
        _, again = indexed(collection, tmp_path, **{**base, **change})
        assert again.phase["anchor_scores"]["cache"] == "hit", change
        assert again.phase["anchor_scores"]["key"] == key and again.costs.totals() == {}
    # what it depends on: a key of its own each
    keys = {key}
    for change in ({"anchor_queries": 9}, {"seed": 1}, {"anchor_source": "pseudo:first-sentence"},
                   {"scorer": {"plugin": "low-rank", "rank": 4}}, {"scorer": {"plugin": "low-rank", "salt": "x"}}):
        _, other = indexed(collection, tmp_path, **{**base, **change})
        assert other.phase["anchor_scores"]["cache"] == "miss", change
        keys.add(other.phase["anchor_scores"]["key"])
    assert len(keys) == 6
    changed_collection = synthetic(seed=1)
    _, other = indexed(changed_collection, tmp_path, **base)
    assert other.phase["anchor_scores"]["key"] not in keys


def test_the_identity_follows_every_parameter():
    collection = synthetic()
    ctx = Context(collection=collection)
    base = Anncur(scorer=LOW_RANK, anchor_source="unjudged", anchor_queries=10).identity(ctx)
    changes = {"scorer": {"plugin": "low-rank", "rank": 5}, "anchor_queries": 7,
               "anchor_source": "pseudo:first-sentence", "anchor_docs": 9, "budget": 11, "rcond": 1e-4, "seed": 3,
               "anchor_strategy": "retriever", "anchor_retriever": {"plugin": "bm25"}}
    assert set(changes) == set(Anncur.params)
    for name, value in changes.items():
        params = {"scorer": LOW_RANK, "anchor_source": "unjudged", "anchor_queries": 10, name: value}
        if name == "anchor_strategy":
            params["anchor_retriever"] = {"plugin": "bm25"}
        assert Anncur(**params).identity(ctx) != base, name
    # the bank follows the suite's seed when the component's is not set
    assert Anncur(scorer=LOW_RANK, anchor_source="unjudged", anchor_queries=5).identity(ctx) != Anncur(
        scorer=LOW_RANK, anchor_source="unjudged", anchor_queries=5).identity(Context(collection=collection, seed=1))


def test_budget_and_anchor_docs_beyond_the_corpus_score_every_document_once():
    collection = synthetic(n_docs=20)
    queries = evaluated(collection)
    retriever, ctx = indexed(collection, anchor_queries=5, anchor_docs=50, budget=500)
    run = retriever.retrieve(queries, 100, ctx)
    assert set(ctx.costs.per_query("pairs_scored").values()) == {20}
    exact = oracle_scores(list(queries.values()), collection.texts(), 3)
    ids = [d.id for d in collection.docs]
    for row, qid in enumerate(queries):
        assert list(run[qid]) == [d for d, _ in trec_order(dict(zip(ids, exact[row], strict=True)))]
    retriever, ctx = indexed(collection, anchor_queries=5, anchor_docs=4, budget=500)
    retriever.retrieve(queries, 100, ctx)
    assert set(ctx.costs.per_query("pairs_scored").values()) == {20}  # 4 anchors + the 16 others


def test_a_rank_deficient_anchor_matrix_stays_finite_and_exact():
    """R of rank 2 with 10 anchor rows and 8 anchor columns: a plain inverse does not exist;
    pinv with rcond keeps the 2 real directions, and the approximation is still exact."""
    from harness_anncur import cur

    collection = synthetic()
    retriever, _ = indexed(collection, scorer={"plugin": "low-rank", "rank": 2}, anchor_queries=10, anchor_docs=8)
    proj = retriever._projection(retriever._bank.ids, tuple(retriever._random))
    assert proj.rank == 2 and np.isfinite(proj.matrix).all()
    exact = oracle_scores(list(evaluated(collection).values()), collection.texts(), 2)
    assert np.allclose(cur.approximate(exact[0, list(proj.anchors)], proj), exact[0], atol=1e-9)


def test_ties_are_cut_in_trec_eval_order():
    from harness_anncur import cur

    ids = ["d1", "d3", "d2", "d4"]
    id_rank = [0, 2, 1, 3]
    assert cur.top([1.0, 2.0, 2.0, 2.0], 2, id_rank) == [3, 1]  # d4, d3 (ties by id descending)
    assert cur.top([1.0, 1.0 + 1e-12, 0.5, 0.0], 1, id_rank) == [1]  # equal in single precision: d3 > d1
    assert [ids[i] for i in cur.top([1.0, 2.0, 2.0, 2.0], 4, id_rank)] == ["d4", "d3", "d2", "d1"]


def test_the_exhaustive_retriever_ranks_every_document_by_the_scorer():
    collection = synthetic(n_docs=30)
    queries = evaluated(collection)
    ctx = Context(collection=collection)
    retriever = Exhaustive(scorer=LOW_RANK)
    retriever.index(collection, ctx)
    run = retriever.retrieve(queries, 5, ctx)
    exact = oracle_scores(list(queries.values()), collection.texts(), 3)
    ids = [d.id for d in collection.docs]
    for row, qid in enumerate(queries):
        assert list(run[qid]) == [d for d, _ in trec_order(dict(zip(ids, exact[row], strict=True)))[:5]]
    assert set(ctx.costs.per_query("pairs_scored").values()) == {30}


SUITE = """
name = "anncur-check"
k = 10
metrics = ["nDCG@10"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "anncur"
retriever = {retriever}
"""


@pytest.mark.parametrize(("table", "path", "message"), [
    ('{plugin = "anncur", scorer = {plugin = "low-rank"}, anchor_strategy = "retriever"}',
     "pipelines[0].retriever.anchor_retriever", "needs anchor_retriever"),
    ('{plugin = "anncur", scorer = {plugin = "low-rank"}, anchor_retriever = {plugin = "bm25"}}',
     "pipelines[0].retriever.anchor_retriever", "only used with"),
    ('{plugin = "anncur", scorer = {plugin = "low-rank"}, anchor_source = "unjuged"}',
     "pipelines[0].retriever.anchor_source", "did you mean 'unjudged'"),
    ('{plugin = "anncur", scorer = {plugin = "low-rank", rank = 0}}', "pipelines[0].retriever.scorer.rank", ">= 1"),
    ('{plugin = "anncur", scorer = {plugin = "low-rank"}, budget = -1}', "pipelines[0].retriever.budget", ">= 0"),
    ('{plugin = "anncur", scorer = {plugin = "bm52"}}', "pipelines[0].retriever.scorer.plugin", "did you mean"),
])
def test_validate_reports_bad_parameters_with_their_key_path(tmp_path, fake_scorers, table, path, message):
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent(SUITE).replace("{beir}", str(tmp_path)).replace("{retriever}", table))
    problems = validate(suite, (), fake_scorers)
    assert any(p.path == path and message in p.message for p in problems), [(p.path, p.message) for p in problems]


# -- real data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cranfield(cranfield_dir):
    from harness.sdk import build

    return build("dataset", {"plugin": "beir", "path": str(cranfield_dir)}).load(Context())


def test_on_cranfield_with_bm25_as_a_black_box(cranfield):
    """BM25 (the ``bm25`` ranker: pair scores with the collection's statistics fixed) as the
    expensive scorer on Cranfield, 60 queries: ANNCUR's top 10 against the exhaustive top 10;
    its pairs per query follow the formula; a budget covering the corpus is exhaustive."""
    from harness.sdk import recall_of_exact

    scorer = {"plugin": "bm25", "k1": 0.9, "b": 0.4}
    queries = dict(list(cranfield.queries.items())[:60])
    ctx = Context(collection=cranfield)
    exhaustive = Exhaustive(scorer=scorer)
    exhaustive.index(cranfield, ctx)
    reference = exhaustive.retrieve(queries, 100, ctx)
    anncur = Anncur(scorer=scorer, anchor_source="pseudo:title", anchor_queries=100, anchor_docs=50, budget=100)
    anncur.index(cranfield, ctx)
    assert ctx.phase["anchor_scores"]["pairs_scored"] == 100 * 1400
    before = ctx.costs.per_query("pairs_scored")
    run = anncur.retrieve(queries, 100, ctx)
    pairs = {q: ctx.costs.per_query("pairs_scored")[q] - before.get(q, 0) for q in queries}
    assert all(50 < p <= 150 for p in pairs.values()), pairs
    recall = recall_of_exact(run, reference, 10)
    mean = sum(recall.values()) / len(recall)
    # a random shortlist of ~150 of 1,400 documents would keep ~11% of the exact top 10
    assert mean > 0.25, mean  # 0.377 when written: BM25 is far from low rank (docs/plugins/anncur.md)
    whole = Anncur(scorer=scorer, anchor_source="pseudo:title", anchor_queries=20, anchor_docs=50, budget=1400)
    whole.index(cranfield, ctx)
    everything = whole.retrieve(queries, 100, ctx)
    assert all(everything.ranked(q) == reference.ranked(q) for q in queries)


# -- unchanged with a cross-encoder --------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    """A randomly initialised 2-layer BERT cross-encoder (one output) over the synthetic words."""
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("models") / "tiny-cross"
    folder.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"w{i}" for i in range(300))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(folder)  # from the folder: vocab_file= is ignored
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=len(vocab), num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_cross_encoder_scorer_works_unchanged(tiny_cross_encoder, tmp_path):
    """The scorer the paper uses, through the same nested table: the pairs formula holds, and with
    a budget covering the corpus the run is the cross-encoder's own exhaustive ranking."""
    collection = synthetic(n_docs=40, n_queries=5, unjudged=12)
    queries = evaluated(collection)
    scorer = {"plugin": "cross-encoder", "model": str(tiny_cross_encoder)}
    retriever, ctx = indexed(collection, tmp_path, scorer=scorer, anchor_queries=8, anchor_docs=5, budget=10)
    run = retriever.retrieve(queries, 100, ctx)  # every document scored exactly: anchors + shortlist
    pairs, anchors = ctx.costs.per_query("pairs_scored"), {collection.docs[a].id for a in retriever._random}
    for qid in queries:
        assert anchors <= set(run[qid]) and len(run[qid]) <= 5 + 10
        assert pairs[qid] == 5 + len(set(run[qid]) - anchors)  # k_i + the non-anchor shortlisted
    full, full_ctx = indexed(collection, tmp_path, scorer=scorer, anchor_queries=8, anchor_docs=5, budget=40)
    exhaustive = Exhaustive(scorer=scorer)
    exhaustive_ctx = Context(collection=collection)
    exhaustive.index(collection, exhaustive_ctx)
    expected = exhaustive.retrieve(queries, 10, exhaustive_ctx)
    got = full.retrieve(queries, 10, full_ctx)
    for qid in queries:
        assert [d for d, _ in got.ranked(qid)] == [d for d, _ in expected.ranked(qid)]
        assert [s for _, s in got.ranked(qid)] == pytest.approx([s for _, s in expected.ranked(qid)], abs=1e-5)

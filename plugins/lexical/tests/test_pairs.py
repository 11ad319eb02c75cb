"""Tests of the ``bm25`` ranker: BM25 of any text with the collection's statistics held fixed."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from harness_lexical import BM25, BM25Scorer
from harness_lexical.bm25 import METHODS

from harness.collection import Collection, Document
from harness.components import Context
from harness.plugins import load_registry
from harness.testing import RankerContract

DOCS = {
    "d1": "The quick brown fox jumps over the lazy dog",
    "d2": "A quick brown dog outpaces a quick fox",
    "d3": "Lorem ipsum dolor sit amet",
    "d4": "Runners were running and the runner runs",
    "d5": "Café crème brûlée, naïve résumé",
    "d6": "",
}
QUERIES = {"q1": "quick fox", "q2": "running runner", "q3": "brown dog dog", "q4": "nothing matches"}


def collection(docs=DOCS) -> Collection:
    return Collection("tiny", [Document(i, t) for i, t in docs.items()], QUERIES, {}, fields=("text",))


class TestBM25Scorer(RankerContract):
    component = BM25Scorer
    params = {"stemmer": "english"}


def test_the_ranker_is_installed():
    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-lexical"})
    assert registry.find("ranker", "bm25").distribution == "ir-harness-lexical"


def scorer(coll=None, **params) -> BM25Scorer:
    ranker = BM25Scorer(**params)
    ranker.prepare(coll or collection(), Context())
    return ranker


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stemmer", [None, "english"])
def test_a_collection_document_scores_what_the_retriever_gives_it(method, stemmer):
    retriever = BM25(method=method, stemmer=stemmer)
    retriever.index(collection(), Context())
    run = retriever.retrieve(QUERIES, 10, Context())
    ranker = scorer(method=method, stemmer=stemmer)
    for qid, ranked in run.items():
        ids = list(ranked)
        assert ranker.score_pairs(QUERIES[qid], [DOCS[d] for d in ids], Context()) == [ranked[d] for d in ids]


def test_statistics_stay_those_of_the_collection():
    """A text outside the collection: idf and average length from the collection, tf and length from the text."""
    k1, b = 0.9, 0.4
    tokens = {d: t.lower().replace(",", " ").split() for d, t in DOCS.items()}
    n, avgdl = len(tokens), sum(map(len, tokens.values())) / len(tokens)
    text = "quick quick quick zebra zebra fox"  # "zebra" is in no document: it only adds length

    def expected(query: str) -> float:
        tf, score = Counter(text.split()), 0.0
        for term in query.split():
            df = sum(term in t for t in tokens.values())
            if df:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf[term] / (tf[term] + k1 * (1 - b + b * len(text.split()) / avgdl))
        return score

    ranker = scorer(stemmer=None, stopwords="none", k1=k1, b=b)
    for query in ("quick fox", "zebra", "fox fox"):
        assert ranker.score_pairs(query, [text], Context())[0] == pytest.approx(expected(query), rel=1e-6)
    assert ranker.score_pairs("zebra", [text], Context()) == [0.0]  # no document holds it: no idf


def test_repeated_texts_are_analysed_once_and_score_the_same():
    ranker = scorer()
    first = ranker.score_pairs("quick fox", [DOCS["d1"], DOCS["d2"], DOCS["d1"]], Context())
    assert first[0] == first[2] and len(ranker._texts) == 2
    assert ranker.score_pairs("brown dog", [DOCS["d2"]], Context())[0] > 0


def test_empty_query_or_texts():
    ranker = scorer()
    assert ranker.score_pairs("", [DOCS["d1"], ""], Context()) == [0.0, 0.0]
    assert ranker.score_pairs("quick", [], Context()) == []
    assert ranker.score_pairs("quick", [""], Context()) == [0.0]


def test_scoring_before_prepare_is_an_error():
    with pytest.raises(RuntimeError, match="prepare"):
        BM25Scorer().score_pairs("q", ["t"], Context())


def test_identity_is_the_retrievers_settings():
    assert BM25Scorer(preset="bm25s").identity(Context()) == BM25(preset="bm25s").identity(Context())
    assert BM25Scorer(stemmer="none").identity(Context())["stemmer"] is None


def test_cranfield_scores_equal_the_retrievers(shared_dir):
    from harness.builtin.beir import BeirProvider

    coll = BeirProvider(path=str(shared_dir / "datasets" / "cranfield")).load(Context())
    texts = dict(zip([d.id for d in coll.docs], coll.texts(), strict=True))
    queries = dict(list(coll.queries.items())[:25])
    retriever = BM25()
    retriever.index(coll, Context())
    run = retriever.retrieve(queries, 100, Context())
    ranker = scorer(coll)
    for qid, ranked in run.items():
        ids = list(ranked)
        assert ranker.score_pairs(queries[qid], [texts[d] for d in ids], Context()) == [ranked[d] for d in ids]

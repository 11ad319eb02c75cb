"""Retrievers that each break one rule of ``RetrieverContract`` (see README.md)."""

from __future__ import annotations

import json
import random
import re

from harness.components import Retriever
from harness.ranking import Run, trec_order


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


class Good(Retriever):
    """Counts the distinct query words each document contains."""

    name = "nc-good"

    def index(self, collection, ctx):
        self.docs = {d.id: words(collection.contents(d)) for d in collection.docs}

    def score(self, query: str) -> dict[str, float]:
        terms = words(query)
        return {d: float(len(terms & w)) for d, w in self.docs.items() if terms & w}

    def retrieve(self, queries, k, ctx):
        return Run.from_scores({qid: trec_order(self.score(text))[:k] for qid, text in queries.items()})

    def save(self, path):
        path.mkdir()
        (path / "index.json").write_text(json.dumps({d: sorted(w) for d, w in self.docs.items()}))

    def load(self, path):
        self.docs = {d: set(w) for d, w in json.loads((path / "index.json").read_text()).items()}


class Nameless(Good):
    """Forgot its name."""

    name = ""


class NotARun(Good):
    """Returns the plain dict instead of a Run."""

    def retrieve(self, queries, k, ctx):
        return super().retrieve(queries, k, ctx).scores


class IgnoresK(Good):
    """Returns every matching document, whatever k."""

    def retrieve(self, queries, k, ctx):
        return Run.from_scores({qid: self.score(text) for qid, text in queries.items()})


class NaNScores(Good):
    """Keeps the order but reports NaN scores."""

    def retrieve(self, queries, k, ctx):
        run = super().retrieve(queries, k, ctx)
        return Run({qid: {d: float("nan") for d in docs} for qid, docs in run.items()})


class Unsorted(Good):
    """Builds the Run by hand, worst document first."""

    def retrieve(self, queries, k, ctx):
        run = super().retrieve(queries, k, ctx)
        return Run({qid: dict(reversed(list(docs.items()))) for qid, docs in run.items()})


class InventsDocuments(Good):
    """Pads every ranking with a document the corpus lacks."""

    def retrieve(self, queries, k, ctx):
        ranked = {qid: trec_order(self.score(text))[: k - 1] + [("ghost", -1.0)] for qid, text in queries.items()}
        return Run.from_scores(ranked)


class Unstable(Good):
    """Breaks ties with noise salted per instance (as iteration over a set of strings would in
    another process)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.salt = random.random()

    def score(self, query):
        noise = {d: random.Random(f"{self.salt}{sorted(w)}").random() / 2 for d, w in self.docs.items()}
        return {d: s + noise[d] for d, s in super().score(query).items()}


class EmptyQueryCrash(Good):
    """Normalises by the query length: an empty query divides by zero."""

    def score(self, query):
        weight = 1 / len(words(query))
        return {d: s * weight for d, s in super().score(query).items()}


class AsciiOnly(Good):
    """Encodes queries as ASCII."""

    def score(self, query):
        return super().score(query.encode("ascii").decode())


class DropsDuplicates(Good):
    """Keys its index by text, so of two identical documents only one survives."""

    def index(self, collection, ctx):
        by_text = {collection.contents(d): d.id for d in collection.docs}
        self.docs = {doc_id: words(text) for text, doc_id in by_text.items()}


class SmallCorpusCrash(Good):
    """Scores every document and reads the k-th score as a threshold: fails when k > corpus."""

    def retrieve(self, queries, k, ctx):
        out = {}
        for qid, text in queries.items():
            terms = words(text)
            ranked = trec_order({d: float(len(terms & w)) for d, w in self.docs.items()})
            floor = ranked[k - 1][1]
            out[qid] = [(d, s) for d, s in ranked[:k] if s >= floor]
        return Run.from_scores(out)


class ForgetfulSave(Good):
    """Saves its document ids but not their words: a loaded index matches nothing."""

    def save(self, path):
        path.mkdir()
        (path / "ids.json").write_text(json.dumps(sorted(self.docs)))

    def load(self, path):
        self.docs = {d: set() for d in json.loads((path / "ids.json").read_text())}


class ListOnly(Good):
    """Takes ``collection.docs`` for a list (``.copy()``): a corpus on disk is not one."""

    def index(self, collection, ctx):
        self.docs = {d.id: words(collection.contents(d)) for d in collection.docs.copy()}


GOOD = Good
BREAKS = {
    "test_declares_a_valid_component": Nameless,
    "test_returns_a_run": NotARun,
    "test_at_most_k_results_per_query": IgnoresK,
    "test_scores_are_finite": NaNScores,
    "test_results_sorted_by_score": Unsorted,
    "test_returns_known_queries_and_documents": InventsDocuments,
    "test_deterministic": Unstable,
    "test_corpus_on_disk": ListOnly,
    "test_empty_queries": EmptyQueryCrash,
    "test_non_ascii_queries": AsciiOnly,
    "test_duplicate_documents": DropsDuplicates,
    "test_corpus_smaller_than_k": SmallCorpusCrash,
    "test_index_persistence": ForgetfulSave,
}

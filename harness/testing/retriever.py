"""``RetrieverContract``: the rules every retriever must follow, as pytest tests.

The retriever is built, ``setup`` and ``index``-ed as the runner does it, on the kit's tiny
collection (``make_collection`` to use another); ``k`` is the cutoff asked for.
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path
from typing import ClassVar

import pytest

from ..capabilities import Persistent, supports
from ..collection import Collection
from ..ranking import Run, trec_order
from .base import Contract
from .data import (
    EMPTY_QUERIES,
    NON_ASCII_QUERIES,
    close,
    duplicate_groups,
    on_disk,
    ranking_difference,
    small_collection,
    tiny_collection,
)

RETURNS_A_RUN = "test_returns_a_run"
FINITE = "test_scores_are_finite"
KNOWN = "test_returns_known_queries_and_documents"
DETERMINISTIC = "test_deterministic"


class RetrieverContract(Contract):
    """Subclass as ``class TestMine(RetrieverContract): component = Mine``."""

    kind = "retriever"
    k: ClassVar[int] = 10

    def make_collection(self) -> Collection:
        return tiny_collection()

    def build(self, folder: Path, collection: Collection):
        """A fresh retriever, set up and indexed on ``collection``, with its context."""
        ctx = self.context(folder, collection)
        retriever = self.make()
        retriever.setup(ctx)
        retriever.index(collection, ctx)
        return retriever, ctx

    def standard(self, tmp_path: Path):
        """The retriever indexed on the collection, built once per test class (indexing a model
        for every rule would make the kit slow for neural retrievers)."""
        cls = type(self)
        if "_harness_standard" not in cls.__dict__:
            collection = self.make_collection()
            cls._harness_standard = (*self.build(tmp_path / "standard", collection), collection)
        return cls._harness_standard

    def baseline(self, tmp_path: Path) -> Run:
        """The collection's queries retrieved by the standard instance; skips the test unless
        that works and returns a Run (``test_returns_a_run`` says why)."""
        return self.prerequisite(RETURNS_A_RUN, lambda: self.search(tmp_path, self.queries(), self.k))

    def search(self, tmp_path: Path, queries: dict[str, str], k: int) -> Run:
        """``retrieve`` on the standard instance; fails unless it returns a Run."""
        retriever, ctx, _ = self.standard(tmp_path)
        run = retriever.retrieve(queries, k, ctx)
        check_run(run)
        return run

    def queries(self) -> dict[str, str]:
        return dict(self.make_collection().queries)

    # -- the rules ---------------------------------------------------------------------------

    def test_returns_a_run(self, tmp_path):
        """``retrieve`` returns a ``harness.ranking.Run`` (string ids, real-number scores)."""
        retriever, ctx, _ = self.standard(tmp_path)
        check_run(retriever.retrieve(self.queries(), self.k, ctx))

    def test_at_most_k_results_per_query(self, tmp_path):
        """At most ``k`` documents per query, for every k (the runner fails the cell otherwise)."""
        self.baseline(tmp_path)
        for k in sorted({1, 3, self.k}):
            for qid, docs in self.search(tmp_path, self.queries(), k).items():
                assert len(docs) <= k, f"k={k}: query {qid!r} got {len(docs)} documents"

    def test_scores_are_finite(self, tmp_path):
        """Every score is a finite number (no NaN, no infinity): trec_eval cannot order others."""
        for qid, docs in self.baseline(tmp_path).items():
            bad = {d: s for d, s in docs.items() if not math.isfinite(s)}
            assert not bad, f"query {qid!r}: non-finite scores {bad}"

    def test_results_sorted_by_score(self, tmp_path):
        """Each query's documents are in trec_eval's order: score descending, ties by document id
        descending (``Run.from_scores`` does this; a ``Run`` built by hand may not)."""
        run = self.baseline(tmp_path)
        self.prerequisite(FINITE, lambda: self.test_scores_are_finite(tmp_path))
        for qid, docs in run.items():
            expected = [d for d, _ in trec_order(docs)]
            assert list(docs) == expected, f"query {qid!r}: ranked {list(docs)}, by score {expected}"

    def test_returns_known_queries_and_documents(self, tmp_path):
        """Only the queries asked, only documents of the collection (no invented ids)."""
        queries = self.queries()
        known = {d.id for d in self.make_collection().docs}
        run = self.baseline(tmp_path)
        assert set(run) <= set(queries), f"queries nobody asked for: {sorted(set(run) - set(queries))}"
        for qid, docs in run.items():
            assert set(docs) <= known, f"query {qid!r}: unknown documents {sorted(set(docs) - known)}"

    def test_deterministic(self, tmp_path):
        """Two fresh instances, each indexing the same collection, return the same ranking (the
        runner caches runs by configuration, so a second run must not differ)."""
        queries = self.queries()
        first = self.baseline(tmp_path)
        retriever, ctx = self.build(tmp_path / "second", self.make_collection())
        difference = ranking_difference(first, retriever.retrieve(queries, self.k, ctx), queries)
        assert difference is None, f"a second instance ranks differently: {difference}"

    def test_corpus_on_disk(self, tmp_path):
        """The same collection with its documents memory-mapped from disk (what a corpus beyond
        500,000 documents, or ``corpus_store = "disk"``, is: ``harness.corpus.DiskDocuments``)
        gives the same ranking: read documents through ``docs``, ``doc_ids`` and ``texts()``
        (iterate or slice them), never by assuming a list."""
        queries = self.queries()
        first = self.baseline(tmp_path)
        self.prerequisite(DETERMINISTIC, lambda: self.test_deterministic(tmp_path))
        retriever, ctx = self.build(tmp_path / "on-disk", on_disk(self.make_collection()))
        difference = ranking_difference(first, retriever.retrieve(queries, self.k, ctx), queries)
        assert difference is None, f"with the documents on disk it ranks differently: {difference}"

    def test_empty_queries(self, tmp_path):
        """Empty and blank queries return few or no documents instead of raising, and do not
        change the other queries' rankings."""
        self._edge_queries(tmp_path, EMPTY_QUERIES)

    def test_non_ascii_queries(self, tmp_path):
        """Queries with accents, Greek, Japanese and emoji are handled, and do not change the
        other queries' rankings."""
        self._edge_queries(tmp_path, NON_ASCII_QUERIES)

    def _edge_queries(self, tmp_path, edge: dict[str, str]) -> None:
        plain = self.queries()
        alone = self.baseline(tmp_path)
        run = self.attempt(f"queries {sorted(edge.values())}", lambda: self.search(tmp_path, {**edge, **plain}, self.k))
        for qid in edge:
            docs = run.scores.get(qid, {})
            assert len(docs) <= self.k, f"query {qid!r} ({edge[qid]!r}): {len(docs)} documents, k = {self.k}"
        difference = ranking_difference(alone, run, plain)
        assert difference is None, f"asked with {sorted(edge)}, the other queries rank differently: {difference}"

    def test_duplicate_documents(self, tmp_path):
        """Documents with the same text under different ids are both retrievable: asked for the
        whole corpus, a retriever returning one of them returns all, with equal scores."""
        self.baseline(tmp_path)
        collection = self.make_collection()
        groups = duplicate_groups(collection)
        if not groups:
            pytest.skip("the collection has no duplicate documents")
        queries = {f"dup{i}": collection.contents(collection.doc(g[0])) for i, g in enumerate(groups)}
        run = self.search(tmp_path, {**queries, **self.queries()}, len(collection.docs))
        for qid, docs in run.items():
            for group in groups:
                present = [d for d in group if d in docs]
                assert len(present) in (0, len(group)), (
                    f"query {qid!r}: returned {present} but not all of the identical documents {group}"
                )
                scores = [docs[d] for d in present]
                same = all(close(s, scores[0]) for s in scores)
                assert same, f"query {qid!r}: identical documents {group} scored {scores}"

    def test_corpus_smaller_than_k(self, tmp_path):
        """A corpus with fewer documents than k: every query gets at most that many, no error."""
        self.prerequisite(KNOWN, lambda: self.test_returns_known_queries_and_documents(tmp_path))
        small = small_collection(self.make_collection())
        k = max(self.k, len(small.docs) + 5)
        def small_run() -> Run:
            retriever, ctx = self.build(tmp_path / "small", small)
            return retriever.retrieve(dict(small.queries), k, ctx)

        run = self.attempt(f"{len(small.docs)} documents, k = {k}", small_run)
        check_run(run)
        known = {d.id for d in small.docs}
        for qid, docs in run.items():
            assert set(docs) <= known, f"query {qid!r}: documents outside the {len(known)}-document corpus"

    def test_index_persistence(self, tmp_path):
        """A retriever with ``save(path)`` and ``load(path)``: a fresh instance that loads the
        saved index ranks exactly as the one that built it (the runner's index cache relies on it)."""
        if not supports(self.component, Persistent):
            pytest.skip("no save/load: the index is rebuilt each time, nothing to check")
        self.prerequisite(DETERMINISTIC, lambda: self.test_deterministic(tmp_path))  # else no run compares
        queries = self.queries()
        first = self.baseline(tmp_path)
        retriever, _, _ = self.standard(tmp_path)
        path = tmp_path / "saved" / "index"
        path.parent.mkdir()
        retriever.save(path)
        ctx = self.context(tmp_path / "loaded", self.make_collection())
        loaded = self.make()
        loaded.setup(ctx)
        loaded.load(path)
        difference = ranking_difference(first, loaded.retrieve(queries, self.k, ctx), queries)
        assert difference is None, f"after save and load: {difference}"


def check_run(run) -> None:
    """Fail unless ``run`` is a ``Run`` of string ids and real-number scores."""
    assert isinstance(run, Run), f"returned {type(run).__name__}, not a harness.ranking.Run (use Run.from_scores)"
    for qid, docs in run.items():
        assert isinstance(qid, str), f"query id {qid!r} is not a string"
        for doc, score in docs.items():
            assert isinstance(doc, str), f"query {qid!r}: document id {doc!r} is not a string"
            assert isinstance(score, Real) and not isinstance(score, bool), (
                f"query {qid!r}, document {doc!r}: score {score!r} is not a number"
            )

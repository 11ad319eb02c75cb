"""``RankerContract``: the rules every ranker must follow, as pytest tests.

The ranker is built, ``setup`` and ``prepare``-d on the kit's tiny collection, then reranks a
first-stage run of six candidates per query (``make_candidates`` to use others). The depth rule
replays what the runner does: only the first ``depth`` candidates go to ``rerank``, and
``harness.ranking.rerank_merge`` puts the untouched tail back underneath.
"""

from __future__ import annotations

from pathlib import Path

from ..collection import Collection
from ..ranking import Run, rerank_merge
from .base import Contract
from .data import EMPTY_QUERIES, NON_ASCII_QUERIES, candidates, on_disk, ranking_difference, tiny_collection
from .retriever import check_run

RETURNS_A_RUN = "test_returns_a_run"
CANDIDATES = "test_candidate_set_preserved"
DETERMINISTIC = "test_deterministic"


class RankerContract(Contract):
    """Subclass as ``class TestMine(RankerContract): component = Mine``."""

    kind = "ranker"

    def make_collection(self) -> Collection:
        return tiny_collection()

    def make_candidates(self, collection: Collection) -> Run:
        """The first-stage run to rerank: every query of ``collection``, six candidates each."""
        return candidates(collection)

    def build(self, folder: Path, collection: Collection):
        ctx = self.context(folder, collection)
        ranker = self.make()
        ranker.setup(ctx)
        ranker.prepare(collection, ctx)
        return ranker, ctx

    def standard(self, tmp_path: Path):
        """The ranker prepared on the collection, built once per test class."""
        cls = type(self)
        if "_harness_standard" not in cls.__dict__:
            collection = self.make_collection()
            cls._harness_standard = (*self.build(tmp_path / "standard", collection), collection)
        return cls._harness_standard

    def baseline(self, tmp_path: Path) -> Run:
        """The candidates reranked by the standard instance; skips the test unless that works and
        returns a Run (``test_returns_a_run`` says why)."""
        return self.prerequisite(RETURNS_A_RUN, lambda: self.rerank(tmp_path, *self.inputs()))

    def rerank(self, tmp_path: Path, queries: dict[str, str], given: Run) -> Run:
        """``rerank`` on the standard instance; fails unless it returns a Run."""
        ranker, ctx, _ = self.standard(tmp_path)
        result = ranker.rerank(queries, given, ctx)
        check_run(result)
        return result

    def inputs(self) -> tuple[dict[str, str], Run]:
        collection = self.make_collection()
        return dict(collection.queries), self.make_candidates(collection)

    # -- the rules ---------------------------------------------------------------------------

    def test_returns_a_run(self, tmp_path):
        """``rerank`` returns a ``harness.ranking.Run`` (string ids, real-number scores)."""
        ranker, ctx, _ = self.standard(tmp_path)
        queries, given = self.inputs()
        check_run(ranker.rerank(queries, given, ctx))

    def test_candidate_set_preserved(self, tmp_path):
        """For every query, exactly the candidates it was given: none dropped, none added."""
        assert_same_candidates(self.inputs()[1], self.baseline(tmp_path))

    def test_depth_honoured(self, tmp_path):
        """Given only the first ``depth`` candidates (1, 3, more than there are; a query with two,
        one with none), it returns exactly those, and ``rerank_merge`` keeps the tail in its order."""
        queries, given = self.inputs()
        self.prerequisite(CANDIDATES, lambda: self.test_candidate_set_preserved(tmp_path))
        first, second = list(queries)[:2]
        queries = {**queries, "short": queries[first], "none": queries[second]}
        given = Run({**given.scores, "short": dict(list(given[first].items())[:2]), "none": {}})
        longest = max(len(docs) for docs in given.scores.values())
        for depth in (1, 3, longest + 2):
            head = self.attempt(f"depth {depth}", lambda d=depth: self.rerank(tmp_path, queries, given.truncate(d)))
            try:
                merged = rerank_merge(given, head, depth)
            except ValueError as exc:
                raise AssertionError(f"depth {depth}: {exc}") from None
            for qid, docs in given.items():
                assert list(merged[qid])[depth:] == list(docs)[depth:], f"depth {depth}, query {qid!r}: tail reordered"

    def test_deterministic(self, tmp_path):
        """Two fresh instances rerank the same candidates into the same ranking."""
        queries, given = self.inputs()
        first = self.baseline(tmp_path)
        ranker, ctx = self.build(tmp_path / "second", self.make_collection())
        difference = ranking_difference(first, ranker.rerank(queries, given, ctx), queries)
        assert difference is None, f"a second instance ranks differently: {difference}"

    def test_corpus_on_disk(self, tmp_path):
        """The same collection with its documents memory-mapped from disk (what a corpus beyond
        500,000 documents, or ``corpus_store = "disk"``, is) reranks the same candidates into
        the same ranking: read documents through ``docs``, ``doc_ids``, ``texts()`` and
        ``text(id)``, never by assuming a list."""
        queries, given = self.inputs()
        first = self.baseline(tmp_path)
        self.prerequisite(DETERMINISTIC, lambda: self.test_deterministic(tmp_path))
        ranker, ctx = self.build(tmp_path / "on-disk", on_disk(self.make_collection()))
        difference = ranking_difference(first, ranker.rerank(queries, given, ctx), queries)
        assert difference is None, f"with the documents on disk it ranks differently: {difference}"

    def test_empty_and_non_ascii_queries(self, tmp_path):
        """Empty, blank and non-ASCII queries are reranked like any other: no error, the
        candidates preserved."""
        given = self.inputs()[1]
        self.prerequisite(CANDIDATES, lambda: self.test_candidate_set_preserved(tmp_path))
        docs = next(iter(given.scores.values()))
        edge = {**EMPTY_QUERIES, **NON_ASCII_QUERIES}
        edge_candidates = Run({qid: dict(docs) for qid in edge})
        result = self.attempt(f"queries {sorted(edge.values())}", lambda: self.rerank(tmp_path, edge, edge_candidates))
        assert_same_candidates(edge_candidates, result)


def assert_same_candidates(given: Run, returned: Run) -> None:
    for qid, docs in given.items():
        got = returned.scores.get(qid)
        assert got is not None or not docs, f"query {qid!r} is missing from the result"
        got = got or {}
        extra, missing = sorted(set(got) - set(docs)), sorted(set(docs) - set(got))
        assert not extra and not missing, (
            f"query {qid!r}: the ranker must return exactly its {len(docs)} candidates "
            f"(unexpected: {extra[:3]}, missing: {missing[:3]})"
        )
    assert set(returned) <= set(given), f"queries that had no candidates: {sorted(set(returned) - set(given))}"

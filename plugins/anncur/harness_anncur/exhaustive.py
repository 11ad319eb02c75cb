"""``exhaustive``: every document of the collection scored by a nested pair scorer.

The exact search that ``anncur`` (and retrieve-then-rerank) approximate: the reference of
``ExactRecall@k`` for a scorer, and that scorer's own quality ceiling. It costs one scorer call
per query with every document as a pair (N pairs per query), counted into ``ctx.costs``.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.sdk import Collection, ComponentError, Context, Param, Retriever, Run, scorer_for, trec_order


class Exhaustive(Retriever):
    """Exhaustive scoring: every document scored by a nested pair scorer (the exact top k it defines)."""

    name = "exhaustive"
    publishes = ()
    params = {
        "scorer": Param("ranker", help="the scorer: a ranker table with score_pairs ({plugin = \"late-interaction\", "
                        "model = \"...\"}, cross-encoder, bm25 ...)"),
    }

    def index(self, collection: Collection, ctx: Context) -> None:
        if ctx.collection is None:  # outside a runner: the standalone scorer prepares on it
            ctx.collection = collection
        self._collection = collection
        self._doc_ids = list(collection.doc_ids)
        self._texts = collection.texts()

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        if not hasattr(self, "_texts"):
            raise ComponentError("exhaustive: call index() before retrieve()")
        if ctx.collection is None:
            ctx.collection = self._collection
        scorer = scorer_for(ctx, self.scorer)
        out = {}
        with ctx.progress.task("exhaustive: scoring every document", total=len(queries)) as advance:
            for qid, text in queries.items():
                scores = scorer.score(text, self._texts, qid=qid)
                out[qid] = trec_order(dict(zip(self._doc_ids, scores, strict=True)))[:k]
                advance(1)
        return Run.from_scores(out)

"""``anncur``: k-NN search for an expensive pair scorer by CUR factorisation (Yadav et al., EMNLP 2022).

Offline (``index``), ``anchor_queries`` queries from a query bank (never an evaluated query) are
scored exactly against every document: R (offline.py, cached). Per query (``retrieve``):

1. the query is scored exactly against ``anchor_docs`` anchor documents (``c``: one scorer call,
   ``anchor_docs`` pairs), drawn at random once (``seed``) or taken per query from the top of a
   first-stage retriever;
2. every document's score is approximated as ``c · pinv(R[:, anchors]) · R`` (cur.py), the
   anchors keeping their exact scores;
3. the ``budget`` documents with the highest approximate scores (trec_eval's order) are scored
   exactly, except the anchors among them, already scored: a second call of ``budget`` minus
   those pairs;
4. the documents scored exactly (anchors and shortlist) are ranked by exact score, top k; a
   document whose text equals a scored one's takes its score without a call (a pair score is a
   function of the two texts), so identical documents are never split by the budget's cut.

Exact pairs per query = ``anchor_docs`` + the non-anchor documents of the top ``budget``, counted
through the scorer into ``ctx.costs`` (``pairs_scored``; ``scorer_calls`` counts the calls, two
per query). With a ``folds:<k>`` bank each query uses only the anchor rows of the other folds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

from harness.sdk import (
    BankSource,
    Collection,
    ComponentError,
    Context,
    Param,
    Retriever,
    Run,
    build,
    scorer_for,
    trec_order,
)

from . import cur, offline

STRATEGIES = ("random", "retriever")


class Anncur(Retriever):
    """ANNCUR: k-NN for an expensive pair scorer, its scores approximated by CUR from anchor queries and documents."""

    name = "anncur"
    publishes = ()  # what the nested scorer and anchor retriever publish stays theirs
    params = {
        "scorer": Param("ranker", help="the expensive scorer: a ranker table with score_pairs "
                        "({plugin = \"cross-encoder\", model = \"...\"}, late-interaction, bm25 ...)"),
        "anchor_queries": Param(int, 100, "anchor queries k_q scored offline against every document (none: every "
                                "query the bank holds)", nullable=True, min=1),
        "anchor_source": BankSource(str, "pseudo:title", "where anchor queries come from: a query bank source "
                                    "(split:<name>, unjudged, pseudo:title, pseudo:first-sentence, folds:<k>)"),
        "anchor_docs": Param(int, 50, "anchor documents k_i each query is scored against first", min=1),
        "anchor_strategy": Param(str, "random", "random (drawn once with seed) or retriever (each query's top "
                                 "anchor_docs of anchor_retriever)", choices=STRATEGIES),
        "anchor_retriever": Param("retriever", None, "the first stage whose top anchor_docs are each query's "
                                  "anchors (anchor_strategy = \"retriever\")", nullable=True),
        "budget": Param(int, 100, "documents of the approximate top taken to exact scoring (k_r)", min=0),
        "rcond": Param(float, 1e-6, "pinv cutoff: singular values of R[:, anchors] below rcond times the largest "
                       "are treated as zero", min=0, max=1),
        "seed": Param(int, None, "seed of the anchor documents and of the bank's sample (default: the suite's)",
                      nullable=True),
    }

    @classmethod
    def check_config(cls, params: dict, base_dir: Path) -> list[tuple[str | None, str]]:
        return strategy_problems(params)

    def __init__(self, **params):
        super().__init__(**params)
        self._standalone: Retriever | None = None
        self._projections: dict[tuple, cur.Projection] = {}

    def _seed(self, ctx: Context) -> int:
        return ctx.seed if self.seed is None else self.seed

    def identity(self, ctx: Context) -> dict:
        """The parameters, the seed they resolve to and the anchor bank's fingerprint (the run
        depends on which queries were banked); the runner adds the nested scorer's identity."""
        ident = {**super().identity(ctx), "seed": self._seed(ctx)}
        if ctx.collection is not None:
            bank = ctx.query_bank(self.anchor_source, self.anchor_queries, self._seed(ctx), record=False)
            ident["bank"] = bank.fingerprint
        return ident

    # -- offline -----------------------------------------------------------------------------------

    def index(self, collection: Collection, ctx: Context) -> None:
        problems = strategy_problems(self.config)
        if problems:
            raise ComponentError(f"anncur: {problems[0][0]}: {problems[0][1]}")
        if ctx.collection is None:  # outside a runner: banks and the standalone scorer read it
            ctx.collection = collection
        seed = self._seed_value = self._seed(ctx)
        self._collection = collection
        self._doc_ids = list(collection.doc_ids)
        self._texts = collection.texts()
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(self._texts):
            groups.setdefault(text, []).append(i)
        self._same_text = {i: [j for j in group if j != i] for group in groups.values() if len(group) > 1
                           for i in group}
        by_id = sorted(range(len(self._doc_ids)), key=self._doc_ids.__getitem__)
        self._id_rank = [0] * len(by_id)
        for rank, i in enumerate(by_id):
            self._id_rank[i] = rank
        self._bank = ctx.query_bank(self.anchor_source, self.anchor_queries, seed)
        rows = anchor_rows(self._bank)
        scorer = scorer_for(ctx, self.scorer)
        key = offline.anchor_key(offline.scorer_identity(scorer, ctx), rows, collection.corpus_fingerprint)
        self._scores = offline.anchor_scores(rows, collection, scorer, ctx, key)
        n = len(self._doc_ids)
        self._random = sorted(random.Random(seed).sample(range(n), min(self.anchor_docs, n)))
        self._projections = {}
        if self.anchor_strategy == "retriever" and ctx.retrieve is None:
            self._standalone = _standalone(self.anchor_retriever, collection, ctx)
        ctx.phase["anncur"] = {"anchor_rows": len(rows), "documents": n,
                               "anchor_docs": min(self.anchor_docs, n), "seed": seed}

    # -- per query ---------------------------------------------------------------------------------

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        if not hasattr(self, "_scores"):
            raise ComponentError("anncur: call index() before retrieve()")
        if ctx.collection is None:
            ctx.collection = self._collection
        scorer = scorer_for(ctx, self.scorer)
        first = self._first_stage(queries, ctx)
        out, pairs, ranks = {}, 0, []
        with ctx.progress.task("anncur: queries", total=len(queries)) as advance:
            for qid, text in queries.items():
                proj = self._projection(self._bank.for_query(qid).ids, self._anchors(qid, first))
                anchors = list(proj.anchors)
                exact = dict(zip(anchors, scorer.score(text, [self._texts[a] for a in anchors], qid=qid), strict=True))
                approx = cur.approximate([exact[a] for a in anchors], proj)
                shortlist = [i for i in cur.top(approx, self.budget, self._id_rank) if i not in exact]
                exact.update(zip(shortlist, scorer.score(text, [self._texts[i] for i in shortlist], qid=qid),
                                 strict=True))
                pairs += len(exact)
                for i in list(exact):  # a pair score is a function of the texts: equal texts, equal scores
                    for j in self._same_text.get(i, ()):
                        exact.setdefault(j, exact[i])
                out[qid] = trec_order({self._doc_ids[i]: s for i, s in exact.items()})[:k]
                ranks.append(proj.rank)
                advance(1)
        ctx.phase.setdefault("anncur", {}).update(
            budget=self.budget, queries=len(queries), exact_pairs_per_query=round(pairs / max(len(queries), 1), 3),
            anchor_rank_min=min(ranks, default=None), anchor_rank_max=max(ranks, default=None))
        return Run.from_scores(out)

    def _first_stage(self, queries: Mapping[str, str], ctx: Context) -> Run | None:
        if self.anchor_strategy != "retriever":
            return None
        depth = min(self.anchor_docs, len(self._doc_ids))
        if ctx.retrieve is not None:
            return ctx.retrieve(self.anchor_retriever, queries, depth)
        if self._standalone is None:
            self._standalone = _standalone(self.anchor_retriever, self._collection, ctx)
        return self._standalone.retrieve(queries, depth, _own(ctx))

    def _anchors(self, qid: str, first: Run | None) -> tuple[int, ...]:
        """The query's anchor documents: the random draw, or the first stage's top (topped up from
        the random draw, in its order, when the first stage returns fewer: a blank query)."""
        if first is None:
            return tuple(self._random)
        want = min(self.anchor_docs, len(self._doc_ids))
        row = self._collection_rows()
        anchors = list(dict.fromkeys(row[d] for d, _ in first.ranked(qid) if d in row))[:want]
        if len(anchors) < want:
            taken = set(anchors)
            spare = random.Random(f"{self._seed_value}:{qid}").sample(range(len(self._doc_ids)), len(self._doc_ids))
            anchors += [i for i in spare if i not in taken][: want - len(anchors)]
        return tuple(anchors)

    def _collection_rows(self) -> dict[str, int]:
        if not hasattr(self, "_rows"):
            self._rows = {d: i for i, d in enumerate(self._doc_ids)}
        return self._rows

    def _projection(self, bank_ids: list[str], anchors: tuple[int, ...]) -> cur.Projection:
        key = (tuple(bank_ids), anchors)
        if key not in self._projections:
            if len(self._projections) > 4096:  # per-query anchors: keep memory bounded
                self._projections.clear()
            rows = [self._scores.row_of[q] for q in bank_ids]
            self._projections[key] = cur.projection(self._scores.matrix[rows], anchors, self.rcond)
        return self._projections[key]


def anchor_rows(bank) -> dict[str, str]:
    """Every query some evaluated query may use as an anchor: the bank itself, or for
    ``folds:<k>`` the union of the folds' banks and the bank of queries in no fold."""
    rows = dict(bank.queries) if not bank.fold_banks else {}
    for part in (*bank.fold_banks, *([bank.outside] if bank.outside is not None else [])):
        rows.update(part.queries)
    return rows


def strategy_problems(params: dict) -> list[tuple[str | None, str]]:
    """``anchor_retriever`` given exactly when ``anchor_strategy`` is ``retriever``."""
    strategy, nested = params.get("anchor_strategy", "random"), params.get("anchor_retriever")
    if strategy == "retriever" and nested is None:
        return [("anchor_retriever", "anchor_strategy = \"retriever\" needs anchor_retriever, a retriever table "
                 "({plugin = \"bm25\"})")]
    if strategy == "random" and nested is not None:
        return [("anchor_retriever", "is only used with anchor_strategy = \"retriever\" (the strategy is \"random\")")]
    return []


def _own(ctx: Context) -> Context:
    """A context for a nested component: its by-products are not this pipeline's."""
    import dataclasses

    return dataclasses.replace(ctx, artifacts={}, phase={})


def _standalone(spec, collection: Collection, ctx: Context) -> Retriever:
    """The anchor retriever built, set up and indexed here (no runner)."""
    component = build("retriever", spec) if isinstance(spec, Mapping) else spec.build()
    own = _own(ctx)
    component.setup(own)
    component.index(collection, own)
    return component

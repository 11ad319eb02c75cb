"""Rank fusion over nested retrievers: ``rrf``, ``combsum`` and ``combmnz``.

In a suite the nested retrievers run through ``ctx.retrieve``, the runner's stage executor: their
indexes and runs are cached and shared with every pipeline of the same configuration (a hybrid
pipeline beside its bm25 and dense pipelines retrieves nothing twice), and each shows in the cell
result as phases of its own (``bm25.retrieve``). Outside a runner (a notebook, the conformance
kit) ``ctx.retrieve`` is None, and the fusion builds and indexes its nested retrievers itself.

Every fused score is a sum over the nested runs taken in the order the suite lists them, so the
same inputs give the same floats; equal fused scores are ordered, and cut at k, as trec_eval
orders them (document id, descending). docs/plugins/fusion.md has the definitions.
"""

from __future__ import annotations

import dataclasses
import math
from array import array
from collections.abc import Mapping
from numbers import Real

from harness.sdk import Collection, Context, Param, Retriever, Run, build, trec_order


class Retrievers(Param):
    """A non-empty list of nested retriever tables."""

    def check(self, value):
        return super().check(value) or (None if value else "must name at least one retriever")


class Weights(Param):
    """Finite, non-negative numbers, at least one of them positive (one per retriever)."""

    def check(self, value):
        why = super().check(value)
        if why or value is None:
            return why
        if not all(isinstance(w, Real) and not isinstance(w, bool) and math.isfinite(w) and w >= 0 for w in value):
            return f"must be finite numbers >= 0, got {value!r}"
        return None if any(w > 0 for w in value) else "needs at least one positive weight"


class Fusion(Retriever):
    """Base of the fusion retrievers: runs the nested retrievers and sums what ``contributions``
    gives for each of their rankings."""

    publishes = ()  # what nested retrievers publish stays theirs (docs/plugins.md, "Artifacts")

    params = {
        "retrievers": Retrievers("retriever", help="the retrievers to fuse (tables like a pipeline's retriever)",
                                 many=True),
        "depth": Param(int, None, "documents each nested retriever returns per query (default: k, the fused "
                       "run's own depth, so their runs are the plain pipelines' runs)", nullable=True, min=1),
        "weights": Weights(float, None, "one weight per retriever, in their order (default: 1 each)",
                           nullable=True, many=True),
    }

    def __init__(self, **params):
        super().__init__(**params)
        if self.weights is not None and len(self.weights) != len(self.retrievers):
            raise ValueError(f"{self.name}: {len(self.weights)} weights for {len(self.retrievers)} retrievers")
        self._standalone: list[Retriever] | None = None

    def index(self, collection: Collection, ctx: Context) -> None:
        # In a suite the runner indexes the nested retrievers (once, cached) when they first run.
        if ctx.retrieve is None:
            self._standalone = [_build(spec, collection, ctx) for spec in self.retrievers]

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        depth = self.depth or k
        ctx.phase["fusion"] = {"retrievers": len(self.retrievers), "depth": depth}
        runs = [self._nested(i, queries, depth, ctx) for i in range(len(self.retrievers))]
        weights = self.weights or [1.0] * len(runs)
        fused = {}
        for qid in queries:
            scores: dict[str, float] = {}
            counts: dict[str, int] = {}
            for weight, run in zip(weights, runs, strict=True):
                for doc, value in self.contributions(run.ranked(qid)).items():
                    scores[doc] = scores.get(doc, 0.0) + weight * value
                    counts[doc] = counts.get(doc, 0) + 1
            fused[qid] = trec_order(self.combine(scores, counts))[:k]  # ties cut as trec_eval ranks them
        return Run.from_scores(fused)

    def _nested(self, i: int, queries: Mapping[str, str], depth: int, ctx: Context) -> Run:
        if ctx.retrieve is not None:
            return ctx.retrieve(self.retrievers[i], queries, depth)
        if self._standalone is None:
            raise RuntimeError(f"{self.name}: call index() before retrieve()")
        return self._standalone[i].retrieve(queries, depth, _own_artifacts(ctx))

    def contributions(self, ranked: list[tuple[str, float]]) -> dict[str, float]:
        """What each document of one nested ranking (trec_eval's order) adds, before its weight."""
        raise NotImplementedError

    def combine(self, sums: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
        """The fused scores from the weighted sums and the number of runs holding each document."""
        return sums


class RRF(Fusion):
    """Reciprocal rank fusion: each document scores the sum of weight / (k0 + its rank) over the runs."""

    name = "rrf"
    params = {
        **Fusion.params,
        "k0": Param(float, 60.0, "the rank offset: larger values flatten the difference between top ranks "
                    "(60 in Cormack et al., 2009)", min=0),
    }

    def contributions(self, ranked):
        return {doc: 1.0 / (self.k0 + rank) for doc, rank in shared_ranks(ranked).items()}


class CombSUM(Fusion):
    """CombSUM: the sum of each run's normalised scores (min-max per query by default)."""

    name = "combsum"
    params = {
        **Fusion.params,
        "normalize": Param(str, "minmax", "how each run's scores are made comparable, per query: "
                           "minmax (to [0, 1]), zscore (mean 0, deviation 1) or none (raw scores)",
                           choices=("minmax", "zscore", "none")),
    }

    def contributions(self, ranked):
        return normalized(ranked, self.normalize)


class CombMNZ(CombSUM):
    """CombMNZ: CombSUM times the number of runs that retrieved the document."""

    name = "combmnz"

    def combine(self, sums, counts):
        return {doc: value * counts[doc] for doc, value in sums.items()}


def shared_ranks(ranked: list[tuple[str, float]]) -> dict[str, int]:
    """1-based ranks, documents with equal scores (as trec_eval compares them: single precision)
    sharing the best rank of their group, so a fusion never depends on how a nested retriever
    happened to order equal scores (identical documents fuse to identical scores)."""
    keys = array("f", [score for _, score in ranked]).tolist()
    ranks, rank = {}, 0
    for position, (doc, _) in enumerate(ranked, 1):
        if position == 1 or keys[position - 1] != keys[position - 2]:
            rank = position
        ranks[doc] = rank
    return ranks


def normalized(ranked: list[tuple[str, float]], how: str) -> dict[str, float]:
    """One query's scores normalised; constant scores become 1 (minmax) or 0 (zscore)."""
    scores = {doc: float(score) for doc, score in ranked}
    if how == "none" or not scores:
        return scores
    values = list(scores.values())
    if how == "minmax":
        low, high = min(values), max(values)
        return {doc: (s - low) / (high - low) if high > low else 1.0 for doc, s in scores.items()}
    mean = math.fsum(values) / len(values)
    deviation = math.sqrt(math.fsum((s - mean) ** 2 for s in values) / len(values))
    return {doc: (s - mean) / deviation if deviation > 0 else 0.0 for doc, s in scores.items()}


def _own_artifacts(ctx: Context) -> Context:
    """The context for a nested retriever: its by-products are not the fused pipeline's."""
    return dataclasses.replace(ctx, artifacts={}, phase={})


def _build(spec, collection: Collection, ctx: Context) -> Retriever:
    """A nested retriever built, set up and indexed here (no runner): from a suite's validated
    spec, or from a plain table ``{"plugin": "bm25", "k1": 0.9}`` looked up among the installed
    plugins."""
    if isinstance(spec, Mapping):
        component = build("retriever", spec)
    else:
        component = spec.build()
    own = _own_artifacts(ctx)
    component.setup(own)
    component.index(collection, own)
    return component

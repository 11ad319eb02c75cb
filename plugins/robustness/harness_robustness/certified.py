"""``CertTopK@K`` and ``CertRadius@K``: certified top-K robustness of a smoothed ranking (CertDR).

Both read the ``smoothing`` artifact that the ``smoothed`` ranker publishes (smoothed.py): the
smoothed estimate of every candidate, and Δ_R of each document (smoothing.py). Per query, the
candidates are the run's first ``depth`` documents (set it to the smoothed stage's depth: the
documents it scored), T the first K of them, and the certificate at radius R is bounds.certify:
every bound holds with probability ≥ 1 − α at once, and then no candidate outside T can enter the
top K by substituting up to R of its own words.

* ``CertTopK@K`` (``radius`` R): 1 when the query's list is certified at R, else 0; averaged, the
  share of queries certified.
* ``CertRadius@K``: the largest R ≤ ``max_radius`` at which the query is certified (Δ_R grows with
  R, so every smaller radius is certified too), −1 when it is not certified even at R = 0.

A query with at most K candidates has nothing outside its top K: certified (counted in the details
as ``vacuous``). A document of the run that the collection lacks has no text to smooth: it is left
out of the candidates (counted as ``unknown_documents``).
"""

from __future__ import annotations

from collections import Counter

from harness.sdk import Context, Metric, MetricValue, Param, Run

from .bounds import BOUNDS, certify
from .smoothed import SMOOTHING

COMMON = {
    "cutoff": Param(int, None, "K: the top K certified (the number after @)", nullable=True, min=1),
    "alpha": Param(float, 0.05, "the certificate fails with probability at most alpha per query", min=1e-12,
                   max=0.5),
    "bound": Param(str, "bernstein", "confidence bound on each smoothed mean: 'bernstein' (empirical "
                   "Bernstein) or 'hoeffding'", choices=BOUNDS),
    "depth": Param(int, 20, "candidates per query: the run's first depth documents (the smoothed stage's "
                   "depth)", min=2),
}


class Certified(Metric):
    """Base of the two families: one pass over the estimates serves every metric of a suite."""

    params = COMMON
    cutoff_rule = "required"
    requires = (SMOOTHING,)

    @classmethod
    def evaluate_batch(cls, metrics: list[Metric], qrels: dict, run: Run, ctx: Context) -> dict[str, MetricValue]:
        if ctx.collection is None:
            raise ValueError("the certification metrics need the cell's collection (ctx.collection)")
        smoothing = ctx.artifacts[SMOOTHING]
        depth = max(m.depth for m in metrics)
        known = {doc.id for doc in ctx.collection.docs}
        # a document the collection lacks has no text to smooth: left out, and counted
        unknown = sum(doc not in known for qid in run for doc, _ in run.ranked(qid)[:depth])
        wanted = {qid: [doc for doc, _ in run.ranked(qid) if doc in known][:depth] for qid in run}
        stats, record = smoothing.estimates(ctx.collection.queries, wanted, ctx)
        out = {}
        for metric in metrics:
            per_query, notes = {}, Counter()
            for qid in sorted(wanted):
                docs = wanted[qid][: metric.depth]
                per_query[qid] = metric.value(docs, stats[qid], smoothing, ctx, notes)
            mean = sum(per_query.values()) / len(per_query) if per_query else 0.0
            details = {"alpha": metric.alpha, "bound": metric.bound, "depth": metric.depth,
                       "smoothing": smoothing.describe(ctx), "estimates": record, **notes}
            if unknown:
                details["unknown_documents"] = unknown
            out[metric.label] = MetricValue(mean, per_query, details)
        return out

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        return self.evaluate_batch([self], qrels, run, ctx)[self.label]

    def certified(self, docs, stats, smoothing, ctx, radius: int) -> bool:
        k = self.cutoff
        top = [stats[d] for d in docs[:k]]
        rest = [(stats[d], smoothing.budget(d, radius, ctx)) for d in docs[k:]]
        return certify(top, rest, self.alpha, self.bound).certified

    def value(self, docs, stats, smoothing, ctx, notes: Counter) -> float:
        raise NotImplementedError


class CertTopK(Certified):
    """Certified top-K robustness: the share of queries whose top K no candidate enters by R word substitutions."""

    name = "CertTopK"
    params = {**COMMON, "radius": Param(int, 0, "R: words of the attacked document substituted", min=0)}
    upper_bound = 1.0

    def value(self, docs, stats, smoothing, ctx, notes):
        if len(docs) <= self.cutoff:
            notes["vacuous"] += 1
            return 1.0
        ok = self.certified(docs, stats, smoothing, ctx, self.radius)
        notes["certified"] += ok
        return float(ok)


class CertRadius(Certified):
    """Certified radius: per query the most word substitutions at which its smoothed top K is certified (-1: none)."""

    name = "CertRadius"
    params = {**COMMON, "max_radius": Param(int, 10, "the largest radius tried", min=0)}
    upper_bound = None  # max_radius

    def value(self, docs, stats, smoothing, ctx, notes):
        if len(docs) <= self.cutoff:
            notes["vacuous"] += 1
            return float(self.max_radius)
        radius = -1
        while radius < self.max_radius and self.certified(docs, stats, smoothing, ctx, radius + 1):
            radius += 1
        notes[f"radius {radius}"] += 1
        return float(radius)

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
out of the candidates (counted as ``unknown_documents``). A query whose run does not carry the
smoothed estimates as its top K's scores (a run not ordered by the smoothed stage) is not certified
(``not_smoothed_order``), and a depth not beyond K is an error rather than a vacuous certificate.
"""

from __future__ import annotations

from collections import Counter

from harness.sdk import ComponentError, Context, Metric, MetricValue, Param, Run

from .bounds import BOUNDS, certify
from .smoothed import SMOOTHING

SCORE_TOLERANCE = 1e-4  # a run score within this of a smoothed estimate (in [0, 1]) is that estimate

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
    def check_config(cls, params: dict, base_dir) -> list[tuple[str | None, str]]:
        """``harness validate`` refuses what ``evaluate_batch`` would: a depth not beyond K."""
        depth, cutoff = params.get("depth"), params.get("cutoff")
        if isinstance(depth, int) and isinstance(cutoff, int) and depth <= cutoff:
            return [("depth", f"depth ({depth}) must be greater than the cutoff K ({cutoff}): the candidates "
                     "outside the top K are the run's documents K + 1 .. depth; set depth to the smoothed "
                     "stage's depth")]
        return []

    @classmethod
    def evaluate_batch(cls, metrics: list[Metric], qrels: dict, run: Run, ctx: Context) -> dict[str, MetricValue]:
        if ctx.collection is None:
            raise ComponentError("the certification metrics need the cell's collection (ctx.collection)")
        for metric in metrics:
            # with depth <= K no candidate lies outside the top K: every query would count as
            # (vacuously) certified, a 1.0 that certifies nothing
            if metric.depth <= metric.cutoff:
                raise ComponentError(f"metric {metric.label}: depth ({metric.depth}) must be greater than the "
                                     f"cutoff K ({metric.cutoff}): the candidates outside the top K are the run's "
                                     f"documents K + 1 .. depth; set depth to the smoothed stage's depth")
        smoothing = ctx.artifacts[SMOOTHING]
        depth = max(m.depth for m in metrics)
        known = set(ctx.collection.doc_ids)
        # a document the collection lacks has no text to smooth: left out, and counted
        unknown = sum(doc not in known for qid in run for doc, _ in run.ranked(qid)[:depth])
        wanted = {qid: [doc for doc, _ in run.ranked(qid) if doc in known][:depth] for qid in run}
        stats, record = smoothing.estimates(ctx.collection.queries, wanted, ctx)
        out = {}
        for metric in metrics:
            per_query, notes = {}, Counter()
            for qid in sorted(wanted):
                docs = wanted[qid][: metric.depth]
                per_query[qid] = metric.value(docs, stats[qid], smoothing, ctx, notes, dict(run.ranked(qid)))
            mean = sum(per_query.values()) / len(per_query) if per_query else 0.0
            details = {"alpha": metric.alpha, "bound": metric.bound, "depth": metric.depth,
                       "smoothing": smoothing.describe(ctx), "estimates": record, **notes}
            if unknown:
                details["unknown_documents"] = unknown
            out[metric.label] = MetricValue(mean, per_query, details)
        return out

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        return self.evaluate_batch([self], qrels, run, ctx)[self.label]

    def smoothed_top(self, docs, stats, scores) -> bool:
        """Whether the run's top K carry their smoothed estimates as scores. The certificate is
        about the smoothed ranker's order; a run ordered otherwise (the first stage's, a stage
        after ``smoothed``, ``interpolate``) is not protected by it, even when its top K happens
        to be the smoothed one, so such a query is not certified. The tolerance covers the
        single-precision nudges that keep trec_eval's order (ranking.encode_order)."""
        return all(abs(scores[d] - stats[d].mean) <= SCORE_TOLERANCE for d in docs[: self.cutoff])

    def certified(self, docs, stats, smoothing, ctx, radius: int) -> bool:
        k = self.cutoff
        top = [stats[d] for d in docs[:k]]
        rest = [(stats[d], smoothing.budget(d, radius, ctx)) for d in docs[k:]]
        return certify(top, rest, self.alpha, self.bound).certified

    def value(self, docs, stats, smoothing, ctx, notes: Counter, scores: dict[str, float]) -> float:
        raise NotImplementedError


class CertTopK(Certified):
    """Certified top-K robustness: the share of queries whose top K no candidate enters by R word substitutions."""

    name = "CertTopK"
    params = {**COMMON, "radius": Param(int, 0, "R: words of the attacked document substituted", min=0)}
    upper_bound = 1.0

    def value(self, docs, stats, smoothing, ctx, notes, scores):
        if len(docs) <= self.cutoff:
            notes["vacuous"] += 1
            return 1.0
        if not self.smoothed_top(docs, stats, scores):
            notes["not_smoothed_order"] += 1
            return 0.0
        ok = self.certified(docs, stats, smoothing, ctx, self.radius)
        notes["certified"] += ok
        return float(ok)


class CertRadius(Certified):
    """Certified radius: per query the most word substitutions at which its smoothed top K is certified (-1: none)."""

    name = "CertRadius"
    params = {**COMMON, "max_radius": Param(int, 10, "the largest radius tried", min=0)}
    upper_bound = None  # max_radius

    def value(self, docs, stats, smoothing, ctx, notes, scores):
        if len(docs) <= self.cutoff:
            notes["vacuous"] += 1
            return float(self.max_radius)
        if not self.smoothed_top(docs, stats, scores):
            notes["not_smoothed_order"] += 1
            return -1.0
        # Δ_R stops growing once R covers every attackable slot of every candidate outside the
        # top K: beyond that radius the answer is the same, so the loop stops there (a large
        # max_radius would otherwise cost max_radius certificates per query)
        saturated = max((smoothing.attackable(d, ctx) for d in docs[self.cutoff:]), default=0)
        radius = -1
        while radius < self.max_radius and self.certified(docs, stats, smoothing, ctx, radius + 1):
            radius += 1
            if radius >= saturated:
                radius = self.max_radius
                break
        notes[f"radius {radius}"] += 1
        return float(radius)

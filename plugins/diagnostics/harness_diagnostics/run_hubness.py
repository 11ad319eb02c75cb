"""``RunHubness@k`` and ``HubShare@k``: how unevenly a run's top k spreads over the documents.

Unlike ``hubness`` (document-to-document neighbourhoods of the embeddings), these read the run
itself, so they see what a ranker does to hubs: for every document d, O_k(d) is the number of
queries whose top k (in trec_eval's order) holds d.

* ``RunHubness@k``: the skewness of O_k over the documents that appear in some query's top k, as
  the QB-Norm and DBNorm code computes it (``scipy.stats.skew`` with its default ``bias=True``,
  of the counts of a ``Counter`` of the retrieved indices: documents never retrieved are not in
  it): E[(O − mean)³] / σ³, σ the population deviation; 0 when every count is equal. Around 0:
  even; large: a few documents take many queries' top k.
* ``HubShare@k``: the share of all top-k places Σ_d O_k(d) taken by the ⌈1 %⌉ most frequent
  documents of the collection (⌈N / 100⌉ documents, N the collection's, ``ctx.collection``;
  ties among equal counts do not matter: the share is the sum of the largest counts).

Every query of the run counts (unjudged ones too: hubness needs no judgments). Cost: one pass over
the run's top k, O(queries · k).
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import islice

from harness.sdk import Context, Metric, MetricValue, Param, Run

UNAVAILABLE = "needs the collection (ctx.collection) for its size"


class RunOccurrence(Metric):
    """Base of the run-based families: O_k counted once per run and k."""

    params = {"cutoff": Param(int, None, "rank cutoff k (the number after @)", nullable=True, min=1)}
    cutoff_rule = "required"
    per_query = False

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        counts = occurrences(run, self.cutoff)
        return self.summarize(counts, ctx)

    def summarize(self, counts: Counter, ctx: Context) -> MetricValue:
        raise NotImplementedError


class RunHubness(RunOccurrence):
    """Run hubness: skewness of how often each retrieved document appears in the queries' top k."""

    name = "RunHubness"
    upper_bound = None

    def summarize(self, counts, ctx):
        top = counts.most_common(5)
        return MetricValue(skewness(list(counts.values())), None,
                           {"k": self.cutoff, "documents": len(counts), "max_occurrence": top[0][1] if top else 0,
                            "hubs": dict(top)})


class HubShare(RunOccurrence):
    """Hub share: the share of the queries' top-k places taken by the 1 % most frequent documents."""

    name = "HubShare"
    upper_bound = 1.0

    def summarize(self, counts, ctx):
        if ctx.collection is None:
            return MetricValue(None, None, {"unavailable": UNAVAILABLE})
        hubs = math.ceil(len(ctx.collection.docs) / 100)
        return MetricValue(hub_share(counts, hubs), None, {"k": self.cutoff, "hubs": hubs})


def occurrences(run: Run, k: int) -> Counter:
    """O_k: {document: the number of queries whose top k (trec_eval's order) holds it}."""
    counts: Counter = Counter()
    for docs in run.scores.values():  # each query's documents in trec_eval's order
        counts.update(islice(docs, k))
    return counts


def skewness(values) -> float:
    """The population skewness (``scipy.stats.skew(values, bias=True)``); 0 when all are equal or
    there are none."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return 0.0
    deviation = x.std()
    if not deviation > 0:
        return 0.0
    return float(((x - x.mean()) ** 3).mean() / deviation**3)


def hub_share(counts: Counter, hubs: int) -> float:
    """The share of Σ counts held by the ``hubs`` largest counts (0 for an empty run)."""
    total = sum(counts.values())
    if not total:
        return 0.0
    return sum(sorted(counts.values(), reverse=True)[:hubs]) / total

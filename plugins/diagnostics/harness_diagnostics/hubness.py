"""``hubness`` and ``antihubs``: how unevenly documents appear among each other's nearest neighbours.

For every document x, N_k(x) (its k-occurrence) is the number of documents that have x among
their k nearest neighbours, the neighbours of a document being the k other documents its vector
scores highest against (by the dot product, the retriever's own score: the cosine for normalised
vectors). The mean of N_k is k; in high-dimensional spaces its distribution grows a long right
tail of *hubs*, documents near everything, which a dense retriever returns for many unrelated
queries, while *anti-hubs* are nobody's neighbour (Radovanović et al., JMLR 2010).

* ``hubness``: the skewness of the N_k distribution, E[(N_k − k)³] / σ³ (0 when σ = 0):
  about 0 for an even space, 1 and more for a space with strong hubs.
* ``antihubs``: the share of documents with N_k = 0.

The neighbourhoods are document-to-document, as Radovanović et al. define N_k over the data set
itself. The query-to-document variant used for cross-modal retrieval (how many queries retrieve x)
is not measured: query vectors do not exist when a cell's run comes from the cache, and a
collection's few hundred queries cannot estimate N_k over thousands of documents.

Ties: scores are compared in single precision, and of documents with equal scores at the k-th
place the one earlier in corpus order is the neighbour.

Cost: O(n²·d) time for n documents (the sample), in blocks of rows, O(n·block) memory; both
metrics of one (k, sample) share one pass.
"""

from __future__ import annotations

from harness.sdk import Context, Metric, MetricValue, Param, Run

from .embeddings import EMBEDDINGS, SAMPLE, documents

BLOCK = 1024  # rows of the similarity matrix held at once


class KOccurrence(Metric):
    """Base of the k-occurrence families: one pass per (k, sample) serves both."""

    params = {
        "k": Param(int, 10, "neighbours per document", min=1),
        "sample": SAMPLE,
    }
    cutoff_rule = "none"
    per_query = False
    requires = (EMBEDDINGS,)

    @classmethod
    def evaluate_batch(cls, metrics: list[Metric], qrels: dict, run: Run, ctx: Context) -> dict[str, MetricValue]:
        passes = {}
        out = {}
        for metric in metrics:
            key = (metric.k, metric.sample)
            if key not in passes:
                matrix, ids, details = documents(ctx, metric.sample)
                passes[key] = (k_occurrence(matrix, metric.k), ids, details)
            counts, ids, details = passes[key]
            out[metric.label] = metric.summarize(counts, ids, dict(details))
        return out

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        return self.evaluate_batch([self], qrels, run, ctx)[self.label]

    def summarize(self, counts, ids: list[str], details: dict) -> MetricValue:
        raise NotImplementedError


class Hubness(KOccurrence):
    """Hubness: the skewness of the k-occurrence distribution of documents among each other's k nearest neighbours."""

    name = "hubness"
    upper_bound = None

    def summarize(self, counts, ids, details):
        import numpy as np

        top = np.argsort(-counts, kind="stable")[:5]
        details.update(k=min(self.k, max(len(ids) - 1, 0)), antihubs=antihub_share(counts),
                       max_occurrence=int(counts.max()) if len(counts) else 0,
                       hubs={ids[i]: int(counts[i]) for i in top})
        return MetricValue(skewness(counts), None, details)


class AntiHubs(KOccurrence):
    """Anti-hubs: the share of documents that are no other document's k nearest neighbour."""

    name = "antihubs"
    upper_bound = 1.0

    def summarize(self, counts, ids, details):
        details.update(k=min(self.k, max(len(ids) - 1, 0)), hubness=skewness(counts))
        return MetricValue(antihub_share(counts), None, details)


def k_occurrence(matrix, k: int):
    """N_k of every row of ``matrix`` (an int array): how many other rows have it among their
    ``k`` highest dot products (k is capped at rows − 1; ties go to the earlier row)."""
    import numpy as np

    n = len(matrix)
    k = min(k, n - 1)
    counts = np.zeros(n, dtype=np.int64)
    if k < 1:
        return counts
    for start in range(0, n, BLOCK):
        # Compared in single precision, as trec_eval compares scores: the last bits of a double
        # depend on how the product was blocked, and identical documents must tie.
        scores = (matrix[start:start + BLOCK] @ matrix.T).astype(np.float32)
        rows = np.arange(len(scores))
        scores[rows, rows + start] = -np.inf  # a document is not its own neighbour
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]  # the k-th highest score of each row
        above = scores > kth
        tied = scores == kth
        # of the documents tied at the k-th score, as many as still fit, in corpus order
        room = k - above.sum(axis=1, keepdims=True)
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
        counts += chosen.sum(axis=0)
    return counts


def skewness(counts) -> float:
    """The (population) skewness of ``counts``; 0 when they are all equal."""
    import numpy as np

    values = np.asarray(counts, dtype=np.float64)
    if len(values) == 0:
        return 0.0
    deviation = values.std()
    if not deviation > 0:
        return 0.0
    return float(((values - values.mean()) ** 3).mean() / deviation**3)


def antihub_share(counts) -> float:
    return float((counts == 0).mean()) if len(counts) else 0.0

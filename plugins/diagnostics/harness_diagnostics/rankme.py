"""``RankMe``: the effective rank of the document embedding matrix (Garrido et al., ICML 2023).

With σ₁ ≥ … ≥ σᵣ the singular values of the n × d matrix of document vectors (r = min(n, d)),
pᵢ = σᵢ / Σⱼ σⱼ + ε (ε = 1e-7, the paper's guard against log 0) and

    RankMe = exp(−Σᵢ pᵢ log pᵢ)

a value between 1 (every vector on one line) and r (the variance spread evenly over r
directions). It needs no judgments: a collapsed embedding space (low RankMe) is visible before
any query is run. The vectors are taken as the retriever scores them (normalised when it
normalises) and, as in the paper, not centred; ``center = true`` subtracts the mean vector first,
which discounts the common direction that anisotropic encoders share.

Cost: one SVD of the (sampled) n × d matrix, O(n·d²) time and O(n·d) memory: about 0.1 s for
10,000 × 384.
"""

from __future__ import annotations

from harness.sdk import Context, Metric, MetricValue, Param, Run

from .embeddings import EMBEDDINGS, SAMPLE, documents

EPSILON = 1e-7


class RankMe(Metric):
    """RankMe: the effective rank of the document embeddings (exp of the entropy of their singular values)."""

    name = "RankMe"
    params = {
        "sample": SAMPLE,
        "center": Param(bool, False, "subtract the mean document vector before the SVD"),
    }
    cutoff_rule = "none"
    per_query = False
    requires = (EMBEDDINGS,)
    upper_bound = None  # min(documents, dimensions)

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        matrix, _, details = documents(ctx, self.sample)
        details["centered"] = self.center
        return MetricValue(effective_rank(matrix, self.center), None, details)


def effective_rank(matrix, center: bool = False) -> float:
    """RankMe of ``matrix`` (rows are vectors); 0 for an empty or all-zero matrix."""
    import numpy as np

    if center and len(matrix):
        matrix = matrix - matrix.mean(axis=0)
    if matrix.size == 0:
        return 0.0
    singular = np.linalg.svd(matrix, compute_uv=False)
    total = singular.sum()
    if not total > 0:
        return 0.0
    p = singular / total + EPSILON
    return float(np.exp(-(p * np.log(p)).sum()))

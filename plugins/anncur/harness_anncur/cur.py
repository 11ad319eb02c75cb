"""The CUR approximation of a score matrix from anchor rows and columns (Yadav et al., 2022).

``R`` (anchor queries × documents) holds the exact scores of the anchor queries against every
document. For a test query scored exactly against the anchor documents ``a`` (a row ``c``), every
document's score is approximated as

    ŝ = c · U · R,   U = pinv(R[:, a])   (Moore-Penrose, singular values below rcond · σ_max cut)

When the scores are s(q, d) = φ(q) · ψ(d) of rank r, and both R and R[:, a] have rank r, ŝ is
exact (c · pinv(R[:, a]) is the query's coordinates in the anchor queries' row space); ``rcond``
cuts the singular values that float noise makes out of a rank-deficient R[:, a], which a plain
inverse would blow up. numpy is imported inside the functions: the plugin's module stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Projection:
    """``W = pinv(R[:, a]) · R`` for one set of anchor rows and anchor documents: a query's
    approximate scores are ``c · W``. ``rank`` is the numerical rank pinv kept."""

    anchors: tuple[int, ...]
    matrix: object  # numpy array, len(anchors) × documents
    rank: int


def projection(scores, anchors: Sequence[int], rcond: float) -> Projection:
    """``W`` for anchor documents ``anchors`` (column indices) of the anchor score matrix ``scores``."""
    import numpy as np

    block = scores[:, list(anchors)]
    inverse = np.linalg.pinv(block, rcond=rcond)  # anchors × rows
    if block.size:
        singular = np.linalg.svd(block, compute_uv=False)
        rank = int((singular > rcond * singular[0]).sum()) if singular[0] > 0 else 0
    else:
        rank = 0
    return Projection(tuple(anchors), inverse @ scores, rank)


def approximate(exact_anchor_scores: Sequence[float], proj: Projection):
    """Every document's approximate score (a numpy vector): ``c · W``, with the anchor documents'
    entries replaced by their exact scores ``c`` (known, so not approximated)."""
    import numpy as np

    c = np.asarray(exact_anchor_scores, dtype=np.float64)
    approx = c @ proj.matrix
    approx[list(proj.anchors)] = c
    return approx


def top(scores, budget: int, id_rank) -> list[int]:
    """Indices of the ``budget`` highest ``scores`` in trec_eval's order: score rounded to single
    precision descending, ties by document id descending (``id_rank``: each document's position
    in the ids sorted ascending)."""
    import numpy as np

    if budget <= 0:
        return []
    keys = np.asarray(scores, dtype=np.float64).astype(np.float32)
    order = np.lexsort((-np.asarray(id_rank), -keys))
    return order[:budget].tolist()

"""The similarity normalisations of DBNorm (Wang et al., EMNLP 2023), in numpy, vectorised.

Notation: ``S`` (queries × N) are the test queries' similarities to the N documents (dot products
of the dense retriever's vectors: cosines for normalised ones), ``B`` (bank queries × N) the query
bank's, ``G`` (gallery items × N) the gallery bank's (sampled documents against every document).

* IS (inverted softmax, QB-Norm): IS(q, d) = exp(β_q S[q,d]) / Σ_{b ∈ QB} exp(β_q B[b,d]).
* DIS (dynamic IS): a test query's whole row is IS when its top-1 document is in the activation
  set A_Q (the documents in some bank query's top ``activation_k``); otherwise it keeps S.
* DualIS: IS_Q(q, d) · IS_G(q, d), IS_G(q, d) = exp(β_g S[q,d]) / Σ_{g ∈ GB, g ≠ d} exp(β_g G[g,d]):
  the document itself is left out of its own gallery term.
* DualDIS: the row is DualIS when its top-1 document is in A_Q ∪ A_G (A_G: the documents in some
  gallery item's top ``activation_k``, the item itself excluded), else S.
* CSLS (Conneau et al., ICLR 2018): 2 S[q,d] − r_T(q) − r_S(d), r_T(q) the mean of q's ``csls_k``
  highest similarities to documents, r_S(d) the mean of d's ``csls_k`` highest to bank queries.

Scores are computed in the log domain (log IS = β S − logsumexp, a monotone map of the paper's
ratio, so every row's order is the paper's): exp(β·s) overflows float32 beyond β·s ≈ 88.

Ties: the document matrix handed in is in *trec order of ids* (document id descending, see
``trec_columns``), so "the first column" wins ties everywhere (``argmax``, the activation sets'
top k), which is the order trec_eval gives equal scores.
"""

from __future__ import annotations

BLOCK = 1024  # rows of a similarity block held at once (1024 × 11k float32: 45 MB)
METHODS = ("is", "dis", "dualis", "dualdis", "csls")


def trec_columns(doc_ids: list[str]):
    """The permutation putting documents in trec_eval's tie order (id descending)."""
    import numpy as np

    return np.array(sorted(range(len(doc_ids)), key=lambda i: doc_ids[i], reverse=True), dtype=np.int64)


def column_logsumexp(rows, docs, beta: float, exclude=None):
    """For every document d (column of ``rows @ docs.T``): log Σ_r exp(β · rows[r]·docs[d]),
    over the rows r, leaving out the pairs ``exclude`` names (``exclude[r]`` = the column of
    row r to leave out: a gallery item's own document; -1: none). Blockwise: O(BLOCK × N) memory."""
    import numpy as np

    total = np.full(len(docs), -np.inf)
    for start in range(0, len(rows), BLOCK):
        block = beta * (rows[start:start + BLOCK].astype(np.float64) @ docs.T.astype(np.float64))
        if exclude is not None:
            own = exclude[start:start + BLOCK]
            hit = own >= 0
            block[np.nonzero(hit)[0], own[hit]] = -np.inf
        top = block.max(axis=0)
        finite = np.isfinite(top)
        part = np.full(len(docs), -np.inf)
        part[finite] = top[finite] + np.log(np.exp(block[:, finite] - top[finite]).sum(axis=0))
        total = np.logaddexp(total, part)
    return total


def activation_set(rows, docs, k: int, exclude=None):
    """The documents in some row's top ``k`` (ties: the earlier column), as a boolean mask over
    the columns; ``exclude`` as in ``column_logsumexp``."""
    import numpy as np

    active = np.zeros(len(docs), dtype=bool)
    k = min(k, len(docs) - (1 if exclude is not None else 0))
    if k < 1:
        return active
    for start in range(0, len(rows), BLOCK):
        block = (rows[start:start + BLOCK] @ docs.T).astype(np.float32)
        if exclude is not None:
            own = exclude[start:start + BLOCK]
            hit = own >= 0
            block[np.nonzero(hit)[0], own[hit]] = -np.inf
        active[top_k_mask(block, k).any(axis=0)] = True
    return active


def top_k_mask(block, k: int):
    """Each row's k highest entries (ties: the earlier columns) as a boolean mask."""
    import numpy as np

    kth = -np.partition(-block, k - 1, axis=1)[:, k - 1:k]
    above = block > kth
    tied = block == kth
    room = k - above.sum(axis=1, keepdims=True)
    return above | (tied & (np.cumsum(tied, axis=1) <= room))


def top1(S):
    """Each row's best column (the earlier one among ties), compared in single precision."""
    import numpy as np

    return np.argmax(S.astype(np.float32), axis=1)


def mean_top_k(block, k: int, axis: int):
    """Mean of the k largest values along ``axis`` (k capped at that axis's length)."""
    import numpy as np

    k = min(k, block.shape[axis])
    if k < 1:
        return np.zeros(block.shape[1 - axis])
    return -np.partition(-block, k - 1, axis=axis).take(range(k), axis=axis).mean(axis=axis)


def normalized(method: str, S, *, log_q=None, log_g=None, beta_query: float = 1.0, beta_gallery: float = 1.0,
               active=None, r_bank=None, csls_k: int = 10):
    """The rows of ``S`` normalised by ``method``, given what the banks contribute:

    * ``log_q`` (N): ``column_logsumexp`` of the query bank at ``beta_query`` (is, dis, dualis, dualdis);
    * ``log_g`` (N): that of the gallery bank at ``beta_gallery``, items' own documents left out (dual*);
    * ``active`` (N, bool): the activation set (dis: A_Q; dualdis: A_Q ∪ A_G);
    * ``r_bank`` (N): r_S of every document (csls).
    """
    import numpy as np

    S = np.asarray(S, dtype=np.float64)
    if method == "csls":
        return 2 * S - mean_top_k(S, csls_k, axis=1)[:, None] - r_bank[None, :]
    out = beta_query * S - log_q[None, :]
    if method in ("dualis", "dualdis"):
        out = out + beta_gallery * S - log_g[None, :]
    if method in ("dis", "dualdis"):
        keep = ~active[top1(S)]  # rows whose top-1 is not a likely hub keep their similarities
        out[keep] = S[keep]
    return out


def ndcg_at(scores, gains: list[dict[int, float]], cutoff: int = 10):
    """Mean nDCG@cutoff (trec_eval's: gain = grade, discount log2(rank + 1), ideal from the judged
    grades) of rows of ``scores`` whose relevant documents (column → grade > 0) are ``gains``;
    rows with no relevant document are left out. Ties: the earlier column first."""
    import numpy as np

    k = min(cutoff, scores.shape[1])
    order = np.argsort(-scores.astype(np.float32), axis=1, kind="stable")[:, :k]
    discount = 1 / np.log2(np.arange(2, k + 2))
    values = []
    for row, judged in enumerate(gains):
        if not judged:
            continue
        got = np.array([judged.get(int(c), 0.0) for c in order[row]])
        ideal = np.sort(np.array(list(judged.values())))[::-1][:cutoff]
        values.append(float((got * discount[:len(got)]).sum() / (ideal * discount[:len(ideal)]).sum()))
    return float(np.mean(values)) if values else 0.0

"""The document embedding matrix the diagnostics read, from ``ctx.artifacts["embeddings"]``.

The artifact (published by a dense retriever's ``index``; docs/plugins/transformers.md) is a
dict with ``doc_ids`` and ``documents``, a float matrix with one row per id, in corpus order, as
the retriever scores them (L2-normalised when it normalises). Corpora larger than ``sample``
documents are represented by a seeded sample of rows, kept in corpus order so that ties between
rows resolve the same way in every run.
"""

from __future__ import annotations

from harness.sdk import Param

EMBEDDINGS = "embeddings"
SAMPLE = Param(int, 10000, "documents used at most: a larger corpus is represented by a sample of this many rows, "
               "drawn with the suite's seed", min=2)


def documents(ctx, sample: int):
    """``(matrix, ids, details)``: the rows used (float64, for stable sums) and their document ids."""
    import numpy as np

    artifact = ctx.artifacts[EMBEDDINGS]
    matrix, ids = np.asarray(artifact["documents"]), list(artifact["doc_ids"])
    if matrix.ndim != 2 or matrix.shape[0] != len(ids):
        raise ValueError(f"embeddings: {matrix.shape} documents matrix for {len(ids)} document ids")
    total = len(ids)
    if total > sample:
        rows = np.sort(np.random.default_rng(ctx.seed).choice(total, size=sample, replace=False))
        matrix, ids = matrix[rows], [ids[i] for i in rows]
    details = {"documents": total, "rows_used": len(ids), "dimensions": int(matrix.shape[1]),
               "sampled": total > sample, "normalized": artifact.get("normalized")}
    if total > sample:
        details["sample_seed"] = ctx.seed
    return matrix.astype(np.float64), ids, details

"""``dense``: dense retrieval with any transformers encoder, exact search.

``retrieve`` is two public steps, so that a measurement can time them apart:
``encode_queries(queries) -> QueryVectors`` and ``search(query_vectors, k) -> Run``.

No ``save``/``load``: the document vectors (the whole "index" of an exact search) are kept in the
embedding cache, keyed by what decides them, where the ``bi-encoder`` ranker finds them too. The
runner's index cache would store the same vectors a second time, under a key that also holds the
retriever-only parameters (``block_size``, ``query_prefix``, ``batch_size``), so the ranker could
never share them.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.components import Context, Retriever
from harness.params import Param
from harness.ranking import Run

from .base import ENCODER_PARAMS, EncoderComponent, QueryVectors
from .search import blocked_topk


class Dense(EncoderComponent, Retriever):
    """Dense retrieval: a transformers encoder (mean or CLS pooling), exact blocked top-k search."""

    name = "dense"
    devices = ("cpu", "cuda")
    params = {
        **ENCODER_PARAMS,
        "block_size": Param(int, 131072, "documents per tile of the exact search (2**24 scores a tile at most)",
                            min=1),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self._doc_ids: list[str] = []
        self._docs = None  # document vectors on the device

    def index(self, collection, ctx: Context) -> None:
        self._ready(ctx)
        self._doc_ids = [d.id for d in collection.docs]
        self._docs = self.corpus_vectors(collection, ctx).to(self._device)

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        if self._docs is None:
            raise RuntimeError("dense: call index() before retrieve()")
        self._note(ctx)
        encoded = self.encode_queries(queries)
        # For label-free diagnostics (hubness, anisotropy) of this cell.
        ctx.artifacts["embeddings"] = {
            "doc_ids": self._doc_ids, "documents": self._docs.cpu().numpy(),
            "query_ids": encoded.ids, "queries": encoded.vectors.cpu().numpy(),
            "normalized": self.normalize,
        }
        return self.search(encoded, k)

    def search(self, query_vectors: QueryVectors, k: int) -> Run:
        """The top k documents per query by dot product (the cosine when ``normalize``)."""
        scores, indices = blocked_topk(query_vectors.vectors, self._docs, k, self.block_size)
        scores, indices = scores.cpu().tolist(), indices.cpu().tolist()
        ids = self._doc_ids
        return Run.from_scores({
            qid: [(ids[i], s) for i, s in zip(rows, values, strict=True)]
            for qid, rows, values in zip(query_vectors.ids, indices, scores, strict=True)
        })

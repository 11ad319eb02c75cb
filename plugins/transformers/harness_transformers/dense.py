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

from harness.sdk import Context, Param, Retriever, Run

from . import cache
from .base import ENCODER_PARAMS, EncoderComponent, QueryVectors
from .search import blocked_topk
from .tokens import CHUNK


class Dense(EncoderComponent, Retriever):
    """Dense retrieval: a transformers encoder (mean or CLS pooling), exact blocked top-k search."""

    name = "dense"
    publishes = ("embeddings",)  # the corpus vectors, at index time (_publish)
    devices = ("cpu", "cuda")
    params = {
        **ENCODER_PARAMS,
        "block_size": Param(int, 131072, "documents per tile of the exact search (2**24 scores a tile at most)",
                            min=1),
    }

    # Corpus shards start on multiples of the window tokens.py sorts and batches texts in, so a
    # shard forms exactly the batches an unsharded index() forms: the same vectors, bit for bit.
    shard_unit = CHUNK

    def __init__(self, **params):
        super().__init__(**params)
        self._doc_ids: list[str] = []
        self._docs = None  # document vectors on the device

    def index(self, collection, ctx: Context) -> None:
        self._ready(ctx)
        self._doc_ids = [d.id for d in collection.docs]
        self._docs = self.corpus_vectors(collection, ctx).to(self._device)
        self._publish(ctx)

    def _publish(self, ctx: Context) -> None:
        # The corpus vectors, for label-free diagnostics (RankMe, hubness). Published when the
        # index is made, never by retrieve: a cell whose run came from the cache has the runner
        # make the index ready (the vectors from the embedding cache) and gets the same artifact.
        ctx.artifacts["embeddings"] = {"doc_ids": self._doc_ids, "documents": self._docs.cpu().numpy(),
                                       "normalized": self.normalize}

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        if self._docs is None:
            raise RuntimeError("dense: call index() before retrieve()")
        self._note(ctx)
        return self.search(self.encode_queries(queries), k)

    # Corpus shards (the harness's dask executor, harness/executors/shards.py): parts of the corpus
    # encoded on several workers, then merged into the very embedding cache entry index() reads.

    def index_cached(self, collection, ctx: Context) -> bool:
        """Whether index() would find the corpus's vectors in the embedding cache (nothing to shard)."""
        self._ready(ctx)
        return self.corpus_vectors(collection, ctx, encode=False) is not None

    def index_shard(self, collection, shard, folder, ctx: Context) -> None:
        """Encode documents ``shard.start`` to ``shard.stop`` into ``folder/embeddings.npy``."""
        import numpy as np

        self._ready(ctx)
        texts = [collection.contents(d) for d in collection.docs[shard.start:shard.stop]]
        matrix = self.encode_documents(texts, ctx, f"shard {shard.number + 1} of {shard.count}")
        np.save(folder / "embeddings.npy", matrix.numpy(), allow_pickle=False)

    def merge_index(self, collection, folders, ctx: Context) -> None:
        """The shards' vectors, in corpus order, stored as the corpus's embedding cache entry."""
        import numpy as np
        import torch

        self._ready(ctx)
        ids = [d.id for d in collection.docs]
        matrix = torch.cat([torch.from_numpy(np.load(f / "embeddings.npy", allow_pickle=False)) for f in folders])
        if matrix.shape[0] != len(ids):
            raise ValueError(f"dense: {len(folders)} shards hold {matrix.shape[0]} vectors for {len(ids)} documents")
        cache.store(ctx, self.embedding_key(collection), ids, matrix, shards=len(folders), device=self._device,
                    batch_size=self.batch_size, model=self._source.record(), compressed=self._compressed,
                    settings=self.settings_record())
        self._doc_ids, self._docs = ids, matrix.to(self._device)
        self._publish(ctx)

    def search(self, query_vectors: QueryVectors, k: int) -> Run:
        """The top k documents per query by dot product (the cosine when ``normalize``)."""
        scores, indices = blocked_topk(query_vectors.vectors, self._docs, k, self.block_size)
        # float64 holds every float32/bfloat16/float16 score exactly, as tolist() did.
        return Run.from_topk(query_vectors.ids, self._id_array(), indices.cpu().numpy(),
                             scores.cpu().double().numpy())

    def _id_array(self):
        """The document ids as a numpy object array, made once per index (not per search)."""
        import numpy as np

        ids = self._doc_ids
        cached = getattr(self, "_ids_cache", None)
        if cached is None or cached[0] is not ids:
            array = np.empty(len(ids), dtype=object)
            array[:] = ids
            cached = self._ids_cache = (ids, array)
        return cached[1]

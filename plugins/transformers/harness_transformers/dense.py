"""``dense``: dense retrieval with any transformers encoder, exact search or a FAISS index.

``retrieve`` is two public steps, so that a measurement can time them apart:
``encode_queries(queries) -> QueryVectors`` and ``search(query_vectors, k) -> Run``.

No ``save``/``load``: the document vectors (the whole "index" of an exact search) are kept in the
embedding cache, keyed by what decides them, where the ``bi-encoder`` ranker finds them too. The
runner's index cache would store the same vectors a second time, under a key that also holds the
retriever-only parameters (``block_size``, ``query_prefix``, ``batch_size``), so the ranker could
never share them. A FAISS index (``index`` other than ``exact``) is kept in the artifact cache by
faiss_index.py, under a key of the embedding key and its build settings only, so that search
settings (``ef_search``, ``nprobe``) reuse it.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.sdk import Context, Param, Retriever, Run, cache_key

from . import cache, faiss_index, models
from .base import ENCODER_PARAMS, RESOLVED, EncoderComponent, QueryVectors
from .models import locate
from .search import blocked_topk
from .tokens import CHUNK

# The FAISS parameters: None means the index type's default (faiss_index.DEFAULTS, default_nlist,
# default_pq_m). Each enters the identity only when set, and ``index`` only when not "exact", so
# suites that omit them keep their keys.
FAISS_PARAMS = {
    "index": Param(str, "exact", "exact (blocked torch search) | flat (FAISS IndexFlatIP, exact) | hnsw | ivf | "
                   "ivfpq (FAISS, approximate); inner product on the retriever's vectors",
                   choices=faiss_index.INDEXES),
    "M": Param(int, None, "hnsw: neighbours per node (build); default 32", nullable=True, min=2),
    "ef_construction": Param(int, None, "hnsw: candidate list while building; default 40", nullable=True, min=1),
    "ef_search": Param(int, None, "hnsw: candidate list while searching (search-time); default 16",
                       nullable=True, min=1),
    "nlist": Param(int, None, "ivf, ivfpq: inverted lists (build); default 4 sqrt(documents), at most "
                   "documents / 39", nullable=True, min=1),
    "nprobe": Param(int, None, "ivf, ivfpq: lists searched per query (search-time); default 1", nullable=True,
                    min=1),
    "pq_m": Param(int, None, "ivfpq: sub-quantisers of 8 bits (build), must divide the dimension; default the "
                  "largest divisor up to dimension / 4", nullable=True, min=1),
}


# Bump when query encoding changes in a way the key does not show. 2: one text per forward pass.
QUERY_FORMAT = 2


class Dense(EncoderComponent, Retriever):
    """Dense retrieval: a transformers encoder (mean or CLS pooling), exact blocked top-k search
    or a FAISS index (flat, HNSW, IVF, IVF-PQ)."""

    name = "dense"
    publishes = ("embeddings",)  # the corpus vectors, at index time (_publish)
    devices = ("cpu", "cuda")
    params = {
        **ENCODER_PARAMS,
        "block_size": Param(int, 131072, "documents per tile of the exact search (2**24 scores a tile at most)",
                            min=1),
        **FAISS_PARAMS,
    }

    # Corpus shards start on multiples of the window tokens.py sorts and batches texts in, so a
    # shard forms exactly the batches an unsharded index() forms: the same vectors, bit for bit.
    shard_unit = CHUNK

    def __init__(self, **params):
        super().__init__(**params)
        # Parameters become attributes, and the ``index`` parameter would hide the index() method.
        self.index_type = self.__dict__.pop("index")
        self._doc_ids: list[str] = []
        self._docs = None  # document vectors on the device
        self._faiss = self._faiss_cpu = self._gpu = None  # the FAISS index (on the GPU: a copy, and its resources)
        self._ids_cache: tuple | None = None  # (the id list, it as an object array): _id_array

    def identity(self, ctx) -> dict:
        """As every model component's, less ``index`` when ``exact`` and the FAISS parameters not
        set: the keys of suites that omit them are those from before they existed."""
        ident = super().identity(ctx)
        if ident.get("index") == "exact":
            del ident["index"]
        for name in faiss_index.PARAMS:
            if name in ident and ident[name] is None:
                del ident[name]
        return ident

    @classmethod
    def check_config(cls, params: dict, base_dir) -> list[tuple[str, str]]:
        """The model's checks, and for a FAISS index: faiss installed, ``pq_m`` dividing the
        model's dimension (its ``hidden_size``)."""
        found = super().check_config(params, base_dir)
        index = params.get("index", "exact")
        if index != "exact" and not faiss_index.available():
            found.append(("index", f"index {index!r} needs faiss: pip install faiss-cpu (or faiss-gpu)"))
        if index == "ivfpq" and params.get("pq_m") is not None:
            dim = _dimension(params, base_dir)
            why = faiss_index.pq_problem(params["pq_m"], dim) if dim else None
            if why:
                found.append(("pq_m", why))
        return found

    def index(self, collection, ctx: Context) -> None:
        self._ready(ctx)
        self._doc_ids = list(collection.doc_ids)
        self._docs = self.corpus_vectors(collection, ctx).to(self._device)
        self._index_faiss(collection, ctx)
        self._publish(ctx)

    def _index_faiss(self, collection, ctx: Context) -> None:
        """The FAISS index over the corpus vectors (from the artifact cache, else built), when asked for."""
        self._faiss = self._faiss_cpu = self._gpu = None
        if self.index_type == "exact":
            return
        vectors = self._docs.cpu().float().numpy()
        self._faiss_cpu = faiss_index.ready(ctx, self.embedding_key(collection), vectors, self.index_type,
                                            self.config)
        self._faiss, self._gpu = faiss_index.to_device(self._faiss_cpu, self.index_type, self._device)
        ctx.phase["faiss"]["gpu"] = self._gpu is not None

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

    # The Embedder capability (harness.sdk.Embedder): other components (a query-bank normaliser)
    # read this retriever's vectors through ctx.encoder, from the embedding cache, with no index.

    def embed_corpus(self, collection, ctx: Context):
        """The corpus's document ids and vectors (float32, on the CPU), from the embedding cache,
        else encoded and stored there: the very vectors index() searches."""
        self._ready(ctx)
        return list(collection.doc_ids), self.corpus_vectors(collection, ctx)

    def embed_queries(self, texts, ctx: Context):
        """Vectors of query texts (``query_prefix`` before each), float32 on the CPU, one row per
        text, each encoded alone; kept in the artifact cache under a key of the query-side
        encoding and the texts, so a bank of queries is encoded once."""
        import json

        import numpy as np
        import torch

        self._ready(ctx)
        texts = list(texts)
        key = self.query_embedding_key(texts)
        record = ctx.phase["query_embeddings"] = {"cache": "off" if ctx.cache is None else "miss", "key": key,
                                                   "texts": len(texts)}
        folder = ctx.cache.get(cache.KIND, key) if ctx.cache is not None else None
        if folder is not None and json.loads((folder / "texts.json").read_text(encoding="utf-8")) == texts:
            record["cache"] = "hit"
            return torch.from_numpy(np.load(folder / "embeddings.npy", allow_pickle=False))
        # One text per forward pass: a text's vector never depends on the texts batched with it
        # (padding changes the float rounding), which a bank's normalisation would amplify by β.
        encoder = self._encoder()
        matrix = torch.cat([encoder.encode([text], self.query_prefix) for text in texts]) if texts else \
            encoder.encode([], self.query_prefix)  # float32, CPU
        if ctx.cache is not None:
            with ctx.cache.write(cache.KIND, key, texts=len(texts), device=self._device) as out:
                np.save(out / "embeddings.npy", matrix.numpy(), allow_pickle=False)
                (out / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        return matrix

    def query_embedding_key(self, texts) -> str:
        """The key of query vectors: as the corpus's embedding key (model files and state, encoding
        settings, device, library versions), with the query prefix instead of the document
        prefix, and the texts instead of the corpus."""
        skipped = ("doc_prefix", "block_size", *faiss_index.PARAMS, "index")
        encoding = {k: v for k, v in self.config.items()
                    if k not in skipped + RESOLVED and self.params[k].affects_output}
        encoding.update(device=self._device, runtime=models.runtime(), **self._model_defaults())
        return cache_key("query-embeddings", cache.FORMAT, QUERY_FORMAT, self._model_key(), encoding, list(texts))

    # Corpus shards (the harness's dask executor, harness/executors/shards.py): parts of the corpus
    # encoded on several workers, then merged into the very embedding cache entry index() reads.

    def index_cached(self, collection, ctx: Context) -> bool:
        """Whether index() would find the corpus's vectors in the embedding cache (nothing to shard)."""
        self._ready(ctx)
        return self.corpus_vectors(collection, ctx, encode=False) is not None

    def index_shard(self, collection, shard, folder, ctx: Context) -> None:
        """Encode documents ``shard.start`` to ``shard.stop`` into ``folder/embeddings.npy``
        (memory-mapped as it is filled)."""
        import numpy as np

        self._ready(ctx)
        texts = [collection.contents(d) for d in collection.docs[shard.start : shard.stop]]
        out = np.lib.format.open_memmap(folder / "embeddings.npy", mode="w+", dtype=np.float32,
                                        shape=(len(texts), self._model.config.hidden_size))
        self.encode_into(out, texts, ctx, f"shard {shard.number + 1} of {shard.count}")
        out.flush()

    def merge_index(self, collection, folders, ctx: Context) -> None:
        """The shards' vectors, copied a shard at a time in corpus order into the corpus's
        embedding cache entry (the one store every reader shares), then indexed from there."""
        import numpy as np
        import torch

        self._ready(ctx)
        ids = collection.doc_ids
        parts = [np.load(f / "embeddings.npy", mmap_mode="r", allow_pickle=False) for f in folders]
        rows, dim = sum(len(p) for p in parts), self._model.config.hidden_size
        if rows != len(ids) or any(p.ndim != 2 or p.shape[1] != dim for p in parts):
            raise ValueError(f"dense: {len(folders)} shards hold {rows} vectors for {len(ids)} documents "
                             f"(of widths {sorted({p.shape[-1] for p in parts})}, the model's is {dim})")
        with cache.filling(ctx, self.embedding_key(collection), ids, dim) as fill:
            start = 0
            for part in parts:
                fill.out[start : start + len(part)] = part
                start += len(part)
            fill.info.update(shards=len(folders), device=self._device, batch_size=self.batch_size,
                             model=self._source.record(), compressed=self._compressed,
                             settings=self.settings_record())
        self._doc_ids, self._docs = list(ids), torch.from_numpy(fill.vectors).to(self._device)
        self._index_faiss(collection, ctx)
        self._publish(ctx)

    def search(self, query_vectors: QueryVectors, k: int) -> Run:
        """The top k documents per query by dot product (the cosine when ``normalize``); with a
        FAISS index, the documents it finds (fewer than k where an approximate index finds fewer)."""
        if self._faiss is not None:
            gpu = self._gpu is not None and k <= faiss_index.GPU_MAX_K
            scores, indices = faiss_index.search(self._faiss if gpu else self._faiss_cpu,
                                                 query_vectors.vectors.cpu().float().numpy(), k, self.index_type,
                                                 self.config, gpu=gpu)
            # -1: FAISS's padding where it found fewer than k documents; from_topk skips it
            return Run.from_topk(query_vectors.ids, self._id_array(), indices, scores.astype("float64"))
        scores, indices = blocked_topk(query_vectors.vectors, self._docs, k, self.block_size)
        # float64 holds every float32/bfloat16/float16 score exactly, as tolist() did.
        return Run.from_topk(query_vectors.ids, self._id_array(), indices.cpu().numpy(),
                             scores.cpu().double().numpy())

    def _id_array(self):
        """The document ids as a numpy object array, made once per index (not per search)."""
        import numpy as np

        ids = self._doc_ids
        cached = self._ids_cache
        if cached is None or cached[0] is not ids:
            array = np.empty(len(ids), dtype=object)
            array[:] = ids
            cached = self._ids_cache = (ids, array)
        return cached[1]


def _dimension(params: dict, base_dir) -> int | None:
    """The vectors' dimension, from the model's config.json (``hidden_size``), when found."""
    import json

    try:
        folder = locate(params["model"], params.get("revision"), base_dir)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8")) if folder else {}
    except (ValueError, OSError):
        return None
    value = config.get("hidden_size", config.get("d_model", config.get("dim")))
    return value if isinstance(value, int) and value > 0 else None

"""FAISS indexes for the ``dense`` retriever (``index = "flat" | "hnsw" | "ivf" | "ivfpq"``).

Every index scores by inner product on the vectors the retriever makes (the cosine when they are
normalised, as by default). ``flat`` (``IndexFlatIP``) is exact, like the default ``exact`` torch
search; ``hnsw`` (``IndexHNSWFlat``), ``ivf`` (``IndexIVFFlat``) and ``ivfpq`` (``IndexIVFPQ``, 8
bits per sub-quantiser) are approximate.

The index is built once and kept in the artifact cache (kind ``faiss``: ``index.faiss``, written
by ``faiss.write_index``) under a key of the corpus's embedding key, the index type, its *build*
settings as resolved (``M``, ``ef_construction``, ``nlist``, ``pq_m``, the training sample's size
and seed) and the faiss version. The *search* settings (``ef_search``, ``nprobe``) are not in it:
they are set on the loaded index before each search, so sweeping them reuses one index.

IVF training: a sample of ``min(n, 256 × nlist)`` documents (IVF-PQ: ``min(n, 256 × max(nlist,
256))``, for the sub-quantisers' 256 codes) drawn with a fixed seed; the corpus must hold at least
39 × nlist documents (FAISS's minimum per list), an IVF-PQ index also at least 256.
FAISS pads a result row with index ``-1`` when it finds fewer than k documents; those never reach
a run (``Run.from_topk`` skips negative indices), so a row may hold fewer than k documents.

On a ``cuda`` device, when faiss has GPU support (``faiss-gpu``), flat and IVF indexes are copied
to the GPU for search (``to_device``); HNSW has no GPU implementation and stays on the CPU. FAISS's
OpenMP pool is set to torch's thread count (the suite's ``measure.threads``) before building and
searching, so the two searches run on the same threads.
"""

from __future__ import annotations

import math
import time

KIND = "faiss"
# Bump when an index is built differently in a way the key does not show.
FORMAT = 1
INDEXES = ("exact", "flat", "hnsw", "ivf", "ivfpq")
# The dense retriever's parameters per index: build-time ones enter this cache's key, search-time
# ones only the stage's identity (and so the run's key).
BUILD = {"flat": (), "hnsw": ("M", "ef_construction"), "ivf": ("nlist",), "ivfpq": ("nlist", "pq_m")}
SEARCH = {"flat": (), "hnsw": ("ef_search",), "ivf": ("nprobe",), "ivfpq": ("nprobe",)}
PARAMS = ("M", "ef_construction", "ef_search", "nlist", "nprobe", "pq_m")
DEFAULTS = {"M": 32, "ef_construction": 40, "ef_search": 16, "nprobe": 1}  # FAISS's own
TRAIN_MIN, TRAIN_MAX = 39, 256  # training vectors per list: FAISS warns below 39, samples above 256
PQ_CODES = 256  # 8 bits per sub-quantiser
SEED = 0
GPU_MAX_K = 2048  # FAISS's GPU indexes return at most this many results (and probe at most this many lists)


def available() -> bool:
    """Whether faiss can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("faiss") is not None


def default_nlist(n: int) -> int:
    """4 √n lists (FAISS's guideline: 4–16 √n), fewer when the corpus cannot train that many."""
    return max(1, min(round(4 * math.sqrt(n)), n // TRAIN_MIN))


def default_pq_m(dim: int) -> int:
    """The largest divisor of ``dim`` up to ``dim / 4``: about 4 dimensions per sub-quantiser."""
    return max(m for m in range(1, max(1, dim // 4) + 1) if dim % m == 0)


def pq_problem(pq_m: int, dim: int) -> str | None:
    """Why ``pq_m`` sub-quantisers cannot split ``dim``-dimensional vectors, or None."""
    if dim % pq_m == 0:
        return None
    divisors = [m for m in range(1, dim + 1) if dim % m == 0]
    near = sorted(divisors, key=lambda m: abs(m - pq_m))[:3]
    return (f"pq_m {pq_m} must divide the vectors' dimension {dim} (each sub-quantiser takes dim / pq_m "
            f"dimensions): e.g. {', '.join(map(str, sorted(near)))}")


def build_settings(index: str, params: dict, n: int, dim: int) -> dict:
    """The build settings of ``index`` over ``n`` vectors of ``dim``, defaults filled in; raises
    ValueError for a corpus too small to train on or a ``pq_m`` that does not divide ``dim``."""
    settings = {}
    if index == "hnsw":
        settings = {name: params.get(name) or DEFAULTS[name] for name in BUILD["hnsw"]}
    elif index in ("ivf", "ivfpq"):
        nlist = params.get("nlist") or default_nlist(n)
        needed = TRAIN_MIN * nlist if index == "ivf" else max(TRAIN_MIN * nlist, PQ_CODES)
        if n < needed:
            raise ValueError(f"dense: index {index!r} with nlist {nlist} needs at least {needed} documents to "
                             f"train (39 × nlist{', and 256 codes per sub-quantiser' if index == 'ivfpq' else ''}),"
                             f" the corpus has {n}: lower nlist or use index 'flat' or 'hnsw'")
        # up to 256 per list, and for PQ up to 256 per code of a sub-quantiser too
        sample = TRAIN_MAX * max(nlist, PQ_CODES if index == "ivfpq" else 1)
        settings = {"nlist": nlist, "train": min(n, sample), "seed": SEED}
        if index == "ivfpq":
            pq_m = params.get("pq_m") or default_pq_m(dim)
            why = pq_problem(pq_m, dim)
            if why:
                raise ValueError(f"dense: {why}")
            settings["pq_m"] = pq_m
    return settings


def search_settings(index: str, params: dict) -> dict:
    return {name: params.get(name) or DEFAULTS[name] for name in SEARCH[index]}


def key(embedding_key: str, index: str, settings: dict) -> str:
    import faiss

    from harness.sdk import cache_key

    return cache_key(KIND, FORMAT, embedding_key, index, settings, faiss.__version__)


def threads() -> None:
    """FAISS's OpenMP pool to torch's thread count."""
    import faiss
    import torch

    faiss.omp_set_num_threads(torch.get_num_threads())


def build(vectors, index: str, settings: dict):
    """A FAISS index of ``index`` over ``vectors`` (float32 numpy, one row per document)."""
    import faiss
    import numpy as np

    n, dim = vectors.shape
    ip = faiss.METRIC_INNER_PRODUCT
    if index == "flat":
        made = faiss.IndexFlatIP(dim)
    elif index == "hnsw":
        made = faiss.IndexHNSWFlat(dim, settings["M"], ip)
        made.hnsw.efConstruction = settings["ef_construction"]
    else:
        quantizer = faiss.IndexFlatIP(dim)
        if index == "ivf":
            made = faiss.IndexIVFFlat(quantizer, dim, settings["nlist"], ip)
        else:
            made = faiss.IndexIVFPQ(quantizer, dim, settings["nlist"], settings["pq_m"], 8, ip)
        rows = np.arange(n)
        if settings["train"] < n:
            rows = np.sort(np.random.default_rng(settings["seed"]).choice(n, settings["train"], replace=False))
        made.train(np.ascontiguousarray(vectors[rows]))
    made.add(vectors)
    return made


def ready(ctx, embedding_key: str, vectors, index: str, params: dict):
    """The index over ``vectors``: from the artifact cache, else built (and stored there when the
    context has a cache). What happened goes into ``ctx.phase["faiss"]``."""
    import faiss
    import numpy as np

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    settings = build_settings(index, params, *vectors.shape)
    entry = key(embedding_key, index, settings)
    record = ctx.phase["faiss"] = {"index": index, "build": settings, "key": entry,
                                   "cache": "off" if ctx.cache is None else "miss", "faiss": faiss.__version__}
    folder = ctx.cache.get(KIND, entry) if ctx.cache is not None else None
    if folder is not None:
        record.update(cache="hit", built=ctx.cache.info(folder))
        made = faiss.read_index(str(folder / "index.faiss"))
        if made.ntotal == len(vectors):
            return made
        record.update(cache="miss", discarded=f"the index holds {made.ntotal} vectors, the corpus {len(vectors)}")
    elif ctx.cache is not None and entry in ctx.cache.discarded:
        record["discarded"] = ctx.cache.discarded[entry]
    threads()
    started = time.perf_counter()
    made = build(vectors, index, settings)
    record.update(vectors=len(vectors), build_seconds=round(time.perf_counter() - started, 3))
    if ctx.phase.get("cache") == "hit":  # the vectors were served, but this phase built an index
        ctx.phase["cache"] = "miss"
    if ctx.cache is not None:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with ctx.cache.write(KIND, entry, created=created, index=index, settings=settings,
                             seconds=record["build_seconds"], faiss=faiss.__version__) as folder:
            faiss.write_index(made, str(folder / "index.faiss"))
    return made


def to_device(made, index: str, device: str):
    """``(index to search, GPU resources or None)``: a copy on the GPU when ``device`` is cuda,
    faiss has GPU support and sees a GPU, and the index type runs there (not HNSW); else ``made``."""
    import faiss

    if not str(device).startswith("cuda") or index == "hnsw":
        return made, None
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        return made, None
    number = int(str(device).partition(":")[2] or 0)
    resources = faiss.StandardGpuResources()
    return faiss.index_cpu_to_gpu(resources, number, made), resources


def search(made, queries, k: int, index: str, params: dict, gpu: bool = False):
    """``(scores, indices)`` of the k best documents per query (float32 and int64 numpy arrays,
    queries × min(k, documents)); ``-1`` where FAISS found fewer."""
    import faiss
    import numpy as np

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, made.ntotal)
    if k == 0:
        return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
    space = faiss.GpuParameterSpace() if gpu else faiss.ParameterSpace()
    for name, value in search_settings(index, params).items():
        space.set_index_parameter(made, {"ef_search": "efSearch"}.get(name, name), value)
    threads()
    return made.search(queries, k)

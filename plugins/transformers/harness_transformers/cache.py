"""The embedding cache: a corpus's document vectors, shared by every component and run that
would compute the same ones.

An entry lives in the harness's artifact cache (kind ``embeddings``), which verifies the size and
SHA-256 of every file it serves and discards a damaged entry, so a corrupt or truncated file is
rebuilt, never used. Its key is everything that decides the vectors: the model's files (their
hashes, not their location), the state of the model after compression when it was compressed,
every parameter that applies to documents (pooling, normalisation, max length, document prefix,
batch size: all but the query- and search-only ones ``base.DOCUMENT_NEUTRAL`` names), the device the model runs on, the
versions of torch, transformers and tokenizers, and the corpus fingerprint (documents and the
fields encoded). Batch size and device are in it although in float32 they change the vectors by
float noise only: a dynamically quantised (int8) model scales activations per batch, so its
vectors, and the rankings, depend on the batch size, and a result must never depend on which
run filled the cache. An entry is ``embeddings.npy`` (float32, one row per document in corpus
order) and ``doc_ids.json``: plain data, never pickle.
"""

from __future__ import annotations

import json

from harness.sdk import cache_key

KIND = "embeddings"
# Bump when the encoding changes in a way the key does not show (pooling arithmetic, say).
# 2: batch size, device and library versions entered the key.
FORMAT = 2


def embedding_key(model: dict, encoding: dict, corpus_fingerprint: str) -> str:
    return cache_key(KIND, FORMAT, model, encoding, corpus_fingerprint)


def lookup(ctx, key: str, doc_ids: list[str]):
    """The cached matrix (a float32 CPU tensor) for ``doc_ids``, or None; the outcome goes into
    ``ctx.phase["embeddings"]``."""
    record = ctx.phase["embeddings"] = {"cache": "off" if ctx.cache is None else "miss", "key": key}
    folder = ctx.cache.get(KIND, key) if ctx.cache is not None else None
    if folder is None:
        if ctx.cache is not None and key in ctx.cache.discarded:
            record["discarded"] = ctx.cache.discarded[key]
        return None
    import numpy as np
    import torch

    cached_ids = json.loads((folder / "doc_ids.json").read_text(encoding="utf-8"))
    if cached_ids != doc_ids:  # the corpus fingerprint covers the ids; this would be a key bug
        record["discarded"] = "document ids differ from the collection's"
        return None
    record.update(cache="hit", built=ctx.cache.info(folder))
    ctx.phase["cache"] = "hit"  # the phase encodes nothing: results show it served, not measured
    return torch.from_numpy(np.load(folder / "embeddings.npy", allow_pickle=False))


def store(ctx, key: str, doc_ids: list[str], matrix, **info) -> None:
    """Write an entry (nothing when the context has no cache)."""
    if ctx.cache is None:
        return
    import time

    import numpy as np

    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with ctx.cache.write(KIND, key, created=created, documents=len(doc_ids), **info) as folder:
        np.save(folder / "embeddings.npy", matrix.numpy(), allow_pickle=False)
        (folder / "doc_ids.json").write_text(json.dumps(doc_ids, ensure_ascii=False), encoding="utf-8")

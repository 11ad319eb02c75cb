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

The entry is also where the vectors live while a run uses them: ``lookup`` memory-maps
``embeddings.npy`` (copy-on-write: nothing a reader does reaches the file), and ``filling`` has
the encoder write its batches straight into a memory-mapped file that then becomes the entry
(and is mapped again from there, copy-on-write), so
a corpus's vectors are never a second time in memory; the dense retriever's exact search, the
FAISS build, the ``bi-encoder`` ranker and the ``embeddings`` artifact the diagnostics read all
share those pages. The harness never rewrites an entry's file in place (entries are made by
renaming a folder and removed by unlinking it, which leaves a mapping intact); a file edited in
place while a run reads it would change what the run reads, as with any memory-mapped store.
Without a cache (``--force``'s cache aside: ``output.cache = false``) the
vectors are an ordinary array.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

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
    return torch.from_numpy(np.load(folder / "embeddings.npy", mmap_mode="c", allow_pickle=False))


class Filling:
    """What ``filling`` hands out: ``out``, the array to fill; ``info``, what the entry records;
    after the block, ``vectors``: the entry's vectors, memory-mapped copy-on-write from its file
    like a lookup's (nothing done to them reaches the file), or ``out`` itself without a cache."""

    def __init__(self, out, info: dict):
        self.out, self.info, self.vectors = out, info, None


@contextmanager
def filling(ctx, key: str, doc_ids: list[str], dim: int) -> Iterator[Filling]:
    """A ``Filling`` whose ``out`` is an empty float32 array of ``len(doc_ids)`` × ``dim`` to fill
    in corpus order, and whose ``info`` dict takes what the entry should record (``seconds``,
    ``device``...). When the block ends without error, ``out`` (a memory-mapped file beside the
    cache's entries, its name this fill's own) becomes the entry's ``embeddings.npy`` and
    ``vectors`` maps the entry. Without a cache ``out`` is an ordinary array and nothing is
    stored; on an error nothing is."""
    import time
    import uuid

    import numpy as np

    if ctx.cache is None:
        fill = Filling(np.empty((len(doc_ids), dim), dtype=np.float32), {})
        yield fill
        fill.vectors = fill.out
        return
    parent = ctx.cache.root / KIND
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".filling-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npy"  # per fill: threads too
    try:
        fill = Filling(np.lib.format.open_memmap(staging, mode="w+", dtype=np.float32, shape=(len(doc_ids), dim)),
                       {})
        yield fill
        fill.out.flush()
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with ctx.cache.write(KIND, key, created=created, documents=len(doc_ids), **fill.info) as folder:
            os.replace(staging, folder / "embeddings.npy")  # the same file system: a rename
            (folder / "doc_ids.json").write_text(json.dumps(doc_ids, ensure_ascii=False), encoding="utf-8")
        del fill.out  # the writable map goes; readers get a copy-on-write one, as from a lookup
        # The entry now in place (this fill's, or an identical one another process wrote first).
        fill.vectors = np.load(ctx.cache.root / KIND / key / "embeddings.npy", mmap_mode="c", allow_pickle=False)
    finally:
        staging.unlink(missing_ok=True)

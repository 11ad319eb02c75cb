"""One measurement of the corpus-store benchmark (test_corpus_bench.py), in a fresh process:

    python corpus_worker.py SYSTEM DOCUMENTS STORE MODEL CACHE

Loads the synthetic collection of DOCUMENTS documents through the dataset provider with
``corpus_store = STORE`` (``memory`` or ``disk``, harness/corpus.py), then indexes it with SYSTEM
(``bm25``, or ``dense``: the tiny model, exact search, its vectors written to the artifact cache
CACHE) and retrieves 200 queries, top 100. Prints one JSON line: the memory the loaded collection
holds (``RssAnon``, the process's own pages, and ``RssFile``, pages mapped from files, which the
system can drop and read again, both as growth over the imports), the growth of the peak
resident set while indexing (``VmHWM`` after the /proc/self/clear_refs reset), the process's peak
(collection, imports and model included), CPU seconds, and a SHA-256 of the run's TREC lines, so
the two stores' runs can be compared. One thread throughout.
"""

from __future__ import annotations

import collections
import gc
import hashlib
import json
import sys
import time
from pathlib import Path

QUERIES, K = 200, 100


def status(field: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM, RssAnon, RssFile)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def main(system: str, documents: int, store: str, model: str, cache_dir: str) -> dict:
    import torch

    torch.set_num_threads(1)
    from harness.cache import ArtifactCache
    from harness.components import Context
    from harness.datasets import DatasetSpec, load_dataset
    from harness.plugins import load_registry

    if system == "bm25":
        from harness_lexical import BM25

        engine = BM25()
    else:
        from harness_transformers import Dense

        engine = Dense(model=model, pooling="mean", normalize=True, max_length=128, batch_size=256, device="cpu")
    registry = load_registry()
    ctx = Context(cache=ArtifactCache(Path(cache_dir)), phase=collections.defaultdict(dict))
    engine.identity(ctx)
    engine.setup(ctx)  # the model loaded before the baseline: its memory is not the corpus's
    gc.collect()
    anon, file = status("RssAnon"), status("RssFile")
    spec = DatasetSpec(name="synthetic", provider="synthetic",
                       params={"documents": documents, "topics": QUERIES}, corpus_store=store)
    started = time.process_time()
    collection = load_dataset(spec, registry, Path.cwd())
    load_seconds = time.process_time() - started
    gc.collect()
    held_anon, held_file = status("RssAnon") - anon, status("RssFile") - file
    Path("/proc/self/clear_refs").write_text("5")
    before = status("VmRSS")
    started = time.process_time()
    engine.index(collection, ctx)
    index_seconds = time.process_time() - started
    index_peak = status("VmHWM") - before
    process_peak = status("VmHWM")
    run = engine.retrieve(collection.queries, K, Context())
    lines = "".join(f"{q} {d} {s!r}\n" for q, docs in run.scores.items() for d, s in docs.items())
    return {
        "system": system, "documents": documents, "store": store, "storage": collection.describe()["storage"],
        "load_s": load_seconds, "held_anon": held_anon, "held_file": held_file,
        "index_s": index_seconds, "index_peak": index_peak, "process_peak": process_peak,
        "run_sha256": hashlib.sha256(lines.encode()).hexdigest(), "pairs": sum(map(len, run.scores.values())),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])))

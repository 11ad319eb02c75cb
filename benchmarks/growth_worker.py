"""One measurement of the growth benchmark (test_growth_bench.py), run as a fresh process so that
no earlier measurement's heap shows in its peak memory:

    python growth_worker.py SYSTEM DOCUMENTS MODEL CACHE

SYSTEM is ``bm25`` (plugins/lexical, default parameters), ``dense`` (the tiny model, exact
search) or ``hnsw`` (the same retriever with ``index = "hnsw"``, FAISS's defaults M 32,
efConstruction 40, efSearch 16). ``dense`` and ``hnsw`` share the artifact cache CACHE: ``dense``
encodes the corpus and stores its vectors there, so ``hnsw``, run after it, reads them back and its
index time is the HNSW build (plus reading the vectors), not a second encoding.

Prints one JSON line: the collection's generation (seconds, peak), then per phase (``index``,
``retrieve``) the wall seconds and the growth of the peak resident set during the phase (``VmHWM``
after resetting it to the current RSS by writing 5 to /proc/self/clear_refs), the whole process's
peak, the batch QPS (queries / CPU seconds), the median one-query latency (CPU milliseconds of 20
queries retrieved one at a time), and nDCG@10 against the planted judgments. All times are CPU
time of this process.
Everything runs on one thread (torch and FAISS), so that the other processes of a shared machine
do not decide the slope.
"""

from __future__ import annotations

import collections
import gc
import json
import statistics
import sys
import time
from pathlib import Path

QUERIES, K, SINGLE = 200, 100, 20  # queries retrieved as a batch; top k; queries timed one by one


def status(field: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def measured(call):
    """(result, CPU seconds, peak RSS growth in bytes) of ``call()``. CPU seconds of this process
    (all its threads; one intra-op thread here): other processes on a shared machine do not
    lengthen them, as they would wall seconds."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # peak := current
    before = status("VmRSS")
    started = time.process_time()
    result = call()
    return result, time.process_time() - started, status("VmHWM") - before


def retriever(system: str, model: str):
    if system == "bm25":
        from harness_lexical import BM25

        return BM25()
    from harness_transformers import Dense

    index = "hnsw" if system == "hnsw" else "exact"
    return Dense(model=model, pooling="mean", normalize=True, max_length=128, batch_size=256, index=index,
                 device="cpu")


def ndcg_at_10(run, qrels) -> float:
    """nDCG@10 with gains = grades, log2 discounts, the ideal from the judgments (trec_eval's)."""
    import math

    total = 0.0
    for qid, judged in qrels.items():
        ranked = list(run[qid])[:10] if qid in run else []
        dcg = sum(judged.get(d, 0) / math.log2(r + 2) for r, d in enumerate(ranked))
        ideal = sum(g / math.log2(r + 2) for r, g in enumerate(sorted(judged.values(), reverse=True)[:10]))
        total += dcg / ideal
    return total / len(qrels)


def main(system: str, documents: int, model: str, cache_dir: str) -> dict:
    import torch

    torch.set_num_threads(1)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    from harness.cache import ArtifactCache
    from harness.components import Context
    from harness.synthetic import SyntheticSpec, generate

    collection, gen_seconds, gen_peak = measured(lambda: generate(SyntheticSpec(documents=documents,
                                                                                queries=QUERIES)))
    warm = retriever(system, model)  # imports, model loading and first-call set-up outside the phases
    small = generate(SyntheticSpec(documents=50, queries=5, relevant=2, seed=1))
    warm.index(small, Context(cache=None, phase=collections.defaultdict(dict)))
    warm.retrieve(small.queries, 5, Context())

    engine = retriever(system, model)
    ctx = Context(cache=ArtifactCache(Path(cache_dir)), phase=collections.defaultdict(dict))
    _, index_seconds, index_peak = measured(lambda: engine.index(collection, ctx))
    process_peak = status("VmHWM")
    run, retrieve_seconds, retrieve_peak = measured(lambda: engine.retrieve(collection.queries, K, Context()))
    singles = []
    for qid in list(collection.queries)[:SINGLE]:
        started = time.process_time()
        engine.retrieve({qid: collection.queries[qid]}, K, Context())
        singles.append(time.process_time() - started)
    faiss_record = dict(ctx.phase.get("faiss", {}))
    return {
        "system": system, "documents": documents, "queries": len(collection.queries),
        "generate_s": gen_seconds, "generate_peak": gen_peak,
        "index_s": index_seconds, "index_peak": index_peak, "process_peak": process_peak,
        "retrieve_s": retrieve_seconds, "retrieve_peak": retrieve_peak,
        "qps": len(collection.queries) / retrieve_seconds, "latency_ms": 1000 * statistics.median(singles),
        "ndcg10": ndcg_at_10(run, collection.qrels),
        # hnsw must find dense's vectors: its index time is then the HNSW build (and the read)
        "encoded": "encode_seconds" in ctx.phase.get("embeddings", {}),
        "hnsw_build_s": faiss_record.get("build_seconds"),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])))

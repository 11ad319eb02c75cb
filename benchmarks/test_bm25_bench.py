"""The ``bm25`` retriever against raw bm25s, the library it scores with: indexing and retrieval of
a seeded synthetic corpus, 200,000 documents × 1,000 queries, top 1000, one thread.

Both sides get the same tokens and parameters: the harness's ``preset = "bm25s"`` is bm25s's
README usage (``bm25s.tokenize(texts, stopwords="en")``, ``bm25s.BM25()``: k1 1.5, b 0.75,
Lucene's formula). Index: texts → a ready index (tokenising included). Retrieve: query texts →
top 1000 (the harness's ``Run``; bm25s's ``(documents, scores)`` arrays, ``n_threads=0``).

``test_ratios`` times each side in turn (``time.process_time``, single-threaded, so other
processes on the machine do not decide the ratio), takes the minimum of the interleaved repeats,
and prints harness ÷ bm25s. ``test_peak_memory`` runs each side in a fresh process and prints the
growth of its peak resident set (``VmHWM``, reset by writing 5 to ``/proc/self/clear_refs``, the
same reset for both; ``resource.getrusage``'s ``ru_maxrss`` cannot be reset) during indexing and
during retrieval, and the whole process's peak while indexing (the corpus's texts included).
Retrieval's RSS growth says little: its arrays (some MB) mostly land in pages the allocator kept
from indexing, so it reads near 0 for either side at 1,000,000 documents. A second retrieval then
runs under ``tracemalloc`` (which numpy reports its arrays to): the peak of memory allocated during
it, the result included, independent of the allocator's state. docs/plugins/lexical.md quotes
both. No ratio is asserted: noise must never fail a run.
``test_same_results`` asserts that the harness's run is exact: the same float32 scores as bm25s's
for each query, ties in trec_eval's order (score, then document id, descending) also at the cut
at rank k.

``HARNESS_BM25_1M=1`` adds the same three tests at 1,000,000 documents (about 15 minutes more on a
2-core machine, some 3 GB of memory per side).

``pytest benchmarks --benchmark-disable`` (the CI smoke) runs at 2,000 documents and checks the
results only.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
bm25s = pytest.importorskip("bm25s")
from harness_lexical import BM25  # noqa: E402

from harness.collection import Collection, Document  # noqa: E402
from harness.components import Context  # noqa: E402

DOCS, SMOKE_DOCS, MILLION, QUERIES, K, ROUNDS = 200_000, 2_000, 1_000_000, 1_000, 1000, 3
VOCAB, DOC_LENGTH = 100_000, 60
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS reset needs Linux /proc")


def corpus(n_docs: int, n_queries: int = QUERIES, seed: int = 0):
    """(doc ids, texts, {query id: text}): words of 3–10 letters drawn from a Zipfian (s = 1.07)
    vocabulary, documents of Poisson(60) words, queries of 2–8 words from the same distribution (the
    commonest word is in most documents: a query's candidates may be most of the corpus)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 11, VOCAB)
    chars = letters[rng.integers(0, 26, lengths.sum())]
    cuts = np.cumsum(lengths)[:-1]
    words = np.array(["".join(w) for w in np.split(chars, cuts)], dtype=object)
    cdf = np.cumsum(1.0 / np.arange(1, VOCAB + 1) ** 1.07)
    cdf /= cdf[-1]
    sizes = rng.poisson(DOC_LENGTH, n_docs).clip(min=1)
    drawn = words[np.searchsorted(cdf, rng.random(sizes.sum()))].tolist()
    texts, at = [], 0
    for size in sizes.tolist():
        texts.append(" ".join(drawn[at : at + size]))
        at += size
    queries = {}
    for q in range(n_queries):
        ranks = np.searchsorted(cdf, rng.random(rng.integers(2, 9)))
        queries[f"q{q}"] = " ".join(words[ranks].tolist())
    return [f"doc{i}" for i in range(n_docs)], texts, queries


def harness_index(ids, texts):
    retriever = BM25(preset="bm25s")
    retriever.index(
        Collection("synthetic", [Document(i, t) for i, t in zip(ids, texts, strict=True)], {}, {}), Context()
    )
    return retriever


def harness_retrieve(retriever, queries):
    return retriever.retrieve(queries, K, Context())


def bm25s_index(ids, texts):
    model = bm25s.BM25()
    model.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    return model


def bm25s_retrieve(model, queries):
    tokens = bm25s.tokenize(list(queries.values()), stopwords="en", return_ids=False, show_progress=False)
    return model.retrieve(tokens, k=min(K, model.scores["num_docs"]), n_threads=0, show_progress=False)


SIZES = (DOCS, MILLION) if os.environ.get("HARNESS_BM25_1M") == "1" else (DOCS,)
GROUP = f"bm25: documents x {QUERIES:,} queries, top {K}: harness / bm25s"


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n:,}docs")
def data(request):
    """The corpus at the size given (200,000; 1,000,000 with ``HARNESS_BM25_1M=1``), at the smoke
    size under ``--benchmark-disable`` (the larger sizes then skipped)."""
    if request.config.getoption("benchmark_disable"):
        if request.param != DOCS:
            pytest.skip("the 1,000,000-document comparison runs with benchmarks enabled only")
        return corpus(SMOKE_DOCS)
    return corpus(request.param)


def test_same_results(data):
    """Every query's run equals the exact top k computed from bm25s's full score vector (documents
    with a query term, i.e. score > 0 under Lucene's idf, in trec_eval's order, cut at k), and
    bm25s's own top k has the same scores rank by rank."""
    ids, texts, queries = data
    run = harness_retrieve(harness_index(ids, texts), queries)
    model = bm25s_index(ids, texts)
    _, top_scores = bm25s_retrieve(model, queries)
    tokens = bm25s.tokenize(list(queries.values()), stopwords="en", return_ids=False, show_progress=False)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
    k = min(K, len(ids))
    checked = set(list(queries)[: len(queries) if len(ids) <= SMOKE_DOCS else 100])  # full vectors cost
    for n, qid in enumerate(queries):
        got = run[qid]
        theirs = top_scores[n][top_scores[n] > 0]
        assert np.array_equal(np.array(list(got.values()), dtype=np.float32), theirs), qid
        if qid in checked:
            scores = model.get_scores(tokens[n])
            matched = np.flatnonzero(scores > 0)
            order = np.lexsort((rank[matched], scores[matched]))[::-1][:k]
            expected = {ids[d]: float(scores[d]) for d in matched[order].tolist()}
            assert list(got.items()) == list(expected.items()), qid
    if len(ids) >= DOCS:  # the full size: most queries fill k, so the cut at k is exercised
        assert sum(map(len, run.scores.values())) > len(queries) * (k // 2)


@pytest.mark.benchmark(group=GROUP)
def test_ratios(benchmark, data):
    if benchmark.disabled:
        pytest.skip("ratios are measured only with benchmarks enabled (make bench)")
    ids, texts, queries = data

    def timed(function, *args):
        gc.collect()
        started = time.process_time()
        result = function(*args)
        return time.process_time() - started, result

    def measure() -> dict[str, float]:
        best = dict.fromkeys(("harness index", "bm25s index", "harness retrieve", "bm25s retrieve"), float("inf"))
        for _ in range(ROUNDS):
            for side, index, retrieve in (("harness", harness_index, harness_retrieve),
                                          ("bm25s", bm25s_index, bm25s_retrieve)):  # fmt: skip
                seconds, built = timed(index, ids, texts)
                best[f"{side} index"] = min(best[f"{side} index"], seconds)
                seconds, _ = timed(retrieve, built, queries)
                best[f"{side} retrieve"] = min(best[f"{side} retrieve"], seconds)
                del built
        return best

    best = benchmark.pedantic(measure, rounds=1, iterations=1)
    print(f"\nbm25, {len(ids):,} docs x {len(queries):,} queries, top {K}, 1 thread, min of {ROUNDS} interleaved")
    for phase in ("index", "retrieve"):
        ratio = best[f"harness {phase}"] / best[f"bm25s {phase}"]
        benchmark.extra_info[f"{phase} ratio"] = round(ratio, 3)
        print(f"{phase:<9} harness {best[f'harness {phase}']:7.2f} s  bm25s {best[f'bm25s {phase}']:7.2f} s  "
              f"ratio {ratio:5.2f}x")  # fmt: skip


# Peak memory in a fresh process per side: in a long test session freed memory stays resident.
PEAK = """
import gc, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import test_bm25_bench as bench

def status(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1]) * 1024

ids, texts, queries = bench.corpus(int(sys.argv[3]))
index, retrieve = getattr(bench, sys.argv[2] + "_index"), getattr(bench, sys.argv[2] + "_retrieve")
index(ids[:100], texts[:100])  # imports and first-call set-up outside the measured phases
out = {}
for phase, call in (("index", lambda: index(ids, texts)), ("retrieve", lambda: retrieve(built, queries))):
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # peak := current
    before = status("VmRSS")
    result = call()
    out[phase] = status("VmHWM") - before
    if phase == "index":
        built, out["process"] = result, status("VmHWM")  # the whole process's peak while indexing
    del result
import tracemalloc  # retrieval again: the peak of what it allocates, whatever the allocator reuses
gc.collect()
tracemalloc.start()
result = retrieve(built, queries)
out["allocated"] = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps(out))
"""


def peak_growth(side: str, n_docs: int) -> dict[str, int]:
    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", PEAK, here, side, str(n_docs)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


@linux
@pytest.mark.benchmark(group=GROUP)
def test_peak_memory(benchmark, data):
    if benchmark.disabled:
        pytest.skip("peak memory is measured only with benchmarks enabled (make bench)")
    n_docs = len(data[0])
    peaks = benchmark.pedantic(
        lambda: {s: peak_growth(s, n_docs) for s in ("harness", "bm25s")}, rounds=1, iterations=1
    )
    mb = {s: {p: v / 2**20 for p, v in peak.items()} for s, peak in peaks.items()}
    print(f"\nbm25, {n_docs:,} docs: peak RSS growth (MB), fresh process each; allocated: tracemalloc peak")
    for phase in ("index", "retrieve", "process", "allocated"):
        what = {"process": "index, whole process", "allocated": "retrieve, allocated"}.get(phase, f"{phase} growth")
        ratio = mb["harness"][phase] / mb["bm25s"][phase] if mb["bm25s"][phase] else float("nan")
        benchmark.extra_info[f"{phase} peak ratio"] = round(ratio, 3)
        print(f"{what:<19} harness {mb['harness'][phase]:7.0f} MB  bm25s {mb['bm25s'][phase]:7.0f} MB  "
              f"ratio {ratio:5.2f}x")  # fmt: skip

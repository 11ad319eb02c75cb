"""Exact top-100 search, 1,000 queries over 100,000 random 384-dimensional vectors: the dense
retriever's blocked search against one ``torch.topk`` over the complete score matrix.

Same results (scores identical; documents the same up to the order of exact ties), lower peak
memory, time within 1.2× (docs/plugins/transformers.md quotes the numbers). Peak memory is the
growth of a fresh process's peak resident set during one search (``VmHWM``, reset by writing 5 to
``/proc/self/clear_refs``): tracemalloc does not see torch's allocations. ``pytest benchmarks
--benchmark-disable`` (the CI smoke) runs each once on a tenth of the documents, in narrower
tiles (else one tile would hold every score).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from benchdata import unit_vectors

torch = pytest.importorskip("torch")
from harness_transformers import Dense  # noqa: E402
from harness_transformers.search import blocked_topk  # noqa: E402

QUERIES, DOCS, DIM, K = 1_000, 100_000, 384, 100
BLOCK = Dense.params["block_size"].default
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py
GROUP = pytest.mark.benchmark(
    timer=time.process_time, group=f"exact top-{K}: {QUERIES:,} queries x {DOCS:,} documents ({DIM}-d)"
)


def full_topk(queries, docs, k):
    return (queries @ docs.T).topk(k, dim=1)


@pytest.fixture(scope="module")
def vectors(request):
    """(queries, documents, block size)."""
    smoke = request.config.getoption("benchmark_disable")
    queries, docs = unit_vectors(QUERIES, DOCS // 10 if smoke else DOCS, DIM)
    return queries, docs, 1024 if smoke else BLOCK


# Peak memory is measured in a fresh process: in a long test session the allocator serves large
# blocks from memory earlier tests freed but kept resident, and the peak would not move at all.
PEAK = """
import sys, torch
from pathlib import Path
from harness_transformers.search import blocked_topk

def status(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1]) * 1024

queries, docs, k, block = (int(a) for a in sys.argv[1:])
generator = torch.Generator().manual_seed(0)
q, d = torch.randn(queries, DIM, generator=generator), torch.randn(docs, DIM, generator=generator)
search = (lambda d: blocked_topk(q, d, k, block)) if block else (lambda d: (q @ d.T).topk(k, dim=1))
search(d[: 2 * k])  # thread pools and kernel workspaces start here, not in the measured search
Path("/proc/self/clear_refs").write_text("5")  # peak := current
before = status("VmRSS")
search(d)
print(status("VmHWM") - before)
"""


def peak_growth(docs, block: int = 0) -> int:
    """Bytes the peak resident set grows by during one search (block 0: the full matrix)."""
    code = PEAK.replace("DIM", str(DIM))
    args = [str(a) for a in (QUERIES, len(docs), K, block)]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return int(done.stdout)


linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS reset needs Linux /proc")


@GROUP
@linux
def test_harness_blocked_search(benchmark, vectors):
    queries, docs, block = vectors
    benchmark.extra_info["peak_rss_growth_mb"] = round(peak_growth(docs, block) / 2**20, 1)
    benchmark.pedantic(blocked_topk, args=(queries, docs, K, block), rounds=7, warmup_rounds=1)


@GROUP
@linux
def test_torch_topk_full_matrix(benchmark, vectors):
    queries, docs, _ = vectors
    benchmark.extra_info["peak_rss_growth_mb"] = round(peak_growth(docs) / 2**20, 1)
    benchmark.pedantic(full_topk, args=(queries, docs, K), rounds=7, warmup_rounds=1)


@linux
def test_same_results_and_lower_peak_memory(vectors):
    queries, docs, block = vectors
    blocked, full = blocked_topk(queries, docs, K, block), full_topk(queries, docs, K)
    assert torch.equal(blocked[0], full[0])  # the same scores, bit for bit
    scores = queries @ docs.T
    assert torch.equal(scores.gather(1, blocked[1]), blocked[0])  # each document has its score
    del scores
    blocked_peak, full_peak = peak_growth(docs, block), peak_growth(docs)
    assert full_peak >= 4 * len(queries) * len(docs)  # the score matrix, as float32
    assert blocked_peak < full_peak / 2

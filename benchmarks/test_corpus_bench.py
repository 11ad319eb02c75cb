"""Documents on disk (harness/corpus.py) against documents in memory: what the loaded collection
holds, what indexing it costs, and the same runs. BM25 and dense (the tiny random model, exact
search) on the synthetic collection of 300,000 documents, and 1,000,000 with
``HARNESS_CORPUS_1M=1``; each (system, store) in a fresh process (corpus_worker.py documents the
figures). The dense runs of each size share one artifact cache, so the second store finds the
vectors the first encoded, as a user's second run would: its index time is reading them.

``test_stores`` prints the table docs/datasets.md quotes and asserts that the two stores' runs
are identical (same TREC lines, hashed) and that a corpus on disk holds less than half the
memory the same documents take as objects. The CI smoke (``--benchmark-disable``) runs it at 2,000
documents with ``disk`` only against ``memory``: runs identical, nothing printed to the docs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("harness_lexical")
pytest.importorskip("harness_transformers")

HERE = Path(__file__).resolve().parent
MB = 2**20
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS figures need Linux /proc")


def measure(system: str, documents: int, store: str, model: Path, cache: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(HERE / "corpus_worker.py"), system, str(documents), store,
                           str(model), str(cache)], capture_output=True, text=True, env=env)  # fmt: skip
    if done.returncode:
        raise AssertionError(f"corpus_worker {system} {documents} {store}: exit {done.returncode}\n"
                             f"{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| system | documents | store | load s | held: own MB | held: file-mapped MB | index s | "
             "index peak MB | process peak MB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['system']} | {r['documents']:,} | {r['store']} | {r['load_s']:.1f} | "
                     f"{r['held_anon'] / MB:,.0f} | {r['held_file'] / MB:,.0f} | {r['index_s']:.1f} | "
                     f"{r['index_peak'] / MB:,.0f} | {r['process_peak'] / MB:,.0f} |")
    return "\n".join(lines)


@linux
@pytest.mark.benchmark(group="corpus store: memory against disk")
def test_stores(benchmark, tmp_path_factory):
    from harness.synthetic import tiny_model

    smoke = benchmark.disabled
    folder = tmp_path_factory.mktemp("corpus-store")
    model = tiny_model(folder / "tiny-model")
    sizes = (2_000,) if smoke else (300_000,) + ((1_000_000,) if os.environ.get("HARNESS_CORPUS_1M") == "1" else ())
    rows = []
    for documents in sizes:
        for system in ("bm25", "dense"):
            for store in ("memory", "disk"):
                rows.append(measure(system, documents, store, model, folder / f"cache-{documents}"))
    text = benchmark.pedantic(lambda: table(rows), rounds=1, iterations=1)
    if not smoke:  # printed before the checks: a failing check still shows what was measured
        print(f"\ncorpus store, one thread, CPU times\n{text}")
    for r in rows:
        assert r["storage"] == r["store"], r
    for memory, disk in zip(rows[::2], rows[1::2], strict=True):
        assert memory["run_sha256"] == disk["run_sha256"] and memory["pairs"] == disk["pairs"] > 0, (memory, disk)
        if not smoke:
            assert disk["held_anon"] < memory["held_anon"] / 2, (memory, disk)

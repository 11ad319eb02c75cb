"""Scaling out: a suite of 8 independent cells, each burning about 10 s of CPU on one thread, run by
the local executor (one cell after another) and by the Dask executor with two workers on a
LocalCluster the run starts (its start-up and every cell's process start included).

``make bench`` runs it for real (about two minutes); ``pytest benchmarks --benchmark-disable``
(the CI smoke) runs 4 cells of 0.05 s: a few seconds, mostly the cluster's start and stop.
docs/distributed.md quotes the ratio; the target is at least 1.6 times faster on two cores.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from harness import hookimpl
from harness.components import Retriever
from harness.params import Param
from harness.plugins import load_registry
from harness.ranking import Run
from harness.runner import run_suite
from harness.suite import load_suite

CELLS = 8
GROUP = pytest.mark.benchmark(group="dask: 8 independent CPU-bound cells, local sequential vs 2 Dask workers")
TIMES: dict[str, float] = {}


class Burner(Retriever):
    """Burns ``seconds`` of CPU time on one thread in pure Python (never sleeps), then returns one
    document per query."""

    name = "burner"
    params = {"seconds": Param(float, 10.0), "tag": Param(int, 0, "makes the cells' configurations differ")}

    def index(self, collection, ctx):
        self.first = collection.docs[0].id

    def retrieve(self, queries, k, ctx):
        end, x = time.thread_time() + self.seconds, 0
        while time.thread_time() < end:
            for i in range(10_000):
                x = (x * 31 + i) % 1_000_003
        return Run.from_scores({qid: {self.first: 1.0} for qid in queries})


@hookimpl
def harness_retrievers():
    return [Burner]


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory, request, monkeypatch_module):
    smoke = request.config.getoption("benchmark_disable", False)
    seconds, cells = (0.05, 4) if smoke else (10.0, CELLS)
    folder = tmp_path_factory.mktemp("dask-bench")
    (folder / "qrels").mkdir()
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "a document"}) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a query"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    pipelines = "".join(f'[[pipelines]]\nname = "burn{i}"\nretriever = {{plugin = "burner", seconds = {seconds}, '
                        f'tag = {i}}}\n' for i in range(cells))
    path = folder / "bench.toml"
    path.write_text(f'name = "bench"\nk = 10\nmetrics = ["AP"]\n[[datasets]]\nsource = "beir:{folder}"\n'
                    f'{pipelines}[measure]\nthreads = 1\n[output]\ncache = false\nleaderboard = []\n')
    return path, cells


@pytest.fixture(scope="module")
def monkeypatch_module():
    """The burner is a plugin (this module), in this process and in every worker process."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HARNESS_PLUGIN_MODULES", "test_dask_bench")
    yield patch
    patch.undo()


def run(path, cells: int, tmp_path, executor: str) -> float:
    registry = load_registry(os.environ)
    suite = load_suite(path, [f'execution.executor="{executor}"', "execution.workers=2"], registry=registry)
    start = time.perf_counter()
    outcome = run_suite(suite, results_dir=tmp_path / executor, registry=registry, new=True)
    seconds = time.perf_counter() - start
    assert len(outcome.results) == cells and not outcome.failed
    return seconds


@GROUP
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_eight_cpu_bound_cells(benchmark, suite_file, tmp_path, executor):
    TIMES[executor] = benchmark.pedantic(run, args=(*suite_file, tmp_path, executor), rounds=1, iterations=1)
    benchmark.extra_info["seconds"] = TIMES[executor]
    if len(TIMES) == 2:
        ratio = TIMES["local"] / TIMES["dask"]
        benchmark.extra_info["speed-up"] = round(ratio, 2)
        print(f"\nlocal {TIMES['local']:.1f} s, dask (2 workers) {TIMES['dask']:.1f} s: {ratio:.2f}x")

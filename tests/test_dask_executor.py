"""The Dask executor on a LocalCluster (127.0.0.1, two worker processes, one thread each), shared by
every test here: the same metrics as the local executor, worker faults, a killed client, shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import registry_with

from harness.components import Progress
from harness.results import MANIFEST, read_json
from harness.runner import run_suite
from harness.suite import load_suite

distributed = pytest.importorskip("distributed")
TESTS = Path(__file__).parent
ROOT = TESTS.parent

BODY = """
name = "spread"
k = 5
metrics = ["AP", "nDCG@3"]

[[datasets]]
source = "beir:{beir}"
"""


def pipelines(*tables: str) -> str:
    return "".join(f'\n[[pipelines]]\nname = "p{i}"\nretriever = {t}\n' for i, t in enumerate(tables))


@pytest.fixture(scope="module")
def cluster():
    """Workers inherit HARNESS_PLUGIN_MODULES (they find the fakes) and, like a LocalCluster the
    executor starts, let the harness count attempts itself (allowed-failures = 0)."""
    import dask

    before = os.environ.get("HARNESS_PLUGIN_MODULES")
    os.environ["HARNESS_PLUGIN_MODULES"] = "fakes"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                         dashboard_address="127.0.0.1:0", memory_limit=0)
    yield local
    local.close()
    if before is None:
        os.environ.pop("HARNESS_PLUGIN_MODULES", None)
    else:
        os.environ["HARNESS_PLUGIN_MODULES"] = before


def run(path: Path, results: Path, overrides=(), **options):
    registry = registry_with()
    return run_suite(load_suite(path, list(overrides), registry=registry), results_dir=results, registry=registry,
                     **options)


def on(cluster) -> list[str]:
    return ["execution.executor=\"dask\"", f"execution.scheduler=\"{cluster.scheduler_address}\""]


def comparable(result: dict) -> dict:
    """What must not depend on the executor, as written to disk (an in-process result holds tuples)."""
    return json.loads(json.dumps({k: result[k] for k in ("metrics", "per_query", "evaluation", "dataset", "config",
                                                         "status")}))


def test_quickstart_bm25_cells_equal_the_local_executor(cluster, irds_cranfield, tmp_path):
    suite = ROOT / "suites" / "quickstart.toml"
    options = {"pipelines": ["bm25", "bm25-stemmed"]}
    quick = ["measure.latency=[]", "measure.memory=false"]
    local = run(suite, tmp_path / "local", quick, **options)
    spread = run(suite, tmp_path / "dask", quick + on(cluster), **options)
    assert [r["cell"]["id"] for r in spread.results] == [r["cell"]["id"] for r in local.results]
    addresses = set(cluster.scheduler_info["workers"])
    for a, b in zip(local.results, spread.results, strict=True):
        assert a["status"] == b["status"] == "ok"
        assert comparable(a) == comparable(b)  # every metric and per-query value exactly equal
        assert (local.run_dir / a["run_file"]).read_text() == (spread.run_dir / b["run_file"]).read_text()
        assert b["execution"]["executor"] == "dask" and b["execution"]["worker"]["address"] in addresses
        assert b["hardware"]["hash"] == a["hardware"]["hash"]  # measured on the worker: the same machine here
    manifest = read_json(spread.run_dir / MANIFEST)
    assert manifest["executor"]["name"] == "dask" and len(manifest["executor"]["workers"]) == 2
    assert manifest["status"] == "finished"


def test_cells_spread_over_workers_record_what_ran_alongside(cluster, write_suite, tmp_path):
    tables = [f'{{plugin = "sleepy", seconds = 0.8, tag = {i}}}' for i in range(4)]
    path = write_suite(BODY + pipelines(*tables))
    outcome = run(path, tmp_path / "r", on(cluster))
    assert not outcome.failed and [r["cell"]["pipeline"] for r in outcome.results] == ["p0", "p1", "p2", "p3"]
    workers = {r["execution"]["worker"]["address"] for r in outcome.results}
    assert len(workers) == 2  # both workers had cells
    for result in outcome.results:
        execution = result["execution"]
        assert execution["attempts"] == 1 and execution["isolation"] == "subprocess"
        alongside = execution["concurrent"]["alongside"]
        assert alongside and all(a["worker"] != execution["worker"]["address"] for a in alongside)
        on_disk = read_json(outcome.run_dir / "cells" / f"{result['cell']['slug']}.json")
        assert on_disk["execution"]["concurrent"] == execution["concurrent"]
    assert not list(outcome.run_dir.rglob("*.tmp"))


def test_cells_sharing_a_first_stage_compute_it_once(cluster, write_suite, tmp_path):
    first = '{plugin = "overlap-persistent", weight = 3.0}'
    reranked = f'\n[[pipelines]]\nname = "p2"\nretriever = {first}\nranker = {{plugin = "reverse", depth = 3}}\n'
    path = write_suite(BODY + pipelines(first, '{plugin = "overlap"}') + reranked)
    outcome = run(path, tmp_path / "r", on(cluster))
    lead, _, reranked = outcome.results
    assert lead["phases"]["retrieve"]["cache"] == "miss" and reranked["phases"]["retrieve"]["cache"] == "hit"
    assert "tiny/p2/cpu" not in [a["job"] for a in lead["execution"]["concurrent"]["alongside"]]


def test_measured_cells_run_one_at_a_time_per_machine(cluster, write_suite, tmp_path):
    tables = [f'{{plugin = "sleepy", seconds = 0.3, tag = {i}}}' for i in range(3)]
    path = write_suite(BODY + pipelines(*tables) + "\n[measure]\nmemory = true\nthreads = 1\n")
    outcome = run(path, tmp_path / "r", on(cluster))
    assert not outcome.failed
    for result in outcome.results:  # the host's lock held each cell alone on this machine
        assert result["execution"]["concurrent"] == {"allowed": False, "alongside": []}
        assert result["execution"]["cpus"] == result["execution"]["threads"]["affinity"]
        assert result["memory"]["peak_rss"]["value"] > 0
    manifest = read_json(outcome.run_dir / MANIFEST)
    assert manifest["executor"]["exclusive_per_host"] and manifest["executor"]["cells_at_once"] == 1


@pytest.mark.parametrize("target", ["worker", "self"])
def test_a_cell_whose_worker_dies_is_retried(cluster, write_suite, tmp_path, target):
    marker = tmp_path / "killed-once"
    path = write_suite(BODY + pipelines(f'{{plugin = "mortal", marker = "{marker}", target = "{target}"}}',
                                        '{plugin = "overlap"}'))
    outcome = run(path, tmp_path / "r", on(cluster))
    assert marker.exists() and not outcome.failed
    retried = outcome.results[0]["execution"]
    assert retried["attempts"] == 2
    assert retried["retried"][0].startswith("WorkerLost: KilledWorker" if target == "worker" else "Killed: ")
    assert outcome.results[0]["metrics"] == outcome.results[1]["metrics"]  # mortal is overlap once it lives


def test_a_cell_that_keeps_killing_its_worker_is_recorded_failed(cluster, write_suite, tmp_path):
    marker = tmp_path / "killed"
    path = write_suite(BODY + pipelines(f'{{plugin = "mortal", marker = "{marker}", always = true}}')
                       + "\n[execution]\nretries = 1\n")
    outcome = run(path, tmp_path / "r", on(cluster))
    (failed,) = outcome.failed
    error = failed["error"]
    assert error["type"] == "WorkerLost" and "attempt 2 of 2; no retries left" in error["message"]
    assert failed["execution"]["attempts"] == 2 and failed["hardware"] is None  # the machine went with its worker
    assert read_json(outcome.run_dir / "cells" / f"{failed['cell']['slug']}.json")["error"]["type"] == "WorkerLost"


DRIVER = """
import sys
from fakes import registry_with
from harness.runner import run_suite
from harness.suite import load_suite
registry = registry_with()
suite = load_suite(sys.argv[1], sys.argv[3:], registry=registry)
run_suite(suite, results_dir=sys.argv[2], registry=registry)
"""


def test_a_killed_client_is_resumed_by_the_next_run(cluster, write_suite, tmp_path):
    tables = [f'{{plugin = "sleepy", seconds = {s}, tag = {i}}}' for i, s in enumerate([0.2, 0.2, 20, 20, 0.2])]
    path = write_suite(BODY + pipelines(*tables))
    results = tmp_path / "r"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(path), str(results), *on(cluster)], env=env)
    deadline = time.monotonic() + 60
    while len(list(results.glob("spread/*/cells/*.json"))) < 2:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no cell finished in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (run_dir,) = (results / "spread").iterdir()
    done_before = len(list(run_dir.glob("cells/*.json")))
    assert 2 <= done_before < 5 and read_json(run_dir / MANIFEST)["status"] == "running"
    start = time.monotonic()  # the killed run's 20 s cells were stopped on the workers: no waiting for them
    outcome = run(path, results, [*on(cluster), "pipelines.p2.seconds=0.2", "pipelines.p3.seconds=0.2"])
    assert time.monotonic() - start < 15
    assert outcome.resumed and outcome.run_dir == run_dir and outcome.kept == done_before
    assert not outcome.failed and read_json(run_dir / MANIFEST)["status"] == "finished"
    assert not list(run_dir.rglob("*.tmp"))


def test_a_large_corpus_is_encoded_in_shards_on_the_workers(cluster, write_suite, tmp_path):
    body = BODY + pipelines('{plugin = "overlap-sharded"}', '{plugin = "overlap-sharded", weight = 2.0}')
    path = write_suite(body)
    local = run(path, tmp_path / "local")
    lines = Lines()
    sharded = run(path, tmp_path / "dask", [*on(cluster), "execution.shard_documents=3"], progress=lines)
    planned = [f"dask: encoding tiny/{p} (8 documents) in 3 shards" for p in ("p0", "p1")]
    assert [line for line in lines.lines if "shards" in line] == planned  # two configurations, two indexes
    for a, b in zip(local.results, sharded.results, strict=True):
        assert comparable(a) == comparable(b)
        assert a["phases"]["index"]["cache"] == "miss"
        index = b["phases"]["index"]
        assert index["cache"] == "hit", "the cell loaded the index its shards were merged into"
        shards = index["built"]["shards"]
        assert [(s["shard"], s["of"], s["documents"]) for s in shards] == [(0, 3, 3), (1, 3, 3), (2, 3, 2)]
        own = f"of tiny/{b['cell']['pipeline']}"  # its shards and merge ended before it began
        assert not [a for a in b["execution"]["concurrent"]["alongside"] if a["job"].endswith(own)]
    cache = tmp_path / "dask" / ".cache"
    assert not [p for p in (cache / "shards").iterdir() if not p.name.startswith(".")]  # merged, then removed
    assert len([p for p in (cache / "indexes").iterdir() if not p.name.startswith(".")]) == 2
    lines.lines.clear()
    again = run(path, tmp_path / "dask", [*on(cluster), "execution.shard_documents=3", "k=4"], new=True,
                progress=lines)
    assert all(r["phases"]["index"]["cache"] == "hit" for r in again.results)
    assert not [line for line in lines.lines if "shards" in line]  # the index was ready: nothing sharded again


class Lines(Progress):
    def __init__(self):
        self.lines = []

    def log(self, message):
        self.lines.append(message)


def test_command_line_executor_options(cluster, write_suite, tmp_path, capsys):
    from harness.cli import main

    path = write_suite(BODY + pipelines('{plugin = "overlap"}'))
    results = tmp_path / "r"
    assert main(["run", str(path), "--results", str(results), "--quiet", "--scheduler", cluster.scheduler_address]) == 0
    (run_dir,) = (results / "spread").iterdir()
    assert read_json(run_dir / MANIFEST)["executor"]["scheduler"] == cluster.scheduler_address
    assert main(["run", str(path), "--results", str(results), "--workers", "0"]) == 2
    assert "execution.workers" in capsys.readouterr().err

    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        status = main(["run", str(path), "--results", str(results), "--new", "--scheduler", "tcp://127.0.0.1:9"])
    assert status == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"

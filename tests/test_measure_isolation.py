"""Cells in worker processes: same results, memory per phase, threads and affinity, and the ways a
worker can end badly (killed, timed out, crashed), each recorded by the parent."""

from __future__ import annotations

import os
import time

import pytest
from fakes import MIB, WordOverlap, plugin_env, registry_with

from harness.measure import isolation
from harness.runner import run_suite
from harness.suite import load_suite

SUITE = """
name = "iso"
k = 5
metrics = ["AP", "nDCG@3"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "overlap"
retriever = {plugin = "overlap"}

[[pipelines]]
name = "reranked"
retriever = {plugin = "two-step"}
ranker = {plugin = "reverse", depth = 2}
"""


@pytest.fixture
def plugins(monkeypatch):
    """The fakes as a plugin module, in this process's environment: workers inherit it."""
    monkeypatch.setenv("HARNESS_PLUGIN_MODULES", plugin_env()["HARNESS_PLUGIN_MODULES"])


def run(write_suite, tmp_path, body=SUITE, overrides=(), name="suite.toml"):
    registry = registry_with()
    suite = load_suite(write_suite(body, name), overrides, registry=registry)
    return run_suite(suite, results_dir=tmp_path / "results", registry=registry, new=True)


def test_isolated_cells_match_in_process_cells(plugins, write_suite, tmp_path):
    inline = run(write_suite, tmp_path, overrides=['measure.isolation="none"', "output.cache=false"])
    isolated = run(write_suite, tmp_path, overrides=['measure.isolation="subprocess"', "measure.threads=1",
                                                       "output.cache=false"])
    assert not isolated.failed, [r["error"] for r in isolated.failed]
    for a, b in zip(inline.results, isolated.results, strict=True):
        assert a["metrics"] == b["metrics"] and a["per_query"] == b["per_query"]
        assert a["execution"]["isolation"] == "none" and a["execution"]["pid"] == os.getpid()
        execution = b["execution"]
        assert execution["isolation"] == "subprocess" and execution["pid"] != os.getpid()
        assert execution["threads"]["env"]["OMP_NUM_THREADS"] == "1"
        assert execution["concurrent"] == {"allowed": False, "alongside": []}
        assert set(execution["load_average"]) == {"start", "end"}
        if len(os.sched_getaffinity(0)) > 1:
            assert execution["threads"]["affinity"] == execution["cpus"] == [min(os.sched_getaffinity(0))]
    reranked = isolated.results[1]["phases"]
    assert list(reranked)[:2] == ["load_dataset", "load_model"]  # a fresh process loads everything
    assert {"query_encode", "search"} <= set(reranked)


def test_peak_memory_of_a_phase_in_a_worker(plugins, write_suite, tmp_path):
    body = SUITE.split("[[pipelines]]")[0] + '[[pipelines]]\nname = "hog"\nretriever = {plugin = "hog", mib = 256}\n'
    (result,) = run(write_suite, tmp_path, body, overrides=["measure.memory=true"]).results
    assert result["status"] == "ok", result["error"]
    assert result["execution"]["isolation"] == "subprocess"  # the default when memory is measured
    growth = {name: r["figures"]["rss_growth"]["value"] for name, r in result["phases"].items()}
    assert abs(growth["index"] - 256 * MIB) <= max(0.05 * 256 * MIB, 8 * MIB), growth
    assert all(v < 32 * MIB for name, v in growth.items() if name != "index"), growth
    assert result["memory"]["peak_rss"]["phase"] == "index"
    assert result["memory"]["peak_rss"]["value"] >= 256 * MIB


def test_a_worker_killed_by_sigkill_is_recorded(plugins, write_suite, tmp_path):
    body = SUITE.replace('retriever = {plugin = "overlap"}', 'retriever = {plugin = "doomed"}')
    outcome = run(write_suite, tmp_path, body, overrides=['measure.isolation="subprocess"'])
    killed, ok = outcome.results
    assert ok["status"] == "ok"
    error = killed["error"]
    assert killed["status"] == "failed" and error["type"] == "Killed" and error["signal"] == "SIGKILL"
    assert error["phase"] == "index" and error["exit_code"] == -9 and "out-of-memory" in error["message"]
    assert list(killed["phases"]) == ["load_dataset"]  # what finished before it died
    assert killed["hardware"]["hash"] and killed["cell"]["key"]
    assert "failed: Killed" in (outcome.run_dir / "leaderboard.md").read_text()
    assert not list(outcome.run_dir.rglob("*.tmp"))


def test_a_cell_past_its_timeout_is_killed_and_recorded(plugins, write_suite, tmp_path):
    body = SUITE.replace('retriever = {plugin = "overlap"}', 'retriever = {plugin = "sleepy", seconds = 60}')
    started = time.monotonic()
    outcome = run(write_suite, tmp_path, body, overrides=["measure.timeout=1"])
    assert time.monotonic() - started < 20
    timed_out, ok = outcome.results
    assert ok["status"] == "ok" and ok["execution"]["timeout"] == 1
    error = timed_out["error"]
    assert error["type"] == "Timeout" and error["phase"] == "retrieve" and "timeout = 1 s" in error["message"]
    assert error["signal"] == "SIGKILL"


def test_a_worker_that_cannot_find_the_components_says_why(monkeypatch, write_suite, tmp_path):
    monkeypatch.delenv("HARNESS_PLUGIN_MODULES", raising=False)  # the fakes exist only in this process
    outcome = run(write_suite, tmp_path, overrides=['measure.isolation="subprocess"'])
    error = outcome.results[0]["error"]
    assert error["type"] == "WorkerError" and error["exit_code"] == 1
    assert "no retriever named 'overlap'" in error["message"]


def test_threads_and_cpus(monkeypatch):
    for name in isolation.THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    isolation.apply_threads(None)
    assert "OMP_NUM_THREADS" not in os.environ
    isolation.apply_threads(3)
    assert all(os.environ[name] == "3" for name in isolation.THREAD_ENV)
    allowed = sorted(os.sched_getaffinity(0))
    assert isolation.cpus_for(None) is None
    assert isolation.cpus_for(len(allowed)) is None  # every CPU: nothing to pin
    if len(allowed) > 1:
        assert isolation.cpus_for(1) == allowed[:1]


def test_widened_sets_threads_and_cpus_for_the_block_only():
    torch = pytest.importorskip("torch")
    threads, cpus = torch.get_num_threads(), os.sched_getaffinity(0)
    with isolation.widened(None) as used:
        assert used is None and torch.get_num_threads() == threads
    first = min(cpus)
    os.sched_setaffinity(0, {first})  # as a pinned one-thread cell
    torch.set_num_threads(1)
    try:
        with isolation.widened(2) as used:
            assert torch.get_num_threads() == 2 and used["threads"] == 2
            assert used["cpus"] == sorted(os.sched_getaffinity(0))
            if (os.cpu_count() or 1) > 1 and len(cpus) > 1:
                assert len(used["cpus"]) == 2  # the pinned cell may use a second CPU while it indexes
        assert torch.get_num_threads() == 1 and os.sched_getaffinity(0) == {first}
    finally:
        os.sched_setaffinity(0, cpus)
        torch.set_num_threads(threads)


class ThreadCounting(WordOverlap):
    """Records the intra-op threads in effect while it indexes and while it retrieves."""

    name = "thread-counting"

    def index(self, collection, ctx):
        import torch

        ctx.phase["seen_threads"] = torch.get_num_threads()
        super().index(collection, ctx)

    def retrieve(self, queries, k, ctx):
        import torch

        ctx.phase["seen_threads"] = torch.get_num_threads()
        return super().retrieve(queries, k, ctx)


def test_index_threads_apply_to_indexing_only(write_suite, tmp_path):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    body = SUITE.split("[[pipelines]]")[0] + '[[pipelines]]\nname = "t"\nretriever = {plugin = "thread-counting"}\n'
    registry = registry_with(ThreadCounting)
    suite = load_suite(write_suite(body), registry=registry,
                       overrides=["measure.threads=1", "measure.index_threads=2", 'measure.isolation="none"'])
    (result,) = run_suite(suite, results_dir=tmp_path / "results", registry=registry).results
    assert result["status"] == "ok", result["error"]
    phases = result["phases"]
    assert phases["index"]["seen_threads"] == 2 and phases["index"]["threads"]["threads"] == 2
    assert phases["index"]["figures"]["docs_per_second"]["threads"] == 2
    assert phases["retrieve"]["seen_threads"] == 1 and "threads" not in phases["retrieve"]
    torch.set_num_threads(before)


def test_worker_progress_travels_as_lines():
    import io
    import json

    from harness.worker import PipeProgress

    channel = io.StringIO()
    progress = PipeProgress(channel)
    progress.log("hello")
    with progress.task("encoding", total=3) as advance:
        advance(3)
    lines = [json.loads(line)["log"] for line in channel.getvalue().splitlines()]
    assert lines[0] == "hello" and lines[1] == "  encoding (3) ..." and lines[2].startswith("  encoding: done in ")

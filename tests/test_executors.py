"""The executors' settings and bookkeeping, without a cluster: the [execution] table, its command
line options, the alongside timeline, the shard protocol's detection."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from fakes import ShardedOverlap, WordOverlap, registry_with
from test_suite_docs import DOC, documented_keys

from harness import suite as schema
from harness.cli import _execution_overrides
from harness.executors.shards import shardable
from harness.executors.timeline import Timeline
from harness.runner import cell_key
from harness.suite import SuiteError, load_suite
from harness.suite.model import StageSpec

SUITE = """
name = "ex"
k = 5
metrics = ["AP"]
[[datasets]]
source = "beir:{beir}"
[[pipelines]]
name = "o"
retriever = {plugin = "overlap"}
"""


def test_every_execution_key_is_documented():
    missing = set(schema.EXECUTION) - documented_keys(DOC.read_text())
    assert not missing, f"[execution] keys missing from docs/suite-format.md: {sorted(missing)}"
    assert "execution" in schema.TOP


def test_defaults_and_the_cell_key(write_suite):
    registry = registry_with()
    local = load_suite(write_suite(SUITE), registry=registry)
    assert local.execution.to_dict() == {"executor": "local", "scheduler": None, "workers": None, "retries": 2,
                                         "shard_documents": None, "gpus": []}
    spread = load_suite(write_suite(SUITE + '[execution]\nexecutor = "dask"\nworkers = 3\n'), registry=registry)
    assert spread.execution.executor == "dask" and spread.execution.workers == 3
    # Where a cell runs never changes its result: a run started locally resumes on a cluster.
    assert cell_key(local, local.cells()[0]) == cell_key(spread, spread.cells()[0])


@pytest.mark.parametrize(("table", "where", "says"), [
    ('executor = "spark"', "execution.executor", "spark"),
    ('executor = "dask"\nscheduler = "tcp://h:8786"\nworkers = 2', "execution.workers", "LocalCluster"),
    ('scheduler = " "', "execution.scheduler", "is empty"),
    ("retries = -1", "execution.retries", ""),
    ("shard_documents = 0", "execution.shard_documents", ""),
    ("colour = 1", "execution.colour", "unknown"),
])
def test_bad_execution_tables_are_named(write_suite, table, where, says):
    with pytest.raises(SuiteError) as caught:
        load_suite(write_suite(SUITE + f"[execution]\n{table}\n"), registry=registry_with())
    problems = {p.path: p.message for p in caught.value.problems}
    assert where in problems and says in problems[where]
    assert any(p.line for p in caught.value.problems)


def test_the_dask_executor_needs_distributed(write_suite, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name))
    with pytest.raises(SuiteError, match=r"ir-harness\[dask\]"):
        load_suite(write_suite(SUITE + '[execution]\nexecutor = "dask"\n'), registry=registry_with())


@pytest.mark.parametrize(("options", "overrides"), [
    ({}, []),
    ({"executor": "local"}, ['execution.executor="local"']),
    ({"scheduler": "tcp://10.0.0.1:8786"}, ['execution.executor="dask"', 'execution.scheduler="tcp://10.0.0.1:8786"']),
    ({"workers": 4}, ['execution.executor="dask"', "execution.workers=4"]),
])
def test_command_line_options_become_overrides(options, overrides):
    args = argparse.Namespace(**{"executor": None, "scheduler": None, "workers": None, **options})
    assert _execution_overrides(args) == overrides


def test_the_timeline_says_what_overlapped():
    timeline = Timeline()
    a, b = {"address": "tcp://a", "host": "h1"}, {"address": "tcp://b", "host": "h2"}
    timeline.finished("one", 0.0, 10.0, a)
    timeline.finished("two", 10.0, 12.0, b)  # starts as one ends: not alongside
    timeline.started("three", 5.0, b)  # still running
    timeline.finished("dead", None, None, None)  # never started: ignored
    assert timeline.alongside("one") == [{"job": "three", "worker": "tcp://b", "host": "h2"}]
    assert [x["job"] for x in timeline.alongside("three")] == ["one", "two"]
    timeline.started("one", 0.0, a)  # a start event that came after the reply changes nothing
    assert timeline.jobs["one"]["end"] == 10.0
    timeline.finished("three", None, None, None)  # its worker died: it ran until now
    assert timeline.jobs["three"]["end"] is not None and timeline.alongside("unknown") == []


def test_the_shard_protocol_is_detected():
    def spec(cls, compressors=()):
        return StageSpec("retriever", cls.name, {}, cls, compressors=list(compressors))

    assert shardable(spec(ShardedOverlap)) and not shardable(spec(WordOverlap))
    assert not shardable(spec(ShardedOverlap, [spec(WordOverlap)]))  # a compressed model is not sharded


def test_results_folders_hold_run_folders_only(write_suite, tmp_path):
    """The lock lives beside the suite folders (results/.locks), not among the runs."""
    from harness.runner import run_suite

    registry = registry_with()
    outcome = run_suite(load_suite(write_suite(SUITE), registry=registry), results_dir=tmp_path / "r",
                        registry=registry)
    assert [p.name for p in (tmp_path / "r" / "ex").iterdir()] == [outcome.run_dir.name]
    assert (tmp_path / "r" / ".locks" / "ex.lock").is_file()
    assert Path(outcome.run_dir, "run.json").is_file()

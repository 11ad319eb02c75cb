"""``execution.gpus``: the LocalCluster the run starts has one worker per listed GPU, each seeing
only its own (CUDA_VISIBLE_DEVICES), so cells and corpus shards spread over the machine's GPUs.
No GPU is needed to check the placement: the variable is what CUDA reads, and each cell records
the value its worker had."""

from __future__ import annotations

import os

import pytest
from fakes import registry_with

from harness.executors.dask import DaskExecutor, ExecutorError
from harness.results import MANIFEST, read_json
from harness.runner import run_suite
from harness.suite import load_suite

distributed = pytest.importorskip("distributed")

BODY = """
name = "gpus"
k = 5
metrics = ["AP"]

[[datasets]]
source = "beir:{beir}"
"""


def suite(write_suite, *overrides, tables=4):
    body = BODY + "".join(f'\n[[pipelines]]\nname = "p{i}"\nretriever = {{plugin = "sleepy", seconds = 0.5, '
                          f'tag = {i}}}\n' for i in range(tables))
    return load_suite(write_suite(body), list(overrides), registry=registry_with())


def test_one_worker_per_gpu_each_seeing_its_own(write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGIN_MODULES", "fakes")  # the workers inherit it, with their own GPU
    loaded = suite(write_suite, 'execution.executor="dask"', "execution.gpus=[0, 1]")
    outcome = run_suite(loaded, results_dir=tmp_path / "r", registry=registry_with())
    assert not outcome.failed
    placed = {(r["execution"]["worker"]["name"], r["execution"]["worker"]["visible_gpus"]) for r in outcome.results}
    assert placed == {("gpu-0", "0"), ("gpu-1", "1")}  # both GPUs had cells, each worker its own
    manifest = read_json(outcome.run_dir / MANIFEST)
    assert sorted(w["name"] for w in manifest["executor"]["workers"]) == ["gpu-0", "gpu-1"]
    assert os.environ.get("CUDA_VISIBLE_DEVICES") != "0"  # the run's own process is untouched


@pytest.mark.parametrize(("overrides", "message"), [
    (['execution.scheduler="tcp://127.0.0.1:1"'], "start one worker per GPU yourself"),
    (["execution.gpus=[0, 1]", "execution.gpus=[1, 1]"], "lists a GPU twice"),
    (["execution.workers=3"], "execution.workers = 3 with 2 GPUs listed"),
])
def test_inconsistent_settings_are_refused(write_suite, overrides, message):
    loaded = suite(write_suite, 'execution.executor="dask"', "execution.gpus=[0, 1]", *overrides)
    with pytest.raises(ExecutorError, match=message):
        DaskExecutor(loaded, None)


def test_a_negative_gpu_is_a_suite_error(write_suite):
    from harness.suite import SuiteError

    with pytest.raises(SuiteError, match="gpus"):
        suite(write_suite, 'execution.executor="dask"', "execution.gpus=[-1]")

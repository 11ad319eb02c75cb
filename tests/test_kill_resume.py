"""A run killed with SIGKILL mid-suite: the next run resumes it and completes every cell."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes import registry_with

from harness.results import MANIFEST, read_json
from harness.runner import run_suite
from harness.suite import load_suite
from harness.trecfiles import read_run

PIPELINES = "\n".join(
    f'[[pipelines]]\nname = "slow{i}"\nretriever = {{plugin = "sleepy", seconds = 0.7, tag = {i}}}\n'
    for i in range(4)
)
SUITE = f"""
name = "killed"
k = 5
metrics = ["AP", "nDCG@3"]

[[datasets]]
source = "beir:{{beir}}"

{PIPELINES}
"""

DRIVER = """
import sys
from fakes import registry_with
from harness.runner import run_suite
from harness.suite import load_suite
registry = registry_with()
run_suite(load_suite(sys.argv[1], registry=registry), results_dir=sys.argv[2], registry=registry)
"""


def test_sigkill_mid_suite_then_rerun_completes(write_suite, tmp_path):
    suite_path = write_suite(SUITE)
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(suite_path), str(results)], env=env)
    cells = results / "killed"
    deadline = time.monotonic() + 60
    while not list(cells.glob("*/cells/*.json")):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no cell finished in time"
        time.sleep(0.05)
    time.sleep(0.3)  # into the next cell's sleep
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (run_dir,) = cells.iterdir()
    done_before = len(list(run_dir.glob("cells/*.json")))
    assert 1 <= done_before < 4
    assert read_json(run_dir / MANIFEST)["status"] == "running"

    registry = registry_with()
    outcome = run_suite(load_suite(suite_path, registry=registry), results_dir=results, registry=registry)
    assert outcome.resumed and outcome.run_dir == run_dir
    assert outcome.kept == done_before and not outcome.failed
    manifest = read_json(run_dir / MANIFEST)
    assert manifest["status"] == "finished" and len(manifest["cells"]) == 4
    for slug in manifest["cells"].values():
        result = json.loads((run_dir / "cells" / f"{slug}.json").read_text())
        assert result["status"] == "ok"
        assert read_run(run_dir / result["run_file"]).num_docs() > 0
    assert not list(run_dir.rglob("*.tmp"))
    for entry in (results / ".cache" / "runs").iterdir():  # cache entries are whole or hidden
        assert entry.name.startswith(".") or (entry / "complete.json").is_file()

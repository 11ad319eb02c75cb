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


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killing_the_run_kills_its_isolated_cell_and_a_rerun_completes(write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGIN_MODULES", "fakes")  # the workers find the fakes, here and in the driver
    body = SUITE.replace("seconds = 0.7", "seconds = 0.3").replace("seconds = 0.3, tag = 1", "seconds = 60, tag = 1")
    suite_path = write_suite(body + '\n[measure]\nisolation = "subprocess"\n')
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(suite_path), str(results)], env=env)
    deadline = time.monotonic() + 60

    def sleeper() -> list[int]:  # the worker of the 60 s cell: not the one that wrote the first result
        done = {read_json(f)["execution"]["pid"] for f in (results / "killed").glob("*/cells/*.json")}
        return [pid for pid in children_of(proc.pid) if pid not in done] if done else []

    while not sleeper():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no isolated cell running in time"
        time.sleep(0.02)
    workers = sleeper()
    time.sleep(1.0)  # into its 60 s sleep, where nothing would make it notice the parent's death
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers):  # the one in its 60 s sleep dies with its parent
        assert time.monotonic() < deadline, f"worker(s) {workers} outlived the run"
        time.sleep(0.02)
    (run_dir,) = (results / "killed").iterdir()
    done_before = len(list(run_dir.glob("cells/*.json")))
    registry = registry_with()
    suite = load_suite(suite_path, ["pipelines.slow1.seconds=0.3"], registry=registry)
    outcome = run_suite(suite, results_dir=results, registry=registry)
    assert outcome.resumed and outcome.kept == done_before == 1 and not outcome.failed
    assert read_json(run_dir / MANIFEST)["status"] == "finished"
    assert all(r["execution"]["isolation"] == "subprocess" for r in outcome.results)

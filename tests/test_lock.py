"""One `harness run` per suite results folder: a second one is refused, naming the first; a lock
left by a killed run is taken over."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import registry_with

from harness.cli import main
from harness.components import Progress
from harness.results import LOCKS, RunLock, RunLocked, _start_time, read_json
from harness.runner import run_suite
from harness.suite import load_suite

TESTS = Path(__file__).parent
SUITE = """
name = "locked"
k = 5
metrics = ["AP"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "slow"
retriever = {plugin = "sleepy", seconds = 30}
"""
DRIVER = """
import sys
from fakes import registry_with
from harness.runner import run_suite
from harness.suite import load_suite
registry = registry_with()
run_suite(load_suite(sys.argv[1], registry=registry), results_dir=sys.argv[2], registry=registry)
"""


def start_run(suite_path: Path, results: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(suite_path), str(results)], env=env)
    deadline = time.monotonic() + 30
    while not list(results.glob("locked/*/run.json")):  # it holds the lock once it wrote its manifest
        assert proc.poll() is None and time.monotonic() < deadline, "the first run did not start"
        time.sleep(0.05)
    return proc


def test_a_second_run_of_the_suite_is_refused_naming_the_first(write_suite, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGIN_MODULES", "fakes")
    suite_path, results = write_suite(SUITE), tmp_path / "results"
    first = start_run(suite_path, results)
    try:
        status = main(["run", str(suite_path), "--results", str(results), "--quiet"])
        err = capsys.readouterr().err
        assert status == 2
        assert f"another harness run is using {results / 'locked'} (pid {first.pid} on {socket.gethostname()}, " \
               "running since 20" in err
        (run_dir,) = (results / "locked").iterdir()
        assert read_json(run_dir / "run.json")["status"] == "running"  # the first run's files untouched
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    # The killed run's lock is released by the kernel; the next run names it and resumes its run.
    lines = []
    progress = Progress()
    progress.log = lines.append
    registry = registry_with()
    outcome = run_suite(load_suite(suite_path, ["pipelines.slow.seconds=0"], registry=registry), results_dir=results,
                        registry=registry, progress=progress)
    assert outcome.resumed and not outcome.failed
    assert any(f"pid {first.pid} on {socket.gethostname()}) ended without releasing its lock" in m for m in lines)
    assert (results / LOCKS / "locked.lock").read_text() == ""  # released: no holder named


def test_other_suites_and_folders_are_not_blocked(tmp_path):
    with RunLock(tmp_path, "a"), RunLock(tmp_path, "b"), RunLock(tmp_path / "elsewhere", "a"):
        with pytest.raises(RunLocked):
            with RunLock(tmp_path, "a"):
                pass


def test_without_flock_the_pid_in_the_file_decides(tmp_path, monkeypatch):
    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = RunLock(tmp_path, "s")
        lock.path.parent.mkdir(parents=True)
        alive = {"pid": holder.pid, "host": socket.gethostname(), "since": "then", "start": _start_time(holder.pid)}
        lock.path.write_text(json.dumps(alive))
        with pytest.raises(RunLocked, match=f"pid {holder.pid} on "):
            RunLock(tmp_path, "s").__enter__()
        recycled = {**alive, "start": alive["start"] - 1}  # the same pid, another process: stale
        lock.path.write_text(json.dumps(recycled))
        with RunLock(tmp_path, "s") as taken:
            assert taken.stale["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    with RunLock(tmp_path, "s") as taken:  # the holder is gone: the lock is stale
        assert taken.stale is None  # released properly last time

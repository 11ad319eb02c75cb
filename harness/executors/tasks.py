"""What a Dask worker runs for the harness: one job (a cell, or a corpus shard's work) in a fresh
``python -m harness.worker`` process.

Dask workers are daemonic processes: ``multiprocessing`` may not start children there, but
``subprocess`` may, and measure/isolation.py already runs a cell that way (thread caps before any
import, a timeout, a record of a process the OS killed). The job's result is written to a
scratch folder on the worker and sent back to the run, which writes it into the run folder: the
results folder need not be reachable from the workers. The cell's process dies with its worker
(PR_SET_PDEATHSIG) and is stopped when the run that asked for it goes away (the task is cancelled).

With ``exclusive`` (cost measured, ``measure.concurrent = false``) a job first takes the lock of its
host (a Dask ``Lock`` named after the host name), so that no other job of any harness run shares
the machine while it runs; it is then pinned to the first ``measure.threads`` CPUs, as locally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from ..measure.isolation import cpus_for, run_child


def run_task(job: bytes, spec: dict, *after) -> dict:
    """Run ``job``; ``spec``: ``id`` (for events), ``topic`` (the run's event topic), ``slug`` (a
    cell's, to send back its result files), ``exclusive``, ``threads``, ``timeout``, ``device``.
    ``after``: results of jobs this one waited for (shards before their merge), unused here."""
    from distributed import get_worker
    from distributed.worker import thread_state

    worker, key = get_worker(), thread_state.key
    where = {"address": worker.address, "name": str(worker.name), "host": socket.gethostname(), "pid": os.getpid(),
             "visible_gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}  # execution.gpus pins one per worker

    def stopped() -> bool:  # the run's client went away, or cancelled the job: its future was released
        task = worker.state.tasks.get(key)
        return task is None or task.state in ("cancelled", "released", "forgotten")

    def event(**message) -> None:
        worker.log_event(spec["topic"], {"id": spec["id"], **message})

    with _host_lock(where["host"], spec["exclusive"], stopped) as held:
        if not held:
            return {"worker": where, "cancelled": True}
        started = time.time()
        event(start=started, where=where)  # log_event sets "worker" itself
        cpus = cpus_for(spec["threads"]) if spec["exclusive"] else None  # alone on the host: pin as locally
        scratch = tempfile.mkdtemp(prefix="harness-job-")
        try:
            child = run_child(job, threads=spec["threads"], cpus=cpus, timeout=spec["timeout"],
                              log=lambda line: event(log=line), run_dir=scratch, stop=stopped)
            reply = {"worker": where, "started": started, "ended": time.time(), "child": dataclasses.asdict(child)}
            if spec.get("slug"):
                reply.update(_result_files(Path(scratch), spec["slug"]))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if not reply.get("result"):  # a failed result records the machine it failed on
        from ..measure import hardware

        reply["fingerprint"] = hardware.fingerprint(spec.get("device", "cpu"))
    return reply


@contextlib.contextmanager
def _host_lock(host: str, exclusive: bool, stopped):
    """Held while the job runs when ``exclusive``; yields False when the job was cancelled waiting."""
    if not exclusive:
        yield True
        return
    from distributed import Lock

    lock = Lock(f"harness-host-{host}")
    while not lock.acquire(timeout=1):
        if stopped():
            yield False
            return
    try:
        yield True
    finally:
        lock.release()


def _result_files(scratch: Path, slug: str) -> dict:
    """The cell's result and run file, as the worker process wrote them (absent when it died)."""
    import json

    out = {}
    try:
        out["result"] = json.loads((scratch / "cells" / f"{slug}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return out
    run_file = scratch / "runs" / f"{slug}.trec"
    if run_file.is_file():
        out["run_file"] = run_file.read_text(encoding="utf-8")
    return out

"""``python -m harness.worker``: one cell in a fresh process (see measure/isolation.py).

Thread caps and CPU affinity are applied first, before the pickled cell is read: unpickling
imports the components' modules, and with them the libraries whose thread pools must start
capped. The process dies with its parent, so a killed ``harness run`` leaves no cell running on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .components import Progress
from .measure.isolation import apply_threads

PR_SET_PDEATHSIG = 1


class PipeProgress(Progress):
    """Progress lines travel to the parent, which shows them as its own; a task (a progress bar
    in-process) becomes a line when it starts and one when it ends."""

    def __init__(self, channel):
        self.channel = channel

    def log(self, message: str) -> None:
        self.send({"log": message})

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        self.log(f"  {description}{f' ({total})' if total else ''} ...")
        start = time.perf_counter()
        yield lambda n=1: None
        self.log(f"  {description}: done in {time.perf_counter() - start:.1f}s")

    def send(self, event: dict) -> None:
        self.channel.write(json.dumps(event) + "\n")
        self.channel.flush()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.worker")
    parser.add_argument("--fd", type=int, required=True, help="pipe to the parent for JSON events")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--cpus", help="comma-separated CPU ids to pin to")
    parser.add_argument("--parent", type=int, help="the parent's pid, to notice it died before we could ask")
    parser.add_argument("--run-dir", help="write the result here instead of the job's run folder (a Dask worker's "
                        "scratch folder, which the executor sends back to the run)")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    if args.cpus:
        os.sched_setaffinity(0, [int(c) for c in args.cpus.split(",")])
    _die_with_parent(args.parent)
    progress = PipeProgress(os.fdopen(args.fd, "w", encoding="utf-8"))
    job = pickle.load(sys.stdin.buffer)  # from our own parent, never from disk

    from .cache import ArtifactCache
    from .cell import CellRunner
    from .plugins import get_registry

    cache = ArtifactCache(*job["cache"])
    if job.get("kind", "cell") != "cell":  # corpus shards (executors/shards.py): the reply goes back on the pipe
        from .executors.shards import run_shard_job

        progress.send({"reply": run_shard_job(job, get_registry(), cache, progress)})
        return 0
    if args.cpus:  # where the parent chose them on its own machine (a Dask worker), the result says so
        job["execution"] = {**job["execution"], "cpus": [int(c) for c in args.cpus.split(",")]}
    runner = CellRunner(job["suite"], get_registry(), cache, progress, job["environment"],
                        listener=lambda name, record: progress.send({"phase": name, "record": record}))
    runner.run(job["cell"], job["key"], Path(args.run_dir) if args.run_dir else job["run_dir"], job["execution"])
    return 0


def _die_with_parent(parent: int | None) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main())

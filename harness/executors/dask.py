"""The Dask executor: a run's cells spread over the workers of a Dask cluster.

The cluster is the one at ``execution.scheduler``, or a LocalCluster started for the run (one
thread per worker, worker processes, on 127.0.0.1); with ``execution.gpus`` that cluster has one
worker per listed GPU, each seeing only its own (``CUDA_VISIBLE_DEVICES``: ``cuda`` there is that
GPU), so cells and corpus shards spread over the GPUs of the machine (``gpu_cluster``).

Each cell runs on a worker in a fresh process (tasks.py) and its result comes back here, where it
is written into the run folder, so only the machine running ``harness run`` needs the results
folder. Workers need the harness and the same
plugins, the datasets (same paths, IR_DATASETS_HOME) and the artifact cache folder: shared, it lets
workers reuse each other's indexes (and is required for corpus shards, shards.py).

Faults: a cell whose worker died (Dask's ``KilledWorker``) or whose process was killed by a signal
is submitted again, ``execution.retries`` times at most, then recorded as failed saying so. A
LocalCluster is started with ``distributed.scheduler.allowed-failures = 0`` so that this count alone
bounds the attempts; a scheduler of your own retries on its own first (see docs/distributed.md).

Costs: a cell's figures are measured on its worker, whose hardware fingerprint and address the
result records. When cost is measured (latency or memory) and ``measure.concurrent`` is false,
jobs hold their host's lock (tasks.py): one at a time per machine. Every result lists what ran
``alongside`` it anywhere in the cluster (timeline below).
"""

from __future__ import annotations

import json
import os
import queue
import uuid
from collections.abc import Iterator

from ..cellresult import CellResult, Concurrent
from ..errors import HarnessError
from ..measure.isolation import ChildOutcome
from .base import Executor, HandoverError, Job, RunContext, child_failure, failed_result, payload, write_result
from .tasks import run_task
from .timeline import Timeline


class ExecutorError(HarnessError, RuntimeError):
    """The cluster cannot be used (unreachable scheduler, dask not installed); the message says why."""


def gpu_cluster(gpus: list[int]):
    """A local cluster of one single-thread worker process per GPU in ``gpus``, worker ``gpu-N``
    started with ``CUDA_VISIBLE_DEVICES=N``: its cells (fresh processes that inherit the variable)
    see that GPU alone, as ``cuda``/``cuda:0``. What LocalCluster does, with an environment per
    worker (dask-cuda's LocalCUDACluster does the same, as a further dependency)."""
    from distributed import Nanny, Scheduler, SpecCluster

    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}}
    workers = {f"gpu-{gpu}": {"cls": Nanny, "options": {"nthreads": 1, "host": "127.0.0.1", "memory_limit": 0,
                                                        "env": {"CUDA_VISIBLE_DEVICES": str(gpu)}}}
               for gpu in gpus}
    return SpecCluster(workers=workers, scheduler=scheduler, name="harness-gpus")


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, suite, progress):
        super().__init__(suite, progress)
        settings, measure = suite.execution, suite.measure
        self.address = settings.scheduler
        self.gpus = list(settings.gpus)
        if self.gpus and self.address:
            raise ExecutorError("execution.gpus places the workers of the LocalCluster the run starts; with "
                                "execution.scheduler, start one worker per GPU yourself (CUDA_VISIBLE_DEVICES)")
        if len(set(self.gpus)) != len(self.gpus):
            raise ExecutorError(f"execution.gpus lists a GPU twice: {self.gpus}")
        if self.gpus and settings.workers not in (None, len(self.gpus)):
            raise ExecutorError(f"execution.workers = {settings.workers} with {len(self.gpus)} GPUs listed: the "
                                "cluster has one worker per GPU (leave workers out)")
        self.workers = len(self.gpus) or settings.workers or max(1, (os.cpu_count() or 1) // (measure.threads or 1))
        self.retries = settings.retries
        self.exclusive = bool(measure.latency or measure.memory) and not measure.concurrent
        self.cluster = self.client = None

    def __enter__(self) -> DaskExecutor:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("the dask executor needs dask[distributed]: pip install 'ir-harness[dask]'") from None
        try:
            if self.address:
                self.progress.log(f"dask: connecting to the scheduler at {self.address}")
                self.client = Client(self.address)
                if not self.client.scheduler_info()["workers"]:
                    self.progress.log("dask: waiting for a worker to join the scheduler")
                    self.client.wait_for_workers(1)
            else:
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # retries are ours
                    self.cluster = gpu_cluster(self.gpus) if self.gpus else LocalCluster(
                        n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address="127.0.0.1:0", memory_limit=0)
                self.client = Client(self.cluster)
                on = f" (one per GPU: {', '.join(map(str, self.gpus))})" if self.gpus else ""
                self.progress.log(f"dask: started a LocalCluster of {self.workers} worker(s){on} at "
                                  f"{self.cluster.scheduler_address}")
        except OSError as exc:
            self.__exit__()
            raise ExecutorError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        return self

    def __exit__(self, *exc) -> None:
        for thing in (self.client, self.cluster):
            if thing is not None:
                thing.close()
        self.client = self.cluster = None

    def describe(self, mode: str) -> dict:
        info = self.client.scheduler_info()
        workers = [{"address": a, "host": w.get("host"), "name": str(w.get("name")), "threads": w.get("nthreads")}
                   for a, w in sorted(info["workers"].items())]
        hosts = {w["host"] for w in workers}
        return {"name": "dask", "scheduler": info.get("address"), "local_cluster": self.cluster is not None,
                "workers": workers, "isolation": "subprocess", "retries": self.retries,
                "exclusive_per_host": self.exclusive,
                "cells_at_once": len(hosts) if self.exclusive else sum(w["threads"] or 1 for w in workers)}

    # -- the run -------------------------------------------------------------------------------

    def run(self, jobs: list[Job], ctx: RunContext) -> Iterator[CellResult]:
        from distributed import wait

        from . import shards

        if self.suite.measure.isolation == "none":
            self.progress.log("note: the dask executor runs every cell in a process of its own "
                              "(measure.isolation = \"none\" applies to the local executor)")
        self.ctx, self.topic = ctx, f"harness-{uuid.uuid4().hex}"
        self.events: queue.Queue = queue.Queue()
        self.timeline, self.others, self.ready = Timeline(), {}, []
        self.waiting: dict[str, list] = {}  # first stage -> cells waiting for the cell computing it
        self.client.subscribe_topic(self.topic, self.events.put)
        pending, written = {}, []
        try:
            merged = shards.prepare(self, jobs, ctx)  # cell id -> the future of its merged index
            for job in jobs:
                # Cells sharing a first stage (dataset, retriever configuration) wait until the first
                # of them is done, then load its index and run from the cache instead of computing
                # them again side by side (racing to write the same cache entries).
                after = [merged[job.cell.id]] if job.cell.id in merged else []
                if _stage(job) in self.waiting:
                    self.waiting[_stage(job)].append((job, after))
                else:
                    self.waiting[_stage(job)] = []
                    self._submit(pending, job, 1, [], after)
            while pending or self.ready or any(self.waiting.values()):
                if not pending:  # nothing left to wait for (a first cell that could not be handed over)
                    for stage in list(self.waiting):
                        for job, after in self.waiting.pop(stage):
                            self._submit(pending, job, 1, [], after)
                while self.ready:
                    written.append(self.ready.pop(0))
                    yield written[-1]
                try:
                    done = wait(list(pending), timeout=0.25, return_when="FIRST_COMPLETED").done if pending else ()
                except TimeoutError:
                    done = ()
                self.drain()
                if self.client.status == "closed":  # it gave up reconnecting (30 s by default)
                    raise ExecutorError(f"lost the Dask scheduler at {self.address or 'the LocalCluster'}; the "
                                        "results written so far are kept: run again to resume")
                for future in done:
                    result = self._finish(pending, future)
                    if result is not None:
                        written.append(result)
                        yield result
            self._reconcile(written)
        finally:
            for future in [*pending, *self.others]:
                future.cancel()
            self.client.unsubscribe_topic(self.topic)

    def submit(self, job_bytes: bytes, spec: dict, *after, priority: int = 0, other: bool = False):
        """A job on the cluster (tasks.run_task); ``after``: futures it waits for; ``other``: not a
        cell (a shard's work), followed here for the timeline only."""
        spec = {"topic": self.topic, "exclusive": self.exclusive, "threads": self.suite.measure.threads,
                "timeout": self.suite.measure.timeout, **spec}
        future = self.client.submit(run_task, job_bytes, spec, *after, pure=False, priority=priority,
                                    key=f"harness-{spec['id'].replace('/', '-')}-{uuid.uuid4().hex[:8]}")
        if other:
            self.others[future] = spec["id"]
        return future

    def drain(self) -> None:
        """Events from the workers: jobs starting (for ``alongside``) and progress lines."""
        while True:
            try:
                _, message = self.events.get_nowait()
            except queue.Empty:
                break
            if "start" in message:
                self.timeline.started(message["id"], message["start"], message["where"])
            elif "log" in message:
                self.progress.log(f"  {message['id']} |{message['log'].rstrip()}")
        for future, job in list(self.others.items()):  # shard jobs that ended: their time on the timeline
            if future.done():
                del self.others[future]
                reply = future.result() if future.status == "finished" else {}
                self.timeline.finished(job, reply.get("started"), reply.get("ended"), reply.get("worker"))
                error = ((reply.get("child") or {}).get("reply") or {}).get("error")
                if (error or future.status != "finished") and not job.startswith("plan"):  # prepare() said it
                    self.progress.log(f"  {job}: {error or future.status}; its cells index the corpus themselves")

    def _submit(self, pending: dict, job: Job, attempt: int, history: list[str], after=()):
        """Submit an attempt at the cell (its future, or None when it cannot be handed over);
        ``after``: futures to wait for (a retry waits for nothing)."""
        measure = self.suite.measure
        execution = {"executor": "dask", "isolation": "subprocess", "timeout": measure.timeout,
                     "concurrent": {"allowed": measure.concurrent, "alongside": []}, "cpus": None,
                     "attempt": uuid.uuid4().hex, "attempts": attempt, "retried": history}
        try:
            job_bytes = payload(self.ctx, job.cell, job.key, execution)
        except HandoverError as exc:
            result = failed_result(self.ctx, job, execution, "IsolationError", str(exc))
            write_result(self.ctx.run_dir, result)
            self.ready.append(result)
            return None
        spec = {"id": job.cell.id, "slug": job.cell.slug, "device": job.cell.device}
        future = self.submit(job_bytes, spec, *after)
        pending[future] = (job, execution)
        return future

    def _finish(self, pending: dict, future) -> CellResult | None:
        """The cell's result, written; None when it was submitted again."""
        job = pending[future][0]
        result = self._outcome(pending, future)
        if result is not None:  # done, one way or the other: the cells sharing its first stage go
            for waiting, after in self.waiting.pop(_stage(job), []):
                self._submit(pending, waiting, 1, [], after)
        return result

    def _outcome(self, pending: dict, future) -> CellResult | None:
        job, execution = pending.pop(future)
        reply = future.result() if future.status == "finished" else {}
        worker = reply.get("worker")
        self.timeline.finished(job.cell.id, reply.get("started"), reply.get("ended"), worker)
        result = _returned(reply.get("result"), job)
        if result and result.execution and result.execution.attempt == execution["attempt"]:
            result.execution.worker = worker
            result.execution.concurrent = result.execution.concurrent or Concurrent()
            result.execution.concurrent.alongside = self.timeline.alongside(job.cell.id)
            write_result(self.ctx.run_dir, result, reply.get("run_file"))
            return result
        if reply.get("child"):
            child = ChildOutcome(**reply["child"])
            kind, message, more = child_failure(child, self.suite.measure.timeout)
            retry = bool(child.signal) and not (child.timed_out or child.stopped)
            phase, records, seconds = child.phase or "start", child.records, child.seconds
        else:  # the worker died under it (KilledWorker), the job broke, or it was cancelled before it began
            error = future.exception() if future.status == "error" else None
            kind = "WorkerLost" if type(error).__name__ == "KilledWorker" else "ExecutorError"
            message = f"{type(error).__name__}: {error}" if error else \
                "the job was cancelled before it began" if reply.get("cancelled") else f"the job ended {future.status}"
            more, retry, phase, records, seconds = {}, True, "start", {}, 0.0
        attempts = self.retries + 1
        if retry and execution["attempts"] < attempts:
            self.progress.log(f"  {job.cell.id}: {kind} ({message}); attempt {execution['attempts'] + 1} of {attempts}")
            self._submit(pending, job, execution["attempts"] + 1, [*execution["retried"], f"{kind}: {message}"])
            return None
        if retry:
            message += f" (attempt {execution['attempts']} of {attempts}; no retries left: execution.retries)"
        execution = {**execution, "worker": worker}
        execution["concurrent"] = {**execution["concurrent"], "alongside": self.timeline.alongside(job.cell.id)}
        result = failed_result(self.ctx, job, execution, kind, message, phase=phase, records=records,
                               seconds=seconds, more=more, machine=reply.get("fingerprint"))
        if not reply.get("fingerprint"):  # its worker was lost before it could say what machine it was
            result.hardware = None
        write_result(self.ctx.run_dir, result)
        return result

    def _reconcile(self, written: list[CellResult]) -> None:
        """Jobs that started before a cell ended but whose start event came late: the final lists."""
        for result in written:
            alongside = self.timeline.alongside(result.cell.id)
            execution = result.execution
            if execution and execution.worker is not None and execution.concurrent \
                    and execution.concurrent.alongside != alongside:
                execution.concurrent.alongside = alongside
                write_result(self.ctx.run_dir, result)  # the JSON only: the run file is already in place


def _returned(data: dict | None, job: Job) -> CellResult | None:
    """The result a worker sent back (the JSON its process wrote), checked; None when it sent none."""
    if not data:
        return None
    return CellResult.from_dict(data, f"the result of {job.cell.id} sent back by its worker")


def _stage(job: Job) -> str:
    """The first stage a cell computes: its dataset, device and retriever configuration."""
    return json.dumps([job.cell.dataset.name, job.cell.device, job.cell.pipeline.stages[0].config()],
                      sort_keys=True, default=str)

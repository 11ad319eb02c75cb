"""The local executor: this machine, one cell at a time (the default).

A cell runs in this process, or, with ``measure.isolation = "subprocess"``, in a fresh worker
process (measure/isolation.py): its own heap, thread caps set before any import, pinned CPUs, a
timeout, and a failed result written here when the OS kills it. One at a time, so a cell's cost is
never measured beside another cell of the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from ..cell import CellRunner
from ..cellresult import CellResult
from ..measure import isolation
from ..results import cell_path, load_cell, write_cell
from .base import Executor, HandoverError, Job, RunContext, child_failure, failed_result, payload, remove_partial_files


class LocalExecutor(Executor):
    name = "local"

    def describe(self, mode: str) -> dict:
        return {"name": "local", "cells_at_once": 1, "isolation": mode}

    def run(self, jobs: list[Job], ctx: RunContext) -> Iterator[CellResult]:
        measure = self.suite.measure
        execution = {"executor": "local", "isolation": ctx.mode, "timeout": measure.timeout,
                     # one cell at a time: nothing else of this run shares the machine with a cell
                     "concurrent": {"allowed": measure.concurrent, "alongside": []}}
        for job in jobs:
            if ctx.mode == "subprocess":
                yield run_isolated(ctx, job, execution)
            else:
                yield ctx.runner.run(job.cell, job.key, ctx.run_dir, execution)


def run_isolated(ctx: RunContext, job: Job, execution: dict) -> CellResult:
    """The cell in a worker process; its result, or the failure the parent saw."""
    runner: CellRunner = ctx.runner
    measure = ctx.suite.measure
    cpus = isolation.cpus_for(measure.threads)
    # The attempt id tells this attempt's result from one an earlier attempt left behind.
    execution = {**execution, "attempt": uuid.uuid4().hex, "cpus": cpus}
    try:
        job_bytes = payload(ctx, job.cell, job.key, execution)
    except HandoverError as exc:
        return _written(ctx, failed_result(ctx, job, execution, "IsolationError", str(exc)))
    child = isolation.run_child(job_bytes, threads=measure.threads, cpus=cpus, timeout=measure.timeout,
                                log=runner.progress.log)
    result = load_cell(ctx.run_dir, job.cell.slug)
    if result and result.execution and result.execution.attempt == execution["attempt"]:
        return result
    kind, message, more = child_failure(child, measure.timeout)
    return _written(ctx, failed_result(ctx, job, execution, kind, message, phase=child.phase or "start",
                                       records=child.records, seconds=child.seconds, more=more))


def _written(ctx: RunContext, result: CellResult) -> CellResult:
    write_cell(cell_path(ctx.run_dir, result.cell.slug), result)
    remove_partial_files(ctx.run_dir)  # what the killed worker was writing
    return result

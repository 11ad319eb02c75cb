"""Executors: where and how a run's cells execute.

* ``local`` (local.py): this machine, one cell at a time, in this process or each in a fresh worker
  process (measure/isolation.py);
* ``dask`` (dask.py): cells spread over the workers of a Dask cluster (a scheduler address, or a
  LocalCluster started for the run), each cell in a fresh process on its worker; large corpora
  encoded in shards across workers (shards.py).

The runner (runner.py) chooses the run folder, takes its lock and keeps finished cells; an executor
gets the cells still to run and yields their results, written into the run folder, as they finish.
"""

from __future__ import annotations

from ..components import Progress
from ..suite import Suite
from .base import Executor, Job, RunContext


def create(suite: Suite, progress: Progress) -> Executor:
    """The executor the suite's ``[execution]`` table asks for."""
    if suite.execution.executor == "dask":
        from .dask import DaskExecutor

        return DaskExecutor(suite, progress)
    from .local import LocalExecutor

    return LocalExecutor(suite, progress)


__all__ = ["Executor", "Job", "RunContext", "create"]

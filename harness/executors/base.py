"""What every executor shares: the jobs it is given, how a cell is handed to another process, and
the failed result written for a cell whose process died without writing its own."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..cache import ArtifactCache
from ..cell import CellRunner, now
from ..cellresult import CellError, CellResult, Execution, Hardware, Phase
from ..components import Progress
from ..errors import HarnessError
from ..measure import hardware
from ..measure.isolation import ChildOutcome
from ..results import cell_path, run_file_path, write_atomic, write_cell
from ..suite import Cell, Suite


@dataclass
class Job:
    """A cell still to run: its position in the suite's cells and its cell key."""

    number: int
    cell: Cell
    key: str


@dataclass
class RunContext:
    """What an executor needs of the run: the folder results go to, the cache, the cell runner."""

    suite: Suite
    run_dir: Path
    cache: ArtifactCache
    runner: CellRunner  # runs cells in this process, and makes result skeletons for failures
    mode: str  # the isolation in effect: "none" or "subprocess"
    progress: Progress


class Executor:
    """Runs jobs and yields their results (written into the run folder) as they finish."""

    name = ""

    def __init__(self, suite: Suite, progress: Progress):
        self.suite = suite
        self.progress = progress

    def describe(self, mode: str) -> dict:
        """The manifest's ``executor`` entry."""
        raise NotImplementedError

    def run(self, jobs: list[Job], ctx: RunContext) -> Iterator[CellResult]:
        raise NotImplementedError

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        return None


class HandoverError(HarnessError, ValueError):
    """A cell that cannot be pickled for another process."""


def payload(ctx: RunContext, cell: Cell, key: str, execution: dict, **extra) -> bytes:
    """The pickled job a worker process (``python -m harness.worker``) runs."""
    job = {"suite": ctx.suite, "cell": cell, "key": key, "run_dir": ctx.run_dir, "environment": ctx.runner.environment,
           # absolute: a worker elsewhere starts in a folder of its own
           "cache": (ctx.cache.root.resolve(), ctx.cache.enabled), "execution": execution, **extra}
    try:
        return pickle.dumps(job)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise HandoverError(
            f"the cell cannot be handed to a worker process ({exc}): its components must be importable by "
            "module path, or set measure.isolation = \"none\" (local executor only)") from None


def child_failure(child: ChildOutcome, timeout: float | None) -> tuple[str, str, dict]:
    """(type, message, error details) for a worker process that ended without a result."""
    phase = child.phase or "start"
    if child.timed_out:
        kind, message = "Timeout", f"the cell ran past measure.timeout = {timeout:g} s in phase {phase}; " \
                                   "its process was killed"
    elif child.stopped:
        kind, message = "Cancelled", f"the run that asked for the cell went away; its process was stopped in {phase}"
    elif child.signal:
        kind, message = "Killed", f"the cell's process was killed by {child.signal} in phase {phase}"
        if child.oom_kills:
            message += " by the kernel's out-of-memory killer (the cgroup's oom_kill count rose)"
        elif child.signal == "SIGKILL":
            message += "; a SIGKILL nobody sent by hand is usually the out-of-memory killer (see dmesg)"
    else:
        last = f": {child.stderr[-1]}" if child.stderr else ""
        kind, message = "WorkerError", f"the cell's worker exited with status {child.returncode} without a result{last}"
    more = {"signal": child.signal, "exit_code": child.returncode, "out_of_memory": child.oom_kills > 0,
            "stderr": child.stderr}
    return kind, message, more


def failed_result(ctx: RunContext, job: Job, execution: dict, kind: str, message: str, *, phase: str = "start",
                  records: dict | None = None, seconds: float = 0.0, more: dict | None = None,
                  machine: dict | None = None) -> CellResult:
    """A failed result for a cell whose process left none; ``machine``: the fingerprint of where it ran."""
    made = "the failed result being made"
    result = ctx.runner.skeleton(job.cell, job.key)
    result.error = CellError(phase=phase, type=kind, message=message, traceback=None, extra=dict(more or {}))
    result.phases = {name: Phase.parse(record, made, f"phases.{name}") for name, record in (records or {}).items()}
    result.hardware = Hardware.parse(machine or hardware.fingerprint(job.cell.device), made, "hardware")
    result.execution = Execution.parse(execution, made, "execution")
    result.seconds, result.finished = seconds, now()
    return result


def write_result(run_dir: Path, result: CellResult, run_file: str | None = None) -> None:
    """A result sent back from elsewhere, into the run folder: its run file first, then its JSON (a
    cell counts as done once its JSON exists)."""
    if run_file is not None and result.run_file:
        write_atomic(run_file_path(run_dir, result.cell.slug), run_file)
    write_cell(cell_path(run_dir, result.cell.slug), result)


def remove_partial_files(run_dir: Path) -> None:
    """Temporary files of a killed run or worker (never mistaken for results, but clutter)."""
    for folder in (run_dir / "cells", run_dir / "runs"):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
            tmp.unlink(missing_ok=True)

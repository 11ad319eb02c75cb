"""A cell in a fresh subprocess: its own heap, thread settings applied before any heavy import,
pinned CPUs, a timeout, and a clear record when the OS kills it.

The parent (``run_child``) starts ``python -m harness.worker``, hands it the pickled cell on stdin
(parent to its own child, never from disk), and listens on a pipe for JSON lines: progress
messages, and each phase as it starts and ends, so that a child killed mid-phase still leaves a
record of where it was. The child writes the cell's result itself, atomically; when it dies first,
the runner writes a failed result from what the parent saw. This module imports only the standard
library: the worker imports it before anything heavy.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")
CGROUP_ROOT = "/sys/fs/cgroup"


def apply_threads(threads: int | None) -> None:
    """Cap intra-op threads: env for libraries not loaded yet (read when their pools start), and
    torch's count when torch is already loaded."""
    if threads is None:
        return
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


@contextlib.contextmanager
def widened(threads: int | None):
    """Run the block on ``threads`` intra-op threads and as many CPUs (for building indexes, see
    ``measure.index_threads``), then restore the thread count and CPU affinity. Yields what was in
    effect: ``{"threads", "cpus"}``, or None when nothing changed (no count given, or torch not
    loaded: a component that has not imported torch has no pool to widen)."""
    torch = sys.modules.get("torch")
    if threads is None or torch is None:
        yield None
        return
    before_threads = torch.get_num_threads()
    before_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cpus = None
    if before_cpus is not None and len(before_cpus) < threads:
        # A pinned cell (cpus_for) sees only its own CPUs; the indexing phase may use more of the
        # machine's, in order, as far as the cgroup allows.
        wanted = set(range(min(threads, os.cpu_count() or threads)))
        try:
            os.sched_setaffinity(0, before_cpus | wanted)
        except OSError:
            pass
    if before_cpus is not None:
        cpus = sorted(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    try:
        yield {"threads": threads, "cpus": cpus}
    finally:
        torch.set_num_threads(before_threads)
        if before_cpus is not None:
            os.sched_setaffinity(0, before_cpus)


def cpus_for(threads: int | None) -> list[int] | None:
    """The CPUs an isolated cell is pinned to: the first ``threads`` this process may use (None:
    no pinning, the child inherits this process's affinity)."""
    if threads is None or not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[:threads] if threads < len(allowed) else None


@dataclass
class ChildOutcome:
    """What the parent saw of a child: exit status, where it was, its last stderr lines."""

    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    phase: str | None = None  # the innermost phase open when the child ended
    records: dict = field(default_factory=dict)  # phase records the child finished
    stderr: list[str] = field(default_factory=list)
    oom_kills: int = 0  # rise in the cgroup's oom_kill count while the child ran
    reply: dict | None = None  # what a child doing other work than a cell sends back (executors/shards.py)
    stopped: bool = False  # killed because ``stop`` said so (a Dask task whose client went away)

    @property
    def signal(self) -> str | None:
        if self.returncode is not None and self.returncode < 0:
            return signal.Signals(-self.returncode).name
        return None


def run_child(payload: bytes, *, threads: int | None, cpus: list[int] | None, timeout: float | None,
              log=print, run_dir: str | None = None, stop=None) -> ChildOutcome:
    """Run one cell in ``python -m harness.worker``; ``log`` receives the child's progress lines.

    ``run_dir`` replaces the job's run folder (a Dask worker's scratch folder); ``stop``, polled
    twice a second, kills the child when it returns true.
    """
    read_fd, write_fd = os.pipe()
    cmd = [sys.executable, "-m", "harness.worker", "--fd", str(write_fd), "--parent", str(os.getpid())]
    if run_dir is not None:
        cmd += ["--run-dir", run_dir]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    if cpus:
        cmd += ["--cpus", ",".join(map(str, cpus))]
    outcome, open_phases = ChildOutcome(), []
    oom_before = _oom_kills()
    start = time.perf_counter()
    # A session of its own: a timeout kills the child's children too (tokenizer pools, ...).
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_fd,),
                            env=_child_env(), start_new_session=True)
    os.close(write_fd)
    readers = [threading.Thread(target=_read_events, args=(read_fd, outcome, open_phases, log), daemon=True),
               threading.Thread(target=_relay_stderr, args=(proc.stderr, outcome), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except BrokenPipeError:  # it died before reading: its status says why
            pass
        outcome.timed_out, outcome.stopped = _wait(proc, timeout, stop)
    finally:  # a timeout, or the parent interrupted (Ctrl-C reaches only our session)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for reader in readers:  # a grandchild still holding a pipe must not hang the run
        reader.join(timeout=10)
    outcome.returncode = proc.returncode
    if proc.returncode < 0:  # killed (timeout, Ctrl-C, the OOM killer): no finaliser ran in it
        from ..corpus import sweep_orphans

        sweep_orphans()  # its corpus folder, if it made one, is unlocked now
    outcome.seconds = round(time.perf_counter() - start, 6)
    outcome.phase = open_phases[-1] if open_phases else None
    outcome.oom_kills = _oom_kills() - oom_before
    return outcome


def _wait(proc: subprocess.Popen, timeout: float | None, stop) -> tuple[bool, bool]:
    """(timed out, stopped): wait for the child, for at most ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        step = left if stop is None else min(0.5, left) if left is not None else 0.5
        try:
            proc.wait(max(step, 0) if step is not None else None)
            return False, False
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                return True, False
            if stop is not None and stop():
                return False, True


def _child_env() -> dict:
    """The child imports what this process can: the pickled cell names classes by module, and
    HARNESS_PLUGIN_MODULES names modules found on this process's path (tests' fakes, notebooks)."""
    env = dict(os.environ)
    path = [p or os.getcwd() for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
    return env


def _read_events(fd: int, outcome: ChildOutcome, open_phases: list[str], log) -> None:
    with os.fdopen(fd, encoding="utf-8") as events:
        for line in events:
            try:
                event = json.loads(line)
            except ValueError:  # the last line of a child killed while writing it
                continue
            if "log" in event:
                log(event["log"])
            elif "reply" in event:
                outcome.reply = event["reply"]
            elif event.get("record") is None:
                open_phases.append(event["phase"])
            else:
                outcome.records[event["phase"]] = event["record"]
                if event["phase"] in open_phases:
                    open_phases.remove(event["phase"])


def _relay_stderr(stream, outcome: ChildOutcome) -> None:
    """The child's stderr goes on to ours (warnings, tracebacks); the last lines are kept for a
    failed cell's error."""
    tail = deque(maxlen=20)
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        sys.stderr.write(line)
        tail.append(line.rstrip("\n"))
    stream.close()
    outcome.stderr = list(tail)


def _oom_kills() -> int:
    """How many processes the kernel has killed for memory in this cgroup (v2 memory.events or v1
    memory.oom_control; 0 where neither is readable)."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            groups = dict(line.strip().split(":", 2)[1:] for line in f if line.count(":") >= 2)
    except OSError:
        return 0
    candidates = []  # inside a container's cgroup namespace the group may only exist as the root
    if "" in groups:  # v2
        candidates += [f"{CGROUP_ROOT}{groups[''].rstrip('/')}/memory.events", f"{CGROUP_ROOT}/memory.events"]
    if "memory" in groups:  # v1
        v1 = f"{CGROUP_ROOT}/memory"
        candidates += [f"{v1}{groups['memory'].rstrip('/')}/memory.oom_control", f"{v1}/memory.oom_control"]
    for path in candidates:
        try:
            with open(path, encoding="ascii") as f:
                return next((int(line.split()[1]) for line in f if line.startswith("oom_kill ")), 0)
        except (OSError, ValueError):
            continue
    return 0

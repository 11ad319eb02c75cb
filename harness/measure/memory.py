"""Host memory: peak resident set size per phase, and what components hold.

Linux keeps a process's high-water mark of resident memory (``VmHWM`` in /proc/self/status) and
resets it when 5 is written to /proc/self/clear_refs, so a phase's peak is: reset, run, read.
tracemalloc would miss memory allocated outside Python's allocator (torch, numpy's BLAS), which
is why the kernel's count is used. Where clear_refs is not writable (some containers, other
kernels), a thread samples ``VmRSS`` instead; it can miss peaks shorter than its interval, and the
figures' method says which way they were taken.
"""

from __future__ import annotations

import threading
from pathlib import Path

STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"
SAMPLE_INTERVAL = 0.002  # seconds: ~1.5% of a core (a /proc read is ~30 µs) and catches most peaks


def available(path: str = STATUS) -> bool:
    """Whether this platform reports resident memory the way this module reads it (Linux)."""
    try:
        return "VmRSS" in read_status(path)
    except OSError:
        return False


def read_status(path: str = STATUS) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of the process, in bytes."""
    out = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) * 1024  # the kernel writes kB
    return out


class PeakRss:
    """Peak resident memory since the last ``reset()``; ``method`` says how it is taken."""

    def __init__(self, status: str = STATUS, clear_refs: str = CLEAR_REFS, interval: float = SAMPLE_INTERVAL):
        self.status = status
        self.clear_refs = clear_refs
        self.interval = interval
        self.mode = "clear_refs" if self._reset_hwm() else "sampling"
        self._max = 0
        self._lock = threading.Lock()  # a sample taken before a reset must not land after it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def method(self) -> str:
        if self.mode == "clear_refs":
            return (f"VmHWM ({self.status}): the kernel's high-water mark of resident memory, reset at the "
                    f"phase start by writing 5 to {self.clear_refs}")
        return (f"largest VmRSS ({self.status}) seen by a thread sampling every {self.interval * 1000:g} ms "
                f"({self.clear_refs} is not writable here); peaks shorter than that can be missed")

    def _reset_hwm(self) -> bool:
        try:
            Path(self.clear_refs).write_text("5")
            return True
        except OSError:
            return False

    def current(self) -> int:
        return read_status(self.status)["VmRSS"]

    def reset(self) -> None:
        if self.mode == "clear_refs":
            self._reset_hwm()
            return
        with self._lock:
            self._max = self.current()
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, name="harness-rss-sampler", daemon=True)
            self._thread.start()

    def peak(self) -> int:
        if self.mode == "clear_refs":
            return read_status(self.status)["VmHWM"]
        self._take()
        return self._max

    def _take(self) -> None:
        with self._lock:
            self._max = max(self._max, self.current())

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()

    def close(self) -> None:
        """Stop the sampling thread (if any)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def parameter_bytes(component) -> int | None:
    """Bytes of the parameters of a component's torch modules (``torch_modules()``, as compressors
    see them), shared tensors counted once; None when it exposes none."""
    from ..capabilities import TorchModules, supports

    modules = component.torch_modules() if supports(component, TorchModules) else {}
    seen, total = set(), 0
    for module in modules.values():
        for param in module.parameters() if hasattr(module, "parameters") else ():
            if id(param) not in seen:
                seen.add(id(param))
                total += param.numel() * param.element_size()
    return total if seen else None


def folder_bytes(path: Path) -> int:
    """Total size of the files under ``path`` (a saved index)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def parameter_figure(component, meter) -> dict | None:
    """``parameter_bytes`` as a figure (``meter``: a ``Meter``), or None."""
    size = parameter_bytes(component)
    if size is None:
        return None
    return meter.figure(size, "bytes", "bytes of the parameters of the component's torch_modules() once it is "
                        "ready (after setup and compressors), shared tensors counted once")


def index_figure(retriever, saved: int | None, meter) -> dict | None:
    """The index's size: as the retriever reports it (``index_bytes()``), else its saved files."""
    from ..capabilities import IndexSized, supports

    if supports(retriever, IndexSized):
        return meter.figure(int(retriever.index_bytes()), "bytes", "reported by the retriever (index_bytes())")
    if saved is not None:
        return meter.figure(saved, "bytes", "size of the index files the retriever saves (save()) to the cache")
    return None

"""What measuring one phase means: wall time, peak host memory, device peaks, as figures.

Phases nest (a fusion retriever's ``retrieve`` contains its nested retrievers' phases), but a peak
counter can only be reset for the whole process. So before an inner phase resets the counters,
the peaks reached so far are folded into every open phase, and again when it ends: each phase's
peak is the largest value seen while it was open, whatever ran inside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import memory
from .clock import CLOCK_METHOD, Clock, Timer
from .devices import NVML_METHOD, CpuDevice, CudaDevice, open_device
from .figures import figure

GROWTH_METHOD = "rss_peak minus VmRSS at the phase start: the host memory the phase added at its peak"


@dataclass
class Span:
    """An open phase: its start and the peaks seen so far."""

    start: int = 0
    rss_start: int = 0
    rss_peak: int = 0
    device_peaks: dict[str, int] = field(default_factory=dict)


class Meter:
    """Measures phases on one device; ``memory`` is a ``PeakRss`` (None: no memory figures)."""

    def __init__(self, device: CpuDevice | CudaDevice | None = None, memory: memory.PeakRss | None = None,
                 threads: int | None = None, clock: Clock = time.perf_counter_ns):
        self.device = device or CpuDevice()
        self.memory = memory
        self.threads = threads
        self.timer = Timer(clock, self.device.sync)
        self._open: list[Span] = []

    @classmethod
    def open(cls, device: str, *, measure_memory: bool, threads: int | None) -> Meter:
        """The meter for a cell: its device resolved, memory probed when asked and possible."""
        probe = memory.PeakRss() if measure_memory and memory.available() else None
        return cls(open_device(device), probe, threads)

    @property
    def wall_method(self) -> str:
        sync = ("the device synchronised before each reading" if self.device.kind != "cpu"
                else "CPU: nothing to synchronise")
        return f"wall-clock time from start to end, {CLOCK_METHOD}; {sync}"

    def now(self) -> int:
        return self.timer.now()

    def figure(self, value, unit: str, method: str, **extra) -> dict:
        """A figure measured here: this meter's threads and device filled in (``extra`` may
        override them: an index built on ``measure.index_threads``)."""
        return figure(value, unit, method, **{"threads": self.threads, "device": self.device.name, **extra})

    def start(self) -> Span:
        self._fold()
        span = Span()
        if self.memory:
            self.memory.reset()
            span.rss_start = span.rss_peak = self.memory.current()
        self.device.reset_peak()
        self._open.append(span)
        span.start = self.now()
        return span

    def stop(self, span: Span) -> tuple[float, dict]:
        """(seconds, figures) of a phase started with ``start``."""
        end = self.now()
        self._fold()
        self._open.remove(span)
        seconds = (end - span.start) / 1e9
        figures = {"wall": self.figure(round(seconds, 6), "s", self.wall_method)}
        if self.memory:
            figures["rss_peak"] = self.figure(span.rss_peak, "bytes", self.memory.method)
            figures["rss_growth"] = self.figure(span.rss_peak - span.rss_start, "bytes", GROWTH_METHOD)
        for key, value in span.device_peaks.items():
            figures[key] = self.figure(value, "bytes", CudaDevice.PEAK_METHODS[key])
        used = self.device.used()
        if used is not None:
            figures["device_memory_used"] = self.figure(used, "bytes", NVML_METHOD)
        return seconds, figures

    def _fold(self) -> None:
        """Give every open phase the peaks reached so far (before a reset, or at its end)."""
        if not self._open:
            return
        rss = self.memory.peak() if self.memory else 0
        peaks = self.device.peaks()
        for span in self._open:
            span.rss_peak = max(span.rss_peak, rss)
            for key, value in peaks.items():
                span.device_peaks[key] = max(span.device_peaks.get(key, 0), value)

    def close(self) -> None:
        if self.memory:
            self.memory.close()

"""The clock every measurement reads: monotonic nanoseconds, read after a device sync.

GPU work is queued asynchronously: reading the clock while kernels are still running would time
their launch, not their work. ``Timer.now`` therefore synchronises the device first (a no-op on
CPU). Tests inject a fake ``clock`` to get exact intervals.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]  # monotonic nanoseconds


class Timer:
    """``now()``: sync the device, then read the clock (``time.perf_counter_ns`` by default)."""

    def __init__(self, clock: Clock = time.perf_counter_ns, sync: Callable[[], None] = lambda: None):
        self.clock = clock
        self.sync = sync

    def now(self) -> int:
        self.sync()
        return self.clock()


CLOCK_METHOD = "time.perf_counter_ns (monotonic)"

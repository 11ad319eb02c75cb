"""The clock: monotonic nanoseconds, read only after the device is synchronised."""

from __future__ import annotations

from harness.measure.clock import Timer


def test_now_syncs_the_device_before_reading_the_clock():
    log = []
    ticks = iter(range(100, 1000, 100))

    def clock():
        log.append("clock")
        return next(ticks)

    timer = Timer(clock, sync=lambda: log.append("sync"))
    assert [timer.now(), timer.now()] == [100, 200]
    assert log == ["sync", "clock", "sync", "clock"]


def test_default_clock_is_monotonic_integer_nanoseconds():
    timer = Timer()
    readings = [timer.now() for _ in range(1000)]
    assert all(isinstance(r, int) for r in readings)
    assert readings == sorted(readings)

"""What a phase measurement holds: figures with their method fields, nested peaks, failures."""

from __future__ import annotations

import pytest

from harness.measure.figures import figure
from harness.measure.meter import Meter
from harness.timing import Phases

FIELDS = {"value", "unit", "method", "samples", "warmup", "threads", "device"}


class FakeProbe:
    """A PeakRss whose readings the test sets: ``rss`` now, ``hwm`` the peak since reset."""

    method = "fake high-water mark"

    def __init__(self):
        self.rss = self.hwm = 100
        self.resets = 0

    def reset(self):
        self.resets += 1
        self.hwm = self.rss

    def current(self):
        return self.rss

    def peak(self):
        return max(self.hwm, self.rss)

    def close(self):
        pass

    def grow(self, n):
        self.rss += n
        self.hwm = max(self.hwm, self.rss)


def fake_clock(step=1_000_000):
    now = [0]

    def clock():
        now[0] += step
        return now[0]

    return clock


def test_figure_shape():
    assert figure(1.5, "ms", "how", samples=3, warmup=1, threads=2, device="cpu", ci={"low": 1}) == {
        "value": 1.5, "unit": "ms", "method": "how", "samples": 3, "warmup": 1, "threads": 2, "device": "cpu",
        "ci": {"low": 1}}


def test_phase_figures_and_nested_peaks():
    probe = FakeProbe()
    phases = Phases(Meter(memory=probe, threads=2, clock=fake_clock()))
    with phases.measure("outer"):
        probe.grow(500)          # outer's own peak: 600
        probe.grow(-450)         # back to 150 before the inner phase resets the mark
        with phases.measure("inner"):
            probe.grow(200)      # inner: 150 -> 350
            probe.grow(-200)
        probe.grow(10)
    inner, outer = phases.records["inner"]["figures"], phases.records["outer"]["figures"]
    assert inner["rss_peak"]["value"] == 350 and inner["rss_growth"]["value"] == 200
    assert outer["rss_peak"]["value"] == 600 and outer["rss_growth"]["value"] == 500
    assert probe.resets == 2
    for figures in (inner, outer):
        for name, fig in figures.items():
            assert FIELDS <= set(fig), name
            assert fig["threads"] == 2 and fig["device"] == "cpu" and fig["samples"] == 1
    assert outer["rss_peak"]["method"] == "fake high-water mark"
    assert outer["rss_peak"]["unit"] == "bytes" and outer["wall"]["unit"] == "s"
    # fake clock: one tick per reading; outer spans 3 readings (its own start, inner's two)
    assert phases.records["inner"]["seconds"] == 0.001 and phases.records["outer"]["seconds"] == 0.003
    assert phases.records["outer"]["seconds"] == outer["wall"]["value"]


def test_failed_phase_is_named_and_kept():
    phases = Phases(Meter(clock=fake_clock()))
    with pytest.raises(KeyError):
        with phases.measure("outer"):
            with phases.measure("inner"):
                raise KeyError("x")
    assert phases.failed == "inner"  # the innermost phase the error left
    assert phases.records["inner"]["figures"]["wall"]["value"] == 0.001


def test_without_memory_no_memory_figures():
    phases = Phases()
    with phases.measure("x"):
        pass
    assert set(phases.records["x"]["figures"]) == {"wall"}


def test_listener_hears_start_and_end():
    heard = []
    phases = Phases(listener=lambda name, record: heard.append((name, record is None)))
    with phases.measure("a"):
        pass
    assert heard == [("a", True), ("a", False)]


def test_note_keeps_a_measured_record():
    phases = Phases()
    with phases.measure("index", cache="miss"):
        pass
    phases.note("index", cache="memory")
    assert phases.records["index"]["cache"] == "miss"
    phases.note("retrieve", cache="hit")
    phases.note("retrieve", cache="memory")  # a note may replace a note
    assert phases.records["retrieve"] == {"seconds": None, "cache": "memory"}

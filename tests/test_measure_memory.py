"""Peak resident memory per phase: the kernel's high-water mark (or the sampling fallback), and
sizes components report."""

from __future__ import annotations

import time

import pytest
from fakes import MIB, TwoStep

from harness.measure import memory
from harness.measure.meter import Meter
from harness.timing import Phases

TRUTH = 256 * MIB


def within(measured: int, truth: int) -> bool:
    return abs(measured - truth) <= max(0.05 * truth, 8 * MIB)


def hold(mib: int, seconds: float = 0.0) -> None:
    block = bytearray(b"\x01") * (mib * MIB)  # written: resident
    time.sleep(seconds)
    del block


needs_clear_refs = pytest.mark.skipif(memory.PeakRss().mode != "clear_refs",
                                      reason="/proc/self/clear_refs is not writable here")


def test_read_status(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t1\n")
    assert memory.read_status(str(status)) == {"VmHWM": 2048 * 1024, "VmRSS": 1024 * 1024}
    assert memory.available(str(status)) and not memory.available(str(tmp_path / "missing"))


@needs_clear_refs
def test_a_phase_that_allocates_256_mib_and_the_phases_around_it():
    probe = memory.PeakRss()
    phases = Phases(Meter(memory=probe))
    with phases.measure("before"):
        hold(1)
    with phases.measure("index"):
        hold(256)
    with phases.measure("after"):
        hold(1)
    figures = {name: r["figures"] for name, r in phases.records.items()}
    assert within(figures["index"]["rss_growth"]["value"], TRUTH), figures["index"]["rss_growth"]
    assert figures["index"]["rss_peak"]["value"] >= figures["index"]["rss_growth"]["value"]
    for other in ("before", "after"):
        assert figures[other]["rss_growth"]["value"] < 8 * MIB, (other, figures[other])
    assert "clear_refs" in figures["index"]["rss_peak"]["method"]


def test_sampling_fallback_sees_a_held_peak(tmp_path):
    probe = memory.PeakRss(clear_refs=str(tmp_path / "no" / "clear_refs"), interval=0.001)
    assert probe.mode == "sampling" and "sampling every 1 ms" in probe.method
    try:
        probe.reset()
        start = probe.current()
        hold(128, seconds=0.1)
        assert within(probe.peak() - start, 128 * MIB)
        probe.reset()  # a new phase does not inherit the old peak
        assert probe.peak() - probe.current() < 8 * MIB
    finally:
        probe.close()


def test_parameter_bytes_counts_shared_tensors_once():
    component = TwoStep()
    component.setup(None)
    assert memory.parameter_bytes(component) == 1000 * 24 * 4 + 3 * 2
    assert memory.parameter_bytes(object()) is None  # no torch_modules()

    class Plain:
        def torch_modules(self):
            return {"scorer": {"weight": 1.0}}  # not a module: nothing to count

    assert memory.parameter_bytes(Plain()) is None


def test_index_size_as_reported_or_saved(tmp_path):
    meter = Meter()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"0" * 100)
    (tmp_path / "y.json").write_text("{}")
    assert memory.folder_bytes(tmp_path) == 102

    class Reports:
        def index_bytes(self):
            return 7

    assert memory.index_figure(Reports(), 102, meter)["value"] == 7
    saved = memory.index_figure(object(), 102, meter)
    assert saved["value"] == 102 and "save()" in saved["method"] and saved["unit"] == "bytes"
    assert memory.index_figure(object(), None, meter) is None

"""Devices: CPU is a no-op; the CUDA path runs against a fake torch here, and against a real GPU
where there is one (skipped otherwise, with the reason)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from harness.measure.devices import CpuDevice, CudaDevice, open_device
from harness.measure.meter import Meter
from harness.timing import Phases


class FakeCuda:
    """torch.cuda as the device uses it; ``allocated``/``reserved`` are the current peaks, which
    ``reset_peak_memory_stats`` brings down to ``current``."""

    def __init__(self, log, available=True, count=1):
        self.log, self.available, self.count = log, available, count
        self.allocated = self.reserved = self.current = 0

    def is_available(self):
        return self.available

    def device_count(self):
        return self.count

    def synchronize(self, index):
        self.log.append(("sync", index))

    def reset_peak_memory_stats(self, index):
        self.log.append(("reset", index))
        self.allocated = self.reserved = self.current

    def max_memory_allocated(self, index):
        return self.allocated

    def max_memory_reserved(self, index):
        return self.reserved

    def get_device_properties(self, index):
        return SimpleNamespace(name="Fake H100", total_memory=80 * 2**30, major=9, minor=0, uuid="abc")


class FakeNvml:
    def nvmlDeviceGetHandleByUUID(self, uuid):
        assert uuid == "GPU-abc"
        return "handle"

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=5 * 2**30)


def fake_torch(log, **kwargs):
    return SimpleNamespace(cuda=FakeCuda(log, **kwargs))


def test_cpu_device_is_a_no_op():
    device = open_device("cpu", torch=object())  # never consulted for cpu
    assert isinstance(device, CpuDevice)
    device.sync()
    device.reset_peak()
    assert device.peaks() == {} and device.used() is None and device.describe() == {"name": "cpu"}


def test_auto_and_cuda_resolution():
    log = []
    assert isinstance(open_device("auto", torch=fake_torch(log, available=False)), CpuDevice)
    device = open_device("auto", torch=fake_torch(log), nvml=FakeNvml())
    assert isinstance(device, CudaDevice) and device.name == "cuda:0"
    assert open_device("cuda:1", torch=fake_torch(log, count=2), nvml=FakeNvml()).name == "cuda:1"
    assert open_device("cuda", torch=fake_torch(log), nvml=FakeNvml()).describe() == {
        "name": "cuda:0", "gpu": "Fake H100", "total_memory": 80 * 2**30, "capability": "9.0", "nvml": True}
    with pytest.raises(RuntimeError, match=r"torch\.cuda\.is_available\(\) is False"):
        open_device("cuda", torch=fake_torch(log, available=False))
    with pytest.raises(RuntimeError, match="only 1 CUDA device"):
        open_device("cuda:1", torch=fake_torch(log))


def test_cuda_phases_sync_before_the_clock_and_fold_nested_peaks():
    log = []
    torch = fake_torch(log)
    cuda = torch.cuda
    ticks = iter(range(0, 10**10, 10**9))

    def clock():
        log.append("clock")
        return next(ticks)

    phases = Phases(Meter(CudaDevice(0, torch, FakeNvml()), threads=4, clock=clock))
    with phases.measure("outer"):
        cuda.allocated, cuda.reserved = 800, 1000  # a peak before the inner phase resets the counters
        cuda.current = 100
        with phases.measure("inner"):
            cuda.allocated, cuda.reserved = 300, 400
        cuda.allocated = 350
    assert all(log[i - 1] == ("sync", 0) for i, e in enumerate(log) if e == "clock")  # every reading
    assert log.count(("reset", 0)) == 2
    inner, outer = phases.records["inner"]["figures"], phases.records["outer"]["figures"]
    assert inner["cuda_allocated_peak"]["value"] == 300 and inner["cuda_reserved_peak"]["value"] == 400
    assert outer["cuda_allocated_peak"]["value"] == 800 and outer["cuda_reserved_peak"]["value"] == 1000
    assert outer["wall"]["value"] == 3.0 and inner["wall"]["value"] == 1.0  # fake clock: exact
    assert "synchronised before each reading" in outer["wall"]["method"]
    assert outer["device_memory_used"]["value"] == 5 * 2**30 and "NVML" in outer["device_memory_used"]["method"]
    for figure in outer.values():
        assert figure["device"] == "cuda:0" and figure["threads"] == 4


def has_nvidia() -> bool:
    return os.path.exists("/proc/driver/nvidia/version")


@pytest.mark.skipif(not has_nvidia(), reason="no NVIDIA driver here (/proc/driver/nvidia absent): "
                    "the CUDA path is covered by the fake-torch tests above")
def test_real_cuda_phase():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device (a CPU build of torch?)")
    phases = Phases(Meter.open("cuda", measure_memory=True, threads=None))
    with phases.measure("alloc"):
        block = torch.ones(64 * 2**20 // 4, device="cuda")  # 64 MiB
        (block * 2).sum().item()
    figures = phases.records["alloc"]["figures"]
    assert figures["cuda_allocated_peak"]["value"] >= 64 * 2**20
    assert figures["cuda_reserved_peak"]["value"] >= figures["cuda_allocated_peak"]["value"]
    assert figures["wall"]["device"] == "cuda:0"

"""Devices a cell measures on: what to synchronise before reading a clock, and peak memory.

``open_device`` resolves the suite's device name (``cpu``, ``cuda``, ``cuda:N``, ``auto``). torch is
imported only for a device other than ``cpu``; the CUDA device takes the torch module (and an NVML
module) as arguments, so tests drive it with fakes on machines without a GPU.
"""

from __future__ import annotations

import sys
from typing import Any

NVML_METHOD = ("NVML memory in use on the whole device (every process) at the end of the phase; "
               "NVML keeps no peak")


class CpuDevice:
    """Nothing to synchronise and no device memory: host memory is ``memory.PeakRss``'s job."""

    name = "cpu"
    kind = "cpu"

    def sync(self) -> None:
        pass

    def reset_peak(self) -> None:
        pass

    def peaks(self) -> dict[str, int]:
        return {}

    def used(self) -> int | None:
        return None

    def describe(self) -> dict:
        return {"name": self.name}


class CudaDevice:
    """A CUDA device through torch: ``synchronize``, peak allocated/reserved bytes per phase."""

    kind = "cuda"
    PEAK_METHODS = {
        "cuda_allocated_peak": "torch.cuda.max_memory_allocated since the phase began "
                               "(reset_peak_memory_stats at its start): tensors",
        "cuda_reserved_peak": "torch.cuda.max_memory_reserved since the phase began: the caching "
                              "allocator's reservation, what the process holds on the device",
    }

    def __init__(self, index: int, torch: Any, nvml: Any = None):
        self.index = index
        self.name = f"cuda:{index}"
        self.torch = torch
        self.nvml = nvml
        self._handle = self._nvml_handle() if nvml is not None else None

    def _nvml_handle(self):
        """NVML numbers devices physically, torch after CUDA_VISIBLE_DEVICES: match by UUID."""
        try:
            uuid = str(self.torch.cuda.get_device_properties(self.index).uuid)
            return self.nvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
        except Exception:  # an older torch without .uuid: the numbering agrees when nothing is hidden
            return self.nvml.nvmlDeviceGetHandleByIndex(self.index)

    def sync(self) -> None:
        self.torch.cuda.synchronize(self.index)

    def reset_peak(self) -> None:
        self.torch.cuda.reset_peak_memory_stats(self.index)

    def peaks(self) -> dict[str, int]:
        cuda = self.torch.cuda
        return {"cuda_allocated_peak": int(cuda.max_memory_allocated(self.index)),
                "cuda_reserved_peak": int(cuda.max_memory_reserved(self.index))}

    def used(self) -> int | None:
        if self._handle is None:
            return None
        return int(self.nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def describe(self) -> dict:
        props = self.torch.cuda.get_device_properties(self.index)
        return {"name": self.name, "gpu": props.name, "total_memory": int(props.total_memory),
                "capability": f"{props.major}.{props.minor}", "nvml": self._handle is not None}


def open_device(name: str, torch: Any = None, nvml: Any = None) -> CpuDevice | CudaDevice:
    """The device for a suite device name; ``auto`` is CUDA when torch sees one, else CPU.

    Raises RuntimeError for a CUDA device torch cannot use, so the cell fails with the reason
    instead of measuring something else.
    """
    if name == "cpu":
        return CpuDevice()
    torch = torch if torch is not None else _import_torch()
    available = torch is not None and torch.cuda.is_available()
    if name == "auto":
        return CudaDevice(0, torch, nvml if nvml is not None else _nvml()) if available else CpuDevice()
    if not available:
        raise RuntimeError(f"device {name!r}: torch reports no usable CUDA device "
                           f"({'torch is not installed' if torch is None else 'torch.cuda.is_available() is False'})")
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return CudaDevice(index, torch, nvml if nvml is not None else _nvml())


def _import_torch():
    if "torch" in sys.modules:
        return sys.modules["torch"]
    try:
        import torch
    except ImportError:  # reported as "no usable CUDA device" (or auto → cpu)
        return None
    return torch


def _nvml():
    """pynvml, initialised, or None when it is not installed or finds no driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # not installed, or no NVIDIA driver: NVML figures are simply absent
        return None

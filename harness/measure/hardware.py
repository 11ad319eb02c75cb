"""The machine a figure was measured on, and a hash that says whether two machines are alike.

The hashed fields come from sources that need no torch import (/proc, NVIDIA's /proc files or
NVML, installed metadata), so a cell that imported torch and one that did not hash alike on the
same machine. What only torch knows (its CUDA and cuDNN builds, the GPU it sees) is added under
``details``, unhashed, when torch is already loaded or the cell runs on a device other than cpu.
"""

from __future__ import annotations

import glob
import os
import platform
import sys
from pathlib import Path

from ..cache import cache_key
from ..provenance import cpu_model, memory_bytes, version_of

NVIDIA = "/proc/driver/nvidia"
HASHED = ("cpu", "cores", "memory_gib", "machine", "gpus", "driver", "cuda_driver", "torch")


def fingerprint(device: str = "cpu", nvidia: str = NVIDIA) -> dict:
    """``{cpu, cores, memory_gib, machine, gpus, driver, cuda_driver, torch, hash, details}``."""
    memory = memory_bytes()
    nvml = _nvml_facts()
    out = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        # MemTotal moves by a few MiB between kernels on the same machine: whole GiB only
        "memory_gib": round(memory / 2**30) if memory else None,
        "machine": platform.machine(),
        "gpus": nvml.get("gpus") or _proc_gpus(nvidia),
        "driver": nvml.get("driver") or _proc_driver(nvidia),
        "cuda_driver": nvml.get("cuda_driver"),
        "torch": version_of("torch"),  # the build, e.g. 2.13.0+cpu or 2.13.0+cu128
    }
    out["hash"] = fingerprint_hash(out)
    if "torch" in sys.modules or device != "cpu":
        out["details"] = _torch_details()
    return out


def fingerprint_hash(fp: dict) -> str:
    """12 hex digits over the hashed fields; the same machine and software give the same hash."""
    return cache_key({k: fp.get(k) for k in HASHED})[:12]


def describe(fp: dict) -> str:
    """One line for people: CPU, cores, memory, GPUs."""
    gpus = ", ".join(fp.get("gpus") or []) or "no GPU"
    return (f"{fp.get('cpu')}, {fp.get('cores')} cores, {fp.get('memory_gib')} GiB, {gpus} "
            f"(fingerprint {fp.get('hash')})")


def _proc_gpus(nvidia: str) -> list[str]:
    names = []
    for info in sorted(glob.glob(f"{nvidia}/gpus/*/information")):
        for line in Path(info).read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    return names


def _proc_driver(nvidia: str) -> str | None:
    """``NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  ...`` → 550.54.14."""
    try:
        first = Path(nvidia, "version").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    words = first.split("Kernel Module")[-1].split()
    return words[0] if words else None


def _nvml_facts() -> dict:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no pynvml or no driver: the /proc files (or nothing) answer
        return {}
    count = pynvml.nvmlDeviceGetCount()
    cuda = pynvml.nvmlSystemGetCudaDriverVersion()  # e.g. 12040
    return {
        "gpus": [_text(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)],
        "driver": _text(pynvml.nvmlSystemGetDriverVersion()),
        "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}",
    }


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _torch_details() -> dict:
    try:
        import torch
    except ImportError:
        return {"torch": None}
    details = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
               "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
               "cuda_devices": []}
    if torch.cuda.is_available():
        details["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return details

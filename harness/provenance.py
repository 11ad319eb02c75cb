"""Where a number came from: software versions, hardware, host, git revision.

Recorded in every run manifest and cell result. Library versions are read from installed
metadata, never by importing them (torch is reported only when a plugin loaded it).
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

LIBRARIES = ("pluggy", "numpy", "pytrec-eval-terrier", "ir_datasets", "bm25s", "torch", "transformers")


def version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def threads() -> dict:
    """Thread settings that change speed: env caps, affinity, torch's count when loaded."""
    out = {
        "cpu_count": os.cpu_count(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                if k in os.environ},
    }
    if hasattr(os, "sched_getaffinity"):
        out["affinity"] = sorted(os.sched_getaffinity(0))
    if "torch" in sys.modules:
        out["torch_intra_op"] = sys.modules["torch"].get_num_threads()
    return out


def git_revision(folder: Path) -> dict | None:
    """The commit of the repository holding ``folder`` and whether it had local changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=folder, capture_output=True, text=True, timeout=5)
        return {"commit": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def environment(suite_dir: Path | None = None) -> dict:
    """The run-level record: host, hardware, Python and library versions, suite git revision."""
    from . import __version__

    return {
        "harness": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "memory_bytes": memory_bytes(),
        "threads": threads(),
        "libraries": {name: v for name in LIBRARIES if (v := version_of(name))},
        "suite_git": git_revision(suite_dir) if suite_dir else None,
    }


def loaded_libraries() -> dict:
    """Versions of the heavy libraries actually imported in this process (torch, transformers)."""
    return {name: version_of(name) for name in ("torch", "transformers") if name in sys.modules}

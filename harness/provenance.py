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


# A suite folder may be a stranger's repository, and its .git/config can name programs git runs:
# ``core.fsmonitor`` (a hook run by ``git status``), clean/smudge filter drivers (run on files whose
# stat data changed), hooks, submodules with configs of their own. Provenance runs git with all of
# those switched off on the command line, which takes precedence over the repository's config.
SAFE_GIT = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false",
            "-c", "diff.external=", "-c", "status.submoduleSummary=false", "--no-optional-locks")
# environment variables that would point git at another repository than the folder's own (a
# harness started from a git hook inherits GIT_DIR)
_REPOSITORY_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
                   "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_CONFIG_PARAMETERS",
                   "GIT_CONFIG_COUNT", "GIT_EXTERNAL_DIFF")


def _git(folder: Path, *args: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_ENV and not k.startswith("GIT_CONFIG_KEY_")
           and not k.startswith("GIT_CONFIG_VALUE_")}
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    return subprocess.run(["git", *SAFE_GIT, *options, *args], cwd=folder, capture_output=True, text=True,
                          timeout=5, env=env, stdin=subprocess.DEVNULL)


def _no_filters(folder: Path) -> tuple[str, ...]:
    """``-c`` options that switch off every filter driver the repository's config defines (reading
    the config runs nothing; ``git status`` would run a driver's ``clean`` command)."""
    found = _git(folder, "config", "--null", "--get-regexp", r"^filter\.")
    names = set()
    for entry in found.stdout.split("\0") if found.returncode == 0 else ():
        key = entry.split("\n", 1)[0]
        if key.count(".") >= 2:
            names.add(key[len("filter."):key.rindex(".")])
    out: list[str] = []
    for name in sorted(names):
        for var, value in (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false")):
            out += ["-c", f"filter.{name}.{var}={value}"]
    return tuple(out)


def git_revision(folder: Path) -> dict | None:
    """The commit of the repository holding ``folder`` and whether it had local changes (tracked
    files changed or untracked files present; submodules not looked into). Git runs with none of
    the programs the repository's own config could name (``SAFE_GIT``, filter drivers off)."""
    try:
        rev = _git(folder, "rev-parse", "--verify", "-q", "HEAD^{commit}")
        if rev.returncode != 0:
            return None
        dirty = _git(folder, "status", "--porcelain", "--ignore-submodules=all", options=_no_filters(folder))
        if dirty.returncode != 0:
            return {"commit": rev.stdout.strip(), "dirty": None}  # unknown, not clean
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

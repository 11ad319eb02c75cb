"""The suite's settings tables, ``[stats]``, ``[measure]``, ``[output]`` and ``[execution]``, as
frozen dataclasses: each field is one key with its type (the annotation), default and help.

They are the one declaration of those keys: the validator checks a table against
``params_of(cls)`` (schema.py), ``Suite`` holds an instance of each, and code reads attributes
(``suite.measure.threads``). ``to_dict()`` gives the table as results record it (JSON).
docs/suite-format.md documents every key (tests/test_suite_docs.py checks the defaults).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..params import setting
from ..stats.settings import StatsSettings

LATENCY_MODES = ("single-stream", "offline")
ISOLATION = ("subprocess", "none")
LEADERBOARD_FORMATS = ("md", "csv", "json", "html")
EXECUTORS = ("local", "dask")


class _Section:
    def to_dict(self) -> dict[str, Any]:
        """The table with every key, in declaration order: what manifests and cell results record."""
        return asdict(self)


@dataclass(frozen=True)
class MeasureSettings(_Section):
    """``[measure]``: how cost is measured (docs/measurement.md)."""

    devices: list[str] = setting(["cpu"], "devices each pipeline runs on (cpu, cuda, cuda:N, auto)")
    threads: int | None = setting(None, "intra-op threads (torch, BLAS); default: the library's", min=1)
    index_threads: int | None = setting(None, "intra-op threads (and CPUs) while an index is built (corpus "
                                        "encoding); default: threads", min=1)
    latency: list[str] = setting([], "latency modes timed on the query path: single-stream, offline",
                                 choices=LATENCY_MODES)
    warmup: int = setting(10, "single-stream warm-up queries, discarded", min=0)
    repetitions: int = setting(3, "minimum passes (single-stream) or batches (offline)", min=1)
    min_duration: float = setting(1.0, "minimum measured seconds per latency mode", min=0)
    latency_queries: int | None = setting(100, "queries the latency loops use (seeded sample); null = all", min=1)
    bootstrap_samples: int = setting(1000, "bootstrap resamples for the latency percentiles' intervals", min=1,
                                     max=1_000_000)
    memory: bool = setting(False, "measure peak resident memory per phase")
    isolation: str | None = setting(None, "run each cell in a fresh process; default: subprocess when memory "
                                    "is measured or a timeout is set, else none", choices=ISOLATION)
    timeout: float | None = setting(None, "seconds a cell may run before it is killed (isolated cells); "
                                    "null = none", min=1)
    concurrent: bool = setting(False, "allow cells to run side by side (executors that can; recorded)")

    def cell_config(self) -> dict[str, Any]:
        """The settings that decide a cell's figures, as its result records them (``config.measure``)
        and its key hashes them: every key but ``devices`` (a cell runs on one)."""
        out = self.to_dict()
        del out["devices"]
        return out


@dataclass(frozen=True)
class OutputSettings(_Section):
    """``[output]``: where results go and what they keep."""

    dir: str = setting("results", "results root, relative to the working directory")
    run_files: bool = setting(True, "write a TREC run file per cell")
    per_query: bool = setting(True, "store per-query metric values in cell results")
    leaderboard: list[str] = setting(list(LEADERBOARD_FORMATS), "leaderboard formats (docs/leaderboards.md)",
                                     choices=LEADERBOARD_FORMATS)
    cache: bool = setting(True, "reuse cached artifacts (indexes, runs) across runs")
    cache_dir: str | None = setting(None, "artifact cache folder; default <dir>/.cache")


@dataclass(frozen=True)
class ExecutionSettings(_Section):
    """``[execution]``: where cells run (docs/distributed.md); no key of it is part of a cell's key."""

    executor: str = setting("local", "where cells run: local (this machine, one at a time) or dask",
                            choices=EXECUTORS)
    scheduler: str | None = setting(None, "Dask scheduler address (tcp://host:8786); null = a LocalCluster "
                                    "for the run")
    workers: int | None = setting(None, "workers of the LocalCluster; default: cores / measure.threads", min=1)
    retries: int = setting(2, "further attempts of a cell whose worker or process died", min=0)
    shard_documents: int | None = setting(None, "encode corpora larger than this in shards of this many "
                                          "documents on several workers (retrievers that shard); null = never",
                                          min=1)
    gpus: list[int] = setting([], "GPUs of this machine for the LocalCluster the run starts: one worker per GPU, "
                              "each seeing only its own (CUDA_VISIBLE_DEVICES); [] = workers as usual", min=0)


def from_table(cls: type, table: dict[str, Any]):
    """An instance of a section's dataclass from a validated table (values copied; keys the class
    does not declare ignored, absent ones defaulted)."""
    names = {f.name for f in fields(cls)}
    return cls(**{key: copy.deepcopy(value) for key, value in table.items() if key in names})


SECTIONS: dict[str, type] = {"stats": StatsSettings, "measure": MeasureSettings, "output": OutputSettings,
                             "execution": ExecutionSettings}
"""Each settings table of a suite and the dataclass that declares it."""

__all__ = ["SECTIONS", "ExecutionSettings", "MeasureSettings", "OutputSettings", "StatsSettings", "from_table"]

"""The suite schema: every key a suite accepts, with its type, default and help.

docs/suite-format.md documents each of them (a test checks that none is missing there).
"""

from __future__ import annotations

import re

from ..params import Param
from ..stats.settings import STATS_PARAMS

DEFAULT_METRICS = ["nDCG@10", "RR@10", "R@100", "AP"]
DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|auto)$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

TOP = {
    "name": Param(str, None, "suite name: results go to <output.dir>/<name>/", nullable=True),
    "description": Param(str, ""),
    "k": Param(int, 1000, "retrieval depth: documents retrieved per query", min=1),
    "seed": Param(int, 0, "seed for every random choice (query samples, bootstrap)"),
    "metrics": Param(list, DEFAULT_METRICS, "metric names (nDCG@10) or tables"),
    "datasets": Param(list, help="[[datasets]] entries"),
    "pipelines": Param(list, help="[[pipelines]] entries"),
    "stats": Param(dict, {}),
    "measure": Param(dict, {}),
    "output": Param(dict, {}),
    "execution": Param(dict, {}),
}
STATS = STATS_PARAMS  # harness/stats/settings.py declares the [stats] keys
MEASURE = {
    "devices": Param(str, ["cpu"], "devices each pipeline runs on (cpu, cuda, cuda:N, auto)", many=True),
    "threads": Param(int, None, "intra-op threads (torch, BLAS); default: the library's", nullable=True, min=1),
    "index_threads": Param(int, None, "intra-op threads (and CPUs) while an index is built (corpus encoding); "
                           "default: threads", nullable=True, min=1),
    "latency": Param(str, [], "latency modes timed on the query path: single-stream, offline",
                     choices=("single-stream", "offline"), many=True),
    "warmup": Param(int, 10, "single-stream warm-up queries, discarded", min=0),
    "repetitions": Param(int, 3, "minimum passes (single-stream) or batches (offline)", min=1),
    "min_duration": Param(float, 1.0, "minimum measured seconds per latency mode", min=0),
    "latency_queries": Param(int, 100, "queries the latency loops use (seeded sample); null = all",
                             nullable=True, min=1),
    "bootstrap_samples": Param(int, 1000, "bootstrap resamples for the latency percentiles' intervals", min=1),
    "memory": Param(bool, False, "measure peak resident memory per phase"),
    "isolation": Param(str, None, "run each cell in a fresh process; default: subprocess when memory is "
                       "measured or a timeout is set, else none", choices=("subprocess", "none"), nullable=True),
    "timeout": Param(float, None, "seconds a cell may run before it is killed (isolated cells); null = none",
                     nullable=True, min=1),
    "concurrent": Param(bool, False, "allow cells to run side by side (executors that can; recorded)"),
}
OUTPUT = {
    "dir": Param(str, "results", "results root, relative to the working directory"),
    "run_files": Param(bool, True, "write a TREC run file per cell"),
    "per_query": Param(bool, True, "store per-query metric values in cell results"),
    "leaderboard": Param(str, ["md", "csv", "json", "html"], "leaderboard formats (docs/leaderboards.md)",
                         choices=("md", "csv", "json", "html"), many=True),
    "cache": Param(bool, True, "reuse cached artifacts (indexes, runs) across runs"),
    "cache_dir": Param(str, None, "artifact cache folder; default <dir>/.cache", nullable=True),
}
EXECUTION = {
    "executor": Param(str, "local", "where cells run: local (this machine, one at a time) or dask",
                      choices=("local", "dask")),
    "scheduler": Param(str, None, "Dask scheduler address (tcp://host:8786); null = a LocalCluster for the run",
                       nullable=True),
    "workers": Param(int, None, "workers of the LocalCluster; default: cores / measure.threads",
                     nullable=True, min=1),
    "retries": Param(int, 2, "further attempts of a cell whose worker or process died", min=0),
    "shard_documents": Param(int, None, "encode corpora larger than this in shards of this many documents "
                             "on several workers (retrievers that shard); null = never", nullable=True, min=1),
}
DATASET = {
    "name": Param(str, None, "name in results; default: from the source", nullable=True),
    "source": Param(str, None, "shorthand provider:value, e.g. irds:cranfield", nullable=True),
    "provider": Param(str, None, "dataset provider plugin", nullable=True),
    "fields": Param(str, None, "document fields components see", choices=("title", "text"), many=True, nullable=True),
    "queries": Param(dict, None, "query subset: {first = N} or {sample = N, seed = S}", nullable=True),
    "grades": Param(dict, None, "relevance grade mapping, e.g. {\"-1\" = 0}", nullable=True),
}
PIPELINE = {
    "name": Param(str, help="unique pipeline name"),
    "description": Param(str, ""),
    "retriever": Param(dict, help="{plugin = ..., params...}"),
    "ranker": Param(dict, None, "{plugin = ..., depth = N, params...}", nullable=True),
    "compressors": Param(dict, [], "compressors applied to every compressible stage", many=True),
    "sweep": Param(dict, {}, "parameter -> list of values; one pipeline per combination"),
    "parent": Param(str, None, "the pipeline this one is compared with as compressed against uncompressed "
                    "(docs/leaderboards.md); default: found from the stages' configurations", nullable=True),
}
STAGE_CORE = {
    "retriever": {"compressors": Param(dict, [], many=True)},
    "ranker": {"compressors": Param(dict, [], many=True),
               "depth": Param(int, 100, "candidates reranked per query", min=1)},
}

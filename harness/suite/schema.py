"""The suite schema: every key a suite accepts, with its type, default and help.

The settings tables (``[stats]``, ``[measure]``, ``[output]``, ``[execution]``) are declared once,
as the dataclasses of sections.py; their Params here are read from them.

docs/suite-format.md documents each of them (a test checks that none is missing there).
"""

from __future__ import annotations

import re

from ..params import Param, params_of
from .sections import ExecutionSettings, MeasureSettings, OutputSettings, StatsSettings

DEFAULT_METRICS = ["nDCG@10", "RR@10", "R@100", "AP"]
DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|auto)$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
# Names become folder and file names (results/<suite>/, cells/<dataset>__<pipeline>__<device>.json,
# the lock <suite>.lock): a limit that leaves room for the rest of a cell's file name and the
# temporary names files are written under, far below the 255 bytes file systems allow.
MAX_NAME = 100
MAX_CELL_FILE = 200  # a cell's file name without its suffix (Cell.slug): datasets, pipeline variant, device
# Every seed reaches numpy (default_rng; RandomState takes no more) and random.Random
SEED_MIN, SEED_MAX = 0, 2**32 - 1

TOP = {
    "name": Param(str, None, "suite name: results go to <output.dir>/<name>/", nullable=True),
    "description": Param(str, ""),
    "k": Param(int, 1000, "retrieval depth: documents retrieved per query", min=1),
    "seed": Param(int, 0, "seed for every random choice (query samples, bootstrap)", min=SEED_MIN, max=SEED_MAX),
    "metrics": Param(list, DEFAULT_METRICS, "metric names (nDCG@10) or tables"),
    "datasets": Param(list, help="[[datasets]] entries"),
    "pipelines": Param(list, help="[[pipelines]] entries"),
    "stats": Param(dict, {}),
    "measure": Param(dict, {}),
    "output": Param(dict, {}),
    "execution": Param(dict, {}),
}
# The settings tables: keys, types and defaults come from their dataclasses (sections.py)
STATS = params_of(StatsSettings)
MEASURE = params_of(MeasureSettings)
OUTPUT = params_of(OutputSettings)
EXECUTION = params_of(ExecutionSettings)
DATASET = {
    "name": Param(str, None, "name in results; default: from the source", nullable=True),
    "source": Param(str, None, "shorthand provider:value, e.g. irds:cranfield", nullable=True),
    "provider": Param(str, None, "dataset provider plugin", nullable=True),
    "fields": Param(str, None, "document fields components see", choices=("title", "text"), many=True, nullable=True),
    "queries": Param(dict, None, "query subset: {first = N} or {sample = N, seed = S}", nullable=True),
    "grades": Param(dict, None, "relevance grade mapping, e.g. {\"-1\" = 0}", nullable=True),
    "corpus_store": Param(str, "auto", "where the documents are held: memory (Python objects), disk "
                          "(memory-mapped files), auto (disk beyond 500,000 documents)",
                          choices=("auto", "memory", "disk")),
}
PIPELINE = {
    "name": Param(str, help="unique pipeline name"),
    "description": Param(str, ""),
    "stages": Param(dict, None, "[{plugin = retriever, ...}, {plugin = ranker, depth = N, ...}, ...]: a "
                    "retriever, then rankers each reranking the stage before's top depth", nullable=True,
                    many=True),
    "retriever": Param(dict, None, "{plugin = ..., params...}: the first stage (shorthand)", nullable=True),
    "ranker": Param(dict, None, "{plugin = ..., depth = N, params...}: the second stage (shorthand)",
                    nullable=True),
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
# A ranker nested in a component's parameters (a Param("ranker")) scores the pairs its component
# hands it: it reranks no stage before it, so depth (and interpolate) would mean nothing there
NESTED_RANKER = {"compressors": STAGE_CORE["ranker"]["compressors"]}
# A pipeline's rankers (not a nested one, which scores pairs for its component) also interpolate
INTERPOLATE = Param(float, None, "order the reranked head by a*own + (1-a)*the stage before's score (both "
                    "min-max normalised per query)", min=0, max=1, nullable=True)
PIPELINE_RANKER = {**STAGE_CORE["ranker"], "interpolate": INTERPOLATE}

"""Suites: the TOML schema, its validation, sweeps, and the cells a suite expands into.

``load_suite`` returns a ``Suite`` or raises ``SuiteError`` listing every problem at once, each
with its key path (``pipelines[2].ranker.depth``), line and a "did you mean" where one helps.
docs/suite-format.md documents every key.

* ``schema``: the keys and their declared types;
* ``text``: TOML parsing, line numbers for key paths, ``--set`` syntax;
* ``check``: validation, sweeps, overrides;
* ``sections``: the settings tables as dataclasses (``MeasureSettings``, ``StatsSettings``,
  ``OutputSettings``, ``ExecutionSettings``), the one declaration of their keys and defaults;
* ``model``: ``Suite``, ``PipelineSpec``, ``StageSpec``, ``Cell``.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..plugins import Registry, get_registry
from .check import SuiteChecker
from .model import Cell, PipelineSpec, StageSpec, Suite
from .schema import DATASET, EXECUTION, MEASURE, OUTPUT, PIPELINE, STAGE_CORE, STATS, TOP
from .sections import ExecutionSettings, MeasureSettings, OutputSettings, StatsSettings
from .text import Problem, SuiteError, parse_toml, read_suite_text

__all__ = [
    "DATASET", "EXECUTION", "MEASURE", "OUTPUT", "PIPELINE", "STAGE_CORE", "STATS", "TOP",
    "Cell", "ExecutionSettings", "MeasureSettings", "OutputSettings", "PipelineSpec", "Problem", "StageSpec",
    "StatsSettings", "Suite", "SuiteError",
    "build_suite", "load_suite", "validate",
]


def load_suite(path: str | Path, overrides=(), registry: Registry | None = None) -> Suite:
    """Parse and validate a suite file; raises SuiteError with every problem."""
    path = Path(path)
    text = read_suite_text(path)
    raw = parse_toml(text, str(path))
    return build_suite(raw, text, path, overrides, registry or get_registry())


def validate(path: str | Path, overrides=(), registry: Registry | None = None) -> list[Problem]:
    """Every problem with a suite file (empty when it is valid); never raises for bad input."""
    try:
        load_suite(path, overrides, registry)
    except SuiteError as exc:
        return exc.problems
    return []


def build_suite(raw: dict, text: str, path: Path, overrides, registry: Registry) -> Suite:
    checker = SuiteChecker(text, registry)
    raw = checker.apply_overrides(copy.deepcopy(raw), overrides)
    suite = checker.suite(raw, path)
    if checker.problems:
        raise SuiteError(checker.problems, str(path))
    return suite

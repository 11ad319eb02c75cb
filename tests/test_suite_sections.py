"""The suite's settings tables as dataclasses: the one declaration of each key, type and default.

docs/suite-format.md stating the same defaults is checked in test_suite_docs.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import re

import pytest
from fakes import registry_with

from harness import suite as schema
from harness.measure import latency
from harness.params import Param, params_of, setting
from harness.stats.settings import STATS_PARAMS, stats_settings
from harness.suite import ExecutionSettings, MeasureSettings, OutputSettings, StatsSettings, load_suite
from harness.suite.sections import SECTIONS

TABLES = {"stats": schema.STATS, "measure": schema.MEASURE, "output": schema.OUTPUT, "execution": schema.EXECUTION}

SUITE = """
k = 100
[[datasets]]
source = "beir:{beir}"
[[pipelines]]
name = "overlap"
retriever = {plugin = "overlap"}
"""


@pytest.mark.parametrize("name", SECTIONS)
def test_the_schema_is_read_from_the_dataclass(name):
    cls = SECTIONS[name]
    assert TABLES[name] == params_of(cls)  # keys, types, defaults, help and bounds: one declaration
    assert list(TABLES[name]) == [f.name for f in dataclasses.fields(cls)]
    assert {key: p.default for key, p in TABLES[name].items()} == cls().to_dict()
    assert all(p.help for p in TABLES[name].values()), "every key has its one-line help"
    assert name in schema.TOP


def test_stats_params_are_the_stats_settings():
    assert STATS_PARAMS is schema.STATS or STATS_PARAMS == schema.STATS
    assert stats_settings({}, suite_seed=7) == StatsSettings(seed=7)  # the seed resolved, the rest defaulted
    assert StatsSettings().seed is None and StatsSettings(seed=3).resolved(7).seed == 3


def test_latency_settings_default_to_the_measure_section():
    d, s = MeasureSettings(), latency.Settings()
    assert (s.warmup, s.repetitions, s.min_duration, s.bootstrap_samples) == (
        d.warmup, d.repetitions, d.min_duration, d.bootstrap_samples)
    # declared once: the latency loops' settings hold no default value of their own
    source = inspect.getsource(latency.Settings)
    for name in ("warmup", "repetitions", "min_duration", "bootstrap_samples"):
        assert re.search(rf"^\s+{name}: \w+ = _MEASURE\.{name}$", source, re.M), name
    tuned = MeasureSettings(warmup=2, repetitions=4, min_duration=0.5, bootstrap_samples=50)
    assert latency.Settings.of(tuned, 9) == latency.Settings(2, 4, 0.5, 50, 9)


def test_list_defaults_are_not_shared():
    a, b = MeasureSettings(), MeasureSettings()
    assert a.devices == ["cpu"] and a.devices is not b.devices
    assert OutputSettings().leaderboard is not OutputSettings().leaderboard
    assert schema.MEASURE["devices"].default is not a.devices


def test_a_suite_holds_the_dataclasses(write_suite):
    text = SUITE + '[measure]\nthreads = 2\nlatency = ["offline"]\n[output]\nrun_files = false\n' \
                   '[stats]\nalpha = 0.01\n[execution]\nretries = 0\n'
    suite = load_suite(write_suite(text), registry=registry_with())
    assert isinstance(suite.measure, MeasureSettings) and isinstance(suite.output, OutputSettings)
    assert isinstance(suite.stats, StatsSettings) and isinstance(suite.execution, ExecutionSettings)
    assert (suite.measure.threads, suite.measure.latency, suite.measure.warmup) == (2, ["offline"], 10)
    assert (suite.output.run_files, suite.stats.alpha, suite.stats.seed, suite.execution.retries) == (
        False, 0.01, None, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        suite.measure.threads = 4
    assert pickle.loads(pickle.dumps(suite)).measure == suite.measure  # how isolated workers get it


def test_dicts_keep_the_recorded_shape(write_suite):
    """Manifests and cell results record the tables as dicts, keys in declaration order (as the
    validated tables were before they became dataclasses); a cell's measure leaves out devices."""
    suite = load_suite(write_suite(SUITE), registry=registry_with())
    measure = suite.measure.to_dict()
    assert list(measure) == list(schema.MEASURE) and measure["devices"] == ["cpu"]
    cell = suite.measure.cell_config()
    assert list(cell.items()) == [  # what cell results record as config.measure and cell keys hash
        ("threads", None), ("index_threads", None), ("latency", []), ("warmup", 10), ("repetitions", 3),
        ("min_duration", 1.0), ("latency_queries", 100), ("bootstrap_samples", 1000), ("memory", False),
        ("isolation", None), ("timeout", None), ("concurrent", False)]
    assert suite.output.to_dict() == {"dir": "results", "run_files": True, "per_query": True,
                                      "leaderboard": ["md", "csv", "json", "html"], "cache": True,
                                      "cache_dir": None}
    assert suite.stats.to_dict()["seed"] is None
    assert suite.execution.to_dict() == {"executor": "local", "scheduler": None, "workers": None, "retries": 2,
                                         "shard_documents": None, "gpus": []}


def test_setting_fields_make_params():
    @dataclasses.dataclass(frozen=True)
    class Example:
        count: int = setting(3, "how many", min=1)
        name: str | None = setting(None, "a name", choices=("a", "b"))
        tags: list[str] = setting(["x"], "tags")
        table: dict[str, int] = setting({}, "a table")
        ratio: float = setting(0.5, "a ratio", min=0.0, max=1.0)
        plain: int = 0  # not a setting: no param

    assert params_of(Example) == {
        "count": Param(int, 3, "how many", min=1),
        "name": Param(str, None, "a name", choices=("a", "b"), nullable=True),
        "tags": Param(str, ["x"], "tags", many=True),
        "table": Param(dict, {}, "a table"),
        "ratio": Param(float, 0.5, "a ratio", min=0.0, max=1.0),
    }
    assert Example().tags == ["x"] and Example().tags is not Example().tags

"""Every metric's provider is recorded (cell results' ``metric_providers``, run.json) and the
leaderboard header says truthfully who computed the metrics (md, html, json)."""

from __future__ import annotations

import json

import pytest
from fakes import registry_with

import harness
from harness.cell import metric_providers
from harness.cellresult import CellResult, MetricProvider
from harness.components import Metric, MetricValue
from harness.leaderboard.analysis import metrics_source
from harness.metrics import parse_metric
from harness.params import Param
from harness.provenance import version_of
from harness.results import MANIFEST, cell_path, load_run, read_cell

PYTREC = f"pytrec_eval {version_of('pytrec-eval-terrier')}"

SUITE = """
name = "providers"
k = 5
metrics = ["nDCG@3", "ERR@3", "Judged@3"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25"}

[measure]
isolation = "none"
"""


class ERR(Metric):
    """A plugin's metric (a stand-in: the reciprocal rank of the first relevant document)."""

    name = "ERR"
    params = {"cutoff": Param(int, None, "depth")}
    cutoff_rule = "required"

    def evaluate(self, qrels, run, ctx):
        per_query = {}
        for qid, docs in run.truncate(self.config["cutoff"]).items():
            ranks = [r for r, d in enumerate(docs, 1) if qrels.get(qid, {}).get(d, 0) > 0]
            per_query[qid] = 1 / ranks[0] if ranks else 0.0
        return MetricValue(sum(per_query.values()) / max(len(per_query), 1), per_query)


@pytest.fixture
def registry():
    return registry_with(ERR)  # as if a distribution "tests" 0.0.1 provided it (plugin "tests.fakes")


def test_metric_providers_name_plugin_distribution_version(registry):
    metrics = [parse_metric(m, registry) for m in ("nDCG@10", "Judged@10", "ERR@10")]
    found = metric_providers(metrics, registry)
    assert list(found) == ["nDCG@10", "Judged@10", "ERR@10"]
    assert found["nDCG@10"] == {"family": "nDCG", "plugin": "harness.builtin.measures", "distribution": "ir-harness",
                                "version": harness.__version__, "origin": "built-in", "computed_by": PYTREC}
    assert found["Judged@10"]["computed_by"] is None and found["Judged@10"]["origin"] == "built-in"
    assert found["ERR@10"] == {"family": "ERR", "plugin": "tests.fakes", "distribution": "tests",
                               "version": "0.0.1", "origin": "entry point", "computed_by": None}


def test_a_run_records_providers_in_cells_manifest_and_header(write_suite, tmp_path, registry):
    suite = harness.load_suite(write_suite(SUITE), registry=registry)
    outcome = harness.run(suite, results_dir=tmp_path / "results", registry=registry)
    run_dir = outcome.run_dir
    manifest, cells = load_run(run_dir)
    assert [c.status for c in cells] == ["ok"]
    cell = cells[0]
    assert set(cell.metric_providers) == {"nDCG@3", "ERR@3", "Judged@3"}
    assert isinstance(cell.metric_providers["ERR@3"], MetricProvider)
    assert cell.metric_providers["ERR@3"].distribution == "tests"
    assert cell.metric_providers["ERR@3"].version == "0.0.1"
    assert cell.metric_providers["nDCG@3"].computed_by == PYTREC
    stored = json.loads(cell_path(run_dir, cell.cell.slug).read_text())
    assert stored["metric_providers"]["ERR@3"]["plugin"] == "tests.fakes"
    assert manifest["metric_providers"] == stored["metric_providers"]

    header = (f"metrics: trec_eval measures ({PYTREC}), ERR@3 (tests 0.0.1, plugin tests.fakes) and "
              f"Judged@3 (computed by ir-harness {harness.__version__}),")
    md = (run_dir / "leaderboard.md").read_text()
    assert header in md and "(pytrec_eval)," not in md
    html = (run_dir / "leaderboard.html").read_text()
    assert header in html
    data = json.loads((run_dir / "leaderboard.json").read_text())
    assert data["metrics_source"] == header.removeprefix("metrics: ").rstrip(",")
    assert data["metric_providers"]["ERR@3"] == [stored["metric_providers"]["ERR@3"]]


def test_older_cells_without_providers_read_and_keep_the_old_header(write_suite, tmp_path, registry):
    suite = harness.load_suite(write_suite(SUITE.replace(', "ERR@3"', "")), registry=registry)
    run_dir = harness.run(suite, results_dir=tmp_path / "results", registry=registry).run_dir
    # as written before providers were recorded: neither the cells nor run.json have them
    manifest = json.loads((run_dir / MANIFEST).read_text())
    del manifest["metric_providers"]
    (run_dir / MANIFEST).write_text(json.dumps(manifest))
    path = next((run_dir / "cells").glob("*.json"))
    old = json.loads(path.read_text())
    del old["metric_providers"]
    path.write_text(json.dumps(old, indent=1))
    cell = read_cell(path)
    assert cell.metric_providers == {} and "metric_providers" not in cell.to_dict()
    assert cell.to_dict() == old  # written back as read
    from harness.leaderboard import write_leaderboard

    write_leaderboard(run_dir)
    assert "metrics: trec_eval measures (pytrec_eval), mean" in (run_dir / "leaderboard.md").read_text()
    assert json.loads((run_dir / "leaderboard.json").read_text())["metric_providers"] == {}


def test_metric_provider_types_are_checked():
    base = {"schema": "harness.cell/2", "cell": {"id": "d/p/cpu", "key": "k", "slug": "s", "dataset": "d",
                                                  "pipeline": "p", "device": "cpu"},
            "status": "ok", "metrics": {"ERR@3": 0.5}}
    ok = CellResult.from_dict({**base, "metric_providers": {"ERR@3": {"family": "ERR", "version": "1.0"}}})
    assert ok.metric_providers["ERR@3"].version == "1.0"
    from harness.errors import ResultsError

    with pytest.raises(ResultsError, match=r"metric_providers\.ERR@3\.version"):
        CellResult.from_dict({**base, "metric_providers": {"ERR@3": {"version": 1}}})


def test_header_words():
    pytrec = {"family": "nDCG", "distribution": "ir-harness", "version": "0.1.0", "origin": "built-in",
              "computed_by": "pytrec_eval 0.5"}
    err = {"family": "ERR", "plugin": "robustness", "distribution": "ir-harness-robustness", "version": "0.1.0",
           "origin": "entry point"}
    assert metrics_source(["nDCG@10"], {}) == "trec_eval measures (pytrec_eval)"
    assert metrics_source(["nDCG@10", "AP"], {"nDCG@10": [pytrec], "AP": [pytrec]}) == \
        "trec_eval measures (pytrec_eval 0.5)"
    assert metrics_source(["nDCG@10", "ERR@10"], {"nDCG@10": [pytrec], "ERR@10": [err]}) == \
        "trec_eval measures (pytrec_eval 0.5) and ERR@10 (ir-harness-robustness 0.1.0)"
    upgraded = {**err, "version": "0.2.0"}
    assert metrics_source(["ERR@10", "X"], {"ERR@10": [err, upgraded]}) == (
        "ERR@10 (ir-harness-robustness 0.1.0), ERR@10 (ir-harness-robustness 0.2.0) and X (provider not recorded)")

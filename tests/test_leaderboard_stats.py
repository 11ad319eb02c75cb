"""The leaderboard's statistics equal harness.stats called directly, and are shown as documented."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from runfolders import cell, queries, values, write_run

from harness.leaderboard import write_leaderboard
from harness.stats import bootstrap_ci, compare_to_baseline, mean_across_datasets, rank_groups

METRICS = ("nDCG@10", "AP")
N = 40


def system(base, shift, seed):
    return {m: values(base + (0.05 if m == "AP" else 0.0), shift, 0.02, seed) for m in METRICS}


@pytest.fixture
def run(tmp_path):
    """Two datasets, four pipelines: better and worse than bm25 by 0.1, one equal up to noise, one
    failed. 40 queries each, so the effects are clear and the null stays null."""
    rng = np.random.default_rng(1)
    cells = []
    for d, dataset in enumerate(("alpha", "beta")):
        base = rng.uniform(0.2, 0.7, N)
        cells += [cell(dataset, "bm25", system(base, 0.0, 10 + d)),
                  cell(dataset, "better", system(base, 0.1, 20 + d)),
                  cell(dataset, "same", system(base, 0.0, 30 + d)),
                  cell(dataset, "worse", system(base, -0.1, 40 + d)),
                  cell(dataset, "broken", status="failed")]
    stats = {"baseline": "bm25", "bootstrap_samples": 500, "permutation_samples": 500, "seed": 3}
    return write_run(tmp_path, "r1", cells, metrics=METRICS, stats=stats), cells


def load(run_dir):
    return json.loads((run_dir / "leaderboard.json").read_text())


def per_query(cells, dataset, metric):
    return {c["cell"]["pipeline"]: c["per_query"][metric] for c in cells
            if c["cell"]["dataset"] == dataset and c["status"] == "ok"}


def row(data, dataset, pipeline):
    return next(r for r in data["rows"] if r["dataset"] == dataset and r["pipeline"] == pipeline)


def test_statistics_equal_harness_stats(run):
    run_dir, cells = run
    write_leaderboard(run_dir)
    data = load(run_dir)
    assert data["schema"] == "harness.leaderboard/1" and data["primary"] == "nDCG@10"
    assert data["settings"]["interval_metrics"] == ["nDCG@10"]  # the default: the primary metric only
    for dataset in ("alpha", "beta"):
        values_ = per_query(cells, dataset, "nDCG@10")
        order = [r["pipeline"] for r in data["rows"] if r["dataset"] == dataset and r["status"] == "ok"]
        for name, v in values_.items():
            ci = bootstrap_ci(v, confidence=0.95, samples=500, seed=3)
            got = row(data, dataset, name)["stats"]["nDCG@10"]["interval"]
            assert (got["low"], got["high"]) == (ci.low, ci.high)
            assert row(data, dataset, name)["stats"]["AP"]["interval"] is None
        for metric in METRICS:
            expected = compare_to_baseline(per_query(cells, dataset, metric), "bm25", samples=500, seed=3,
                                           systems=order)
            for c in expected:
                vs = row(data, dataset, c.system)["stats"][metric]["vs_baseline"]
                assert (vs["p_value"], vs["p_adjusted"], vs["significant"]) == (c.p_value, c.p_adjusted, c.significant)
                assert vs["family_size"] == 3
        groups = rank_groups(values_, samples=500, seed=3, systems=order)
        assert {r["pipeline"]: r["group"] for r in data["rows"] if r["dataset"] == dataset and r["group"]} \
            == groups.letters
        found = next(g for g in data["groups"] if g["dataset"] == dataset)
        assert found["letters"] == groups.letters and found["systems"] == groups.systems
    macro = mean_across_datasets({d: per_query(cells, d, "nDCG@10") for d in ("alpha", "beta")},
                                 systems=["better", "bm25", "same", "worse"], samples=500, seed=3)
    for m in macro:
        entry = next(e for e in data["macro"]["rows"] if e["pipeline"] == m.system)["metrics"]["nDCG@10"]
        assert entry["mean"] == pytest.approx(m.mean, abs=1e-15)
        assert (entry["interval"]["low"], entry["interval"]["high"]) == (m.interval.low, m.interval.high)
    means = [e["metrics"]["nDCG@10"]["mean"] for e in data["macro"]["rows"]]
    assert means == sorted(means, reverse=True) and data["macro"]["rows"][0]["pipeline"] == "better"


def test_markers_groups_and_legend_in_markdown(run):
    run_dir, _ = run
    write_leaderboard(run_dir)
    data, text = load(run_dir), (run_dir / "leaderboard.md").read_text()
    marks = {r["pipeline"]: r["stats"]["nDCG@10"]["marker"] for r in data["rows"] if r["dataset"] == "alpha"
             and r["status"] == "ok"}
    assert marks == {"better": "▲", "bm25": "◆", "same": "", "worse": "▼"}
    assert row(data, "alpha", "better")["group"] == "a" and row(data, "alpha", "worse")["group"] == "c"
    assert set(row(data, "alpha", "same")["group"]) == set(row(data, "alpha", "bm25")["group"]) == {"b"}
    lines = text.splitlines()
    better = next(line for line in lines if line.startswith("| alpha ") and " better " in line)
    cells = [c.strip() for c in better.strip("|").split("|")]
    mean = row(data, "alpha", "better")["values"]["nDCG@10"]
    interval = row(data, "alpha", "better")["stats"]["nDCG@10"]["interval"]
    assert cells[3] == f"{mean:.4f} [{interval['low']:.3f}, {interval['high']:.3f}] ▲"
    assert cells[4] == "a" and cells[5].endswith(" ▲")  # the group; AP: a marker, no interval
    assert any(line.startswith("- ▲ / ▼: significantly higher / lower than the baseline ◆ (bm25)") for line in lines)
    assert any(line.startswith("- group: pipelines sharing a letter") for line in lines)
    assert "paired t-test of each pipeline against the baseline bm25" in text and "Holm-corrected" in text
    assert "## Mean across datasets (alpha, beta)" in text
    assert "no front: no latency, throughput or memory figures" in text  # no cost in this run


def test_csv_carries_the_statistics_at_full_precision(run):
    run_dir, _ = run
    write_leaderboard(run_dir)
    data, frame = load(run_dir), pd.read_csv(run_dir / "leaderboard.csv")
    assert list(frame.columns) == ["dataset", "pipeline", "device", "nDCG@10", "nDCG@10 low", "nDCG@10 high",
                                   "nDCG@10 p_adj", "nDCG@10 vs_baseline", "group", "AP", "AP p_adj",
                                   "AP vs_baseline", "status"]
    got = frame.set_index(["dataset", "pipeline"])
    assert got.loc[("alpha", "better"), "nDCG@10 vs_baseline"] == "higher"
    assert got.loc[("alpha", "worse"), "AP vs_baseline"] == "lower"
    assert got.loc[("alpha", "same"), "nDCG@10 vs_baseline"] == "n.s."
    assert got.loc[("alpha", "bm25"), "nDCG@10 vs_baseline"] == "baseline"
    r = row(data, "beta", "worse")["stats"]["nDCG@10"]
    assert got.loc[("beta", "worse"), "nDCG@10 p_adj"] == r["vs_baseline"]["p_adjusted"]
    assert got.loc[("beta", "worse"), "nDCG@10 low"] == r["interval"]["low"]
    assert pd.isna(got.loc[("beta", "broken"), "nDCG@10"])


def test_settings_flow_through_and_all_metrics_get_intervals(run):
    run_dir, cells = run
    write_leaderboard(run_dir, intervals="all", baseline="same")
    data = load(run_dir)
    assert data["settings"]["interval_metrics"] == list(METRICS) and data["baseline"]["pipeline"] == "same"
    ap = bootstrap_ci(per_query(cells, "beta", "AP")["better"], samples=500, seed=3)
    assert row(data, "beta", "better")["stats"]["AP"]["interval"]["low"] == ap.low
    assert row(data, "beta", "same")["stats"]["AP"]["marker"] == "◆"
    macro = next(e for e in data["macro"]["rows"] if e["pipeline"] == "worse")["metrics"]["AP"]
    assert macro["interval"] is not None
    differences = next(d for d in data["differences"] if d["dataset"] == "alpha")
    assert differences["baseline"] == "same" and {s["pipeline"] for s in differences["systems"]} == {
        "better", "bm25", "worse"}
    worse = next(s for s in differences["systems"] if s["pipeline"] == "worse")
    assert worse["differences"] == sorted(worse["differences"], reverse=True) and worse["worse"] > 30


def test_permutation_test_setting(tmp_path):
    base = np.linspace(0.1, 0.9, 12)
    cells = [cell("d", name, {"nDCG@10": values(base, shift, 0.05, seed)})
             for name, shift, seed in (("a", 0.0, 1), ("b", 0.08, 2))]
    run_dir = write_run(tmp_path, "r", cells, stats={"baseline": "a", "test": "permutation", "seed": 5})
    write_leaderboard(run_dir)
    data = load(run_dir)
    expected = compare_to_baseline({c["cell"]["pipeline"]: c["per_query"]["nDCG@10"] for c in cells}, "a",
                                   test="permutation", seed=5)[0]
    vs = row(data, "d", "b")["stats"]["nDCG@10"]["vs_baseline"]
    assert vs["test"] == "permutation" and vs["p_value"] == expected.p_value  # exact: 2^12 patterns
    assert "paired permutation test (10000 sign patterns)" in (run_dir / "leaderboard.md").read_text()


def test_sweep_base_name_means_its_first_variant(tmp_path):
    base = np.linspace(0.1, 0.9, 10)
    cells = [cell("d", f"bm25[k1={k}]", {"nDCG@10": values(base, 0.01 * i, 0.01, i)}, base="bm25")
             for i, k in enumerate((0.9, 1.2))] + [cell("d", "dense", {"nDCG@10": values(base, 0.1, 0.01, 9)})]
    run_dir = write_run(tmp_path, "r", cells, stats={"baseline": "bm25"})
    write_leaderboard(run_dir)
    data = load(run_dir)
    assert data["baseline"]["pipeline"] == "bm25[k1=0.9]"
    assert "sweep: its first variant 'bm25[k1=0.9]' is the baseline" in data["baseline"]["note"]
    assert "its first variant 'bm25[k1=0.9]'" in (run_dir / "leaderboard.md").read_text()


def test_statistics_that_cannot_be_computed_are_noted(tmp_path):
    one = {"nDCG@10": {"q1": 0.5}}
    cells = [cell("d", "a", one), cell("d", "b", {"nDCG@10": {"q1": 0.7}})]
    run_dir = write_run(tmp_path, "r", cells, stats={"baseline": "a"})
    write_leaderboard(run_dir)
    data = load(run_dir)
    assert all(r["stats"]["nDCG@10"]["interval"] is None and r["group"] is None for r in data["rows"])
    assert any("no interval" in n and "needs at least 2 values" in n for n in data["notes"])
    assert any("no tests against the baseline" in n for n in data["notes"])
    assert "## Notes" in (run_dir / "leaderboard.md").read_text()
    missing = [cell("d", "a", {"nDCG@10": values(np.full(5, 0.5))}), cell("d", "b", {"nDCG@10": {"q000": 0.2}})]
    run_dir = write_run(tmp_path, "r2", missing, stats={"baseline": "a"})
    write_leaderboard(run_dir)
    assert any("missing for 'b'" in n for n in load(run_dir)["notes"])


def test_unknown_baseline_is_said(tmp_path):
    cells = [cell("d", "a", {"nDCG@10": values(np.full(4, 0.5))})]
    run_dir = write_run(tmp_path, "r", cells, stats={"baseline": "gone"})
    write_leaderboard(run_dir)
    data = load(run_dir)
    assert data["baseline"]["pipeline"] is None and "'gone' is not a pipeline of this run" in data["notes"][0]
    assert queries(2) == ["q000", "q001"]


def test_corpus_level_and_unavailable_metrics_lack_nothing(tmp_path):
    """RankMe has one value per cell and no per-query values, and is unavailable (None) for a
    pipeline without embeddings: neither is a pipeline "without per-query values"; a cell that kept
    none at all is."""
    cells = []
    for i, name in enumerate(("bm25", "dense", "kept-none")):
        result = cell("d", name, {"nDCG@10": values(np.full(30, 0.4 + 0.05 * i), 0.0, 0.02, i)})
        result["metrics"]["RankMe"] = None if name == "bm25" else 200.0 + i
        if name == "kept-none":
            result["per_query"] = {}
        cells.append(result)
    run_dir = write_run(tmp_path, "2026-01-01", cells, metrics=("nDCG@10", "RankMe"), stats={"baseline": "bm25"})
    notes = json.loads((write_leaderboard(run_dir, formats=["json"])[0]).read_text())["notes"]
    lacking = [n for n in notes if "no per-query values" in n]
    assert len(lacking) == 1 and "kept-none" in lacking[0] and "dense" not in lacking[0], notes

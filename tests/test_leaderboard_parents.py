"""Compressed vs parent: parents found from the recorded configurations (or declared), and the
section's deltas, ratios, sizes and verdicts as every leaderboard format shows them."""

from __future__ import annotations

import copy
import csv
import io
import json

import numpy as np
import pytest
from runfolders import HARDWARE, cell, latency, values, write_run

from harness.leaderboard import write_leaderboard
from harness.leaderboard.parents import find_parents, is_compressed, without_compressors
from harness.stats import non_inferiority_verdict

METRICS = ("nDCG@10", "AP")
N = 60
DENSE = {"retriever": {"plugin": "dense", "model": "minilm", "pooling": "mean", "max_length": 256}}
RERANKED = {"retriever": {"plugin": "bm25", "k1": 0.9, "b": 0.4},
            "ranker": {"plugin": "cross-encoder", "model": "ce", "depth": 100}}


def compressed(config: dict, *plugins: str, stage: str = "retriever") -> dict:
    """``config`` with these compressors on ``stage`` (as the suite records pipeline-level ones too)."""
    out = copy.deepcopy(config)
    out[stage]["compressors"] = [{"plugin": p} for p in plugins]
    return out


def configured(pipelines: dict[str, dict]) -> list[dict]:
    """One cell per pipeline, recording only its configuration."""
    return [cell("d", name, pipeline_config=config) for name, config in pipelines.items()]


def parents_of(pipelines: dict[str, dict]) -> dict[str, tuple]:
    return {p.pipeline: (p.parent, p.how) for p in find_parents(configured(pipelines))}


# -- finding parents ---------------------------------------------------------------------------


def test_parent_is_the_pipeline_with_the_same_stages_without_compressors():
    found = parents_of({"dense": DENSE, "dense-half": compressed(DENSE, "half"),
                        "dense-svd-int8": compressed(DENSE, "svd", "int8-dynamic"),
                        "reranked": RERANKED, "reranked-int8": compressed(RERANKED, "int8-dynamic", stage="ranker"),
                        "bm25": {"retriever": RERANKED["retriever"]}})
    assert found == {"dense-half": ("dense", "detected"), "dense-svd-int8": ("dense", "detected"),
                     "reranked-int8": ("reranked", "detected")}  # uncompressed pipelines have no entry


def test_a_compressed_pipeline_is_never_a_parent():
    """svd then int8 has svd alone as its stages once compressors are removed, but svd is not
    uncompressed: the parent is the plain pipeline, and without one there is none."""
    assert parents_of({"svd": compressed(DENSE, "svd"), "svd-int8": compressed(DENSE, "svd", "int8-dynamic"),
                       "dense": DENSE})["svd-int8"] == ("dense", "detected")
    assert parents_of({"svd": compressed(DENSE, "svd"),
                       "svd-int8": compressed(DENSE, "svd", "int8-dynamic")}) == {"svd": (None, None),
                                                                                   "svd-int8": (None, None)}


def test_nested_compressors_count():
    fusion = {"retriever": {"plugin": "rrf", "retrievers": [DENSE["retriever"], RERANKED["retriever"]]}}
    nested = copy.deepcopy(fusion)
    nested["retriever"]["retrievers"][0]["compressors"] = [{"plugin": "half"}]
    assert is_compressed(nested) and not is_compressed(fusion)
    assert without_compressors(nested) == fusion
    assert parents_of({"fusion": fusion, "fusion-half": nested}) == {"fusion-half": ("fusion", "detected")}


def test_different_parameters_or_depth_give_no_parent():
    deeper = compressed(RERANKED, "int8-dynamic", stage="ranker")
    deeper["ranker"]["depth"] = 50
    other_model = compressed(DENSE, "half")
    other_model["retriever"]["max_length"] = 512
    found = find_parents(configured({"dense": DENSE, "reranked": RERANKED, "deeper": deeper,
                                     "long": other_model}))
    assert [(p.pipeline, p.parent) for p in found] == [("deeper", None), ("long", None)]
    assert all("no pipeline of this run has its stages without compressors" in p.note and 'parent = "' in p.note
               for p in found)


def test_several_candidates_give_no_parent():
    found = find_parents(configured({"dense": DENSE, "dense-again": copy.deepcopy(DENSE),
                                     "dense-half": compressed(DENSE, "half")}))
    assert [(p.pipeline, p.parent) for p in found] == [("dense-half", None)]
    assert "several pipelines" in found[0].note and "dense, dense-again" in found[0].note


def test_declared_parent_wins_and_needs_no_compressors():
    """A declared parent is taken as it is, even over a pipeline detection would find, and a
    pipeline without compressors (a distilled model, say) may declare one."""
    declared = {**compressed(DENSE, "half"), "parent": "small"}
    small = {"retriever": {**DENSE["retriever"], "model": "small"}, "parent": "dense"}
    assert parents_of({"dense": DENSE, "small": small, "half": declared}) == {
        "small": ("dense", "declared"), "half": ("small", "declared")}


def test_declared_parent_missing_from_the_run():
    found = find_parents(configured({"half": {**compressed(DENSE, "half"), "parent": "dense"}}))
    assert found[0].parent is None and "declared parent 'dense' has no result in this run" in found[0].note


def test_results_without_configurations_have_no_parents():
    assert find_parents([cell("d", "x"), cell("d", "y")]) == []


# -- the section ---------------------------------------------------------------------------------


def size_phases(parameter_bytes: int | None = None, report: tuple[int, int] | None = None) -> dict:
    """Phase records as stages.py writes them: a compress phase with its reports (two compressors:
    the first's bytes_before and the last's bytes_after count), and the index phase's figure."""
    phases = {}
    if report:
        before, after = report
        phases["compress"] = {"seconds": 0.1, "chain": ["svd", "half"], "reports": [
            {"compressor": {"plugin": "svd"}, "bytes_before": before, "bytes_after": (before + after) // 2},
            {"compressor": {"plugin": "half"}, "bytes_before": (before + after) // 2, "bytes_after": after}]}
    if parameter_bytes:
        phases["index"] = {"seconds": 0.2, "cache": "miss",
                           "figures": {"parameter_bytes": {"value": parameter_bytes, "unit": "bytes"}}}
    return phases


def system(base: np.ndarray, shift: float, noise: float, seed: int) -> dict:
    return {m: values(base + (0.05 if m == "AP" else 0.0), shift, noise, seed) for m in METRICS}


@pytest.fixture
def run(tmp_path):
    """dense and three compressed versions: half loses 0.002 (non-inferior at margin 0.01), int8
    0.05 (inferior), svd 0.01 with much noise (inconclusive); a reranked pipeline whose compressed
    ranker also changed its depth (no parent); a pipeline declaring dense as its parent."""
    base = np.random.default_rng(0).uniform(0.2, 0.7, N)
    half, int8 = compressed(DENSE, "svd", "half"), compressed(DENSE, "int8-dynamic")
    deeper = compressed(RERANKED, "int8-dynamic", stage="ranker")
    deeper["ranker"]["depth"] = 50
    cells = [
        cell("d", "dense", system(base, 0.0, 0.0, 1), pipeline_config=DENSE, memory_mib=400.0,
             cost=latency([10.0, 10.0, 10.0], qps=[100.0, 100.0]), phases=size_phases(90_000_000)),
        cell("d", "dense-half", system(base, -0.002, 0.005, 2), pipeline_config=half, memory_mib=300.0,
             cost=latency([5.0, 5.0, 5.0], qps=[200.0, 200.0]),
             phases=size_phases(45_000_000, report=(88_000_000, 44_000_000))),
        cell("d", "dense-int8", system(base, -0.05, 0.005, 3), pipeline_config=int8, memory_mib=200.0,
             cost=latency([8.0, 8.0, 8.0], qps=[125.0, 125.0]), phases=size_phases(30_000_000)),
        cell("d", "dense-svd", system(base, -0.01, 0.06, 4), pipeline_config=compressed(DENSE, "svd"),
             memory_mib=400.0, cost=latency([10.0, 10.0, 10.0], qps=[100.0, 100.0])),
        cell("d", "reranked", system(base, 0.05, 0.01, 5), pipeline_config=RERANKED),
        cell("d", "reranked-deeper", system(base, 0.05, 0.01, 6), pipeline_config=deeper),
        cell("d", "small", system(base, -0.03, 0.01, 7), pipeline_config={**RERANKED, "parent": "dense"}),
    ]
    stats = {"margin": 0.01, "alpha": 0.05, "bootstrap_samples": 200, "permutation_samples": 500, "seed": 3}
    return write_run(tmp_path, "r1", cells, metrics=METRICS, stats=stats), cells


def load(run_dir) -> dict:
    return json.loads((run_dir / "leaderboard.json").read_text())


def pair(data: dict, pipeline: str) -> dict:
    return next(p for p in data["compressed"]["rows"] if p["pipeline"] == pipeline)


def section_rows(markdown: str) -> list[list[str]]:
    """The cells of the "Compressed vs parent" table (header first), stripped."""
    part = markdown.split("## Compressed vs parent", 1)[1]
    lines = [line for line in part.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines if not line.startswith("|--")]


def test_json_deltas_ratios_sizes_and_verdicts(run):
    run_dir, cells = run
    write_leaderboard(run_dir)
    data = load(run_dir)
    section = data["compressed"]
    assert (section["metric"], section["margin"], section["test"], section["alpha"]) == ("nDCG@10", 0.01, "t", 0.05)
    assert {p["pipeline"]: (p["parent"], p["how"]) for p in section["parents"]} == {
        "dense-half": ("dense", "detected"), "dense-int8": ("dense", "detected"),
        "dense-svd": ("dense", "detected"), "reranked-deeper": (None, None), "small": ("dense", "declared")}
    assert [p["pipeline"] for p in section["rows"]] == ["dense-half", "dense-svd", "small", "dense-int8"]  # by nDCG
    means = {c["cell"]["pipeline"]: c["metrics"] for c in cells}
    half = pair(data, "dense-half")
    for metric in METRICS:
        assert half["quality"][metric] == {"value": means["dense-half"][metric], "parent": means["dense"][metric],
                                           "difference": means["dense-half"][metric] - means["dense"][metric]}
    assert {axis: found["ratio"] for axis, found in half["cost"].items()} == {
        "p50 ms": 0.5, "p95 ms": 0.5, "QPS": 2.0, "peak MiB": 0.75}
    # sizes: the compression reports (first bytes_before, last bytes_after), not the figures
    assert half["size"] == {"bytes": 44_000_000, "parent_bytes": 88_000_000, "ratio": 0.5,
                            "source": "compression reports"}
    # no compress phase in this cell: the parameter_bytes figures of both cells
    assert pair(data, "dense-int8")["size"] == {"bytes": 30_000_000, "parent_bytes": 90_000_000, "ratio": 1 / 3,
                                                "source": "parameter_bytes figures"}
    assert pair(data, "dense-svd")["size"]["ratio"] is None  # no size recorded anywhere
    per_query = {c["cell"]["pipeline"]: c["per_query"]["nDCG@10"] for c in cells}
    for name, expected in (("dense-half", "non-inferior"), ("dense-int8", "inferior"),
                           ("dense-svd", "inconclusive"), ("small", "inferior")):
        verdict = pair(data, name)["verdict"]
        direct = non_inferiority_verdict(per_query["dense"], per_query[name], 0.01, alpha=0.05, test="t",
                                         samples=500, seed=3)
        assert verdict == json.loads(json.dumps({"metric": "nDCG@10", **direct.to_dict()}))
        assert verdict["verdict"] == expected
    assert any("reranked-deeper: no pipeline of this run has its stages without compressors" in n
               for n in data["notes"])


def test_markdown_section(run):
    run_dir, _ = run
    write_leaderboard(run_dir)
    data, markdown = load(run_dir), (run_dir / "leaderboard.md").read_text()
    rows = section_rows(markdown)
    assert rows[0] == ["dataset", "pipeline", "device", "parent", "Δ nDCG@10", "verdict", "p50 ×", "QPS ×", "MiB ×",
                       "size ×", "status"]
    half = pair(data, "dense-half")
    verdict = half["verdict"]
    low, high = verdict["interval"]["low"], verdict["interval"]["high"]
    assert rows[1] == ["d", "dense-half", "cpu", "dense", f"{half['quality']['nDCG@10']['difference']:+.4f} "
                       f"[{low:+.3f}, {high:+.3f}]", f"non-inferior (p = {verdict['p_value']:.3g})", "0.5×", "2×",
                       "0.75×", "0.5×", "ok"]
    assert rows[3][3] == "dense (declared)" and rows[3][-2:] == ["-", "ok"]  # small: no size anywhere
    assert rows[4][1] == "dense-int8" and rows[4][5].startswith("inferior (p = ") and rows[4][9] == "0.333× (figures)"
    assert "verdict on nDCG@10 with margin δ = 0.01: paired t-test" in markdown
    assert "90% t interval of the mean per-query difference" in markdown


def test_csv_columns(run):
    run_dir, _ = run
    write_leaderboard(run_dir)
    data = load(run_dir)
    rows = {r["pipeline"]: r for r in csv.DictReader(io.StringIO((run_dir / "leaderboard.csv").read_text()))}
    half = rows["dense-half"]
    assert half["parent"] == "dense" and half["noninferiority"] == "non-inferior"
    assert float(half["p50 ms ratio"]) == 0.5 and float(half["QPS ratio"]) == 2.0 and float(half["size ratio"]) == 0.5
    assert half["size source"] == "compression reports"
    assert float(half["AP diff_parent"]) == pair(data, "dense-half")["quality"]["AP"]["difference"]
    assert float(half["noninferiority p"]) == pair(data, "dense-half")["verdict"]["p_non_inferiority"]
    assert float(rows["dense-int8"]["inferiority p"]) == pair(data, "dense-int8")["verdict"]["p_inferiority"]
    assert rows["dense"]["parent"] == "" and rows["dense"]["noninferiority"] == ""
    assert rows["reranked-deeper"]["parent"] == ""


def test_html_section(run, browser):
    from test_html import rendered

    run_dir, _ = run
    write_leaderboard(run_dir)
    html = (run_dir / "leaderboard.html").read_text()
    assert "<h2>Compressed vs parent</h2>" in html and '<table class="sortable" id="compressed">' in html
    assert '<span class="up">non-inferior (p = ' in html and '<span class="down">inferior (p = ' in html
    assert 'data-v="0"><span class="up">' in html and 'data-v="2"><span class="down">' in html  # sorts best first
    dom = rendered(browser, run_dir / "leaderboard.html")
    assert len(dom.find("table", id="compressed")) == 1


def test_margin_metric_and_no_margin(tmp_path):
    base = np.random.default_rng(1).uniform(0.2, 0.7, N)
    cells = [cell("d", "dense", system(base, 0.0, 0.0, 1), pipeline_config=DENSE),
             cell("d", "dense-half", system(base, -0.002, 0.005, 2), pipeline_config=compressed(DENSE, "half"))]
    on_ap = write_run(tmp_path, "ap", cells, metrics=METRICS, stats={"margin": 0.01, "margin_metric": "AP"})
    write_leaderboard(on_ap)
    data = load(on_ap)
    assert pair(data, "dense-half")["verdict"]["metric"] == "AP"
    assert section_rows((on_ap / "leaderboard.md").read_text())[0] == [
        "dataset", "pipeline", "device", "parent", "Δ nDCG@10", "Δ AP", "verdict", "status"]
    plain = write_run(tmp_path, "none", cells, metrics=METRICS)
    write_leaderboard(plain)
    data, markdown = load(plain), (plain / "leaderboard.md").read_text()
    assert data["compressed"]["margin"] is None and pair(data, "dense-half")["verdict"] is None
    assert section_rows(markdown)[0] == ["dataset", "pipeline", "device", "parent", "Δ nDCG@10", "status"]
    assert "no non-inferiority verdicts: set `[stats] margin`" in markdown
    header = (plain / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert "parent" in header and "noninferiority" not in header
    write_leaderboard(plain, margin=0.01, margin_metric="AP")  # re-rendered with a margin (harness leaderboard)
    verdict = pair(load(plain), "dense-half")["verdict"]
    assert (verdict["metric"], verdict["margin"], verdict["verdict"]) == ("AP", 0.01, "non-inferior")


def test_failed_parent_mixed_hardware_and_runs_without_compression(tmp_path):
    base = np.random.default_rng(2).uniform(0.2, 0.7, N)
    elsewhere = {**HARDWARE, "cpu": "Other CPU", "hash": "bbbbbbbbbbbb"}
    cells = [cell("d", "dense", system(base, 0.0, 0.0, 1), pipeline_config=DENSE, cost=latency([10.0])),
             cell("d", "dense-half", system(base, 0.0, 0.01, 2), pipeline_config=compressed(DENSE, "half"),
                  cost=latency([5.0]), hardware=elsewhere, phases=size_phases(report=(100, 50))),
             cell("e", "dense", pipeline_config=DENSE, status="failed"),
             cell("e", "dense-half", system(base, 0.0, 0.01, 3), pipeline_config=compressed(DENSE, "half"))]
    run_dir = write_run(tmp_path, "r", cells, metrics=METRICS, stats={"margin": 0.01})
    write_leaderboard(run_dir)
    data = load(run_dir)
    on_d = next(p for p in data["compressed"]["rows"] if p["dataset"] == "d")
    assert on_d["cost"] == {} and on_d["size"]["ratio"] == 0.5  # cost refused across hardware; size is not cost
    on_e = next(p for p in data["compressed"]["rows"] if p["dataset"] == "e")
    assert (on_e["status"], on_e["quality"], on_e["verdict"]) == ("parent failed", {}, None)
    assert section_rows((run_dir / "leaderboard.md").read_text())[2][-1] == "parent failed"
    # nothing compressed: no section anywhere
    plain = write_run(tmp_path, "p", [cells[0]], metrics=METRICS)
    write_leaderboard(plain)
    assert load(plain)["compressed"] is None
    assert "Compressed vs parent" not in (plain / "leaderboard.md").read_text()
    assert "parent" not in (plain / "leaderboard.csv").read_text().splitlines()[0].split(",")


def test_a_real_run_finds_detected_and_declared_parents(write_suite, tmp_path):
    """From the suite to the leaderboard: pipeline-level compressors are recorded on the stage and
    found; a declared parent travels in the pipeline's configuration."""
    from fakes import registry_with

    from harness.runner import run_suite
    from harness.suite import load_suite

    body = """
    name = "compressed"
    k = 5
    metrics = ["nDCG@3", "AP"]

    [[datasets]]
    source = "beir:{beir}"

    [[pipelines]]
    name = "plain"
    retriever = {plugin = "overlap-compressible"}

    [[pipelines]]
    name = "halved"
    retriever = {plugin = "overlap-compressible"}
    compressors = [{plugin = "halve"}]

    [[pipelines]]
    name = "heavier-halved"
    retriever = {plugin = "overlap-compressible", weight = 3.0, compressors = [{plugin = "halve"}]}
    parent = "plain"

    [stats]
    margin = 0.01
    """
    registry = registry_with()
    outcome = run_suite(load_suite(write_suite(body), registry=registry), results_dir=tmp_path / "results",
                        registry=registry)
    data = load(outcome.run_dir)
    assert [(p["pipeline"], p["parent"], p["how"]) for p in data["compressed"]["parents"]] == [
        ("halved", "plain", "detected"), ("heavier-halved", "plain", "declared")]
    # scaling every score keeps every ranking: no difference on any query, non-inferior at any margin
    for row in data["compressed"]["rows"]:
        assert row["quality"]["nDCG@3"]["difference"] == 0.0 and row["verdict"]["verdict"] == "non-inferior"
        assert row["size"]["ratio"] is None  # the fake compressor reports no bytes, the fake model has none
    assert "| halved" in (outcome.run_dir / "leaderboard.md").read_text().split("## Compressed vs parent")[1]

"""``harness report``: regressions of the latest run against a reference, trends, exit status."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import registry_with
from runfolders import HARDWARE, cell, latency, values, write_run

from harness import cli
from harness.report import build_report
from harness.runner import run_suite
from harness.suite import load_suite

PACED = """
name = "nightly-test"
k = 5
metrics = ["nDCG@3"]

[[datasets]]
name = "tiny"
source = "beir:{beir}"

[[pipelines]]
name = "paced"
retriever = {plugin = "paced", ms = 3}

[measure]
latency = ["single-stream", "offline"]
isolation = "none"
warmup = 1
repetitions = 12
min_duration = 0
latency_queries = 5
bootstrap_samples = 100
"""


def report_cli(capsys, *argv):
    code = cli.main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_real_runs_with_a_latency_regression_exit_1_and_name_the_pipeline(capsys, write_suite, tmp_path):
    registry = registry_with()
    path = write_suite(PACED)
    for ms in (3, 9):  # the second night, the retriever takes three times as long per query
        suite = load_suite(path, [f"pipelines.paced.ms={ms}"], registry=registry)
        run_suite(suite, results_dir=tmp_path / "results", registry=registry, new=True)
    folder = tmp_path / "results" / "nightly-test"
    code, out, err = report_cli(capsys, folder)
    assert code == 1, out + err
    lines = out.splitlines()
    regression = next(line for line in lines if line.startswith("REGRESSION tiny/paced (cpu): p50 ms"))
    assert "Mann-Whitney U p = " in regression and "→" in regression
    assert lines[-1] == f"report: {folder / 'report.json'}, {folder / 'report.html'}"
    assert any("regression(s)" in line for line in lines)
    report = json.loads((folder / "report.json").read_text())
    assert report["schema"] == "harness.report/1" and report["status"] == "regressed"
    p50 = next(r for r in report["regressions"] if r["figure"] == "p50 ms")
    assert p50["new"] / p50["old"] > 2 and p50["method"] == "Mann-Whitney U, two-sided, 12 vs 12 repetitions"
    assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")


def noisy_history(root, nights=4, seed=0, **last):
    """``nights`` runs of one unchanged system: the same per-query values, cost with seeded noise.
    ``last`` changes the final night: ``slower`` (factor on latency), ``memory`` (factor), ``shift``
    (added to every per-query value), ``hardware``; ``reps`` sets every night's repetitions."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(99).uniform(0.2, 0.8, 60)
    runs = []
    for night in range(nights):
        final = night == nights - 1
        factor = last.get("slower", 1.0) if final else 1.0
        reps = last.get("reps", 20)  # every night
        cost = latency(list(rng.normal(2.0, 0.04, reps) * factor), list(rng.normal(3.0, 0.1, reps) * factor),
                       list(rng.normal(500, 10, reps) / factor))
        memory = 100 * (last.get("memory", 1.0) if final else 1.0) + rng.normal(0, 0.3)
        quality = {"nDCG@10": values(base, last.get("shift", 0.0) if final else 0.0, last.get("noise", 0.0), night)}
        hardware = last.get("hardware") if final and last.get("hardware") else HARDWARE
        cells = [cell("d", "bm25", quality, cost=cost, memory_mib=memory, hardware=hardware)]
        runs.append(write_run(root, f"2026010{night + 1}", cells, suite="nightly", hardware=hardware))
    return root / "nightly"


def test_noise_only_exits_0(capsys, tmp_path):
    folder = noisy_history(tmp_path)
    code, out, _ = report_cli(capsys, folder)
    assert code == 0, out
    assert "REGRESSION" not in out and "no regressions;" in out
    report = build_report(folder)
    assert report["status"] == "ok" and report["reference"] == "20260103" and report["latest"] == "20260104"
    assert {r["verdict"] for r in report["comparison"]["cost"]} == {"unchanged"}
    assert {r["verdict"] for r in report["comparison"]["quality"]} == {"unchanged"}


@pytest.mark.parametrize("seed", range(5))
def test_noise_never_regresses(tmp_path, seed):
    assert build_report(noisy_history(tmp_path, nights=2, seed=seed))["regressions"] == []


def test_latency_and_memory_regressions(capsys, tmp_path):
    folder = noisy_history(tmp_path, slower=1.3, memory=1.2)
    code, out, _ = report_cli(capsys, folder)
    assert code == 1
    flagged = [line.split(": ", 1)[1].split(" ")[0] for line in out.splitlines() if line.startswith("REGRESSION")]
    assert flagged == ["p50", "p95", "QPS", "peak"]
    qps = next(line for line in out.splitlines() if ": QPS " in line)
    assert "(-2" in qps and "Mann-Whitney U p = " in qps  # fewer queries per second is the regression
    memory = next(line for line in out.splitlines() if "peak MiB" in line)
    assert "(+" in memory and "relative change alone decides" in memory
    assert "4 regression(s); 0 improved, 1 unchanged" in out  # nDCG@10 is unchanged


def test_small_changes_are_not_regressions_even_when_significant(tmp_path):
    report = build_report(noisy_history(tmp_path, slower=1.03, memory=1.02))
    p50 = next(r for r in report["comparison"]["cost"] if r["figure"] == "p50 ms")
    assert p50["p_value"] < 0.01 and p50["verdict"] == "unchanged"  # beyond noise, but under 5%
    assert report["regressions"] == []
    assert build_report(tmp_path / "nightly", threshold=0.01)["regressions"]  # a stricter threshold flags it


def test_too_few_repetitions_fall_back_to_intervals(tmp_path):
    report = build_report(noisy_history(tmp_path, slower=1.5, reps=3))
    p50 = next(r for r in report["comparison"]["cost"] if r["figure"] == "p50 ms")
    assert p50["verdict"] == "regressed" and p50["p_value"] is None
    assert p50["method"] == "intervals do not overlap (too few repetitions for the rank test)"


def test_quality_regression_and_improvement(capsys, tmp_path):
    folder = noisy_history(tmp_path / "drop", shift=-0.08, noise=0.03)
    code, out, _ = report_cli(capsys, folder)
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("REGRESSION"))
    assert line.startswith("REGRESSION d/bm25 (cpu): nDCG@10 ") and "paired t-test p = " in line
    assert ", Holm-adjusted " in line
    assert build_report(noisy_history(tmp_path / "tiny", shift=-0.003, noise=0.05))["regressions"] == []
    better = build_report(noisy_history(tmp_path / "up", shift=0.08, noise=0.03))
    assert better["regressions"] == [] and better["improvements"][0]["metric"] == "nDCG@10"


def test_other_hardware_is_not_compared_unless_asked(capsys, tmp_path):
    other = {**HARDWARE, "cpu": "Bigger CPU", "hash": "cccccccccccc"}
    folder = noisy_history(tmp_path, slower=2.0, hardware=other)
    code, out, _ = report_cli(capsys, folder)
    assert code == 0 and "different hardware" in out and "Bigger CPU" in out
    code, out, _ = report_cli(capsys, folder, "--mixed-hardware")
    assert code == 1 and "REGRESSION d/bm25 (cpu): p50 ms" in out


def test_reference_pinning(capsys, tmp_path):
    root = tmp_path / "results"
    fast = latency([2.0] * 10, qps=[500.0] * 10)
    slow = latency([4.0] * 10, qps=[250.0] * 10)
    q = {"nDCG@10": values(np.full(10, 0.5))}
    for run_id, cost in (("r1", fast), ("r2", slow), ("r3", slow)):
        write_run(root, run_id, [cell("d", "bm25", q, cost=cost)], suite="s")
    write_run(root, "r4", [cell("d", "bm25", q, cost=fast)], suite="s", status="running")
    folder = root / "s"
    code, out, _ = report_cli(capsys, folder)
    assert code == 0 and "latest run r3 against reference r2 (the previous run)" in out
    assert "note: run r4 is unfinished (running): left out" in out
    code, out, _ = report_cli(capsys, folder, "--reference", "r1")
    assert code == 1 and "against reference r1 (pinned)" in out and "REGRESSION d/bm25 (cpu): p50 ms" in out
    code, out, err = report_cli(capsys, folder, "--reference", "nope")
    assert code == 2 and "no finished run 'nope'" in err and "r1, r2, r3" in err
    code, out, _ = report_cli(capsys, folder, "--reference", "r3")
    assert code == 0 and "nothing to check yet" in out


def test_first_run_and_empty_folder(capsys, tmp_path):
    write_run(tmp_path, "r1", [cell("d", "bm25", {"nDCG@10": values(np.full(4, 0.5))})], suite="s")
    code, out, _ = report_cli(capsys, tmp_path / "s", "--json")
    assert code == 0 and json.loads(out)["status"] == "no reference"
    code, _, err = report_cli(capsys, tmp_path / "missing")
    assert code == 2 and "holds no finished harness run" in err


def test_trends_cover_every_run(tmp_path):
    report = build_report(noisy_history(tmp_path, nights=3))
    assert [r["run_id"] for r in report["runs"]] == ["20260101", "20260102", "20260103"]
    p50 = next(t for t in report["trends"] if t["quantity"] == "p50 ms")
    series = p50["series"][0]
    assert p50["kind"] == "cost" and p50["lower_is_better"] and len(series["values"]) == 3
    assert all(lo <= v <= hi for lo, v, hi in zip(series["low"], series["values"], series["high"], strict=True))
    quality = next(t for t in report["trends"] if t["quantity"] == "nDCG@10")
    assert quality["kind"] == "metric" and None not in quality["series"][0]["values"]


def test_nightly_example_is_consistent():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    suite = load_suite(root / "suites" / "nightly.toml")
    assert suite.name == "nightly" and suite.stats.baseline == "bm25"
    assert set(suite.measure.latency) == {"single-stream", "offline"} and suite.measure.memory
    assert suite.measure.repetitions >= 10  # enough passes for the rank test to reach p < 0.01
    assert [d.provider for d in suite.datasets] == ["irds"]
    text = (root / ".github" / "workflows" / "nightly.yml").read_text()
    assert "harness run suites/nightly.toml" in text and 'harness report "$RESULTS"' in text
    yaml = pytest.importorskip("yaml")
    jobs = yaml.safe_load(text)["jobs"]
    job = jobs["nightly"]
    assert job["env"]["RESULTS"] == "results" and job["env"]["HISTORY"] == "results/nightly"
    steps = job["steps"]
    save = next(s for s in steps if s.get("name") == "Save the run history")
    assert save["if"] == "always()" and save["uses"].startswith("actions/cache/save@")
    # the history pages (index, reports, leaderboards) are gathered and published, regression or not
    gather = next(s for s in steps if s.get("name") == "Gather the history pages")
    assert gather["if"] == "always()" and all(n in gather["run"] for n in ("index.*", "report.*", "leaderboard.html"))
    upload = next(s for s in steps if s.get("name") == "Upload the report")
    assert upload["if"] == "always()" and upload["with"]["path"] == "site/"
    pages = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert pages["with"]["path"] == "site/" and "always()" in pages["if"]
    assert jobs["pages"]["needs"] == "nightly" and "always()" in jobs["pages"]["if"]
    assert jobs["pages"]["steps"][0]["uses"].startswith("actions/deploy-pages@")
    assert jobs["pages"]["permissions"] == {"pages": "write", "id-token": "write"}

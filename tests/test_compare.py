"""``harness compare RUN_A RUN_B``: per pipeline and metric, paired tests and cost ratios; exit 0."""

from __future__ import annotations

import json

import numpy as np
from runfolders import HARDWARE, cell, latency, values, write_run

from harness import cli
from harness.report import compare_runs
from harness.stats import adjust, paired_t_test

BASE = np.random.default_rng(7).uniform(0.2, 0.8, 50)


def two_runs(tmp_path, *, hardware_b=None):
    a = [cell("d", "bm25", {"nDCG@10": values(BASE, 0, 0.02, 1), "AP": values(BASE, 0, 0.02, 2)},
              cost=latency([2.0 + 0.01 * i for i in range(10)], qps=[500.0 + i for i in range(10)]), memory_mib=100),
         cell("d", "dense", {"nDCG@10": values(BASE, 0.05, 0.02, 3), "AP": values(BASE, 0.05, 0.02, 4)}),
         cell("d", "gone", {"nDCG@10": values(BASE), "AP": values(BASE)})]
    b = [cell("d", "bm25", {"nDCG@10": values(BASE, -0.05, 0.02, 5), "AP": values(BASE, 0, 0.02, 2)},
              cost=latency([3.0 + 0.01 * i for i in range(10)], qps=[330.0 + i for i in range(10)]), memory_mib=101,
              hardware=hardware_b, key="changed"),
         cell("d", "dense", {"nDCG@10": values(BASE, 0.05, 0.02, 3), "AP": values(BASE, 0.05, 0.02, 4)}),
         cell("d", "new", {"nDCG@10": values(BASE), "AP": values(BASE)})]
    return (write_run(tmp_path, "a", a, metrics=("nDCG@10", "AP"), stats={"seed": 1}),
            write_run(tmp_path, "b", b, metrics=("nDCG@10", "AP"), stats={"seed": 1}, hardware=hardware_b), a, b)


def test_quality_rows_are_paired_tests_corrected_together(tmp_path):
    run_a, run_b, a, b = two_runs(tmp_path)
    data = compare_runs(run_a, run_b)
    assert data["schema"] == "harness.compare/1" and data["metrics"] == ["nDCG@10", "AP"]
    rows = {(r["pipeline"], r["metric"]): r for r in data["quality"]}
    assert set(rows) == {("bm25", "nDCG@10"), ("bm25", "AP"), ("dense", "nDCG@10"), ("dense", "AP")}
    pairs = [(a[0], b[0]), (a[1], b[1])]
    raw = [paired_t_test(x["per_query"][m], y["per_query"][m]).p_value for x, y in pairs for m in ("nDCG@10", "AP")]
    adjusted = adjust(raw, "holm")
    for (x, _), (m, p, p_adj) in zip([(pairs[0], 0), (pairs[0], 1), (pairs[1], 0), (pairs[1], 1)],
                                     zip(["nDCG@10", "AP"] * 2, raw, adjusted, strict=True), strict=True):
        row = rows[(x[0]["cell"]["pipeline"], m)]
        assert (row["p_value"], row["p_adjusted"]) == (p, p_adj)
    assert rows[("bm25", "nDCG@10")]["verdict"] == "regressed" and rows[("bm25", "nDCG@10")]["difference"] < 0
    assert rows[("dense", "AP")]["verdict"] == "unchanged" and rows[("dense", "AP")]["p_value"] == 1.0
    assert any("only in A: d/gone (cpu)" == n for n in data["notes"])
    assert any("only in B: d/new (cpu)" == n for n in data["notes"])
    assert any("cell keys" in n and "d/bm25 (cpu)" in n for n in data["notes"])


def test_cost_ratios_and_verdicts(tmp_path):
    run_a, run_b, _, _ = two_runs(tmp_path)
    cost = {r["figure"]: r for r in compare_runs(run_a, run_b)["cost"]}
    assert set(cost) == {"p50 ms", "p95 ms", "QPS", "peak MiB"}  # dense has no cost figures: no rows
    assert cost["p50 ms"]["ratio"] > 1.4 and cost["p50 ms"]["verdict"] == "regressed"
    assert cost["QPS"]["ratio"] < 0.7 and cost["QPS"]["verdict"] == "regressed"
    assert cost["peak MiB"]["verdict"] == "unchanged"  # +1%: under the 5% threshold


def test_cli_text_and_json_exit_0(capsys, tmp_path):
    run_a, run_b, _, _ = two_runs(tmp_path)
    assert cli.main(["compare", str(run_a), str(run_b)]) == 0  # a comparison, not a gate: always 0
    out = capsys.readouterr().out
    assert out.startswith(f"A: synth run a ({run_a})\nB: synth run b ({run_b})\n")
    assert "paired t-test, two-sided, Holm-corrected over all 4 comparisons, alpha 0.05" in out
    header = next(line for line in out.splitlines() if line.startswith("| dataset"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["dataset", "pipeline", "device", "metric", "A", "B",
                                                                 "B - A", "p (adj.)", ""]
    bm25 = next(line for line in out.splitlines() if "| bm25 " in line and "nDCG@10" in line)
    assert "▼ regressed" in bm25
    assert "| p50 ms " in out and "B / A" in out
    assert out.rstrip().endswith("4 regressed, 0 improved, 4 unchanged")
    assert cli.main(["compare", str(run_a), str(run_b), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"regressed": 4, "improved": 0, "unchanged": 4, "not compared": 0}


def test_different_hardware_compares_quality_only(capsys, tmp_path):
    other = {**HARDWARE, "cpu": "Other CPU", "hash": "dddddddddddd"}
    run_a, run_b, _, _ = two_runs(tmp_path, hardware_b=other)
    data = compare_runs(run_a, run_b)
    assert {r["verdict"] for r in data["cost"]} == {"not compared"}
    assert all("different hardware" in r["reason"] for r in data["cost"])
    assert any("Other CPU" in n and "not compared" in n for n in data["notes"])
    assert {r["verdict"] for r in compare_runs(run_a, run_b, mixed_hardware=True)["cost"]} != {"not compared"}
    assert cli.main(["compare", str(run_a), str(tmp_path / "nowhere")]) == 2
    assert "not a harness run folder" in capsys.readouterr().err


def test_python_api(tmp_path):
    from harness import api

    run_a, run_b, _, _ = two_runs(tmp_path)
    assert api.compare(run_a, run_b)["summary"]["regressed"] == 4
    assert api.report(tmp_path / "synth")["latest"] == "b"


def test_cells_evaluated_on_other_data_are_not_compared(tmp_path):
    """Edited qrels between two runs: a paired test across different judgments means nothing."""
    a = [cell("d", "bm25", {"nDCG@10": values(BASE, 0, 0.02, 1)}), cell("e", "bm25", {"nDCG@10": values(BASE)})]
    b = [cell("d", "bm25", {"nDCG@10": values(BASE, -0.2, 0.02, 5)}), cell("e", "bm25", {"nDCG@10": values(BASE)})]
    for made, fingerprint in ((a[0], "aaaa1111"), (b[0], "bbbb2222"), (a[1], "same"), (b[1], "same")):
        made["dataset"] = {"name": made["cell"]["dataset"], "fingerprint": fingerprint}
    data = compare_runs(write_run(tmp_path, "a", a), write_run(tmp_path, "b", b))
    assert [(r["dataset"], r["pipeline"]) for r in data["quality"]] == [("e", "bm25")]
    assert any("dataset 'd' differs between the runs" in n and "aaaa1111" in n and "bbbb2222" in n
               for n in data["notes"]), data["notes"]

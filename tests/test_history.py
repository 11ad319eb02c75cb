"""The history pages of ``harness report``: a year of nightly runs, every past regression marked by
the report's own rules, hardware and harness changes on the time axis, points linking to their
runs' leaderboards, and ``index.html`` over a folder of suites; in headless Chromium too."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from runfolders import HARDWARE, cell, latency, values, write_run
from test_html import embedded, no_network_references, rendered
from test_report import noisy_history, report_cli

from harness.leaderboard import write_leaderboard
from harness.report import build_report, compare_runs, write_report, write_reports
from harness.results import MANIFEST, write_json

NIGHTS = 365
DROP, SLOW, NEW_HARNESS, NEW_MACHINE = 120, 200, 100, 300  # the nights something happens
OTHER = {**HARDWARE, "cpu": "Other CPU", "hash": "bbbbbbbbbbbb"}


def night_id(night: int) -> str:
    return (date(2025, 1, 1) + timedelta(days=night)).strftime("%Y%m%d")


def year(root: Path, nights: int = NIGHTS, suite: str = "nightly") -> Path:
    """A year of nightly runs of two pipelines: the same judged quality every night except that
    ``bm25-stem`` loses nDCG@10 from night DROP on; latency with seeded noise, one night (SLOW) 1.5
    times slower; the harness version changes on night NEW_HARNESS, the machine on NEW_MACHINE.
    Every run has a leaderboard page (a stub, except night SLOW's: the real one)."""
    rng = np.random.default_rng(0)
    base = np.random.default_rng(99).uniform(0.2, 0.8, 40)
    for night in range(nights):
        slow = 1.5 if night == SLOW else 1.0
        hardware = OTHER if night >= NEW_MACHINE else HARDWARE
        cells = []
        for k, pipeline in enumerate(("bm25", "bm25-stem")):
            drop = -0.1 if k == 1 and night >= DROP else 0.0
            quality = {"nDCG@10": values(base, 0.02 * k + drop, 0.03, seed=k), "R@100": values(base, 0.1, 0.03, 7)}
            cost = latency(list(rng.normal(2.0 + k, 0.04, 10) * slow), qps=list(rng.normal(500, 10, 10) / slow))
            cells.append(cell("d", pipeline, quality, cost=cost, memory_mib=100 + rng.normal(0, 0.3),
                              hardware=hardware))
        run = write_run(root, night_id(night), cells, suite=suite, hardware=hardware, metrics=("nDCG@10", "R@100"))
        if night >= NEW_HARNESS:
            manifest = json.loads((run / MANIFEST).read_text())
            write_json(run / MANIFEST, {**manifest, "harness": "0.2.0"})
        if night == SLOW:
            write_leaderboard(run, formats=["html"])
        else:
            (run / "leaderboard.html").write_text(f"<!DOCTYPE html><title>{run.name}</title>\n")
    return root / suite


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """(the suite folder, its report, report.html, seconds to build and write them)."""
    folder = year(tmp_path_factory.mktemp("year"))
    start = time.perf_counter()
    report, (_, html) = write_report(folder)
    return folder, report, html, time.perf_counter() - start


def flagged(report: dict) -> set[tuple]:
    return {(r["run_id"], r["pipeline"], r.get("metric") or r.get("figure")) for r in report["past_regressions"]}


def test_a_year_is_reported_quickly_and_stays_small(history):
    _, report, html, seconds = history
    size = html.stat().st_size
    print(f"\n{NIGHTS} runs: report built and written in {seconds:.2f} s; report.html {size / 1e6:.2f} MB")
    assert len(report["runs"]) == NIGHTS
    assert seconds < 120 and size < 3e6  # sanity bounds only: about 3 s and 0.3 MB here


def test_every_past_regression_is_where_the_report_flagged_it(history):
    folder, report, _, _ = history
    slow = {(night_id(SLOW), p, f) for p in ("bm25", "bm25-stem") for f in ("p50 ms", "p95 ms", "QPS")}
    assert flagged(report) == {(night_id(DROP), "bm25-stem", "nDCG@10"), *slow}
    # the night after SLOW improved (not flagged); the new machine's night compares no cost
    assert report["status"] == "ok" and report["regressions"] == []
    # the same rows `harness report` gave on those nights (compare: the report's own comparison)
    for night in (DROP, SLOW, SLOW + 1, NEW_MACHINE):
        then = compare_runs(folder / night_id(night - 1), folder / night_id(night))
        rows = [r for r in then["quality"] + then["cost"] if r["verdict"] == "regressed"]
        past = [{k: v for k, v in r.items() if k not in ("run_id", "reference")}
                for r in report["past_regressions"] if r["run_id"] == night_id(night)]
        assert past == json.loads(json.dumps(rows)), night
    drop = [r for r in report["past_regressions"] if r["run_id"] == night_id(DROP)]
    assert [r["reference"] for r in drop] == [night_id(DROP - 1)]


def test_trends_carry_the_flags_changes_and_links(history):
    _, report, _, _ = history
    ndcg = next(t for t in report["trends"] if t["quantity"] == "nDCG@10")
    assert {s["pipeline"]: s["flagged"] for s in ndcg["series"]} == {"bm25": [], "bm25-stem": [DROP]}
    p50 = next(t for t in report["trends"] if t["quantity"] == "p50 ms")
    assert all(s["flagged"] == [SLOW] for s in p50["series"])
    changed = {r["run_id"]: [c["kind"] for c in r["changes"]] for r in report["runs"] if r["changes"]}
    assert changed == {night_id(NEW_HARNESS): ["harness"], night_id(NEW_MACHINE): ["hardware"]}
    machine = report["runs"][NEW_MACHINE]["changes"][0]["text"]
    assert "Test CPU" in machine and "Other CPU" in machine
    assert report["runs"][0]["leaderboard"] == f"{night_id(0)}/leaderboard.html"
    times = [r["time"] for r in report["runs"]]
    assert all(b - a == 86400 for a, b in pairwise(times))


def test_a_year_in_the_browser(browser, history):
    _, _, html, _ = history
    no_network_references(html.read_text())
    start = time.perf_counter()
    dom = rendered(browser, html)
    print(f"\nChromium loaded and drew report.html of {NIGHTS} runs in {time.perf_counter() - start:.2f} s")
    plots = [a for a in dom.with_attr("data-drawn")]
    assert dom.find("body")[0]["data-plots"] == "5" and len(plots) == 5  # nDCG@10 (a menu), p50, p95, QPS, MiB
    assert all(int(a["data-drawn"]) == 2 * NIGHTS for a in plots)  # a point per pipeline and night
    assert all(a["data-changes"] == "2" for a in plots)  # the harness, the machine
    # nDCG@10 shows the drop; p50, p95 and QPS the slow night (both pipelines); memory none
    assert [a["data-regressions"] for a in plots] == ["1", "2", "2", "2", "0"]
    assert all(a["data-links"] == str(2 * NIGHTS) for a in plots)
    links = {a["href"] for a in dom.find("a") if a.get("href", "").endswith("leaderboard.html")}
    assert len(links) == NIGHTS
    target = html.parent / f"{night_id(SLOW)}/leaderboard.html"
    assert f"{night_id(SLOW)}/leaderboard.html" in links and target.is_file()
    assert all((html.parent / link).is_file() for link in links)
    assert rendered(browser, target).find("table", id="leaderboard")  # the link leads to the real page
    assert dom.find("table", id="history")  # the regressions of the history, as a table


def test_links_from_another_out_folder(tmp_path):
    folder = year(tmp_path / "results", nights=3)
    report, (_, html) = write_report(folder, tmp_path / "site" / "reports")
    links = [r["leaderboard"] for r in report["runs"]]
    assert links[0] == f"../../results/nightly/{night_id(0)}/leaderboard.html"
    assert all((html.parent / link).is_file() for link in links)


def test_few_runs_without_times_fall_back_to_run_order(browser, tmp_path):
    folder = noisy_history(tmp_path, nights=3, slower=1.5)
    for run in folder.iterdir():
        manifest = json.loads((run / MANIFEST).read_text())
        write_json(run / MANIFEST, {**manifest, "started": "yesterday"})
    report, (_, html) = write_report(folder)
    assert [(r["time"], r["leaderboard"]) for r in report["runs"]] == [(None, None)] * 3
    dom = rendered(browser, html)
    assert all(int(a["data-drawn"]) == 3 for a in dom.with_attr("data-drawn"))
    assert sum(int(a["data-regressions"]) for a in dom.with_attr("data-drawn")) == 3  # p50, p95, QPS of the last


# -- index.html over a folder of suites -----------------------------------------------------------

def suites(root: Path) -> Path:
    """A results folder: a suite that regressed tonight, a calm one, one whose only run is unfinished,
    a hidden cache folder, and a suite named like HTML."""
    noisy_history(root / "a", slower=1.5).rename(root / "slow")
    noisy_history(root / "b").rename(root / "calm")
    write_run(root, "r1", [cell("d", "x", {"nDCG@10": values(np.full(4, 0.5))})], suite="started", status="running")
    noisy_history(root / "c", nights=2).rename(root / "x<script>&")
    (root / ".cache" / "blobs").mkdir(parents=True)
    for empty in ("a", "b", "c"):
        (root / empty).rmdir()
    return root


def test_index_over_suites(capsys, browser, tmp_path):
    root = suites(tmp_path / "results")
    code, out, err = report_cli(capsys, root)
    assert code == 1, out + err  # `slow` regressed
    assert f"index: {root / 'index.html'}" in out and "REGRESSION d/bm25 (cpu): p50 ms" in out
    assert "started: " in out and "no finished harness run" in out
    index = json.loads((root / "index.json").read_text())
    rows = {r["suite"]: r for r in index["suites"]}
    assert sorted(rows) == ["calm", "slow", "started", "x<script>&"]
    assert rows["slow"]["status"] == "regressed" and rows["calm"]["status"] == "ok"
    assert rows["started"]["status"] == "no finished run" and rows["started"]["report"] is None
    assert rows["slow"]["report"] == "slow/report.html" and rows["slow"]["regressions"] == 3
    html = (root / "index.html").read_text()
    no_network_references(html)
    assert not set("<>&") & set(embedded(html)) and "x<script>" not in html.replace(embedded(html), "")
    dom = rendered(browser, root / "index.html")
    hrefs = [a["href"] for a in dom.find("a")]
    assert "slow/report.html" in hrefs and "calm/report.html" in hrefs
    assert len(hrefs) == 3 and all((root / unquote(href)).is_file() for href in hrefs)  # reports; no leaderboards
    assert len(dom.find("table", id="suites")) == 1 and len(dom.find("tr")) == 1 + 4
    assert rendered(browser, root / "slow" / "report.html").find("table", id="regressions")


def test_index_with_out_and_errors(capsys, tmp_path):
    root = suites(tmp_path / "results")
    code, out, _ = report_cli(capsys, root, "--out", tmp_path / "site", "--json")
    assert code == 1 and json.loads(out)["schema"] == "harness.report-index/1"
    assert (tmp_path / "site" / "slow" / "report.html").is_file() and not (root / "slow" / "report.html").exists()
    # a pinned reference that some suite lacks, and a damaged run: the others are written, then exit 2
    (root / "calm" / "20260102" / MANIFEST).write_text("{")
    code, out, err = report_cli(capsys, root, "--reference", "20260101")
    assert code == 2 and "could not be reported" in err and "calm: " in err and "started: " in err
    assert "slow: " not in err and json.loads((root / "index.json").read_text())["suites"][1]["status"] == "regressed"


def test_a_single_suite_is_still_a_single_report(tmp_path):
    folder = noisy_history(tmp_path)
    assert build_report(folder)["suite"] == "nightly"
    entries, paths = write_reports(tmp_path)  # its parent holds one suite
    assert [e["suite"] for e in entries] == ["nightly"] and paths[1].is_file()

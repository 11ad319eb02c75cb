"""The leaderboard's "Stages" table: each cascade stage by stage, in every format, with its flags.

Built from synthetic cell results carrying a ``stages`` list in the shape of ``harness.cell/2``
(tests/runfolders.py writes the folders); a result without one, or with one stage, has no rows.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from runfolders import cell, values, write_run

from harness.attribution import attribute
from harness.cellresult import as_results
from harness.leaderboard import analyse, write_leaderboard
from harness.leaderboard import stages as stages_view
from harness.metrics import evaluate, parse_metric
from harness.ranking import Run, rerank_merge
from harness.results import load_run

METRIC = "nDCG@10"


def record(stage: int, kind: str, plugin: str, *, depth=None, quality=None, input_recall=None, ceiling=None,
           cache="miss", seconds=0.5, compressors=()) -> dict:
    """One stage record as a cell result (harness.cell/2) lists it."""
    return {"stage": stage, "kind": kind, "plugin": plugin, "distribution": "ir-harness", "version": "0.1.0",
            "identity": {"plugin": plugin}, "compressors": [{"plugin": c} for c in compressors], "depth": depth,
            "interpolate": None, "cache": cache, "seconds": seconds, "run_key": f"run-{plugin}-{stage}",
            "metric": METRIC, "quality": quality, "input_recall": input_recall, "ceiling": ceiling}


def cascade_cell(name: str, shift: float, stage_list: list[dict] | None, **kw) -> dict:
    result = cell("d", name, {METRIC: values(np.linspace(0.2, 0.8, 20), shift, 0.02, seed=sum(map(ord, name)))}, **kw)
    if stage_list is not None:
        result["stages"] = stage_list
    return result


FAR = [record(0, "retriever", "bm25", quality=0.30, cache="hit", seconds=0.01),
       record(1, "ranker", "cross-encoder", depth=100, quality=0.45, input_recall=0.40, ceiling=0.80,
              seconds=12.5, compressors=("int8-dynamic",))]
NEAR = [record(0, "retriever", "dense", quality=0.50),
        record(1, "ranker", "cross-encoder", depth=50, quality=0.66, input_recall=0.90, ceiling=0.70)]
THREE = [record(0, "retriever", "bm25", quality=0.30),
         record(1, "ranker", "bi-encoder", depth=200, quality=0.40, input_recall=0.85, ceiling=0.90),
         record(2, "ranker", "cross-encoder", depth=20, quality=0.55, input_recall=0.60, ceiling=0.60)]


@pytest.fixture
def run_dir(tmp_path):
    cells = [
        cascade_cell("far", 0.0, FAR),
        cascade_cell("near", 0.1, NEAR),
        cascade_cell("three", 0.05, THREE),
        cascade_cell("single", -0.1, [record(0, "retriever", "bm25", quality=0.3)]),  # one stage: no table
        cascade_cell("old", -0.05, None),  # a harness.cell/1 result: no stages at all
        cascade_cell("broken", 0.0, FAR, status="failed"),  # failed cells rank nothing
    ]
    return write_run(tmp_path, "r1", cells, metrics=(METRIC,))


def test_json_rows_per_stage_of_each_cascade_in_leaderboard_order(run_dir):
    write_leaderboard(run_dir)
    data = json.loads((run_dir / "leaderboard.json").read_text())
    section = data["stages"]
    assert section["metric"] == METRIC and section["below_ceiling"] == 0.1 and section["low_recall"] == 0.5
    assert set(section["rules"]) == {"below ceiling", "caps"}
    order = [r["pipeline"] for r in data["rows"] if r["pipeline"] in ("far", "near", "three")]
    assert [(r["pipeline"], r["stage"]) for r in section["rows"]] == [
        (p, s) for p in order for s in range(3 if p == "three" else 2)]
    far = [r for r in section["rows"] if r["pipeline"] == "far"]
    assert far[1] == {"dataset": "d", "pipeline": "far", "device": "cpu", "stage": 1, "kind": "ranker",
                      "plugin": "cross-encoder", "compressors": ["int8-dynamic"], "depth": 100, "cache": "miss",
                      "seconds": 12.5, "metric": METRIC, "quality": 0.45, "input_recall": 0.4, "ceiling": 0.8,
                      "gap": pytest.approx(0.35), "flags": ["below ceiling"]}
    assert far[0]["flags"] == ["caps"] and far[0]["input_recall"] is None and far[0]["gap"] is None


def test_flags_follow_the_rules():
    data = analyse({"metrics": [METRIC], "datasets": ["d"]}, [
        cascade_cell("far", 0.0, FAR), cascade_cell("near", 0.1, NEAR), cascade_cell("three", 0.05, THREE)])
    flags = {(r["pipeline"], r["stage"]): r["flags"] for r in data["stages"]["rows"]}
    assert flags == {("far", 0): ["caps"], ("far", 1): ["below ceiling"],
                     ("near", 0): [], ("near", 1): [],  # 0.04 below its ceiling, recall 0.9
                     ("three", 0): [], ("three", 1): ["below ceiling"], ("three", 2): []}


@pytest.mark.parametrize(("ceiling", "recall", "flags"), [
    (0.5 + 0.1, 0.5, [[], []]),  # at the thresholds: not flagged
    (0.5 + 0.1 + 1e-9, 0.5 - 1e-9, [["caps"], ["below ceiling"]]),
    (None, None, [[], []]),  # not computed (a metric unavailable): nothing to flag
])
def test_thresholds_are_strict(ceiling, recall, flags):
    stage_list = [record(0, "retriever", "bm25", quality=0.3),
                  record(1, "ranker", "ce", depth=10, quality=0.5, input_recall=recall, ceiling=ceiling)]
    data = analyse({"metrics": [METRIC]}, [cascade_cell("x", 0.0, stage_list)])
    assert [r["flags"] for r in data["stages"]["rows"]] == flags


def test_markdown_has_a_table_per_cascade_with_markers(run_dir):
    write_leaderboard(run_dir)
    md = (run_dir / "leaderboard.md").read_text()
    section = md[md.index("## Stages (nDCG@10)"):]
    assert [line for line in section.splitlines() if line.startswith("### ")] == [
        "### d / near (cpu)", "### d / three (cpu)", "### d / far (cpu)"]
    far = section[section.index("### d / far (cpu)"):]
    header = far.splitlines()[2]
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "stage", "kind", "plugin", "depth", "cache", "seconds", METRIC, "input R@depth", "ceiling", "gap", "flag"]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in far.splitlines()[4:6]]
    assert rows[0] == ["0", "retriever", "bm25", "-", "hit", "0.010", "0.3000", "-", "-", "-", "⊤ caps"]
    assert rows[1] == ["1", "ranker", "cross-encoder + int8-dynamic", "100", "miss", "12.500", "0.4500", "0.4000",
                       "0.8000", "+0.3500", "▽ below ceiling"]
    assert "### d / single" not in md and "### d / old" not in md and "### d / broken" not in md
    assert "- ▽ below ceiling: a stage after the first whose quality is more than 0.1 below its ceiling" in md
    assert "- ⊤ caps: a first stage whose candidate recall" in md


def test_csv_beside_the_leaderboard(run_dir):
    written = write_leaderboard(run_dir)
    path = run_dir / stages_view.CSV_FILE
    assert written.index(path) == written.index(run_dir / "leaderboard.csv") + 1
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == list(stages_view.CSV_COLUMNS)
    far = [r for r in rows if r["pipeline"] == "far"]
    assert far[1] | {"gap": None} == {"dataset": "d", "pipeline": "far", "device": "cpu", "stage": "1",
                                       "kind": "ranker", "plugin": "cross-encoder", "compressors": "int8-dynamic",
                                       "depth": "100", "cache": "miss", "seconds": "12.5", "metric": METRIC,
                                       "quality": "0.45", "input_recall": "0.4", "ceiling": "0.8", "gap": None,
                                       "flags": "below ceiling"}
    assert float(far[1]["gap"]) == 0.8 - 0.45  # full precision
    assert far[0]["depth"] == "" and far[0]["flags"] == "caps"
    # the main CSV is unchanged: one row per cell
    assert len(list(csv.DictReader(io.StringIO((run_dir / "leaderboard.csv").read_text())))) == 6


def test_html_classes_flagged_rows(run_dir):
    write_leaderboard(run_dir)
    html = (run_dir / "leaderboard.html").read_text()
    assert "<h2>Stages (nDCG@10)</h2>" in html and "<h3>d / far (cpu)</h3>" in html
    assert html.count('<tr class="below-ceiling">') == 2 and html.count('<tr class="caps">') == 1
    assert 'id="stages-0"' in html and 'id="stages-2"' in html  # one table per cascade, ids distinct
    assert "tr.below-ceiling td" in html  # styled


def test_no_cascade_no_section_and_no_stale_csv(run_dir, tmp_path):
    write_leaderboard(run_dir)
    assert (run_dir / stages_view.CSV_FILE).exists()
    plain = write_run(tmp_path, "r2", [cascade_cell("old", 0.0, None),
                                       cascade_cell("single", 0.1, [record(0, "retriever", "bm25", quality=0.4)])])
    (plain / stages_view.CSV_FILE).write_text("stale\n")
    written = write_leaderboard(plain)
    assert not (plain / stages_view.CSV_FILE).exists() and plain / stages_view.CSV_FILE not in written
    assert json.loads((plain / "leaderboard.json").read_text())["stages"] is None
    assert "## Stages" not in (plain / "leaderboard.md").read_text()
    assert "<h2>Stages" not in (plain / "leaderboard.html").read_text()


def test_read_through_cell_results(run_dir):
    """The rows come from the results as loaded (CellResult), field or extra alike."""
    _, cells = load_run(run_dir)
    found = {c.cell.pipeline: stages_view.records(c) for c in as_results(cells)}
    assert found["far"][1]["ceiling"] == 0.8 and found["old"] == [] and len(found["single"]) == 1


def test_records_from_attribution_agree_with_the_cell(tmp_path):
    """Stage records made by ``attribute`` on a constructed cascade: the table's last quality is the
    cell's metric, and a perfect reranker shows no gap."""
    qrels = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"e": 1, "f": 3}}
    first = Run.from_scores({"q1": {"c": 3.0, "x": 2.0, "b": 1.5, "a": 1.0}, "q2": {"f": 2.0, "g": 1.0, "e": 0.5}})
    heads = {q: {d: float(qrels[q].get(d, 0)) - r / 10 for r, d in enumerate(list(docs)[:3])}
             for q, docs in first.items()}
    final = rerank_merge(first, Run.from_scores(heads), 3)
    spec = [{"kind": "retriever", "depth": None}, {"kind": "ranker", "depth": 3}]
    found = attribute([first, final], spec, qrels, parse_metric(METRIC))
    stage_list = [record(i, s["kind"], p, depth=s["depth"], quality=f["quality"], input_recall=f["input_recall"],
                         ceiling=f["ceiling"])
                  for i, (s, p, f) in enumerate(zip(spec, ("bm25", "ce"), found, strict=True))]
    values_ = evaluate([parse_metric(METRIC)], qrels, final, complete=True)[METRIC]
    result = cell("d", "bm25-ce", {METRIC: values_.per_query})
    result["stages"] = stage_list
    run_dir = write_run(tmp_path, "r", [result], metrics=(METRIC,))
    write_leaderboard(run_dir)
    data = json.loads((run_dir / "leaderboard.json").read_text())
    last = data["stages"]["rows"][-1]
    assert last["quality"] == data["rows"][0]["values"][METRIC] == values_.aggregate
    assert last["gap"] == 0.0 and last["flags"] == []
    assert last["input_recall"] == pytest.approx((1 / 2 + 1) / 2)  # a is past depth 3 in q1


def test_html_page_with_stages_opens_without_errors(browser, run_dir):
    """In headless Chromium (skipped without one, as tests/test_html.py): no script error, the
    stage tables sortable like the others."""
    from test_html import rendered

    write_leaderboard(run_dir)
    dom = rendered(browser, run_dir / "leaderboard.html")
    assert [t["id"] for t in dom.find("table") if t.get("id", "").startswith("stages-")] == [
        "stages-0", "stages-1", "stages-2"]
    assert len(dom.find("tr", **{"class": "below-ceiling"})) == 2

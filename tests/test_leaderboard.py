"""Leaderboards rendered from cell results: rows, order, times, failures, formats, re-rendering."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from fakes import registry_with

from harness.leaderboard import analyse, leaderboard_frame, render_markdown, write_leaderboard
from harness.results import MANIFEST, load_run, read_json, write_json
from harness.runner import run_suite
from harness.suite import load_suite

# Two datasets (b declared first) over the same folder; pipelines declared in an order that
# the first metric reorders: reranked scores below bm25 and overlap on nDCG@3.
SUITE = """
name = "lb"
k = 5
metrics = ["nDCG@3", "AP"]

[[datasets]]
name = "b"
source = "beir:{beir}"

[[datasets]]
name = "a"
source = "beir:{beir}"

[[pipelines]]
name = "overlap"
retriever = {plugin = "overlap"}

[[pipelines]]
name = "reranked"
retriever = {plugin = "overlap"}
ranker = {plugin = "reverse", depth = 2}

[[pipelines]]
name = "bad"
retriever = {plugin = "failing"}

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25"}
"""


def run(write_suite, tmp_path, body=SUITE, overrides=(), **options):
    registry = registry_with()
    suite = load_suite(write_suite(body), overrides, registry=registry)
    return run_suite(suite, results_dir=tmp_path / "results", registry=registry, **options)


def expected_order(results: list[dict], datasets=("b", "a")) -> list[tuple[str, str]]:
    """Datasets in suite order; within one, nDCG@3 descending (ties in cell order), failed last."""
    out = []
    for dataset in datasets:
        cells = [r for r in results if r["cell"]["dataset"] == dataset]
        ok = sorted((r for r in cells if r["status"] == "ok"), key=lambda r: -r["metrics"]["nDCG@3"])
        out += [(dataset, r["cell"]["pipeline"]) for r in ok + [r for r in cells if r["status"] != "ok"]]
    return out


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of the first Markdown table (header first), stripped."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    table = [line for line in lines[start:end] if not set(line) <= set("|-: ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in table]


def mean_of(text: str) -> str:
    """The mean of a metric cell (``0.8000 [0.400, 1.000] ▲`` → ``0.8000``)."""
    return text.split()[0]


@pytest.fixture
def first(write_suite, tmp_path):
    return run(write_suite, tmp_path)


def test_markdown_title_provenance_and_rows(first):
    manifest = read_json(first.run_dir / MANIFEST)
    text = (first.run_dir / "leaderboard.md").read_text()
    lines = text.splitlines()
    assert lines[0] == f"# lb — run {first.run_dir.name}"
    assert f"- status: finished; started {manifest['started']}, finished {manifest['finished']}" in lines
    env = manifest["environment"]
    assert f"- harness {manifest['harness']}; Python {env['python']}; host {env['host']}; CPU {env['cpu']}" in lines
    assert any(line.startswith("- retrieval depth k = 5; metrics:") for line in lines)
    rows = table_rows(text)
    header, body = rows[0], rows[1:]
    assert header == ["dataset", "pipeline", "device", "nDCG@3", "group", "AP", "index s", "retrieve s", "rerank s",
                      "settings", "status"]
    assert len(body) == 8  # one row per cell
    order = [(r[0], r[1]) for r in body]
    assert order == expected_order(first.results)
    for dataset in ("b", "a"):  # not the declared order (overlap, reranked, bad, bm25)
        names = [p for d, p in order if d == dataset]
        assert names[-1] == "bad" and names.index("overlap") < names.index("reranked")
    cells = {(c["cell"]["dataset"], c["cell"]["pipeline"]): c for c in first.results}
    for row in body:
        cell = cells[(row[0], row[1])]
        if cell["status"] == "ok":
            assert mean_of(row[3]) == f"{cell['metrics']['nDCG@3']:.4f}" and row[-1] == "ok"
            assert row[3].endswith("]") and row[4] == "a"  # an interval; no baseline, one tie group
        else:
            assert row[-1] == "failed: RuntimeError"
            assert row[3] == row[5] == "-"  # no metric values: shown as missing, not "nan"
    assert "nan" not in text.lower().replace("nanosecond", "")


def test_markdown_times_cached_and_missing(first):
    body = {(r[0], r[1]): r for r in table_rows((first.run_dir / "leaderboard.md").read_text())[1:]}
    # the first cell retrieving with overlap measures it; the reranked pipeline shares that run
    assert body[("b", "overlap")][7] not in ("cached", "-")
    assert body[("b", "reranked")][7] == "cached"
    assert body[("b", "reranked")][8] not in ("cached", "-")
    assert body[("a", "reranked")][8] == "cached"  # same collection content: cache hit
    assert body[("b", "overlap")][8] == "-"  # no ranker


def test_rerun_shows_cached_times(write_suite, tmp_path, first):
    again = run(write_suite, tmp_path)
    assert again.run_dir != first.run_dir
    body = table_rows((again.run_dir / "leaderboard.md").read_text())[1:]
    for row in body:
        if row[1] != "bad":
            assert row[7] == "cached", row  # retrieve served from the artifact cache
            assert row[6] in ("cached", "-"), row
    assert [r[8] for r in body if r[1] == "reranked"] == ["cached", "cached"]


def test_csv_has_full_precision_values(first):
    frame = pd.read_csv(first.run_dir / "leaderboard.csv")
    assert list(frame.columns) == ["dataset", "pipeline", "device", "nDCG@3", "nDCG@3 low", "nDCG@3 high", "group",
                                   "AP", "index s", "retrieve s", "rerank s", "settings", "status"]
    assert len(frame) == 8
    by_cell = {(c["cell"]["dataset"], c["cell"]["pipeline"]): c for c in first.results}
    for _, row in frame.iterrows():
        cell = by_cell[(row["dataset"], row["pipeline"])]
        for metric in ("nDCG@3", "AP"):
            if cell["status"] == "ok":
                assert row[metric] == cell["metrics"][metric]  # exact, not rounded
            else:
                assert pd.isna(row[metric])
    reranked = frame[frame.pipeline == "reranked"]["nDCG@3"].iloc[0]
    assert reranked != round(reranked, 4)  # the fixture really has digits beyond the Markdown's
    assert set(frame[frame.pipeline == "bad"]["status"]) == {"failed: RuntimeError"}


def test_output_formats_are_honoured(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, overrides=['output.leaderboard=["csv"]'])
    assert (outcome.run_dir / "leaderboard.csv").is_file()
    assert not (outcome.run_dir / "leaderboard.md").exists()
    # the suite's reranked pipeline is a cascade: its stages come in a CSV of their own
    assert write_leaderboard(outcome.run_dir) == [outcome.run_dir / "leaderboard.csv",
                                                  outcome.run_dir / "leaderboard-stages.csv"]
    md_only = run(write_suite, tmp_path, overrides=['output.leaderboard=["md"]'], new=True)
    assert sorted(p.name for p in md_only.run_dir.iterdir() if p.name.startswith("leaderboard")) == ["leaderboard.md"]


def test_rerender_a_copied_folder(first, tmp_path):
    copy = tmp_path / "elsewhere" / "copied"
    shutil.copytree(first.run_dir, copy)
    original_md = (first.run_dir / "leaderboard.md").read_text()
    original_csv = (first.run_dir / "leaderboard.csv").read_text()
    (copy / "leaderboard.md").unlink()
    (copy / "leaderboard.csv").write_text("stale")
    shutil.rmtree(first.run_dir)  # nothing refers back to the original
    written = write_leaderboard(copy)
    assert written == [copy / name for name in ("leaderboard.md", "leaderboard.csv", "leaderboard-stages.csv",
                                                 "leaderboard.json", "leaderboard.html")]
    assert (copy / "leaderboard.md").read_text() == original_md
    assert (copy / "leaderboard.csv").read_text() == original_csv


def test_rerender_reflects_edited_cells(first):
    _, cells = load_run(first.run_dir)
    cell = next(c for c in cells if c["cell"]["dataset"] == "a" and c["cell"]["pipeline"] == "reranked")
    cell["metrics"]["nDCG@3"] = 0.99
    write_json(first.run_dir / "cells" / f"{cell['cell']['slug']}.json", cell)
    write_leaderboard(first.run_dir)
    body = table_rows((first.run_dir / "leaderboard.md").read_text())[1:]
    assert next(r[1] for r in body if r[0] == "a") == "reranked"
    b_names = [r[1] for r in body if r[0] == "b"]
    assert b_names[-1] == "bad" and b_names.index("overlap") < b_names.index("reranked")


def test_empty_run_renders_a_note():
    manifest = {"suite": "s", "run_id": "r", "metrics": ["AP"]}
    assert leaderboard_frame(manifest, []).empty
    assert render_markdown(analyse(manifest, [])).endswith("No cell results.\n")


def test_frame_from_plain_dicts():
    def cell(dataset, pipeline, value, status="ok", phases=None):  # a cell result's JSON, as a file holds it
        return {"schema": "harness.cell/1", "status": status,
                "cell": {"id": f"{dataset}/{pipeline}/cpu", "key": "k", "slug": f"{dataset}__{pipeline}__cpu",
                         "dataset": dataset, "pipeline": pipeline, "device": "cpu"},
                "metrics": {"AP": value} if value is not None else {}, "phases": phases or {},
                "error": None if status == "ok" else {"phase": "retrieve", "type": "ValueError", "message": "x"}}

    cells = [
        cell("x", "low", 0.1, phases={"retrieve": {"seconds": 1.25, "cache": "miss"}}),
        cell("y", "only", 0.5),
        cell("x", "broken", None, status="failed"),
        cell("x", "high", 0.9, phases={"retrieve": {"seconds": None, "cache": "memory"}}),
    ]
    frame = leaderboard_frame({"metrics": ["AP"], "datasets": ["x", "y"]}, cells)
    assert list(frame["pipeline"]) == ["high", "low", "broken", "only"]
    assert list(frame["status"]) == ["ok", "ok", "failed: ValueError", "ok"]
    assert frame.loc[frame.pipeline == "low", "retrieve s"].iloc[0] == 1.25
    assert frame.loc[frame.pipeline == "high", "retrieve s"].iloc[0] == "cached"
    assert "index s" not in frame.columns and "rerank s" not in frame.columns  # never recorded
    # metrics default to every metric found, sorted, when the manifest does not list them
    assert list(leaderboard_frame({}, cells).columns)[3] == "AP"


COST = SUITE + """
[measure]
latency = ["single-stream", "offline"]
memory = true
isolation = "none"
warmup = 1
repetitions = 2
min_duration = 0
bootstrap_samples = 50
"""
COST_COLUMNS = ["p50 ms", "p95 ms", "QPS", "peak MiB", "index s", "retrieve s", "rerank s"]


def test_cost_columns_next_to_quality(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, COST)
    text = (outcome.run_dir / "leaderboard.md").read_text()
    rows = table_rows(text)
    assert rows[0] == ["dataset", "pipeline", "device", "nDCG@3", "group", "AP", *COST_COLUMNS, "settings", "Pareto",
                       "status"]
    cells = {(c["cell"]["dataset"], c["cell"]["pipeline"]): c for c in outcome.results}
    for row in rows[1:]:
        cell = cells[(row[0], row[1])]
        if cell["status"] != "ok":
            assert row[6:10] == ["-"] * 4
            continue
        latency = cell["latency"]
        assert row[6] == f"{latency['single_stream']['latency']['p50']['value']:.3f}"
        assert row[7] == f"{latency['single_stream']['latency']['p95']['value']:.3f}"
        assert row[8] == f"{latency['offline']['qps']['value']:.1f}"
        assert row[9] == f"{cell['memory']['peak_rss']['value'] / 2**20:.1f}"
    assert any(line.startswith("- cost on ") and "fingerprint" in line for line in text.splitlines())
    frame = pd.read_csv(outcome.run_dir / "leaderboard.csv")
    assert {"p50 ms", "p95 ms", "QPS", "peak MiB"} <= set(frame.columns)


def test_cost_from_different_hardware_is_not_ranked_together(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, COST)
    _, cells = load_run(outcome.run_dir)
    moved = next(c for c in cells if c["cell"]["pipeline"] == "bm25")
    moved["hardware"] = {**moved["hardware"], "cpu": "Another CPU", "hash": "0123456789ab"}
    write_json(outcome.run_dir / "cells" / f"{moved['cell']['slug']}.json", moved)
    write_leaderboard(outcome.run_dir)
    text = (outcome.run_dir / "leaderboard.md").read_text()
    rows = table_rows(text)
    assert rows[0] == ["dataset", "pipeline", "device", "nDCG@3", "group", "AP", "settings", "status"]  # quality only
    assert len(rows) == 9
    note = next(line for line in text.splitlines() if "cost columns left out" in line)
    assert "2 different machines" in note and "Another CPU" in note and "--mixed-hardware" in note
    assert not set(COST_COLUMNS) & set(pd.read_csv(outcome.run_dir / "leaderboard.csv").columns)
    assert "no front: the cells were measured on different hardware" in text
    write_leaderboard(outcome.run_dir, mixed_hardware=True)
    mixed = (outcome.run_dir / "leaderboard.md").read_text()
    header = table_rows(mixed)[0]
    assert header[6:-1] == [*COST_COLUMNS, "hardware", "settings", "Pareto"] and "cost columns left out" not in mixed
    hashes = {r[-4] for r in table_rows(mixed)[1:] if r[-1] == "ok"}
    assert len(hashes) == 2 and moved["hardware"]["hash"] in hashes


def test_refusal_reasons():
    from harness.leaderboard import hardware_refusal

    def cell(hash_, status="ok"):  # a cell result's JSON, as a file holds it
        hardware = {"hash": hash_, "cpu": "X", "cores": 2, "memory_gib": 4} if hash_ else None
        return {"schema": "harness.cell/1", "status": status, "metrics": {},
                "cell": {"id": "d/p/cpu", "key": "k", "slug": "d__p__cpu", "dataset": "d", "pipeline": "p",
                         "device": "cpu"}, "hardware": hardware,
                "error": None if status == "ok" else {"phase": "index", "type": "E", "message": "x"}}

    assert hardware_refusal([cell("a"), cell("a"), cell("b", status="failed")]) is None  # failed cells measure nothing
    assert hardware_refusal([]) is None
    reason = hardware_refusal([cell("a"), cell(None)])
    assert "unrecorded hardware" in reason and "2 different machines" in reason


def test_rerender_in_chosen_formats(capsys, write_suite, tmp_path):
    """A run from before json and html existed asked for md and csv: --format adds the others."""
    from harness import cli

    outcome = run(write_suite, tmp_path, overrides=['output.leaderboard=["md", "csv"]'])
    assert not (outcome.run_dir / "leaderboard.html").exists()
    assert cli.main(["leaderboard", str(outcome.run_dir), "--format", "html", "--format", "json"]) == 0
    assert "leaderboard.html" in capsys.readouterr().err
    assert (outcome.run_dir / "leaderboard.html").is_file() and (outcome.run_dir / "leaderboard.json").is_file()

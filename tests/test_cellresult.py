"""The cell result as a typed, validated model (harness/cellresult.py).

* round trips: a result read and written back is the file it was read from, byte for byte; one
  made in code reads back equal;
* the fixture folder written by the harness of 2026-12 (tests/data/results-main-2026-12, see its
  README.md) loads with ``load_results`` and re-renders the leaderboard it was written with;
* damaged or foreign files fail with ``ResultsError`` naming the file and the key, and through the
  CLI with exit status 2 and no traceback;
* code written against the plain dicts of ``harness.cell/1`` still reads (and sets) results.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import harness
from harness import cli
from harness.cellresult import (
    CELL_SCHEMA_V1,
    CellError,
    CellId,
    CellResult,
    Config,
    Figure,
    Phase,
    StageRecord,
    as_results,
)
from harness.errors import ResultsError
from harness.leaderboard import analyse, leaderboard_frame, write_leaderboard
from harness.report import compare_runs
from harness.results import MANIFEST, cell_path, load_cell, load_run, read_cell, read_manifest, write_cell

FIXTURE = Path(__file__).parent / "data" / "results-main-2026-12" / "fixture" / "20261203-180208"
OK = "tiny__bm25_k1=0.9___cpu"  # cells of the fixture: two bm25 variants and a failed trec-run replay
OTHER_OK = "tiny__bm25_k1=1.2___cpu"
FAILED = "tiny__broken-run__cpu"
METRICS = ["nDCG@3", "AP", "R@5"]


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A copy of the fixture run folder, free to tamper with."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "fixture" / FIXTURE.name))


def cell_json(run: Path, slug: str = OK) -> dict:
    return json.loads(cell_path(run, slug).read_text(encoding="utf-8"))


def put(run: Path, slug: str, data) -> None:
    cell_path(run, slug).write_text(json.dumps(data, indent=1), encoding="utf-8")


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", [OK, OTHER_OK, FAILED])
def test_fixture_cells_round_trip_byte_for_byte(tmp_path, slug):
    source = cell_path(FIXTURE, slug)
    result = read_cell(source)
    assert result.to_dict() == json.loads(source.read_text(encoding="utf-8"))
    copy = tmp_path / "cell.json"
    write_cell(copy, result)
    assert copy.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")
    assert read_cell(copy) == result


def test_fields_are_typed_attributes():
    result = read_cell(cell_path(FIXTURE, OK))
    assert result.schema == CELL_SCHEMA_V1 and result.ok and result.id == "tiny/bm25[k1=0.9]/cpu"
    assert (result.cell.dataset, result.cell.pipeline, result.cell.device) == ("tiny", "bm25[k1=0.9]", "cpu")
    assert result.cell.base == "bm25" and result.cell.sweep == {"k1": 0.9}
    assert list(result.metrics) == METRICS and set(result.per_query) == set(METRICS)
    assert result.per_query["AP"] == {"q1": 1.0, "q2": 1.0, "q3": 1.0, "q4": 1.0, "q5": 0.0}
    p50 = result.latency.single_stream.latency["p50"]
    assert isinstance(p50, Figure) and p50.unit == "ms" and p50.ci.low <= p50.value <= p50.ci.high
    assert len(result.latency.single_stream.repetitions.p50) == result.latency.single_stream.passes
    assert result.latency.offline.qps.spread.min <= result.latency.offline.qps.value
    assert result.latency.offline.repetitions.qps
    assert result.memory.peak_rss.unit == "bytes" and result.memory.peak_rss.extra["phase"] == "evaluate"
    assert list(result.phases)[:2] == ["load_dataset", "index"] and isinstance(result.phases["index"], Phase)
    assert result.phases["index"].cache == "miss" and result.phases["index"].figures["wall"].value > 0
    assert result.hardware.hash and result.hardware.cores >= 1
    assert result.execution.isolation == "subprocess" and result.execution.load_average.start.value >= 0
    assert result.config.seed == 0 and result.config.pipeline["retriever"]["plugin"] == "bm25"
    assert result.config.metrics == METRICS and result.run_file == f"runs/{OK}.trec"
    assert result.costs == {}  # written before cost counters existed
    # written before stage lists (schema /1): its stages are made from components, config and phases
    (stage,) = result.stages
    assert isinstance(stage, StageRecord) and (stage.stage, stage.kind, stage.plugin) == (0, "retriever", "bm25")
    assert stage.distribution == "ir-harness-lexical" and stage.identity["k1"] == 0.9
    assert (stage.phase, stage.cache, stage.depth, stage.quality) == ("retrieve", "miss", None, None)
    assert stage.seconds == result.phases["retrieve"].seconds and "stages" not in result
    failed = read_cell(cell_path(FIXTURE, FAILED))
    assert not failed.ok and failed.error.phase == "index" and failed.error.type == "TrecFormatError"
    assert failed.metrics == {} and failed.per_query == {} and failed.latency is None


def test_a_result_made_in_code_reads_back_equal(tmp_path):
    result = CellResult(cell=CellId(id="d/p/cpu", key="k", slug="d__p__cpu", dataset="d", pipeline="p", device="cpu"),
                        config=Config(seed=3), components={"retriever": {"plugin": "p"}}, started="t")
    result.status, result.metrics, result.per_query = "ok", {"AP": 0.25}, {"AP": {"q1": 0.5, "q2": 0.0}}
    result.phases = {"index": Phase.parse({"seconds": 0.5, "cache": "miss"}, "test")}
    result.costs = {"scorer_calls": {"total": 2}}
    write_cell(tmp_path / "c.json", result)
    data = json.loads((tmp_path / "c.json").read_text())
    assert list(data)[:4] == ["schema", "cell", "status", "error"] and data["error"] is None
    assert data["config"]["k"] is None and data["config"]["seed"] == 3  # a configuration lists every key
    back = read_cell(tmp_path / "c.json")
    assert back.to_dict() == data and back.metrics == result.metrics and back.costs == result.costs
    assert back.cell == result.cell and back.phases["index"].seconds == 0.5


def test_write_cell_refuses_what_read_cell_would_refuse(tmp_path):
    result = read_cell(cell_path(FIXTURE, OK))
    result.metrics["AP"] = float("nan")
    with pytest.raises(ResultsError, match=r"c\.json: metrics\.AP: expected a finite number"):
        write_cell(tmp_path / "c.json", result)
    result.metrics["AP"] = "high"
    with pytest.raises(ResultsError, match=r"metrics\.AP: expected a finite number or null, got a string \('high'\)"):
        write_cell(tmp_path / "c.json", result)
    assert not (tmp_path / "c.json").exists()
    failed = CellResult(cell=result.cell, status="failed")
    with pytest.raises(ResultsError, match=r"error: expected an object \(a failed cell says why\), got null"):
        write_cell(tmp_path / "c.json", failed)
    failed.error = CellError(phase="index", type="E", message="m")
    write_cell(tmp_path / "c.json", failed)
    assert read_cell(tmp_path / "c.json").error.traceback is None


# -- the fixture folder: results written by an older harness ---------------------------------------


def test_fixture_loads_with_load_results():
    results = harness.load_results(FIXTURE.parent)  # the suite's folder: its latest run
    assert results.run_dir == FIXTURE and results.manifest["suite"] == "fixture"
    frame = results.cells
    assert list(frame.columns[:5]) == ["dataset", "pipeline", "device", "status", "error"]
    assert list(frame.columns[5:8]) == METRICS and "index_seconds" in frame.columns
    assert list(frame["pipeline"]) == ["bm25[k1=0.9]", "bm25[k1=1.2]", "broken-run"]
    assert list(frame["status"]) == ["ok", "ok", "failed"] and "expected 6 columns" in frame["error"].iloc[2]
    assert frame["AP"].iloc[0] == pytest.approx(0.8)
    per_query = results.per_query
    assert list(per_query.columns) == ["dataset", "pipeline", "device", "metric", "query", "value"]
    assert len(per_query) == 2 * 3 * 5  # two cells that finished, three metrics, five judged queries
    assert all(isinstance(c, CellResult) for c in results.raw)


ROW_NUMBERS = ("dataset", "pipeline", "device", "status", "values", "spread", "stats", "group", "pareto")


def same_numbers(new: dict, old: dict) -> None:
    """The leaderboard dict ``new`` holds every number ``old`` (the fixture's) holds; later
    versions may add columns and keys, never change these."""
    assert set(old["columns"]) <= set(new["columns"])
    assert len(new["rows"]) == len(old["rows"])
    for a, b in zip(new["rows"], old["rows"], strict=True):
        for key in ROW_NUMBERS:
            if key == "values":
                assert {c: a["values"][c] for c in b["values"]} == b["values"]
            else:
                assert a[key] == b[key], key
    for key in ("metrics", "primary", "datasets", "settings", "baseline", "groups", "differences", "macro",
                "compressed", "notes"):
        assert new[key] == old[key], key
    assert [{k: p[k] for k in ("dataset", "device", "quality", "axes")} for p in new["pareto"]] == \
        [{k: p[k] for k in ("dataset", "device", "quality", "axes")} for p in old["pareto"]]


def markdown_table(text: str) -> list[dict]:
    """The rows of the first Markdown table, as {header: cell}."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    table = [[c.strip() for c in line.strip("|").split("|")] for line in lines if not set(line) <= set("|-: ")]
    end = next((i for i, row in enumerate(table[1:], 1) if row == table[0]), len(table))  # the next table's header
    return [dict(zip(table[0], row, strict=True)) for row in table[1:end]]


def same_table(new_md: str, old_md: str) -> None:
    new, old = markdown_table(new_md), markdown_table(old_md)
    assert [{k: row[k] for k in b} for row, b in zip(new, old, strict=True)] == old


def test_fixture_rerenders_its_own_leaderboard(run_dir):
    for name in ("leaderboard.json", "leaderboard.md", "leaderboard.csv", "leaderboard.html"):
        (run_dir / name).unlink()
    write_leaderboard(run_dir)
    same_numbers(json.loads((run_dir / "leaderboard.json").read_text()),
                 json.loads((FIXTURE / "leaderboard.json").read_text()))
    same_table((run_dir / "leaderboard.md").read_text(), (FIXTURE / "leaderboard.md").read_text())
    old_csv = (FIXTURE / "leaderboard.csv").read_text().splitlines()
    new_csv = (run_dir / "leaderboard.csv").read_text().splitlines()
    header = old_csv[0].split(",")
    rows = [dict(zip(new_csv[0].split(","), line.split(","), strict=True)) for line in new_csv[1:]]
    picked = [[row[h] for h in header] for row in rows]
    assert picked == [line.split(",") for line in old_csv[1:]]
    assert (run_dir / "leaderboard.html").is_file()


def test_fixture_rerenders_through_the_cli(capsys, run_dir):
    code = cli.main(["leaderboard", str(run_dir)])
    out, err = capsys.readouterr()
    assert code == 0, err
    same_table(out, (FIXTURE / "leaderboard.md").read_text())
    same_numbers(json.loads((run_dir / "leaderboard.json").read_text()),
                 json.loads((FIXTURE / "leaderboard.json").read_text()))


def test_fixture_compares_with_itself(run_dir):
    data = compare_runs(FIXTURE, run_dir)
    assert data["summary"]["regressed"] == 0 and data["summary"]["improved"] == 0
    assert {r["metric"] for r in data["quality"]} == set(METRICS)
    assert any("broken-run" in n and "failed in A and B" in n for n in data["notes"])


# -- damaged and foreign files ---------------------------------------------------------------------


def _truncated(run):
    text = cell_path(run, OK).read_text()
    cell_path(run, OK).write_text(text[: len(text) // 2])


def _set(path: list[str], value):
    def tamper(run):
        data = cell_json(run)
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        put(run, OK, data)
    return tamper


def _drop(key: str, slug: str = OK):
    def tamper(run):
        data = cell_json(run, slug)
        del data[key]
        put(run, slug, data)
    return tamper


def _nan(run):
    text = cell_path(run, OK).read_text().replace('"nDCG@3": 0.8,', '"nDCG@3": NaN,', 1)
    assert "NaN" in text
    cell_path(run, OK).write_text(text)


def _foreign(run):
    """A cell file of another suite's run, copied over one of this run's."""
    other = cell_json(run)
    other["cell"].update(id="cranfield/bm25/cpu", slug=OK, dataset="cranfield", pipeline="bm25", base="bm25")
    put(run, OK, other)


def _unknown_metric(run):
    data = cell_json(run)
    data["per_query"]["P@5"] = data["per_query"]["AP"]
    put(run, OK, data)


TAMPERED = {
    "truncated": (_truncated, OK, r"\(file\): expected a JSON object, got invalid JSON \(truncated or damaged"),
    "empty file": (lambda run: cell_path(run, OK).write_text(""), OK,
                   r"\(file\): expected a JSON object, got an empty file"),
    "list": (lambda run: put(run, OK, [cell_json(run)]), OK,
             r"\(file\): expected a JSON object, got a list \(1 item\)"),
    "not UTF-8": (lambda run: cell_path(run, OK).write_bytes(b"\xff\xfe{"), OK,
                  r"\(file\): expected UTF-8 JSON text, got undecodable bytes"),
    "missing metrics": (_drop("metrics"), OK,
                        r"metrics: expected an object \(a cell with status 'ok' has metrics\), got nothing"),
    "missing cell": (_drop("cell"), OK, r": cell: expected an object, got nothing \(the key is missing\)"),
    "missing error": (_drop("error", FAILED), FAILED,
                      r"error: expected an object \(a failed cell says why\), got nothing"),
    "string metric": (_set(["metrics", "AP"], "0.8"), OK,
                      r"metrics\.AP: expected a finite number or null, got a string \('0\.8'\)"),
    "NaN": (_nan, OK, r"metrics\.nDCG@3: expected a finite number \(JSON has no NaN or Infinity\), got NaN"),
    "Infinity": (_set(["phases", "index", "seconds"], float("inf")), OK, r"phases\.index\.seconds: .* got Infinity"),
    "unknown schema": (_set(["schema"], "harness.cell/9"), OK,
                       r"schema: expected 'harness\.cell/1' or 'harness\.cell/2', got a string "
                       r"\('harness\.cell/9'\)"),
    "manifest as cell": (lambda run: put(run, OK, json.loads((run / MANIFEST).read_text())), OK,
                         r"schema: expected 'harness\.cell/1' or 'harness\.cell/2', got a string "
                         r"\('harness\.run/1'\)"),
    "wrong status": (_set(["status"], "done"), OK, r"status: expected 'ok' or 'failed', got a string \('done'\)"),
    "unknown per-query metric": (_unknown_metric, OK,
                                 r"per_query\.P@5: expected a metric of 'metrics' \(nDCG@3, AP, R@5\), got"),
    "per-query null": (_set(["per_query", "AP", "q1"], None), OK,
                       r"per_query\.AP\.q1: expected a finite number, got null"),
    "another suite's cell": (_foreign, OK,
                             r"cell\.id: expected 'tiny/bm25\[k1=0\.9\]/cpu' \(the cell run\.json lists under this "
                             r"file\), got a string \('cranfield/bm25/cpu'\)"),
    "latency figure": (_set(["latency", "single_stream", "latency", "p50", "value"], "fast"), OK,
                       r"latency\.single_stream\.latency\.p50\.value: expected a finite number or null, got a string"),
    "interval": (_set(["latency", "single_stream", "latency", "p95", "ci"], [0.1, 0.2]), OK,
                 r"latency\.single_stream\.latency\.p95\.ci: expected an object or null, got a list \(2 items\)"),
    "hardware cores": (_set(["hardware", "cores"], "2"), OK,
                       r"hardware\.cores: expected an integer or null, got a string"),
    "cell key": (_set(["cell", "key"], 12), OK, r"cell\.key: expected a string, got a number \(12\)"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_cell_fails_naming_file_and_key(run_dir, case):
    tamper, slug, message = TAMPERED[case]
    tamper(run_dir)
    with pytest.raises(ResultsError, match=message) as info:
        load_run(run_dir)
    assert str(info.value).startswith(f"{cell_path(run_dir, slug)}: ")
    cell_id = {s: c for c, s in read_manifest(run_dir / MANIFEST)["cells"].items()}[slug]
    assert load_cell(run_dir, slug, cell_id) is None  # a resumed run runs such a cell again


@pytest.mark.parametrize("case", ["truncated", "missing metrics", "NaN", "unknown schema", "wrong status",
                                  "another suite's cell", "list", "empty file", "unknown per-query metric",
                                  "string metric"])
def test_tampered_cell_through_the_cli(capsys, run_dir, case):
    tamper, slug, message = TAMPERED[case]
    tamper(run_dir)
    for argv in (["leaderboard", str(run_dir)], ["compare", str(FIXTURE), str(run_dir)],
                 ["report", str(run_dir.parent)]):
        code = cli.main(argv)
        out, err = capsys.readouterr()
        assert code == 2, (argv, out, err)
        assert "Traceback" not in err and err.startswith(f"error: {cell_path(run_dir, slug)}: "), err
    with pytest.raises(ResultsError, match=message):
        harness.load_results(run_dir)


MANIFESTS = {
    "not JSON": ("{", r"run\.json: \(file\): expected a JSON object, got invalid JSON"),
    "a list": ("[]", r"run\.json: \(file\): expected a JSON object, got a list \(0 items\)"),
    "unknown schema": (lambda m: {**m, "schema": "harness.run/7"},
                       r"run\.json: schema: expected 'harness\.run/1', got a string"),
    "a cell result": (lambda m: json.loads(cell_path(FIXTURE, OK).read_text()),
                      r"run\.json: schema: expected 'harness\.run/1', got a string \('harness\.cell/1'\)"),
    "cells as a list": (lambda m: {**m, "cells": list(m["cells"])},
                        r"run\.json: cells: expected an object, got a list"),
    "status": (lambda m: {**m, "status": "paused"}, r"run\.json: status: expected 'running' or 'finished'"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_tampered_manifest(capsys, run_dir, case):
    change, message = MANIFESTS[case]
    path = run_dir / MANIFEST
    path.write_text(change if isinstance(change, str) else json.dumps(change(json.loads(path.read_text()))))
    with pytest.raises(ResultsError, match=message):
        read_manifest(path)
    with pytest.raises(ResultsError, match=message):
        load_run(run_dir)
    code = cli.main(["leaderboard", str(run_dir)])
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and str(path) in err, err


# -- code written against the plain dicts ----------------------------------------------------------


def test_dict_style_access_reads_the_json_shape():
    result = read_cell(cell_path(FIXTURE, OK))
    data = json.loads(cell_path(FIXTURE, OK).read_text())
    assert result["cell"]["dataset"] == "tiny" and result["status"] == "ok"
    assert result["latency"] == data["latency"] and result["phases"]["index"]["cache"] == "miss"
    assert result.get("memory")["peak_rss"]["value"] == data["memory"]["peak_rss"]["value"]
    assert "latency" in result and "costs" not in result and result.get("costs", "none") == "none"
    assert dict(result) == data and {**result} == data
    assert result | {"run": 1} == {**data, "run": 1} and ({"run": 1} | result)["status"] == "ok"
    result["metrics"]["AP"] = 0.5  # a plain-data field is the model's own object
    assert result.metrics["AP"] == 0.5
    result["hardware"] = {**data["hardware"], "hash": "0123456789ab"}  # set from its JSON shape, checked
    assert result.hardware.hash == "0123456789ab"
    with pytest.raises(ResultsError, match=r"hardware\.cores: expected an integer or null"):
        result["hardware"] = {"cores": "many"}
    failed = read_cell(cell_path(FIXTURE, FAILED))
    assert "metrics" not in failed and failed["error"]["type"] == "TrecFormatError"
    with pytest.raises(KeyError):
        failed["metrics"]


def test_plain_dicts_are_checked_where_functions_take_results():
    data = [json.loads(cell_path(FIXTURE, slug).read_text()) for slug in (OK, OTHER_OK, FAILED)]
    manifest = json.loads((FIXTURE / MANIFEST).read_text())
    assert [c.id for c in as_results(data)] == list(manifest["cells"])
    assert list(leaderboard_frame(manifest, data)["pipeline"]) == ["bm25[k1=0.9]", "bm25[k1=1.2]", "broken-run"]
    assert analyse(manifest, data)["rows"] == analyse(manifest, as_results(data))["rows"]
    del data[0]["cell"]["slug"]
    with pytest.raises(ResultsError, match=r"cell result: cell\.slug: expected a string, got nothing"):
        leaderboard_frame(manifest, data)

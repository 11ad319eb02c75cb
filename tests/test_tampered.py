"""Tampered results folders: every damage gives a clear error naming the file, never a traceback.

A valid results folder (tests/runfolders.py: two finished runs of one suite, with per-query
values, latency and memory figures, cost counters, cascade stages, a compressed pipeline and its
parent, a failed cell) is damaged one way at a time: every kind of field swapped for another
type, keys removed, files truncated at several offsets, emptied, replaced by a folder or a
symlink, cell paths pointing outside the folder (``../``, absolute), huge numbers, NaN strings,
deeply nested JSON, statistics settings that would run for days. Then ``harness leaderboard``,
``harness compare`` and ``harness report`` run in process (``harness.cli.main``) and each must
end with status 0, 1 (report: a regression) or 2, never with a traceback; status 2 says
``error: <the damaged file>: ...``. A damage that changes what the leaderboard would show is
never silent: the cases marked ``ERROR`` must give status 2, those marked ``NOTE`` status 2 or
a note naming the file (a damaged leaderboard.json: the report's trends lose its intervals).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from runfolders import cell, latency, values, write_run

from harness import cli
from harness.errors import ResultsError
from harness.results import MANIFEST, cell_path, load_run

METRICS = ("nDCG@10", "AP")
N = 12
DENSE = {"retriever": {"plugin": "dense", "model": "m", "compressors": []}}
INT8 = {"retriever": {"plugin": "dense", "model": "m", "compressors": [{"plugin": "int8-dynamic"}]}}
BM25 = {"retriever": {"plugin": "bm25", "k1": 0.9}}


def _stages() -> list[dict]:
    return [{"stage": 0, "kind": "retriever", "plugin": "bm25", "distribution": "ir-harness", "version": "0.1.0",
             "identity": {"plugin": "bm25"}, "compressors": [], "depth": None, "interpolate": None, "phase": "retrieve",
             "cache": "miss", "seconds": 0.1, "run_key": "r0", "metric": "nDCG@10", "quality": 0.3,
             "input_recall": None, "ceiling": None},
            {"stage": 1, "kind": "ranker", "plugin": "cross-encoder", "distribution": "ir-harness", "version": "0.1.0",
             "identity": {"plugin": "ce"}, "compressors": [], "depth": 10, "interpolate": None, "phase": "rerank",
             "cache": "miss", "seconds": 1.5, "run_key": "r1", "metric": "nDCG@10", "quality": 0.45,
             "input_recall": 0.8, "ceiling": 0.9}]


def _costs() -> dict:
    return {"scorer_calls": {"total": 12, "mean_per_query": 1.0, "queries": N, "source": "measured",
                             "unattributed": 0, "incomplete": [], "per_query": {f"q{i:03d}": 1 for i in range(N)}}}


def _cells(shift: float = 0.0) -> list[dict]:
    base = np.random.default_rng(0).uniform(0.2, 0.7, N)

    def system(delta, seed):
        return {m: values(base + (0.05 if m == "AP" else 0.0), delta + shift, 0.01, seed) for m in METRICS}

    phases = {"index": {"seconds": 0.5, "cache": "miss",
                        "figures": {"wall": {"value": 0.5, "unit": "s", "method": "wall"},
                                    "parameter_bytes": {"value": 1000, "unit": "bytes"}}},
              "retrieve": {"seconds": 0.2, "cache": "miss"}}
    cells = [
        cell("d", "bm25", system(0.0, 1), pipeline_config=BM25, memory_mib=100.0, phases=phases,
             cost=latency([1.0, 1.1, 1.2], qps=[900.0, 950.0])),
        cell("d", "dense", system(0.05, 2), pipeline_config=DENSE, memory_mib=400.0, phases=phases,
             cost=latency([10.0, 10.5, 11.0], qps=[100.0, 105.0])),
        cell("d", "dense-int8", system(0.04, 3), pipeline_config=INT8, memory_mib=200.0,
             cost=latency([5.0, 5.1, 5.2], qps=[200.0, 210.0])),
        cell("d", "cascade", system(0.1, 4), pipeline_config=BM25, cost=latency([20.0, 21.0, 22.0])),
        cell("d", "broken", status="failed"),
    ]
    cells[3]["stages"] = _stages()
    cells[3]["costs"] = _costs()
    cells[0]["run_file"] = "runs/d__bm25__cpu.trec"
    return cells


STATS = {"baseline": "bm25", "bootstrap_samples": 200, "permutation_samples": 200, "seed": 3, "margin": 0.01}


@pytest.fixture
def runs(tmp_path) -> tuple[Path, Path]:
    """(reference run, run to tamper with): two finished runs of the suite ``synth``."""
    old = write_run(tmp_path / "results", "20260101-000000", _cells(), metrics=METRICS, stats=STATS)
    new = write_run(tmp_path / "results", "20260102-000000", _cells(0.01), metrics=METRICS, stats=STATS)
    return old, new


# -- the tamperings ---------------------------------------------------------------------------------
# Each takes the run folder to damage and returns the file whose name the error must carry.

BM25_SLUG, CASCADE_SLUG, FAILED_SLUG = "d__bm25__cpu", "d__cascade__cpu", "d__broken__cpu"


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _put(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def in_cell(keys: list, value, slug: str = BM25_SLUG):
    """Set (``value``) or delete (``DELETE``) the key at ``keys`` of a cell file."""
    def tamper(run: Path) -> Path:
        path = cell_path(run, slug)
        data = _json(path)
        target = data
        for key in keys[:-1]:
            target = target[key]
        if value is DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
        _put(path, data)
        return path
    return tamper


def in_manifest(keys: list, value):
    def tamper(run: Path) -> Path:
        path = run / MANIFEST
        data = _json(path)
        target = data
        for key in keys[:-1]:
            target = target[key]
        if value is DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
        _put(path, data)
        return path
    return tamper


DELETE = object()


def truncated(fraction: float, manifest: bool = False):
    def tamper(run: Path) -> Path:
        path = run / MANIFEST if manifest else cell_path(run, BM25_SLUG)
        data = path.read_bytes()
        path.write_bytes(data[: max(1, int(len(data) * fraction))] if fraction < 1 else data[:-2])
        return path
    return tamper


def raw(text: str | bytes, manifest: bool = False):
    def tamper(run: Path) -> Path:
        path = run / MANIFEST if manifest else cell_path(run, BM25_SLUG)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path
    return tamper


def text_replace(old: str, new: str):
    def tamper(run: Path) -> Path:
        path = cell_path(run, BM25_SLUG)
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path
    return tamper


def directory_for_cell(run: Path) -> Path:
    path = cell_path(run, BM25_SLUG)
    path.unlink()
    path.mkdir()
    (path / "x.json").write_text("{}")
    return path


def directory_for_manifest(run: Path) -> Path:
    path = run / MANIFEST
    path.unlink()
    path.mkdir()
    return run  # no run.json file: "not a harness run folder", naming the folder


def symlink_to(target: str):
    def tamper(run: Path) -> Path:
        path = cell_path(run, BM25_SLUG)
        path.unlink()
        path.symlink_to(target)
        return path
    return tamper


def symlink_outside(run: Path) -> Path:
    """A valid cell file, but outside the run folder, linked in."""
    path = cell_path(run, BM25_SLUG)
    outside = run.parent.parent.parent / "elsewhere.json"
    outside.write_text(path.read_text())
    path.unlink()
    path.symlink_to(outside)
    return path


def cells_folder_outside(run: Path) -> Path:
    """``cells/`` itself a symlink to a copy of it outside the run folder."""
    import shutil

    outside = run.parent.parent.parent / "cells-elsewhere"
    shutil.copytree(run / "cells", outside)
    shutil.rmtree(run / "cells")
    (run / "cells").symlink_to(outside)
    return cell_path(run, BM25_SLUG)


def slug_path(slug: str, *, plant: bool = True):
    """The manifest's file name of a cell replaced by ``slug`` (``../``, absolute, ...); with
    ``plant``, a valid cell JSON waits where it points (what an attacker would read)."""
    def tamper(run: Path) -> Path:
        path = run / MANIFEST
        data = _json(path)
        cell_id = next(c for c, s in data["cells"].items() if s == BM25_SLUG)
        if plant and not slug.startswith("/"):
            target = (run / "cells" / f"{slug}.json")
            target.parent.mkdir(parents=True, exist_ok=True)
            body = _json(cell_path(run, BM25_SLUG))
            body["cell"]["slug"] = slug
            _put(target, body)
        data["cells"][cell_id] = slug
        _put(path, data)
        return path
    return tamper


def deleted_cell(run: Path) -> Path:
    path = cell_path(run, BM25_SLUG)
    path.unlink()
    return path


def deep(depth: int, manifest: bool = False):
    def tamper(run: Path) -> Path:
        path = run / MANIFEST if manifest else cell_path(run, BM25_SLUG)
        text = path.read_text(encoding="utf-8").rstrip()
        assert text.endswith("}")
        path.write_text(text[:-1] + ', "nested": ' + "[" * depth + "]" * depth + "}\n", encoding="utf-8")
        return path
    return tamper


def in_leaderboard(change):
    """``leaderboard.json`` of the run (written first) changed by ``change(data)``, or replaced by
    ``change`` when it is text, a FIFO (``"fifo"``) or a link (``"link"``): the report reads its
    intervals."""
    def tamper(run: Path) -> Path:
        from harness.leaderboard import write_leaderboard

        write_leaderboard(run)
        path = run / "leaderboard.json"
        if change == "fifo":
            path.unlink()
            os.mkfifo(path)
        elif change == "link":
            path.unlink()
            path.symlink_to("/etc/passwd")
        elif isinstance(change, str):
            path.write_text(change)
        else:
            data = _json(path)
            change(data)
            _put(path, data)
        return path
    return tamper


def _interval_string(data):
    data["rows"][0]["stats"]["nDCG@10"]["interval"]["low"] = "0.1"


ERROR, NOTE, ANY = "error", "note", "any"
# ERROR: status 2 naming the file; NOTE: that, or status 0/1 with a note naming it on stdout;
# ANY: 0/1 allowed too (a change the leaderboard does not read)


def fifo_for_cell(run: Path) -> Path:
    path = cell_path(run, BM25_SLUG)
    path.unlink()
    os.mkfifo(path)
    return path


def manifest_link_outside(run: Path) -> Path:
    path = run / MANIFEST
    outside = run.parent.parent.parent / "run-elsewhere.json"
    outside.write_text(path.read_text())
    path.unlink()
    path.symlink_to(outside)
    return path

TAMPERINGS = {
    # run.json
    "manifest truncated at 1 byte": (truncated(0.0, manifest=True), ERROR),
    "manifest truncated at half": (truncated(0.5, manifest=True), ERROR),
    "manifest truncated at the end": (truncated(1.0, manifest=True), ERROR),
    "manifest empty": (raw("", manifest=True), ERROR),
    "manifest NUL bytes": (raw(b"\0\0\0", manifest=True), ERROR),
    "manifest a folder": (directory_for_manifest, NOTE),
    "manifest a symlink outside": (manifest_link_outside, ERROR),
    "manifest slug too long": (slug_path("x" * 300, plant=False), ERROR),
    "manifest deeply nested": (deep(100_000, manifest=True), ERROR),
    "manifest nested 900 deep": (deep(900, manifest=True), ANY),
    "manifest missing cells": (in_manifest(["cells"], DELETE), ERROR),
    "manifest missing status": (in_manifest(["status"], DELETE), ERROR),
    "manifest cells as list": (in_manifest(["cells"], ["d/bm25/cpu"]), ERROR),
    "manifest cell slug a number": (in_manifest(["cells", "d/bm25/cpu"], 7), ERROR),
    "manifest slug ../": (slug_path("../../../../outside"), ERROR),
    "manifest slug ../ within the run": (slug_path("../runs/x"), ERROR),
    "manifest slug absolute": (slug_path("/etc/passwd", plant=False), ERROR),
    "manifest slug with a folder": (slug_path("sub/x"), ERROR),
    "manifest slug empty": (slug_path("", plant=False), ERROR),
    "manifest slug NUL": (slug_path("a\0b", plant=False), ERROR),
    "manifest slug dot": (slug_path(".", plant=False), ERROR),
    "stats.bootstrap_samples 10**12": (in_manifest(["stats", "bootstrap_samples"], 10**12), ERROR),
    "stats.permutation_samples 10**12": (in_manifest(["stats", "permutation_samples"], 10**12), ERROR),
    "stats.bootstrap_samples a string": (in_manifest(["stats", "bootstrap_samples"], "200"), ERROR),
    "stats.alpha a string": (in_manifest(["stats", "alpha"], "0.05"), ERROR),
    "stats.alpha NaN string": (in_manifest(["stats", "alpha"], "NaN"), ERROR),
    "stats.confidence 2": (in_manifest(["stats", "confidence"], 2), ERROR),
    "stats.seed -1": (in_manifest(["stats", "seed"], -1), ERROR),
    "stats.seed 10**30": (in_manifest(["stats", "seed"], 10**30), ERROR),
    "stats.test unknown": (in_manifest(["stats", "test"], "wilcoxon"), ERROR),
    "stats.margin -1": (in_manifest(["stats", "margin"], -1.0), ERROR),
    "stats as a list": (in_manifest(["stats"], [1, 2]), ERROR),
    "manifest metrics a string": (in_manifest(["metrics"], "nDCG@10"), ERROR),
    "manifest datasets numbers": (in_manifest(["datasets"], [1, 2]), ERROR),
    "manifest pipelines an object": (in_manifest(["pipelines"], {"a": 1}), ERROR),
    "manifest output.leaderboard a number": (in_manifest(["output", "leaderboard"], 5), ERROR),
    "manifest output.leaderboard a string": (in_manifest(["output", "leaderboard"], "md"), ERROR),
    "manifest output.leaderboard unknown": (in_manifest(["output", "leaderboard"], ["pdf"]), ERROR),
    "manifest output a string": (in_manifest(["output"], "md"), ERROR),
    "manifest environment a list": (in_manifest(["environment"], [1]), ERROR),
    "manifest environment.python a list": (in_manifest(["environment", "python"], [3, 11]), ANY),
    "manifest hardware a string": (in_manifest(["hardware"], "x"), ERROR),
    "manifest hardware.hash a number": (in_manifest(["hardware", "hash"], 5), ANY),
    "manifest executor.isolation a number": (in_manifest(["executor", "isolation"], 5), ANY),
    "manifest measure a list": (in_manifest(["measure"], [1]), ERROR),
    "manifest k huge": (in_manifest(["k"], 10**40), ANY),
    "manifest k a string": (in_manifest(["k"], "100"), ERROR),
    "manifest started a number": (in_manifest(["started"], 5), ERROR),
    # cells/<cell>.json
    "cell truncated at 1 byte": (truncated(0.0), ERROR),
    "cell truncated at a third": (truncated(0.33), ERROR),
    "cell truncated at two thirds": (truncated(0.66), ERROR),
    "cell truncated at the end": (truncated(1.0), ERROR),
    "cell empty": (raw(""), ERROR),
    "cell whitespace": (raw("  \n"), ERROR),
    "cell not UTF-8": (raw(b"\xff\xfe{}"), ERROR),
    "cell null": (raw("null"), ERROR),
    "cell a number": (raw("42"), ERROR),
    "cell a folder": (directory_for_cell, ERROR),
    "cell a named pipe": (fifo_for_cell, ERROR),
    "cell deleted (finished run)": (deleted_cell, ERROR),
    "cell symlink to /etc/passwd": (symlink_to("/etc/passwd"), ERROR),
    "cell symlink to nowhere": (symlink_to("/nonexistent/x.json"), ERROR),
    "cell symlink outside the folder": (symlink_outside, ERROR),
    "cell symlink loop": (symlink_to("d__bm25__cpu.json"), ERROR),
    "cells folder a symlink outside": (cells_folder_outside, ERROR),
    "cell deeply nested": (deep(100_000), ERROR),
    "cell nested 900 deep": (deep(900), ANY),
    "metric a string": (in_cell(["metrics", "nDCG@10"], "0.5"), ERROR),
    "metric NaN string": (in_cell(["metrics", "nDCG@10"], "NaN"), ERROR),
    "metric NaN literal": (text_replace('"nDCG@10": 0.', '"nDCG@10": NaN, "x": 0.'), ERROR),
    "metric 1e400": (text_replace('"nDCG@10": 0.', '"nDCG@10": 1e400, "x": 0.'), ERROR),
    "metric huge integer": (in_cell(["metrics", "nDCG@10"], 10**400), ERROR),
    "metric 5000 digits": (text_replace('"nDCG@10": 0.', '"nDCG@10": ' + "9" * 5000 + ', "x": 0.'), ERROR),
    "metric a list": (in_cell(["metrics", "nDCG@10"], [0.5]), ERROR),
    "metric a boolean": (in_cell(["metrics", "nDCG@10"], True), ERROR),
    "metrics a list": (in_cell(["metrics"], [0.5, 0.4]), ERROR),
    "metrics missing": (in_cell(["metrics"], DELETE), ERROR),
    "per-query values a list": (in_cell(["per_query", "nDCG@10"], [0.1, 0.2]), ERROR),
    "per-query value a string": (in_cell(["per_query", "AP", "q001"], "0.3"), ERROR),
    "per-query value huge integer": (in_cell(["per_query", "AP", "q001"], 10**400), ERROR),
    "per_query a string": (in_cell(["per_query"], "none"), ERROR),
    "cell.id missing": (in_cell(["cell", "id"], DELETE), ERROR),
    "cell.pipeline a number": (in_cell(["cell", "pipeline"], 3), ERROR),
    "cell.slug another": (in_cell(["cell", "slug"], "d__dense__cpu"), ERROR),
    "cell.sweep a list": (in_cell(["cell", "sweep"], [1]), ERROR),
    "cell a string": (in_cell(["cell"], "d/bm25/cpu"), ERROR),
    "status a number": (in_cell(["status"], 1), ERROR),
    "status missing": (in_cell(["status"], DELETE), ERROR),
    "schema missing": (in_cell(["schema"], DELETE), ERROR),
    "error a string on a failed cell": (in_cell(["error"], "boom", FAILED_SLUG), ERROR),
    "error.message a list": (in_cell(["error", "message"], ["boom"], FAILED_SLUG), ERROR),
    "latency a list": (in_cell(["latency"], [1]), ERROR),
    "latency p50 value a string": (in_cell(["latency", "single_stream", "latency", "p50", "value"], "1ms"), ERROR),
    "latency p50 value huge": (in_cell(["latency", "single_stream", "latency", "p50", "value"], 10**400), ERROR),
    "latency ci a list": (in_cell(["latency", "single_stream", "latency", "p50", "ci"], [1, 2]), ERROR),
    "latency ci.low missing": (in_cell(["latency", "single_stream", "latency", "p50", "ci", "low"], DELETE), ERROR),
    "repetitions p50 an object": (in_cell(["latency", "single_stream", "repetitions", "p50"], {"a": 1}), ERROR),
    "repetitions p50 strings": (in_cell(["latency", "single_stream", "repetitions", "p50"], ["1", "2"]), ERROR),
    "offline qps spread a number": (in_cell(["latency", "offline", "qps", "spread"], 3), ERROR),
    "memory.peak_rss a number": (in_cell(["memory", "peak_rss"], 3), ERROR),
    "phases a list": (in_cell(["phases"], [1]), ERROR),
    "phase seconds a string": (in_cell(["phases", "index", "seconds"], "0.5"), ERROR),
    "phase figures a list": (in_cell(["phases", "index", "figures"], [1]), ERROR),
    "phase figure value a string": (in_cell(["phases", "index", "figures", "parameter_bytes", "value"], "1k"), ERROR),
    "phase reports a string": (in_cell(["phases", "index", "reports"], "x"), ERROR),
    "hardware a string": (in_cell(["hardware"], "x"), ERROR),
    "hardware.hash a number": (in_cell(["hardware", "hash"], 5), ERROR),
    "config a list": (in_cell(["config"], [1]), ERROR),
    "config.seed -1": (in_cell(["config", "seed"], -1), ERROR),
    "config.seed a string": (in_cell(["config", "seed"], "0"), ERROR),
    "config.pipeline a list": (in_cell(["config", "pipeline"], [1]), ERROR),
    "run_file ../": (in_cell(["run_file"], "../../../../etc/passwd"), ERROR),
    "run_file absolute": (in_cell(["run_file"], "/etc/passwd"), ERROR),
    "stages an object": (in_cell(["stages"], {"0": {}}, CASCADE_SLUG), ERROR),
    "stage.stage a string": (in_cell(["stages", 0, "stage"], "0", CASCADE_SLUG), ERROR),
    "stage.quality a string": (in_cell(["stages", 1, "quality"], "0.4", CASCADE_SLUG), ERROR),
    "stage.compressors a string": (in_cell(["stages", 1, "compressors"], "int8", CASCADE_SLUG), ERROR),
    "stage.depth a string": (in_cell(["stages", 1, "depth"], "10", CASCADE_SLUG), ERROR),
    "costs a list": (in_cell(["costs"], [1], CASCADE_SLUG), ERROR),
    "costs counter a string": (in_cell(["costs", "scorer_calls"], "many", CASCADE_SLUG), ERROR),
    "costs mean a string": (in_cell(["costs", "scorer_calls", "mean_per_query"], "1", CASCADE_SLUG), ERROR),
    "costs source a number": (in_cell(["costs", "scorer_calls", "source"], 3, CASCADE_SLUG), ERROR),
    "costs total huge": (in_cell(["costs", "scorer_calls", "total"], 10**400, CASCADE_SLUG), ERROR),
    "costs total negative": (in_cell(["costs", "scorer_calls", "total"], -5, CASCADE_SLUG), ERROR),
    "costs counter name": (in_cell(["costs", "a b"], {"total": 1}, CASCADE_SLUG), ERROR),
    "environment a list": (in_cell(["environment"], [1]), ERROR),
    "an unknown key": (in_cell(["zzz"], {"a": [1, {"b": None}]}), ANY),
    # leaderboard.json (derived: the report notes a damaged one and leaves its intervals out)
    "leaderboard.json truncated": (in_leaderboard('{"rows": [{"data'), {"report": NOTE}),
    "leaderboard.json a list": (in_leaderboard("[]"), {"report": NOTE}),
    "leaderboard.json rows an object": (in_leaderboard(lambda d: d.update(rows={})), {"report": NOTE}),
    "leaderboard.json interval a string": (in_leaderboard(_interval_string), {"report": NOTE}),
    "leaderboard.json row without dataset": (in_leaderboard(lambda d: d["rows"][0].pop("dataset")),
                                             {"report": NOTE}),
    "leaderboard.json a named pipe": (in_leaderboard("fifo"), {"report": NOTE}),
    "leaderboard.json a symlink to /etc/passwd": (in_leaderboard("link"), {"report": NOTE}),
}


class Hung(Exception):
    pass


def _alarm(signum, frame):
    raise Hung("a command ran for more than 60 s: a tampered setting was not bounded")


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        code = cli.main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    return code, out, err


def test_there_are_enough_tamperings():
    assert len(TAMPERINGS) >= 30


def test_manifest_formats_are_the_suites():
    """run.json's output.leaderboard is checked against the formats a suite may ask for."""
    from harness.cellresult import LEADERBOARD_FORMATS
    from harness.suite import sections

    assert LEADERBOARD_FORMATS == sections.LEADERBOARD_FORMATS


def test_the_untampered_folder_is_fine(runs, capsys):
    old, new = runs
    for argv in (["leaderboard", str(new)], ["compare", str(old), str(new)], ["report", str(new.parent)]):
        code, _, err = run_cli(argv, capsys)
        assert code in (0, 1) and "error" not in err, (argv, err)


@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_tampered_folder(runs, capsys, case):
    old, new = runs
    tamper, expected = TAMPERINGS[case]
    named = tamper(new)
    # the report first: `harness leaderboard` writes leaderboard.json anew
    for argv in (["report", str(new.parent)], ["compare", str(old), str(new)], ["leaderboard", str(new)]):
        code, out, err = run_cli(argv, capsys)
        expect = expected.get(argv[0], ANY) if isinstance(expected, dict) else expected
        shown = f"{argv[0]}: status {code}: {err[-400:]}"
        assert "Traceback" not in err and "internal error" not in err, shown
        assert code in (0, 1, 2), shown
        if expect == NOTE and code != 2:
            assert f"note: {named}" in out, shown
        elif expect == ERROR or code == 2:
            assert code == 2, shown
            assert err.startswith(f"error: {named}") and err.count("\n") == 1, shown


def test_unfinished_run_notes_the_cells_without_results(runs, capsys):
    """A running run (killed, or still going) lacks some cell files: the leaderboard is written from
    the others and says which are missing."""
    _, new = runs
    in_manifest(["status"], "running")(new)
    deleted_cell(new)
    code, _, err = run_cli(["leaderboard", str(new)], capsys)
    assert code == 0, err
    markdown = (new / "leaderboard.md").read_text()
    assert "run running: 1 of 5 cells have no result yet (d/bm25/cpu)" in markdown


def test_nothing_outside_is_read(runs, tmp_path):
    """A manifest naming a cell file outside the run folder fails before reading it: the file
    planted there, a valid cell result, never reaches a leaderboard."""
    _, new = runs
    slug_path("../../../../outside")(new)
    with pytest.raises(ResultsError, match=r"run\.json: cells\.d/bm25/cpu: expected a file name"):
        load_run(new)


def test_huge_bootstrap_samples_fail_fast(runs):
    _, new = runs
    in_manifest(["stats", "bootstrap_samples"], 10**12)(new)
    with pytest.raises(ResultsError, match=r"run\.json: stats\.bootstrap_samples: must be <= "):
        load_run(new)


def test_symlinks_are_refused(runs):
    _, new = runs
    path = symlink_to("/etc/passwd")(new)
    with pytest.raises(ResultsError, match=rf"{path}: \(file\): expected a file inside the run folder"):
        load_run(new)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() == 0, reason="root reads any file")
def test_unreadable_cell_file(runs, capsys):
    _, new = runs
    path = cell_path(new, BM25_SLUG)
    path.chmod(0)
    code, _, err = run_cli(["leaderboard", str(new)], capsys)
    assert code == 2 and err.startswith(f"error: {path}"), err

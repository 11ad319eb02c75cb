"""The command line, called in-process: exit codes, output, errors without tracebacks.

The CLI uses the process registry, so suites here use the installed ``bm25`` plugin.
"""

from __future__ import annotations

import re

import pytest
from tinydata import write_beir

import harness
from harness import cli
from harness.results import MANIFEST, read_json, run_dirs

SUITE = """
name = "clisuite"
k = 5
metrics = ["nDCG@3", "AP"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25"}

[[pipelines]]
name = "bm25-robertson"
retriever = {plugin = "bm25", method = "robertson"}
"""


@pytest.fixture
def suite(write_suite):
    return write_suite(SUITE)


@pytest.fixture
def results(tmp_path):
    return tmp_path / "results"


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_run_prints_the_leaderboard(capsys, suite, results):
    code, out, err = run_cli(capsys, "run", suite, "--results", results)
    assert code == 0, err
    run_dir = run_dirs(results / "clisuite")[0]
    assert out.startswith(f"# clisuite — run {run_dir.name}\n")
    assert out == (run_dir / "leaderboard.md").read_text() + f"\nresults: {run_dir}\n"
    rows = table_rows(out)
    assert [r[1] for r in rows[1:]] and {r[1] for r in rows[1:]} == {"bm25", "bm25-robertson"}
    assert all(r[-1] == "ok" for r in rows[1:])
    assert "new run" in err and "[2/2]" in err  # progress lines go to stderr
    assert "Traceback" not in err
    assert read_json(run_dir / MANIFEST)["status"] == "finished"


def test_run_quiet(capsys, suite, results):
    code, out, err = run_cli(capsys, "run", suite, "--results", results, "--quiet")
    assert code == 0
    assert out == "" and err == ""
    assert (run_dirs(results / "clisuite")[0] / "leaderboard.md").is_file()


def test_run_pipeline_selection_and_set(capsys, suite, results):
    code, _, err = run_cli(capsys, "run", suite, "--results", results, "--pipeline", "bm25", "--set", "k=3",
                           "--quiet")
    assert code == 0, err
    manifest = read_json(run_dirs(results / "clisuite")[0] / MANIFEST)
    assert list(manifest["cells"]) == ["tiny/bm25/cpu"]
    assert manifest["k"] == 3


def test_run_pipeline_selection_glob_and_unknown(capsys, suite, results):
    code, _, _ = run_cli(capsys, "run", suite, "--results", results, "--pipeline", "*-robertson", "--quiet")
    assert code == 0
    assert list(read_json(run_dirs(results / "clisuite")[0] / MANIFEST)["cells"]) == ["tiny/bm25-robertson/cpu"]
    code, out, err = run_cli(capsys, "run", suite, "--results", results, "--pipeline", "nope")
    assert code == 2 and out == ""
    assert err.startswith("error: no cells selected") and "Traceback" not in err


def test_run_new_and_resume(capsys, suite, results):
    assert run_cli(capsys, "run", suite, "--results", results, "--quiet")[0] == 0
    first = run_dirs(results / "clisuite")[0]
    manifest = read_json(first / MANIFEST)
    manifest["status"] = "running"  # as a killed run leaves it
    (first / MANIFEST).write_text(__import__("json").dumps(manifest))

    code, _, err = run_cli(capsys, "run", suite, "--results", results)
    assert code == 0 and f"resuming run {first}" in err and "already done in this run" in err
    assert len(run_dirs(results / "clisuite")) == 1

    code, _, err = run_cli(capsys, "run", suite, "--results", results, "--new")
    assert code == 0 and "new run" in err
    assert len(run_dirs(results / "clisuite")) == 2

    code, _, err = run_cli(capsys, "run", suite, "--results", results, "--resume", first.name)
    assert code == 0 and f"resuming run {first}" in err
    assert len(run_dirs(results / "clisuite")) == 2


def test_run_resume_unknown_id(capsys, suite, results):
    assert run_cli(capsys, "run", suite, "--results", results, "--quiet")[0] == 0
    existing = run_dirs(results / "clisuite")[0].name
    code, out, err = run_cli(capsys, "run", suite, "--results", results, "--resume", "20000101-000000")
    assert code == 2 and out == ""
    assert err.startswith("error: no run '20000101-000000'") and existing in err
    assert "Traceback" not in err


def test_new_and_resume_exclude_each_other(capsys, suite):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", str(suite), "--new", "--resume", "x"])
    assert info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_run_with_a_failing_cell_exits_1(capsys, write_suite, results):
    path = write_suite(SUITE.replace('source = "beir:{beir}"', 'source = "beir:{beir}-missing"'))
    code, out, err = run_cli(capsys, "run", path, "--results", results)
    assert code == 1
    assert "2 cell(s) failed" in err
    assert out.count("failed: DatasetError") == 2  # the leaderboard still shows them


def test_run_invalid_suite_exits_2_with_problems(capsys, write_suite, results):
    path = write_suite(SUITE.replace('method = "robertson"', 'methd = "robertson"').replace("k = 5", "k = 0"))
    code, out, err = run_cli(capsys, "run", path, "--results", results)
    assert code == 2 and out == ""
    assert err.startswith(f"{path}: 2 problem(s)\n")
    assert re.search(rf"  {re.escape(str(path))}:\d+: pipelines\[1\]\.retriever\.methd: "
                     r"unknown parameter \(did you mean 'method'\?\)", err)
    assert re.search(rf"  {re.escape(str(path))}:3: k: must be >= 1", err)
    assert "Traceback" not in err
    assert not results.exists()


def test_run_bad_set_and_bad_toml(capsys, suite, write_suite, results):
    code, _, err = run_cli(capsys, "run", suite, "--results", results, "--set", "nokey")
    assert code == 2 and "expected KEY.PATH=VALUE" in err
    code, _, err = run_cli(capsys, "run", suite, "--set", "pipelines.bm25.k2=1")
    assert code == 2 and "--set pipelines.bm25.k2: no stage of this pipeline has a parameter 'k2'" in err
    code, _, err = run_cli(capsys, "run", suite, "--set", "pipelines.bm52.k1=1")
    assert code == 2 and "no pipeline named 'bm52' (did you mean 'bm25'?)" in err
    broken = write_suite("name = \n", "broken.toml")
    code, _, err = run_cli(capsys, "run", broken, "--results", results)
    assert code == 2 and f"{broken}:1: invalid TOML" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "validate", broken.parent / "missing.toml")
    assert code == 2 and "no such suite file" in err


def test_run_csv_only_leaderboard(capsys, suite, results):
    code, out, err = run_cli(capsys, "run", suite, "--results", results, "--set", 'output.leaderboard=["csv"]')
    assert code == 0, err
    run_dir = run_dirs(results / "clisuite")[0]
    assert not (run_dir / "leaderboard.md").exists() and (run_dir / "leaderboard.csv").is_file()
    assert out == f"\nresults: {run_dir}\n"


def test_validate_lists_cells(capsys, suite):
    code, out, err = run_cli(capsys, "validate", suite)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"{suite}: valid — 1 dataset(s) × 2 pipeline(s) × 1 device(s) = 2 cell(s)"
    assert lines[1:] == ["  tiny/bm25/cpu", "  tiny/bm25-robertson/cpu",
                         "dataset tiny: 5 queries (5 judged), 8 documents, 9 judgments"]


def test_validate_reports_each_datasets_judgments(capsys, write_suite, tmp_path):
    """The data report's non-zero counts are printed as notes; --no-data leaves the data alone."""
    beir = write_beir(tmp_path / "odd")
    qrels = beir / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "q1\td01\t1\nq9\td2\t1\n")  # d01 is d1 zero-padded; q9 unknown
    path = write_suite(SUITE.replace("{beir}", str(beir)), name="odd.toml")
    code, out, err = run_cli(capsys, "validate", path)
    assert code == 0, err
    notes = [line for line in out.splitlines() if line.startswith("  note: ")]
    assert len(notes) == 3, out  # d01 missing, d01 padded, q9 unknown
    assert "'d01'" in out and "'q9'" in out
    code, out, _ = run_cli(capsys, "validate", path, "--no-data")
    assert code == 0 and "dataset odd:" not in out and "note:" not in out


def test_validate_names_a_broken_data_file(capsys, write_suite, tmp_path):
    beir = write_beir(tmp_path / "broken")
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "text": ["a", "list"]}\n')
    path = write_suite(SUITE.replace("{beir}", str(beir)), name="broken.toml")
    code, _out, err = run_cli(capsys, "validate", path)
    assert code == 2 and "corpus.jsonl" in err and "Traceback" not in err


def test_validate_with_set(capsys, suite):
    code, out, _ = run_cli(capsys, "validate", suite, "--set", 'measure.devices=["cpu", "auto"]')
    assert code == 0 and "2 device(s) = 4 cell(s)" in out
    code, out, err = run_cli(capsys, "validate", suite, "--set", 'measure.devices=["cpu", "cpu"]')
    assert code == 2 and "listed twice" in err
    code, out, err = run_cli(capsys, "validate", suite, "--set", "k=abc")
    assert code == 2 and out == "" and "k: must be a int, got str 'abc'" in err


QRELS = """\
q1 0 d1 1
q1 0 d2 0
q1 0 d3 2
q2 0 d4 1
q3 0 d5 1
"""
RUN = """\
q1 Q0 d3 1 3.0 r
q1 Q0 d1 2 2.0 r
q1 Q0 d9 3 1.0 r
q2 Q0 d9 1 2.0 r
q2 Q0 d4 2 1.0 r
"""


@pytest.fixture
def trec_files(tmp_path):
    (tmp_path / "qrels.txt").write_text(QRELS)
    (tmp_path / "run.txt").write_text(RUN)
    return tmp_path / "qrels.txt", tmp_path / "run.txt"


def parse_report(out: str) -> dict:
    values = {}
    for line in out.splitlines():
        measure, qid, value = line.split("\t")
        values[(measure.strip(), qid)] = value.strip()
    return values


def test_eval_all_lines(capsys, trec_files):
    code, out, err = run_cli(capsys, "eval", *trec_files, "-m", "P@2", "-m", "RR")
    assert code == 0 and err == ""
    assert all(re.fullmatch(r"\S+ *\tall\t *\d\.\d{4}", line) for line in out.splitlines())
    values = parse_report(out)
    # q1: P@2 = 1, RR = 1; q2: P@2 = 0.5, RR = 0.5; q3 is not in the run (no -c): not averaged
    assert values == {("P@2", "all"): "0.7500", ("RR", "all"): "0.7500"}


def test_eval_complete_and_per_query(capsys, trec_files):
    code, out, _ = run_cli(capsys, "eval", *trec_files, "-m", "P@2", "-q", "-c", "--precision", "3")
    assert code == 0
    assert parse_report(out) == {("P@2", "q1"): "1.000", ("P@2", "q2"): "0.500", ("P@2", "all"): "0.500"}
    assert out.splitlines()[-1].split("\t")[1] == "all"


def test_eval_default_measures(capsys, trec_files):
    code, out, _ = run_cli(capsys, "eval", *trec_files)
    assert code == 0
    assert [line.split("\t")[0].strip() for line in out.splitlines()] == cli.EVAL_DEFAULT


def test_eval_bad_file_names_file_and_line(capsys, trec_files, tmp_path):
    qrels, run = trec_files
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1 1.0 r\nq1 Q0 d2 2 notanumber r\n")
    code, out, err = run_cli(capsys, "eval", qrels, bad)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {bad}:2: score 'notanumber' is not a number")
    code, _, err = run_cli(capsys, "eval", tmp_path / "nope.txt", run)
    assert code == 2 and f"{tmp_path / 'nope.txt'}: no such file" in err
    bad_qrels = tmp_path / "bad.qrels"
    bad_qrels.write_text("q1 0 d1 1\nq1 d1 1\n")
    code, _, err = run_cli(capsys, "eval", bad_qrels, run)
    assert code == 2 and f"{bad_qrels}:2: expected 4 columns" in err


def test_eval_unknown_measure_suggests(capsys, trec_files):
    code, out, err = run_cli(capsys, "eval", *trec_files, "-m", "ndgc@10")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "nDCG" in err
    code, _, err = run_cli(capsys, "eval", *trec_files, "-m", "P@x")
    assert code == 2 and "integer" in err


def test_leaderboard_rerenders(capsys, suite, results):
    assert run_cli(capsys, "run", suite, "--results", results, "--quiet")[0] == 0
    run_dir = run_dirs(results / "clisuite")[0]
    original = (run_dir / "leaderboard.md").read_text()
    (run_dir / "leaderboard.md").unlink()
    (run_dir / "leaderboard.csv").unlink()
    code, out, err = run_cli(capsys, "leaderboard", run_dir)
    assert code == 0 and out == original
    written = ", ".join(str(run_dir / f"leaderboard.{ext}") for ext in ("md", "csv", "json", "html"))
    assert err == f"written: {written}\n"
    assert (run_dir / "leaderboard.csv").is_file()
    code, out, _ = run_cli(capsys, "leaderboard", results / "clisuite")  # the suite's latest run
    assert code == 0 and out == original


def test_leaderboard_of_a_folder_without_runs(capsys, tmp_path):
    code, out, err = run_cli(capsys, "leaderboard", tmp_path)
    assert code == 2 and out == "" and err.startswith("error: ") and "holds no harness run" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"harness {harness.__version__}\n"


def test_no_command_prints_help(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 2
    assert out.startswith("usage: harness") and "run" in out and "eval" in out


def test_unknown_command(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_interrupt_exits_130(capsys, suite, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_validate", interrupted)
    code, _, err = run_cli(capsys, "validate", suite)
    assert code == 130 and "run again to resume" in err


def test_leaderboard_refuses_to_rank_cost_across_hardware(capsys, suite, results):
    import json

    assert run_cli(capsys, "run", suite, "--results", results, "--quiet")[0] == 0
    run_dir = run_dirs(results / "clisuite")[0]
    cell_file = sorted((run_dir / "cells").glob("*.json"))[0]
    cell = json.loads(cell_file.read_text())
    cell["hardware"]["hash"] = "0123456789ab"  # as if measured on another machine
    cell_file.write_text(json.dumps(cell))
    code, out, err = run_cli(capsys, "leaderboard", run_dir)
    assert code == 0
    assert "note: cost columns left out: the cells were measured on 2 different machines" in err
    header = table_rows(out)[0]
    # quality is still shown
    assert header == ["dataset", "pipeline", "device", "nDCG@3", "group", "AP", "settings", "status"]
    code, out, err = run_cli(capsys, "leaderboard", run_dir, "--mixed-hardware")
    assert code == 0 and "note:" not in err
    header = table_rows(out)[0]
    assert "index s" in header and "hardware" in header


def test_run_accepts_mixed_hardware(capsys, suite, results):
    code, out, _ = run_cli(capsys, "run", suite, "--results", results, "--mixed-hardware")
    assert code == 0 and "hardware" in table_rows(out)[0]


def test_eval_says_when_it_ignored_a_byte_order_mark(capsys, trec_files):
    qrels, run = trec_files
    run.write_bytes(b"\xef\xbb\xbf" + run.read_bytes())
    code, _out, err = run_cli(capsys, "eval", qrels, run, "-m", "RR")
    assert code == 0 and "byte order mark" in err and str(run) in err and "part of the first query id" in err


def test_eval_notes_a_judgment_repeated_with_the_same_grade(capsys, trec_files):
    qrels, run = trec_files
    qrels.write_text(qrels.read_text() + "q1 0 d1 1\n")  # again, the same grade: read once, said
    code, _, err = run_cli(capsys, "eval", qrels, run, "-m", "AP")
    assert code == 0 and "repeated with the same grade" in err and "line 6" in err
    qrels.write_text(qrels.read_text() + "q1 0 d1 2\n")  # another grade: refused
    code, _, err = run_cli(capsys, "eval", qrels, run, "-m", "AP")
    assert code == 2 and "judged twice (1 and 2)" in err

"""One error hierarchy, caught once: every user-caused error is a ``HarnessError``; ``harness``
prints it without a traceback and exits 2; anything else is a bug, shown with its traceback and a
line saying so (exit 70); a closed stdout pipe ends the command quietly (exit 141)."""

from __future__ import annotations

import fcntl
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys

import pytest
from runfolders import cell, write_run

import harness
from harness import cli
from harness.errors import ComponentError, HarnessError, NotFoundError, ResultsError, UsageError, reading

# Exception classes under harness/ that are not errors a user causes (none so far): name them here,
# with the reason in their docstring, to keep them out of the hierarchy.
INTERNAL: set[str] = set()


def harness_exception_classes() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        if info.name in ("harness.__main__",):  # runs the CLI on import
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found[f"{obj.__module__}.{name}"] = obj
    return found


def test_every_error_class_of_harness_is_a_harness_error():
    classes = harness_exception_classes()
    errors = {name: cls for name, cls in classes.items()
              if (name.endswith("Error") or name.endswith("Locked")) and name not in INTERNAL}
    assert len(errors) >= 14  # the walk found them (SuiteError, TrecFormatError, ...)
    assert [name for name, cls in errors.items() if not issubclass(cls, HarnessError)] == []
    # and the ones not named ...Error are internal (documented) or errors all the same
    others = [name for name, cls in classes.items() if name not in errors and name not in INTERNAL
              and not issubclass(cls, HarnessError)]
    assert others == []


@pytest.mark.parametrize(("path", "old_base"), [
    ("harness.suite.text.SuiteError", ValueError),
    ("harness.datasets.DatasetError", Exception),
    ("harness.plugins.PluginError", LookupError),
    ("harness.trecfiles.TrecFormatError", ValueError),
    ("harness.metrics.MetricError", ValueError),
    ("harness.stats._common.StatsError", ValueError),
    ("harness.results.RunLocked", RuntimeError),
    ("harness.executors.base.HandoverError", ValueError),
    ("harness.executors.dask.ExecutorError", RuntimeError),
    ("harness.scaffold.ScaffoldError", ValueError),
    ("harness.stages.StageError", RuntimeError),
    ("harness.errors.ResultsError", ValueError),
    ("harness.errors.NotFoundError", FileNotFoundError),
    ("harness.errors.UsageError", ValueError),
])
def test_each_error_keeps_its_old_builtin_base(path, old_base):
    module, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, HarnessError) and issubclass(cls, old_base)


def test_stage_errors_are_component_errors():
    from harness.stages import StageError

    assert issubclass(StageError, ComponentError)


def test_format():
    assert HarnessError("x.toml: bad").format() == "error: x.toml: bad"
    assert UsageError().format() == "error: UsageError"
    from harness.suite.text import Problem, SuiteError

    exc = SuiteError([Problem("k", "must be an int", 3), Problem("", "no pipelines")], "s.toml")
    assert exc.format() == "s.toml: 2 problem(s)\n  s.toml:3: k: must be an int\n  s.toml: no pipelines"
    assert str(exc) == "s.toml:3: k: must be an int\ns.toml: no pipelines"


def test_reading_names_the_file(tmp_path):
    with pytest.raises(ResultsError, match=r"^f\.json: invalid JSON at line 1, column 2: "):
        with reading("f.json"):
            json.loads('{"a')
    with pytest.raises(ResultsError, match=r"^f\.json: cells: expected, but missing$"):
        with reading("f.json"):
            {}["cells"]
    with pytest.raises(ResultsError, match=r"^f\.json: not laid out as a harness results file"):
        with reading("f.json"):
            [].get("x")
    original = NotFoundError("kept as it is")
    with pytest.raises(NotFoundError) as info:
        with reading("f.json"):
            raise original
    assert info.value is original


# -- the command line: bad input exits 2 with one message, no traceback -----------------------------


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, says: str, lines: int = 1) -> str:
    code, _out, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err and cli.BUG not in err
    assert says in err, err
    assert len(err.splitlines()) <= lines, err
    return err


@pytest.fixture
def run_dir(tmp_path):
    per_query = {"nDCG@10": {"q1": 0.5, "q2": 0.25}}
    return write_run(tmp_path / "results", "20260101-000000", [cell("d", "bm25", per_query),
                                                                cell("d", "dense", per_query)])


def test_leaderboard_of_missing_or_empty_folders(capsys, tmp_path):
    refused(capsys, "leaderboard", tmp_path / "nope", says=f"error: {tmp_path / 'nope'} holds no harness run")
    refused(capsys, "leaderboard", tmp_path, says=f"error: {tmp_path} holds no harness run (no run.json")


@pytest.mark.parametrize(("content", "hint"), [
    ('{"schema": "harness.run/1", "cel', "invalid JSON"),
    ("[1, 2]", ""),
    ("{}", ""),
    ("", ""),
])
def test_leaderboard_of_a_damaged_manifest(capsys, run_dir, content, hint):
    (run_dir / "run.json").write_text(content)
    err = refused(capsys, "leaderboard", run_dir, says=f"error: {run_dir / 'run.json'}: ")
    assert hint in err
    # the suite's folder (its latest run) too
    refused(capsys, "leaderboard", run_dir.parent, says=f"error: {run_dir / 'run.json'}: ")


def test_leaderboard_of_a_manifest_without_its_keys(capsys, run_dir):
    manifest = json.loads((run_dir / "run.json").read_text())
    del manifest["cells"], manifest["schema"]
    (run_dir / "run.json").write_text(json.dumps(manifest))
    refused(capsys, "leaderboard", run_dir, says=f"error: {run_dir / 'run.json'}: ")


@pytest.mark.parametrize("damage", ["truncated", "list", "wrong types"])
def test_leaderboard_of_a_damaged_cell(capsys, run_dir, damage):
    pytest.importorskip("harness.cellresult")  # the validating reader of cell results
    path = sorted((run_dir / "cells").glob("*.json"))[0]
    data = json.loads(path.read_text())
    if damage == "truncated":
        path.write_text(path.read_text()[:100])
    elif damage == "list":
        path.write_text("[]")
    else:
        data["metrics"] = "high"
        path.write_text(json.dumps(data))
    refused(capsys, "leaderboard", run_dir, says=f"error: {path}: ")


def test_report_and_compare_of_missing_or_damaged_folders(capsys, tmp_path, run_dir):
    refused(capsys, "report", tmp_path / "nope", says=f"error: {tmp_path / 'nope'} holds no finished harness run")
    refused(capsys, "compare", run_dir, tmp_path / "nope", says=f"error: {tmp_path / 'nope'} is not a harness run")
    refused(capsys, "compare", tmp_path, run_dir, says=f"error: {tmp_path} is not a harness run folder")
    refused(capsys, "report", run_dir.parent, "--reference", "zz", says="error: no finished run 'zz'")
    (run_dir / "run.json").write_text('{"sch')
    manifest = f"error: {run_dir / 'run.json'}: "
    refused(capsys, "report", run_dir.parent, says=manifest)
    refused(capsys, "compare", run_dir, run_dir, says=manifest)
    (run_dir / "run.json").write_text("[]")
    refused(capsys, "compare", run_dir, run_dir, says=manifest)


@pytest.mark.parametrize("argv", [
    ("compare", "A", "B", "--threshold", "nan"),
    ("compare", "A", "B", "--cost-alpha", "1"),
    ("report", "R", "--threshold", "-0.1"),
    ("leaderboard", "R", "--margin", "-1"),
    ("eval", "q", "r", "--precision", "-1"),
    ("eval", "q", "r", "--precision", "100"),
    ("eval", "q", "r", "--precision", "two"),
])
def test_out_of_range_options_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[-2]}: expected" in err and "Traceback" not in err


def test_eval_bad_inputs(capsys, tmp_path):
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.txt"
    qrels.write_text("q1 0 d1 1\n")
    run.write_text("q1 Q0 d1 1 1.0 r\n")
    refused(capsys, "eval", tmp_path / "nope", run, says=f"error: {tmp_path / 'nope'}: no such file")
    refused(capsys, "eval", qrels, tmp_path, says=f"error: {tmp_path}: is a folder, expected a file")
    (tmp_path / "bad.qrels").write_text("q1 0 d1 1\nq1 0 d2\n")
    refused(capsys, "eval", tmp_path / "bad.qrels", run, says=f"error: {tmp_path / 'bad.qrels'}:2: expected 4 columns")
    (tmp_path / "bad.run").write_text("q1 Q0 d1 1 high r\n")
    refused(capsys, "eval", qrels, tmp_path / "bad.run", says=f"error: {tmp_path / 'bad.run'}:1: score 'high'")
    (tmp_path / "bin.run").write_bytes(b"\xff\xfe\n")
    refused(capsys, "eval", qrels, tmp_path / "bin.run", says=f"error: {tmp_path / 'bin.run'}: not UTF-8")
    refused(capsys, "eval", qrels, run, "-m", "frobnicate", says="error: no metric named 'frobnicate'")
    refused(capsys, "eval", qrels, run, "-m", "nDCG@ten", says="error: metric 'nDCG@ten': the cutoff")


SUITE = """
name = "errs"
k = 5
metrics = ["AP"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25"}
"""


def test_validate_and_run_bad_suites(capsys, tmp_path, write_suite):
    missing = tmp_path / "nope.toml"
    refused(capsys, "validate", missing, says=f"{missing}: 1 problem(s)\n  {missing}: no such suite file", lines=2)
    refused(capsys, "run", missing, says=f"{missing}: no such suite file", lines=2)
    refused(capsys, "run", tmp_path, says=f"{tmp_path}: cannot read", lines=2)
    bad = write_suite("name = \n", "bad.toml")
    refused(capsys, "validate", bad, says=f"{bad}:1: invalid TOML", lines=2)


def test_run_refusals(capsys, tmp_path, write_suite):
    suite, results = write_suite(SUITE), tmp_path / "results"
    refused(capsys, "run", suite, "--results", results, "--pipeline", "zzz", says="error: no cells selected")
    refused(capsys, "run", suite, "--results", results, "--resume", "2000", says="error: no run '2000' under")
    lock = results / ".locks" / "errs.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another harness run holds it
        refused(capsys, "run", suite, "--results", results,
                says=f"error: another harness run is using {results / 'errs'}")
    finally:
        os.close(fd)
    damaged = write_run(results, "20260101-000000", [], suite="errs") / "run.json"
    damaged.write_text('{"status": "runn')
    refused(capsys, "run", suite, "--results", results, says=f"error: {damaged}: ")


def test_new_plugin_refusals(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(capsys, "new-plugin", "1bad", "--kind", "retriever", says="error: invalid plugin name '1bad'")
    (tmp_path / "harness-taken").mkdir()
    refused(capsys, "new-plugin", "taken", "--kind", "ranker",
            says=f"error: {tmp_path / 'harness-taken'} already exists")


# -- anything else is a bug -------------------------------------------------------------------------


def test_an_unexpected_exception_is_reported_as_a_bug(capsys, tmp_path, monkeypatch):
    def broken(args):
        print("partial output")
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "cmd_validate", broken)
    code, out, err = run_cli(capsys, "validate", tmp_path / "any.toml")
    assert code == 70 and out == "partial output\n"
    assert err.startswith("Traceback (most recent call last):\n") and "RuntimeError: boom\n" in err
    assert err.endswith(cli.BUG + "\n") and "not in your input" in cli.BUG


def test_a_harness_error_from_anywhere_is_caught_once(capsys, tmp_path, monkeypatch):
    from harness.plugins import PluginError

    def unknown(args):
        raise PluginError("no retriever named 'bm52' (did you mean 'bm25'?)")

    monkeypatch.setattr(cli, "cmd_validate", unknown)
    assert run_cli(capsys, "validate", tmp_path) == (2, "", "error: no retriever named 'bm52' (did you mean 'bm25'?)\n")


# -- a closed pipe ----------------------------------------------------------------------------------


def shell(command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.path.dirname(__file__),
                                                                     os.environ.get("PYTHONPATH")]))}
    return subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


HARNESS = f"{sys.executable} -m harness"


def test_plugins_into_head_exits_quietly():
    done = shell(f"{HARNESS} plugins | head -1")
    assert done.stdout.startswith("KIND") and done.stdout.count("\n") == 1
    assert done.stderr == "" and done.returncode in (0, 141)


def test_a_closed_pipe_exits_141_without_a_message(tmp_path):
    # `true` reads nothing and exits: every write of harness finds the pipe closed
    done = shell(f"{HARNESS} plugins | true")
    assert (done.returncode, done.stderr) == (141, "")
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.txt"
    qrels.write_text("".join(f"q{i} 0 d{i} 1\n" for i in range(2000)))
    run.write_text("".join(f"q{i} Q0 d{i + j} {j + 1} {9 - j} t\n" for i in range(2000) for j in range(3)))
    done = shell(f"{HARNESS} eval {qrels} {run} -q | true")
    assert (done.returncode, done.stderr) == (141, "")
    done = shell(f"{HARNESS} eval {qrels} {run} -q | (sleep 0.3; head -2)")  # closed mid-output
    assert done.stdout.count("\n") == 2 and done.stderr == "" and done.returncode in (0, 141)


def test_a_broken_pipe_elsewhere_is_a_bug(capsys, tmp_path, monkeypatch):
    def worker_pipe(args):
        raise BrokenPipeError(32, "Broken pipe")  # a worker's pipe, say: stdout is fine

    monkeypatch.setattr(cli, "cmd_validate", worker_pipe)
    code, _, err = run_cli(capsys, "validate", tmp_path)
    assert code == 70 and "BrokenPipeError" in err and err.endswith(cli.BUG + "\n")

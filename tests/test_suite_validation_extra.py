"""Validation of suites an adversarial tester found accepted (or crashing on): colliding cell file
names, non-finite numbers, values nested too deeply, duplicate devices and fields, an empty metric
list; and ``harness run --results`` naming something that is not a folder."""

from __future__ import annotations

import math

import pytest
from fakes import registry_with

from harness import cli
from harness.params import Param, check_params, setting
from harness.suite import validate
from harness.suite.text import SuiteError, parse_toml

BASE = """
name = "extra"
k = 20
metrics = ["nDCG@10"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25"}
"""


def problems_of(path, overrides=()):
    return {p.path: p for p in validate(path, overrides, registry_with())}


# -- 1. two cells, one result file ------------------------------------------------------------


def test_cells_whose_file_names_collide_are_refused_naming_both(write_suite):
    path = write_suite("""
        name = "col"
        k = 20
        metrics = ["nDCG@10"]
        [[datasets]]
        name = "a"
        source = "beir:{beir}"
        [[datasets]]
        name = "a__b"
        source = "beir:{beir}"
        [[pipelines]]
        name = "c"
        retriever = { plugin = "bm25" }
        [[pipelines]]
        name = "b__c"
        retriever = { plugin = "bm25", k1 = 2.0 }
        """)
    problems = validate(path, (), registry_with())
    clashes = [p for p in problems if "would both be written" in p.message]
    assert len(clashes) == 1, problems
    message = clashes[0].message
    assert "a/b__c/cpu" in message and "a__b/c/cpu" in message and "a__b__c__cpu.json" in message
    assert clashes[0].path == "pipelines[1].name" and clashes[0].line is not None


def test_cell_file_names_differing_only_in_case_collide(write_suite):
    path = write_suite(BASE + '\n[[pipelines]]\nname = "BM25"\nretriever = {plugin = "bm25", k1 = 2.0}\n')
    problems = problems_of(path)
    assert "would both be written" in problems["pipelines[1].name"].message
    assert "tiny/bm25/cpu" in problems["pipelines[1].name"].message


def test_sweep_values_that_make_the_same_file_name_are_refused(write_suite):
    path = write_suite(BASE.replace('retriever = {plugin = "bm25"}', 'retriever = {plugin = "bm25"}\n'
                                    "sweep = { k1 = [1.0, 2.0] }")
                       + '\n[[pipelines]]\nname = "x"\nretriever = {plugin = "bm25"}\n'
                       "sweep = { token_pattern = ['(\\w+)+', '[\\w+]+', '[a-m]+'] }\n")
    problems = problems_of(path)
    assert set(problems) == {"pipelines[1].sweep"}, problems
    assert "sweep other values" in problems["pipelines[1].sweep"].message


def test_distinct_cell_file_names_stay_valid(write_suite):
    path = write_suite(BASE + '\n[[pipelines]]\nname = "bm25-2"\nretriever = {plugin = "bm25", k1 = 2.0}\n'
                       '\n[measure]\ndevices = ["cpu", "auto"]\n')
    assert problems_of(path) == {}


# -- 2. inf where a finite number is needed ----------------------------------------------------


@pytest.mark.parametrize("key", ["timeout", "min_duration"])
def test_inf_in_measure_is_refused(write_suite, key):
    path = write_suite(BASE + f"\n[measure]\n{key} = inf\n")
    problems = problems_of(path)
    assert "must be a finite number, got inf" in problems[f"measure.{key}"].message


def test_inf_as_a_component_parameter_is_refused(write_suite):
    path = write_suite(BASE.replace('{plugin = "bm25"}', '{plugin = "bm25", k1 = inf}'))
    problems = problems_of(path)
    assert "must be a finite number, got inf" in problems["pipelines[0].retriever.k1"].message


def test_param_refuses_non_finite_numbers_unless_declared_to_allow_them():
    declared = {"x": Param(float, 1.0), "y": Param(float, 1.0, finite=False),
                "z": Param(float, 1.0, min=0, finite=False)}
    assert check_params(declared, {"x": 2.5, "y": math.inf}) == []
    for bad in (math.inf, -math.inf, math.nan):
        assert check_params(declared, {"x": bad}) == [("x", f"must be a finite number, got {bad!r}")]
    assert check_params(declared, {"z": math.inf}) == []
    assert check_params(declared, {"z": -math.inf})[0][1].startswith("must be >= 0")
    assert "within its bounds" in check_params(declared, {"z": math.nan})[0][1]
    assert setting(1.0, finite=False).metadata["param"]["finite"] is False


# -- 3. nesting too deep for the parser --------------------------------------------------------


def test_deeply_nested_value_is_a_suite_error_not_a_recursion_error(write_suite):
    path = write_suite(BASE + "\nx = " + "[" * 50_000 + "]" * 50_000 + "\n")
    problems = problems_of(path)
    assert any("nested too deeply" in p.message for p in problems.values()), problems


def test_nesting_the_parser_survives_but_the_checker_would_not_is_refused():
    depth = 150
    with pytest.raises(SuiteError, match="nested too deeply"):
        parse_toml("x = " + "[" * depth + "]" * depth + "\n", "s.toml")
    assert parse_toml("x = [[[1]]]\n") == {"x": [[[1]]]}


def test_deeply_nested_set_value_is_a_problem(write_suite):
    path = write_suite(BASE)
    problems = validate(path, ["k=" + "[" * 50_000 + "]" * 50_000], registry_with())
    assert any("nested too deeply" in p.message for p in problems), problems


def test_validate_cli_exits_2_on_deep_nesting(capsys, write_suite):
    path = write_suite(BASE + "\nx = " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert cli.main(["validate", str(path), "--no-data"]) == 2
    assert "nested too deeply" in capsys.readouterr().err


# -- 4. --results that cannot be a folder ------------------------------------------------------


@pytest.mark.parametrize("where", ["file", "file/sub", "/dev/null"])
def test_run_refuses_a_results_path_that_is_not_a_folder(capsys, write_suite, tmp_path, where):
    (tmp_path / "file").write_text("x")
    results = where if where.startswith("/") else str(tmp_path / where)
    code = cli.main(["run", str(write_suite(BASE)), "--results", results])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "not a folder" in err and "Traceback" not in err


# -- 5. duplicates -----------------------------------------------------------------------------


def test_a_device_listed_twice_is_refused(write_suite):
    problems = problems_of(write_suite(BASE + '\n[measure]\ndevices = ["cpu", "cpu"]\n'))
    assert "device 'cpu' is listed twice" in problems["measure.devices[1]"].message


def test_a_field_listed_twice_is_refused(write_suite):
    path = write_suite(BASE.replace('source = "beir:{beir}"', 'source = "beir:{beir}"\n'
                                    'fields = ["title", "title", "text"]'))
    problems = problems_of(path)
    assert "field 'title' is listed twice" in problems["datasets[0].fields[1]"].message


# -- 6. no metric ------------------------------------------------------------------------------


def test_an_empty_metric_list_is_refused(write_suite):
    problems = problems_of(write_suite(BASE.replace('metrics = ["nDCG@10"]', "metrics = []")))
    assert "at least one metric" in problems["metrics"].message

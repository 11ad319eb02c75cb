"""Suite parsing, validation (key paths, lines, suggestions), sweeps, overrides and cells."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes import registry_with

from harness.suite import load_suite, validate
from harness.suite.text import SuiteError

VALID = """
name = "demo"
k = 100
metrics = ["nDCG@10", "AP"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25", k1 = 0.9, b = 0.4}

[[pipelines]]
name = "overlap"
retriever = {plugin = "overlap"}
ranker = {plugin = "reverse", depth = 3}

[stats]
baseline = "bm25"
"""


def problems_of(path, overrides=()):
    return {p.path: p for p in validate(path, overrides, registry_with())}


def test_valid_suite_builds_cells(write_suite):
    suite = load_suite(write_suite(VALID), registry=registry_with())
    assert suite.name == "demo" and suite.k == 100
    assert [m.label for m in suite.metrics] == ["nDCG@10", "AP"]
    assert [c.id for c in suite.cells()] == ["tiny/bm25/cpu", "tiny/overlap/cpu"]
    assert suite.pipelines[1].ranker.depth == 3
    config = suite.pipelines[0].config()["retriever"]
    assert config["plugin"] == "bm25" and config["k1"] == 0.9  # defaults filled in too
    assert "method" in config


def test_three_mistakes_reported_at_once_with_paths_and_lines(write_suite):
    path = write_suite(VALID.replace("k1 = 0.9", "k2 = 0.9").replace("depth = 3", "depth = 500")
                       .replace('"AP"]', '"ndcg@10"]'))
    problems = problems_of(path)
    assert set(problems) == {"pipelines[0].retriever.k2", "pipelines[1].ranker.depth", "metrics[1]"}
    assert "did you mean 'k1'" in problems["pipelines[0].retriever.k2"].message
    assert "beyond the retrieval depth k = 100" in problems["pipelines[1].ranker.depth"].message
    assert "nDCG" in problems["metrics[1]"].message
    text = path.read_text().splitlines()
    for problem in problems.values():
        assert problem.line is not None
    assert "k2" in text[problems["pipelines[0].retriever.k2"].line - 1]
    assert "depth" in text[problems["pipelines[1].ranker.depth"].line - 1]


def test_validate_cli_reports_all_and_exits_2_without_traceback(write_suite):
    path = write_suite(VALID.replace("k = 100", 'k = "100"').replace('plugin = "bm25"', 'plugin = "bm52"')
                       .replace("[stats]", "[stats]\nalpah = 0.1"))
    proc = subprocess.run([sys.executable, "-m", "harness", "validate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "k: must be a int, got str '100'" in proc.stderr
    assert "pipelines[0].retriever.plugin: no retriever named 'bm52' (did you mean 'bm25'?)" in proc.stderr
    assert "stats.alpah: unknown parameter (did you mean 'alpha'?)" in proc.stderr
    assert f"{path}:" in proc.stderr  # file:line prefixes


@pytest.mark.parametrize("edit, path, fragment", [
    (("metrics =", "metric ="), "metric", "did you mean 'metrics'"),
    (("k = 100", "k = 0"), "k", "must be >= 1"),
    (('[stats]\nbaseline = "bm25"', '[stats]\nbaseline = "bm26"'), "stats.baseline", "did you mean 'bm25'"),
    (('source = "beir:{beir}"', 'source = "bier:{beir}"'), "datasets[0].source", "did you mean 'beir'"),
    (('source = "beir:{beir}"', 'source = "beir"'), "datasets[0].source", "expected 'provider:value'"),
    (('source = "beir:{beir}"', 'source = "beir:{beir}"\nsplit = 3'), "datasets[0].split", "must be a str"),
    (('source = "beir:{beir}"', 'source = "beir:{beir}"\ngrades = {"one" = 1}'), "datasets[0].grades.one", "integers"),
    (('name = "overlap"', 'name = "bm25"'), "pipelines[1].name", "duplicate name 'bm25'"),
    (('metrics = ["nDCG@10", "AP"]', 'metrics = ["nDCG@1000"]'), "metrics[0]", "beyond the retrieval depth"),
    (('retriever = {plugin = "overlap"}', 'retriever = {k1 = 1}'), "pipelines[1].retriever.plugin", "is required"),
    (('[stats]', '[measure]\ndevices = ["gpu"]\n[stats]'), "measure.devices[0]", "unknown device"),
])
def test_single_mistakes(write_suite, edit, path, fragment):
    problems = problems_of(write_suite(VALID.replace(*edit)))
    assert path in problems, problems
    assert fragment in problems[path].message


def test_toml_syntax_error_has_line(write_suite):
    with pytest.raises(SuiteError) as info:
        load_suite(write_suite(VALID.replace("k = 100", "k = = 100")), registry=registry_with())
    assert info.value.problems[0].line == 3
    assert "invalid TOML" in str(info.value)


def test_missing_file(tmp_path):
    problems = validate(tmp_path / "nope.toml")
    assert problems[0].message == "no such suite file"


def test_sweep_expands_with_readable_names(write_suite):
    body = VALID.replace('retriever = {plugin = "bm25", k1 = 0.9, b = 0.4}',
                         'retriever = {plugin = "bm25"}\nsweep = {k1 = [0.9, 1.2], "retriever.b" = [0.4, 0.75]}')
    suite = load_suite(write_suite(body), registry=registry_with())
    names = [p.name for p in suite.pipelines]
    assert names[:4] == ["bm25[k1=0.9,retriever.b=0.4]", "bm25[k1=0.9,retriever.b=0.75]",
                         "bm25[k1=1.2,retriever.b=0.4]", "bm25[k1=1.2,retriever.b=0.75]"]
    assert suite.pipelines[3].retriever.params == {"k1": 1.2, "b": 0.75}
    assert all(p.base == "bm25" for p in suite.pipelines[:4])
    assert len(suite.cells(pipelines=["bm25"])) == 4  # the base name selects every variant
    assert len(suite.cells(pipelines=["bm25[k1=0.9*"])) == 2  # globs too
    slugs = {c.slug for c in suite.cells()}
    assert all("/" not in s and "[" not in s for s in slugs)


def test_sweep_problems(write_suite):
    body = VALID.replace('retriever = {plugin = "bm25", k1 = 0.9, b = 0.4}',
                         'retriever = {plugin = "bm25"}\nsweep = {k3 = [1], k1 = "x", "retriever.k1" = [-1.0]}')
    problems = problems_of(write_suite(body))
    assert "no stage of this pipeline has a parameter 'k3'" in problems["pipelines[0].sweep.k3"].message
    assert "non-empty list" in problems["pipelines[0].sweep.k1"].message
    assert "must be >= 0" in problems["pipelines[0].retriever.k1"].message


def test_overrides(write_suite):
    path = write_suite(VALID)
    suite = load_suite(path, ["pipelines.bm25.k1=1.2", "k=50", "stats.alpha=0.01", "pipelines.overlap.ranker.depth=5"],
                       registry=registry_with())
    assert suite.pipelines[0].retriever.params["k1"] == 1.2
    assert suite.k == 50 and suite.stats.alpha == 0.01
    assert suite.pipelines[1].ranker.depth == 5
    problems = problems_of(path, ["pipelines.bm52.k1=1", "pipelines.bm25.nope=1", "novalue"])
    messages = " | ".join(p.message for p in problems.values())
    assert "no pipeline named 'bm52' (did you mean 'bm25'?)" in messages
    assert "no stage of this pipeline has a parameter 'nope'" in messages
    assert "expected KEY.PATH=VALUE" in messages


def test_nested_component_specs_are_validated(write_suite):
    body = VALID.replace('retriever = {plugin = "overlap"}',
                         'retriever = {plugin = "fusion", retrievers = [{plugin = "bm25"}, {plugin = "overlapp"}]}')
    problems = problems_of(write_suite(body))
    assert "did you mean 'overlap'" in problems["pipelines[1].retriever.retrievers[1].plugin"].message
    ok = VALID.replace('retriever = {plugin = "overlap"}',
                       'retriever = {plugin = "fusion", '
                       'retrievers = [{plugin = "bm25", k1 = 1.0}, {plugin = "overlap"}]}')
    suite = load_suite(write_suite(ok), registry=registry_with())
    config = suite.pipelines[1].config()["retriever"]
    assert config["retrievers"][0]["plugin"] == "bm25" and config["retrievers"][0]["k1"] == 1.0


def test_compressors_attach_to_stages(write_suite):
    body = VALID.replace('retriever = {plugin = "overlap"}',
                         'retriever = {plugin = "overlap-compressible", compressors = [{plugin = "halve"}]}')
    suite = load_suite(write_suite(body), registry=registry_with())
    assert [c.plugin for c in suite.pipelines[1].retriever.compressors] == ["halve"]
    bad = VALID.replace('retriever = {plugin = "overlap"}',
                        'retriever = {plugin = "overlap"}\ncompressors = [{plugin = "no-such-compressor"}]')
    problems = problems_of(write_suite(bad))
    assert any("no compressor named 'no-such-compressor'" in p.message for p in problems.values())
    halve = VALID.replace('retriever = {plugin = "overlap"}',
                          'retriever = {plugin = "overlap"}\ncompressors = [{plugin = "halve"}]')
    message = problems_of(write_suite(halve))["pipelines[1].compressors"].message
    assert "no stage of this pipeline is compressible" in message
    own = VALID.replace('retriever = {plugin = "overlap"}',
                        'retriever = {plugin = "overlap", compressors = [{plugin = "halve"}]}')
    message = problems_of(write_suite(own))["pipelines[1].retriever.compressors"].message
    assert "'overlap' is not compressible" in message
    shared = VALID.replace('retriever = {plugin = "overlap"}',
                           'retriever = {plugin = "overlap-compressible"}\ncompressors = [{plugin = "halve"}]')
    pipeline = load_suite(write_suite(shared), registry=registry_with()).pipelines[1]
    assert [c.plugin for c in pipeline.retriever.compressors] == ["halve"]  # only compressible stages
    assert pipeline.ranker.compressors == []


def test_cells_skip_devices_no_stage_supports(write_suite):
    suite = load_suite(write_suite(VALID.replace("[stats]", '[measure]\ndevices = ["cpu", "cuda:0", "auto"]\n[stats]')),
                       registry=registry_with())
    assert [c.device for c in suite.cells(pipelines=["bm25"])] == ["cpu", "auto"]
    assert [c.id for c in suite.unsupported(pipelines=["bm25"])] == ["tiny/bm25/cuda:0"]


def test_declared_parent(write_suite):
    """``parent`` names another pipeline after sweep expansion; it is recorded in the pipeline's
    configuration (the leaderboard reads it from there) only when declared."""
    body = VALID.replace('name = "overlap"\n', 'name = "overlap"\nparent = "bm25"\n')
    suite = load_suite(write_suite(body), registry=registry_with())
    assert suite.pipelines[1].parent == "bm25" and suite.pipelines[1].config()["parent"] == "bm25"
    assert "parent" not in suite.pipelines[0].config()
    swept = VALID.replace('name = "bm25"\n', 'name = "bm25"\nsweep = {k1 = [0.9, 1.2]}\n')
    declared = swept.replace('name = "overlap"\n', 'name = "overlap"\nparent = "bm25[k1=1.2]"\n')
    variant = load_suite(write_suite(declared), registry=registry_with())
    assert variant.pipelines[2].parent == "bm25[k1=1.2]"
    cases = {
        body.replace('parent = "bm25"', 'parent = "bm52"'): "no pipeline named 'bm52' (did you mean 'bm25'?)",
        body.replace('parent = "bm25"', 'parent = "overlap"'): "'overlap' cannot be its own parent",
        swept.replace('name = "overlap"\n', 'name = "overlap"\nparent = "bm25"\n'):
            "'bm25' is a sweep of 2 pipelines: name one of them ('bm25[k1=0.9]', 'bm25[k1=1.2]')",
        body.replace('parent = "bm25"', "parent = 3"): "must be a str",
    }
    for text, message in cases.items():
        problem = problems_of(write_suite(text))["pipelines[1].parent"]
        assert message in problem.message and problem.line == text.splitlines().index(
            next(line for line in text.splitlines() if line.startswith("parent"))) + 1


def test_margin_settings(write_suite):
    suite = load_suite(write_suite(VALID + "margin = 0.01\nmargin_metric = \"AP\"\n"), registry=registry_with())
    assert (suite.stats.margin, suite.stats.margin_metric) == (0.01, "AP")
    assert load_suite(write_suite(VALID), registry=registry_with()).stats.margin is None
    spelled = load_suite(write_suite(VALID + "margin = 0.01\nmargin_metric = \"map\"\n"), registry=registry_with())
    assert spelled.stats.margin_metric == "AP"  # any name of a suite's metric, recorded as its label
    cases = {
        "margin = 0.01\nmargin_metric = \"Recall@5\"\n": ("stats.margin_metric", "'Recall@5' is not one of the "
                                                         "suite's metrics (nDCG@10, AP)"),
        "margin_metric = \"AP\"\n": ("stats.margin_metric", "has no effect without stats.margin"),
        "margin = -0.01\n": ("stats.margin", "must be >= 0.0"),
        "margin = inf\n": ("stats.margin", "must be a finite number"),
    }
    for extra, (path, message) in cases.items():
        assert message in problems_of(write_suite(VALID + extra))[path].message


def test_validation_constructs_compressors_to_check_how_their_parameters_combine(write_suite):
    from fakes import CompressibleOverlap, Halve, WordOverlap

    from harness.params import Param

    class OneOf(Halve):
        name = "one-of"
        params = {"a": Param(int, None, nullable=True), "b": Param(int, None, nullable=True)}

        def __init__(self, **params):
            super().__init__(**params)
            if (self.a is None) == (self.b is None):
                raise ValueError("one-of: give exactly one of a or b")

    registry = registry_with(WordOverlap, CompressibleOverlap, OneOf)
    body = VALID.split("[[pipelines]]")[0] + (
        '[[pipelines]]\nname = "c"\n'
        'retriever = {plugin = "overlap-compressible", compressors = [{plugin = "one-of", a = 1}]}\n')
    assert not validate(write_suite(body), (), registry)
    both = body.replace("a = 1}", "a = 1, b = 2}")
    (problem,) = validate(write_suite(both), (), registry)
    assert problem.path == "pipelines[0].retriever.compressors[0]" and "exactly one of a or b" in problem.message
    assert problem.line is not None

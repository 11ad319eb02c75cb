"""Broken suite files, generated: every one ends in a Suite or a SuiteError whose problems say
where (key path, line, or the --set at fault), never another exception; and a broken suite run
into a results root leaves what an earlier run wrote there as it was.

Each case only validates (no cell runs), so hundreds stay fast; ``derandomize`` makes every CI run
try the same cases.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import shutil
import sys
from pathlib import Path

import pytest
from fakes import registry_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.suite import build_suite, load_suite
from harness.suite.text import SuiteError, parse_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib



def fuzz(examples: int):
    """Reproducible (the same cases in every run), no deadline (CI machines stall), no example database."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


VALID = """
name = "fuzzed"
description = "every table, so that every part is mutated"
k = 20
seed = 3
metrics = ["nDCG@10", "AP", {metric = "P", cutoff = 5}]

[[datasets]]
name = "tiny"
source = "beir:{beir}"
fields = ["title", "text"]
queries = {sample = 4, seed = 1}
grades = {"-1" = 0, "2" = 3}

[[datasets]]
name = "tiny-first"
provider = "beir"
path = "{beir}"
split = "test"
queries = {first = 3}

[[pipelines]]
name = "overlap"
retriever = {plugin = "overlap", weight = 1.5}

[[pipelines]]
name = "grid"
retriever = {plugin = "overlap"}
ranker = {plugin = "reverse", depth = 10}
sweep = {weight = [0.5, 2.0]}

[[pipelines]]
name = "fused"
retriever = {plugin = "fusion", k0 = 30, retrievers = [{plugin = "overlap"}, {plugin = "overlap", weight = 2.0}]}

[[pipelines]]
name = "squeezed"
retriever = {plugin = "overlap-compressible"}
compressors = [{plugin = "halve"}]

[stats]
baseline = "overlap"
alpha = 0.05
test = "permutation"

[measure]
devices = ["cpu"]
threads = 1
latency = ["single-stream"]
warmup = 2
memory = false
timeout = 60

[output]
dir = "results"
leaderboard = ["md"]
cache = true

[execution]
executor = "local"
retries = 1
"""

SCALARS = st.one_of(
    st.integers(), st.sampled_from([0, -1, 1, 2**63, -(2**63) - 1, 10**100]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -0.0, 0.5]),
    st.booleans(), st.text(max_size=30), st.sampled_from(["", " ", "../..", "\x00", "ü" * 300, "cuda:99", "beir:"]),
    st.datetimes(), st.dates(), st.times(),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=8)
KEYS = st.one_of(st.sampled_from(["name", "plugin", "k", "depth", "weight", "source", "retrievers", "sweep",
                                  "executor", "scheduler", "workers", "grades", "queries", "fields", "metric"]),
                 st.text(max_size=12))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from tinydata import write_beir

    folder = tmp_path_factory.mktemp("fuzz-suite")
    text = VALID.replace("{beir}", str(write_beir(folder / "tiny")))
    path = folder / "fuzzed.toml"
    path.write_text(text)
    registry = registry_with()
    load_suite(path, registry=registry)  # the starting point is valid
    return path, text, tomllib.loads(text), registry


def clear_or_valid(call) -> None:
    """``call`` returns a suite, or raises SuiteError whose every problem says where and what."""
    try:
        call()
    except SuiteError as exc:
        assert exc.problems, "a SuiteError without problems"
        for problem in exc.problems:
            assert problem.message.strip(), problem
            assert problem.path or problem.line or "--set" in problem.message or exc.filename, problem


def paths(value, prefix=()) -> list[tuple]:
    """Every key path into a nested TOML value."""
    out = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        out += paths(inner, prefix + (key,))
    return out


def mutate(raw: dict, data) -> dict:
    raw = copy.deepcopy(raw)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        where = data.draw(st.sampled_from(paths(raw)), label="path")
        parent = raw
        for part in where[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add", "wrap"]), label="action")
        if action == "replace":
            parent[where[-1]] = data.draw(VALUES, label="value")
        elif action == "delete":
            del parent[where[-1]]
        elif action == "wrap":  # a table where a list is expected, a list where a scalar is, ...
            parent[where[-1]] = data.draw(st.sampled_from([[parent[where[-1]]], {"x": parent[where[-1]]}]))
        elif isinstance(parent[where[-1]], dict):
            parent[where[-1]][data.draw(KEYS, label="key")] = data.draw(VALUES, label="value")
        if not raw:
            break
    return raw


@fuzz(350)
@given(data=st.data())
def test_mutated_suite_tables(base, data):
    path, text, raw, registry = base
    clear_or_valid(lambda: build_suite(mutate(raw, data), text, path, (), registry))


LINES = VALID.count("\n")


@fuzz(200)
@given(cut=st.integers(0, len(VALID)), line=st.integers(0, LINES), junk=st.binary(max_size=12),
       how=st.sampled_from(["truncate", "drop-line", "double-line", "insert-bytes", "latin-1"]))
def test_mutated_suite_text(base, cut, line, junk, how):
    path, text, _, registry = base
    data = text.encode()
    lines = data.splitlines(keepends=True)
    line = min(line, len(lines) - 1)
    if how == "truncate":
        data = data[:cut]
    elif how == "drop-line":
        data = b"".join(lines[:line] + lines[line + 1:])
    elif how == "double-line":  # a key written twice, a table opened twice
        data = b"".join(lines[:line + 1] + lines[line:])
    elif how == "insert-bytes":
        data = data[:cut] + junk + data[cut:]
    else:
        data = data.replace(b'"every table', "\"épreuve".encode("latin-1"))
    broken = path.with_name(f"broken-{hashlib.sha1(data).hexdigest()[:8]}.toml")
    broken.write_bytes(data)
    try:
        clear_or_valid(lambda: load_suite(broken, registry=registry))
    finally:
        broken.unlink()


@fuzz(120)
@given(key=st.lists(st.one_of(KEYS, st.sampled_from(["pipelines", "datasets", "overlap", "grid", "tiny",
                                                     "measure", "retriever", "0", "execution", "stats"])),
                    min_size=0, max_size=4),
       value=st.one_of(st.text(max_size=20), st.sampled_from(["[]", "{}", "1e400", "nan", "\"x\"", "[1, {a = 2}]",
                                                              "true", "-5", "99999999999999999999"])),
       equals=st.booleans())
def test_mutated_overrides(base, key, value, equals):
    path, _, _, registry = base
    override = ".".join(key) + ("=" if equals else "") + value
    clear_or_valid(lambda: load_suite(path, [override], registry=registry))


EVERY_TYPE = [0, -1, 2**70, 1.5, float("nan"), float("inf"), True, "", "x", [], [1], ["x", 2], {}, {"x": 1},
              datetime.date(2020, 1, 1), datetime.datetime(2020, 1, 1, 12, 0), datetime.time(12, 0)]


def test_every_key_path_with_every_type(base):
    """Systematically, beside the random cases: each value of the suite replaced by a value of every
    TOML type, each key deleted, and an unknown key added to each table."""
    path, text, raw, registry = base
    cases = 0
    for where in paths(raw):
        for value in [*EVERY_TYPE, "delete", "unknown"]:
            mutated = copy.deepcopy(raw)
            parent = mutated
            for part in where[:-1]:
                parent = parent[part]
            if value == "delete":
                del parent[where[-1]]
            elif value == "unknown":
                if not isinstance(parent[where[-1]], dict):
                    continue
                parent[where[-1]]["colour"] = "blue"
            else:
                parent[where[-1]] = value
            clear_or_valid(lambda mutated=mutated: build_suite(mutated, text, path, (), registry))
            cases += 1
    assert cases > 1000


def test_unknown_keys_and_wrong_types_are_named(base):
    """Spot checks of what the generated cases only assert in general."""
    path, text, raw, registry = base
    broken = copy.deepcopy(raw)
    broken["execution"].update(executor="spark", workers=0, colour="blue")
    broken["pipelines"][0]["retriever"]["weight"] = datetime.date(2024, 1, 1)
    with pytest.raises(SuiteError) as caught:
        build_suite(broken, text, path, (), registry)
    where = {p.path for p in caught.value.problems}
    assert {"execution.executor", "execution.workers", "execution.colour", "pipelines[0].retriever.weight"} <= where
    with pytest.raises(SuiteError, match="invalid TOML"):
        parse_toml(text + "\n[execution]\nretries = 2\n")  # the table twice


# -- nothing written before is lost ------------------------------------------------------------

def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and ".locks" not in p.parts}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A valid suite run once into a results root; the broken runs below go to the same root."""
    from tinydata import write_beir

    from harness.runner import run_suite

    folder = tmp_path_factory.mktemp("fuzz-results")
    beir = write_beir(folder / "tiny")
    suite = folder / "kept.toml"
    suite.write_text(f'name = "kept"\nk = 5\nmetrics = ["AP"]\n[[datasets]]\nsource = "beir:{beir}"\n'
                     '[[pipelines]]\nname = "o"\nretriever = {plugin = "overlap"}\n')
    registry = registry_with()
    outcome = run_suite(load_suite(suite, registry=registry), results_dir=folder / "results", registry=registry)
    assert not outcome.failed
    return folder, beir, snapshot(folder / "results" / "kept")


@fuzz(15)
@given(how=st.sampled_from(["bad-suite", "bad-corpus", "bad-qrels", "no-queries"]),
       junk=st.binary(min_size=1, max_size=40))
def test_a_broken_suite_or_dataset_loses_nothing_already_written(first_run, how, junk, monkeypatch_module):
    from harness.cli import main

    folder, beir, before = first_run
    broken = folder / "broken"
    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(beir, broken)
    name = {"corpus": "corpus.jsonl", "qrels": "qrels/test.tsv", "queries": "queries.jsonl"}
    if how == "bad-corpus":
        (broken / name["corpus"]).write_bytes((broken / name["corpus"]).read_bytes()[:50] + junk)
    elif how == "bad-qrels":
        (broken / name["qrels"]).write_bytes(b"q1\td1\t1\n" + junk + b"\n")
    elif how == "no-queries":
        (broken / name["queries"]).write_bytes(junk)
    body = f'name = "kept"\nk = 5\nmetrics = ["AP"]\n[[datasets]]\nsource = "beir:{broken}"\n' \
           '[[pipelines]]\nname = "o"\nretriever = {plugin = "overlap"}\n'
    if how == "bad-suite":
        body = body.encode()[:60] + junk
    suite = folder / "kept.toml"
    suite.write_bytes(body if isinstance(body, bytes) else body.encode())
    status = main(["run", str(suite), "--results", str(folder / "results"), "--quiet"])
    assert status in (0, 1, 2)
    after = snapshot(folder / "results" / "kept")
    assert {k: v for k, v in after.items() if k in before} == before  # the first run's files, byte for byte


@pytest.fixture(scope="module")
def monkeypatch_module():
    """HARNESS_PLUGIN_MODULES for the command line's registry, for this module's tests."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HARNESS_PLUGIN_MODULES", "fakes")
    yield patch
    patch.undo()

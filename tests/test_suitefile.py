"""The suite file as text: key-path line numbers, TOML errors, ``--set`` values, read errors."""

from __future__ import annotations

import datetime

import pytest

from harness.suite.text import (
    Problem,
    SuiteError,
    format_path,
    locate,
    parse_toml,
    parse_value,
    read_suite_text,
    split_assignment,
)

# A realistic suite; the number at the end of each line is its line number.
SUITE = """\
name = "demo"                                   # 1
k = 100                                         # 2
metrics = [                                     # 3
  "nDCG@10",                                    # 4
  "P(rel=2)@10",                                # 5
]                                               # 6
                                                # 7
[[datasets]]                                    # 8
source = "beir:data/a=b"                        # 9
                                                # 10
[[datasets]]                                    # 11
name = "second"                                 # 12
source = "irds:cranfield"                       # 13
                                                # 14
[[pipelines]]                                   # 15
name = "bm25"                                   # 16
retriever = {plugin = "bm25", k1 = 0.9}         # 17
                                                # 18
[pipelines.sweep]                               # 19
k1 = [0.5, 1.0]                                 # 20
b = [0.3]                                       # 21
                                                # 22
[[pipelines]]                                   # 23
name = "fused"                                  # 24
retriever.plugin = "fusion"                     # 25
retriever.retrievers = [{plugin = "overlap"}, {plugin = "bm25", "k1" = 2}]  # 26
ranker = { plugin = "reverse", depth = 3 }      # 27
compressors = [                                 # 28
  {plugin = "halve"},                           # 29
]                                               # 30
                                                # 31
[[pipelines.extra]]                             # 32
plugin = "x"                                    # 33
                                                # 34
[[pipelines.extra]]                             # 35
plugin = "y"                                    # 36
                                                # 37
[stats]  # a comment with [brackets]            # 38
"baseline" = "bm25"                             # 39
'alpha' = 0.01                                  # 40
                                                # 41
[measure]                                       # 42
devices = [                                     # 43
  "cpu",                                        # 44
]                                               # 45
"""


def test_the_fixture_is_valid_toml_and_numbered_right():
    data = parse_toml(SUITE)
    assert data["pipelines"][1]["retriever"]["retrievers"][1]["k1"] == 2
    for number, line in enumerate(SUITE.splitlines(), 1):
        assert line.rstrip().endswith(f"# {number}")


@pytest.mark.parametrize(
    "path, line",
    [
        (("name",), 1),
        (("k",), 2),
        (("metrics",), 3),
        (("metrics", 1), 3),  # inside a multi-line array: the key that holds it
        (("datasets", 0), 8),
        (("datasets", 0, "source"), 9),
        (("datasets", 1), 11),
        (("datasets", 1, "name"), 12),
        (("datasets", 1, "source"), 13),
        (("datasets", 1, "grades"), 11),  # absent key: its table's header
        (("pipelines", 0), 15),
        (("pipelines", 0, "name"), 16),
        (("pipelines", 0, "retriever"), 17),
        (("pipelines", 0, "retriever", "k1"), 17),  # inline table
        (("pipelines", 0, "retriever", "nope"), 17),
        (("pipelines", 0, "sweep"), 19),  # a sub-table of the latest [[pipelines]]
        (("pipelines", 0, "sweep", "k1"), 20),
        (("pipelines", 0, "sweep", "b"), 21),
        (("pipelines", 1), 23),
        (("pipelines", 1, "name"), 24),
        (("pipelines", 1, "retriever", "plugin"), 25),  # dotted key
        (("pipelines", 1, "retriever", "retrievers"), 26),
        (("pipelines", 1, "retriever", "retrievers", 1, "k1"), 26),  # list of inline tables
        (("pipelines", 1, "retriever", "retrievers", 0, "plugin"), 26),
        (("pipelines", 1, "ranker", "depth"), 27),
        (("pipelines", 1, "compressors", 0, "plugin"), 29),  # multi-line list of inline tables: its own line
        (("pipelines", 1, "compressors", 0), 29),
        (("pipelines", 1, "extra", 0, "plugin"), 33),  # nested array of tables
        (("pipelines", 1, "extra", 1, "plugin"), 36),
        (("pipelines", 1, "extra", 1), 35),
        (("stats",), 38),  # header with a trailing comment
        (("stats", "baseline"), 39),  # double-quoted key
        (("stats", "alpha"), 40),  # single-quoted key
        (("measure", "devices", 0), 43),
    ],
)
def test_locate_realistic_suite(path, line):
    assert locate(SUITE, path) == line


def test_locate_unknown_paths():
    assert locate(SUITE, ("nothing",)) is None
    assert locate(SUITE, ("pipelines", 7, "name")) is None  # no such element written
    assert locate("", ("name",)) is None


def test_locate_dotted_key_stands_for_its_parent_table():
    text = '[[pipelines]]\nname = "x"\nranker.depth = 3\nranker.other = 1\n'
    # ranker has no plugin: the nearest enclosing key written is ranker (line 3), not the header
    assert locate(text, ("pipelines", 0, "ranker", "plugin")) == 3
    assert locate(text, ("pipelines", 0, "ranker")) == 3
    assert locate(text, ("pipelines", 0, "ranker", "other")) == 4
    assert locate(text, ("pipelines", 0, "missing")) == 1


def test_locate_first_array_element_of_a_second_array():
    text = "[[a]]\nx = 1\n[[b]]\nx = 2\n[[a]]\nx = 3\n"
    assert locate(text, ("a", 0, "x")) == 2
    assert locate(text, ("b", 0, "x")) == 4
    assert locate(text, ("a", 1, "x")) == 6


def test_parse_toml_error_has_the_line():
    text = 'name = "x"\nk = 5\nmetrics = [1,\nbad key = 3\n'
    with pytest.raises(SuiteError) as info:
        parse_toml(text, "s.toml")
    (problem,) = info.value.problems
    assert problem.line == 3 or problem.line == 4
    assert problem.message.startswith("invalid TOML: ")
    assert info.value.filename == "s.toml"
    assert str(info.value).startswith(f"s.toml:{problem.line}: invalid TOML")


def test_parse_toml_error_line_exact():
    with pytest.raises(SuiteError) as info:
        parse_toml('a = 1\nb = 2\nc = = 3\n')
    assert info.value.problems[0].line == 3


def test_parse_toml_duplicate_key():
    with pytest.raises(SuiteError) as info:
        parse_toml("a = 1\na = 2\n", "f.toml")
    assert info.value.problems[0].line == 2


def test_parse_toml_ok():
    assert parse_toml('a = 1\n[t]\nb = "x"\n') == {"a": 1, "t": {"b": "x"}}


@pytest.mark.parametrize(
    "text, value",
    [
        ("1.2", 1.2),
        ("3", 3),
        ("true", True),
        ("false", False),
        ('"quoted"', "quoted"),
        ("'single'", "single"),
        ("[1, 2]", [1, 2]),
        ('["md"]', ["md"]),
        ("{a = 1}", {"a": 1}),
        ("bm25", "bm25"),  # not TOML: the text itself
        ("some words", "some words"),
        ("", ""),
        ("1e3", 1000.0),
    ],
)
def test_parse_value(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parse_value_dates_are_toml_dates():
    # TOML syntax wins: an unquoted date is a date (quote it to get a string)
    assert parse_value("2024-01-02") == datetime.date(2024, 1, 2)
    assert parse_value('"2024-01-02"') == "2024-01-02"


def test_split_assignment():
    assert split_assignment("pipelines.bm25.k1=1.2") == (["pipelines", "bm25", "k1"], 1.2)
    assert split_assignment(" k = 5 ") == (["k"], 5)
    assert split_assignment("output.dir=a=b") == (["output", "dir"], "a=b")  # first = splits
    assert split_assignment('output.leaderboard=["csv"]') == (["output", "leaderboard"], ["csv"])
    assert split_assignment("name=") == (["name"], "")


@pytest.mark.parametrize("bad, message",
                         [("k", "expected KEY.PATH=VALUE"), ("=3", "empty key"), (" . =3", "empty key")])
def test_split_assignment_errors(bad, message):
    with pytest.raises(ValueError, match=message) as info:
        split_assignment(bad)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize(
    "problem, filename, text",
    [
        (Problem("a.b", "bad", 3), "s.toml", "s.toml:3: a.b: bad"),
        (Problem("a.b", "bad"), "s.toml", "s.toml: a.b: bad"),
        (Problem("", "bad", 3), "s.toml", "s.toml:3: bad"),
        (Problem("", "bad"), "s.toml", "s.toml: bad"),
        (Problem("a.b", "bad"), "", "a.b: bad"),
        (Problem("", "bad"), "", "bad"),
        (Problem("a.b", "bad", 3), "", "line 3: a.b: bad"),
    ],
)
def test_problem_format(problem, filename, text):
    assert problem.format(filename) == text


def test_suite_error_lists_every_problem():
    error = SuiteError([Problem("k", "must be an int", 2), Problem("name", "bad", 1)], "s.toml")
    assert isinstance(error, ValueError)
    assert str(error) == "s.toml:2: k: must be an int\ns.toml:1: name: bad"


@pytest.mark.parametrize(
    "path, text",
    [
        (("pipelines", 2, "ranker", "depth"), "pipelines[2].ranker.depth"),
        (("metrics", 0), "metrics[0]"),
        (("name",), "name"),
        ((), ""),
        ((0, "a"), "[0].a"),
        (("a", 1, 2), "a[1][2]"),
    ],
)
def test_format_path(path, text):
    assert format_path(path) == text


def test_read_missing_file(tmp_path):
    with pytest.raises(SuiteError) as info:
        read_suite_text(tmp_path / "nope.toml")
    assert info.value.problems == [Problem("", "no such suite file")]
    assert info.value.filename == str(tmp_path / "nope.toml")


def test_read_non_utf8(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(SuiteError) as info:
        read_suite_text(path)
    message = info.value.problems[0].message
    assert message.startswith("not UTF-8 text") and "at byte 11" in message


def test_read_a_folder(tmp_path):
    with pytest.raises(SuiteError) as info:
        read_suite_text(tmp_path)
    assert info.value.problems[0].message.startswith("cannot read: ")


def test_read_utf8(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "café"\n', encoding="utf-8")
    assert read_suite_text(path) == 'name = "café"\n'

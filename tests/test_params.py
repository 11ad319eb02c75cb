"""Declared parameters: every check, unknown/required reporting, defaults, suggestions."""

from __future__ import annotations

import pytest

from harness.params import REQUIRED, Param, check_params, did_you_mean, resolve_params


@pytest.mark.parametrize(
    "param, value",
    [
        (Param(int), 3),
        (Param(int), -1),
        (Param(float), 0.5),
        (Param(float), 2),  # TOML writes 1 for 1.0
        (Param(str), "x"),
        (Param(bool), False),
        (Param(list), [1, "a"]),
        (Param(dict), {"a": 1}),
        (Param((int, str)), "x"),
        (Param((int, str)), 4),
    ],
)
def test_accepted_types(param, value):
    assert param.check(value) is None


@pytest.mark.parametrize(
    "param, value, message",
    [
        (Param(int), 1.5, "must be a int, got float 1.5"),
        (Param(int), True, "must be a int, got bool True"),  # bool is not an int here
        (Param(float), True, "must be a float, got bool True"),
        (Param(float), "0.5", "must be a float, got str '0.5'"),
        (Param(str), 3, "must be a str, got int 3"),
        (Param(bool), 1, "must be a bool, got int 1"),
        (Param(list), {"a": 1}, "must be a list, got dict"),
        (Param(dict), [1], "must be a dict, got list"),
        (Param((int, str)), 1.5, "must be a int or str, got float 1.5"),
    ],
)
def test_rejected_types(param, value, message):
    assert param.check(value) == message


def test_choices_with_suggestion():
    param = Param(str, "md", choices=("md", "csv"))
    assert param.check("csv") is None
    assert param.check("MD") == "must be one of 'md', 'csv', got 'MD' (did you mean 'md'?)"
    assert param.check("cvs") == "must be one of 'md', 'csv', got 'cvs' (did you mean 'csv'?)"
    assert param.check("html") == "must be one of 'md', 'csv', got 'html'"
    assert param.check(3).startswith("must be a str")  # type first


def test_numeric_choices():
    param = Param(int, 1, choices=(1, 2))
    assert param.check(2) is None
    assert param.check(3) == "must be one of 1, 2, got 3"


def test_min_max():
    param = Param(float, 0.5, min=0, max=1)
    for ok in (0, 0.0, 0.5, 1, 1.0):
        assert param.check(ok) is None, ok
    assert param.check(-0.1) == "must be >= 0, got -0.1"
    assert param.check(2) == "must be <= 1, got 2"
    assert Param(int, 1, min=1).check(0) == "must be >= 1, got 0"


def test_bounds_reject_nan():
    param = Param(float, 0.5, min=0, max=1)
    assert param.check(float("nan")) is not None
    assert "nan" in Param(float, 0.5, min=0).check(float("nan"))
    assert "finite" in Param(float, 0.5).check(float("nan"))  # a float must be finite unless declared
    assert Param(float, 0.5, finite=False).check(float("nan")) is None  # unbounded, non-finite allowed: any float
    assert Param(float, 0.5, min=0, finite=False).check(float("inf")) is None
    assert Param(float, 0.5, max=1, finite=False).check(float("inf")) == "must be <= 1, got inf"


def test_null():
    assert Param(str, None, nullable=True).check(None) is None
    assert Param(str, "x").check(None) == "must be a str, not null"
    assert Param(str, [], many=True).check(None) == "must be a list of str, not null"
    assert Param(str, None, many=True, nullable=True).check(None) is None


def test_many():
    param = Param(str, [], choices=("md", "csv"), many=True)
    assert param.check([]) is None
    assert param.check(["md", "csv"]) is None
    assert param.check("md") == "must be a list of str, got str 'md'"
    assert param.check(["md", 3]) == "item 1 must be a str, got int 3"
    assert param.check(["md", "htm"]).startswith("item 1 must be one of 'md', 'csv', got 'htm'")


def test_component_params():
    one = Param("retriever")
    assert one.is_component and one.type_name() == "retriever spec"
    assert one.check({"plugin": "bm25", "k1": 2}) is None
    assert one.check({"k1": 2}) == "must be a retriever spec table with a 'plugin' key"
    assert one.check("bm25") == "must be a retriever spec table with a 'plugin' key"
    many = Param("retriever", many=True)
    assert many.type_name() == "list of retriever spec"
    assert many.check([{"plugin": "a"}, {"plugin": "b"}]) is None
    assert many.check([{"plugin": "a"}, {}]) == "item 1 must be a retriever spec table with a 'plugin' key"
    assert many.check({"plugin": "a"}) == "must be a list of retriever spec, got dict"
    assert not Param(str).is_component
    assert not Param("str").is_component  # a string, but no component kind


def test_type_names_and_required():
    assert Param(int).type_name() == "int"
    assert Param((int, float)).type_name() == "int or float"
    assert Param(str, many=True).type_name() == "list of str"
    assert Param(int).required and Param(int).default is REQUIRED
    assert not Param(int, None).required  # None is a real default
    assert not Param(int, 0).required


DECLARED = {
    "k1": Param(float, 0.9, "term saturation", min=0),
    "b": Param(float, 0.4, "length normalisation", min=0, max=1),
    "index": Param(str, help="index folder"),
    "method": Param(str, "lucene", choices=("lucene", "robertson")),
}


def test_check_params_unknown_bad_and_required():
    problems = check_params(DECLARED, {"k2": 1.0, "b": 3, "method": "Lucene"})
    assert problems == [
        ("k2", "unknown parameter (did you mean 'k1'?) (accepted: b, index, k1, method)"),
        ("b", "must be <= 1, got 3"),
        ("method", "must be one of 'lucene', 'robertson', got 'Lucene' (did you mean 'lucene'?)"),
        ("index", "is required (str: index folder)"),
    ]


def test_check_params_ok():
    assert check_params(DECLARED, {"index": "x"}) == []
    assert check_params(DECLARED, {"index": "x", "k1": 1, "b": 0.75, "method": "robertson"}) == []


def test_check_params_given_required_with_bad_value_is_one_problem():
    assert check_params(DECLARED, {"index": 3}) == [("index", "must be a str, got int 3")]


def test_check_params_nothing_declared():
    assert check_params({}, {"x": 1}) == [("x", "unknown parameter (accepted: none)")]
    assert check_params({}, {}) == []


def test_resolve_params_order_and_defaults():
    resolved = resolve_params(DECLARED, {"method": "robertson", "index": "i", "k1": 1.2})
    assert list(resolved) == ["k1", "b", "index", "method"]  # declaration order
    assert resolved == {"k1": 1.2, "b": 0.4, "index": "i", "method": "robertson"}


def test_resolve_params_leaves_out_missing_required_and_unknown():
    resolved = resolve_params(DECLARED, {"zzz": 1})
    assert resolved == {"k1": 0.9, "b": 0.4, "method": "lucene"}


def test_resolve_params_keeps_explicit_none():
    declared = {"x": Param(str, "d", nullable=True)}
    assert resolve_params(declared, {"x": None}) == {"x": None}


@pytest.mark.parametrize(
    "word, options, hint",
    [
        ("ndcg", ["nDCG", "AP", "P"], " (did you mean 'nDCG'?)"),  # case-insensitive
        ("NDCG", {"nDCG": 1}, " (did you mean 'nDCG'?)"),  # dict keys
        ("k2", ["k1", "b"], " (did you mean 'k1'?)"),  # short names
        ("bm52", ["bm25", "overlap"], " (did you mean 'bm25'?)"),
        ("totally-unrelated", ["k1", "b"], ""),
        ("x", [], ""),
        (3, ["3"], ""),  # not a string
    ],
)
def test_did_you_mean(word, options, hint):
    assert did_you_mean(word, options) == hint


def test_resolved_values_are_canonical_by_declared_type():
    declared = {"mu": Param(float, 1000), "k": Param(int, 3), "w": Param(float, None, nullable=True, many=True)}
    assert resolve_params(declared, {"w": [1, 0.5]}) == {"mu": 1000.0, "k": 3, "w": [1.0, 0.5]}
    assert type(resolve_params(declared, {"mu": 7})["mu"]) is float


def test_output_config_leaves_out_only_declared_output_neutral_parameters():
    from harness.params import output_config

    declared = {"k1": Param(float, 0.9), "progress": Param(bool, False, affects_output=False)}
    assert Param(int).affects_output  # the default: it enters the keys
    assert output_config(declared, {"plugin": "x", "k1": 0.9, "progress": True}) == {"plugin": "x", "k1": 0.9}

"""``harness.datasets``: loading a dataset entry and the options every provider shares."""

from __future__ import annotations

import pickle

import pytest

from harness.collection import Collection, Document
from harness.components import DatasetProvider
from harness.datasets import DatasetError, DatasetSpec, check_options, load_dataset
from harness.params import Param
from harness.plugins import ComponentInfo, PluginInfo, Registry


class Tiny(DatasetProvider):
    """Six queries q0..q5 over three documents; q5 is unjudged, and one judged query is unknown."""

    name = "tiny"
    params = {"queries": Param(int, 6), "judged": Param(int, 5)}

    def load(self, ctx):
        docs = [Document(f"d{i}", f"text {i}", f"title {i}") for i in range(3)]
        queries = {f"q{i}": f"query {i}" for i in range(self.queries)}
        qrels = {f"q{i}": {"d0": 1, "d1": -1, "d2": 3} for i in range(self.judged)}
        qrels["unknown"] = {"d0": 1}
        return Collection("tiny", docs, queries, qrels, metadata={"from": "tiny"})


class Failing(DatasetProvider):
    """Raises what it is told to."""

    name = "failing"
    params = {"error": Param(str)}

    def load(self, ctx):
        if self.error == "dataset":
            raise DatasetError("corpus.jsonl:3: malformed JSON")
        raise ValueError("bad value")


class Empty(DatasetProvider):
    """Loads a collection with no documents."""

    name = "empty"

    def load(self, ctx):
        return Collection("empty", [], {"q": "x"}, {"q": {"d": 1}})


REGISTRY = Registry(
    [
        PluginInfo(
            "tests",
            "tests",
            "0",
            components=[
                ComponentInfo("dataset", cls.name, cls, "tests", "tests", "0")
                for cls in (Tiny, Failing, Empty)
            ],
        )
    ]
)


def load(tmp_path, provider="tiny", params=None, **options) -> Collection:
    return load_dataset(DatasetSpec("mine", provider, params or {}, **options), REGISTRY, tmp_path)


def test_plain_load_records_the_provider(tmp_path):
    c = load(tmp_path)
    assert c.name == "mine"
    assert c.fields == ("title", "text")
    assert list(c.queries) == [f"q{i}" for i in range(6)]
    assert c.qrels["q0"] == {"d0": 1, "d1": -1, "d2": 3}
    assert c.metadata == {
        "from": "tiny",
        "provider": "tiny",
        "provider_params": {},
        "query_subset": None,
        "grade_mapping": None,
        "qrels_unknown_queries": 1,
    }


def test_judgments_of_unknown_queries_are_dropped(tmp_path):
    assert "unknown" not in load(tmp_path).qrels


def test_grade_mapping_keeps_unmapped_grades(tmp_path):
    c = load(tmp_path, grades={1: 4, -1: 0})
    assert c.qrels["q0"] == {"d0": 4, "d1": 0, "d2": 3}
    assert c.metadata["grade_mapping"] == {"1": 4, "-1": 0}


def test_grade_mapping_accepts_toml_string_keys(tmp_path):
    assert load(tmp_path, grades={"-1": 0}).qrels["q0"]["d1"] == 0


def test_first_queries_in_provider_order(tmp_path):
    c = load(tmp_path, queries={"first": 2})
    assert list(c.queries) == ["q0", "q1"]
    assert list(c.qrels) == ["q0", "q1"]
    assert c.metadata["query_subset"] == {"first": 2, "of": 6}


def test_sample_is_seeded_and_keeps_the_order(tmp_path):
    picks = {
        seed: list(load(tmp_path, queries={"sample": 3, "seed": seed}).queries) for seed in range(8)
    }
    assert len(set(map(tuple, picks.values()))) > 1  # the seed matters
    for seed, kept in picks.items():
        assert kept == sorted(kept) and len(kept) == 3
        assert list(load(tmp_path, queries={"sample": 3, "seed": seed}).queries) == kept
    default = load(tmp_path, queries={"sample": 3})
    assert list(default.queries) == picks[0]
    assert default.metadata["query_subset"] == {"sample": 3, "seed": 0, "of": 6}


def test_subset_larger_than_the_queries_keeps_them_all(tmp_path):
    assert len(load(tmp_path, queries={"sample": 50}).queries) == 6


def test_subset_restricts_qrels(tmp_path):
    c = load(tmp_path, queries={"sample": 4, "seed": 1})
    assert set(c.qrels) <= set(c.queries)


def test_fields(tmp_path):
    c = load(tmp_path, fields=("text",))
    assert c.fields == ("text",)
    assert c.text("d1") == "text 1"
    assert load(tmp_path).text("d1") == "title 1 text 1"


def test_unexpected_provider_error_is_wrapped(tmp_path):
    with pytest.raises(DatasetError) as info:
        load(tmp_path, "failing", {"error": "value"})
    assert str(info.value) == "dataset 'mine': ValueError: bad value"
    assert isinstance(info.value.__cause__, ValueError)


def test_provider_dataset_error_gets_the_dataset_name(tmp_path):
    with pytest.raises(DatasetError, match=r"^dataset 'mine': corpus.jsonl:3: malformed JSON$"):
        load(tmp_path, "failing", {"error": "dataset"})


def test_unknown_provider(tmp_path):
    with pytest.raises(
        DatasetError, match=r"dataset 'mine': .*no dataset named 'tini' \(did you mean 'tiny'\?\)"
    ):
        load(tmp_path, "tini")


def test_unknown_provider_parameter(tmp_path):
    with pytest.raises(
        DatasetError,
        match=r"dataset 'mine': params.querys unknown parameter \(did you mean 'queries'\?\)",
    ):
        load(tmp_path, params={"querys": 3})


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(
        DatasetError, match=r"dataset 'mine': queries.first must be a positive integer, got 0"
    ):
        load(tmp_path, queries={"first": 0})
    with pytest.raises(
        DatasetError, match=r"fields.0 unknown document field 'txt' \(did you mean 'text'\?\)"
    ):
        load(tmp_path, fields=("txt",))


def test_empty_collection_is_an_error(tmp_path):
    with pytest.raises(
        DatasetError, match=r"dataset 'mine': provider 'empty' returned no documents"
    ):
        load(tmp_path, "empty")


def test_no_judgments_is_an_error(tmp_path):
    with pytest.raises(
        DatasetError, match="dataset 'mine': none of the queries evaluated has relevance judgments"
    ):
        load(tmp_path, params={"judged": 0})


def test_dataset_error_survives_pickling():
    error = pickle.loads(pickle.dumps(DatasetError("reason", "mine")))
    assert str(error) == "dataset 'mine': reason"
    assert (error.reason, error.dataset) == ("reason", "mine")


@pytest.mark.parametrize(
    "queries, grades, expected",
    [
        (None, None, []),
        ({"first": 5}, {1: 4, "-1": 0}, []),
        ({"sample": 5, "seed": 3}, None, []),
        (
            [5],
            None,
            [("queries", "must be a table like {first = 50} or {sample = 50, seed = 0}, got list")],
        ),
        ({}, None, [("queries", "give exactly one of 'first' or 'sample'")]),
        ({"first": 1, "sample": 2}, None, [("queries", "give exactly one of 'first' or 'sample'")]),
        (
            {"frist": 5},
            None,
            [
                (
                    "queries.frist",
                    "unknown key (did you mean 'first'?) (accepted: first, sample, seed)",
                ),
                ("queries", "give exactly one of 'first' or 'sample'"),
            ],
        ),
        ({"first": -2}, None, [("queries.first", "must be a positive integer, got -2")]),
        ({"sample": True}, None, [("queries.sample", "must be a positive integer, got True")]),
        ({"first": 5, "seed": 1}, None, [("queries.seed", "only applies with 'sample'")]),
        ({"sample": 5, "seed": "x"}, None, [("queries.seed", "must be an integer, got 'x'")]),
        (
            None,
            [1, 4],
            [("grades", "must be a table of raw grade = grade like {1 = 4, -1 = 0}, got list")],
        ),
        (None, {"one": 4}, [("grades.one", "the raw grade 'one' is not an integer")]),
        (None, {1: 4.5}, [("grades.1", "must map to an integer grade, got 4.5")]),
    ],
)
def test_check_options(queries, grades, expected):
    assert check_options(queries, grades) == expected


def test_check_fields():
    assert check_options(None, None, ["text"]) == []
    assert check_options(None, None, []) == [
        ("fields", "must be a non-empty list of document fields (text, title)")
    ]
    assert check_options(None, None, ["body"]) == [
        ("fields.0", "unknown document field 'body' (accepted: text, title)")
    ]

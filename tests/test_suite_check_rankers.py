"""A ranker that can neither rerank nor score pairs is refused by validation, not at run time."""

from __future__ import annotations

import pytest

from harness.components import Ranker
from harness.suite import SuiteError, load_suite
from harness.testing import registry_with


class Idle(Ranker):
    """Defines neither rerank nor score_pairs."""


class Pairs(Ranker):
    def score_pairs(self, query, texts, ctx):
        return [0.0] * len(texts)


SUITE = """
name = "r"
k = 5
metrics = ["nDCG@3"]
[[datasets]]
source = "beir:{beir}"
[[pipelines]]
name = "p"
retriever = {plugin = "bm25"}
ranker = {plugin = "%s"}
"""


def test_a_ranker_that_cannot_run_is_a_validation_problem(write_suite):
    registry = registry_with(rankers={"idle": Idle, "pairs": Pairs})
    with pytest.raises(SuiteError, match=r"ranker 'idle' .* defines neither rerank"):
        load_suite(write_suite(SUITE % "idle"), registry=registry)
    assert load_suite(write_suite(SUITE % "pairs", name="ok.toml"), registry=registry).pipelines

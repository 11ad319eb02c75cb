"""A ranker that can neither rerank nor score pairs is refused by validation, not at run time."""

from __future__ import annotations

import pytest
from fakes import WordOverlap

from harness.components import Ranker
from harness.suite import SuiteError, load_suite
from harness.testing import registry_with


class Idle(Ranker):
    """Defines neither rerank nor score_pairs."""

    name = "idle"


class Pairs(Ranker):
    name = "pairs"

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
retriever = {plugin = "overlap"}
ranker = {plugin = "%s", depth = 5}
"""


def test_a_ranker_that_cannot_run_is_a_validation_problem(write_suite):
    registry = registry_with(WordOverlap, Idle, Pairs)
    with pytest.raises(SuiteError, match=r"ranker 'idle' .* defines neither rerank"):
        load_suite(write_suite(SUITE % "idle"), registry=registry)
    assert load_suite(write_suite(SUITE % "pairs", name="ok.toml"), registry=registry).pipelines

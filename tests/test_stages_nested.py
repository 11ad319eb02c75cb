"""StageExecutor: nested retrievers (``nested``, the ``ctx.retrieve`` of rank fusion) named and
kept apart, and the artifacts a ready component published given again when it is served from memory."""

from __future__ import annotations

import pytest
from fakes import Publisher, registry_with

from harness.cache import ArtifactCache
from harness.components import Context
from harness.datasets import load_dataset
from harness.stages import StageExecutor
from harness.suite import load_suite
from harness.timing import Phases

SUITE = """
name = "nested"
k = 5
metrics = ["nDCG@3"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "fused"
retriever = {plugin = "fusion", retrievers = [{plugin = "bm25"}, {plugin = "publisher"}, {plugin = "bm25", k1 = 1.2}]}

[[pipelines]]
name = "publisher+ranker"
retriever = {plugin = "publisher"}
ranker = {plugin = "reverse-prepared", depth = 3}
"""


@pytest.fixture
def setting(write_suite, tmp_path):
    """(pipelines by name, collection, a stage executor with an artifact cache of its own)."""
    registry = registry_with()
    suite = load_suite(write_suite(SUITE), registry=registry)
    collection = load_dataset(suite.datasets[0], registry, suite.base_dir)
    stages = StageExecutor(registry, ArtifactCache(tmp_path / "cache"))
    return {p.name: p for p in suite.pipelines}, collection, stages


def context(collection, stages, phases, **nested) -> Context:
    ctx = Context(collection=collection, cache=stages.cache)
    ctx.retrieve = stages.nested(collection, ctx, phases, **nested)
    return ctx


# -- nested ---------------------------------------------------------------------------------------


def test_nested_phases_are_named_after_their_plugin_a_second_configuration_numbered(setting):
    pipelines, collection, stages = setting
    phases = Phases()
    ctx = context(collection, stages, phases)
    stages.retrieve(pipelines["fused"].retriever, collection, collection.queries, 5, ctx, phases)
    assert {name for name in phases.records if name.endswith("retrieve")} == {
        "bm25.retrieve", "publisher.retrieve", "bm25-2.retrieve", "retrieve"}
    assert phases.records["bm25-2.index"]["cache"] == "miss"
    assert phases.records["retrieve"]["cache"] == "miss"


def test_a_nested_spec_keeps_its_name_across_calls(setting):
    pipelines, collection, stages = setting
    phases = Phases()
    ctx = context(collection, stages, phases)
    first, _, second = pipelines["fused"].retriever.params["retrievers"]
    ctx.retrieve(second, {"q1": "wing"}, 3)  # asked first: the first bm25 name is its
    ctx.retrieve(first, {"q1": "wing"}, 3)
    ctx.retrieve(second, {"q2": "heat"}, 3)  # other queries: a run of its own, the same name
    assert {"bm25.retrieve", "bm25-2.retrieve"} <= set(phases.records)
    assert phases.records["bm25.index"]["cache"] == "miss" and phases.records["bm25-2.index"]["cache"] == "miss"
    assert not any(name.startswith("bm25-3") for name in phases.records)


def test_a_prefix_goes_before_the_nested_names(setting):
    pipelines, collection, stages = setting
    phases = Phases()
    ctx = context(collection, stages, phases, prefix="rerun.")
    stages.retrieve(pipelines["fused"].retriever, collection, collection.queries, 5, ctx, phases, prefix="rerun.")
    assert {"rerun.bm25.retrieve", "rerun.publisher.retrieve", "rerun.bm25-2.retrieve", "rerun.retrieve"} <= set(
        phases.records)


def test_nested_retrievers_publish_into_a_context_of_their_own(setting):
    pipelines, collection, stages = setting
    phases = Phases()
    ctx = context(collection, stages, phases)
    stages.retrieve(pipelines["fused"].retriever, collection, collection.queries, 5, ctx, phases)
    assert phases.records["publisher.index"]["cache"] == "miss"  # the publisher was indexed, and published
    assert ctx.artifacts == {}  # but not into the fused pipeline's context


def test_live_nested_retrievers_answer_every_call_themselves(setting):
    pipelines, collection, stages = setting
    phases = Phases()
    ctx = context(collection, stages, phases)
    spec = pipelines["fused"].retriever.params["retrievers"][1]
    query = {"q1": collection.queries["q1"]}
    ctx.retrieve(spec, query, 5)  # the run is now in memory and in the cache
    live_phases = Phases()
    live = context(collection, stages, live_phases, live=True)
    indexed = Publisher.indexed
    calls = [live.retrieve(spec, query, 5) for _ in range(3)]
    assert calls[0].scores == calls[2].scores and calls[0].scores["q1"]
    assert "publisher.retrieve" not in live_phases.records  # no run served, from memory or the cache
    assert live_phases.records["publisher.index"]["cache"] == "memory"  # the ready component, once
    assert Publisher.indexed == indexed


def test_the_identity_of_a_combining_stage_holds_its_nested_stages(setting):
    pipelines, _, stages = setting
    spec = pipelines["fused"].retriever
    ident = stages.identity(spec, spec.build(), Context())
    nested = ident["nested"]
    assert [n["plugin"] for n in nested] == ["bm25", "publisher", "bm25"]
    assert nested[0]["distribution"] == "ir-harness-lexical" and nested[1]["distribution"] == "fakes"
    assert nested[2]["identity"]["k1"] == 1.2


# -- published artifacts, from memory --------------------------------------------------------------


def test_a_ready_component_gives_its_artifacts_to_every_later_cell(setting):
    pipelines, collection, stages = setting
    pipeline = pipelines["publisher+ranker"]
    phases = Phases()
    ctx = context(collection, stages, phases)
    ctx.artifacts["pipeline"] = "the cell's own"  # there before: not the component's
    stages.retriever(pipeline.retriever, collection, ctx, phases)
    stages.ranker(pipeline.ranker, collection, ctx, phases)
    words, prepared = ctx.artifacts["words"], ctx.artifacts["prepared"]
    indexed = Publisher.indexed

    later_phases = Phases()  # a later cell of the same dataset
    later = context(collection, stages, later_phases)
    stages.retriever(pipeline.retriever, collection, later, later_phases)
    stages.ranker(pipeline.ranker, collection, later, later_phases)
    assert later_phases.records["index"]["cache"] == "memory" and later_phases.records["prepare"]["cache"] == "memory"
    assert Publisher.indexed == indexed
    assert later.artifacts.keys() == {"words", "prepared"}  # what the stages published, nothing else
    assert later.artifacts["words"] is words and later.artifacts["prepared"] is prepared


def test_a_run_served_from_memory_brings_no_artifacts(setting):
    """Only a component made ready (or handed out ready) publishes: a run found in memory does not
    touch the component; the cell runner makes the stages ready when a metric needs more."""
    pipelines, collection, stages = setting
    spec = pipelines["publisher+ranker"].retriever
    phases = Phases()
    stages.retrieve(spec, collection, collection.queries, 5, context(collection, stages, phases), phases)
    later_phases = Phases()
    later = context(collection, stages, later_phases)
    stages.retrieve(spec, collection, collection.queries, 5, later, later_phases)
    assert later_phases.records["retrieve"]["cache"] == "memory" and later.artifacts == {}
    stages.retriever(spec, collection, later, later_phases)
    assert later.artifacts.keys() == {"words"}


def test_after_a_reset_nothing_is_given_from_memory(setting):
    pipelines, collection, stages = setting
    spec = pipelines["publisher+ranker"].retriever
    stages.retriever(spec, collection, context(collection, stages, Phases()), Phases())
    stages.reset()  # the next dataset
    phases = Phases()
    ctx = context(collection, stages, phases)
    stages.retriever(spec, collection, ctx, phases)
    assert phases.records["index"]["cache"] == "miss" and "words" in ctx.artifacts

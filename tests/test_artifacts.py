"""What metrics get beyond (qrels, run): stages made ready for a cached run's missing artifacts, and
the ``pipeline`` artifact that reruns a cell's pipeline on another collection."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import Publisher, registry_with

from harness import artifacts
from harness.cache import ArtifactCache
from harness.collection import Document
from harness.components import Context
from harness.datasets import load_dataset
from harness.runner import run_suite
from harness.stages import StageExecutor
from harness.suite import load_suite
from harness.timing import Phases

SUITE = """
name = "artifacts"
k = 5
metrics = ["nDCG@3", "vocabulary"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "publisher"
retriever = {plugin = "publisher"}

[[pipelines]]
name = "publisher+ranker"
retriever = {plugin = "publisher"}
ranker = {plugin = "reverse-prepared", depth = 3}

[[pipelines]]
name = "overlap"
retriever = {plugin = "overlap"}

[[pipelines]]
name = "fusion"
retriever = {plugin = "fusion", retrievers = [{plugin = "publisher"}, {plugin = "overlap"}]}
"""


class Setting:
    """A cell's surroundings, as the cell runner builds them: the suite's cells by pipeline, the
    collection, a stage executor with its artifact cache, and a fresh context and phases per cell."""

    def __init__(self, write_suite, tmp_path, body: str = SUITE):
        self.registry = registry_with()
        self.suite = load_suite(write_suite(body), registry=self.registry)
        self.cells = {cell.pipeline.name: cell for cell in self.suite.cells()}
        self.collection = load_dataset(self.suite.datasets[0], self.registry, self.suite.base_dir)
        self.cache = ArtifactCache(tmp_path / "cache")
        self.stages = StageExecutor(self.registry, self.cache)

    def context(self, phases: Phases) -> Context:
        ctx = Context(collection=self.collection, cache=self.cache)
        ctx.retrieve = self.stages.nested(self.collection, ctx, phases)
        return ctx

    def run(self, pipeline: str, ctx: Context, phases: Phases):
        """The cell's quality run, as cell.py computes it."""
        cell = self.cells[pipeline]
        run, key = self.stages.retrieve(cell.pipeline.retriever, self.collection, self.collection.queries,
                                        self.suite.k, ctx, phases)
        if cell.pipeline.ranker:
            run = self.stages.rerank(cell.pipeline.ranker, self.collection, self.collection.queries, run, key,
                                     ctx, phases)
        return run

    def ready(self, pipeline: str, ctx: Context, phases: Phases, needed: set[str]) -> None:
        artifacts.ready_stages(self.stages, self.cells[pipeline], self.collection, ctx, phases, needed)

    def rerun(self, pipeline: str, ctx: Context, phases: Phases):
        return artifacts.pipeline_rerun(self.stages, self.cells[pipeline], self.suite.k, ctx, phases)


def ranked(run) -> dict:
    """The run's rankings in order, queries without results left out (a run file has none)."""
    return {qid: list(docs.items()) for qid, docs in run.scores.items() if docs}


# -- ready_stages ---------------------------------------------------------------------------------


def test_nothing_is_made_ready_when_no_required_artifact_is_missing(write_suite, tmp_path):
    setting = Setting(write_suite, tmp_path)
    phases = Phases()
    ctx = setting.context(phases)
    setting.run("publisher", ctx, phases)  # the index is built for the run: it publishes
    assert "words" in ctx.artifacts
    indexed = Publisher.indexed
    setting.ready("publisher", ctx, phases, {"words"})
    setting.ready("publisher", ctx, phases, set())
    assert "artifacts" not in phases.records and Publisher.indexed == indexed


def test_a_cached_run_gets_its_stages_made_ready_for_the_missing_artifacts(write_suite, tmp_path):
    first = Setting(write_suite, tmp_path)
    phases = Phases()
    ctx = first.context(phases)
    run = first.run("publisher+ranker", ctx, phases)
    published = dict(ctx.artifacts)
    assert set(published) == {"words", "prepared"}

    later = Setting(write_suite, tmp_path)  # a later run: the same cache, nothing in memory
    phases = Phases()
    ctx = later.context(phases)
    assert ranked(later.run("publisher+ranker", ctx, phases)) == ranked(run)
    assert phases.records["rerank"]["cache"] == "hit" and ctx.artifacts == {}
    later.ready("publisher+ranker", ctx, phases, {"words", "prepared", "absent"})
    record = phases.records["artifacts"]
    assert record["needs"] == ["absent", "prepared", "words"]
    assert record["published"] == ["prepared", "words"]  # what the stages publish; "absent" stays missing
    assert phases.records["index"]["cache"] == "miss" and phases.records["prepare"]["cache"] == "miss"
    assert ctx.artifacts == published  # the same by-products as the cell that computed the run


@pytest.mark.parametrize("declared, readied", [(None, True), (("words",), True), ((), False), (("other",), False)])
def test_a_stage_is_made_ready_only_if_it_may_publish_what_is_missing(write_suite, tmp_path, monkeypatch, declared,
                                                                      readied):
    """``Component.publishes``: undeclared (None), a stage is made ready to find out; declared, only
    when it names a missing artifact."""
    monkeypatch.setattr(Publisher, "publishes", declared)
    first, phases = Setting(write_suite, tmp_path), Phases()
    first.run("publisher", first.context(phases), phases)  # fills the run cache
    later = Setting(write_suite, tmp_path)  # the run comes from the cache: nothing made ready yet
    phases = Phases()
    ctx = later.context(phases)
    later.run("publisher", ctx, phases)
    indexed = Publisher.indexed
    later.ready("publisher", ctx, phases, {"words"})
    assert ("artifacts" in phases.records) is readied and (Publisher.indexed > indexed) is readied
    assert ("words" in ctx.artifacts) is readied


def test_an_artifact_no_stage_publishes_stays_missing(write_suite, tmp_path):
    setting = Setting(write_suite, tmp_path)
    phases = Phases()
    ctx = setting.context(phases)
    setting.run("overlap", ctx, phases)
    setting.ready("overlap", ctx, phases, {"words"})
    assert phases.records["artifacts"]["published"] == [] and "words" not in ctx.artifacts


def test_nested_retrievers_publish_nothing_for_the_fused_pipeline(write_suite, tmp_path):
    setting = Setting(write_suite, tmp_path)
    phases = Phases()
    ctx = setting.context(phases)
    setting.run("fusion", ctx, phases)
    assert phases.records["publisher.index"]["cache"] == "miss"  # the nested publisher ran and published...
    setting.ready("fusion", ctx, phases, {"words"})
    assert phases.records["artifacts"]["published"] == [] and ctx.artifacts == {}  # ...into its own context


# -- pipeline_rerun -------------------------------------------------------------------------------


def perturbed(collection):
    """The collection with one document's text changed: it now matches q2 best."""
    docs = [replace(d, text=d.text + " heat transfer boundary layer") if d.id == "d8" else d for d in collection.docs]
    return replace(collection, docs=docs)


def test_a_rerun_is_the_cells_pipeline_on_another_collection(write_suite, tmp_path):
    setting = Setting(write_suite, tmp_path)
    phases = Phases()
    ctx = setting.context(phases)
    run = setting.run("publisher+ranker", ctx, phases)
    own = dict(ctx.artifacts)
    rerun = setting.rerun("publisher+ranker", ctx, phases)
    # the cell's own collection: a fresh executor, so its runs come from the artifact cache
    assert ranked(rerun(setting.collection)) == ranked(run)
    assert phases.records["rerun.retrieve"]["cache"] == "hit" and phases.records["rerun.rerank"]["cache"] == "hit"
    # another collection: indexed, prepared, retrieved and reranked anew, phases named apart
    changed = perturbed(setting.collection)
    other = rerun(changed)
    for phase in ("index", "retrieve", "prepare", "rerank"):
        assert phases.records[f"rerun-2.{phase}"]["cache"] == "miss", phase
    assert set(other.scores) == set(setting.collection.queries) and ranked(other) != ranked(run)
    # the same collection again: from the cache, under a name of its own
    assert ranked(rerun(changed, name="rerun")) == ranked(other) and phases.records["rerun-3.rerank"]["cache"] == "hit"
    assert ranked(rerun(changed, name="perturbed")) == ranked(other) and "perturbed.rerank" in phases.records
    # what the reruns' stages published stays theirs: the cell's artifacts are as they were
    assert ctx.artifacts.keys() == own.keys() and all(ctx.artifacts[k] is v for k, v in own.items())


def test_a_rerun_of_a_fused_pipeline_names_its_nested_phases(write_suite, tmp_path):
    setting = Setting(write_suite, tmp_path)
    phases = Phases()
    ctx = setting.context(phases)
    run = setting.run("fusion", ctx, phases)
    rerun = setting.rerun("fusion", ctx, phases)
    assert ranked(rerun(setting.collection)) == ranked(run)
    assert phases.records["rerun.retrieve"]["cache"] == "hit"
    rerun(perturbed(setting.collection))
    assert phases.records["rerun-2.publisher.index"]["cache"] == "miss"
    assert phases.records["rerun-2.overlap.retrieve"]["cache"] == "miss"
    assert ctx.artifacts == {}


def test_a_rerun_answers_every_query_of_its_collection(write_suite, tmp_path):
    setting = Setting(write_suite, tmp_path)
    phases = Phases()
    ctx = setting.context(phases)
    collection = replace(setting.collection, docs=[Document("n1", "supersonic flow and wing flutter")],
                         queries={"x": "supersonic flow"})
    run = setting.rerun("overlap", ctx, phases)(collection)
    assert run.scores == {"x": {"n1": 2.0}}


# -- in the runner --------------------------------------------------------------------------------


def run(write_suite, tmp_path, body=SUITE):
    registry = registry_with()
    outcome = run_suite(load_suite(write_suite(body), registry=registry), results_dir=tmp_path / "results",
                        registry=registry, new=True)
    assert not outcome.failed, [r["error"] for r in outcome.failed]
    return {r["cell"]["pipeline"]: r for r in outcome.results}


def test_metric_values_do_not_depend_on_whether_the_run_was_cached(write_suite, tmp_path):
    first = run(write_suite, tmp_path)
    vocabulary = first["publisher"]["metrics"]["vocabulary"]
    assert vocabulary == pytest.approx(31)  # the tiny collection's distinct words, titles included
    assert "artifacts" not in first["publisher"]["phases"]
    # the second pipeline with the same retriever gets the artifact with the index, from memory
    assert first["publisher+ranker"]["phases"]["index"]["cache"] == "memory"
    assert first["publisher+ranker"]["metrics"]["vocabulary"] == vocabulary
    second = run(write_suite, tmp_path)
    cell = second["publisher"]
    assert cell["phases"]["retrieve"]["cache"] == "hit"
    assert cell["phases"]["artifacts"]["needs"] == ["words"] and cell["phases"]["artifacts"]["published"] == ["words"]
    assert cell["metrics"] == first["publisher"]["metrics"]
    # made ready once per dataset: the next cell finds the ready index, and its artifact, in memory
    assert second["publisher+ranker"]["phases"]["index"]["cache"] == "memory"
    assert second["publisher+ranker"]["metrics"] == first["publisher+ranker"]["metrics"]


def test_a_metric_whose_artifact_no_stage_publishes_is_unavailable(write_suite, tmp_path):
    cells = run(write_suite, tmp_path)
    for name in ("overlap", "fusion"):
        cell = cells[name]
        assert cell["status"] == "ok" and cell["metrics"]["vocabulary"] is None
        assert cell["evaluation"]["details"]["vocabulary"]["unavailable"] == "needs words"
        assert cell["phases"]["artifacts"]["published"] == []
        assert cell["metrics"]["nDCG@3"] > 0  # the other metrics are unaffected


def test_without_a_metric_that_requires_artifacts_a_cached_run_makes_nothing_ready(write_suite, tmp_path):
    body = SUITE.replace('metrics = ["nDCG@3", "vocabulary"]', 'metrics = ["nDCG@3"]')
    run(write_suite, tmp_path, body)
    indexed = Publisher.indexed
    second = run(write_suite, tmp_path, body)
    assert Publisher.indexed == indexed
    for cell in second.values():
        assert "artifacts" not in cell["phases"] and "index" not in cell["phases"]

"""Pair scoring (harness/scoring.py): a ranker with only ``score_pairs`` reranks through the default
``Ranker.rerank``, a component nests a ranker through ``ctx.scorer``, every call is checked and
counted into the cell's costs, and garbage scores name the ranker and the query."""

from __future__ import annotations

import json

import pytest
from fakes import WordOverlap, registry_with

from harness.cache import ArtifactCache
from harness.components import Context, Ranker, Retriever
from harness.datasets import load_dataset
from harness.errors import ComponentError
from harness.params import Param
from harness.ranking import Run, trec_order
from harness.results import cell_path
from harness.runner import run_suite
from harness.scoring import Scorer, scorer_for
from harness.stages import StageExecutor
from harness.suite import SuiteError, load_suite
from harness.testing import RankerContract
from harness.timing import Phases
from harness.trecfiles import read_run


class WordScorer(Ranker):
    """Scores a text by the query words it holds (shorter texts first on ties): only score_pairs."""

    name = "word-scorer"
    calls: list[tuple[str, int]] = []  # (query, texts) of every call, across instances

    def score_pairs(self, query, texts, ctx):
        type(self).calls.append((query, len(texts)))
        words = set(query.lower().split())
        return [len(words & set(text.lower().split())) + 1.0 / (1 + len(text)) for text in texts]


class Garbage(Ranker):
    """Returns what ``mode`` says instead of one score per text."""

    name = "garbage"
    params = {"mode": Param(str, "short", choices=("short", "long", "nan", "inf", "text", "none", "scalar", "bool"))}

    def score_pairs(self, query, texts, ctx):
        n = len(texts)
        return {"short": [1.0] * (n - 1), "long": [1.0] * (n + 1), "nan": [float("nan")] * n,
                "inf": [float("inf")] * n, "text": ["high"] * n, "none": None, "scalar": 1.0,
                "bool": [True] * n}[self.mode]


class Silent(Ranker):
    """Defines neither rerank nor score_pairs."""

    name = "silent"


class Cascade(Retriever):
    """Scores ``anchors`` fixed documents, then the ``budget`` documents sharing most words with the
    query exactly, through a nested ranker (as ANNCUR does): its run is the budget, by exact score."""

    name = "cascade"
    params = {"ranker": Param("ranker", help="the exact scorer"), "anchors": Param(int, 2, min=0),
              "budget": Param(int, 3, min=1)}

    def index(self, collection, ctx):
        self.docs = {d.id: collection.contents(d) for d in collection.docs}

    def retrieve(self, queries, k, ctx):
        scorer = scorer_for(ctx, self.ranker)
        ids = sorted(self.docs)
        out = {}
        for qid, text in queries.items():
            scorer.score(text, [self.docs[d] for d in ids[: self.anchors]], qid=qid)
            words = set(text.lower().split())
            shortlist = sorted(ids, key=lambda d: (-len(words & set(self.docs[d].lower().split())), d))[: self.budget]
            scores = scorer.score(text, [self.docs[d] for d in shortlist], qid=qid)
            out[qid] = dict(trec_order(dict(zip(shortlist, scores, strict=True)))[:k])
        return Run.from_scores(out)


REGISTRY = registry_with(WordOverlap, WordScorer, Garbage, Silent, Cascade)

SUITE = """
name = "scoring"
k = 5
metrics = ["nDCG@3"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "scored"
retriever = {plugin = "overlap"}
ranker = {plugin = "word-scorer", depth = 3}

[[pipelines]]
name = "cascade"
retriever = {plugin = "cascade", anchors = 2, budget = 3, ranker = {plugin = "word-scorer"}}
"""


def collection_of(write_suite, body=SUITE):
    suite = load_suite(write_suite(body), registry=REGISTRY)
    return suite, load_dataset(suite.datasets[0], REGISTRY, suite.base_dir)


def run(write_suite, tmp_path, body=SUITE, **options):
    suite = load_suite(write_suite(body), registry=REGISTRY)
    return run_suite(suite, results_dir=tmp_path / "results", registry=REGISTRY, **options)


def cell_json(outcome, pipeline: str) -> dict:
    return json.loads(cell_path(outcome.run_dir, f"tiny__{pipeline}__cpu").read_text())


# -- the default rerank ---------------------------------------------------------------------------


def test_a_ranker_with_only_score_pairs_reranks_by_its_scores_and_counts_the_candidates(write_suite):
    _, collection = collection_of(write_suite)
    ranker = WordScorer()
    given = Run.from_scores({"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "q2": {"d2": 1.0, "d7": 0.5}, "q5": {}})
    ctx = Context(collection=collection)
    reranked = ranker.rerank(collection.queries, given, ctx)
    for qid in ("q1", "q2"):
        texts = {doc: collection.text(doc) for doc in given[qid]}
        expected = dict(zip(texts, ranker.score_pairs(collection.queries[qid], list(texts.values()), ctx),
                            strict=True))
        assert list(reranked[qid]) == [doc for doc, _ in trec_order(expected)]
        assert reranked[qid] == pytest.approx(expected)
    assert list(reranked[qid]) == ["d2", "d7"]  # q2: the heat transfer document first
    assert reranked.scores.get("q5", {}) == {}
    assert ctx.costs.per_query("scorer_calls") == {"q1": 1, "q2": 1}  # q5 had no candidates: no call
    assert ctx.costs.per_query("pairs_scored") == {"q1": 3, "q2": 2}


def test_the_default_rerank_needs_the_collection_and_known_candidates(write_suite):
    _, collection = collection_of(write_suite)
    with pytest.raises(ComponentError, match=r"ctx\.collection"):
        WordScorer().rerank(collection.queries, Run.from_scores({"q1": {"d1": 1.0}}), Context())
    with pytest.raises(ComponentError, match="candidate 'nope' of query 'q1'"):
        WordScorer().rerank(collection.queries, Run.from_scores({"q1": {"nope": 1.0}}),
                            Context(collection=collection))


def test_a_ranker_with_neither_rerank_nor_score_pairs_is_a_component_error(write_suite):
    _, collection = collection_of(write_suite)
    with pytest.raises(ComponentError, match="'silent' defines neither rerank"):
        Silent().rerank(collection.queries, Run.from_scores({"q1": {"d1": 1.0}}), Context(collection=collection))


@pytest.mark.parametrize("mode, message", [
    ("short", "returned 1 scores for 2 texts"), ("long", "returned 3 scores for 2 texts"),
    ("nan", "score 0 is nan, not a finite number"), ("inf", "score 0 is inf"),
    ("text", "score 0 is str 'high', not a number"), ("none", "returned NoneType, not a sequence"),
    ("scalar", "returned float, not a sequence"), ("bool", "score 0 is bool True, not a number"),
])
def test_garbage_scores_are_a_component_error_naming_the_ranker_and_the_query(write_suite, mode, message):
    _, collection = collection_of(write_suite)
    ctx = Context(collection=collection)
    with pytest.raises(ComponentError, match=f"ranker 'garbage': score_pairs for query 'q1'.*{message}"):
        Garbage(mode=mode).rerank(collection.queries, Run.from_scores({"q1": {"d1": 2.0, "d2": 1.0}}), ctx)
    assert ctx.costs.names() == []  # nothing counted for a call that failed


def test_a_pipeline_with_a_pair_scoring_ranker_counts_into_the_cell_result(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path)
    assert not outcome.failed
    result = cell_json(outcome, "scored")
    queries = ["q1", "q2", "q3", "q4", "q5"]
    retrieved = read_run(outcome.run_dir / result["run_file"])
    candidates = {q: min(3, len(retrieved.scores.get(q, {}))) for q in queries}  # the depth-3 head
    assert candidates["q5"] == 0 and sum(candidates.values()) > 4
    pairs = result["costs"]["pairs_scored"]
    assert pairs["per_query"] == candidates
    total = sum(candidates.values())
    assert pairs["total"] == total and pairs["mean_per_query"] == pytest.approx(total / 5) and pairs["queries"] == 5
    assert pairs["source"] == "measured"
    assert result["costs"]["scorer_calls"]["per_query"] == {q: int(candidates[q] > 0) for q in queries}
    assert result["phases"]["rerank"]["costs"] == {"scorer_calls": 4, "pairs_scored": total}


# -- nested scorers -------------------------------------------------------------------------------


def test_a_retriever_nesting_a_ranker_reports_exactly_the_pairs_it_scored(write_suite, tmp_path):
    WordScorer.calls.clear()
    outcome = run(write_suite, tmp_path, pipelines=["cascade"])
    result = cell_json(outcome, "cascade")
    assert result["status"] == "ok", result["error"]
    assert len(WordScorer.calls) == 10 and {n for _, n in WordScorer.calls} == {2, 3}  # anchors, then the budget
    costs = result["costs"]
    assert costs["scorer_calls"]["per_query"] == {q: 2 for q in ("q1", "q2", "q3", "q4", "q5")}
    assert costs["pairs_scored"]["per_query"] == {q: 5 for q in ("q1", "q2", "q3", "q4", "q5")}
    assert costs["pairs_scored"]["total"] == 25 and costs["pairs_scored"]["mean_per_query"] == 5
    phases = result["phases"]
    assert phases["word-scorer.prepare"]["cache"] == "miss"  # made ready once, named after its plugin
    assert list(phases).index("word-scorer.prepare") < list(phases).index("retrieve")  # not in its time
    assert phases["word-scorer.score"]["calls"] == 10 and phases["word-scorer.score"]["pairs"] == 25
    assert phases["retrieve"]["costs"] == {"scorer_calls": 10, "pairs_scored": 25}
    ranked = (outcome.run_dir / result["run_file"]).read_text().splitlines()
    assert sum(line.startswith("q1 ") for line in ranked) == 3  # its run: the budget


def setting(write_suite, tmp_path):
    suite, collection = collection_of(write_suite)
    stages = StageExecutor(REGISTRY, ArtifactCache(tmp_path / "cache"))
    spec = next(p for p in suite.pipelines if p.name == "cascade").retriever.params["ranker"]
    return collection, stages, spec


def test_ctx_scorer_makes_each_spec_ready_once_and_counts_into_its_context(write_suite, tmp_path):
    collection, stages, spec = setting(write_suite, tmp_path)
    phases = Phases()
    ctx = Context(collection=collection, cache=stages.cache)
    ctx.scorer = stages.scorers(collection, ctx, phases)
    scorer = ctx.scorer(spec)
    assert isinstance(scorer, Scorer) and ctx.scorer(spec) is scorer and scorer.plugin == "word-scorer"
    assert scorer.score("heat transfer", []) == []  # no texts: no call, nothing counted
    scores = scorer.score("heat transfer", [collection.text("d2"), collection.text("d1")], qid="q2")
    assert scores[0] > scores[1]
    scorer.score("wing", [collection.text("d1")])  # no query id: unattributed
    assert ctx.costs.per_query("pairs_scored") == {"q2": 2}
    summary = ctx.costs.summary(collection.queries)
    assert summary["pairs_scored"]["total"] == 2 and summary["pairs_scored"]["unattributed"] == 1
    assert phases.records["word-scorer.score"]["calls"] == 2
    # live (the latency loops): the same ready ranker, no phase record
    live_phases = Phases()
    live = Context(collection=collection, cache=stages.cache)
    live.scorer = stages.scorers(collection, live, live_phases, live=True)
    assert live.scorer(spec).ranker is scorer.ranker
    live.scorer(spec).score("wing", [collection.text("d1")], qid="q1")
    assert "word-scorer.score" not in live_phases.records
    assert live_phases.records["word-scorer.prepare"]["cache"] == "memory"
    assert live.costs.per_query("pairs_scored") == {"q1": 1} and ctx.costs.per_query("pairs_scored") == {"q2": 2}


def test_nested_garbage_names_the_ranker_and_the_query(write_suite, tmp_path):
    body = SUITE.replace('ranker = {plugin = "word-scorer"}', 'ranker = {plugin = "garbage", mode = "nan"}')
    outcome = run(write_suite, tmp_path, body, pipelines=["cascade"])
    error = cell_json(outcome, "cascade")["error"]
    assert error["type"] == "ComponentError"
    assert "ranker 'garbage': score_pairs for query 'q1': score 0 is nan" in error["message"]


def test_a_nested_ranker_that_cannot_score_pairs_fails_validation(write_suite):
    body = SUITE.replace('ranker = {plugin = "word-scorer"}', 'ranker = {plugin = "silent"}')
    with pytest.raises(SuiteError, match=r"ranker.plugin.*'silent' .*defines neither rerank.* nor score_pairs"):
        load_suite(write_suite(body), registry=REGISTRY)


def test_scorer_for_outside_a_runner_builds_the_ranker_once(write_suite, monkeypatch):
    from harness import plugins

    monkeypatch.setattr(plugins, "get_registry", lambda: REGISTRY)
    _, collection = collection_of(write_suite)
    ctx = Context(collection=collection)
    table = {"plugin": "word-scorer"}
    retriever = Cascade(ranker=table)
    retriever.index(collection, ctx)
    run_ = retriever.retrieve(collection.queries, 5, ctx)
    retriever.retrieve(collection.queries, 5, ctx)
    assert scorer_for(ctx, table) is scorer_for(ctx, table)
    assert set(run_) == set(collection.queries)
    assert ctx.costs.per_query("pairs_scored") == {q: 10 for q in collection.queries}  # two retrieve calls


def test_latency_loops_do_not_count_into_the_cell(write_suite, tmp_path):
    body = SUITE + ('\n[measure]\nlatency = ["single-stream", "offline"]\nwarmup = 1\nrepetitions = 2\n'
                    'min_duration = 0\nbootstrap_samples = 10\n')
    outcome = run(write_suite, tmp_path, body)
    plain = run(write_suite, tmp_path / "plain")
    for pipeline in ("scored", "cascade"):
        result = cell_json(outcome, pipeline)
        assert result["status"] == "ok", result["error"]
        assert result["latency"]["single_stream"]["passes"] >= 2
        assert result["costs"] == cell_json(plain, pipeline)["costs"], pipeline
    order = list(cell_json(outcome, "cascade")["phases"])
    assert order.index("word-scorer.prepare") < order.index("latency")  # made ready before the timing


# -- the conformance kit --------------------------------------------------------------------------


class TestAPairScoringRankerConforms(RankerContract):
    """A ranker with only ``score_pairs`` passes every ranker rule through the default rerank."""

    component = WordScorer

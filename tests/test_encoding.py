"""The Embedder capability and nested encoders: ``ctx.encoder(spec)`` through the stage executor,
``encoder_for`` outside a runner, and the checks on what an embedder returns (harness/encoding.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import WordOverlap, registry_with

from harness.cache import ArtifactCache
from harness.capabilities import Embedder, supports
from harness.components import Context, Retriever
from harness.datasets import load_dataset
from harness.encoding import Encoder, encoder_for
from harness.errors import ComponentError, HarnessError
from harness.params import Param
from harness.ranking import Run
from harness.runner import run_suite
from harness.stages import StageError, StageExecutor
from harness.suite import load_suite
from harness.timing import Phases

WORDS = ("heat", "transfer", "wing", "flow", "pressure", "shock", "layer", "boundary")


def bag(text: str) -> np.ndarray:
    """A text's vector: counts of a few words, L2-normalised (a zero text gets a constant)."""
    words = text.lower().split()
    v = np.array([words.count(w) for w in WORDS], dtype=np.float64) + 0.01
    return v / np.linalg.norm(v)


class Bag(Retriever):
    """Bag-of-words vectors, searched by dot product; hands its vectors out (Embedder)."""

    name = "bag"
    params = {"mode": Param(str, "ok", choices=("ok", "nan", "ids", "rows", "flat"))}
    setups = 0

    def setup(self, ctx):
        type(self).setups += 1

    def index(self, collection, ctx):
        self.ids, self.matrix = self.embed_corpus(collection, ctx)

    def retrieve(self, queries, k, ctx):
        q = self.embed_queries(list(queries.values()), ctx)
        return Run.from_scores({qid: dict(zip(self.ids, (self.matrix @ row).tolist(), strict=True))
                                for qid, row in zip(queries, q, strict=True)}).truncate(k)

    def embed_corpus(self, collection, ctx):
        ids = [d.id for d in collection.docs]
        matrix = np.stack([bag(collection.contents(d)) for d in collection.docs])
        if self.mode == "nan":
            matrix[0, 0] = np.nan
        if self.mode == "ids":
            ids = ids[::-1]
        if self.mode == "rows":
            matrix = matrix[1:]
        return ids, matrix

    def embed_queries(self, texts, ctx):
        out = np.stack([bag(t) for t in texts])
        return out.ravel() if self.mode == "flat" else out


class Nesting(Retriever):
    """Retrieves with a nested encoder's vectors (as dbnorm does)."""

    name = "nesting"
    params = {"encoder": Param("retriever", help="an embedder")}

    def index(self, collection, ctx):
        self.ids, self.docs = encoder_for(ctx, self.encoder).corpus(collection)

    def retrieve(self, queries, k, ctx):
        vectors = encoder_for(ctx, self.encoder).queries(list(queries.values()))
        scores = vectors @ self.docs.T
        return Run.from_scores({qid: dict(zip(self.ids, row.tolist(), strict=True))
                                for qid, row in zip(queries, scores, strict=True)}).truncate(k)


REGISTRY = registry_with(WordOverlap, Bag, Nesting)

SUITE = """
name = "encoding"
k = 5
metrics = ["nDCG@3"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "bag"
retriever = {plugin = "bag"}

[[pipelines]]
name = "nesting"
retriever = {plugin = "nesting", encoder = {plugin = "bag"}}
"""


def test_the_capability_is_checked_by_supports():
    from harness_transformers import Dense

    assert supports(Bag, Embedder) and supports(Dense, Embedder)
    assert not supports(WordOverlap, Embedder)


def setting(write_suite, tmp_path, body=SUITE):
    suite = load_suite(write_suite(body), registry=REGISTRY)
    collection = load_dataset(suite.datasets[0], REGISTRY, suite.base_dir)
    stages = StageExecutor(REGISTRY, ArtifactCache(tmp_path / "cache"))
    spec = next(p for p in suite.pipelines if p.name == "nesting").retriever.params["encoder"]
    return collection, stages, spec


def test_ctx_encoder_sets_up_each_spec_once_and_records_its_calls(write_suite, tmp_path):
    collection, stages, spec = setting(write_suite, tmp_path)
    phases = Phases()
    ctx = Context(collection=collection, cache=stages.cache)
    ctx.encoder = stages.encoders(collection, ctx, phases)
    Bag.setups = 0
    encoder = ctx.encoder(spec)
    assert isinstance(encoder, Encoder) and ctx.encoder(spec) is encoder and encoder.plugin == "bag"
    ids, matrix = encoder.corpus(collection)
    assert ids == [d.id for d in collection.docs] and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix[0], bag(collection.contents(collection.docs[0])), rtol=1e-6)
    queries = encoder.queries(["heat transfer", "wing"])
    assert queries.shape == (2, len(WORDS))
    assert Bag.setups == 1 and "bag.load_model" in phases.records
    record = phases.records["bag.embed"]
    assert record["calls"] == 2 and record["texts"] == len(ids) + 2
    # live (the latency loops): the same set-up retriever, no phase record of its calls
    live_phases = Phases()
    live = Context(collection=collection, cache=stages.cache)
    live.encoder = stages.encoders(collection, live, live_phases, live=True)
    assert live.encoder(spec).retriever is encoder.retriever and Bag.setups == 1
    assert "bag.embed" not in live_phases.records


def test_ctx_encoder_refuses_what_is_not_an_embedder(write_suite, tmp_path):
    body = SUITE.replace('encoder = {plugin = "bag"}', 'encoder = {plugin = "overlap"}')
    collection, stages, spec = setting(write_suite, tmp_path, body)
    ctx = Context(collection=collection)
    ctx.encoder = stages.encoders(collection, ctx, Phases())
    with pytest.raises(StageError, match="retriever 'overlap' cannot hand out its vectors"):
        ctx.encoder(spec)
    with pytest.raises(StageError, match="takes a retriever spec"):
        ctx.encoder({"plugin": "bag"})


@pytest.mark.parametrize(("mode", "message"), [
    ("nan", "embed_corpus returned vectors with NaN"),
    ("ids", "embed_corpus returned 8 ids that are not the collection's 8 document ids in corpus order"),
    ("rows", "embed_corpus returned 7 rows for 8 documents"),
])
def test_what_an_embedder_returns_is_checked(write_suite, tmp_path, mode, message):
    collection, _, _ = setting(write_suite, tmp_path)
    encoder = Encoder(Bag(mode=mode), Context(collection=collection))
    with pytest.raises(ComponentError, match=f"retriever 'bag': {message}"):
        encoder.corpus(collection)


def test_query_vectors_must_be_a_matrix(write_suite, tmp_path):
    encoder = Encoder(Bag(mode="flat"), Context())
    with pytest.raises(ComponentError, match=r"embed_queries returned an array of shape \(16,\), not a matrix"):
        encoder.queries(["heat", "wing"])


def test_encoder_for_outside_a_runner_builds_once(write_suite, tmp_path, monkeypatch):
    from harness import plugins

    monkeypatch.setattr(plugins, "get_registry", lambda: REGISTRY)
    collection, _, _ = setting(write_suite, tmp_path)
    ctx = Context(collection=collection)
    table = {"plugin": "bag"}
    Bag.setups = 0
    assert encoder_for(ctx, table) is encoder_for(ctx, table) and Bag.setups == 1
    nesting = Nesting(encoder=table)
    nesting.index(collection, ctx)
    ran = nesting.retrieve(collection.queries, 5, ctx)
    direct = Bag()
    direct.index(collection, ctx)
    expected = direct.retrieve(collection.queries, 5, ctx).scores
    for qid, docs in expected.items():  # the same vectors, in float32
        assert set(ran.scores[qid]) == set(docs)
        assert [ran.scores[qid][d] for d in docs] == pytest.approx(list(docs.values()), abs=1e-6)
    with pytest.raises(HarnessError, match="retriever 'bag': mode"):
        encoder_for(Context(collection=collection), {"plugin": "bag", "mode": "bad"})
    with pytest.raises(ComponentError, match="cannot hand out its vectors"):
        encoder_for(Context(collection=collection), {"plugin": "overlap"})


def test_a_suite_nesting_an_encoder_matches_the_retriever_and_keys_by_it(write_suite, tmp_path):
    suite = load_suite(write_suite(SUITE), registry=REGISTRY)
    outcome = run_suite(suite, results_dir=tmp_path / "results", registry=REGISTRY)
    by_name = {r["cell"]["pipeline"]: r for r in outcome.results}
    assert {r["status"] for r in outcome.results} == {"ok"}
    assert by_name["nesting"]["metrics"] == by_name["bag"]["metrics"]
    phases = by_name["nesting"]["phases"]
    assert any(name.endswith("bag.embed") for name in phases), sorted(phases)


def test_the_nested_encoder_is_in_the_nesting_stage_identity(write_suite, tmp_path):
    collection, stages, _ = setting(write_suite, tmp_path)
    ctx = Context(collection=collection)

    def identity(mode):
        body = SUITE.replace('encoder = {plugin = "bag"}', f'encoder = {{plugin = "bag", mode = "{mode}"}}')
        suite = load_suite(write_suite(body), registry=REGISTRY)
        spec = next(p for p in suite.pipelines if p.name == "nesting").retriever
        return stages.identity(spec, spec.build(), ctx)

    ok, nan = identity("ok"), identity("nan")
    assert ok["nested"][0]["plugin"] == "bag" and ok["nested"][0]["identity"]["mode"] == "ok"
    assert json.dumps(ok, sort_keys=True) != json.dumps(nan, sort_keys=True)

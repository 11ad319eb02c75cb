"""Small deterministic components for tests, and a registry that includes them.

They use the public contracts exactly as a plugin would; ``registry_with`` adds them to the
installed plugins as if a distribution named ``tests`` provided them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.components import Compressor, Ranker, Retriever
from harness.params import Param
from harness.plugins import ComponentInfo, PluginInfo, Registry, load_registry
from harness.ranking import Run


class WordOverlap(Retriever):
    """Scores a document by how many distinct query words it contains (ties by id)."""

    name = "overlap"
    params = {"weight": Param(float, 1.0, "score multiplier")}

    def index(self, collection, ctx):
        self.docs = {d.id: set(collection.contents(d).lower().split()) for d in collection.docs}

    def retrieve(self, queries, k, ctx):
        out = {}
        for qid, text in queries.items():
            words = set(text.lower().split())
            scored = {d: self.weight * len(words & w) for d, w in self.docs.items() if words & w}
            out[qid] = dict(sorted(scored.items(), key=lambda x: (-x[1], x[0]))[:k])
        return Run.from_scores(out)


class PersistentOverlap(WordOverlap):
    """WordOverlap whose index can be saved and loaded (exercises the index cache)."""

    name = "overlap-persistent"
    loads = 0

    def save(self, path: Path):
        path.mkdir(parents=True)
        (path / "index.json").write_text(json.dumps({d: sorted(w) for d, w in self.docs.items()}))

    def load(self, path: Path):
        type(self).loads += 1
        self.docs = {d: set(w) for d, w in json.loads((path / "index.json").read_text()).items()}


class Failing(Retriever):
    """Raises while retrieving."""

    name = "failing"

    def index(self, collection, ctx):
        pass

    def retrieve(self, queries, k, ctx):
        raise RuntimeError("this retriever always fails")


class Sleepy(WordOverlap):
    """WordOverlap that sleeps first (to be killed mid-suite)."""

    name = "sleepy"
    params = {**WordOverlap.params, "seconds": Param(float, 1.0), "tag": Param(int, 0, "makes configs differ")}

    def retrieve(self, queries, k, ctx):
        time.sleep(self.seconds)
        return super().retrieve(queries, k, ctx)


class Reverse(Ranker):
    """Reverses the candidates' order (scores 1..n from the bottom)."""

    name = "reverse"

    def rerank(self, queries, candidates, ctx):
        return Run.from_scores({q: {d: float(i) for i, d in enumerate(docs)} for q, docs in candidates.items()})


class Fusion(Retriever):
    """Reciprocal rank fusion over nested retrievers, run through ctx.retrieve."""

    name = "fusion"
    params = {"retrievers": Param("retriever", many=True), "k0": Param(int, 60)}

    def index(self, collection, ctx):
        pass

    def retrieve(self, queries, k, ctx):
        scores: dict[str, dict[str, float]] = {}
        for spec in self.retrievers:
            run = ctx.retrieve(spec, queries, k)
            for qid, docs in run.items():
                for rank, doc in enumerate(docs, 1):
                    scores.setdefault(qid, {}).setdefault(doc, 0.0)
                    scores[qid][doc] += 1.0 / (self.k0 + rank)
        return Run.from_scores({q: dict(sorted(d.items(), key=lambda x: -x[1])[:k]) for q, d in scores.items()})


class CompressibleOverlap(WordOverlap):
    """WordOverlap exposing a fake "module" (its weight) to compressors."""

    name = "overlap-compressible"

    def torch_modules(self):
        return {"scorer": {"weight": self.weight}}

    def replace_torch_modules(self, modules):
        self.weight = modules["scorer"]["weight"]


class Halve(Compressor):
    """Halves the fake module's weight and reports it."""

    name = "halve"

    def compress(self, modules, ctx):
        before = modules["scorer"]["weight"]
        modules = {"scorer": {"weight": before / 2}}
        return modules, {"parameters_before": 1, "parameters_after": 1, "weight": [before, before / 2]}


ALL = [WordOverlap, PersistentOverlap, Failing, Sleepy, Reverse, Fusion, CompressibleOverlap, Halve]


def registry_with(*classes: type, env: dict | None = None) -> Registry:
    """The installed plugins plus ``classes`` (default: all fakes), from distribution 'tests'."""
    registry = load_registry(env)
    fake = PluginInfo("tests.fakes", "tests", "0.0.1")
    fake.components = [
        ComponentInfo(cls.kind, cls.name, cls, fake.name, fake.distribution, fake.version)
        for cls in (classes or ALL)
    ]
    return Registry(registry.plugins + [fake])

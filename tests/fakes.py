"""Small deterministic components for tests, and a registry that includes them.

They use the public contracts exactly as a plugin would, and this module is a plugin (its hooks are
at the end): ``HARNESS_PLUGIN_MODULES=fakes`` registers it, in this process and in the worker
processes of isolated cells, which inherit the variable. ``registry_with()`` is the installed
plugins plus this one.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from harness import hookimpl
from harness.components import Compressor, Metric, MetricValue, Ranker, Retriever
from harness.params import Param
from harness.plugins import MODULES_ENV, ComponentInfo, PluginInfo, Registry, load_registry
from harness.ranking import Run

MIB = 2**20


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


class Paced(WordOverlap):
    """WordOverlap that takes a known time per query (sleeps ``ms`` per query in the call)."""

    name = "paced"
    params = {**WordOverlap.params, "ms": Param(float, 5.0, "milliseconds per query")}

    def retrieve(self, queries, k, ctx):
        time.sleep(self.ms / 1000 * len(queries))
        return super().retrieve(queries, k, ctx)


class Chatty(WordOverlap):
    """WordOverlap that reports progress on every call, as bm25 does."""

    name = "chatty"

    def retrieve(self, queries, k, ctx):
        with ctx.progress.task("chatty: retrieving", total=len(queries)):
            return super().retrieve(queries, k, ctx)


class Hog(WordOverlap):
    """WordOverlap whose index phase holds ``mib`` MiB (every page written) and frees it."""

    name = "hog"
    params = {**WordOverlap.params, "mib": Param(int, 256)}

    def index(self, collection, ctx):
        block = bytearray(b"\x01") * (self.mib * MIB)  # written, so resident (calloc'd zeros would not be)
        super().index(collection, ctx)
        del block


class Doomed(WordOverlap):
    """Its process is killed by SIGKILL while indexing, as the out-of-memory killer does."""

    name = "doomed"

    def index(self, collection, ctx):
        os.kill(os.getpid(), signal.SIGKILL)


class TwoStep(WordOverlap):
    """WordOverlap through the two-step protocol: encode_queries, then search; with a model to load."""

    name = "two-step"
    setups = 0

    def setup(self, ctx):
        type(self).setups += 1
        self.model = FakeModule(1000, 24)

    def torch_modules(self):
        return {"encoder": self.model}

    def encode_queries(self, queries):
        return {qid: set(text.lower().split()) for qid, text in queries.items()}

    def search(self, vectors, k):
        return super().retrieve({qid: " ".join(words) for qid, words in vectors.items()}, k, None)

    def retrieve(self, queries, k, ctx):
        return self.search(self.encode_queries(queries), k)


class Mortal(WordOverlap):
    """Kills a process with SIGKILL while indexing, until ``marker`` exists (it creates it first):
    its own (``target = "self"``, as the out-of-memory killer would) or its parent, a Dask worker
    (``"worker"``: a machine lost mid-cell). ``always`` kills on every attempt."""

    name = "mortal"
    params = {**WordOverlap.params, "marker": Param(str, "", "file that says the kill happened"),
              "target": Param(str, "worker", choices=("worker", "self")), "always": Param(bool, False)}

    def index(self, collection, ctx):
        marker = Path(self.marker)
        if self.always or not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getppid() if self.target == "worker" else os.getpid(), signal.SIGKILL)
            time.sleep(30)  # a killed worker takes this process along (PR_SET_PDEATHSIG)
        super().index(collection, ctx)


class ShardedOverlap(PersistentOverlap):
    """PersistentOverlap through the shard protocol (executors/shards.py): each shard's word sets
    in a JSON file, merged in corpus order."""

    name = "overlap-sharded"

    def index_shard(self, collection, shard, folder, ctx):
        docs = collection.docs[shard.start:shard.stop]
        words = {d.id: sorted(set(collection.contents(d).lower().split())) for d in docs}
        (folder / "words.json").write_text(json.dumps({"pid": os.getpid(), "words": words}))

    def merge_index(self, collection, folders, ctx):
        self.docs, self.shard_pids = {}, []
        for folder in folders:
            part = json.loads((folder / "words.json").read_text())
            self.docs.update({d: set(w) for d, w in part["words"].items()})
            self.shard_pids.append(part["pid"])
        assert list(self.docs) == [d.id for d in collection.docs], "shards merged out of corpus order"


class FakeParameter:
    def __init__(self, numel: int, element_size: int):
        self._numel, self._size = numel, element_size

    def numel(self):
        return self._numel

    def element_size(self):
        return self._size


class FakeModule:
    """What ``parameter_bytes`` reads of a torch module: ``parameters()`` (one tensor shared twice)."""

    def __init__(self, rows: int, cols: int):
        self.weight = FakeParameter(rows * cols, 4)

    def parameters(self):
        return [self.weight, self.weight, FakeParameter(3, 2)]


ALL = [WordOverlap, PersistentOverlap, Failing, Sleepy, Reverse, Fusion, CompressibleOverlap, Halve, Paced, Chatty,
       Hog, Doomed, TwoStep, Mortal, ShardedOverlap]


@hookimpl
def harness_retrievers():
    return [c for c in ALL if c.kind == "retriever"]


@hookimpl
def harness_rankers():
    return [c for c in ALL if c.kind == "ranker"]


@hookimpl
def harness_compressors():
    return [c for c in ALL if c.kind == "compressor"]


def plugin_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with this module registered through HARNESS_PLUGIN_MODULES."""
    env = dict(os.environ if env is None else env)
    env[MODULES_ENV] = ",".join(filter(None, [env.get(MODULES_ENV, ""), "fakes"]))
    return env


def registry_with(*classes: type, env: dict | None = None) -> Registry:
    """The installed plugins plus these fakes: all of them through the plugin hooks, or only
    ``classes``, listed as if a distribution named ``tests`` provided them."""
    if not classes:
        return load_registry(plugin_env(env))
    registry = load_registry(env)
    fake = PluginInfo("tests.fakes", "tests", "0.0.1")
    fake.components = [ComponentInfo(cls.kind, cls.name, cls, fake.name, fake.distribution, fake.version)
                       for cls in classes]
    return Registry(registry.plugins + [fake])


# -- artifacts (harness/artifacts.py): stages that publish by-products, a metric that needs one ---


class Publisher(WordOverlap):
    """WordOverlap that publishes its vocabulary as the artifact ``words`` when indexed, as a dense
    retriever publishes its vectors."""

    name = "publisher"
    indexed = 0

    def index(self, collection, ctx):
        type(self).indexed += 1
        super().index(collection, ctx)
        ctx.artifacts["words"] = sorted(set().union(*self.docs.values()))


class PreparedReverse(Reverse):
    """Reverse that publishes the artifact ``prepared`` (the collection's name) when prepared."""

    name = "reverse-prepared"

    def prepare(self, collection, ctx):
        ctx.artifacts["prepared"] = collection.name


class Vocabulary(Metric):
    """The number of distinct words the retriever indexed, from the ``words`` artifact."""

    name = "vocabulary"
    requires = ("words",)
    per_query = False
    upper_bound = None
    cutoff_rule = "none"

    def evaluate(self, qrels, run, ctx):
        return MetricValue(float(len(ctx.artifacts["words"])), None)


ALL += [Publisher, PreparedReverse]


@hookimpl
def harness_metrics():
    return [Vocabulary]

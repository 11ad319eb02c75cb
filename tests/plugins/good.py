"""A well-behaved plugin: one component of every kind, one hook each."""

import harness
from harness.collection import Collection, Document
from harness.components import Compressor, DatasetProvider, Metric, MetricValue, Ranker, Retriever
from harness.params import Param
from harness.ranking import Run


class GoodRetriever(Retriever):
    """Scores documents by the number of query words they contain."""

    name = "good-retriever"
    params = {"weight": Param(float, 1.0, "score multiplier", min=0)}

    def index(self, collection, ctx):
        self.docs = {d.id: set(collection.contents(d).lower().split()) for d in collection.docs}

    def retrieve(self, queries, k, ctx):
        out = {}
        for qid, text in queries.items():
            words = set(text.lower().split())
            scored = {d: self.weight * len(words & w) for d, w in self.docs.items() if words & w}
            out[qid] = dict(sorted(scored.items(), key=lambda x: (-x[1], x[0]))[:k])
        return Run.from_scores(out)


class GoodRanker(Ranker):
    """Keeps the candidates' order."""

    name = "good-ranker"

    def rerank(self, queries, candidates, ctx):
        return Run.from_ranked({q: candidates.ranked(q) for q in candidates})


class GoodCompressor(Compressor):
    """Returns the modules unchanged, with an empty report."""

    name = "good-compressor"

    def compress(self, modules, ctx):
        return dict(modules), {}


class GoodHits(Metric):
    """Number of retrieved documents per query (no upper bound)."""

    name = "GoodHits"
    params = {"cutoff": Param(int, None, nullable=True, min=1)}
    upper_bound = None

    def evaluate(self, qrels, run, ctx):
        per_query = {q: float(len(run.ranked(q)[: self.cutoff])) for q in qrels}
        return MetricValue(sum(per_query.values()) / max(len(per_query), 1), per_query)


class GoodDataset(DatasetProvider):
    """Two documents, one query."""

    name = "good-dataset"
    source_param = "label"
    params = {"label": Param(str, "good")}

    def load(self, ctx):
        docs = [Document("d1", "a b"), Document("d2", "b c")]
        return Collection(self.label, docs, {"q1": "a"}, {"q1": {"d1": 1}})


@harness.hookimpl
def harness_retrievers():
    return [GoodRetriever]


@harness.hookimpl
def harness_rankers():
    return [GoodRanker]


@harness.hookimpl
def harness_compressors():
    return [GoodCompressor]


@harness.hookimpl
def harness_metrics():
    return [GoodHits]


@harness.hookimpl
def harness_dataset_providers():
    return [GoodDataset]

"""Plugins that misbehave on purpose, for the regression corpus (tests/fuzz).

A plugin module like tests/fakes.py: ``HARNESS_PLUGIN_MODULES=badplugins`` (with tests/fuzz on
``PYTHONPATH``) registers it, in this process and in isolated cells' workers. One well-behaved
retriever (``fz-overlap``) and, each with a ``mode`` parameter saying how to misbehave, a retriever
(``fz-bad``), a ranker (``fz-badrank``) and a metric (``FzBad``). Their output bypasses the
checking constructors (``Run(dict)`` keeps what it is given), as a careless plugin's would.
"""

from __future__ import annotations

import math

from harness import hookimpl
from harness.components import Metric, MetricValue, Ranker, Retriever
from harness.params import Param
from harness.ranking import Run

RETRIEVER_MODES = ("ok", "nan", "inf", "neginf", "huge", "close", "dup", "unknown", "unsorted", "raise", "none",
                   "dict", "list", "strscores", "intids", "extraquery", "missingquery", "toomany", "empty",
                   "emptyall", "spaceid", "hashid", "nulid", "negzero", "boolscores", "float32", "emptyid",
                   "keyerror", "systemexit", "bigrun", "ties")
RANKER_MODES = ("ok", "nan", "raise", "drop", "add", "unsorted", "none", "inf", "huge", "ties", "dict",
                "emptyall", "negative")
METRIC_MODES = ("ok", "nan", "inf", "raise", "none", "float", "pqnan", "pqextra", "straggr", "huge", "negative",
                "pqlist", "pqmissing", "pqstr")


def _overlap(docs: dict[str, set[str]], text: str, k: int) -> dict[str, float]:
    words = set(text.lower().split())
    scored = {d: float(len(words & w)) for d, w in docs.items() if words & w}
    return dict(sorted(scored.items(), key=lambda x: (-x[1], x[0]))[:k])


class FzOverlap(Retriever):
    """Word overlap (distinct query words in the document), sorted, ties by id: well behaved."""

    name = "fz-overlap"

    def index(self, collection, ctx):
        self.docs = {d.id: set(str(collection.contents(d)).lower().split()) for d in collection.docs}

    def retrieve(self, queries, k, ctx):
        return Run.from_scores({q: _overlap(self.docs, t, k) for q, t in queries.items()})


class FzBad(FzOverlap):
    """Word overlap, then damaged as ``mode`` says."""

    name = "fz-bad"
    params = {"mode": Param(str, "ok", choices=RETRIEVER_MODES)}

    def retrieve(self, queries, k, ctx):
        mode = self.mode
        good = {q: _overlap(self.docs, t, k) for q, t in queries.items()}
        first = next(iter(good), None)
        if mode == "ok":
            return Run.from_scores(good)
        if mode == "raise":
            raise RuntimeError("fz-bad: this retriever raises")
        if mode == "keyerror":
            raise KeyError("missing")
        if mode == "systemexit":
            raise SystemExit(3)
        if mode == "none":
            return None
        if mode == "dict":
            return good
        if mode == "list":
            return [(q, d, s) for q, docs in good.items() for d, s in docs.items()]
        out = {q: dict(docs) for q, docs in good.items()}
        some = [q for q in out if out[q]]
        q0 = some[0] if some else first
        if mode in ("nan", "inf", "neginf", "huge", "close", "negzero", "ties"):
            for q in some:
                docs = list(out[q])
                if mode == "nan":
                    out[q][docs[-1]] = math.nan
                elif mode == "inf":
                    out[q][docs[0]] = math.inf
                elif mode == "neginf":
                    out[q][docs[-1]] = -math.inf
                elif mode == "huge":  # distinct as doubles, all inf as C floats (trec_eval's)
                    out[q] = {d: 1e39 * (len(docs) - i) for i, d in enumerate(sorted(docs))}
                elif mode == "close":  # distinct as doubles, one value as C floats
                    out[q] = {d: 1.0 + 1e-12 * (len(docs) - i) for i, d in enumerate(sorted(docs))}
                elif mode == "negzero":
                    out[q] = {d: (-0.0 if i % 2 else 0.0) for i, d in enumerate(docs)}
                elif mode == "ties":  # one score, ids ascending (trec_eval: descending)
                    out[q] = {d: 1.0 for d in sorted(docs)}
            return Run(out)
        if mode == "dup":
            return Run.from_scores({q: list(d.items()) + list(d.items())[:1] for q, d in out.items()})
        if mode == "unknown":
            for q in some:
                out[q]["zz-not-in-corpus"] = 0.5
            return Run({q: dict(sorted(d.items(), key=lambda x: -x[1])) for q, d in out.items()})
        if mode == "unsorted":
            return Run({q: dict(sorted(d.items(), key=lambda x: x[1])) for q, d in out.items()})
        if mode == "strscores":
            return Run({q: {d: str(s) for d, s in docs.items()} for q, docs in out.items()})
        if mode == "boolscores":
            return Run({q: {d: bool(s) for d, s in docs.items()} for q, docs in out.items()})
        if mode == "float32":
            import numpy as np
            return Run({q: {d: np.float32(s) + np.float32(0.1) for d, s in docs.items()} for q, docs in out.items()})
        if mode == "intids":
            return Run({q: {i: s for i, (d, s) in enumerate(docs.items())} for q, docs in out.items()})
        if mode == "extraquery":
            out["fz-extra-query"] = {"d1": 1.0}
            return Run(out)
        if mode == "missingquery":
            out.pop(q0, None)
            return Run(out)
        if mode == "toomany":
            for q in some:
                for i, d in enumerate(self.docs):
                    out[q].setdefault(d, -1.0 - i)
            return Run.from_scores(out) if k >= len(self.docs) else Run(out)
        if mode == "empty":
            out[q0] = {}
            return Run(out)
        if mode == "emptyall":
            return Run({q: {} for q in out})
        if mode == "spaceid":
            for q in some:
                out[q]["d 1"] = 0.25
            return Run(out)
        if mode == "hashid":
            for q in some:
                out[q]["#d1"] = 0.25
            return Run(out)
        if mode == "nulid":
            for q in some:
                out[q][next(iter(out[q])) + "\x00x"] = 0.25
            return Run(out)
        if mode == "emptyid":
            for q in some:
                out[q][""] = 0.25
            return Run(out)
        if mode == "bigrun":
            return Run.from_scores({q: {f"x{i}": float(-i) for i in range(k * 3)} for q in out})
        raise AssertionError(mode)


class FzBadRank(Ranker):
    """Reverses the candidates (scores n..1 from the bottom), then damaged as ``mode`` says."""

    name = "fz-badrank"
    params = {"mode": Param(str, "ok", choices=RANKER_MODES)}

    def rerank(self, queries, candidates, ctx):
        mode = self.mode
        out = {q: {d: float(i + 1) for i, d in enumerate(docs)} for q, docs in candidates.items()}
        out = {q: dict(sorted(d.items(), key=lambda x: -x[1])) for q, d in out.items()}
        some = [q for q in out if out[q]]
        if mode == "ok":
            return Run.from_scores(out)
        if mode == "raise":
            raise ValueError("fz-badrank: this ranker raises")
        if mode == "none":
            return None
        if mode == "dict":
            return out
        for q in some:
            docs = list(out[q])
            if mode == "nan":
                out[q][docs[0]] = math.nan
            elif mode == "inf":
                out[q][docs[-1]] = math.inf
            elif mode == "huge":
                out[q] = {d: 1e39 * (i + 1) for i, d in enumerate(docs)}
            elif mode == "drop":
                del out[q][docs[0]]
            elif mode == "add":
                out[q]["zz-not-a-candidate"] = 100.0
            elif mode == "unsorted":
                out[q] = dict(sorted(out[q].items(), key=lambda x: x[1]))
            elif mode == "ties":
                out[q] = {d: 1.0 for d in sorted(docs)}
            elif mode == "negative":
                out[q] = {d: -s for d, s in out[q].items()}
        if mode == "emptyall":
            out = {q: {} for q in out}
        return Run(out)


class FzBadMetric(Metric):
    """A per-query metric (the share of the top 3 that is judged relevant), damaged as ``mode`` says."""

    name = "FzBad"
    params = {"mode": Param(str, "ok", choices=METRIC_MODES)}
    upper_bound = None
    cutoff_rule = "none"

    def evaluate(self, qrels, run, ctx):
        mode = self.mode
        per_query = {}
        for q, rels in qrels.items():
            top = list(run[q])[:3] if q in run else []
            per_query[q] = sum(1 for d in top if rels.get(d, 0) > 0) / 3
        mean = sum(per_query.values()) / len(per_query) if per_query else 0.0
        if mode == "raise":
            raise ZeroDivisionError("FzBad: this metric raises")
        if mode == "none":
            return None
        if mode == "float":
            return mean
        if mode == "nan":
            return MetricValue(math.nan, per_query)
        if mode == "inf":
            return MetricValue(math.inf, per_query)
        if mode == "huge":
            return MetricValue(1.7e308, per_query)
        if mode == "negative":
            return MetricValue(-1.0, {q: -1.0 for q in per_query})
        if mode == "straggr":
            return MetricValue(str(mean), per_query)
        if mode == "pqnan":
            return MetricValue(mean, {**per_query, next(iter(per_query)): math.nan} if per_query else per_query)
        if mode == "pqextra":
            return MetricValue(mean, {**per_query, "fz-unknown-query": 0.5})
        if mode == "pqlist":
            return MetricValue(mean, list(per_query.values()))
        if mode == "pqmissing":
            return MetricValue(mean, dict(list(per_query.items())[1:]))
        if mode == "pqstr":
            return MetricValue(mean, {q: str(v) for q, v in per_query.items()})
        return MetricValue(mean, per_query)


@hookimpl
def harness_retrievers():
    return [FzOverlap, FzBad]


@hookimpl
def harness_rankers():
    return [FzBadRank]


@hookimpl
def harness_metrics():
    return [FzBadMetric]

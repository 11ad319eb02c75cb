"""Pair scoring through the runner: checked, counted calls of a ranker's ``score_pairs``.

A ranker that defines ``score_pairs(query, texts, ctx) -> Sequence[float]`` (the ``PairScorer``
capability, capabilities.py) can be used two more ways than as a pipeline's reranker:

* it needs no ``rerank`` of its own: ``Ranker.rerank``'s default (``rerank_by_pairs``) scores each
  query's candidates in one ``score_pairs`` call;
* another component can nest it: a parameter declared ``Param("ranker")`` holds a ranker table
  (``ranker = {plugin = "cross-encoder", model = "..."}``, validated with the suite), and
  ``ctx.scorer(spec)`` returns a ``Scorer``, the ranker built, set up and prepared once by the
  runner's stage executor (its phases named after its plugin, as nested retrievers' are), whose
  ``score(query, texts, qid=None)`` scores any texts for a query.

Every call through either is checked (one finite number per text, within single precision's
range as trec_eval reads scores: anything else is a ``ComponentError`` naming the ranker and the
query) and counted into ``ctx.costs`` (costs.py):
``scorer_calls`` +1 and ``pairs_scored`` + the number of texts, on the query ``qid`` names. A
call with no texts is answered ``[]`` without calling the ranker, and counts nothing.

Outside a runner (a notebook, the conformance kit) ``ctx.scorer`` is None; ``scorer_for(ctx,
spec)`` works either way: through the runner when there is one, else it builds the ranker itself
(once per spec and context) on ``ctx.collection``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any

from .capabilities import PairScorer, supports
from .contracts import FLOAT32_MAX
from .costs import PAIRS_SCORED, SCORER_CALLS
from .errors import ComponentError, HarnessError

if TYPE_CHECKING:
    from .components import Context
    from .ranking import Run


def who(ranker) -> str:
    """How errors name a ranker: ``ranker 'cross-encoder'``."""
    cls = type(ranker)
    return f"ranker {getattr(cls, 'name', '') or cls.__name__!r}"


def _query_text(query: str, qid: str | None) -> str:
    if qid is not None:
        return f"query {qid!r}"
    return f"query {query[:60] + ('...' if len(query) > 60 else '')!r}"


def check_scores(values: Any, count: int, ranker, query: str, qid: str | None) -> list[float]:
    """``values`` as a list of ``count`` finite floats, or a ``ComponentError`` saying what is wrong."""
    where = f"{who(ranker)}: score_pairs for {_query_text(query, qid)}"
    if hasattr(values, "tolist") and callable(values.tolist):  # numpy arrays, torch tensors
        values = values.tolist()
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise ComponentError(f"{where} returned {type(values).__name__}, not a sequence of {count} numbers")
    if len(values) != count:
        raise ComponentError(f"{where} returned {len(values)} scores for {count} texts")
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ComponentError(f"{where}: score {i} is {type(value).__name__} {value!r}, not a number")
        value = float(value)
        if not math.isfinite(value):
            raise ComponentError(f"{where}: score {i} is {value}, not a finite number")
        if abs(value) > FLOAT32_MAX:  # trec_eval reads it as an infinity, tied with every other such score
            raise ComponentError(f"{where}: score {i} is {value!r}, beyond single precision's range "
                                 "(±3.4028235e38) in which trec_eval reads scores")
        out.append(value)
    return out


def call_scorer(ranker, query: str, texts: Sequence[str], ctx: Context, qid: str | None = None) -> list[float]:
    """``ranker.score_pairs(query, texts, ctx)`` checked, and counted into ``ctx.costs``."""
    texts = list(texts)
    if not isinstance(query, str) or not all(isinstance(t, str) for t in texts):
        raise ComponentError(f"{who(ranker)}: pair scoring takes a query string and document strings")
    if not texts:
        return []
    scores = check_scores(ranker.score_pairs(query, texts, ctx), len(texts), ranker, query, qid)
    ctx.costs.add(qid, **{SCORER_CALLS: 1, PAIRS_SCORED: len(texts)})
    return scores


def rerank_by_pairs(ranker, queries: Mapping[str, str], candidates: Run, ctx: Context) -> Run:
    """``Ranker.rerank``'s default for a ranker with ``score_pairs``: each query's candidates (their
    texts from ``ctx.collection``) scored in one call, ordered by score as trec_eval orders them."""
    from .components import Progress
    from .ranking import Run

    collection = ctx.collection
    if collection is None:
        raise ComponentError(f"{who(ranker)}: the default rerank reads the candidates' texts from "
                             "ctx.collection, which is None (give the Context its collection)")
    quiet = dataclasses.replace(ctx, progress=Progress())  # one bar for the stage, not one per query
    out: dict[str, dict[str, float]] = {}
    with ctx.progress.task(f"{type(ranker).name}: scoring candidates", total=len(candidates)) as advance:
        for qid in candidates:
            docs = [doc for doc, _ in candidates.ranked(qid)]
            if docs:
                texts = []
                for doc in docs:
                    try:
                        texts.append(collection.text(doc))
                    except KeyError:
                        raise ComponentError(f"{who(ranker)}: candidate {doc!r} of query {qid!r} is not a "
                                             "document of the collection") from None
                out[qid] = dict(zip(docs, call_scorer(ranker, queries[qid], texts, quiet, qid), strict=True))
            advance(1)
    return Run.from_scores(out)


class Scorer:
    """A ready ranker's pair scoring, as ``ctx.scorer(spec)`` hands it out: ``score`` is
    ``score_pairs`` checked and counted into the costs of the context it was made for."""

    def __init__(self, ranker, ctx: Context, record: dict | None = None):
        self.ranker = ranker
        self._ctx = dataclasses.replace(ctx, progress=_silent())  # no progress bar per call
        self._record = record  # the nested scorer's phase record: calls, pairs, host seconds

    @property
    def plugin(self) -> str:
        return type(self.ranker).name

    def score(self, query: str, texts: Sequence[str], qid: str | None = None) -> list[float]:
        """One finite score per text for ``query``, in their order; ``qid`` (the query's id) is
        where the counts go (None: counted as unattributed work)."""
        if qid is not None and not isinstance(qid, str):
            raise ComponentError(f"{who(self.ranker)}: qid must be a query id string or None, got {qid!r}")
        started = time.perf_counter()
        scores = call_scorer(self.ranker, query, texts, self._ctx, qid)
        if self._record is not None and scores:
            self._record["seconds"] = round(self._record["seconds"] + time.perf_counter() - started, 6)
            self._record["calls"] += 1
            self._record["pairs"] += len(scores)
        return scores

    def __repr__(self) -> str:
        return f"Scorer({self.ranker!r})"


def _silent():
    from .components import Progress

    return Progress()


def scorer_for(ctx: Context, spec) -> Scorer:
    """``ctx.scorer(spec)``; outside a runner (``ctx.scorer`` is None) it first makes
    ``ctx.scorer`` a factory that builds, sets up and prepares each spec once on ``ctx.collection``."""
    if ctx.scorer is None:
        ctx.scorer = standalone_scorers(ctx)
    return ctx.scorer(spec)


def standalone_scorers(ctx: Context) -> Callable[[Any], Scorer]:
    """A ``ctx.scorer`` without a runner: a suite's validated ranker spec, or a plain table
    ``{"plugin": "cross-encoder", ...}`` looked up among the installed plugins, built, set up and
    prepared on ``ctx.collection`` the first time it is asked for."""
    made: dict[int, tuple[Any, Scorer]] = {}

    def scorer(spec) -> Scorer:
        if id(spec) not in made:
            if ctx.collection is None:
                raise HarnessError("a nested scorer needs ctx.collection (the collection its ranker prepares on)")
            ranker = _build(spec)
            require_pair_scorer(ranker, "")
            own = dataclasses.replace(ctx, artifacts={}, phase={})
            ranker.setup(own)
            ranker.prepare(ctx.collection, own)
            made[id(spec)] = (spec, Scorer(ranker, own))  # the spec kept alive: its id stays its own
        return made[id(spec)][1]

    return scorer


def require_pair_scorer(ranker, where: str) -> None:
    """A ``ComponentError`` unless ``ranker`` can score pairs."""
    if not supports(ranker, PairScorer):
        raise ComponentError(f"{where}{who(ranker)} cannot score pairs: it defines no score_pairs(query, texts, "
                             "ctx), which a nested scorer (ctx.scorer) needs")


def _build(spec):
    return build_nested(spec, "ranker", "ctx.scorer")


def build_nested(spec, kind: str, where: str):
    """A nested component, outside a runner: from a plain table (checked against the installed
    ``kind`` plugin's parameters) or from a ``StageSpec`` of that kind. ``where`` names the
    context method the spec was meant for, in the error."""
    if isinstance(spec, Mapping):
        from .params import check_params
        from .plugins import get_registry

        cls = get_registry().get(kind, spec.get("plugin"))
        params = {key: value for key, value in spec.items() if key != "plugin"}
        problems = check_params(cls.params, params)
        if problems:
            raise HarnessError(f"{kind} {spec['plugin']!r}: " + "; ".join(f"{k}: {why}" for k, why in problems))
        return cls(**params)
    if getattr(spec, "kind", None) != kind:
        raise ComponentError(f"{where} takes a {kind} spec (a parameter declared Param(\"{kind}\")), got {spec!r}")
    return spec.build()

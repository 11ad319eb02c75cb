"""Recall of an exact top-k: how much of a reference run's top k a run's top k holds.

Approximate search (HNSW, IVF, product quantisation) and approximated scorers (a cross-encoder
replaced by a cheaper estimate) are judged against the exact method they approximate, with no
relevance judgments: for each query,

    |top-k(run) ∩ top-k(reference)| / min(k, |top-k(reference)|)

where top-k is a query's first k documents in trec_eval's order (score descending, ties by
document id descending: the order a ``Run`` keeps), so ties at the cutoff are cut the way
trec_eval would cut them. A query whose reference top k is empty (the exact method returned
nothing) scores ``EMPTY_REFERENCE`` = 1.0: there is nothing to miss. A query the run has no
documents for scores 0 (unless its reference is empty too).

The built-in metric ``ExactRecall@k`` (harness/builtin/exact.py) computes it against the run of a
reference retriever spec, produced through the runner (``ctx.retrieve``) and so cached like any
stage; ``reference_spec`` validates such a spec outside a suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import HarnessError
from .ranking import Run

if TYPE_CHECKING:
    from .plugins import Registry
    from .suite import StageSpec

EMPTY_REFERENCE = 1.0


class ReferenceSpecError(HarnessError, ValueError):
    """A reference retriever spec that does not validate; the message lists every problem."""


def top_k(run: Run, qid: str, k: int) -> list[str]:
    """The first ``k`` document ids of ``qid`` in ``run``, in trec_eval's order."""
    return [doc for doc, _ in run.ranked(qid)[:k]]


def recall_of_exact(
    run: Run | Mapping[str, Mapping[str, float]],
    reference: Run | Mapping[str, Mapping[str, float]],
    k: int,
    queries: Iterable[str] | None = None,
) -> dict[str, float]:
    """Per query, |top-k(run) ∩ top-k(reference)| / min(k, |top-k(reference)|); 1.0 where the
    reference's top k is empty (see the module docstring).

    ``queries`` (default: every query of either run, sorted as trec_eval sorts them, as strings)
    says which queries get a value; plain ``{qid: {docid: score}}`` mappings are put in trec_eval's
    order first.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    run = run if isinstance(run, Run) else Run.from_scores(run)
    reference = reference if isinstance(reference, Run) else Run.from_scores(reference)
    if queries is None:
        queries = sorted(set(run) | set(reference))
    out = {}
    for qid in queries:
        exact = top_k(reference, qid, k)
        if not exact:
            out[qid] = EMPTY_REFERENCE
            continue
        found = set(top_k(run, qid, k))
        out[qid] = sum(doc in found for doc in exact) / min(k, len(exact))
    return out


def reference_spec(table: Mapping[str, Any] | StageSpec, registry: Registry | None = None) -> StageSpec:
    """A reference retriever table (``{"plugin": "dense", ...}``) validated as a suite validates a
    pipeline's retriever, nested specs included; a ``StageSpec`` is returned as it is. Raises
    ``ReferenceSpecError`` listing every problem."""
    from .plugins import get_registry
    from .suite import StageSpec
    from .suite.check import SuiteChecker

    if isinstance(table, StageSpec):
        return table
    checker = SuiteChecker("", registry or get_registry())
    spec = checker.stage(("reference",), "retriever", dict(table) if isinstance(table, Mapping) else table)
    if checker.problems or spec is None:
        listed = "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in checker.problems)
        raise ReferenceSpecError(f"reference retriever {dict(table) if isinstance(table, Mapping) else table!r}: "
                             f"{listed or 'not a retriever spec'}")
    return spec

"""The run-time contract checks: what every stage's run must be before anything else sees it.

The conformance kit (harness/testing) checks a component once, on its tiny collection; the runner
checks what the component actually returned, at every stage boundary of every cell
(pipeline.py), before a later stage, a metric or the run file sees it. The rules are the kit's:

* every score is a finite number (NaN and infinities are refused) within single precision's
  range: trec_eval reads scores as C ``float``, so a finite score beyond ±3.4028235e38 becomes an
  infinity there and ties with every other such score;
* each document at most once per query;
* query ids among the queries asked, document ids among the collection's (first stage only: a
  later stage reorders the documents of the run before it, which ``rerank_merge`` already holds
  to exactly those);
* the run in trec_eval's order (score descending as single precision, ties by document id
  descending) before any plugin metric or later stage reads it. A run built by ``Run.from_*`` is
  always read in that order; one built from dicts as given (``Run(dict)``) is checked, and
  re-sorted when it is not in that order (not an error: the scores say what the component meant,
  and trec_eval sorts by them too).

A violation raises ``ContractError`` (a ``ComponentError``) naming the component, the query and
the document: that cell fails, the others go on.

A component whose output may name ids the collection lacks by design, such as the ``trec-run``
retriever replaying someone else's run file, declares ``foreign_ids = "drop"`` (``FOREIGN_DROP``)
as a class attribute: its unknown queries and documents are then dropped and counted
(``Checked.dropped``, recorded in the stage record as ``foreign``) instead of failing the cell.

The checks are vectorised over the run's flat arrays (harness/ranking.py): one pass of numpy over
the scores, one set lookup per distinct document id (per pair for runs made from dicts), and
Python only for the queries and, in a run given as dicts, for documents tied on score.
"""

from __future__ import annotations

from collections.abc import Collection as Container
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .errors import ComponentError
from .ranking import Run

if TYPE_CHECKING:
    from .collection import Collection

FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite single-precision value: trec_eval reads a larger score as infinity."""

FOREIGN_FAIL, FOREIGN_DROP = "fail", "drop"
ForeignIds = Literal["fail", "drop"]


class ForeignIdsPolicy:
    """What a component declares about ids its output may hold that the collection lacks:
    ``foreign_ids = "fail"`` (the default: such an id fails the cell) or ``"drop"`` (dropped
    and counted, for components replaying someone else's output). Subclass it, or just set
    the class attribute: the runner reads ``foreign_ids`` with ``foreign_policy``."""

    foreign_ids: ClassVar[ForeignIds] = FOREIGN_FAIL


def foreign_policy(component: Any) -> ForeignIds:
    """``component``'s (a class or an instance) declared ``foreign_ids``; ``"fail"`` when it
    declares none. A value that is neither is a ``ComponentError``."""
    cls = component if isinstance(component, type) else type(component)
    value = getattr(cls, "foreign_ids", FOREIGN_FAIL)
    if value not in (FOREIGN_FAIL, FOREIGN_DROP):
        raise ComponentError(f"{getattr(cls, 'kind', 'component')} {getattr(cls, 'name', cls.__name__)!r}: "
                             f"foreign_ids must be {FOREIGN_FAIL!r} or {FOREIGN_DROP!r}, got {value!r}")
    return value


class ContractError(ComponentError, ValueError):
    """A stage's run broke the contract; the message names the component, the query and the
    document. Also a ``ValueError``, as ``Run``'s own checks raise."""


@dataclass
class Checked:
    """What ``check_run`` made of a run: the ``run`` to hand on (the one given, re-sorted, or
    with foreign ids dropped), whether it was ``resorted``, and what was ``dropped`` (None when
    nothing was: else counts and a few examples, as the stage record's ``foreign`` shows them)."""

    run: Run
    resorted: bool = False
    dropped: dict | None = None
    notes: list[str] = field(default_factory=list)


def who(kind: str, name: str) -> str:
    """How messages name a component: ``retriever 'bm25'``."""
    return f"{kind} {name!r}"


def check_run(run: Any, component: str, queries: Container[str] | None = None,
              collection: Collection | None = None, foreign: ForeignIds = FOREIGN_FAIL,
              scores_only: bool = False) -> Checked:
    """Check ``run`` (see the module docstring) as the output of ``component`` (``who(...)``);
    ``queries``: the query ids asked (None: not checked); ``collection``: whose documents are
    known (None: not checked). ``scores_only``: only the scores' range, for a run whose ids,
    types and order its making guarantees (a ranker stage's merge, ``Run.from_ranked``).
    Raises ``ContractError``; returns the run to hand on."""
    if not isinstance(run, Run):
        raise ContractError(f"{component} returned {type(run).__name__}, not a harness.ranking.Run")
    resorted = False
    if not scores_only:
        run, resorted = _plain_ids(run, component)
    flat = _Flat.of(run, component)
    _check_scores(flat, component)
    if scores_only:
        return Checked(run)
    dropped = None
    if queries is not None or collection is not None:
        run, dropped = _known(run, flat, component, queries, collection, foreign)
        if dropped is not None:
            flat = _Flat.of(run, component)
    if flat.ordered and not _in_trec_order(flat):
        run, resorted = Run.from_scores(run.scores), True
    checked = Checked(run, resorted, dropped)
    if resorted:
        checked.notes.append(f"{component}: the run was not in trec_eval's order (score descending, ties by "
                             "document id descending); sorted by its scores")
    return checked


def check_stage(run: Run, index: int, spec: Any, collection: Collection, queries: Container[str]) -> Checked:
    """The checks on stage ``index``'s run of a pipeline (``spec``: its ``StageSpec``): the first
    stage's on everything, against the queries asked and the collection's documents (dropped and
    counted instead when its component declares ``foreign_ids = "drop"``); a later stage's (a
    merge of its reordered head above the run before it, made by ``Run.from_ranked``, which
    holds exactly that run's documents once each, in the order it encodes) on its scores."""
    component = who(spec.kind, spec.plugin)
    if index == 0:
        return check_run(run, component, queries, collection, foreign_policy(spec.cls))
    return check_run(run, component, scores_only=True)


# -- the parts -----------------------------------------------------------------------------------


def _given(run: Run) -> dict | None:
    """The dicts of a run kept as given (``Run(dict)``, ``Run.from_ranked``), whose order is the
    run's; None for a run read in trec_eval's order by construction."""
    return run._sorted if run._pairs is None and run._base is None else None


def _plain_ids(run: Run, component: str) -> tuple[Run, bool]:
    """A run given as dicts (``Run(dict)``) whose scores are not all real numbers is refused,
    naming the query and document; one whose ids are not all str, or whose scores are not all
    plain ``float``/``int`` (numpy scalars), is rebuilt by ``Run.from_scores`` (ids made str, two
    becoming one refused; scores made float). Other runs are returned as
    they are."""
    given = _given(run)
    if given is None:
        return run, False
    from itertools import chain
    from numbers import Real

    kinds = set(map(type, chain.from_iterable(map(dict.values, given.values()))))
    if not all(issubclass(k, Real) and k is not bool for k in kinds):
        for qid, docs in given.items():
            for doc, score in docs.items():
                if isinstance(score, bool) or not isinstance(score, Real):
                    raise ContractError(f"{component}: query {qid!r}, document {doc!r}: score {score!r} is "
                                        f"{type(score).__name__}, not a number")
    # numpy scalars and float subclasses are numbers, but not what a run file or pytrec_eval can
    # take as they are (``np.float64(1.0)`` writes itself so): rebuilt, as plain floats, too
    if kinds <= {float, int} and set(map(type, given)) <= {str} \
            and set(map(type, chain.from_iterable(given.values()))) <= {str}:
        return run, False
    try:
        return Run.from_scores(given), True
    except ValueError as exc:
        raise ContractError(f"{component}: {exc}") from None


class _Flat:
    """A run's pairs in the run's order, flat: ``names`` (query ids), ``lengths`` (pairs per
    query), ``values`` (float64 scores), ``docs(at)`` (object array of the document ids at
    positions ``at``, None: all), ``vocab``/``codes`` when the ids are codes into a vocabulary,
    and ``ordered``: whether the order is the one given (to check) rather than trec_eval's by
    construction."""

    def __init__(self, names, lengths, values, docs, ordered, vocab=None, codes=None):
        self.names, self.lengths, self.values, self.docs = names, lengths, values, docs
        self.ordered, self.vocab, self.codes = ordered, vocab, codes

    @classmethod
    def of(cls, run: Run, component: str) -> _Flat:
        import numpy as np

        given = _given(run)
        if given is not None:  # the dicts as they are: no arrays of the documents unless needed
            from itertools import chain

            lengths = np.fromiter(map(len, given.values()), dtype=np.int64, count=len(given))
            total = int(lengths.sum())
            try:
                values = np.fromiter(chain.from_iterable(map(dict.values, given.values())), dtype=np.float64,
                                     count=total)
            except (TypeError, ValueError) as exc:
                raise ContractError(f"{component}: {exc}") from None
            made: list = []

            def docs(at=None):
                if not made:
                    everything = np.empty(total, dtype=object)
                    everything[:] = list(chain.from_iterable(given.values()))
                    made.append(everything)
                return made[0] if at is None else made[0][at]

            return cls(list(given), lengths, values, docs, ordered=True)
        from .ranking import _positions

        try:
            pairs, start, stop = run._segments()
        except (TypeError, ValueError) as exc:  # an id made str colliding with another, a score not a number
            raise ContractError(f"{component}: {exc}") from None
        lengths = stop - start
        n = len(pairs.values)
        if not len(start) or (int(start[0]) == 0 and int(stop[-1]) == n and (start[1:] == stop[:-1]).all()):
            where = None if len(start) else np.zeros(0, dtype=np.int64)
        else:
            where = _positions(start, lengths)
        values = pairs.values if where is None else pairs.values[where]

        def docs(at=None):
            if where is None:
                return pairs.docs(at)
            return pairs.docs(where if at is None else where[at])

        codes = None
        if pairs.codes is not None:
            codes = pairs.codes if where is None else pairs.codes[where]
        return cls(list(run), lengths, values, docs, pairs.ordered, pairs.vocab, codes)

    def at(self, position: int) -> tuple[str, str]:
        """The query and document of the pair at ``position``."""
        import numpy as np

        query = int(np.searchsorted(np.cumsum(self.lengths), position, side="right"))
        return self.names[query], str(self.docs(np.array([position]))[0])


def _check_scores(flat: _Flat, component: str) -> None:
    """Every score finite and within single precision's range."""
    import numpy as np

    bad = ~(np.abs(flat.values) <= FLOAT32_MAX)  # NaN compares False: caught too
    if bad.any():
        at = int(np.argmax(bad))
        qid, doc = flat.at(at)
        score = float(flat.values[at])
        why = "is not finite" if not np.isfinite(score) else (
            "is beyond single precision's range (±3.4028235e38): trec_eval reads it as infinity, tied with "
            "every other such score")
        raise ContractError(f"{component}: query {qid!r}, document {doc!r}: score {score!r} {why}")


def _in_trec_order(flat: _Flat) -> bool:
    """Whether each query's pairs lie in trec_eval's order: single-precision score descending,
    ties by document id descending (ties compared in Python, the rest with numpy)."""
    import numpy as np

    values, n = flat.values, len(flat.values)
    if n < 2:
        return True
    with np.errstate(over="ignore"):
        single = values.astype(np.float32) + np.float32(0)  # -0.0 ties with 0.0, as in trec_eval
    same = np.ones(n - 1, dtype=bool)
    ends = np.cumsum(flat.lengths)[:-1]
    ends = ends[(ends > 0) & (ends < n)]
    same[ends - 1] = False  # the last pair of a query and the first of the next are not compared
    higher = single[:-1] > single[1:]
    tied = same & (single[:-1] == single[1:])
    if (same & ~higher & ~tied).any():
        return False
    if tied.any():
        at = np.flatnonzero(tied)
        first, second = flat.docs(at).tolist(), flat.docs(at + 1).tolist()
        if not all(a > b for a, b in zip(first, second, strict=True)):
            return False
    return True


def _known(run: Run, flat: _Flat, component: str, queries: Container[str] | None, collection: Collection | None,
           foreign: ForeignIds) -> tuple[Run, dict | None]:
    """Refuse (or, under ``"drop"``, drop and count) queries not asked and documents not in the
    collection."""
    import numpy as np

    names = flat.names
    bad_queries = [q for q in names if not isinstance(q, str) or (queries is not None and q not in queries)]
    if bad_queries and foreign != FOREIGN_DROP:
        q = bad_queries[0]
        raise ContractError(f"{component}: query {q!r} was not asked for (returned {len(bad_queries)} query id"
                            f"{'s' if len(bad_queries) != 1 else ''} not among the {len(queries or ())} asked)")
    unknown_docs: list[str] = []
    first: tuple[str, str] | None = None
    if collection is not None and len(flat.values):
        if flat.codes is not None and len(flat.vocab) <= len(flat.codes):  # look up each id used once
            used = np.zeros(len(flat.vocab), dtype=bool)
            used[flat.codes] = True
            ids = np.flatnonzero(used)
            known = _in_corpus(flat.vocab[ids], collection)
            bad = None
            if not known.all():
                bad_code = np.zeros(len(flat.vocab), dtype=bool)
                bad_code[ids[~known]] = True
                bad = bad_code[flat.codes]
        else:
            known = _in_corpus(flat.docs(), collection)
            bad = None if known.all() else ~known
        if bad is not None:
            at = np.flatnonzero(bad)
            first = flat.at(int(at[0]))
            unknown_docs = list(dict.fromkeys(map(str, flat.docs(at).tolist())))
    if first is not None and foreign != FOREIGN_DROP:
        qid, doc = first
        raise ContractError(f"{component}: query {qid!r}, document {doc!r} is not in the collection's corpus "
                            f"({len(unknown_docs)} unknown document id{'s' if len(unknown_docs) != 1 else ''} in "
                            "the run)")
    if not bad_queries and first is None:
        return run, None
    # drop and count (the component declared foreign_ids = "drop"): Python over the dropping run only
    index = collection._index if collection is not None and first is not None else None
    skip = set(bad_queries)
    kept = {qid: docs if index is None else {d: s for d, s in docs.items() if d in index}
            for qid, docs in run.items() if qid not in skip}
    dropped = {
        "queries": len(bad_queries),
        "documents": len(unknown_docs),
        "pairs": run.num_docs() - sum(map(len, kept.values())),
        "examples": {"queries": [str(q) for q in bad_queries[:5]], "documents": unknown_docs[:5]},
    }
    try:
        return Run.from_scores(kept), dropped
    except ValueError as exc:
        raise ContractError(f"{component}: {exc}") from None


# -- documents of the corpus, by address -------------------------------------------------------------

# A retriever's document ids are mostly the corpus's own str objects (``[d.id for d in docs]``), so
# whether an id is the corpus's is first asked of its address, a lookup in an integer table, with
# no string read or hashed; only the other objects (ids read from a file, say) are looked up by
# value, each distinct object once. The table of a collection is kept while it is in use.
_CORPUS: list[tuple[Any, int, Any]] = []  # (weak reference to a collection, its size, _Addresses): the last two


class _Addresses:
    """The addresses of a corpus's id objects (kept alive in ``ids``), sorted, and a table of
    them: objects lie at multiples of a common alignment from the lowest, so an address is one
    of them exactly when it lies on a multiple and its slot is marked."""

    def __init__(self, ids):
        import numpy as np

        self.ids = ids
        self.sorted = np.sort(_addresses(ids)) if len(ids) else np.zeros(0, dtype=np.uintp)
        self.table = None
        if len(self.sorted):
            self.low = self.sorted[0]
            offsets = self.sorted - self.low
            gaps = int(np.bitwise_or.reduce(offsets))
            self.shift = np.uintp(max((gaps & -gaps).bit_length() - 1, 0))
            self.span = offsets[-1]
            slots = int(offsets[-1] >> self.shift) + 1
            if slots <= 64 * len(self.sorted):  # a bit... a byte a slot: at most 64 bytes an id
                self.table = np.zeros(slots, dtype=bool)
                self.table[offsets >> self.shift] = True
                self.mask = np.uintp((1 << int(self.shift)) - 1)

    def contains(self, addresses):
        """Whether each of ``addresses`` is one of the corpus's id objects (exactly)."""
        import numpy as np

        if not len(self.sorted):
            return np.zeros(len(addresses), dtype=bool)
        if self.table is None:
            import pandas as pd

            return pd.Index(self.sorted).get_indexer(addresses) >= 0
        relative = addresses - self.low  # below low: wraps around, beyond the span
        inside = (relative <= self.span) & ((relative & self.mask) == 0)  # exactly at a slot's address
        return inside & self.table[np.where(inside, relative >> self.shift, 0)]


def _addresses(objects):
    """The object pointers an object array holds, as integers (the array keeps them alive)."""
    import ctypes

    import numpy as np

    objects = np.ascontiguousarray(objects)
    if not len(objects):
        return np.zeros(0, dtype=np.uintp)
    held = (ctypes.c_char * (len(objects) * objects.itemsize)).from_address(objects.__array_interface__["data"][0])
    return np.frombuffer(held, dtype=np.uintp).copy()


def _corpus(collection: Collection) -> _Addresses:
    import weakref

    import numpy as np

    for ref, size, made in _CORPUS:
        if ref() is collection and size == len(collection.docs):
            return made
    ids = np.empty(len(collection.docs), dtype=object)
    ids[:] = collection.doc_ids  # holds the objects: their addresses stay theirs
    made = _Addresses(ids)
    _CORPUS[:] = [*_CORPUS[-1:], (weakref.ref(collection), len(collection.docs), made)]
    return made


def _in_corpus(docs, collection: Collection):
    """Whether each of ``docs`` (an object array) is a document id of ``collection``."""
    import numpy as np

    docs = np.ascontiguousarray(docs)
    if docs.dtype != object or np.dtype(np.uintp).itemsize != docs.itemsize:
        index = collection._index
        return np.fromiter(map(index.__contains__, docs.tolist()), dtype=bool, count=len(docs))
    addresses = _addresses(docs)
    known = _corpus(collection).contains(addresses)
    if known.all():
        return known
    miss = np.flatnonzero(~known)  # other objects: each distinct one looked up by value
    distinct, first, inverse = np.unique(addresses[miss], return_index=True, return_inverse=True)
    index = collection._index
    found = np.fromiter(map(index.__contains__, docs[miss[first]].tolist()), dtype=bool, count=len(distinct))
    known[miss] = found[inverse.ravel()]
    return known

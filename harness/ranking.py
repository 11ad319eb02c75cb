"""``Run``: ranked documents per query, kept in the order trec_eval will see.

trec_eval does not read the rank column: it sorts each query's documents by score, descending,
and breaks ties by document id, descending. It holds scores in a C ``float``, so it compares them
rounded to single precision: two doubles that round to the same float are a tie (pytrec_eval
does the same). A ``Run`` reads each query's documents in exactly that order, so the harness's
metrics, the TREC file it writes and trec_eval reading that file agree on every position, ties
and reranked tails included.

Ways in:

* ``Run.from_scores`` for scored documents (a retriever's output, a run file): a dict of dicts,
  or of ``(doc_id, score)`` pairs, in any order.
* ``Run.from_arrays`` (one entry per pair) and ``Run.from_topk`` (rows of a top-k matrix of
  indices into the document ids) for scores in arrays: no Python object per pair is made until
  something reads the run as dicts.
* ``Run.from_ranked`` for documents in an order of the pipeline's choosing (a reranked head above
  the untouched tail): wherever a score would not keep that order under trec_eval's sort, it is
  lowered to the next single-precision value below its predecessor's. Scores already in order
  are kept bit for bit; the run file then reproduces the harness's numbers exactly under
  trec_eval.
* ``Run(dict_of_dicts)`` wraps the dicts as given, in their order, unchecked (the conformance kit
  uses it to build broken runs).

The first three check every score is finite and no document is ranked twice in a query, and
sort nothing when built: trec_eval's order is computed with numpy the first time something reads
it (``run[qid]``, ``items()``, ``scores``, ``truncate``...), then kept. Evaluation does not need
it: pytrec_eval sorts each query itself, so a run built from a dict of scores is handed to it as
given, and an array-built one as rank-encoded dicts (see ``Run._trec_input``).
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

Ranked = Iterable[tuple[str, float]]


def trec_order(scored: Mapping[str, float] | Ranked) -> list[tuple[str, float]]:
    """``(doc_id, score)`` pairs in trec_eval's order: score (as a single-precision float)
    descending, then doc id descending."""
    given = scored.items() if isinstance(scored, Mapping) else scored
    items = [(str(d), float(s)) for d, s in given]
    keys = array("f", [s for _, s in items]).tolist()  # C's double → float rounding, as trec_eval
    pairs = sorted(zip(keys, items, strict=True), key=lambda p: (p[0], p[1][0]), reverse=True)
    return [item for _, item in pairs]


def _single(score: float) -> float:
    """``score`` as trec_eval compares it: rounded to single precision."""
    return array("f", [score])[0]


def _single_below(value: float) -> float:
    """The largest single-precision value below ``value`` (itself single precision)."""
    if value == 0:
        return -(2.0**-149)
    bits = struct.unpack("<I", struct.pack("<f", value))[0]
    return struct.unpack("<f", struct.pack("<I", bits - 1 if value > 0 else bits + 1))[0]


def _not_finite(qid: str, doc_id: str, score: float) -> ValueError:
    return ValueError(f"query {qid!r}, document {doc_id!r}: score {score} is not finite")


def _twice(qid: str, doc_id: str) -> ValueError:
    return ValueError(f"query {qid!r}: document {doc_id!r} is ranked twice")


def _check_score(qid: str, doc_id: str, score: float) -> float:
    score = float(score)
    if not math.isfinite(score):
        raise _not_finite(qid, doc_id, score)
    return score


def encode_order(qid: str, ranked: Ranked) -> dict[str, float]:
    """Scores that make trec_eval's sort reproduce ``ranked``'s order (see module docstring)."""
    out: dict[str, float] = {}
    prev: tuple[float, str] | None = None  # the previous document as trec_eval compares it
    for doc_id, score in ranked:
        doc_id = str(doc_id)
        if doc_id in out:
            raise _twice(qid, doc_id)
        score = _check_score(qid, doc_id, score)
        key = (_single(score), doc_id)
        if prev is not None and not key < prev:
            score = _single_below(prev[0])
            if not math.isfinite(score):
                raise ValueError(
                    f"query {qid!r}: no score below {prev[0]} to rank {doc_id!r} under; trec_eval "
                    "reads scores as single-precision floats"
                )
            key = (score, doc_id)
        out[doc_id] = score
        prev = key
    return out


# -- the arrays --------------------------------------------------------------------------------

# Above this many tied documents, ties are ordered by numpy (strings as UCS-4, code point order,
# as Python's and, over UTF-8, C's strcmp) instead of a Python sort.
_NUMPY_TIES = 50_000


class _Pairs:
    """Every (document, score) pair of a run, flat: document ``i`` is ``vocab[codes[i]]`` (``codes``
    None: ``vocab[i]``), its score ``values[i]``. ``bounds`` cuts the pairs into the base run's
    queries; ``order()`` sorts each of those stretches into trec_eval's order in place, once, so
    a view of some queries (stretches of its own, each within one of ``bounds``) stays valid and
    shares it."""

    __slots__ = ("bounds", "codes", "floats", "ordered", "values", "vocab")

    def __init__(self, vocab, codes, values, bounds, ordered: bool = False, floats: bool = False):
        self.vocab, self.codes, self.values, self.bounds, self.ordered = vocab, codes, values, bounds, ordered
        self.floats = floats  # made from dicts whose every score is a float: reusable as they are

    def docs(self, positions=None):
        """Document ids (an object array) at ``positions`` (None: all)."""
        if self.codes is None:
            return self.vocab if positions is None else self.vocab[positions]
        return self.vocab[self.codes if positions is None else self.codes[positions]]

    def order(self) -> None:
        """Sort each query's pairs: single-precision score descending, then doc id descending."""
        if self.ordered:
            return
        import numpy as np

        n = len(self.values)
        lengths = np.diff(self.bounds)
        with np.errstate(over="ignore"):  # beyond float32's range: inf, as C's cast gives
            single = self.values.astype(np.float32)
        single += np.float32(0)  # -0.0 → +0.0: equal as floats, so a tie, not an order
        bits = single.view(np.uint32)
        ascending = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(0x80000000))
        key = np.repeat(np.arange(len(lengths), dtype=np.uint64), lengths) << np.uint64(32)
        key |= (~ascending).astype(np.uint64)  # (query, score descending) as one integer
        codes, values = self.codes, self.values  # codes None: each pair where it was
        if n > 1 and not (key[1:] >= key[:-1]).all():
            perm = np.argsort(key, kind="stable")
            key, codes, values = key[perm], perm if codes is None else codes[perm], values[perm]
        tied = key[1:] == key[:-1] if n > 1 else np.zeros(0, dtype=bool)
        if tied.any():  # reordered in copies: another thread may be reading these very arrays
            codes = np.arange(n, dtype=np.int64) if codes is None else codes.copy() if codes is self.codes else codes
            values = values.copy() if values is self.values else values
            member = np.zeros(n, dtype=bool)
            member[1:] |= tied
            member[:-1] |= tied
            where = np.flatnonzero(member)
            group = np.cumsum(~np.concatenate(([False], tied))[where])
            docs = self.vocab[codes[where]].tolist()
            within = _by_doc_descending(docs, group)
            codes[where], values[where] = codes[where][within], values[where][within]
        self.codes, self.values, self.ordered = codes, values, True


def _by_doc_descending(docs: list[str], group):
    """The permutation putting ``docs`` in ``group`` order (ascending, each group contiguous
    already), doc id descending within each group."""
    import numpy as np

    if len(docs) > _NUMPY_TIES and "\x00" not in "".join(docs):  # UCS-4 drops trailing NULs
        rank = np.unique(np.array(docs, dtype=str), return_inverse=True)[1].ravel()
        return np.lexsort((-rank, group))
    by_doc = np.array(sorted(range(len(docs)), key=docs.__getitem__, reverse=True), dtype=np.int64)
    return by_doc[np.argsort(group[by_doc], kind="stable")]


def _positions(start, lengths):
    """The flat positions of the stretches ``start[i]:start[i] + lengths[i]``, in turn."""
    import numpy as np

    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(start - offsets, lengths)


def _select(start, stop, place: Mapping[str, int], queries: Iterable[str]):
    """The stretches of ``queries`` (``place``: query → its stretch), empty for the others."""
    import numpy as np

    at = np.fromiter((place.get(q, -1) for q in queries), dtype=np.int64)
    found = at >= 0
    if not len(start):
        return np.zeros(len(at), dtype=np.int64), np.zeros(len(at), dtype=np.int64)
    safe = np.where(found, at, 0)
    return np.where(found, start[safe], 0), np.where(found, stop[safe], 0)


def _strings(ids, what: str):
    """``ids`` as a 1-d object array of str (str() of anything else)."""
    import numpy as np

    if isinstance(ids, np.ndarray) and ids.dtype.kind == "U":
        out = ids.astype(object)
    elif isinstance(ids, np.ndarray) and ids.dtype == object:
        out = ids
    else:
        out = np.empty(len(ids), dtype=object)
        out[:] = ids if isinstance(ids, list) else list(ids)
    if out.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {out.shape}")
    return out


def _str_only(array_):
    """``array_`` (object) with every element a str: converted with str() when some are not."""
    import numpy as np

    try:
        "".join(array_.tolist())
        return array_
    except TypeError:
        out = np.empty(len(array_), dtype=object)
        out[:] = [d if isinstance(d, str) else str(d) for d in array_.tolist()]
        return out


# The most slots (per entry) of the table ``_shared_ids`` indexes by address; above, a hash table.
_TABLE_SLOTS = 4


def _shared_ids(docs):
    """``(vocab, codes)`` for ``docs`` (a 1-d object array): its distinct ids, each a str
    (``str()`` of anything else), and each entry's place among them; None when most entries
    are objects of their own.

    Arrays of ids are mostly gathered from a corpus's ids, the same objects over and over: those
    are told apart by address (integers, sorted in C, without reading the objects), and only
    the distinct objects are then read and hashed as strings, to merge those that are equal as
    str (two objects "d1", or 1 and "1").
    """
    import ctypes

    import numpy as np

    n = len(docs)
    docs = np.ascontiguousarray(docs)
    if n < 2 or docs.itemsize != np.dtype(np.uintp).itemsize:
        return None
    # The object pointers the array holds, read as integers (docs keeps the objects alive).
    held = (ctypes.c_char * (n * docs.itemsize)).from_address(docs.__array_interface__["data"][0])
    address = np.frombuffer(held, dtype=np.uintp)
    distinct = np.sort(address)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(distinct[1:], distinct[:-1], out=new[1:])
    distinct = distinct[new]
    del new
    size = len(distinct)
    if 2 * size > n:
        return None
    # Each entry's place in ``distinct``: a table indexed by address (objects lie at multiples of
    # their common alignment), else a hash table.
    low = distinct[0]
    offsets = distinct - low
    gaps = int(np.bitwise_or.reduce(offsets))
    shift = np.uintp(max((gaps & -gaps).bit_length() - 1, 0))
    slots = int(offsets[-1] >> shift) + 1
    if slots <= _TABLE_SLOTS * n:
        table = np.empty(slots, dtype=np.int32 if size < 2**31 else np.int64)
        table[offsets >> shift] = np.arange(size, dtype=table.dtype)
        codes = table[(address - low) >> shift].astype(np.int64)
        del table
    else:
        import pandas as pd

        codes = pd.Index(distinct).get_indexer(address).astype(np.int64, copy=False)
    del address, held, offsets
    somewhere = np.empty(size, dtype=np.int64)
    somewhere[codes] = np.arange(n, dtype=np.int64)  # a place of each object (any will do)
    objects = docs[somewhere].tolist()
    try:
        "".join(objects)
        names = objects
    except TypeError:
        names = [d if isinstance(d, str) else str(d) for d in objects]
    if len(set(names)) != len(names):  # equal ids in distinct objects: one code each
        number: dict[str, int] = {}
        remap = np.fromiter((number.setdefault(d, len(number)) for d in names), dtype=np.int64, count=size)
        codes, names = remap[codes], list(number)
    vocab = np.empty(len(names), dtype=object)
    vocab[:] = names
    return vocab, codes


def _each_once(queries: list[str], lengths, pairs: _Pairs) -> None:
    """Raise as ``Run._build`` does if some query ranks a document (a code of ``pairs``) twice."""
    import numpy as np

    size = len(pairs.vocab)
    if size == len(pairs.codes):  # every id distinct over the whole run
        return
    key = np.repeat(np.arange(len(lengths), dtype=np.int64) * size, lengths) + pairs.codes
    key.sort()
    twice = key[1:] == key[:-1]
    if twice.any():
        at = int(key[1:][twice].min() // size)  # the first query ranking a document twice
        a, b = int(pairs.bounds[at]), int(pairs.bounds[at + 1])
        seen: set[str] = set()
        docs = pairs.docs(np.arange(a, b)).tolist()
        raise _twice(queries[at], next(d for d in docs if d in seen or seen.add(d)))


# Pairs handled at a time where a check of every pair would otherwise make arrays of them all.
_SLICE = 1 << 16


def _once_each(queries: list[str], lengths, codes, vocab) -> None:
    """Raise ``ValueError`` for a document (``codes``, into ``vocab``) twice in one query's
    stretch (``lengths``), the first query's first such id; queries checked a slice at a time."""
    import numpy as np

    n_queries, width = len(lengths), max(len(vocab), 1)
    if not n_queries or len(codes) < 2:
        return
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    first = 0
    while first < n_queries:
        last = max(int(np.searchsorted(bounds, bounds[first] + _SLICE, side="right")) - 1, first + 1)
        last = min(last, n_queries)
        a, b = int(bounds[first]), int(bounds[last])
        if b - a > 1:
            key = np.repeat(np.arange(last - first, dtype=np.int64) * width, lengths[first:last])
            key += codes[a:b]
            key.sort()
            twice = key[1:] == key[:-1]
            if twice.any():
                found = int(key[int(np.argmax(twice))])
                raise _twice(queries[first + found // width], vocab[found % width])
        first = last


def _plain(per_query: Mapping) -> dict | None:
    """``per_query`` itself when pytrec_eval can take it as it is (str query ids, dicts of int or
    float scores, all finite: the sum of a query's scores is finite only when each is), else None.

    Document ids are not looked at here: that would cost a tenth of the evaluation (a cache miss
    per id), and pytrec_eval checks they are str itself. An id that is not is made one when the
    run is first read (``_str_keys``); evaluation then reads that.
    """
    for qid, docs in per_query.items():
        if type(qid) is not str or type(docs) is not dict:
            return None
        try:
            total = sum(docs.values(), 0.0)
        except Exception:
            return None
        if type(total) is not float or not math.isfinite(total):  # numpy scalars: not float
            return None
    return per_query if type(per_query) is dict else dict(per_query)


def _str_keys(qid: str, docs: dict) -> dict:
    """``docs`` with every document id a str (``str()`` of the others): two becoming one raise."""
    out: dict[str, Any] = {}
    for doc_id, score in docs.items():
        key = doc_id if type(doc_id) is str else str(doc_id)
        if key in out:
            raise _twice(qid, key)
        out[key] = score
    return out


# The rank-encoded runs handed to pytrec_eval (Run._compact): document ids for unjudged places,
# and scores 0, -1, -2, ... (distinct and exact as single-precision floats up to 2**24 places).
_FILLER = "\x1f"
_FILL: tuple[list[str], list[float]] = ([], [])


def _fillers(n: int) -> tuple[list[str], list[float]]:
    """At least ``n`` filler ids and rank scores; replaced whole when grown (thread-safe)."""
    global _FILL
    names, values = _FILL
    if len(names) < n:
        size = max(n, 2 * len(names), 1024)
        _FILL = names, values = [f"{_FILLER}{i}" for i in range(size)], [float(-i) for i in range(size)]
    return names, values


class Run:
    """Ranked lists per query, read in trec_eval's order (see module docstring).

    Reads like a dict of dicts: ``len``, iteration over query ids, ``in``, ``run[qid]`` (a dict
    doc id → score, in order), ``items()``, and ``scores``, the whole dict of dicts. Build it with
    the ``from_*`` class methods; treat it, and the dicts it was built from, as read-only.
    """

    __slots__ = ("_base", "_pairs", "_queries", "_raw", "_sorted", "_start", "_stop")

    def __init__(self, scores: dict[str, dict[str, float]] | None = None):
        """The dicts as given: their order is the run's, nothing is checked or copied."""
        scores = scores if scores is not None else {}
        self._raw = self._sorted = scores
        self._pairs = self._queries = self._start = self._stop = self._base = None

    @classmethod
    def _empty(cls) -> Run:
        run = cls.__new__(cls)
        run._raw = run._sorted = run._pairs = run._queries = run._start = run._stop = run._base = None
        return run

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_scores(cls, per_query: Mapping[str, Mapping[str, float] | Ranked]) -> Run:
        """Scored documents per query (a dict doc id → score, or ``(doc_id, score)`` pairs), in
        any order. Ids become str, scores float; a non-finite score or a document twice in one
        query raises ``ValueError``. A dict of dicts of int or float scores is kept as it is, not
        copied (document ids that are not str are made str when the run is first read)."""
        if isinstance(per_query, Run):
            per_query = per_query.scores
        plain = _plain(per_query)
        if plain is not None:
            run = cls._empty()
            run._raw = plain
            return run
        queries, lengths, docs, values = [], [], [], []
        for qid, scored in per_query.items():
            given = list(scored.items() if isinstance(scored, Mapping) else scored)
            queries.append(str(qid))
            lengths.append(len(given))
            docs += [d if type(d) is str else str(d) for d, _ in given]
            values += [s for _, s in given]
        import numpy as np

        vocab = np.empty(len(docs), dtype=object)
        vocab[:] = docs
        try:
            floats = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            floats = np.array([float(s) for s in values], dtype=np.float64)
        return cls._build(queries, np.array(lengths, dtype=np.int64), vocab, None, floats)

    @classmethod
    def from_arrays(cls, query_ids: Sequence[str], doc_ids: Sequence[str], scores: Sequence[float]) -> Run:
        """One entry per (query, document) pair: three sequences (lists or 1-d arrays) of equal
        length. Queries come in the order they first appear; a query's pairs may be anywhere. Ids
        become str (``str()`` of anything else: 1 and "1" are one id); a non-finite score or a
        document twice in one query raises ``ValueError``."""
        import numpy as np

        values = np.array(scores, dtype=np.float64)
        docs = _strings(doc_ids, "doc_ids")  # made str below
        if isinstance(query_ids, np.ndarray) and query_ids.dtype.kind == "U":
            qa = query_ids
        else:
            qa = _strings(query_ids, "query_ids")
        if values.ndim != 1 or qa.ndim != 1 or not len(qa) == len(docs) == len(values):
            raise ValueError(
                "query_ids, doc_ids and scores must be 1-d and of one length, got "
                f"{np.shape(qa)}, {np.shape(docs)}, {values.shape}"
            )
        n = len(values)
        if n == 0:
            return cls._build([], np.zeros(0, dtype=np.int64), docs, None, values)
        starts = np.concatenate(([0], np.flatnonzero(qa[1:] != qa[:-1]) + 1))
        firsts = [q if type(q) is str else str(q) for q in qa[starts].tolist()]
        stretch = np.diff(np.append(starts, n))
        if len(set(firsts)) == len(firsts):  # each query's pairs together already
            queries, lengths, perm = firsts, stretch, None
        else:
            number: dict[str, int] = {}
            for q in firsts:
                number.setdefault(q, len(number))
            code = np.repeat(np.array([number[q] for q in firsts], dtype=np.int64), stretch)
            perm = np.argsort(code, kind="stable")
            queries, lengths = list(number), np.bincount(code, minlength=len(number)).astype(np.int64)
            values = values[perm]
        shared = _shared_ids(docs)
        if shared is None:  # (nearly) an object per pair: each id checked by _build, query by query
            return cls._build(queries, lengths, docs, perm, values)
        vocab, codes = shared
        run = cls._build(queries, lengths, vocab, codes if perm is None else codes[perm], values, unique_docs=True)
        _each_once(queries, lengths, run._pairs)
        return run

    @classmethod
    def from_topk(cls, query_ids: Sequence[str], doc_ids: Sequence[str], indices: Any, scores: Any,
                  lengths: Any = None) -> Run:
        """Rows of a top-k search: ``indices[i, j]`` (an int array, queries × k) is the place in
        ``doc_ids`` of query ``query_ids[i]``'s j-th document, ``scores[i, j]`` its score; a
        negative index is padding, skipped. Rows need not be sorted. Every query is in the run,
        one whose row is all padding with no documents.

        With ``lengths`` (one count per query), ``indices`` and ``scores`` are 1-d instead, the
        rows one after another without padding: query ``i``'s are the next ``lengths[i]``, and
        every index is a place in ``doc_ids``.

        The arrays are kept as given where they can be (int32 or int64 indices, float32 or
        float64 scores, no padding to drop), not copied: do not change them afterwards. float32
        scores stay float32 (each is exact as a float, and the run ranks by single precision).
        """
        import numpy as np

        queries = [q if type(q) is str else str(q) for q in query_ids]
        rows = np.asarray(indices)
        values = np.asarray(scores)
        if values.dtype != np.float32:
            values = values.astype(np.float64, copy=False)
        if rows.size and not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f"indices must be integers, got {rows.dtype}")
        vocab = _strings(doc_ids, "doc_ids")
        if lengths is not None:
            sizes = np.asarray(lengths)
            if (sizes.ndim != 1 or len(sizes) != len(queries) or rows.ndim != 1 or values.shape != rows.shape
                    or (sizes.size and not np.issubdtype(sizes.dtype, np.integer))):
                raise ValueError(
                    f"with lengths, lengths must be 1-d with one count per query ({len(queries)}) and indices "
                    f"and scores 1-d of one length, got {sizes.shape}, {rows.shape} and {values.shape}"
                )
            lengths = sizes.astype(np.int64)
            if (lengths < 0).any() or int(lengths.sum()) != len(rows):
                raise ValueError(f"lengths must be counts that add up to the {len(rows)} indices given")
            codes = rows
            if codes.size and codes.min() < 0:
                raise ValueError(f"index {int(codes.min())} is negative: with lengths there is no padding")
        else:
            if rows.ndim != 2 or values.shape != rows.shape or rows.shape[0] != len(queries):
                raise ValueError(
                    f"indices and scores must both be {len(queries)} queries × k, got "
                    f"{rows.shape} and {values.shape}"
                )
            valid = rows >= 0
            if valid.all():  # views, no copies
                codes, values = rows.reshape(-1), values.reshape(-1)
                lengths = np.full(len(queries), rows.shape[1], dtype=np.int64)
            else:
                codes, values = rows[valid], values[valid]
                lengths = valid.sum(axis=1).astype(np.int64)
            del valid
        if codes.dtype != np.int32 and codes.dtype != np.int64:
            codes = codes.astype(np.int64)
        if codes.size and codes.max() >= len(vocab):
            raise ValueError(f"index {int(codes.max())} is out of range for {len(vocab)} document ids")
        # Every id a str: checked on the documents used when the corpus is much larger (a search
        # for one query must not cost a pass over the corpus), in slices (no list of every id).
        try:
            ids = vocab if len(vocab) <= 4 * len(codes) else vocab[codes]
            for at in range(0, len(ids), _SLICE):
                "".join(ids[at : at + _SLICE].tolist())
        except TypeError:
            vocab = _str_only(vocab)
        del ids
        _once_each(queries, lengths, codes, vocab)
        return cls._build(queries, lengths, vocab, codes, values, unique_docs=True)

    @classmethod
    def _build(cls, queries: list[str], lengths, vocab, codes, values, unique_docs: bool = False) -> Run:
        """A run over flat pairs (see ``_Pairs``), checked: finite scores, each document once
        per query, each query once."""
        import numpy as np

        index = {q: i for i, q in enumerate(queries)}
        if len(index) != len(queries):
            seen: set[str] = set()
            twice = next(q for q in queries if q in seen or seen.add(q))
            raise ValueError(f"query {twice!r} is given twice")
        bounds = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        pairs = _Pairs(vocab, codes, values, bounds)
        # A float64 sum is finite when every value is (float32 values cannot overflow it): the
        # mask of every pair only when it is not.
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.isfinite(values.sum(dtype=np.float64)) or np.isfinite(values)
        if not np.all(finite):
            bad = int(np.argmin(finite))
            qid = queries[int(np.searchsorted(bounds, bad, side="right")) - 1]
            raise _not_finite(qid, pairs.docs(np.array([bad]))[0], float(values[bad]))
        if not unique_docs:  # and every id a str: both on each query's documents, in cache
            docs = pairs.docs().tolist()
            for qid, a, b in zip(queries, bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                distinct = set(docs[a:b])
                try:
                    "".join(distinct)
                except TypeError:  # some id is not a str: all converted, then checked again
                    return cls._build(queries, lengths, _str_only(pairs.docs()), None, values)
                if len(distinct) != b - a:
                    seen: set[str] = set()
                    raise _twice(qid, next(d for d in docs[a:b] if d in seen or seen.add(d)))
        run = cls._empty()
        run._pairs, run._queries, run._start, run._stop = pairs, index, bounds[:-1], bounds[1:]
        return run

    @classmethod
    def from_ranked(cls, per_query: Mapping[str, Ranked]) -> Run:
        """Documents in the order given, scores adjusted where trec_eval would reorder them
        (see ``encode_order``); a document twice in one query raises ``ValueError``."""
        run = cls._empty()
        run._raw = run._sorted = {str(qid): encode_order(str(qid), ranked) for qid, ranked in per_query.items()}
        return run

    # -- reading -------------------------------------------------------------------------------

    def _keys(self) -> Mapping[str, Any]:
        for keys in (self._sorted, self._raw, self._queries):
            if keys is not None:
                return keys
        raise AssertionError("a Run without queries")

    def __len__(self) -> int:
        return len(self._keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __contains__(self, qid: object) -> bool:
        return qid in self._keys()

    def __getitem__(self, qid: str) -> dict[str, float]:
        return self.scores[qid]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Run):
            return NotImplemented
        mine, theirs = self.scores, other.scores
        return list(mine) == list(theirs) and all(
            list(docs.items()) == list(theirs[q].items()) for q, docs in mine.items()
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Run: {len(self)} queries, {self.num_docs()} documents>"

    @property
    def scores(self) -> dict[str, dict[str, float]]:
        """The dict of dicts ``{qid: {doc_id: score}}``, each query's documents in the run's
        order; made the first time it is asked for, then kept."""
        if self._sorted is None:
            if self._base is not None:
                base = self._base.scores
                self._sorted = {q: base.get(q, {}) for q in self._keys()}
            else:
                self._sorted = self._materialise()
        return self._sorted

    def items(self):
        return self.scores.items()

    def ranked(self, qid: str) -> list[tuple[str, float]]:
        return list(self.scores.get(qid, {}).items())

    def truncate(self, depth: int) -> Run:
        """The first ``depth`` documents of every query."""
        if self._sorted is not None:
            from itertools import islice

            return Run({q: dict(islice(d.items(), depth)) for q, d in self._sorted.items()})
        pairs, start, stop = self._segments()
        pairs.order()
        run = Run._empty()
        run._pairs, run._queries, run._start = pairs, self._positions_of(), start
        run._stop = start + (stop - start).clip(max=max(depth, 0))
        return run

    def num_docs(self) -> int:
        return sum(self._sizes())

    def _sizes(self) -> list[int]:
        """The number of documents of each query, in order."""
        if self._sorted is None and self._raw is None:
            return (self._stop - self._start).tolist()
        return list(map(len, self._keys().values()))

    def to_arrays(self):
        """``(query_ids, doc_ids, scores)``: numpy arrays (object, object, float64), one entry per
        pair, in the run's order."""
        import numpy as np

        pairs, start, stop = self._segments()
        pairs.order()
        lengths = stop - start
        where = _positions(start, lengths)
        queries = np.empty(len(lengths), dtype=object)
        queries[:] = list(self._keys())
        return np.repeat(queries, lengths), pairs.docs(where), pairs.values[where].astype(np.float64, copy=False)

    # -- internals -----------------------------------------------------------------------------

    def _positions_of(self) -> dict[str, int]:
        """Query id → its place in ``_start``/``_stop`` (after ``_segments``)."""
        if self._queries is None:
            self._queries = {q: i for i, q in enumerate(self._keys())}
        return self._queries

    def _segments(self):
        """``(pairs, start, stop)``: this run's pairs and each query's stretch of them, made from
        the dicts the first time."""
        import numpy as np

        if self._pairs is None:
            if self._base is not None:
                pairs, start, stop = self._base._segments()
                self._start, self._stop = _select(start, stop, self._base._positions_of(), self._keys())
                self._pairs = pairs
            else:
                given = self._sorted is not None  # Run(dict) or from_ranked: the order given
                dicts = self._sorted if given else self._raw
                lengths = np.fromiter(map(len, dicts.values()), dtype=np.int64, count=len(dicts))
                total = int(lengths.sum())
                docs = list(chain.from_iterable(dicts.values()))
                if not given:  # from_scores: document ids not checked yet (see _plain)
                    try:
                        "".join(docs)
                    except TypeError:
                        self._raw = dicts = {q: _str_keys(q, d) for q, d in dicts.items()}
                        docs = list(chain.from_iterable(dicts.values()))
                vocab = np.empty(total, dtype=object)
                vocab[:] = docs
                scores = list(chain.from_iterable(map(dict.values, dicts.values())))
                floats = not given and set(map(type, scores)) <= {float}
                values = np.array(scores, dtype=np.float64) if floats else np.fromiter(
                    map(float, scores), dtype=np.float64, count=total)
                bounds = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
                self._pairs = _Pairs(vocab, None, values, bounds, ordered=given, floats=floats)
                self._start, self._stop = bounds[:-1], bounds[1:]
            self._positions_of()
        return self._pairs, self._start, self._stop

    def _materialise(self) -> dict[str, dict[str, float]]:
        import numpy as np

        pairs, start, stop = self._segments()
        pairs.order()
        lengths = stop - start
        # A query whose dict (from_scores) was in trec_eval's order already is that dict.
        source = self._raw if self._raw is not None and self._base is None and pairs.floats else None
        if source is None:
            kept = np.zeros(len(start), dtype=bool)
        elif pairs.codes is None:
            kept = np.ones(len(start), dtype=bool)
        else:
            moved = np.concatenate(([0], np.cumsum(pairs.codes != np.arange(len(pairs.codes)))))
            kept = moved[stop] == moved[start]
        made = ~kept
        if not made.any():
            docs = values = []
        elif made.all() and len(start) and start[0] == 0 and (start[1:] == stop[:-1]).all():
            end = int(stop[-1])  # the stretches follow one another: no gathering
            docs, values = pairs.docs()[:end].tolist(), pairs.values[:end].tolist()
        else:
            where = _positions(start[made], lengths[made])
            docs, values = pairs.docs(where).tolist(), pairs.values[where].tolist()
        out, at = {}, 0
        for qid, n, same in zip(self._keys(), lengths.tolist(), kept.tolist(), strict=True):
            if same:
                out[qid] = source[qid]
            else:
                out[qid] = dict(zip(docs[at : at + n], values[at : at + n], strict=True))
                at += n
        return out

    def _view(self, queries: Iterable[str]) -> Run:
        """The run restricted to ``queries``, in their order (empty where this run has none),
        sharing this run's data: ``evaluate``'s view of the judged queries."""
        run = Run._empty()
        run._base = self
        queries = list(queries)
        if self._raw is not None:
            run._raw = {q: self._raw.get(q, {}) for q in queries}
        if self._sorted is not None:
            run._sorted = {q: self._sorted.get(q, {}) for q in queries}
        if self._raw is None and self._sorted is None:
            run._queries = {q: i for i, q in enumerate(queries)}
            run._pairs = self._pairs
            run._start, run._stop = _select(self._start, self._stop, self._queries, queries)
        return run

    def _trec_input(self, qrels: Mapping[str, Mapping[str, int]] | None = None) -> dict:
        """A dict of dicts pytrec_eval evaluates exactly as this run: the dicts the run was built
        from or has made, else (built from arrays) ``_compact(qrels)``."""
        if self._raw is not None:
            return self._raw
        if self._sorted is not None:
            return self._sorted
        compact = self._compact(qrels) if qrels is not None else None
        return compact if compact is not None else self.scores

    def _compact(self, qrels: Mapping[str, Mapping[str, int]]) -> dict | None:
        """Each query as pytrec_eval needs to see it, made without a Python object per pair.

        trec_eval's measures read a ranking only as the relevance judgment at each rank: the
        score decides the rank and is not read again, and an unjudged document's id is read
        only to find it has no judgment. So each query becomes a dict with score ``-r`` at rank
        ``r`` (distinct single-precision values, the run's order) under a filler id (``"\\x1f"``
        and the rank) that no judgment names, except where the document at rank ``r`` is
        judged for the query, which keeps its own id: the same judgments at the same ranks,
        the same number retrieved. The dicts are copies of one template per length. None when
        this cannot be done (a judged id that is a filler id, a query past 2**24 documents).
        """
        import numpy as np

        pairs, start, stop = self._segments()
        pairs.order()
        lengths = stop - start
        longest = int(lengths.max()) if len(lengths) else 0
        if longest >= 2**24:
            return None
        names, ranks = _fillers(longest)
        queries = list(self._keys())
        judged: set[str] = set().union(*(qrels.get(q, ()) for q in queries))
        if not judged.isdisjoint(names[:longest]):
            return None
        # The pairs whose document is judged for some query, then those judged for their own.
        vocab, codes = pairs.vocab, pairs.codes
        if codes is None or len(vocab) > len(codes):
            docs = pairs.docs().tolist()  # a list: far quicker to iterate than an object array
            candidates = np.flatnonzero(np.fromiter(map(judged.__contains__, docs), dtype=bool, count=len(docs)))
        else:
            known = np.fromiter(map(judged.__contains__, vocab.tolist()), dtype=bool, count=len(vocab))
            candidates = np.flatnonzero(known[codes])
        found_docs = pairs.docs(candidates).tolist()
        found_at = candidates.tolist()
        low = np.searchsorted(candidates, start).tolist()
        high = np.searchsorted(candidates, stop).tolist()
        templates: dict[int, dict[str, float]] = {}
        out = {}
        for qid, a, n, i, j in zip(queries, start.tolist(), lengths.tolist(), low, high, strict=True):
            template = templates.get(n)
            if template is None:
                template = templates[n] = dict(zip(names[:n], ranks[:n], strict=True))
            ranking = template.copy()
            if i < j:
                grades = qrels.get(qid) or {}
                for at, doc in zip(found_at[i:j], found_docs[i:j], strict=True):
                    if doc in grades:
                        rank = at - a
                        del ranking[names[rank]]
                        ranking[doc] = ranks[rank]
            out[qid] = ranking
        return out


def rerank_merge(original: Run, reranked_head: Run, depth: int) -> Run:
    """Reranked candidates above the original tail (ranks past ``depth``, in their order).

    Raises when the ranker invented documents or dropped some: the candidate set is preserved.
    """
    merged = {}
    heads = reranked_head.scores
    for qid, docs in original.items():
        ordered = list(docs)
        head, tail = ordered[:depth], ordered[depth:]
        new_head = heads.get(qid, {})
        if set(new_head) != set(head):
            extra = sorted(set(new_head) - set(head))[:3]
            missing = sorted(set(head) - set(new_head))[:3]
            raise ValueError(
                f"query {qid!r}: the ranker must return exactly its {len(head)} candidates "
                f"(unexpected: {extra}, missing: {missing})"
            )
        merged[qid] = list(new_head.items()) + [(d, docs[d]) for d in tail]
    return Run.from_ranked(merged)

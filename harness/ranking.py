"""``Run``: ranked documents per query, kept in the order trec_eval will see.

trec_eval does not read the rank column: it sorts each query's documents by score, descending,
and breaks ties by document id, descending. It holds scores in a C ``float``, so it compares them
rounded to single precision: two doubles that round to the same float are a tie (pytrec_eval
does the same). A ``Run`` keeps every query's documents in exactly that order, so the harness's
metrics, the TREC file it writes and trec_eval reading that file agree on every position, ties
and reranked tails included.

Two ways in:

* ``Run.from_scores`` for scored documents (a retriever's output, a run file): sorted into
  trec_eval's order.
* ``Run.from_ranked`` for documents in an order of the pipeline's choosing (a reranked head above
  the untouched tail): wherever a score would not keep that order under trec_eval's sort, it is
  lowered to the next single-precision value below its predecessor's. Scores already in order
  are kept bit for bit; the run file then reproduces the harness's numbers exactly under
  trec_eval.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Iterable, Iterator, Mapping

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


def _check_score(qid: str, doc_id: str, score: float) -> float:
    score = float(score)
    if not math.isfinite(score):
        raise ValueError(f"query {qid!r}, document {doc_id!r}: score {score} is not finite")
    return score


def encode_order(qid: str, ranked: Ranked) -> dict[str, float]:
    """Scores that make trec_eval's sort reproduce ``ranked``'s order (see module docstring)."""
    out: dict[str, float] = {}
    prev: tuple[float, str] | None = None  # the previous document as trec_eval compares it
    for doc_id, score in ranked:
        doc_id = str(doc_id)
        if doc_id in out:
            raise ValueError(f"query {qid!r}: document {doc_id!r} is ranked twice")
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


class Run:
    """Ranked lists per query; each query's dict is in trec_eval's order (see module docstring).

    ``scores`` is the dict-of-dicts that pytrec_eval takes, so evaluation needs no copy.
    """

    __slots__ = ("scores",)

    def __init__(self, scores: dict[str, dict[str, float]] | None = None):
        self.scores = scores if scores is not None else {}

    @classmethod
    def from_scores(cls, per_query: Mapping[str, Mapping[str, float] | Ranked]) -> Run:
        out = {}
        for qid, scored in per_query.items():
            ordered = trec_order(scored)
            for doc_id, score in ordered:
                _check_score(qid, doc_id, score)
            out[str(qid)] = dict(ordered)
        return cls(out)

    @classmethod
    def from_ranked(cls, per_query: Mapping[str, Ranked]) -> Run:
        return cls({str(qid): encode_order(str(qid), ranked) for qid, ranked in per_query.items()})

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[str]:
        return iter(self.scores)

    def __contains__(self, qid: object) -> bool:
        return qid in self.scores

    def __getitem__(self, qid: str) -> dict[str, float]:
        return self.scores[qid]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and {q: list(d.items()) for q, d in self.scores.items()} == {
            q: list(d.items()) for q, d in other.scores.items()
        }

    def items(self):
        return self.scores.items()

    def ranked(self, qid: str) -> list[tuple[str, float]]:
        return list(self.scores.get(qid, {}).items())

    def truncate(self, depth: int) -> Run:
        """The first ``depth`` documents of every query."""
        return Run({q: dict(list(d.items())[:depth]) for q, d in self.scores.items()})

    def num_docs(self) -> int:
        return sum(len(d) for d in self.scores.values())


def rerank_merge(original: Run, reranked_head: Run, depth: int) -> Run:
    """Reranked candidates above the original tail (ranks past ``depth``, in their order).

    Raises when the ranker invented documents or dropped some: the candidate set is preserved.
    """
    merged = {}
    for qid, docs in original.items():
        ordered = list(docs)
        head, tail = ordered[:depth], ordered[depth:]
        new_head = reranked_head.scores.get(qid, {})
        if set(new_head) != set(head):
            extra = sorted(set(new_head) - set(head))[:3]
            missing = sorted(set(head) - set(new_head))[:3]
            raise ValueError(
                f"query {qid!r}: the ranker must return exactly its {len(head)} candidates "
                f"(unexpected: {extra}, missing: {missing})"
            )
        merged[qid] = list(new_head.items()) + [(d, docs[d]) for d in tail]
    return Run.from_ranked(merged)

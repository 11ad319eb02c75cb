"""``Collection``: a test collection — corpus, queries, relevance judgments — and its
``DataReport``: what in the judgments cannot count as the user likely meant (judged documents
missing from the corpus, ids formatted differently, queries without a positive judgment)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str = ""


@dataclass
class Collection:
    """A corpus, its queries and qrels (``{qid: {docid: grade}}``), ready for a cell.

    ``fields`` says which document fields make up the text that components index (Cranfield's
    ``text`` already repeats its title, so its suites use ``["text"]``). The fingerprints hash the
    content itself, so caches keyed by them can never serve another collection's artifacts.

    ``docs`` is a list, or for a corpus too large to hold as objects a ``corpus.DiskDocuments``
    (memory-mapped, read as iterated): read it by iterating or slicing, read ids through
    ``doc_ids`` and texts through ``texts()``, which stream from disk for such a corpus.
    """

    name: str
    docs: Sequence[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    fields: tuple[str, ...] = ("title", "text")
    metadata: dict = field(default_factory=dict)
    # Judgments of queries the provider has no text for, dropped on loading (``load_dataset``)
    # and counted in the data report as judged queries not in the topics.
    dropped_qrels: dict[str, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        known = tuple(f.name for f in dataclasses.fields(Document) if f.name != "id")
        if not self.fields or not set(self.fields) <= set(known):
            raise ValueError(f"fields must name one or more of {', '.join(known)}, got {list(self.fields)!r}")

    @cached_property
    def doc_ids(self) -> list[str]:
        """Every document's id, in corpus order (read without the texts for a corpus on disk)."""
        return self.docs.ids if self.on_disk else [d.id for d in self.docs]

    @property
    def on_disk(self) -> bool:
        """Whether the documents are memory-mapped from disk (``corpus.DiskDocuments``)."""
        from .corpus import DiskDocuments

        return isinstance(self.docs, DiskDocuments)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {doc_id: i for i, doc_id in enumerate(self.doc_ids)}

    def doc(self, doc_id: str) -> Document:
        return self.docs[self._index[doc_id]]

    def contents(self, doc: Document) -> str:
        """The text components see for ``doc``: its ``fields`` joined by a space."""
        parts = [getattr(doc, f) for f in self.fields]
        return " ".join(p for p in parts if p)

    def texts(self) -> Sequence[str]:
        """Every document's ``contents``, in corpus order: a list, or for a corpus on disk a
        sequence read from disk as indexed or iterated (a slice of it is a list): iterate it, or
        take slices, rather than ``list()`` it, and memory stays one batch of texts."""
        if self.on_disk:
            return self.docs.texts(self.fields)
        return [self.contents(d) for d in self.docs]

    def text(self, doc_id: str) -> str:
        return self.contents(self.doc(doc_id))

    @property
    def judged_queries(self) -> list[str]:
        """Queries that have judgments: the ones every metric averages over."""
        return list(self.qrels)

    @cached_property
    def corpus_fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps(self.fields).encode())
        for d in self.docs:
            h.update(json.dumps([d.id, d.title, d.text], ensure_ascii=False).encode())
        return h.hexdigest()[:16]

    @cached_property
    def queries_fingerprint(self) -> str:
        return _digest(self.queries)

    @cached_property
    def qrels_fingerprint(self) -> str:
        return _digest(self.qrels)

    @property
    def fingerprint(self) -> str:
        return _digest([self.corpus_fingerprint, self.queries_fingerprint, self.qrels_fingerprint])

    def describe(self) -> dict:
        """Counts and fingerprints, as recorded in every cell result."""
        return {
            "name": self.name,
            "documents": len(self.docs),
            "queries": len(self.queries),
            "judged_queries": len(self.qrels),
            "judgments": sum(len(d) for d in self.qrels.values()),
            "fields": list(self.fields),
            "storage": "disk" if self.on_disk else "memory",
            "fingerprint": self.fingerprint,
            "corpus_fingerprint": self.corpus_fingerprint,
            "checks": self.data_report().to_dict(),
            **self.metadata,
        }


    def data_report(self) -> DataReport:
        """What the judgments hold that cannot count as the user likely meant; computed once, on
        first call (set operations over the judged ids, one regular expression over the joined ids
        when some do not match). See ``DataReport``."""
        return self._data_report

    @cached_property
    def _data_report(self) -> DataReport:
        return DataReport.of(self)


EXAMPLES = 3  # ids shown per count


@dataclass(frozen=True)
class DataReport:
    """Counts about a collection's judgments that every metric depends on, with a few example ids.

    Every count is an int (0 when all is well); the examples (at most three) show what was
    counted:

    - ``queries``, ``judged_queries``, ``documents``, ``judgments``: the sizes, for context;
    - ``unjudged_queries``: queries with no judgment (run, not scored: metrics average over the
      judged ones; CISI has 36 of 112 by design);
    - ``missing_documents``: distinct judged document ids not in the corpus (they can never be
      retrieved); ``missing_judgments`` the judgments of those, ``missing_relevant`` the ones with
      a grade of 1 or more (each caps recall);
    - ``no_positive_queries``: judged queries without a grade of 1 or more (every measure is 0
      for them: a grade mapping or qrels layout gone wrong?);
    - ``unknown_queries``: judged queries not among the queries (their judgments were dropped
      on loading; a topics file covering part of a qrels file is common);
    - ``padded_documents`` / ``padded_queries``: judged document (query) ids that match a corpus
      (query) id only up to leading zeros (qrels ``0756``, corpus ``756``, or the other way): the
      ids are formatted differently, and those judgments count for nothing.

    ``to_dict()`` gives the counts as a plain dict of ints plus ``examples`` (count name → list
    of ids; a padded example is ``[judged id, collection id]``); ``notes()`` a sentence per
    non-zero count; ``problems()`` the non-zero counts of the checks (sizes left out).
    """

    queries: int
    judged_queries: int
    documents: int
    judgments: int
    unjudged_queries: int = 0
    missing_documents: int = 0
    missing_judgments: int = 0
    missing_relevant: int = 0
    no_positive_queries: int = 0
    unknown_queries: int = 0
    padded_documents: int = 0
    padded_queries: int = 0
    examples: dict[str, tuple] = field(default_factory=dict, compare=False)

    CHECKS = ("unjudged_queries", "missing_documents", "missing_judgments", "missing_relevant",
              "no_positive_queries", "unknown_queries", "padded_documents", "padded_queries")

    @classmethod
    def of(cls, collection: Collection) -> DataReport:
        queries, qrels, index = collection.queries, collection.qrels, collection._index
        counts: dict[str, int] = {}
        examples: dict[str, tuple] = {}

        def count(name: str, items) -> None:
            items = list(items)
            counts[name] = len(items)
            if items:
                examples[name] = tuple(items[:EXAMPLES])

        count("unjudged_queries", (q for q in queries if q not in qrels))
        judged = set().union(*qrels.values()) if qrels else set()
        missing = sorted((d for d in judged if d not in index), key=_natural)
        count("missing_documents", missing)
        if missing:
            absent = set(missing)
            grades = [g for docs in qrels.values() for d, g in docs.items() if d in absent]
            counts["missing_judgments"] = len(grades)
            counts["missing_relevant"] = sum(1 for g in grades if g > 0)
            count("padded_documents", _padded(missing, list(index)))
        count("no_positive_queries", (q for q, docs in qrels.items() if max(docs.values(), default=0) < 1))
        unknown = sorted({*collection.dropped_qrels, *(q for q in qrels if q not in queries)}, key=_natural)
        count("unknown_queries", unknown)
        if unknown:
            count("padded_queries", _padded(unknown, list(queries)))
        return cls(queries=len(queries), judged_queries=len(qrels), documents=len(collection.docs),
                   judgments=sum(map(len, qrels.values())), examples=examples, **counts)

    @classmethod
    def from_dict(cls, data: Any) -> DataReport:
        """The report ``to_dict()`` wrote, read back from a results folder (which may have been
        tampered with: anything but counts and example ids is a ValueError)."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a table of counts, got {type(data).__name__}")
        counts = {}
        for f in dataclasses.fields(cls):
            if f.name == "examples":
                continue
            value = data.get(f.name, 0)
            if type(value) is not int or value < 0:
                raise ValueError(f"{f.name}: expected a count, got {value!r}")
            counts[f.name] = value
        examples = data.get("examples", {})
        if not isinstance(examples, dict):
            raise ValueError(f"examples: expected a table, got {type(examples).__name__}")
        read = {}
        for name, items in examples.items():
            if name not in cls.CHECKS or not isinstance(items, list):
                raise ValueError(f"examples: unexpected {name!r}")
            read[name] = tuple(tuple(e) if isinstance(e, list) else e for e in items[:EXAMPLES])
            if not all(isinstance(e, str) or (isinstance(e, tuple) and len(e) == 2
                                              and all(isinstance(x, str) for x in e)) for e in read[name]):
                raise ValueError(f"examples.{name}: expected ids")
        return cls(examples=read, **counts)

    def problems(self) -> dict[str, int]:
        """The non-zero counts among the checks (``CHECKS``), in that order."""
        return {name: getattr(self, name) for name in self.CHECKS if getattr(self, name)}

    def to_dict(self) -> dict:
        """Every count (plain ints), and ``examples``: count name → list of example ids."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "examples"}
        out["examples"] = {name: [list(e) if isinstance(e, tuple) else e for e in items]
                           for name, items in self.examples.items()}
        return out

    def notes(self) -> list[str]:
        """One sentence per non-zero count, for people (a leaderboard note, ``harness validate``)."""

        def eg(name: str) -> str:
            shown = self.examples.get(name, ())
            if not shown:
                return ""
            if isinstance(shown[0], tuple):
                return " (e.g. " + ", ".join(f"judged {a!r}, collection {b!r}" for a, b in shown) + ")"
            return " (e.g. " + ", ".join(repr(x) for x in shown) + ")"

        notes = []
        if self.unjudged_queries:
            notes.append(f"{self.unjudged_queries} of {self.queries} queries have no judgment{eg('unjudged_queries')}: "
                         f"they are run but not scored; metrics average over the {self.judged_queries} judged ones.")
        if self.missing_documents:
            notes.append(f"{self.missing_documents} judged documents are not in the corpus{eg('missing_documents')}: "
                         f"{self.missing_judgments} judgments, {self.missing_relevant} of them relevant, "
                         "that no run can retrieve.")
        if self.padded_documents:
            notes.append(f"{self.padded_documents} judged document ids match corpus ids only up to leading zeros"
                         f"{eg('padded_documents')}: the qrels and the corpus format ids differently.")
        if self.no_positive_queries:
            notes.append(f"{self.no_positive_queries} judged queries have no judgment of grade 1 or more"
                         f"{eg('no_positive_queries')}: every measure is 0 for them.")
        if self.unknown_queries:
            notes.append(f"{self.unknown_queries} judged queries are not among the queries{eg('unknown_queries')}: "
                         "their judgments were dropped.")
        if self.padded_queries:
            notes.append(f"{self.padded_queries} judged query ids match query ids only up to leading zeros"
                         f"{eg('padded_queries')}: the qrels and the topics format ids differently.")
        return notes


_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")


def _padded(unmatched: list[str], known: list[str]) -> list[tuple[str, str]]:
    """(unmatched id, known id) pairs equal once the leading zeros of every digit run are dropped
    (``0756``/``756``, ``MED-007``/``MED-7``). One substitution over each joined list (ids hold
    no whitespace, so a line break separates them)."""
    def strip(ids: list[str]) -> list[str]:
        out = _LEADING_ZEROS.sub("", "\n".join(ids)).split("\n")
        return out if len(out) == len(ids) else [_LEADING_ZEROS.sub("", i) for i in ids]  # an id with a line break

    canonical = dict(zip(strip(known), known, strict=True))
    return [(u, canonical[c]) for u, c in zip(unmatched, strip(unmatched), strict=True)
            if c in canonical and canonical[c] != u]


_DIGITS = re.compile(r"([0-9]+)")


def _natural(value: str) -> list:
    """Sort key: digit runs in numeric order (``d9`` before ``d10``), ties by the text."""
    parts = _DIGITS.split(value)
    parts[1::2] = [(int(p), p) for p in parts[1::2]]
    return parts


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

"""``Collection``: a test collection in memory — corpus, queries, relevance judgments."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property


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
    """

    name: str
    docs: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    fields: tuple[str, ...] = ("title", "text")
    metadata: dict = field(default_factory=dict)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {doc.id: i for i, doc in enumerate(self.docs)}

    def doc(self, doc_id: str) -> Document:
        return self.docs[self._index[doc_id]]

    def contents(self, doc: Document) -> str:
        """The text components see for ``doc``: its ``fields`` joined by a space."""
        parts = [getattr(doc, f) for f in self.fields]
        return " ".join(p for p in parts if p)

    def texts(self) -> list[str]:
        """Every document's ``contents``, in corpus order."""
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
            "fingerprint": self.fingerprint,
            "corpus_fingerprint": self.corpus_fingerprint,
            **self.metadata,
        }


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

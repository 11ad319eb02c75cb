"""``DatasetContract``: the rules every dataset provider must follow, as pytest tests.

The provider is built from ``params`` and loaded with a context whose ``base_dir`` is the test
module's folder, so ``params = {"path": "data"}`` finds ``tests/data`` as a suite finds a folder
next to it. The rules are about the raw collection ``load`` returns; the harness applies grade
mappings, query subsets and fields afterwards, the same way for every provider.
"""

from __future__ import annotations

from collections import Counter
from numbers import Integral

import pytest

from ..collection import Collection
from .base import Contract

LOADS = "test_loads_a_collection"


class DatasetContract(Contract):
    """Subclass as ``class TestMine(DatasetContract): component = Mine; params = {...}``."""

    kind = "dataset"

    def load(self, tmp_path, name: str = "load") -> Collection:
        """A fresh provider's collection; fails unless ``load`` returns a ``Collection``."""
        provider = self.make()
        ctx = self.context(tmp_path / name)
        provider.setup(ctx)
        collection = provider.load(ctx)
        assert isinstance(collection, Collection), (
            f"load returned {type(collection).__name__}, not a harness.collection.Collection"
        )
        return collection

    def loaded(self, tmp_path) -> Collection:
        """The collection, once per test class; skips unless it loads (see ``test_loads_a_collection``)."""
        cls = type(self)
        if "_harness_loaded" not in cls.__dict__:
            cls._harness_loaded = self.prerequisite(LOADS, lambda: self.load(tmp_path))
        return cls._harness_loaded

    # -- the rules ---------------------------------------------------------------------------

    def test_loads_a_collection(self, tmp_path):
        """``load`` returns a ``Collection`` with documents, queries, and judgments for at least
        one of its queries (the harness refuses a dataset without)."""
        collection = self.load(tmp_path)
        assert collection.docs, "the collection has no documents"
        assert collection.queries, "the collection has no queries"
        judged = [q for q, docs in collection.qrels.items() if docs and q in collection.queries]
        assert judged, "none of the queries has relevance judgments"

    def test_ids_texts_and_grades_have_their_types(self, tmp_path):
        """Document and query ids and texts are strings; qrels are ``{qid: {docid: int grade}}``."""
        collection = self.loaded(tmp_path)
        for doc in collection.docs[:100_000]:
            assert isinstance(doc.id, str), f"document id {doc.id!r} is not a string"
            ok = isinstance(doc.text, str) and isinstance(doc.title, str)
            assert ok, f"document {doc.id!r}: its text and title must be strings"
        for qid, text in collection.queries.items():
            ok = isinstance(qid, str) and isinstance(text, str)
            assert ok, f"query {qid!r}: {text!r} (query ids and texts must be strings)"
        for qid, judged in collection.qrels.items():
            assert isinstance(qid, str) and isinstance(judged, dict), f"qrels[{qid!r}] is {judged!r}"
            for doc_id, grade in judged.items():
                ok = isinstance(doc_id, str) and isinstance(grade, Integral) and not isinstance(grade, bool)
                assert ok, f"qrels[{qid!r}][{doc_id!r}] = {grade!r}: ids are strings, grades integers"

    def test_unique_document_ids(self, tmp_path):
        """No two documents share an id (a run could not tell them apart)."""
        counts = Counter(doc.id for doc in self.loaded(tmp_path).docs)
        twice = sorted(doc_id for doc_id, n in counts.items() if n > 1)
        assert not twice, f"document ids used more than once: {twice[:10]}"

    def test_qrels_reference_known_queries(self, tmp_path):
        """Every judged query is one of the collection's queries (judgments of queries nobody
        asks are never evaluated; the harness would drop them)."""
        collection = self.loaded(tmp_path)
        unknown = sorted(set(collection.qrels) - set(collection.queries))
        assert not unknown, f"qrels for queries the collection lacks: {unknown[:10]}"

    def test_loads_deterministically(self, tmp_path):
        """Two fresh providers load the same collection, in the same order: its fingerprint
        keys the artifact cache."""
        first = self.loaded(tmp_path)
        second = self.load(tmp_path, "second")
        differ = [part for part in ("corpus", "queries", "qrels")
                  if getattr(first, f"{part}_fingerprint") != getattr(second, f"{part}_fingerprint")]
        assert not differ, f"a second load differs in its {' and '.join(differ)} (content or order)"

    def test_source_param_is_a_parameter(self):
        """``source_param`` names one of ``params``, so ``source = "<name>:<value>"`` works."""
        cls = self.component
        if not cls.params:
            pytest.skip("the provider takes no parameters: suites write provider = \"<name>\"")
        assert cls.source_param in cls.params, (
            f"source_param is {cls.source_param!r}, not one of the parameters {sorted(cls.params)}"
        )

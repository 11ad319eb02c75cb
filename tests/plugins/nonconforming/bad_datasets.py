"""Dataset providers that each break one rule of ``DatasetContract`` (see README.md)."""

from __future__ import annotations

import random

from harness.collection import Collection, Document
from harness.components import DatasetProvider
from harness.params import Param
from harness.testing import tiny_collection


class Good(DatasetProvider):
    """The kit's tiny collection under a name of your choice."""

    name = "nc-good"
    source_param = "label"
    params = {"label": Param(str, "tiny", help="the collection's name")}

    def load(self, ctx):
        collection = tiny_collection()
        collection.name = self.label
        return collection


class Nameless(Good):
    """Forgot its name."""

    name = ""


class NotACollection(Good):
    """Returns the parts as a dict."""

    def load(self, ctx):
        c = super().load(ctx)
        return {"docs": c.docs, "queries": c.queries, "qrels": c.qrels}


class DuplicateIds(Good):
    """Lists a document twice."""

    def load(self, ctx):
        c = super().load(ctx)
        c.docs.append(Document("d01", "an older version of d01"))
        return c


class FloatGrades(Good):
    """Reads grades as floats."""

    def load(self, ctx):
        c = super().load(ctx)
        c.qrels = {q: {d: float(g) for d, g in judged.items()} for q, judged in c.qrels.items()}
        return c


class QrelsOfUnknownQueries(Good):
    """Keeps the judgments of a query it does not list."""

    def load(self, ctx):
        c = super().load(ctx)
        c.qrels["q9"] = {"d01": 1}
        return c


class Shuffled(Good):
    """Returns the documents in a different order each time."""

    def load(self, ctx):
        c = super().load(ctx)
        docs = list(c.docs)
        random.shuffle(docs)
        return Collection(c.name, docs, c.queries, c.qrels, c.fields, c.metadata)


class BadSourceParam(Good):
    """Says ``source = "name:value"`` sets a parameter it does not have."""

    source_param = "path"


GOOD = Good
BREAKS = {
    "test_declares_a_valid_component": Nameless,
    "test_loads_a_collection": NotACollection,
    "test_unique_document_ids": DuplicateIds,
    "test_ids_texts_and_grades_have_their_types": FloatGrades,
    "test_qrels_reference_known_queries": QrelsOfUnknownQueries,
    "test_loads_deterministically": Shuffled,
    "test_source_param_is_a_parameter": BadSourceParam,
}
